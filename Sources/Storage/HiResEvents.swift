import SignalTiming

/// The Indiana hi-res event codes (Indiana DOT / Purdue "Indiana Traffic Signal Hi Resolution Data Logger
/// Enumerations") that Greenwave writes into the lamp event log: the one table of them. The controller's
/// lamp driver writes them through `HiResEventLog`, the audit reads them back by these names, and
/// docs/audit.md lists them with their parameters.
public enum HiResCode {
    public static let phaseGreen: Int64 = 1
    public static let yellowBegin: Int64 = 8
    public static let yellowEnd: Int64 = 9
    public static let redClearBegin: Int64 = 10
    public static let redClearEnd: Int64 = 11
    public static let phaseInactive: Int64 = 12
    public static let preemptCall: Int64 = 102
    public static let preemptEntry: Int64 = 105
    public static let preemptDwell: Int64 = 107
    public static let preemptExit: Int64 = 111
    public static let patternChange: Int64 = 131
    public static let coordinationState: Int64 = 150
    public static let flashStatus: Int64 = 173
    public static let powerRestored: Int64 = 184

    /// Event 150's parameter as the lamp driver writes it.
    public static func coordination(_ m: SignalMode) -> Int64 {
        switch m {
        case .coordinated: return 0
        case .transitioning: return 1
        case .hold: return 2
        case .preemptEntry, .preemptDwell, .preemptExit: return 3
        case .flash: return 4
        }
    }

    public static func coordinationName(_ code: Int64) -> String {
        switch code {
        case 0: return "coordinated"
        case 1: return "transitioning"
        case 2: return "hold"
        case 3: return "preemption"
        case 4: return "flash"
        default: return "code \(code)"
        }
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
    public func startEvents(_ st: SignalState) -> [LampEvent] {
        var out = [event(st.atMs, HiResCode.powerRestored, 0), event(st.atMs, HiResCode.patternChange, pattern(st)),
                   event(st.atMs, HiResCode.coordinationState, HiResCode.coordination(st.mode))]
        if st.mode == .flash { out.append(event(st.atMs, HiResCode.flashStatus, 1)) }
        for (i, p) in signal.phases.enumerated() where st.lamps[i] == .green {
            out.append(event(st.atMs, HiResCode.phaseGreen, Int64(p.id.rawValue)))
        }
        return out
    }

    /// The events of the change from `old` to `new` (the start-up record when there is no `old`).
    public mutating func events(from old: SignalState?, to new: SignalState) -> [LampEvent] {
        guard let old else { return startEvents(new) }
        let t = new.atMs
        var out: [LampEvent] = []
        // The pattern number covers flash too (255): leaving flash logs the pattern the signal returns to.
        if pattern(old) != pattern(new) { out.append(event(t, HiResCode.patternChange, pattern(new))) }
        if old.mode != new.mode { out += modeEvents(old: old.mode, new: new.mode, at: t) }
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

    private func modeEvents(old: SignalMode, new: SignalMode, at t: Int64) -> [LampEvent] {
        var out = [event(t, HiResCode.coordinationState, HiResCode.coordination(new))]
        if (old == .flash) != (new == .flash) { out.append(event(t, HiResCode.flashStatus, new == .flash ? 1 : 0)) }
        switch new {
        case .preemptEntry:
            out.append(event(t, HiResCode.preemptCall, 1))
            out.append(event(t, HiResCode.preemptEntry, 1))
        case .preemptDwell: out.append(event(t, HiResCode.preemptDwell, 1))
        case .preemptExit: out.append(event(t, HiResCode.preemptExit, 1))
        default: break
        }
        return out
    }
}
