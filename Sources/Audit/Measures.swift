import SignalTiming

// The ATSPM performance measures (docs/audit.md, "Measures") from one signal's own hi-res event log: pure
// functions over decoded events, no folder, no clock. `MeasuresReport` reads a data folder and calls them.
//
// - Split monitor: per phase and cycle, the green, yellow and red clearance served (events 1, 8, 9/10, 11)
//   and how the green ended (4 gap-out, 5 max-out, 6 force-off, 151 a coordinated phase at its yield point).
// - Arrivals on green: detector-on events (82) of the phase's advance loops in red-to-red cycles (a red
//   start, event 9, to the next): the share during green, and the platoon ratio (that share ÷ green/cycle).
// - Split failures: per cycle the green occupancy ratio of the phase's stop-bar loops (GOR, over the green)
//   and the red occupancy ratio over the first 5 s of red (ROR5); both above 80 % is a split failure.
// - The Purdue coordination diagram (`CoordinationDiagram`): the red-to-red cycles and their arrivals.

/// How a phase's green ended, as its controller logged it just before the yellow.
public enum Termination: String, Sendable, CaseIterable, Hashable {
    /// 4: no vehicle extended the green within its passage time.
    case gapOut = "gap-out"
    /// 5: the green reached its maximum with a conflicting call waiting.
    case maxOut = "max-out"
    /// 6: the coordinator (or a preemption, or a stop for flash) ended it at its force-off point.
    case forceOff = "force-off"
    /// 151: a coordinated phase released at its yield point (Greenwave's fixed-time log writes it for the
    /// coordinated phases, 6 for the others).
    case yieldPoint = "yield"
    /// Nothing logged (a free-running fixed-time signal logs no termination).
    case notLogged = "not logged"

    init?(code: Int) {
        switch code {
        case HiResEventCode.phaseGapOut: self = .gapOut
        case HiResEventCode.phaseMaxOut: self = .maxOut
        case HiResEventCode.phaseForceOff: self = .forceOff
        case HiResEventCode.coordinatedPhaseYieldPoint: self = .yieldPoint
        default: return nil
        }
    }
}

/// One service of a phase as its log shows it: green start (1), yellow start (8), red start (the end of
/// yellow, 9, which is also the start of red clearance, 10) and the end of red clearance (11).
public struct PhaseCycle: Hashable, Sendable {
    public var phase: Int
    public var greenStartMs: Milliseconds
    public var yellowStartMs: Milliseconds
    public var redStartMs: Milliseconds
    public var redClearEndMs: Milliseconds
    public var termination: Termination
    /// The pattern (131) and the phase's programmed split (134–149) last logged before the green.
    public var pattern: Int?
    public var programmedSplitMs: Milliseconds?
    /// The red start of the phase's previous service when nothing (a restart, a stop, a flash, an incomplete
    /// service) came between them: the start of this service's red-to-red cycle.
    public var previousRedStartMs: Milliseconds?
    /// The phase's next green start, under the same condition: the end of this service's red.
    public var nextGreenStartMs: Milliseconds?

    public init(
        phase: Int, greenStartMs: Milliseconds, yellowStartMs: Milliseconds, redStartMs: Milliseconds,
        redClearEndMs: Milliseconds, termination: Termination = .notLogged
    ) {
        self.phase = phase
        self.greenStartMs = greenStartMs
        self.yellowStartMs = yellowStartMs
        self.redStartMs = redStartMs
        self.redClearEndMs = redClearEndMs
        self.termination = termination
    }

    public var greenMs: Milliseconds { yellowStartMs - greenStartMs }
    public var yellowMs: Milliseconds { redStartMs - yellowStartMs }
    public var redClearanceMs: Milliseconds { redClearEndMs - redStartMs }
    /// Green + yellow + red clearance: the split the phase actually used.
    public var splitMs: Milliseconds { redClearEndMs - greenStartMs }
}

/// The on/off history of a signal's detector channels (82 on, 81 off) and their faults (84–88, 83 restored).
public struct DetectorActivity: Sendable, Equatable {
    /// Per channel: the intervals it was on, [on, off), in time order.
    public var onIntervals: [Int: [Range<Milliseconds>]] = [:]
    /// Per channel: the intervals it was faulted.
    public var faultIntervals: [Int: [Range<Milliseconds>]] = [:]
    /// Per channel: every detector-on instant (82), a vehicle's arrival at the loop.
    public var onEvents: [Int: [Milliseconds]] = [:]

    public init() {}

    /// From the events of [startMs, endMs) in time order. A channel whose first event there is an off (81)
    /// was on since `startMs`; one still on (or faulted) at `endMs` is cut there; a restart (184) ends
    /// every interval (the controller starts with its detectors off and logs an 82 for any that is on).
    public init(_ events: [HiResEvent], startMs: Milliseconds, endMs: Milliseconds) {
        var onSince: [Int: Milliseconds] = [:]
        var faultSince: [Int: Milliseconds] = [:]
        var seen: Set<Int> = []
        func close(
            _ ch: Int, _ since: inout [Int: Milliseconds], into out: inout [Int: [Range<Milliseconds>]], _ t: Int64
        ) {
            if let s = since.removeValue(forKey: ch), t > s { out[ch, default: []].append(s..<t) }
        }
        for e in events {
            let ch = e.param
            switch e.code {
            case HiResEventCode.powerRestored:
                for c in Array(onSince.keys) { close(c, &onSince, into: &onIntervals, e.atMs) }
                for c in Array(faultSince.keys) { close(c, &faultSince, into: &faultIntervals, e.atMs) }
            case HiResEventCode.detectorOn:
                seen.insert(ch)
                onEvents[ch, default: []].append(e.atMs)
                if onSince[ch] == nil { onSince[ch] = e.atMs }
            case HiResEventCode.detectorOff:
                if !seen.contains(ch) && onSince[ch] == nil { onSince[ch] = startMs }
                seen.insert(ch)
                close(ch, &onSince, into: &onIntervals, e.atMs)
            case HiResEventCode.detectorFaultOther...HiResEventCode.detectorFaultExcessiveChange:
                if faultSince[ch] == nil { faultSince[ch] = e.atMs }
            case HiResEventCode.detectorRestored:
                close(ch, &faultSince, into: &faultIntervals, e.atMs)
            default:
                break
            }
        }
        for (c, since) in onSince { onIntervals[c, default: []].append(since..<max(endMs, since + 1)) }
        for (c, since) in faultSince { faultIntervals[c, default: []].append(since..<max(endMs, since + 1)) }
    }

    /// How long any of `channels` was on within `window` (overlapping activations of several loops count
    /// once, as ATSPM combines a phase's detectors).
    public func occupiedMs(_ channels: [Int], in window: Range<Milliseconds>) -> Milliseconds {
        Self.unionMs(channels.flatMap { Self.overlapping(onIntervals[$0] ?? [], window) }, in: window)
    }

    /// The intervals of one channel (in time order, disjoint) that overlap `window`, found by bisection, so
    /// that a day of cycles does not scan a day of activations per cycle.
    static func overlapping(
        _ intervals: [Range<Milliseconds>], _ window: Range<Milliseconds>
    )
        -> ArraySlice<Range<Milliseconds>>
    {
        var lo = 0
        var hi = intervals.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if intervals[mid].upperBound <= window.lowerBound { lo = mid + 1 } else { hi = mid }
        }
        var end = lo
        while end < intervals.count && intervals[end].lowerBound < window.upperBound { end += 1 }
        return intervals[lo..<end]
    }

    /// Whether any of `channels` was faulted at some time within `window`.
    public func faulted(_ channels: [Int], in window: Range<Milliseconds>) -> Bool {
        channels.contains { (faultIntervals[$0] ?? []).contains { $0.overlaps(window) } }
    }

    /// Every detector-on instant of `channels`, in time order.
    public func arrivals(_ channels: [Int]) -> [Milliseconds] { channels.flatMap { onEvents[$0] ?? [] }.sorted() }

    static func unionMs(_ intervals: [Range<Milliseconds>], in window: Range<Milliseconds>) -> Milliseconds {
        let clipped = intervals.compactMap { r -> Range<Milliseconds>? in
            let lo = max(r.lowerBound, window.lowerBound)
            let hi = min(r.upperBound, window.upperBound)
            return lo < hi ? lo..<hi : nil
        }.sorted { $0.lowerBound < $1.lowerBound }
        var total: Milliseconds = 0
        var current: Range<Milliseconds>?
        for r in clipped {
            if let c = current, r.lowerBound <= c.upperBound {
                current = c.lowerBound..<max(c.upperBound, r.upperBound)
            } else {
                if let c = current { total += c.count64 }
                current = r
            }
        }
        if let c = current { total += c.count64 }
        return total
    }
}

extension Range where Bound == Milliseconds {
    var count64: Milliseconds { upperBound - lowerBound }
}

public enum Measures {
    /// The red window of the split-failure test (ROR5) and the threshold both ratios must exceed.
    public static let redWindowMs: Milliseconds = 5_000
    public static let failureThreshold = 0.80

    /// Every complete service of every phase, per phase in time order. A service needs its 1, 8, 9 (or 10)
    /// and 11 in that order; one cut by a restart (184), a stop (182) or a flash (173) is dropped, and so
    /// is one whose phase turns green again before it is complete, and so is a green listed in a start-up
    /// record (a 1 at the instant of the 184: it says the phase was green, not that its green began).
    public static func cycles(_ events: [HiResEvent]) -> [Int: [PhaseCycle]] {
        var scan = CycleScan()
        for e in events { scan.take(e) }
        return scan.done
    }

    /// Nearest-rank percentile (`q` in 0...1) of `values`: the smallest value with at least q of them at or
    /// below it. Nil for none.
    public static func percentile(_ values: [Milliseconds], _ q: Double) -> Milliseconds? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((q * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}

/// The state machine behind `Measures.cycles`.
struct CycleScan {
    enum Stage { case green, yellow, red }
    struct Open {
        var cycle: PhaseCycle
        var stage: Stage
        var terminated = false
    }
    var open: [Int: Open] = [:]
    var done: [Int: [PhaseCycle]] = [:]
    /// Per phase: the red start of its last complete service, while nothing has come between.
    var lastRed: [Int: Milliseconds] = [:]
    var pattern: Int?
    var splits: [Int: Milliseconds] = [:]
    /// The last restart (184): the greens logged with it state what was green then, not when it began.
    var restartMs: Milliseconds?

    mutating func interrupt() {
        open = [:]
        lastRed = [:]
    }

    mutating func take(_ e: HiResEvent) {
        let p = e.param
        let t = e.atMs
        switch e.code {
        case HiResEventCode.powerRestored:
            interrupt()
            restartMs = t
        case HiResEventCode.powerFailure:
            interrupt()
        case HiResEventCode.phaseBeginGreen where t == restartMs:
            break
        case HiResEventCode.unitFlashStatus where e.param != 2 && e.param != 0:
            interrupt()
        case HiResEventCode.patternChange:
            pattern = p
        case (HiResEventCode.splitChangeBase + 1)...(HiResEventCode.splitChangeBase + 16):
            splits[e.code - HiResEventCode.splitChangeBase] = Milliseconds(p) * 1_000
        case HiResEventCode.phaseBeginGreen:
            // lastRed is set when a service completes and taken by the next green: an incomplete service in
            // between has already taken it, so this green then has no red-to-red cycle.
            let prev = lastRed.removeValue(forKey: p)
            if let prev, let i = done[p]?.indices.last, done[p]![i].redStartMs == prev {
                done[p]![i].nextGreenStartMs = t
            }
            var c = PhaseCycle(phase: p, greenStartMs: t, yellowStartMs: t, redStartMs: t, redClearEndMs: t)
            c.pattern = pattern
            c.programmedSplitMs = splits[p]
            c.previousRedStartMs = prev
            open[p] = Open(cycle: c, stage: .green)
        case _ where Termination(code: e.code) != nil:
            if var o = open[p], o.stage == .green, !o.terminated {
                o.cycle.termination = Termination(code: e.code)!
                o.terminated = true
                open[p] = o
            }
        default:
            advance(e)
        }
    }

    mutating func advance(_ e: HiResEvent) {
        let p = e.param
        guard var o = open[p] else { return }
        switch (e.code, o.stage) {
        case (HiResEventCode.phaseBeginYellow, .green):
            o.cycle.yellowStartMs = e.atMs
            o.stage = .yellow
        case (HiResEventCode.phaseEndYellow, .yellow), (HiResEventCode.phaseBeginRedClearance, .yellow):
            o.cycle.redStartMs = e.atMs
            o.stage = .red
        case (HiResEventCode.phaseEndRedClearance, .red):
            o.cycle.redClearEndMs = e.atMs
            done[p, default: []].append(o.cycle)
            lastRed[p] = o.cycle.redStartMs
            open[p] = nil
            return
        default:
            return
        }
        open[p] = o
    }
}
