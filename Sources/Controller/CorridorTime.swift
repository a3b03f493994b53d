import CorridorClock
import Foundation
import Logging
import RaftCore
import Transport

/// Corridor time settings (docs/corridor-time.md).
public struct CorridorTimeSettings: Sendable, Equatable {
    /// A clock whose offset to corridor time exceeds this raises the clock alarm (`--clock-alarm-ms`).
    public var alarmMs: Int64 = 250
    /// The fastest the lamps' clock is moved toward corridor time once the lamps run (`--clock-slew-ppm`).
    public var maxSlewPpm: Int64 = 500
    /// How long the start waits for corridor time before the lamps start (`--clock-sync-wait-ms`); the
    /// lamps' clock is stepped to corridor time until then, and only slewed afterwards.
    public var syncWaitMs: Int64 = 10_000
    /// Time requests to every voter, one per this many ms, for `steadyAfterMs` after the lamps start and
    /// after a peer's clock is seen stepped; then one per `steadyExchangeIntervalMs`. Once the estimate has a
    /// minute of samples it needs few more (a crystal's drift is fitted over that minute), and the exchanges
    /// were most of an idle corridor's traffic: 47 controllers asking 5 voters twice a second (issue 19).
    public var exchangeIntervalMs: Int64 = 500
    public var steadyExchangeIntervalMs: Int64 = 2_000
    public var steadyAfterMs: Int64 = 60_000
    /// Fault injection (tests only, refused without `--fault-injection`).
    public var fault = ClockFault()

    public static let alarmRangeMs: ClosedRange<Int64> = 1...60_000
    public static let slewRangePpm: ClosedRange<Int64> = 0...5_000
    public static let syncWaitRangeMs: ClosedRange<Int64> = 0...120_000
    public static let exchangeIntervalRangeMs: ClosedRange<Int64> = 50...60_000
    public static let steadyAfterRangeMs: ClosedRange<Int64> = 0...86_400_000

    public init() {}

    /// Throws a configuration error naming the first setting out of range.
    public func validate(faultInjection: Bool) throws {
        guard Self.alarmRangeMs.contains(alarmMs) else {
            throw ControllerError.configuration("--clock-alarm-ms must be \(Self.alarmRangeMs), got \(alarmMs)")
        }
        guard Self.slewRangePpm.contains(maxSlewPpm) else {
            throw ControllerError.configuration("--clock-slew-ppm must be \(Self.slewRangePpm), got \(maxSlewPpm)")
        }
        guard Self.syncWaitRangeMs.contains(syncWaitMs) else {
            throw ControllerError.configuration(
                "--clock-sync-wait-ms must be \(Self.syncWaitRangeMs), got \(syncWaitMs)")
        }
        guard Self.exchangeIntervalRangeMs.contains(exchangeIntervalMs) else {
            throw ControllerError.configuration(
                "the time exchange interval must be \(Self.exchangeIntervalRangeMs) ms, got \(exchangeIntervalMs)")
        }
        guard Self.exchangeIntervalRangeMs.contains(steadyExchangeIntervalMs),
            steadyExchangeIntervalMs >= exchangeIntervalMs
        else {
            throw ControllerError.configuration(
                "the steady time exchange interval must be \(Self.exchangeIntervalRangeMs) ms and at least the first one (\(exchangeIntervalMs) ms), got \(steadyExchangeIntervalMs)"
            )
        }
        guard Self.steadyAfterRangeMs.contains(steadyAfterMs) else {
            throw ControllerError.configuration(
                "the dense time exchange period must be \(Self.steadyAfterRangeMs) ms, got \(steadyAfterMs)")
        }
        if let p = fault.problem { throw ControllerError.configuration(p) }
        if !fault.isNone && !faultInjection {
            throw ControllerError.configuration(
                "--clock-offset-ms, --clock-drift-ppm and --clock-step-ms are fault injection: they need --fault-injection (tests only)"
            )
        }
    }
}

/// What `/v1/status` and `/metrics` report about this controller's clock.
public struct ClockReport: Sendable, Equatable {
    public var synced: Bool
    public var offsetUs: Int64
    public var uncertaintyUs: Int64
    public var driftPpm: Double
    public var alarm: Bool
    /// Corridor time minus what the lamps read: what the slewing still has to remove.
    public var residualUs: Int64
    public var votersKnown: Int
    public var voters: Int
    public var localUs: Int64
    public var corridorUs: Int64
    public var stepped: Bool
}

/// The two clocks a controller reads (the seam for in-process tests: a fake clock that the test moves).
public struct ClockSource: Sendable {
    /// Monotonic nanoseconds.
    public var monotonicNs: @Sendable () -> UInt64
    /// Wall-clock microseconds since the epoch.
    public var wallClockUs: @Sendable () -> Int64

    public init(monotonicNs: @escaping @Sendable () -> UInt64, wallClockUs: @escaping @Sendable () -> Int64) {
        self.monotonicNs = monotonicNs
        self.wallClockUs = wallClockUs
    }

    public static let system = ClockSource(
        monotonicNs: { ControllerClock.realMonotonicNs() }, wallClockUs: { realTimeClockUs() })
}

/// The one clock of a controller: every time read of the controller (the lamps, the leader's stamps, the
/// status, the time frames, the Raft tick loop) goes through it, so that an injected fault applies everywhere.
///
/// - `localUs()`: this controller's own wall clock (with the injected fault): what the time frames carry.
/// - `monotonicNs()`: its monotonic clock (the fault's drift applies: a crystal drifts for both).
/// - `corridorUs()` / `corridorMs()`: corridor time as the lamps read it: the monotonic clock plus a
///   correction that follows the estimate (`CorridorClockEstimator`) at a bounded rate and never goes back;
///   stepped to the estimate until `lampsStarting()`.
public final class ControllerClock: @unchecked Sendable {
    public let settings: CorridorTimeSettings
    /// Where the time comes from: the system's clocks, or a test's fake clock.
    public let source: ClockSource
    public let selfID: NodeID
    private let startMonoNs: UInt64
    private let lock = NSLock()
    private var estimator: CorridorClockEstimator
    private var slewed: SlewedClock
    private var estimate: CorridorEstimate?
    private var stepAllowed = true
    private var steppedOnce = false
    /// Monotonic ns until which exchanges run every `exchangeIntervalMs` (then `steadyExchangeIntervalMs`).
    private var denseUntilNs: UInt64 = .max
    private let logger: Logger
    private var warnings = LogLimiter(windowNs: 10_000_000_000, maxKeys: 4)

    public init(
        selfID: NodeID, voters: Set<NodeID>, settings: CorridorTimeSettings, logger: Logger,
        source: ClockSource = .system
    ) {
        self.settings = settings
        self.source = source
        self.selfID = selfID
        self.logger = logger
        startMonoNs = source.monotonicNs()
        estimator = CorridorClockEstimator(selfID: selfID, voters: voters)
        slewed = SlewedClock(correctionUs: 0, maxSlewPpm: settings.maxSlewPpm)
        let mono = monoUs()
        slewed.step(to: localUs() - mono)
    }

    static func realMonotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    private func elapsedUs() -> Int64 { Int64((source.monotonicNs() &- startMonoNs) / 1_000) }

    /// This controller's own wall clock, µs since the epoch (with the injected fault).
    public func localUs() -> Int64 { source.wallClockUs() + settings.fault.errorUs(elapsedUs: elapsedUs()) }

    /// This controller's monotonic clock (ns), drifting as the injected fault says.
    public func monotonicNs() -> UInt64 {
        let real = source.monotonicNs()
        guard settings.fault.driftPpm != 0 else { return real }
        let d = settings.fault.driftUs(elapsedUs: Int64((real &- startMonoNs) / 1_000)) * 1_000
        return d >= 0 ? real &+ UInt64(d) : real &- UInt64(-d)
    }

    private func monoUs() -> Int64 { Int64(monotonicNs() / 1_000) }

    /// Corridor time (µs since the epoch) as the lamps read it.
    public func corridorUs() -> Int64 {
        lock.withLock { readLocked(local: localUs(), mono: monoUs()) }
    }

    public func corridorMs() -> Int64 { corridorUs() / 1_000 }

    private func readLocked(local: Int64, mono: Int64) -> Int64 {
        let target = (local - mono) + (estimate?.offsetUs ?? 0)
        if stepAllowed, estimate != nil { slewed.step(to: target) }
        return slewed.read(monoUs: mono, targetUs: target)
    }

    public func setVoters(_ voters: Set<NodeID>) { lock.withLock { estimator.setVoters(voters) } }

    /// A completed time exchange from the transport.
    public func add(_ s: TimeExchangeSample) {
        let sample = ClockSample(t1: s.t1, t2: s.t2, t3: s.t3, t4: s.t4)
        lock.withLock {
            let steps = estimator.steps
            estimator.add(peer: s.peer, sample)
            // A stepped clock restarts that peer's window: sample densely again while it fills.
            if estimator.steps != steps, !stepAllowed { denseUntilNs = denseDeadlineLocked() }
            refreshLocked()
        }
    }

    /// Recomputes the estimate (called on every sample and on every exchange round, so that stale peers age out).
    public func refresh() { lock.withLock { refreshLocked() } }

    private func refreshLocked() {
        let now = localUs()
        estimate = estimator.estimate(at: now)
        if stepAllowed, let e = estimate { slewed.step(to: (now - monoUs()) + e.offsetUs) }
        if alarmLocked(), let e = estimate,
            case .log(let suppressed) = warnings.admit(source: "clock", reason: "alarm", nowNs: source.monotonicNs())
        {
            logger.warning(
                "clock alarm: this controller's clock is beyond the bound from corridor time (its NTP/GPS discipline is failing); the lamps run on corridor time",
                metadata: [
                    "offset.ms": "\(Double(e.offsetUs) / 1000)", "bound.ms": "\(settings.alarmMs)",
                    "drift.ppm": "\(e.driftPpm)",
                    "uncertainty.ms": "\(Double(e.uncertaintyUs) / 1000)", "suppressed": "\(suppressed)"
                ])
        }
    }

    /// The clock is beyond the bound. Judged once every voter's clock is measured or the lamps run (at start,
    /// a median of two of three voters is their mean, and would flag a correct clock for a moment).
    private func alarmLocked() -> Bool {
        guard let e = estimate, e.votersKnown == e.voters || !stepAllowed else { return false }
        return e.offsetUs.magnitude > UInt64(settings.alarmMs) * 1_000
    }

    /// True once corridor time is known (a majority of the voters' clocks).
    public var synced: Bool { lock.withLock { estimate != nil } }

    /// Every voter's clock is measured (with only a majority, a median of two would be their mean), each from
    /// enough samples that the lowest round trip had a choice (the first exchanges, made while connections
    /// open, are slow and lopsided: 80 ms off was seen).
    /// And the median rests on a sample with a short round trip: at start, with every process of a machine
    /// booting, 8 samples of 1.5 s round trip left a controller 0.77 s off, which slewing takes 25 min to remove.
    private var readyToStart: Bool {
        lock.withLock {
            estimate.map {
                $0.votersKnown == $0.voters && ($0.fewestSamples >= Self.startSamples || $0.voters == 1)
                    && $0.uncertaintyUs <= Self.startUncertaintyUs
            } ?? false
        }
    }
    static let startSamples = 4
    static let startUncertaintyUs: Int64 = 2_000
    /// Until the lamps start, exchanges run every 100 ms, so that the start waits about a second.
    static let startExchangeIntervalMs: Int64 = 100

    /// Waits until every voter's clock is measured, or `syncWaitMs` passed, then allows only slewing from
    /// here on. Returns whether the lamps start on corridor time (a majority of the voters measured).
    public func lampsStarting() async -> Bool {
        let deadline = source.monotonicNs() + UInt64(max(0, settings.syncWaitMs)) * 1_000_000
        while !readyToStart && !Task.isCancelled && source.monotonicNs() < deadline {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return startSlewing()
    }

    private func denseDeadlineLocked() -> UInt64 {
        source.monotonicNs() &+ UInt64(max(0, settings.steadyAfterMs)) * 1_000_000
    }

    /// How long the exchange loop waits before its next round: 100 ms until the lamps start, then
    /// `exchangeIntervalMs` for `steadyAfterMs` (and again after a step), then `steadyExchangeIntervalMs`.
    func exchangeIntervalMs() -> Int64 {
        lock.withLock {
            if stepAllowed { return min(Self.startExchangeIntervalMs, settings.exchangeIntervalMs) }
            return source.monotonicNs() < denseUntilNs ? settings.exchangeIntervalMs : settings.steadyExchangeIntervalMs
        }
    }

    private func startSlewing() -> Bool {
        lock.withLock {
            _ = readLocked(local: localUs(), mono: monoUs())
            stepAllowed = false
            denseUntilNs = denseDeadlineLocked()
            steppedOnce = estimate != nil
            if let e = estimate {
                let good = e.uncertaintyUs <= Self.startUncertaintyUs
                let message: Logger.Message =
                    good
                    ? "clock: lamps start on corridor time"
                    : "clock: lamps start on corridor time, measured only roughly (slow time exchanges); slewing removes the error at --clock-slew-ppm"
                logger.log(
                    level: good ? .notice : .warning, message,
                    metadata: [
                        "offset.ms": "\(Double(e.offsetUs) / 1000)",
                        "uncertainty.ms": "\(Double(e.uncertaintyUs) / 1000)",
                        "voters": "\(e.votersKnown)/\(e.voters)"
                    ])
            } else {
                logger.warning(
                    "clock: lamps start on this controller's own clock; corridor time unknown (fewer than a majority of the voters' clocks measured)",
                    metadata: ["waited.ms": "\(settings.syncWaitMs)"])
            }
            return estimate != nil
        }
    }

    public func report() -> ClockReport {
        lock.withLock {
            let local = localUs()
            let mono = monoUs()
            let corridor = readLocked(local: local, mono: mono)
            let e = estimate
            let target = local + (e?.offsetUs ?? 0)
            return ClockReport(
                synced: e != nil, offsetUs: e?.offsetUs ?? 0, uncertaintyUs: e?.uncertaintyUs ?? 0,
                driftPpm: e?.driftPpm ?? 0,
                alarm: alarmLocked(),
                residualUs: target - corridor, votersKnown: e?.votersKnown ?? 0,
                voters: e?.voters ?? estimator.voters.count,
                localUs: local, corridorUs: corridor, stepped: steppedOnce)
        }
    }

    /// The exchange loop: a time request to every voter each `exchangeIntervalMs`; the voters come from
    /// the Raft membership.
    func runExchanges(transport: PeerTransport, voters: @Sendable () async -> Set<NodeID>) async {
        let me = selfID
        while !Task.isCancelled {
            let v = await voters()
            setVoters(v)
            transport.sendTimeRequests(to: v.filter { $0 != me }.sorted())
            refresh()
            try? await Task.sleep(nanoseconds: UInt64(exchangeIntervalMs()) * 1_000_000)
        }
    }
}
