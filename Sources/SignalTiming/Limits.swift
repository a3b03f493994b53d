/// Every bound of the timing model in one place. Loaders refuse input outside these bounds; the
/// model asserts them (a value outside is a programmer error once past validation).
public enum Limits {
    /// Signals in one corridor.
    public static let signalsMax = 128
    /// Phases (movements) at one signal; NEMA numbers run 1...phaseNumberMax.
    public static let phasesPerSignalMax = 16
    public static let phaseNumberMax = 16
    /// Stages in one signal's ring.
    public static let stagesPerSignalMax = 8
    /// Timing plans in one corridor.
    public static let plansMax = 32
    /// Control events in one timeline (the state machine compacts older ones into a baseline).
    public static let timelineEventsMax = 4_096
    /// Cycle length bounds (NEMA allows 30–255 s).
    public static let cycleMsMin: Milliseconds = 30_000
    public static let cycleMsMax: Milliseconds = 255_000
    /// Yellow change interval bounds. The conflict monitor trips below `yellowMsMin`.
    public static let yellowMsMin: Milliseconds = 3_000
    public static let yellowMsMax: Milliseconds = 8_000
    /// Red clearance (all-red) bounds. Never zero: a yellow must always be followed by red.
    public static let redClearanceMsMin: Milliseconds = 500
    public static let redClearanceMsMax: Milliseconds = 6_000
    /// Min green bounds.
    public static let minGreenMsMin: Milliseconds = 2_000
    public static let minGreenMsMax: Milliseconds = 60_000
    /// Progression speed bounds, km/h.
    public static let progressionSpeedKmhMin = 10
    public static let progressionSpeedKmhMax = 120
    /// Corridor length bound, metres.
    public static let corridorLengthMetresMax = 200_000
    /// Transitions: the most a cycle may be shortened or lengthened while correcting offsets,
    /// in percent of the plan's cycle (the "shortway/smooth" method uses 17–20 %).
    public static let transitionAdjustPercentMax: Milliseconds = 20
    /// Preemption: the shortest dwell on the preempted stage once it is green.
    public static let preemptDwellMsMin: Milliseconds = 10_000
    /// Preemption: default maximum presence of a call, after which it is dropped.
    public static let preemptMaxPresenceMsDefault: Milliseconds = 180_000
    public static let preemptMaxPresenceMsMax: Milliseconds = 600_000
    /// All-red shown when leaving flash before the first green.
    public static let flashExitRedMsDefault: Milliseconds = 6_000
    /// Start-up flash: how long a controller flashes on every start before its start-up all-red
    /// (`SignalFollower`). NEMA controllers program 0–255 s; a few seconds to tens of seconds is usual.
    public static let startupFlashMsDefault: Milliseconds = 10_000
    /// Upper bound on interval steps in one query; far above any legitimate need (each event
    /// costs at most a few cycles of steps, steady coordination is skipped in closed form).
    public static let engineStepsMax = 5_000_000

    /// Absolute times (ms since the Unix epoch) anything replicated may carry: a corridor's reference
    /// epoch and every leader timestamp. 2000-01-01T00:00:00Z ... 2200-01-01T00:00:00Z: far from
    /// `Int64`'s ends, so that a time plus any bounded duration of the model cannot overflow.
    public static let earliestTimeMs: Milliseconds = 946_684_800_000
    public static let latestTimeMs: Milliseconds = 7_258_118_400_000
    /// How far a leader's timestamp may lie behind the latest one the corridor has seen. Two leaders'
    /// clocks disagree a little; a leader whose clock is further behind has its commands refused (every
    /// replica alike, with a reason), since applying them would schedule changes in the past.
    public static let leaderTimeStepBackMsMax: Milliseconds = 60_000

    static func assertRelations() {
        assert(cycleMsMin > 0 && cycleMsMin <= cycleMsMax)
        assert(yellowMsMin >= 3_000, "the conflict monitor requires at least 3 s of yellow")
        assert(redClearanceMsMin > 0, "zero red clearance would let yellow go straight to green")
        assert(minGreenMsMin > 0)
        assert(phasesPerSignalMax <= phaseNumberMax)
        assert(transitionAdjustPercentMax > 0 && transitionAdjustPercentMax < 50)
    }
}
