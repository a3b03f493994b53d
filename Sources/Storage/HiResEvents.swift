import SignalTiming

/// The lamp event log's names for the Indiana hi-res event codes (their numbers are
/// `SignalTiming.HiResEventCode`, the one table), as Int64 columns. The controller's lamp driver writes
/// them through `HiResEventLog`, the audit reads them back by these names, and docs/audit.md lists them
/// with their parameters.
public enum HiResCode {
    public static let phaseGreen = Int64(HiResEventCode.phaseBeginGreen)
    public static let yellowBegin = Int64(HiResEventCode.phaseBeginYellow)
    public static let yellowEnd = Int64(HiResEventCode.phaseEndYellow)
    public static let redClearBegin = Int64(HiResEventCode.phaseBeginRedClearance)
    public static let redClearEnd = Int64(HiResEventCode.phaseEndRedClearance)
    public static let phaseInactive = Int64(HiResEventCode.phaseInactive)
    public static let preemptCall = Int64(HiResEventCode.preemptCallInputOn)
    public static let preemptEntry = Int64(HiResEventCode.preemptEntryStarted)
    public static let preemptDwell = Int64(HiResEventCode.preemptBeginDwell)
    public static let preemptExit = Int64(HiResEventCode.preemptBeginExit)
    public static let patternChange = Int64(HiResEventCode.patternChange)
    public static let coordinationState = Int64(HiResEventCode.coordState)
    public static let flashStatus = Int64(HiResEventCode.unitFlashStatus)
    public static let powerRestored = Int64(HiResEventCode.powerRestored)
    public static let preemptCallOff = Int64(HiResEventCode.preemptCallInputOff)

    /// Event 150's parameter, the coordinator's cycle state as the specification enumerates it: 0 free,
    /// 1 in step, 2 transition (add), 3 transition (subtract), 4 transition (dwell), 5 local zero, 6 begin
    /// pickup. A signal held, preempted or flashing is not coordinating: free. A transition lengthening
    /// its cycle adds, shortening subtracts; one not laying out a cycle of its own yet (between a release
    /// and the next coordinated green) waits for the reference point: dwell.
    public static func coordination(_ st: SignalState) -> Int64 {
        switch st.mode {
        case .coordinated: return 1
        case .transitioning:
            guard let adjust = st.cycleAdjustMs, adjust != 0 else { return 4 }
            return adjust > 0 ? 2 : 3
        case .hold, .preemptEntry, .preemptDwell, .preemptExit, .flash: return 0
        }
    }

    public static func coordinationName(_ code: Int64) -> String {
        switch code {
        case 0: return "free"
        case 1: return "in step"
        case 2: return "transition (add)"
        case 3: return "transition (subtract)"
        case 4: return "transition (dwell)"
        case 5: return "local zero"
        case 6: return "begin pickup"
        default: return "code \(code)"
        }
    }

    /// Why a signal flashes, as event 173 says it (NTCIP 1202 unitFlashStatus).
    public enum FlashReason: Int64, Sendable {
        /// Not flashing.
        case notFlash = 2
        /// Ordered: an operator's flash command (a central's commanded flash).
        case automatic = 3
        /// The conflict monitor (the cabinet's MMU role) tripped.
        case mmu = 6
        /// The start-up flash every start runs.
        case startup = 7
    }

    /// Event 131's parameter: plans in corridor order from 1; 255 is flash (NTCIP).
    public static func pattern(plan: PlanID, mode: SignalMode, plans: [PlanID]) -> Int64 {
        if mode == .flash { return 255 }
        return Int64((plans.firstIndex(of: plan) ?? 0) + 1)
    }
}

/// What one signal's lamp event log records for each change of its state: pure, so that the controller
/// writes, and a test checks, exactly the same events. It keeps the one thing an event depends on beyond
/// the two states: which phases are timing their red clearance (event 11 and 12 close it).
public struct HiResEventLog: Sendable {
    public let signal: Signal
    /// Plan ids in corridor-file order (pattern numbers).
    public let plans: [PlanID]
    /// Phases that went from yellow to red and are timing their red clearance.
    private var clearing: Set<PhaseID> = []

    public init(signal: Signal, plans: [PlanID]) {
        self.signal = signal
        self.plans = plans
    }

    private func event(_ t: Int64, _ code: Int64, _ param: Int64) -> LampEvent {
        LampEvent(signalID: "\(signal.id.rawValue)", timeMs: t, eventCode: code, parameter: param)
    }

    private func pattern(_ st: SignalState) -> Int64 { HiResCode.pattern(plan: st.plan, mode: st.mode, plans: plans) }

    /// At start-up (and at the start of each export window) the state is logged in full, so that a window
    /// never starts mid-plan: power restored, pattern, coordination state, flash, and each green phase.
    public func startEvents(_ st: SignalState, flash: HiResCode.FlashReason = .automatic) -> [LampEvent] {
        var out = [event(st.atMs, HiResCode.powerRestored, 0), event(st.atMs, HiResCode.patternChange, pattern(st)),
                   event(st.atMs, HiResCode.coordinationState, HiResCode.coordination(st))]
        if st.mode == .flash { out.append(event(st.atMs, HiResCode.flashStatus, flash.rawValue)) }
        for (i, p) in signal.phases.enumerated() where st.lamps[i] == .green {
            out.append(event(st.atMs, HiResCode.phaseGreen, Int64(p.id.rawValue)))
        }
        return out
    }

    /// The events of the change from `old` to `new` (the start-up record when there is no `old`). `flash`
    /// says why `new` flashes, when it does (event 173).
    public mutating func events(from old: SignalState?, to new: SignalState, flash: HiResCode.FlashReason = .automatic) -> [LampEvent] {
        guard let old else { return startEvents(new, flash: flash) }
        let t = new.atMs
        var out: [LampEvent] = []
        // The pattern number covers flash too (255): leaving flash logs the pattern the signal returns to.
        if pattern(old) != pattern(new) { out.append(event(t, HiResCode.patternChange, pattern(new))) }
        if old.mode != new.mode || HiResCode.coordination(old) != HiResCode.coordination(new) {
            out += modeEvents(old: old, new: new, flash: flash)
        }
        for (i, p) in signal.phases.enumerated() where old.lamps[i] != new.lamps[i] {
            let id = Int64(p.id.rawValue)
            switch (old.lamps[i], new.lamps[i]) {
            case (_, .green):
                out.append(event(t, HiResCode.phaseGreen, id))
            case (.green, .yellow):
                out.append(event(t, HiResCode.yellowBegin, id))
            case (.yellow, .red):
                out.append(event(t, HiResCode.yellowEnd, id))
                out.append(event(t, HiResCode.redClearBegin, id))
                clearing.insert(p.id)
            default:
                break
            }
        }
        if old.interval == .redClear && new.interval != .redClear {
            for p in signal.phases where clearing.contains(p.id) {
                out.append(event(t, HiResCode.redClearEnd, Int64(p.id.rawValue)))
                out.append(event(t, HiResCode.phaseInactive, Int64(p.id.rawValue)))
            }
            clearing = []
        }
        return out
    }

    private func modeEvents(old: SignalState, new: SignalState, flash: HiResCode.FlashReason) -> [LampEvent] {
        let t = new.atMs
        var out: [LampEvent] = []
        if HiResCode.coordination(old) != HiResCode.coordination(new) {
            out.append(event(t, HiResCode.coordinationState, HiResCode.coordination(new)))
        }
        if (old.mode == .flash) != (new.mode == .flash) {
            out.append(event(t, HiResCode.flashStatus, new.mode == .flash ? flash.rawValue : HiResCode.FlashReason.notFlash.rawValue))
        }
        // Preemption: the call comes on when the signal first enters any preemption mode (a call that
        // finds the preempted stage already green goes straight to dwell), and goes off when the dwell
        // ends (the call withdrawn: exit begins) or the preemption ends otherwise.
        let wasPreempted = Self.preempted(old.mode), isPreempted = Self.preempted(new.mode)
        if isPreempted && !wasPreempted { out.append(event(t, HiResCode.preemptCall, 1)) }
        if new.mode == .preemptEntry || (new.mode == .preemptDwell && !wasPreempted) { out.append(event(t, HiResCode.preemptEntry, 1)) }
        if new.mode == .preemptDwell && old.mode != .preemptDwell { out.append(event(t, HiResCode.preemptDwell, 1)) }
        if old.mode == .preemptDwell || old.mode == .preemptEntry, new.mode != .preemptDwell && new.mode != .preemptEntry {
            out.append(event(t, HiResCode.preemptCallOff, 1))
        }
        if new.mode == .preemptExit && old.mode != .preemptExit { out.append(event(t, HiResCode.preemptExit, 1)) }
        return out
    }

    private static func preempted(_ m: SignalMode) -> Bool { m == .preemptEntry || m == .preemptDwell || m == .preemptExit }
}
