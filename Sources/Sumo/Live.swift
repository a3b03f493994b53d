// Live mode: SUMO in real time, every traffic light set from what its controller reports on
// `GET /v1/lamps/stream` (server-sent events), so that the vehicles see what the controllers show.
//
// Unreachable controllers (docs/sumo.md): while a controller's stream is connected, or has been down
// for less than `graceMs` (a reconnect), SUMO shows its last reported lamps. A controller that stays
// unreachable is treated as a dead controller in the field: the cabinet's malfunction management
// unit puts the junction into flash, each phase showing its configured flash lamp (arterial flashing
// yellow, turns and side street flashing red). A controller never heard from is an all-way stop
// (every link flashing red). Lamps a controller reports are shown as they are, flash included.
import CorridorFile
import Foundation
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
    public init(network: NetworkOptions = NetworkOptions(), seed: Int = 1, gui: Bool = false, durationSeconds: Double? = nil,
                workDirectory: String? = nil) {
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
    try await runLive(corridor: document.corridor,
                      endpoints: document.endpoints.map { LiveEndpoint(signal: $0.signal, host: $0.api.host, port: $0.api.port) },
                      options: options, sumo: sumo, logger: logger)
}

public func runLive(corridor: Corridor, endpoints: [LiveEndpoint], options: LiveOptions, sumo: SumoInstallation,
                    logger: Logger) async throws {
    let dir = options.workDirectory ?? (NSTemporaryDirectory() + "greenwave-sumo-live-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    defer { if options.workDirectory == nil { try? FileManager.default.removeItem(atPath: dir) } }
    var net = options.network
    if let d = options.durationSeconds { net.demandSeconds = Int(d.rounded(.up)) + 60 } else { net.demandSeconds = 7 * 86_400 }
    let scenario = try Scenario.build(corridor: corridor, options: net, directory: dir, sumo: sumo)
    let programs = scenario.programs()
    let board = LampBoard(corridor: corridor)
    let followers = endpoints.compactMap { e -> LampFollower? in
        guard let signal = corridor.signals.first(where: { $0.id == e.signal }) else { return nil }
        let f = LampFollower(endpoint: e, signal: signal, board: board)
        f.start()
        return f
    }
    defer { followers.forEach { $0.stop() } }

    let port = try freeLoopbackPort()
    var sumoArgs = ["--net-file", scenario.netFile, "--route-files", scenario.routesFile, "--remote-port", "\(port)",
                    "--seed", "\(options.seed)", "--step-length", String(format: "%.3f", Double(options.stepMs) / 1000),
                    "--no-step-log", "true", "--no-warnings", "true"]
    if options.gui { sumoArgs += ["--start", "true", "--quit-on-end", "true"] }
    let process = try sumo.start(sumoArgs, logPath: dir + "/sumo-live.log", binary: options.gui ? "sumo-gui" : "sumo")
    defer { if process.isRunning { process.terminate() } }
    let traci = try TraCIConnection(port: port)
    let version = try traci.version()
    logger.info("live SUMO started", metadata: ["sumo": "\(version.identifier)", "signals": "\(programs.count)", "work": "\(dir)"])

    var shown = [String?](repeating: nil, count: programs.count)
    let started = DispatchTime.now().uptimeNanoseconds
    var step: Int64 = 0
    var lastReport = 0.0
    while !Task.isCancelled {
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
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
            let line = String(format: "sumo live %6.0f s: %4d vehicles; controllers ", simSeconds, vehicles) + status + "\n"
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
    enum View { case neverSeen, lamps([Lamp]) }
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
                guard let l = e.lamps else { out[id] = .neverSeen; continue }
                if e.connected || nowMs - e.lostAtMs < graceMs { out[id] = .lamps(l) } else { out[id] = .lamps(flashLamps[id] ?? l) }
            }
            return out
        }
    }

    /// "5/5 connected" or "4/5 connected; flash (unreachable): 3; never seen: 5".
    func summary(nowMs: Int64, graceMs: Int64) -> String {
        lock.withLock {
            let up = entries.filter { $0.value.connected }.count
            let lost = entries.filter { !$0.value.connected && $0.value.lamps != nil && nowMs - $0.value.lostAtMs >= graceMs }.keys.sorted()
            let never = flashLamps.keys.filter { entries[$0]?.lamps == nil }.sorted()
            var s = "\(up)/\(flashLamps.count) connected"
            if !lost.isEmpty { s += "; flash (unreachable): " + lost.map { "\($0)" }.joined(separator: ",") }
            if !never.isEmpty { s += "; never seen (all-way stop): " + never.map { "\($0)" }.joined(separator: ",") }
            return s
        }
    }
}

/// Follows one controller's lamp stream on its own thread (blocking socket, HTTP/1.1, chunked SSE),
/// reconnecting every second while it is down.
final class LampFollower: @unchecked Sendable {
    let endpoint: LiveEndpoint
    let signal: Signal
    let board: LampBoard
    private let lock = NSLock()
    private var stopped = false
    private var fd: Int32 = -1

    init(endpoint: LiveEndpoint, signal: Signal, board: LampBoard) {
        self.endpoint = endpoint
        self.signal = signal
        self.board = board
    }

    func start() {
        let t = Thread { [self] in loop() }
        t.name = "lamps-\(endpoint.signal)"
        t.start()
    }

    func stop() {
        lock.withLock {
            stopped = true
            if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func loop() {
        board.setConnected(endpoint.signal, false, nowMs: nowMs())
        while !isStopped {
            followOnce()
            board.setConnected(endpoint.signal, false, nowMs: nowMs())
            if !isStopped { usleep(1_000_000) }
        }
    }

    private func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    private func followOnce() {
        guard let s = connectTCP(host: endpoint.host, port: endpoint.port) else { return }
        lock.withLock { fd = s }
        defer {
            lock.withLock { fd = -1 }
            close(s)
        }
        let request = "GET /v1/lamps/stream HTTP/1.1\r\nHost: \(endpoint.host):\(endpoint.port)\r\nAccept: text/event-stream\r\n\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(s, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else { return }
        var parser = SSEParser()
        var buf = [UInt8](repeating: 0, count: 16_384)
        while !isStopped {
            let n = buf.withUnsafeMutableBytes { recv(s, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            guard let events = try? parser.feed(buf[0..<n]) else { return }
            if parser.headerDone { board.setConnected(endpoint.signal, true, nowMs: nowMs()) }
            for data in events {
                if let lamps = decodeLamps(data) { board.report(endpoint.signal, lamps: lamps) }
            }
        }
    }

    /// A `data:` payload → lamps in `signal.phases` order (a phase missing from the update: dark).
    func decodeLamps(_ data: String) -> [Lamp]? {
        struct Update: Decodable { var signal: Int; var lamps: [String: String] }
        guard let u = try? JSONDecoder().decode(Update.self, from: Data(data.utf8)), u.signal == endpoint.signal.rawValue else { return nil }
        return signal.phases.map { lamp(named: u.lamps["\($0.id.rawValue)"] ?? "dark") }
    }
}

func lamp(named name: String) -> Lamp {
    switch name {
    case "green": return .green
    case "yellow": return .yellow
    case "red": return .red
    case "flashing-red": return .flashingRed
    case "flashing-yellow": return .flashingYellow
    default: return .dark
    }
}

/// HTTP/1.1 response head, then a body either chunked or plain, split into server-sent events; returns
/// the `data:` payload of each complete event.
struct SSEParser {
    struct Refused: Error {}
    private(set) var headerDone = false
    private var chunked = false
    private var raw: [UInt8] = []          // bytes not yet de-chunked
    private var text: [UInt8] = []         // de-chunked body not yet split into events
    private var chunkLeft = 0              // body bytes left in the current chunk
    private var skipCRLF = false

    mutating func feed<C: Collection>(_ bytes: C) throws -> [String] where C.Element == UInt8 {
        raw += bytes
        if !headerDone {
            guard let end = find([13, 10, 13, 10], in: raw) else {
                if raw.count > 65_536 { throw Refused() }
                return []
            }
            let head = String(decoding: raw[0..<end], as: UTF8.self).lowercased()
            guard head.hasPrefix("http/1.1 200") || head.hasPrefix("http/1.0 200") else { throw Refused() }
            chunked = head.contains("transfer-encoding: chunked")
            raw.removeFirst(end + 4)
            headerDone = true
        }
        if chunked { try dechunk() } else { text += raw; raw.removeAll() }
        var events: [String] = []
        while let end = find([10, 10], in: text) {
            let block = String(decoding: text[0..<end], as: UTF8.self)
            text.removeFirst(end + 2)
            let data = block.split(separator: "\n").filter { $0.hasPrefix("data:") }
                .map { $0.dropFirst(5).drop(while: { $0 == " " }) }.joined(separator: "\n")
            if !data.isEmpty { events.append(data) }
        }
        if text.count > 1 << 20 { throw Refused() }
        return events
    }

    private mutating func dechunk() throws {
        while true {
            if skipCRLF {
                guard raw.count >= 2 else { return }
                raw.removeFirst(2)
                skipCRLF = false
            }
            if chunkLeft > 0 {
                let n = min(chunkLeft, raw.count)
                guard n > 0 else { return }
                text += raw[0..<n]
                raw.removeFirst(n)
                chunkLeft -= n
                if chunkLeft == 0 { skipCRLF = true }
                continue
            }
            guard let eol = find([13, 10], in: raw) else { return }
            let sizeText = String(decoding: raw[0..<eol], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { throw Refused() }
            raw.removeFirst(eol + 2)
            if size == 0 { throw Refused() }   // the stream ended
            chunkLeft = size
        }
    }

    private func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] {
            if Array(hay[i..<i + needle.count]) == needle { return i }
        }
        return nil
    }
}

/// A connected blocking TCP socket, or nil.
func connectTCP(host: String, port: Int) -> Int32? {
    var hints = addrinfo()
    hints.ai_family = AF_INET
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var res: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, "\(port)", &hints, &res) == 0, let ai = res else { return nil }
    defer { freeaddrinfo(res) }
    let s = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
    guard s >= 0 else { return nil }
    guard connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
        close(s)
        return nil
    }
    return s
}
