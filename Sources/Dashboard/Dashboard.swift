// The Dashboard module; see Package.swift.
