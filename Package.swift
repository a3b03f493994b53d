// swift-tools-version:6.0
import PackageDescription

// Greenwave: one module per concept. RaftCore, SignalTiming (and later CorridorMachine) are pure:
// standard library only, so that they can be simulated and property-tested deterministically.
let package = Package(
    name: "Greenwave",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "greenwave", targets: ["greenwave"]),
        .executable(name: "greenwave-simulate", targets: ["greenwave-simulate"]),
        .executable(name: "greenwave-late-entry", targets: ["greenwave-late-entry"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0" ..< "5.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.60.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The consensus algorithm as a deterministic value type. Standard library only.
        .target(name: "RaftCore"),
        // Deterministic cluster simulator: test support and the `tools/simulate` runner.
        .target(name: "RaftSimulation", dependencies: ["RaftCore"]),
        // Signal timing: corridor, plans, phase-at-time, transitions, preemption, conflict monitor.
        .target(name: "SignalTiming"),
        // Corridor time: the NTP-style estimator (median of the voters' clocks), the slewed clock the lamps
        // read, and the clock fault of tests. Standard library only, and RaftCore's `Quorum` (a majority of
        // the voters is the same rule as Raft's).
        .target(name: "CorridorClock", dependencies: ["RaftCore"]),
        // Seeded random histories of late controllers (cut off, restarted, caught up by snapshot) over
        // the real lamp logic and the conflict monitor: the property tests and `tools/late-entry`.
        .target(name: "SignalTimingSimulation", dependencies: ["SignalTiming", "RaftCore"]),
        // Corridor YAML files → SignalTiming values, with errors naming file, key and problem.
        .target(name: "CorridorFile", dependencies: ["SignalTiming", "CorridorMachine", .product(name: "Yams", package: "Yams")]),
        // The replicated corridor state machine: commands, deterministic apply, canonical encoding,
        // SHA-256 state hash, client sessions, snapshots.
        .target(
            name: "CorridorMachine",
            dependencies: ["SignalTiming", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Durable state on SQLite: Raft hard state and log, snapshots, the audit chain, lamp events.
        .target(
            name: "Storage",
            dependencies: [
                "RaftCore",
                // The lamp event log's hi-res codes are derived from signal states (HiResEvents.swift).
                "SignalTiming",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Raft messages between controllers over TCP: versioned, length-prefixed frames; reconnect
        // with backoff; bounded send queues.
        // The corridor's public-key infrastructure: its certificate authority, one key and certificate per
        // controller, and the peer identity format a certificate carries (corridor id and signal).
        .target(
            name: "PKI",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "Transport",
            dependencies: [
                "RaftCore", "PKI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Benchmarks and fault-injection helpers (`tools/`): durable append rate, crash-writer child.
        .executableTarget(
            name: "greenwave-bench",
            dependencies: [
                "Storage", "RaftCore", "CorridorMachine", "CorridorFile", "SignalTiming",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The wire contract of a controller's HTTP API: the request and response types, the lamp update and
        // the lamp names, signal and direction parsing, time formatting, the read credential. No HTTP, no
        // NIO: the daemon and every client depend on it, and the clients need nothing of the daemon.
        .target(name: "GreenwaveAPI", dependencies: ["SignalTiming", "CorridorMachine", "CorridorFile"]),
        // How every client reaches a controller's HTTP API: plain HTTP on loopback or HTTPS trusting the
        // corridor CA alone, bounded bodies, server-sent event streams (async-http-client).
        .target(
            name: "APIClient",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The field controller: the shell that drives RaftCore with Storage, Transport and a clock; the
        // apply loop; the lamp driver; the HTTP/JSON API.
        .target(
            name: "Controller",
            dependencies: [
                "RaftCore", "Storage", "Transport", "PKI", "CorridorMachine", "CorridorFile", "SignalTiming", "GreenwaveAPI", "APIClient",
                "CorridorClock",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // Client library for the CLI and the dashboard: finds a live controller, follows the leader,
        // retries with the same client id and sequence.
        .target(name: "Console", dependencies: ["GreenwaveAPI", "APIClient", "CorridorFile", "CorridorMachine", "SignalTiming"]),
        // Auditing the record: the command log, chain verification by replay, what a signal showed
        // at an instant, ATSPM export. Library so that tests drive it without a process.
        .target(
            name: "Audit",
            dependencies: [
                "CorridorMachine", "Storage", "SignalTiming", "CorridorFile", "RaftCore", "PKI", "GreenwaveAPI",
                .product(name: "Crypto", package: "swift-crypto"),
                // Anchors are signed with a controller's peer key and carry its certificate.
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        // The operator's terminal dashboard: a pure renderer (model → screen) plus the terminal and
        // polling shell around it.
        .target(
            name: "Dashboard",
            dependencies: [
                "Console", "GreenwaveAPI", "APIClient", "CorridorFile", "CorridorMachine", "SignalTiming",
            ]
        ),
        // SUMO over TraCI: a TraCI client speaking the binary protocol over TCP, and the driver that
        // sets every traffic light from SignalTiming (or from live controllers) each simulated step.
        .target(
            name: "Sumo",
            dependencies: [
                "SignalTiming", "CorridorFile", "RaftCore", "GreenwaveAPI", "APIClient",
                .product(name: "Logging", package: "swift-log"),
                // HTTPMethod, for the detector inputs' PUT through APIClient.
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "greenwave",
            dependencies: [
                "SignalTiming", "CorridorFile", "Controller", "CorridorMachine", "GreenwaveAPI", "Console", "Audit", "Dashboard", "Sumo",
                "PKI", "APIClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(name: "greenwave-late-entry", dependencies: ["SignalTimingSimulation", "SignalTiming"]),
        .executableTarget(
            name: "greenwave-simulate",
            dependencies: [
                "RaftSimulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Helpers the test targets share (free ports, the built binaries, scratch folders, running a
        // command, the demo corridor on free ports): Foundation and XCTest only.
        .target(name: "GreenwaveTestSupport", path: "Tests/GreenwaveTestSupport"),
        .testTarget(name: "RaftCoreTests", dependencies: ["RaftCore", "RaftSimulation"]),
        .testTarget(name: "CorridorClockTests", dependencies: ["CorridorClock"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "RaftCore"]),
        .testTarget(name: "PKITests", dependencies: ["PKI", .product(name: "X509", package: "swift-certificates")]),
        .testTarget(
            name: "TransportTests",
            dependencies: [
                "Transport", "RaftCore", "PKI",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "CorridorMachineTests",
            dependencies: ["GreenwaveTestSupport", "CorridorMachine", "SignalTiming", "CorridorFile", "RaftCore", "RaftSimulation", "Storage"]
        ),
        .testTarget(name: "ControllerTests", dependencies: ["GreenwaveTestSupport", "Controller", "GreenwaveAPI", "Console", "APIClient", "CorridorMachine", "CorridorFile", "Storage", "Transport", "RaftCore", "SignalTiming", "PKI",
                                                           .product(name: "Logging", package: "swift-log"),
                                                           .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "SignalTimingTests", dependencies: ["SignalTiming", "SignalTimingSimulation", "CorridorFile", "RaftCore"]),
        .testTarget(
            name: "AuditTests",
            dependencies: [
                "GreenwaveTestSupport", "Audit", "Console", "Controller", "GreenwaveAPI", "Storage", "CorridorMachine", "CorridorFile", "SignalTiming", "RaftCore", "PKI",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(name: "DashboardTests", dependencies: ["Dashboard", "GreenwaveAPI", "Console", "CorridorFile", "SignalTiming"]),
        .testTarget(name: "SumoTests", dependencies: ["Sumo", "SignalTiming", "CorridorFile", "GreenwaveAPI", "APIClient"]),
        .testTarget(name: "APIClientTests", dependencies: ["APIClient"]),
        .testTarget(
            name: "GreenwaveAPITests",
            dependencies: ["GreenwaveTestSupport", "GreenwaveAPI", "CorridorFile", "CorridorMachine", "SignalTiming"]
        ),
    ]
)
