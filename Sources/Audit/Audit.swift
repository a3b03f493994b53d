// The Audit module; see Package.swift.
