import SignalTiming

/// Split monitor of one phase over a window: the distribution of the split it actually used.
public struct SplitSummary: Hashable, Sendable {
    public var phase: Int
    public var cycles: Int
    public var meanSplitMs: Double?
    /// Nearest-rank 85th percentile.
    public var p85SplitMs: Milliseconds?
    public var maxSplitMs: Milliseconds?
    public var minSplitMs: Milliseconds?
    public var meanGreenMs: Double?
    public var terminations: [Termination: Int]

    public init(phase: Int, cycles: [PhaseCycle]) {
        self.phase = phase
        self.cycles = cycles.count
        let splits = cycles.map(\.splitMs)
        meanSplitMs = splits.isEmpty ? nil : Double(splits.reduce(0, +)) / Double(splits.count)
        p85SplitMs = Measures.percentile(splits, 0.85)
        maxSplitMs = splits.max()
        minSplitMs = splits.min()
        meanGreenMs = cycles.isEmpty ? nil : Double(cycles.map(\.greenMs).reduce(0, +)) / Double(cycles.count)
        terminations = Dictionary(grouping: cycles, by: \.termination).mapValues(\.count)
    }
}

/// One red-to-red cycle of a phase (from the red start of one service to the red start of the next, the
/// cycle ATSPM's coordination diagram and arrivals on green use) and the arrivals in it.
public struct ArrivalCycle: Hashable, Sendable {
    public var phase: Int
    public var startMs: Milliseconds
    public var greenStartMs: Milliseconds
    public var yellowStartMs: Milliseconds
    public var endMs: Milliseconds
    /// Arrival instants in [startMs, endMs) (detector on, shifted by the travel time to the stop bar).
    public var arrivals: [Milliseconds]

    public var cycleMs: Milliseconds { endMs - startMs }
    public var greenMs: Milliseconds { yellowStartMs - greenStartMs }
    public var onGreen: Int { arrivals.filter { $0 >= greenStartMs && $0 < yellowStartMs }.count }
    public var onYellow: Int { arrivals.filter { $0 >= yellowStartMs }.count }
    public var onRed: Int { arrivals.filter { $0 < greenStartMs }.count }
}

/// Arrivals on green of one phase over a window.
public struct ArrivalsSummary: Hashable, Sendable {
    public var phase: Int
    public var cycles: Int
    public var arrivals: Int
    public var onGreen: Int
    public var onYellow: Int
    public var onRed: Int
    public var greenMs: Milliseconds
    public var cycleMs: Milliseconds

    public init(phase: Int, cycles: [ArrivalCycle]) {
        self.phase = phase
        self.cycles = cycles.count
        arrivals = cycles.map(\.arrivals.count).reduce(0, +)
        onGreen = cycles.map(\.onGreen).reduce(0, +)
        onYellow = cycles.map(\.onYellow).reduce(0, +)
        onRed = cycles.map(\.onRed).reduce(0, +)
        greenMs = cycles.map(\.greenMs).reduce(0, +)
        cycleMs = cycles.map(\.cycleMs).reduce(0, +)
    }

    /// Arrivals during green ÷ all arrivals (0...1); nil without arrivals.
    public var percentOnGreen: Double? { arrivals == 0 ? nil : Double(onGreen) / Double(arrivals) }
    /// Green time ÷ cycle time (0...1); nil without cycles.
    public var greenRatio: Double? { cycleMs == 0 ? nil : Double(greenMs) / Double(cycleMs) }
    /// Percent on green ÷ green ratio: 1 is random arrivals, above 1 a platoon arriving in the green
    /// (HCM: 1.5 and above is favourable progression), below 1 arrivals in the red.
    public var platoonRatio: Double? {
        guard let pog = percentOnGreen, let g = greenRatio, g > 0 else { return nil }
        return pog / g
    }
}

/// One cycle of the split-failure test.
public struct SplitFailureCycle: Hashable, Sendable {
    public var phase: Int
    public var greenStartMs: Milliseconds
    public var yellowStartMs: Milliseconds
    public var redStartMs: Milliseconds
    /// The end of the red window: 5 s after the red start, or the next green if sooner.
    public var redWindowEndMs: Milliseconds
    /// Green occupancy ratio and red occupancy ratio over the red window (0...1).
    public var gor: Double
    public var ror5: Double
    /// A stop-bar loop of the phase was faulted during the cycle: not judged (a stuck loop reads 100 %).
    public var detectorFault: Bool

    public var failed: Bool { !detectorFault && gor > Measures.failureThreshold && ror5 > Measures.failureThreshold }
}

public struct SplitFailureSummary: Hashable, Sendable {
    public var phase: Int
    public var cycles: Int
    /// Cycles without a detector fault.
    public var judged: Int
    public var failures: Int

    public init(phase: Int, cycles: [SplitFailureCycle]) {
        self.phase = phase
        self.cycles = cycles.count
        judged = cycles.filter { !$0.detectorFault }.count
        failures = cycles.filter(\.failed).count
    }

    /// Failures ÷ judged cycles (0...1); nil if none was judged.
    public var failureRate: Double? { judged == 0 ? nil : Double(failures) / Double(judged) }
}

extension Measures {
    /// The red-to-red cycles of the services in `cycles` that have a previous red start, with the arrivals
    /// (sorted, already shifted) that fall in each.
    public static func arrivalCycles(_ cycles: [PhaseCycle], arrivals: [Milliseconds]) -> [ArrivalCycle] {
        var out: [ArrivalCycle] = []
        var k = 0
        for c in cycles {
            guard let start = c.previousRedStartMs else { continue }
            while k < arrivals.count && arrivals[k] < start { k += 1 }
            var j = k
            while j < arrivals.count && arrivals[j] < c.redStartMs { j += 1 }
            out.append(
                ArrivalCycle(
                    phase: c.phase, startMs: start, greenStartMs: c.greenStartMs, yellowStartMs: c.yellowStartMs,
                    endMs: c.redStartMs, arrivals: Array(arrivals[k..<j])))
            k = j
        }
        return out
    }

    /// The split-failure test of every service in `cycles` over the occupancy of `channels` (the phase's
    /// stop-bar loops): GOR over [green, yellow), ROR5 over [red, red + 5 s) cut at the next green.
    public static func splitFailures(
        _ cycles: [PhaseCycle], activity: DetectorActivity, channels: [Int]
    ) -> [SplitFailureCycle] {
        cycles.map { c in
            let redEnd = min(c.redStartMs + redWindowMs, c.nextGreenStartMs ?? .max)
            let green = c.greenStartMs..<max(c.greenStartMs, c.yellowStartMs)
            let red = c.redStartMs..<max(c.redStartMs, redEnd)
            func ratio(_ w: Range<Milliseconds>) -> Double {
                w.isEmpty ? 0 : Double(activity.occupiedMs(channels, in: w)) / Double(w.count64)
            }
            return SplitFailureCycle(
                phase: c.phase, greenStartMs: c.greenStartMs, yellowStartMs: c.yellowStartMs,
                redStartMs: c.redStartMs, redWindowEndMs: red.upperBound, gor: ratio(green), ror5: ratio(red),
                detectorFault: activity.faulted(channels, in: c.greenStartMs..<max(c.greenStartMs + 1, red.upperBound)))
        }
    }
}
