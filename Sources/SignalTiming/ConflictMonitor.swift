/// An independent checker of one signal's lamp outputs, like a malfunction management unit (MMU).
///
/// It knows only the signal's phases, their programmed clearances and the conflict matrix — not
/// the timing model — and is fed the lamps at each change (or sampled; durations are then measured
/// to the sample). Faults latch: once tripped, `tripped` stays true until `reset()`.
///
/// Rules:
/// - conflicting greens: two phases that conflict are green at once;
/// - a green shorter than its min green, or followed by anything but yellow (green straight to
///   red);
/// - a green that starts from anything but steady red;
/// - a yellow shorter than max(programmed yellow, 3 s), or followed by anything but red;
/// - red clearance shorter than programmed: after phase p's yellow ends, p or a phase conflicting
///   with p turns green before p's red clearance has elapsed;
/// - a dark phase (no indication).
/// With pedestrian heads (`init(dualRing:)`, `observe(atMs:lamps:peds:)`), also:
/// - a walk or flashing don't-walk while a conflicting phase is green or yellow;
/// - a walk while its own phase is not green, a flashing don't-walk while it is red;
/// - flashing don't-walk shorter than the programmed pedestrian clearance, a walk not followed by
///   flashing don't-walk, or flashing don't-walk followed by walk.
/// The first observation only sets the state: durations of intervals already running are unknown.
public struct ConflictMonitor: Sendable {
    public enum Kind: Hashable, Sendable {
        case conflictingGreens(PhaseID, PhaseID)
        case greenTooShort(PhaseID, actualMs: Milliseconds, requiredMs: Milliseconds)
        case greenNotFollowedByYellow(PhaseID, next: Lamp)
        case greenNotFromRed(PhaseID, previous: Lamp)
        case yellowTooShort(PhaseID, actualMs: Milliseconds, requiredMs: Milliseconds)
        case yellowNotFollowedByRed(PhaseID, next: Lamp)
        case redClearanceTooShort(PhaseID, afterYellowOf: PhaseID, actualMs: Milliseconds, requiredMs: Milliseconds)
        case dark(PhaseID)
        case timeWentBackwards(previousMs: Milliseconds)
        case pedWithConflictingVehicle(ped: PhaseID, vehicle: PhaseID)
        case pedWithoutOwnGreen(PhaseID, shown: PedLamp, vehicle: Lamp)
        case pedClearanceTooShort(PhaseID, actualMs: Milliseconds, requiredMs: Milliseconds)
        case pedSequence(PhaseID, from: PedLamp, to: PedLamp)
    }

    public struct Fault: Hashable, Sendable, CustomStringConvertible {
        public var atMs: Milliseconds
        public var kind: Kind
        public var description: String { "at \(atMs) ms: \(kind)" }
    }

    /// The monitored phases (channels) and which pairs conflict.
    public let phases: [Phase]
    public let conflictMatrix: [[Bool]]
    /// Per phase: its programmed pedestrian clearance, if it has a pedestrian head.
    public let pedClearanceMs: [Milliseconds?]
    public private(set) var faults: [Fault] = []
    public var tripped: Bool { !faults.isEmpty }

    private var lamps: [Lamp]?
    private var sinceMs: [Milliseconds?]
    private var yellowEndMs: [Milliseconds?]
    private var lastMs: Milliseconds?
    private var peds: [PedLamp]?
    private var pedSinceMs: [Milliseconds?]

    /// A monitor of a stage-based signal: its phases and conflict matrix, no pedestrian heads.
    public init(signal: Signal) {
        self.init(
            phases: signal.phases, conflictMatrix: signal.conflictMatrix, pedClearanceMs: signal.phases.map { _ in nil }
        )
    }

    /// A monitor of a dual-ring intersection: the NEMA conflicts (same ring, or across the barrier)
    /// and a pedestrian head on every phase with pedestrian intervals.
    public init(dualRing: DualRing) {
        self.init(
            phases: dualRing.monitorPhases, conflictMatrix: dualRing.conflictMatrix,
            pedClearanceMs: dualRing.phases.map { $0.ped?.clearanceMs })
    }

    init(phases: [Phase], conflictMatrix: [[Bool]], pedClearanceMs: [Milliseconds?]) {
        self.phases = phases
        self.conflictMatrix = conflictMatrix
        self.pedClearanceMs = pedClearanceMs
        sinceMs = Array(repeating: nil, count: phases.count)
        yellowEndMs = Array(repeating: nil, count: phases.count)
        pedSinceMs = Array(repeating: nil, count: phases.count)
    }

    /// Clears the latch (a person reset the monitor). Interval history is kept.
    public mutating func reset() { faults = [] }

    /// Observes the lamps shown from `atMs` on. Returns the faults found in this observation.
    @discardableResult
    public mutating func observe(atMs t: Milliseconds, lamps new: [Lamp]) -> [Fault] {
        precondition(new.count == phases.count, "one lamp per phase")
        var found: [Fault] = []
        if let last = lastMs, t < last {
            found.append(Fault(atMs: t, kind: .timeWentBackwards(previousMs: last)))
        }
        lastMs = t
        if let old = lamps {
            for i in phases.indices where new[i] != old[i] {
                let p = phases[i]
                switch old[i] {
                case .green:
                    if new[i] != .yellow {
                        found.append(Fault(atMs: t, kind: .greenNotFollowedByYellow(p.id, next: new[i])))
                    }
                    if let s = sinceMs[i], t - s < p.minGreenMs {
                        found.append(
                            Fault(atMs: t, kind: .greenTooShort(p.id, actualMs: t - s, requiredMs: p.minGreenMs)))
                    }
                case .yellow:
                    if new[i] != .red {
                        found.append(Fault(atMs: t, kind: .yellowNotFollowedByRed(p.id, next: new[i])))
                    }
                    let required = max(p.yellowMs, Limits.yellowMsMin)
                    if let s = sinceMs[i], t - s < required {
                        found.append(Fault(atMs: t, kind: .yellowTooShort(p.id, actualMs: t - s, requiredMs: required)))
                    }
                    yellowEndMs[i] = t
                default:
                    break
                }
                if new[i] == .green {
                    if old[i] != .red {
                        found.append(Fault(atMs: t, kind: .greenNotFromRed(p.id, previous: old[i])))
                    }
                    for j in phases.indices where j == i || conflictMatrix[i][j] {
                        if let end = yellowEndMs[j], t - end < phases[j].redClearanceMs {
                            found.append(
                                Fault(
                                    atMs: t,
                                    kind: .redClearanceTooShort(
                                        p.id, afterYellowOf: phases[j].id, actualMs: t - end,
                                        requiredMs: phases[j].redClearanceMs)))
                        }
                    }
                }
                sinceMs[i] = t
            }
        }
        for i in phases.indices {
            if new[i] == .dark { found.append(Fault(atMs: t, kind: .dark(phases[i].id))) }
            guard new[i] == .green else { continue }
            for j in (i + 1)..<phases.count where new[j] == .green && conflictMatrix[i][j] {
                found.append(Fault(atMs: t, kind: .conflictingGreens(phases[i].id, phases[j].id)))
            }
        }
        lamps = new
        faults.append(contentsOf: found)
        return found
    }

    /// Observes vehicle lamps and pedestrian heads (one per phase; ignored where the phase has no
    /// pedestrian head) shown from `atMs` on. Returns the faults found in this observation.
    @discardableResult
    public mutating func observe(atMs t: Milliseconds, lamps new: [Lamp], peds newPeds: [PedLamp]) -> [Fault] {
        precondition(newPeds.count == phases.count, "one pedestrian head per phase")
        var found = observe(atMs: t, lamps: new)
        var pedFaults: [Fault] = []
        for i in phases.indices {
            guard let clearance = pedClearanceMs[i] else { continue }
            let p = phases[i].id
            let shown = newPeds[i]
            if let old = peds?[i], old != shown {
                if old == .walk && shown != .flashingDontWalk || old == .flashingDontWalk && shown != .dontWalk {
                    pedFaults.append(Fault(atMs: t, kind: .pedSequence(p, from: old, to: shown)))
                }
                if old == .flashingDontWalk, let s = pedSinceMs[i], t - s < clearance {
                    pedFaults.append(
                        Fault(atMs: t, kind: .pedClearanceTooShort(p, actualMs: t - s, requiredMs: clearance)))
                }
                pedSinceMs[i] = t
            }
            guard shown != .dontWalk else { continue }
            if shown == .walk && new[i] != .green || shown == .flashingDontWalk && new[i] != .green && new[i] != .yellow
            {
                pedFaults.append(Fault(atMs: t, kind: .pedWithoutOwnGreen(p, shown: shown, vehicle: new[i])))
            }
            for j in phases.indices where conflictMatrix[i][j] && (new[j] == .green || new[j] == .yellow) {
                pedFaults.append(Fault(atMs: t, kind: .pedWithConflictingVehicle(ped: p, vehicle: phases[j].id)))
            }
        }
        peds = newPeds
        faults.append(contentsOf: pedFaults)
        found += pedFaults
        return found
    }
}
