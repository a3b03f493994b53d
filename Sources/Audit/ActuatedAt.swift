import SignalTiming
import Storage

/// Why an actuated signal (issue 20) showed what it showed at an instant, from its own lamp event log: the
/// stage-model replay gives the replicated mode and plan, but the greens are the dual-ring controller's, decided
/// by its local detectors within that plan, so the log is the record. Read from the last start-up record (184)
/// to the instant: each phase's last green and how it ended (4 gap-out, 5 max-out, 6 force-off), each
/// detector's last state and fault, each pedestrian head's interval, the coordination state.
public enum ActuatedAt {
    /// Lines of explanation, in phase then detector order.
    public static func explain(_ events: [LampEvent], at t: Int64) -> [String] {
        var green: [Int64: Int64] = [:]
        var ended: [Int64: (atMs: Int64, reason: Int64)] = [:]
        var ped: [Int64: (atMs: Int64, code: Int64)] = [:]
        var detector: [Int64: (atMs: Int64, code: Int64)] = [:]
        var fault: [Int64: (atMs: Int64, code: Int64)] = [:]
        var button: [Int64: Int64] = [:]
        var coordination: (atMs: Int64, code: Int64)?
        let termination = HiResEventCode.terminations.map(Int64.init)
        for e in events where e.timeMs <= t {
            let c = e.eventCode
            let p = e.parameter
            switch Int(c) {
            case HiResEventCode.powerRestored:
                (green, ended, ped, detector, fault, button) = ([:], [:], [:], [:], [:], [:])
            case HiResEventCode.phaseBeginGreen: green[p] = e.timeMs
            case _ where termination.contains(c): ended[p] = (e.timeMs, c)
            case HiResEventCode.pedBeginWalk, HiResEventCode.pedBeginClearance, HiResEventCode.pedBeginDontWalk:
                ped[p] = (e.timeMs, c)
            case HiResEventCode.detectorOn, HiResEventCode.detectorOff: detector[p] = (e.timeMs, c)
            case HiResEventCode.detectorRestored...HiResEventCode.detectorFaultExcessiveChange: fault[p] = (e.timeMs, c)
            case HiResEventCode.pedDetectorOn: button[p] = e.timeMs
            case HiResEventCode.coordState: coordination = (e.timeMs, p)
            default: break
            }
        }
        var out: [String] = []
        for p in green.keys.sorted() {
            var line = "phase \(p): last green from \(AuditTime.iso(green[p]!, digits: 1))"
            if let e = ended[p], e.atMs >= green[p]! {
                line += ", ended by \(reasonName(e.reason)) (\(e.reason)) at \(AuditTime.iso(e.atMs, digits: 1))"
            } else {
                line += ", not ended by then"
            }
            if let w = ped[p] { line += "; pedestrians: \(pedName(w.code)) since \(AuditTime.iso(w.atMs, digits: 1))" }
            out.append(line)
        }
        for d in Set(detector.keys).union(fault.keys).sorted() {
            var line = "detector \(d):"
            if let s = detector[d] {
                line +=
                    " \(s.code == Int64(HiResEventCode.detectorOn) ? "on" : "off") since \(AuditTime.iso(s.atMs, digits: 1))"
            }
            if let f = fault[d] {
                line +=
                    f.code == Int64(HiResEventCode.detectorRestored)
                    ? "; restored \(AuditTime.iso(f.atMs, digits: 1))"
                    : "; FAULT \(faultName(f.code)) (\(f.code)) since \(AuditTime.iso(f.atMs, digits: 1)): its phase on max recall"
            }
            out.append(line)
        }
        for b in button.keys.sorted() {
            out.append("push button \(b): last pressed \(AuditTime.iso(button[b]!, digits: 1))")
        }
        if let c = coordination {
            out.append("coordination: \(HiResCode.coordinationName(c.code)) since \(AuditTime.iso(c.atMs, digits: 1))")
        }
        return out
    }

    static func reasonName(_ c: Int64) -> String {
        switch Int(c) {
        case HiResEventCode.phaseGapOut: return "gap-out"
        case HiResEventCode.phaseMaxOut: return "max-out"
        default: return "force-off"
        }
    }

    static func pedName(_ c: Int64) -> String {
        switch Int(c) {
        case HiResEventCode.pedBeginWalk: return "walk"
        case HiResEventCode.pedBeginClearance: return "flashing don't walk"
        default: return "don't walk"
        }
    }

    static func faultName(_ c: Int64) -> String {
        switch Int(c) {
        case HiResEventCode.detectorFaultOther: return "stuck on"
        case HiResEventCode.detectorFaultWatchdog: return "absent (no reading)"
        case HiResEventCode.detectorFaultOpenLoop: return "open loop"
        case HiResEventCode.detectorFaultShortedLoop: return "shorted loop"
        default: return "excessive changes"
        }
    }
}
