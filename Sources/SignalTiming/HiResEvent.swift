/// One row of the Indiana (Purdue) high-resolution controller event log, as the dual-ring
/// controller emits it: (time, event code, parameter). The parameter is a phase number, a
/// detector number, a barrier number or a state, as the enumeration defines for the code.
public struct HiResEvent: Hashable, Sendable, CustomStringConvertible {
    public var atMs: Milliseconds
    public var code: Int
    public var param: Int

    public init(atMs: Milliseconds, code: Int, param: Int) {
        self.atMs = atMs
        self.code = code
        self.param = param
    }

    public var description: String { "\(atMs) \(code) \(param)" }
}

/// The Indiana hi-res event codes (Indiana Traffic Signal Hi Resolution Data Logger Enumerations,
/// Sturdevant et al., 2012) Greenwave writes: the one table of their numbers. The dual-ring controller uses
/// them directly; the lamp event log names them through `Storage.HiResCode`.
public enum HiResEventCode {
    public static let phaseBeginGreen = 1
    public static let phaseMinComplete = 3
    public static let phaseGapOut = 4
    public static let phaseMaxOut = 5
    public static let phaseForceOff = 6
    public static let phaseGreenTermination = 7
    public static let phaseBeginYellow = 8
    public static let phaseEndYellow = 9
    public static let phaseBeginRedClearance = 10
    public static let phaseEndRedClearance = 11
    public static let phaseInactive = 12
    public static let pedBeginWalk = 21
    public static let pedBeginClearance = 22
    public static let pedBeginDontWalk = 23
    /// Barrier crossed; parameter 1 into the 1-2/5-6 side, 2 into the 3-4/7-8 side.
    public static let barrierTermination = 31
    /// Phase hold applied (the coordinator, a preemptor or an operator's hold) and released.
    public static let phaseHoldActive = 41
    public static let phaseHoldReleased = 42
    public static let phaseCallRegistered = 43
    public static let pedCallRegistered = 45
    public static let detectorOff = 81
    public static let detectorOn = 82
    public static let detectorRestored = 83
    /// Detector faults. This controller uses 84 for a stuck detector (on for longer than its max
    /// presence), 85 for an absent one (the card reports nothing: watchdog), 86 open loop and 87
    /// shorted loop as the card reports them.
    public static let detectorFaultOther = 84
    public static let detectorFaultWatchdog = 85
    public static let detectorFaultOpenLoop = 86
    public static let detectorFaultShortedLoop = 87
    public static let detectorFaultExcessiveChange = 88
    public static let pedDetectorOff = 89
    public static let pedDetectorOn = 90
    public static let preemptCallInputOn = 102
    public static let preemptCallInputOff = 104
    public static let preemptEntryStarted = 105
    public static let preemptBeginDwell = 107
    public static let preemptBeginExit = 111
    public static let patternChange = 131
    /// Cycle length and offset of the pattern in force, seconds.
    public static let cycleLengthChange = 132
    public static let offsetLengthChange = 133
    /// Split change of phase N is `splitChangeBase + N` (134 … 149 for phases 1 … 16), seconds.
    public static let splitChangeBase = 133
    /// Coordination state; parameter 0 free, 1 in step, 4 transition (this controller's transition
    /// dwells or shortens the coordinated green to the nearest yield point).
    public static let coordState = 150
    /// Once per cycle per coordinated phase, when the coordinator releases it (its yield point).
    public static let coordinatedPhaseYieldPoint = 151
    /// A coordinated phase's green begins.
    public static let coordinatedPhaseBegin = 152
    /// Unit flash status change; parameter NTCIP 1202 unitFlashStatus.
    public static let unitFlashStatus = 173
    /// Power failure detected. Greenwave writes it when a controller stops on purpose (SIGTERM, SIGINT):
    /// the last instant it drove its lamps. A crash writes nothing, so a 184 without a 182 before it is
    /// the mark of a controller that died.
    public static let powerFailure = 182
    /// Power restored: the controller (re)started.
    public static let powerRestored = 184

    /// The three termination reasons of a green.
    public static let terminations: Set<Int> = [phaseGapOut, phaseMaxOut, phaseForceOff]
}
