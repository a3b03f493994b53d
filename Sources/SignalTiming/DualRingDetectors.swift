// Detectors of a dual-ring controller: local inputs (a detector card, a test, SUMO's induction
// loops), sampled once per controller step. They are not replicated; the plan is.

/// What a detector channel reads at one step.
public enum DetectorReading: UInt8, Hashable, Sendable {
    case off
    case on
    /// The card reports an open loop (Indiana 86).
    case openLoop
    /// The card reports a shorted loop (Indiana 87).
    case shortedLoop
    /// No reading at all (card missing, input dead): a watchdog fault (Indiana 85).
    case absent
}

/// A vehicle detector (loop) and what it does for its phase.
public struct DetectorConfig: Hashable, Sendable {
    /// Detector channel number (1...64), the parameter of its events.
    public var id: Int
    public var phase: PhaseID
    /// Places a call on its phase while the phase is not green (stop-bar loops do).
    public var calls: Bool
    /// Extends its phase's green while on (stop-bar and advance loops do).
    public var extends: Bool
    /// On for longer than this: stuck (Indiana 84), its phase goes to max recall.
    public var maxPresenceMs: Milliseconds

    public init(
        id: Int, phase: PhaseID, calls: Bool = true, extends: Bool = true,
        maxPresenceMs: Milliseconds = ActuatedLimits.maxPresenceMsDefault
    ) {
        self.id = id
        self.phase = phase
        self.calls = calls
        self.extends = extends
        self.maxPresenceMs = maxPresenceMs
    }
}

/// A pedestrian push button: pressing it places a pedestrian call on its phase.
public struct PedDetectorConfig: Hashable, Sendable {
    public var id: Int
    public var phase: PhaseID
    public init(id: Int, phase: PhaseID) {
        self.id = id
        self.phase = phase
    }
}

/// The local inputs of one controller step: one reading per vehicle detector and one per push
/// button (in configuration order), and the preemption input.
public struct ControllerInputs: Hashable, Sendable {
    public var detectors: [DetectorReading]
    public var pedButtons: [Bool]
    public var preempt: Bool

    public init(detectors: [DetectorReading], pedButtons: [Bool], preempt: Bool = false) {
        self.detectors = detectors
        self.pedButtons = pedButtons
        self.preempt = preempt
    }
}

/// One detector channel's state as the controller tracks it.
struct DetectorTrack: Hashable, Sendable {
    var reading: DetectorReading = .off
    /// Since when it has been continuously on, if on.
    var onSinceMs: Milliseconds?
    /// The fault in force (an Indiana code 84...88), if any.
    var fault: Int?

    /// Takes this step's reading; returns the events it causes (81/82 on changes, a fault code
    /// when a fault begins, 83 when it clears).
    mutating func take(_ r: DetectorReading, at t: Milliseconds, id: Int, maxPresenceMs: Milliseconds) -> [HiResEvent] {
        var out: [HiResEvent] = []
        if r != reading {
            if r == .on { out.append(HiResEvent(atMs: t, code: HiResEventCode.detectorOn, param: id)) }
            if reading == .on { out.append(HiResEvent(atMs: t, code: HiResEventCode.detectorOff, param: id)) }
        }
        if r == .on {
            if onSinceMs == nil { onSinceMs = t }
        } else {
            onSinceMs = nil
        }
        reading = r
        var now: Int?
        switch r {
        case .openLoop: now = HiResEventCode.detectorFaultOpenLoop
        case .shortedLoop: now = HiResEventCode.detectorFaultShortedLoop
        case .absent: now = HiResEventCode.detectorFaultWatchdog
        case .on:
            let stuck = onSinceMs.map { t - $0 >= maxPresenceMs } ?? false
            now = stuck ? HiResEventCode.detectorFaultOther : nil
        case .off: now = nil
        }
        if now != fault {
            if let f = now {
                out.append(HiResEvent(atMs: t, code: f, param: id))
            } else {
                out.append(HiResEvent(atMs: t, code: HiResEventCode.detectorRestored, param: id))
            }
            fault = now
        }
        return out
    }

    /// Presence that counts for calls and extensions: on and not faulted.
    var present: Bool { reading == .on && fault == nil }
}
