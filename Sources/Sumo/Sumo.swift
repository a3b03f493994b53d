// The Sumo module; see Package.swift.
