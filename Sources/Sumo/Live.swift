// Live mode: SUMO in real time, every traffic light set from what its controller reports on
// `GET /v1/lamps/stream` (server-sent events), so that the vehicles see what the controllers show.
//
// Unreachable controllers (docs/sumo.md): while a controller's stream is connected, or has been down
// for less than `graceMs` (a reconnect), SUMO shows its last reported lamps. A controller that stays
// unreachable is treated as a dead controller in the field: the cabinet's malfunction management
// unit puts the junction into flash, each phase showing its configured flash lamp (arterial flashing
// yellow, turns and side street flashing red). A controller never heard from is an all-way stop
// (every link flashing red). Lamps a controller reports are shown as they are, flash included.
import APIClient
import CorridorFile
import Foundation
import GreenwaveAPI
import Logging
import SignalTiming

#if canImport(Glibc)
    import Glibc
#endif

public struct LiveEndpoint: Sendable, Hashable {
    public var signal: SignalID
    public var host: String
    public var port: Int
    public init(signal: SignalID, host: String, port: Int) {
        self.signal = signal
        self.host = host
        self.port = port
    }
}

public struct LiveOptions: Sendable {
    public var network: NetworkOptions
    public var seed: Int
    /// Open sumo-gui (needs a display) instead of headless sumo.
    public var gui: Bool
    /// Stop after this many seconds (nil: until cancelled).
    public var durationSeconds: Double?
    /// Where the network, demand and SUMO's log go (nil: a temporary folder, removed at the end).
    public var workDirectory: String?
    /// Wall-clock (= simulated) step, ms.
    public var stepMs: Int64 = 100
    /// How long a lost stream keeps its last lamps before the junction goes to flash, ms.
    public var graceMs: Int64 = 3000
    /// Print a one-line summary this often (nil: never).
    public var reportEverySeconds: Double? = 10
    public init(
        network: NetworkOptions = NetworkOptions(), seed: Int = 1, gui: Bool = false, durationSeconds: Double? = nil,
        workDirectory: String? = nil
    ) {
        self.network = network
        self.seed = seed
        self.gui = gui
        self.durationSeconds = durationSeconds
        self.workDirectory = workDirectory
    }
}

/// What `greenwave demo --sumo` calls: the corridor's controllers (API endpoints from the corridor
/// file) drive SUMO in real time until the task is cancelled (or `options.durationSeconds`). The signals
/// the file's `actuated:` section makes actuated get their detector inputs from SUMO's loops
/// (LiveDetectors.swift). Throws `SumoError` when SUMO is not installed (run tools/sumo/setup).
public func runLive(document: CorridorDocument, options: LiveOptions = LiveOptions(), logger: Logger) async throws {
    guard let sumo = SumoInstallation.locate() else { throw SumoError("SUMO not found: run tools/sumo/setup") }
    let connection: APIConnection
    do { connection = try APIConnection.forCorridor(caPath: document.apiCertificateAuthority) } catch {
        throw SumoError("the corridor's API CA: \(error)")
    }
    try await runLive(
        corridor: document.corridor,
        endpoints: document.endpoints.map { LiveEndpoint(signal: $0.signal, host: $0.api.host, port: $0.api.port) },
        options: options, sumo: sumo, connection: connection, detectors: document.actuatedDetectors, logger: logger)
}

extension CorridorDocument {
    /// The detectors of every actuated signal, as its controller maps them (`ActuatedCorridor.signal`).
    public var actuatedDetectors: [SignalID: [DetectorConfig]] {
        (actuated?.signals ?? [:]).mapValues(\.detectors)
    }
}

/// `connection`: how to reach the controllers' API (HTTPS trusting the corridor CA, or plain HTTP).
/// `detectors`: per actuated signal its controller's detectors, fed from SUMO's loops (none: no loops).
/// Returns what the detector inputs sent.
@discardableResult
public func runLive(
    corridor: Corridor, endpoints: [LiveEndpoint], options: LiveOptions, sumo: SumoInstallation,
    connection: APIConnection = .plaintext, detectors: [SignalID: [DetectorConfig]] = [:], logger: Logger
) async throws -> DetectorCounts {
    let dir =
        options.workDirectory
        ?? (NSTemporaryDirectory() + "greenwave-sumo-live-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    defer { if options.workDirectory == nil { try? FileManager.default.removeItem(atPath: dir) } }
    var net = options.network
    if let d = options.durationSeconds {
        net.demandSeconds = Int(d.rounded(.up)) + 60
    } else {
        net.demandSeconds = 7 * 86_400
    }
    let scenario = try Scenario.build(corridor: corridor, options: net, directory: dir, sumo: sumo)
    let board = LampBoard(corridor: corridor)
    let fed = detectors.filter { d in endpoints.contains { $0.signal == d.key } && scenario.loops[d.key] != nil }
    var senders: [SignalID: DetectorSender] = [:]
    for e in endpoints where fed[e.signal] != nil {
        senders[e.signal] = DetectorSender(endpoint: e, connection: connection, logger: logger)
    }
    let followers = endpoints.compactMap { e -> LampFollower? in
        guard let signal = corridor.signals.first(where: { $0.id == e.signal }) else { return nil }
        let sender = senders[e.signal]
        let f = LampFollower(endpoint: e, signal: signal, board: board, connection: connection) { sender?.resync() }
        f.start()
        return f
    }
    for s in senders.values { s.start() }
    defer {
        for follower in followers { follower.stop() }
        for s in senders.values { s.stop() }
    }
    var run = LiveRun(
        options: options, programs: scenario.programs(), board: board,
        feed: DetectorFeed(detectors: fed, loops: scenario.loops), senders: senders)
    try await run.run(scenario: scenario, sumo: sumo, directory: dir, logger: logger)
    return run.counts
}

/// The real-time loop of one live run: lamps from the board to SUMO, loops from SUMO to the senders.
struct LiveRun {
    let options: LiveOptions
    let programs: [LightProgram]
    let board: LampBoard
    var feed: DetectorFeed
    let senders: [SignalID: DetectorSender]
    var counts: DetectorCounts { senders.values.reduce(DetectorCounts()) { $0 + $1.totals } }

    mutating func run(scenario: Scenario, sumo: SumoInstallation, directory dir: String, logger: Logger) async throws {
        let port = try freeLoopbackPort()
        let loops = feed.loopIDs
        var sumoArgs = [
            "--net-file", scenario.netFile, "--route-files", scenario.routesFile, "--remote-port", "\(port)",
            "--seed", "\(options.seed)", "--step-length", String(format: "%.3f", Double(options.stepMs) / 1000),
            "--no-step-log", "true", "--no-warnings", "true"
        ]
        if !loops.isEmpty { sumoArgs += ["--additional-files", scenario.loopsFile] }
        if options.gui { sumoArgs += ["--start", "true", "--quit-on-end", "true"] }
        let process = try sumo.start(
            sumoArgs, logPath: dir + "/sumo-live.log", binary: options.gui ? "sumo-gui" : "sumo")
        defer { if process.isRunning { process.terminate() } }
        let traci = try TraCIConnection(port: port)
        let version = try traci.version()
        if !loops.isEmpty { try traci.subscribeLoops(loops) }
        logger.info(
            "live SUMO started",
            metadata: [
                "sumo": "\(version.identifier)", "signals": "\(programs.count)", "work": "\(dir)",
                "actuated": "\(feed.signals.count)", "loops": "\(loops.count)"
            ])
        try await steps(traci)
        try? traci.closeSimulation()
        process.waitUntilExit()
    }

    /// Steps SUMO in real time until cancelled (or the run's duration).
    mutating func steps(_ traci: TraCIConnection) async throws {
        var shown = [String?](repeating: nil, count: programs.count)
        let started = DispatchTime.now().uptimeNanoseconds
        var step: Int64 = 0
        var lastReport = 0.0
        var reported = DetectorCounts()
        while !Task.isCancelled {
            let nowMs = wallClockMs()
            let views = board.snapshot(nowMs: nowMs, graceMs: options.graceMs)
            var changes: [(trafficLight: String, state: String)] = []
            for (i, p) in programs.enumerated() {
                let s: String
                switch views[p.signal] ?? .neverSeen {
                case .neverSeen: s = p.neverSeen
                case .lamps(let l): s = p.state(lamps: l)
                }
                if s != shown[i] {
                    shown[i] = s
                    changes.append((p.trafficLight, s))
                }
            }
            step += 1
            let simSeconds = Double(step * options.stepMs) / 1000
            if feed.signals.isEmpty {
                try traci.step(to: simSeconds, states: changes)
            } else {
                let (readings, changed) = feed.step(try traci.stepReadingLoops(to: simSeconds, states: changes))
                for (id, c) in changed { senders[id]?.post(changes: c, readings: readings[id] ?? c) }
            }
            if let every = options.reportEverySeconds, simSeconds - lastReport >= every {
                let now = counts
                try report(traci, simSeconds, nowMs, since: (simSeconds - lastReport, now, reported))
                lastReport = simSeconds
                reported = now
            }
            if let d = options.durationSeconds, simSeconds >= d { break }
            // Real time: the next step is due at started + step × stepMs.
            let dueNs = started + UInt64(step * options.stepMs) * 1_000_000
            let now = DispatchTime.now().uptimeNanoseconds
            if dueNs > now { try? await Task.sleep(nanoseconds: dueNs - now) }
        }
    }

    /// "sumo live     60 s:  123 vehicles; controllers 5/5 connected; detectors 5 actuated: 3.2 updates/s, …".
    func report(
        _ traci: TraCIConnection, _ simSeconds: Double, _ nowMs: Int64,
        since: (seconds: Double, now: DetectorCounts, before: DetectorCounts)
    ) throws {
        let vehicles = try traci.minExpectedNumber()
        let status = board.summary(nowMs: nowMs, graceMs: options.graceMs)
        var line = String(format: "sumo live %6.0f s: %4d vehicles; controllers ", simSeconds, vehicles) + status
        if !feed.signals.isEmpty {
            let n = since.now
            let s = max(since.seconds, 0.001)
            line += String(
                format: "; detectors of %d actuated: %.1f updates/s (%.1f readings/s), %d updates, %d failed",
                feed.signals.count, Double(n.requests - since.before.requests) / s,
                Double(n.channels - since.before.channels) / s, n.requests, n.failures)
        }
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}

/// The last lamps each controller reported and whether its stream is up.
final class LampBoard: @unchecked Sendable {
    enum View {
        case neverSeen
        case lamps([Lamp])
    }
    private struct Entry {
        var lamps: [Lamp]?
        var connected = false
        var lostAtMs: Int64 = 0
    }
    private let lock = NSLock()
    private var entries: [SignalID: Entry] = [:]
    private let flashLamps: [SignalID: [Lamp]]

    init(corridor: Corridor) {
        var f: [SignalID: [Lamp]] = [:]
        for s in corridor.signals { f[s.id] = s.phases.map(\.flashLamp) }
        flashLamps = f
    }

    func report(_ signal: SignalID, lamps: [Lamp]) {
        lock.withLock { entries[signal, default: Entry()].lamps = lamps }
    }

    func setConnected(_ signal: SignalID, _ up: Bool, nowMs: Int64) {
        lock.withLock {
            var e = entries[signal, default: Entry()]
            if e.connected && !up { e.lostAtMs = nowMs }
            if !e.connected && !up && e.lostAtMs == 0 { e.lostAtMs = nowMs }
            e.connected = up
            entries[signal] = e
        }
    }

    func snapshot(nowMs: Int64, graceMs: Int64) -> [SignalID: View] {
        lock.withLock {
            var out: [SignalID: View] = [:]
            for (id, e) in entries {
                guard let l = e.lamps else {
                    out[id] = .neverSeen
                    continue
                }
                if e.connected || nowMs - e.lostAtMs < graceMs {
                    out[id] = .lamps(l)
                } else {
                    out[id] = .lamps(flashLamps[id] ?? l)
                }
            }
            return out
        }
    }

    /// "5/5 connected" or "4/5 connected; flash (unreachable): 3; never seen: 5".
    func summary(nowMs: Int64, graceMs: Int64) -> String {
        lock.withLock {
            let up = entries.filter { $0.value.connected }.count
            let lost = entries.filter {
                !$0.value.connected && $0.value.lamps != nil && nowMs - $0.value.lostAtMs >= graceMs
            }.keys.sorted()
            let never = flashLamps.keys.filter { entries[$0]?.lamps == nil }.sorted()
            var s = "\(up)/\(flashLamps.count) connected"
            if !lost.isEmpty { s += "; flash (unreachable): " + lost.map { "\($0)" }.joined(separator: ",") }
            if !never.isEmpty { s += "; never seen (all-way stop): " + never.map { "\($0)" }.joined(separator: ",") }
            return s
        }
    }
}

/// Follows one controller's lamp stream (APIClient: HTTP or HTTPS, server-sent events) in its own task,
/// reconnecting every second while it is down.
final class LampFollower: @unchecked Sendable {
    let endpoint: LiveEndpoint
    let signal: Signal
    let board: LampBoard
    let connection: APIConnection
    /// Called on every (re)connection of the stream (a restarted controller: its detectors need telling).
    let onConnect: @Sendable () -> Void
    private let lock = NSLock()
    private var task: Task<Void, Never>?

    init(
        endpoint: LiveEndpoint, signal: Signal, board: LampBoard, connection: APIConnection = .plaintext,
        onConnect: @escaping @Sendable () -> Void = {}
    ) {
        self.endpoint = endpoint
        self.signal = signal
        self.board = board
        self.connection = connection
        self.onConnect = onConnect
    }

    func start() {
        let t = Task { [self] in await loop() }
        lock.withLock { task = t }
    }

    func stop() {
        lock.withLock { task }?.cancel()
    }

    private func loop() async {
        board.setConnected(endpoint.signal, false, nowMs: nowMs())
        while !Task.isCancelled {
            await connection.followEvents(host: endpoint.host, port: endpoint.port, path: "/v1/lamps/stream") {
                data, first in
                if first {
                    board.setConnected(endpoint.signal, true, nowMs: nowMs())
                    onConnect()
                }
                if let lamps = decodeLamps(data) { board.report(endpoint.signal, lamps: lamps) }
            }
            board.setConnected(endpoint.signal, false, nowMs: nowMs())
            try? await Task.sleep(nanoseconds: 1_000_000_000)
        }
    }

    private func nowMs() -> Int64 { wallClockMs() }

    /// A `data:` payload (a `LampUpdate`) → lamps in `signal.phases` order (a phase missing from the update,
    /// or a lamp name that is none of the wire's: dark).
    func decodeLamps(_ data: String) -> [Lamp]? {
        guard let u = try? JSONDecoder().decode(LampUpdate.self, from: Data(data.utf8)),
            u.signal == endpoint.signal.rawValue
        else { return nil }
        return signal.phases.map { u.lamps["\($0.id.rawValue)"].flatMap(lamp(named:)) ?? .dark }
    }
}
