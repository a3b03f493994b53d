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
    public static let powerFailure = Int64(HiResEventCode.powerFailure)
    public static let preemptCallOff = Int64(HiResEventCode.preemptCallInputOff)
    public static let forceOff = Int64(HiResEventCode.phaseForceOff)
    public static let greenTermination = Int64(HiResEventCode.phaseGreenTermination)
    public static let holdActive = Int64(HiResEventCode.phaseHoldActive)
    public static let holdReleased = Int64(HiResEventCode.phaseHoldReleased)
    public static let cycleLength = Int64(HiResEventCode.cycleLengthChange)
    public static let offsetLength = Int64(HiResEventCode.offsetLengthChange)
    /// Split change of phase N is code `splitChangeBase + N` (134 for phase 1 … 149 for phase 16).
    public static let splitChangeBase = Int64(HiResEventCode.splitChangeBase)
    public static let coordYieldPoint = Int64(HiResEventCode.coordinatedPhaseYieldPoint)
    public static let coordPhaseBegin = Int64(HiResEventCode.coordinatedPhaseBegin)

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
/// writes, and a test checks, exactly the same events. It keeps what an event depends on beyond the two
/// states: which phases are timing their red clearance (events 11 and 12 close it) and which are held
/// (event 42 releases them).
public struct HiResEventLog: Sendable {
    /// One plan's timing at this signal, as events 132–149 and the coordinated-phase events give it.
    public struct PatternTiming: Sendable, Equatable {
        /// Cycle and offset, whole seconds (the events' unit, 0–255).
        public var cycleS: Int64
        public var offsetS: Int64
        /// Per phase (in `signal.phases` order), its split in whole seconds: the splits of the stages it is
        /// green in, yellow and red clearance included.
        public var splitS: [(phase: Int64, seconds: Int64)]
        /// The coordinated stage's phases.
        public var coordinated: Set<PhaseID>

        public static func == (a: PatternTiming, b: PatternTiming) -> Bool {
            a.cycleS == b.cycleS && a.offsetS == b.offsetS && a.coordinated == b.coordinated
                && a.splitS.map(\.phase) == b.splitS.map(\.phase) && a.splitS.map(\.seconds) == b.splitS.map(\.seconds)
        }
    }

    public let signal: Signal
    /// Plan ids in corridor-file order (pattern numbers).
    public let plans: [PlanID]
    /// This signal's timing per (non-flash) plan; empty when made from plan ids alone (no events 132–152).
    public let timings: [PlanID: PatternTiming]
    /// Phases that went from yellow to red and are timing their red clearance.
    private var clearing: Set<PhaseID> = []
    /// Phases a hold (an operator's hold, or a preemption dwell) rests in.
    private var held: Set<PhaseID> = []

    public init(signal: Signal, plans: [PlanID]) {
        self.signal = signal
        self.plans = plans
        self.timings = [:]
    }

    /// With the corridor's plans, the log also says each pattern's cycle, offset and splits (132–149), each
    /// coordinated phase's begin and yield point (152, 151) and each force-off (6).
    public init(signal: Signal, corridor: Corridor) {
        self.signal = signal
        self.plans = corridor.plans.map(\.id)
        var timings: [PlanID: PatternTiming] = [:]
        if let k = corridor.signalIndex(of: signal.id) {
            for plan in corridor.plans where !plan.isFlash && k < plan.signals.count {
                timings[plan.id] = Self.timing(of: plan, plan.signals[k], signal)
            }
        }
        self.timings = timings
    }

    private static func seconds(_ ms: Int64) -> Int64 { min(255, max(0, (ms + 500) / 1000)) }

    private static func timing(of plan: TimingPlan, _ sp: SignalPlan, _ signal: Signal) -> PatternTiming {
        let splits = signal.phases.map { p -> (phase: Int64, seconds: Int64) in
            var ms: Int64 = 0
            for (i, stage) in signal.stages.enumerated() where i < sp.splitsMs.count && stage.phases.contains(p.id) {
                ms = ms &+ sp.splitsMs[i]
            }
            return (Int64(p.id.rawValue), seconds(ms))
        }
        let coordinated =
            sp.coordinatedStage < signal.stages.count ? Set(signal.stages[sp.coordinatedStage].phases) : []
        return PatternTiming(
            cycleS: seconds(plan.cycleMs), offsetS: seconds(sp.offsetMs), splitS: splits, coordinated: coordinated)
    }

    /// Events 132–149 for the pattern `st` runs (none in flash or without timings).
    private func patternTimingEvents(_ st: SignalState) -> [LampEvent] {
        guard st.mode != .flash, let tm = timings[st.plan] else { return [] }
        var out = [event(st.atMs, HiResCode.cycleLength, tm.cycleS), event(st.atMs, HiResCode.offsetLength, tm.offsetS)]
        for (phase, secs) in tm.splitS where (1...16).contains(phase) {
            out.append(event(st.atMs, HiResCode.splitChangeBase + phase, secs))
        }
        return out
    }

    private func coordinating(_ st: SignalState) -> Bool { st.mode == .coordinated || st.mode == .transitioning }

    private func isCoordinatedPhase(_ p: PhaseID, in st: SignalState) -> Bool {
        timings[st.plan]?.coordinated.contains(p) ?? false
    }

    private func event(_ t: Int64, _ code: Int64, _ param: Int64) -> LampEvent {
        LampEvent(signalID: "\(signal.id.rawValue)", timeMs: t, eventCode: code, parameter: param)
    }

    private func pattern(_ st: SignalState) -> Int64 { HiResCode.pattern(plan: st.plan, mode: st.mode, plans: plans) }

    /// At start-up the state is logged in full, so that the log never starts mid-plan: power restored,
    /// pattern with its cycle, offset and splits, coordination state, flash, and each green phase (with its
    /// coordinated-phase begin and hold, where they apply).
    public mutating func startEvents(_ st: SignalState, flash: HiResCode.FlashReason = .automatic) -> [LampEvent] {
        var out = [event(st.atMs, HiResCode.powerRestored, 0), event(st.atMs, HiResCode.patternChange, pattern(st))]
        out += patternTimingEvents(st)
        out.append(event(st.atMs, HiResCode.coordinationState, HiResCode.coordination(st)))
        if st.mode == .flash { out.append(event(st.atMs, HiResCode.flashStatus, flash.rawValue)) }
        clearing = []
        held = []
        for (i, p) in signal.phases.enumerated() where st.lamps[i] == .green {
            out.append(event(st.atMs, HiResCode.phaseGreen, Int64(p.id.rawValue)))
            if coordinating(st) && isCoordinatedPhase(p.id, in: st) {
                out.append(event(st.atMs, HiResCode.coordPhaseBegin, Int64(p.id.rawValue)))
            }
            if st.mode == .hold || st.mode == .preemptDwell {
                held.insert(p.id)
                out.append(event(st.atMs, HiResCode.holdActive, Int64(p.id.rawValue)))
            }
        }
        return out
    }

    /// A stop on purpose (SIGTERM, SIGINT): event 182, the last instant this controller drove its lamps. What
    /// the lamps do after it is the cabinet's (its monitor flashes them); the next start writes 184.
    public func stopEvents(atMs t: Int64) -> [LampEvent] { [event(t, HiResCode.powerFailure, 0)] }

    /// The events of the change from `old` to `new` (the start-up record when there is no `old`). `flash`
    /// says why `new` flashes, when it does (event 173).
    public mutating func events(
        from old: SignalState?, to new: SignalState, flash: HiResCode.FlashReason = .automatic
    ) -> [LampEvent] {
        guard let old else { return startEvents(new, flash: flash) }
        let t = new.atMs
        var out: [LampEvent] = []
        // The pattern number covers flash too (255): leaving flash logs the pattern the signal returns to,
        // and its cycle, offset and splits.
        if pattern(old) != pattern(new) {
            out.append(event(t, HiResCode.patternChange, pattern(new)))
            out += patternTimingEvents(new)
        }
        if old.mode != new.mode || HiResCode.coordination(old) != HiResCode.coordination(new) {
            out += modeEvents(old: old, new: new, flash: flash)
        }
        out += holdEvents(old: old, new: new)
        for (i, p) in signal.phases.enumerated() where old.lamps[i] != new.lamps[i] {
            let id = Int64(p.id.rawValue)
            if old.lamps[i] == .green { out += terminationEvents(of: p.id, old: old, at: t) }
            switch (old.lamps[i], new.lamps[i]) {
            case (_, .green):
                out.append(event(t, HiResCode.phaseGreen, id))
                if coordinating(new) && isCoordinatedPhase(p.id, in: new) {
                    out.append(event(t, HiResCode.coordPhaseBegin, id))
                }
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

    /// Why a green ended, before its yellow: while coordinating, the coordinated phases end at their yield
    /// point (151) and the others at their force-off (6); every green's end is a green termination (7).
    /// (A fixed-time stage neither gaps out nor maxes out: no 4 or 5.)
    private func terminationEvents(of p: PhaseID, old: SignalState, at t: Int64) -> [LampEvent] {
        let id = Int64(p.rawValue)
        var out: [LampEvent] = []
        if coordinating(old) && !timings.isEmpty {
            out.append(event(t, isCoordinatedPhase(p, in: old) ? HiResCode.coordYieldPoint : HiResCode.forceOff, id))
        }
        out.append(event(t, HiResCode.greenTermination, id))
        return out
    }

    /// A hold (an operator's, or a preemption's dwell) rests in a stage: its phases' hold is active (41)
    /// from when the signal rests there and released (42) when it leaves.
    private mutating func holdEvents(old: SignalState, new: SignalState) -> [LampEvent] {
        let holding = { (st: SignalState) in st.mode == .hold || st.mode == .preemptDwell }
        var out: [LampEvent] = []
        if !held.isEmpty && (!holding(new) || new.stage != old.stage) {
            for p in signal.phases where held.contains(p.id) {
                out.append(event(new.atMs, HiResCode.holdReleased, Int64(p.id.rawValue)))
            }
            held = []
        }
        if holding(new) && held.isEmpty {
            for (i, p) in signal.phases.enumerated() where new.lamps[i] == .green {
                held.insert(p.id)
                out.append(event(new.atMs, HiResCode.holdActive, Int64(p.id.rawValue)))
            }
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
            out.append(
                event(
                    t, HiResCode.flashStatus,
                    new.mode == .flash ? flash.rawValue : HiResCode.FlashReason.notFlash.rawValue))
        }
        // Preemption: the call comes on when the signal first enters any preemption mode (a call that
        // finds the preempted stage already green goes straight to dwell), and goes off when the dwell
        // ends (the call withdrawn: exit begins) or the preemption ends otherwise.
        let wasPreempted = Self.preempted(old.mode)
        let isPreempted = Self.preempted(new.mode)
        if isPreempted && !wasPreempted { out.append(event(t, HiResCode.preemptCall, 1)) }
        if new.mode == .preemptEntry || (new.mode == .preemptDwell && !wasPreempted) {
            out.append(event(t, HiResCode.preemptEntry, 1))
        }
        if new.mode == .preemptDwell && old.mode != .preemptDwell { out.append(event(t, HiResCode.preemptDwell, 1)) }
        if old.mode == .preemptDwell || old.mode == .preemptEntry,
            new.mode != .preemptDwell && new.mode != .preemptEntry
        {
            out.append(event(t, HiResCode.preemptCallOff, 1))
        }
        if new.mode == .preemptExit && old.mode != .preemptExit { out.append(event(t, HiResCode.preemptExit, 1)) }
        return out
    }

    private static func preempted(_ m: SignalMode) -> Bool {
        m == .preemptEntry || m == .preemptDwell || m == .preemptExit
    }
}
