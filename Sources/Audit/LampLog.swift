import SignalTiming
import Storage

/// A signal's state as its own lamp event log tells it, rebuilt from the last start-up record
/// (event 184, written with the full state) by applying every event after it. Lamps the log does
/// not pin down (a phase that was not green at start-up and has not changed since) are nil.
public struct LampLogState: Sendable, Equatable {
    public var signalID: String
    /// The start-up record this state is rebuilt from.
    public var sinceStartMs: Int64
    /// The last event applied.
    public var lastEventMs: Int64
    /// By phase, in the order of the signal's phases.
    public var lamps: [Lamp?]
    /// Since when each phase shows that lamp (nil: since before the start-up record, or unknown).
    public var lampSinceMs: [Int64?]
    public var pattern: Int64?
    public var coordination: Int64?
    public var flashing: Bool
    /// Event 173's last parameter (why it flashes, NTCIP unitFlashStatus), if the log has one.
    public var flashStatus: Int64? = nil
    /// The controller stopped on purpose at this time (event 182) and has not started since: what the
    /// lamps showed after it was the cabinet's, not this controller's.
    public var stoppedAtMs: Int64? = nil
    public var events: Int

    /// Rebuilds the state of `signal` at `t` (events at `t` included) from `folder`; nil if the log
    /// has no start-up record at or before `t`.
    public static func at(_ t: Int64, signal: Signal, folder: DataFolder) throws -> LampLogState? {
        let id = "\(signal.id.rawValue)"
        guard let start = try folder.lastLampEvent(signalID: id, code: HiResCode.powerRestored, atOrBefore: t) else {
            return nil
        }
        let events = try folder.lampEvents(signalID: id, from: start, to: t == .max ? .max : t + 1)
        return rebuild(events, signal: signal, start: start)
    }

    static func rebuild(_ events: [LampEvent], signal: Signal, start: Int64) -> LampLogState {
        let n = signal.phases.count
        var s = LampLogState(
            signalID: "\(signal.id.rawValue)", sinceStartMs: start, lastEventMs: start,
            lamps: Array(repeating: nil, count: n), lampSinceMs: Array(repeating: nil, count: n),
            pattern: nil, coordination: nil, flashing: false, events: 0)
        func slot(_ p: Int64) -> Int? { signal.phases.firstIndex { Int64($0.id.rawValue) == p } }
        func set(_ i: Int, _ l: Lamp, _ t: Int64) {
            if s.lamps[i] != l { s.lampSinceMs[i] = t == start ? nil : t }
            s.lamps[i] = l
        }
        for e in events {
            s.events += 1
            s.lastEventMs = e.timeMs
            switch e.eventCode {
            case HiResCode.powerRestored:
                // A (re)start: everything before it is superseded; its companions give the state.
                s.sinceStartMs = e.timeMs
                s.lamps = Array(repeating: nil, count: n)
                s.lampSinceMs = Array(repeating: nil, count: n)
                s.flashing = false
                s.stoppedAtMs = nil
            case HiResCode.powerFailure:
                s.stoppedAtMs = e.timeMs
            case HiResCode.phaseGreen:
                if let i = slot(e.parameter) { set(i, .green, e.timeMs) }
            case HiResCode.yellowBegin:
                if let i = slot(e.parameter) { set(i, .yellow, e.timeMs) }
            case HiResCode.yellowEnd, HiResCode.redClearBegin:
                if let i = slot(e.parameter) { set(i, .red, e.timeMs) }
            case HiResCode.patternChange:
                s.pattern = e.parameter
            case HiResCode.coordinationState:
                s.coordination = e.parameter
            case HiResCode.flashStatus:
                // NTCIP unitFlashStatus: 2 is not flashing; lamp logs written before it was used wrote 0.
                s.flashing = e.parameter != HiResCode.FlashReason.notFlash.rawValue && e.parameter != 0
                s.flashStatus = e.parameter
                for (i, p) in signal.phases.enumerated() { set(i, s.flashing ? p.flashLamp : .red, e.timeMs) }
            default:
                break
            }
        }
        // At start-up only green phases are listed: the others are known not to be green.
        return s
    }
}
