// Live mode's detector inputs (issue 20): every actuated controller's vehicle detectors driven from
// SUMO's induction loops. Each SUMO step the loops of the actuated signals are read over TraCI (a
// subscription), each detector channel reads `on` when any loop that feeds it was occupied during the
// step, and the channels that changed are sent to that controller's `PUT /v1/detectors` (one request per
// signal and step, only on change; a full refresh after a controller (re)connects or a request failed).
// The lights still come from each controller's lamp stream (Live.swift). docs/sumo.md ("Live").
//
// Which channels a controller has is the corridor file's `actuated:` section, mapped by
// `ActuatedCorridor.signal` (SignalTiming) exactly as the controller maps it; `LoopFeed` only decides
// which of SUMO's loops feed which of those channels.
import APIClient
import Foundation
import GreenwaveAPI
import Logging
import NIOHTTP1
import SignalTiming

/// Which loops feed which detector channel of one signal.
public enum LoopFeed {
    /// A **stop-bar** loop feeds the detectors of its phase that place calls (else every detector of its
    /// phase); an **advance** loop feeds the detectors of its phase that only extend (else those that
    /// extend, else every detector of its phase). With the default detectors (one per phase, channel =
    /// phase number, calling and extending) a channel reads every loop of its phase. A channel no loop
    /// feeds is never sent: it stays `absent` and the controller puts its phase on max recall (logged).
    /// Channels in ascending order, each with its loop ids in the loops' order.
    public static func channels(loops: [LoopSpec], detectors: [DetectorConfig]) -> [(channel: Int, loops: [String])] {
        var fed: [Int: [String]] = [:]
        for loop in loops {
            let ofPhase = detectors.filter { $0.phase == loop.phase }
            var targets: [DetectorConfig]
            switch loop.kind {
            case .stopBar:
                targets = ofPhase.filter(\.calls)
            case .advance:
                targets = ofPhase.filter { !$0.calls && $0.extends }
                if targets.isEmpty { targets = ofPhase.filter(\.extends) }
            }
            if targets.isEmpty { targets = ofPhase }
            for d in targets { fed[d.id, default: []].append(loop.id) }
        }
        return fed.keys.sorted().map { ($0, fed[$0]!) }
    }
}

/// The readings of every actuated signal's channels from one step's loop values, and what changed.
/// Pure: no I/O, no clock.
public struct DetectorFeed: Sendable {
    public struct Signal: Sendable {
        public var signal: SignalID
        public var channels: [(channel: Int, loops: [String])]
    }
    public let signals: [Signal]
    /// Per signal (in `signals` order), the readings last returned (nil: none yet).
    private var last: [[Int: Bool]?]

    /// `detectors`: per actuated signal, its controller's detectors; `loops`: the scenario's loops.
    public init(detectors: [SignalID: [DetectorConfig]], loops: [SignalID: [LoopSpec]]) {
        signals = detectors.keys.sorted().map { id in
            Signal(signal: id, channels: LoopFeed.channels(loops: loops[id] ?? [], detectors: detectors[id]!))
        }
        last = signals.map { _ in nil }
    }

    /// Every loop some channel reads (to subscribe to).
    public var loopIDs: [String] { signals.flatMap { $0.channels.flatMap(\.loops) } }

    /// Every signal's readings this step (channel → on) and, per signal whose readings changed (or are
    /// read for the first time), only the channels that changed. A loop missing from `values` reads off.
    public mutating func step(
        _ values: [String: LoopValues]
    ) -> (readings: [SignalID: [Int: Bool]], changes: [SignalID: [Int: Bool]]) {
        var readings: [SignalID: [Int: Bool]] = [:]
        var changes: [SignalID: [Int: Bool]] = [:]
        for (k, s) in signals.enumerated() {
            var now: [Int: Bool] = [:]
            for c in s.channels { now[c.channel] = c.loops.contains { values[$0]?.occupied == true } }
            readings[s.signal] = now
            let before = last[k]
            let changed = now.filter { before?[$0.key] != $0.value }
            if !changed.isEmpty { changes[s.signal] = changed }
            last[k] = now
        }
        return (readings, changes)
    }

    /// The request body for `PUT /v1/detectors` (channels in ascending order).
    public static func body(_ readings: [Int: Bool]) -> Data {
        let items = readings.keys.sorted().map { "\"\($0)\": \"\(readings[$0]! ? "on" : "off")\"" }
        return Data(("{\"detectors\": {" + items.joined(separator: ", ") + "}}").utf8)
    }
}

/// Sends one controller its detector changes in order, off the SUMO loop's thread (a slow or dead
/// controller never holds the simulation up). Consecutive batches are merged into one request unless a
/// channel changes twice (a vehicle on and off again between two requests is then still two requests, as
/// the controller's panel latches an `on`). After a failure, or when the controller's lamp stream
/// (re)connects (a restarted controller reads `absent` until told), the next request carries every channel.
final class DetectorSender: @unchecked Sendable {
    let endpoint: LiveEndpoint
    let connection: APIConnection
    let logger: Logger
    private let lock = NSLock()
    private var batches: [[Int: Bool]] = []
    private var state: [Int: Bool] = [:]
    private var resyncNeeded = true
    private var lastProblem: String?
    private var counts = DetectorCounts()
    private let wake: AsyncStream<Void>
    private let wakeUp: AsyncStream<Void>.Continuation
    private var task: Task<Void, Never>?
    /// Batches kept while the controller does not answer; beyond that, one full refresh replaces them.
    static let backlogMax = 100

    init(endpoint: LiveEndpoint, connection: APIConnection, logger: Logger) {
        self.endpoint = endpoint
        self.connection = connection
        self.logger = logger
        (wake, wakeUp) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func start() {
        let t = Task { [self] in await loop() }
        lock.withLock { task = t }
    }

    func stop() {
        wakeUp.finish()
        lock.withLock { task }?.cancel()
    }

    /// This step's changes (`readings`: every channel's reading now).
    func post(changes: [Int: Bool], readings: [Int: Bool]) {
        lock.withLock {
            state = readings
            batches.append(changes)
            if batches.count > Self.backlogMax {
                batches.removeAll()
                resyncNeeded = true
            }
        }
        wakeUp.yield()
    }

    /// The next request carries every channel.
    func resync() {
        lock.withLock { resyncNeeded = true }
        wakeUp.yield()
    }

    var totals: DetectorCounts { lock.withLock { counts } }

    /// The requests to send now: one full refresh, or the pending batches merged where no channel repeats.
    private func take() -> [[Int: Bool]] {
        lock.withLock {
            defer { batches.removeAll() }
            if resyncNeeded {
                resyncNeeded = false
                return state.isEmpty ? [] : [state]
            }
            var out: [[Int: Bool]] = []
            for b in batches where !b.isEmpty {
                if let last = out.last, last.keys.allSatisfy({ b[$0] == nil }) {
                    out[out.count - 1].merge(b) { _, new in new }
                } else {
                    out.append(b)
                }
            }
            return out
        }
    }

    private func loop() async {
        for await _ in wake {
            for body in take() {
                guard !Task.isCancelled else { return }
                if await !send(body) {
                    lock.withLock { resyncNeeded = true }
                    try? await Task.sleep(nanoseconds: 1_000_000_000)
                    wakeUp.yield()
                    break
                }
            }
        }
    }

    private func send(_ readings: [Int: Bool]) async -> Bool {
        var problem: String?
        do {
            let a = try await connection.send(
                method: .PUT, host: endpoint.host, port: endpoint.port, path: "/v1/detectors",
                body: DetectorFeed.body(readings), timeoutSeconds: 2, maxBody: 64 << 10)
            if a.status != 200 {
                problem = "HTTP \(a.status): " + String(decoding: a.body.prefix(300), as: UTF8.self)
            }
        } catch {
            problem = "\(error)"
        }
        let report = lock.withLock { () -> Bool in
            if problem == nil {
                counts.requests += 1
                counts.channels += readings.count
            } else {
                counts.failures += 1
            }
            defer { lastProblem = problem }
            return problem != lastProblem
        }
        if report {
            if let problem {
                logger.warning(
                    "detector inputs not taken", metadata: ["signal.id": "\(endpoint.signal)", "error": "\(problem)"])
            } else {
                logger.info("detector inputs taken", metadata: ["signal.id": "\(endpoint.signal)"])
            }
        }
        return problem == nil
    }
}

/// What the detector senders did.
public struct DetectorCounts: Sendable, Equatable {
    /// Requests the controllers took (200).
    public var requests = 0
    /// Channel readings in those requests.
    public var channels = 0
    /// Requests that failed (no answer or not 200).
    public var failures = 0
    public init() {}

    static func + (a: DetectorCounts, b: DetectorCounts) -> DetectorCounts {
        var c = a
        c.requests += b.requests
        c.channels += b.channels
        c.failures += b.failures
        return c
    }
}
