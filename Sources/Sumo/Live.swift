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
/// file) drive SUMO in real time until the task is cancelled (or `options.durationSeconds`).
/// Throws `SumoError` when SUMO is not installed (run tools/sumo/setup).
public func runLive(document: CorridorDocument, options: LiveOptions = LiveOptions(), logger: Logger) async throws {
    guard let sumo = SumoInstallation.locate() else { throw SumoError("SUMO not found: run tools/sumo/setup") }
    let connection: APIConnection
    do { connection = try APIConnection.forCorridor(caPath: document.apiCertificateAuthority) } catch {
        throw SumoError("the corridor's API CA: \(error)")
    }
    try await runLive(
        corridor: document.corridor,
        endpoints: document.endpoints.map { LiveEndpoint(signal: $0.signal, host: $0.api.host, port: $0.api.port) },
        options: options, sumo: sumo, connection: connection, logger: logger)
}

/// `connection`: how to reach the controllers' API (HTTPS trusting the corridor CA, or plain HTTP).
public func runLive(
    corridor: Corridor, endpoints: [LiveEndpoint], options: LiveOptions, sumo: SumoInstallation,
    connection: APIConnection = .plaintext, logger: Logger
) async throws {
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
    let programs = scenario.programs()
    let board = LampBoard(corridor: corridor)
    let followers = endpoints.compactMap { e -> LampFollower? in
        guard let signal = corridor.signals.first(where: { $0.id == e.signal }) else { return nil }
        let f = LampFollower(endpoint: e, signal: signal, board: board, connection: connection)
        f.start()
        return f
    }
    defer { for follower in followers { follower.stop() } }

    let port = try freeLoopbackPort()
    var sumoArgs = [
        "--net-file", scenario.netFile, "--route-files", scenario.routesFile, "--remote-port", "\(port)",
        "--seed", "\(options.seed)", "--step-length", String(format: "%.3f", Double(options.stepMs) / 1000),
        "--no-step-log", "true", "--no-warnings", "true"
    ]
    if options.gui { sumoArgs += ["--start", "true", "--quit-on-end", "true"] }
    let process = try sumo.start(sumoArgs, logPath: dir + "/sumo-live.log", binary: options.gui ? "sumo-gui" : "sumo")
    defer { if process.isRunning { process.terminate() } }
    let traci = try TraCIConnection(port: port)
    let version = try traci.version()
    logger.info(
        "live SUMO started",
        metadata: ["sumo": "\(version.identifier)", "signals": "\(programs.count)", "work": "\(dir)"])

    var shown = [String?](repeating: nil, count: programs.count)
    let started = DispatchTime.now().uptimeNanoseconds
    var step: Int64 = 0
    var lastReport = 0.0
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
        try traci.step(to: simSeconds, states: changes)
        if let every = options.reportEverySeconds, simSeconds - lastReport >= every {
            lastReport = simSeconds
            let vehicles = try traci.minExpectedNumber()
            let status = board.summary(nowMs: nowMs, graceMs: options.graceMs)
            let line =
                String(format: "sumo live %6.0f s: %4d vehicles; controllers ", simSeconds, vehicles) + status + "\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
        if let d = options.durationSeconds, simSeconds >= d { break }
        // Real time: the next step is due at started + step × stepMs.
        let dueNs = started + UInt64(step * options.stepMs) * 1_000_000
        let now = DispatchTime.now().uptimeNanoseconds
        if dueNs > now { try? await Task.sleep(nanoseconds: dueNs - now) }
    }
    try? traci.closeSimulation()
    process.waitUntilExit()
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
    private let lock = NSLock()
    private var task: Task<Void, Never>?

    init(endpoint: LiveEndpoint, signal: Signal, board: LampBoard, connection: APIConnection = .plaintext) {
        self.endpoint = endpoint
        self.signal = signal
        self.board = board
        self.connection = connection
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
                if first { board.setConnected(endpoint.signal, true, nowMs: nowMs()) }
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
