// CorridorClock: corridor time as each controller measures it (docs/corridor-time.md).
//
// Pure: standard library and RaftCore's `Quorum` only, no clock of its own. Every function takes the times it needs, so that
// the estimator and the slewing are tested deterministically from seeds.
//
// - `ClockSample`: one NTP-style exchange with a peer (four timestamps, microseconds), checked before any
//   arithmetic: offset and round trip.
// - `PeerClockFilter`: the last samples of one peer; the one with the lowest round trip is the estimate,
//   a least-squares fit over the good ones gives the drift, a sudden jump (a stepped clock) restarts it.
// - `CorridorClockEstimator`: the filters of every peer and the voters; corridor time is the **median of
//   the voters' clocks** as this controller measures them (its own counts 0 when it is a voter).
// - `SlewedClock`: the clock the lamps read: monotonic, moved toward the estimate at a bounded rate,
//   stepped only when its owner allows it (before the lamps start).
// - `ClockFault`: the injected fault of a test (an offset, a drift, a step at a given time).
import RaftCore

/// Microseconds. Every timestamp on the wire and in a sample is 0 ... `ClockSample.maxTimestampUs`.
public typealias Microseconds = Int64

/// One time exchange with a peer, NTP's four timestamps: `t1` this controller sent the request (its clock),
/// `t2` the peer received it and `t3` the peer sent the answer (the peer's clock), `t4` this controller
/// received the answer (its clock).
public struct ClockSample: Sendable, Equatable {
    public var t1: Microseconds
    public var t2: Microseconds
    public var t3: Microseconds
    public var t4: Microseconds

    /// 2^60 µs, about 36,000 years after 1970: any two in-range timestamps differ by less than 2^60, and
    /// sums of two differences stay far inside Int64.
    public static let maxTimestampUs: Microseconds = 1 << 60
    /// A round trip longer than this is no use for time (and says a link is in trouble): refused.
    public static let maxRoundTripUs: Microseconds = 5_000_000

    public init(t1: Microseconds, t2: Microseconds, t3: Microseconds, t4: Microseconds) {
        self.t1 = t1
        self.t2 = t2
        self.t3 = t3
        self.t4 = t4
    }

    /// Why the sample cannot be used, or nil. Only samples with no problem have an `offset` and `roundTrip`
    /// (both computed without any possible overflow once this returned nil).
    public var problem: String? {
        for (name, v) in [("t1", t1), ("t2", t2), ("t3", t3), ("t4", t4)] where v < 0 || v > Self.maxTimestampUs {
            return "\(name) \(v) µs is outside 0...\(Self.maxTimestampUs)"
        }
        if t4 < t1 { return "answer received (t4 \(t4)) before the request was sent (t1 \(t1))" }
        if t3 < t2 { return "peer answered (t3 \(t3)) before it received the request (t2 \(t2))" }
        let rt = (t4 - t1) - (t3 - t2)
        if rt < 0 { return "negative round trip \(rt) µs (the peer held the request longer than the exchange took)" }
        if rt > Self.maxRoundTripUs { return "round trip \(rt) µs exceeds \(Self.maxRoundTripUs)" }
        return nil
    }

    /// The peer's clock minus this controller's, assuming the two legs took equally long. Its error is at
    /// most `roundTrip / 2` whatever the asymmetry. Only meaningful when `problem` is nil.
    public var offset: Microseconds { ((t2 - t1) + (t3 - t4)) / 2 }
    /// Time on the wire both ways (the peer's holding time taken out).
    public var roundTrip: Microseconds { (t4 - t1) - (t3 - t2) }
    /// This controller's clock half way through the exchange.
    public var midpoint: Microseconds { t1 + (t4 - t1) / 2 }
}

/// What is known about one peer's clock at an instant of this controller's clock.
public struct PeerClockEstimate: Sendable, Equatable {
    /// The peer's clock minus this controller's (µs), from the chosen sample, carried forward by the drift.
    public var offsetUs: Microseconds
    /// The chosen sample's round trip (µs); the offset's error bound is half of it.
    public var roundTripUs: Microseconds
    /// How fast the offset changes (ppm of this controller's clock): the peer's rate minus this one's.
    public var driftPpm: Double
    /// Samples in the window.
    public var samples: Int
}

/// Tuning of the estimator; the defaults are documented in docs/corridor-time.md.
public struct ClockFilterSettings: Sendable, Equatable {
    /// Samples kept per peer. With one exchange per 500 ms: the last 8 s (long enough to fit a drift of
    /// tens of ppm from samples a few hundred µs apart, short enough to follow a changing one).
    public var window: Int = 16
    /// A peer whose newest sample is older than this counts as unknown. Until then its clock is held over
    /// (carried forward by its drift): a voter that stops or restarts does not change the median, and with
    /// three voters one silent one does not leave a median of two (a mean) that one wrong clock could pull.
    public var staleUs: Microseconds = 60_000_000
    /// A sample whose offset differs from the current estimate by more than this plus both round trips
    /// means a clock was stepped: the window restarts from it.
    public var stepThresholdUs: Microseconds = 50_000
    /// Samples used for the drift fit: round trip at most the best plus the larger of this and a quarter
    /// of the best (a sample queued on one leg is off by half the wait, and would tilt the fit).
    public var driftRoundTripSlackUs: Microseconds = 500
    /// Drift is fitted only over at least this much of this controller's clock ...
    public var driftMinSpanUs: Microseconds = 1_000_000
    /// ... and reported within ± this (a larger slope is noise or a fault, not a crystal).
    public var maxDriftPpm: Double = 5_000

    public init() {}
}

/// The recent samples of one peer.
public struct PeerClockFilter: Sendable, Equatable {
    public let settings: ClockFilterSettings
    private(set) var samples: [ClockSample] = []
    /// The window's best sample every `historyIntervalUs`, for the last `historyPoints`: the drift is fitted
    /// over this long baseline (a minute), where a round trip's jitter under load tilts the slope little.
    private(set) var history: [ClockSample] = []
    static let historyIntervalUs: Microseconds = 4_000_000
    static let historyPoints = 16
    /// Times the window restarted because the offset jumped.
    public private(set) var steps = 0

    public init(settings: ClockFilterSettings = ClockFilterSettings()) {
        self.settings = settings
    }

    /// Adds a sample that has no `problem` (others are refused: false).
    @discardableResult
    public mutating func add(_ s: ClockSample) -> Bool {
        guard s.problem == nil else { return false }
        if let last = samples.last, s.midpoint < last.midpoint {
            // This controller's clock went back: older samples are on another time line.
            samples.removeAll()
        }
        if let e = estimate(at: s.midpoint) {
            let jump = s.offset - e.offsetUs
            if jump.magnitude > UInt64(settings.stepThresholdUs + s.roundTrip + e.roundTripUs) {
                samples.removeAll()
                history.removeAll()
                steps += 1
            }
        }
        samples.append(s)
        if samples.count > max(1, settings.window) { samples.removeFirst(samples.count - max(1, settings.window)) }
        if let best = samples.min(by: { $0.roundTrip < $1.roundTrip }),
            history.last.map({ s.midpoint - $0.midpoint >= Self.historyIntervalUs && best.midpoint > $0.midpoint })
                ?? (samples.count >= max(1, settings.window / 2))
        {
            history.append(best)
            if history.count > Self.historyPoints { history.removeFirst(history.count - Self.historyPoints) }
        }
        return true
    }

    /// The estimate at `nowUs` of this controller's clock, or nil without a sample newer than `staleUs`.
    public func estimate(at nowUs: Microseconds) -> PeerClockEstimate? {
        guard let newest = samples.last, nowUs - newest.midpoint <= settings.staleUs else { return nil }
        var best = newest
        for s in samples where s.roundTrip < best.roundTrip { best = s }
        let drift = driftPpm(bestRoundTrip: best.roundTrip)
        // Carried forward from the chosen sample by the drift, over at most the window's span.
        let age = min(max(0, nowUs - best.midpoint), settings.staleUs)
        let carried = Microseconds((drift * Double(age) / 1e6).rounded())
        return PeerClockEstimate(
            offsetUs: best.offset + carried, roundTripUs: best.roundTrip, driftPpm: drift, samples: samples.count)
    }

    /// Least-squares slope of offset over this controller's clock: over the long baseline of the windows'
    /// best samples once it spans 6 s, else over the window's samples with a good round trip, else over
    /// its faster half (a loaded machine), else 0.
    private func driftPpm(bestRoundTrip: Microseconds) -> Double {
        if history.count >= 3, let f = history.first, let l = history.last, l.midpoint - f.midpoint >= 6_000_000 {
            return fit(history)
        }
        let limit = bestRoundTrip + max(settings.driftRoundTripSlackUs, bestRoundTrip / 4)
        var good = samples.filter { $0.roundTrip <= limit }
        if good.count < 3 {
            let cut = samples.map(\.roundTrip).sorted()[samples.count / 2]
            good = samples.filter { $0.roundTrip <= cut }
        }
        return fit(good)
    }

    private func fit(_ good: [ClockSample]) -> Double {
        guard good.count >= 3, let first = good.first, let last = good.last,
            last.midpoint - first.midpoint >= settings.driftMinSpanUs
        else { return 0 }
        let x0 = first.midpoint
        let y0 = first.offset
        var sx = 0.0
        var sy = 0.0
        for s in good {
            sx += Double(s.midpoint - x0)
            sy += Double(s.offset - y0)
        }
        let n = Double(good.count)
        let mx = sx / n
        let my = sy / n
        var sxy = 0.0
        var sxx = 0.0
        for s in good {
            let dx = Double(s.midpoint - x0) - mx
            sxy += dx * (Double(s.offset - y0) - my)
            sxx += dx * dx
        }
        guard sxx > 0 else { return 0 }
        let ppm = sxy / sxx * 1e6
        guard ppm.isFinite else { return 0 }
        return min(max(ppm, -settings.maxDriftPpm), settings.maxDriftPpm)
    }
}

/// This controller's clock against the corridor.
public struct CorridorEstimate: Sendable, Equatable {
    /// Corridor time minus this controller's clock (µs): add it to read corridor time.
    public var offsetUs: Microseconds
    /// Half the round trip of the sample(s) the median came from (0 when it is this controller's own clock).
    public var uncertaintyUs: Microseconds
    /// This controller's clock rate minus the corridor's (ppm): positive means it runs fast.
    public var driftPpm: Double
    /// Voters whose clock is known (this controller included when it is a voter), and voters in all.
    public var votersKnown: Int
    public var voters: Int
    /// The fewest samples any other known voter's estimate rests on (0 when only this controller's clock counts).
    public var fewestSamples: Int = 0
}

/// The median of the voters' clocks as this controller measures them.
///
/// Why the median of the voters: it does not depend on who leads (a leader change moves nothing), and
/// with `2f + 1` voters no `f` clocks, however wrong, can move it outside the range of the correct ones.
/// An estimate needs a majority of the voters' clocks; with fewer there is none (nil).
public struct CorridorClockEstimator: Sendable, Equatable {
    public let selfID: UInt64
    public private(set) var voters: Set<UInt64>
    public let settings: ClockFilterSettings
    public private(set) var peers: [UInt64: PeerClockFilter] = [:]
    /// Samples refused (a `ClockSample.problem`).
    public private(set) var refused = 0

    public init(selfID: UInt64, voters: Set<UInt64>, settings: ClockFilterSettings = ClockFilterSettings()) {
        self.selfID = selfID
        self.voters = voters
        self.settings = settings
    }

    public mutating func setVoters(_ v: Set<UInt64>) { voters = v }

    @discardableResult
    public mutating func add(peer: UInt64, _ s: ClockSample) -> Bool {
        guard peer != selfID else {
            refused += 1
            return false
        }
        var f = peers[peer] ?? PeerClockFilter(settings: settings)
        guard f.add(s) else {
            refused += 1
            return false
        }
        peers[peer] = f
        return true
    }

    public func peer(_ id: UInt64, at nowUs: Microseconds) -> PeerClockEstimate? { peers[id]?.estimate(at: nowUs) }

    /// Window restarts over every peer (a stepped clock: `PeerClockFilter.steps`).
    public var steps: Int { peers.values.reduce(0) { $0 + $1.steps } }

    /// The estimate at `nowUs` of this controller's clock, or nil while fewer than a majority of the
    /// voters' clocks are known.
    public func estimate(at nowUs: Microseconds) -> CorridorEstimate? {
        var known: [PeerClockEstimate] = []
        for v in voters.sorted() {
            if v == selfID {
                known.append(PeerClockEstimate(offsetUs: 0, roundTripUs: 0, driftPpm: 0, samples: 0))
            } else if let e = peers[v]?.estimate(at: nowUs) {
                known.append(e)
            }
        }
        guard !voters.isEmpty, known.count >= Quorum(voters: Array(voters)).size else { return nil }
        let byOffset = known.sorted { $0.offsetUs < $1.offsetUs }
        let n = byOffset.count
        let lo = byOffset[(n - 1) / 2]
        let hi = byOffset[n / 2]
        let offset = lo.offsetUs / 2 + hi.offsetUs / 2 + (lo.offsetUs % 2 + hi.offsetUs % 2) / 2
        let drifts = known.map(\.driftPpm).sorted()
        let drift = (drifts[(n - 1) / 2] + drifts[n / 2]) / 2
        let others = voters.filter { $0 != selfID }.compactMap { peers[$0]?.estimate(at: nowUs)?.samples }
        return CorridorEstimate(
            offsetUs: offset, uncertaintyUs: max(lo.roundTripUs, hi.roundTripUs) / 2,
            driftPpm: -drift, votersKnown: n, voters: voters.count, fewestSamples: others.min() ?? 0)
    }
}

/// The clock the lamps read: this controller's monotonic clock plus a correction that moves toward a
/// target at no more than `maxSlewPpm`, and whose reading never goes back. `step` sets the correction at
/// once; its owner allows that only before the lamps start.
public struct SlewedClock: Sendable, Equatable {
    public private(set) var correctionUs: Microseconds
    public var maxSlewPpm: Int64
    private var lastMonoUs: Microseconds?
    private var lastReadingUs: Microseconds = .min
    /// µs·ppm of slew allowed but not used yet (so that frequent reads lose no fraction).
    private var budget: Int64 = 0

    public init(correctionUs: Microseconds, maxSlewPpm: Int64) {
        self.correctionUs = correctionUs
        self.maxSlewPpm = min(max(0, maxSlewPpm), 100_000)
    }

    /// Sets the correction at once, backwards too: the reading starts afresh (only before the lamps run,
    /// when nothing that must not go back has read it).
    public mutating func step(to target: Microseconds) {
        correctionUs = target
        lastReadingUs = .min
    }

    /// Corridor time at `monoUs` of the monotonic clock, the correction having moved toward `targetUs`.
    public mutating func read(monoUs: Microseconds, targetUs: Microseconds) -> Microseconds {
        let elapsed = monoUs.subtractingReportingOverflow(lastMonoUs ?? monoUs)
        let dt =
            elapsed.overflow
            ? (monoUs > (lastMonoUs ?? monoUs) ? 1_000_000_000 : 0) : min(max(0, elapsed.partialValue), 1_000_000_000)
        lastMonoUs = max(monoUs, lastMonoUs ?? monoUs)
        budget = min(budget + dt * maxSlewPpm, 1_000_000_000_000)
        let allowed = budget / 1_000_000
        let want = targetUs.subtractingReportingOverflow(correctionUs)
        let delta =
            want.overflow
            ? (targetUs > correctionUs ? allowed : -allowed) : min(max(want.partialValue, -allowed), allowed)
        correctionUs += delta
        budget -= Int64(delta.magnitude) * 1_000_000
        // On target: keep only the fraction, so that no credit is saved up for a later jump.
        if delta.magnitude < UInt64(allowed) { budget = min(budget, 999_999) }
        let (r, o) = monoUs.addingReportingOverflow(correctionUs)
        let reading = o ? lastReadingUs : max(r, lastReadingUs)
        lastReadingUs = reading
        return reading
    }
}

/// A clock fault for tests: from `startUs` of the true clock on, the faulty clock reads
/// `true + offset + drift · elapsed (+ step once elapsed ≥ stepAfter)`.
public struct ClockFault: Sendable, Equatable {
    public var offsetMs: Int64 = 0
    public var driftPpm: Int64 = 0
    public var stepMs: Int64 = 0
    public var stepAfterMs: Int64 = 0

    /// Ranges the flags accept.
    public static let offsetRangeMs: ClosedRange<Int64> = -86_400_000...86_400_000
    public static let driftRangePpm: ClosedRange<Int64> = -10_000...10_000
    public static let stepAfterRangeMs: ClosedRange<Int64> = 0...86_400_000

    public init(offsetMs: Int64 = 0, driftPpm: Int64 = 0, stepMs: Int64 = 0, stepAfterMs: Int64 = 0) {
        self.offsetMs = offsetMs
        self.driftPpm = driftPpm
        self.stepMs = stepMs
        self.stepAfterMs = stepAfterMs
    }

    public var isNone: Bool { offsetMs == 0 && driftPpm == 0 && stepMs == 0 }

    /// Why the fault is out of range, or nil.
    public var problem: String? {
        if !Self.offsetRangeMs.contains(offsetMs) {
            return "clock offset \(offsetMs) ms is outside \(Self.offsetRangeMs)"
        }
        if !Self.driftRangePpm.contains(driftPpm) {
            return "clock drift \(driftPpm) ppm is outside \(Self.driftRangePpm)"
        }
        if !Self.offsetRangeMs.contains(stepMs) { return "clock step \(stepMs) ms is outside \(Self.offsetRangeMs)" }
        if !Self.stepAfterRangeMs.contains(stepAfterMs) {
            return "clock step time \(stepAfterMs) ms is outside \(Self.stepAfterRangeMs)"
        }
        return nil
    }

    /// What the faulty clock adds to a true reading `elapsedUs` after the fault began (elapsed clamped to
    /// 0 ... 10 years, so nothing overflows). Requires `problem == nil`.
    public func errorUs(elapsedUs: Microseconds) -> Microseconds {
        let e = min(max(0, elapsedUs), 315_360_000_000_000)
        var err = offsetMs * 1_000 + e / 1_000_000 * driftPpm + (e % 1_000_000) * driftPpm / 1_000_000
        if e >= stepAfterMs * 1_000 { err += stepMs * 1_000 }
        return err
    }

    /// The drift alone, for clocks that only measure intervals (a monotonic clock has no offset and is
    /// not stepped, but its crystal drifts like the wall clock's).
    public func driftUs(elapsedUs: Microseconds) -> Microseconds {
        let e = min(max(0, elapsedUs), 315_360_000_000_000)
        return e / 1_000_000 * driftPpm + (e % 1_000_000) * driftPpm / 1_000_000
    }
}
