/// The interval a signal is timing, as an operator's screen shows it.
public enum IntervalCode: String, Hashable, Sendable {
    /// Green, within the stage's min green.
    case minGreen
    /// Green beyond min green on a non-coordinated stage, timing to its force-off.
    case `extension`
    /// Green beyond min green on the coordinated stage, or resting in a hold or preemption dwell.
    case greenRest
    case yellow
    /// Red clearance (all-red) after a yellow.
    case redClear
    /// All red with no clearance pending: the start-up red when leaving flash.
    case redRest
    case flash
}

/// Why the signal is doing what it does.
public enum SignalMode: String, Hashable, Sendable {
    /// Running its plan in step with the reference clock.
    case coordinated
    /// Running its plan but correcting its offset (after a plan change, hold, flash or
    /// preemption), with cycles lengthened or shortened by at most 20 %.
    case transitioning
    /// Resting in a held stage until released.
    case hold
    /// Preemption called; finishing the current green safely to reach the preempted stage.
    case preemptEntry
    /// Preemption dwell: resting in the preempted stage (≥ 10 s).
    case preemptDwell
    /// Preemption released; leaving the dwell before returning to coordination.
    case preemptExit
    case flash
}

/// What signal S shows at time t, why, and until when.
public struct SignalState: Hashable, Sendable {
    public var signal: SignalID
    public var atMs: Milliseconds
    /// One lamp per phase, in the order of `Signal.phases`.
    public var lamps: [Lamp]
    public var interval: IntervalCode
    /// Index of the stage timing the interval (nil in flash and red rest).
    public var stage: Int?
    /// When the interval began, ms.
    public var intervalStartMs: Milliseconds
    /// When the interval is planned to end under the known timeline, or nil if it rests until a
    /// command ends it (flash, hold, preemption dwell).
    public var intervalEndMs: Milliseconds?
    public var mode: SignalMode
    /// The plan in force (the one whose cycle is running; the new one after a change).
    public var plan: PlanID
    /// Start of the current cycle (the coordinated green's start), if a cycle is running.
    public var cycleStartMs: Milliseconds?
    /// The running cycle's length minus the plan's cycle: positive while a transition lengthens it,
    /// negative while it shortens it, 0 in step; nil when no cycle is running.
    public var cycleAdjustMs: Milliseconds? = nil
    /// The control event that decided the current mode (nil: the baseline).
    public var cause: EventID?
    /// Next time the lamps, the interval code or the mode change under the known timeline (nil:
    /// not before another command).
    public var nextChangeMs: Milliseconds?

    /// Time left in the interval, ms (nil if resting).
    public var timeLeftMs: Milliseconds? { intervalEndMs.map { $0 - atMs } }
}
