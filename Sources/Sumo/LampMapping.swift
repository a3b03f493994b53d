// From SignalTiming lamps (one per phase) to SUMO's per-link state string (one character per link
// index of the traffic light, in netconvert's order as read back by `LinkMap`). docs/sumo.md.
import SignalTiming

/// Which phase (NEMA number) governs each movement. Defaults follow the corridor files: 2 and 6
/// arterial throughs (increasing / decreasing), 5 and 1 the arterial right turns from the increasing
/// and the decreasing approach (left-hand traffic: the right turn crosses oncoming traffic; NEMA puts
/// the turn from phase 2's approach on 5 and the one from phase 6's on 1), 4 and 8 the side street from the west and
/// from the east. The arterial left turn (nearside, crossing nothing) runs with its through.
public struct PhaseAssignment: Sendable, Equatable {
    public var increasingThrough = PhaseID(2)
    public var decreasingThrough = PhaseID(6)
    public var increasingRight = PhaseID(5)
    public var decreasingRight = PhaseID(1)
    public var sideFromWest = PhaseID(4)
    public var sideFromEast = PhaseID(8)
    public init() {}

    /// The phase of a link, and whether its green is permissive (SUMO 'g': yield to foes). Nil: no
    /// phase (U-turns), always red.
    public func phase(of link: Link) -> (phase: PhaseID, permissive: Bool)? {
        switch (link.approach, link.turn) {
        case (_, .uturn): return nil
        case (.mainIncreasing, .right): return (increasingRight, false)
        case (.mainIncreasing, _): return (increasingThrough, false)
        case (.mainDecreasing, .right): return (decreasingRight, false)
        case (.mainDecreasing, _): return (decreasingThrough, false)
        // The two side approaches share a stage: a side right turn crosses the opposite side's flow.
        case (.sideFromWest, let t): return (sideFromWest, t == .right)
        case (.sideFromEast, let t): return (sideFromEast, t == .right)
        }
    }
}

/// SUMO's character for a lamp:
/// green → 'G' ('g' if permissive), yellow → 'y', red → 'r',
/// flashing yellow → 'O' (signal off, the junction's priority rules: the arterial keeps priority),
/// flashing red → 's' (stop, then go when clear — a stop sign), dark → 's' (a dark signal is an
/// all-way stop).
public func sumoChar(_ lamp: Lamp, permissive: Bool) -> Character {
    switch lamp {
    case .green: return permissive ? "g" : "G"
    case .yellow: return "y"
    case .red: return "r"
    case .flashingYellow: return "O"
    case .flashingRed, .dark: return "s"
    }
}

/// Precomputed per traffic light: for each link index, the index of its phase in `signal.phases`.
public struct LightProgram: Sendable {
    public let trafficLight: String
    public let signal: SignalID
    /// Per link: index into the lamps array (nil = always red) and permissive flag.
    let slots: [(lamp: Int?, permissive: Bool)]

    public init(signal: Signal, links: [Link], assignment: PhaseAssignment = PhaseAssignment()) {
        self.trafficLight = trafficLightID(signal.id)
        self.signal = signal.id
        slots = links.map { link in
            guard let (p, permissive) = assignment.phase(of: link) else { return (nil, false) }
            return (signal.phases.firstIndex { $0.id == p }, permissive)
        }
    }

    /// The state string for the lamps of `signal` (in `signal.phases` order).
    public func state(lamps: [Lamp]) -> String {
        var s = ""
        s.reserveCapacity(slots.count)
        for slot in slots {
            if let i = slot.lamp, i < lamps.count {
                s.append(sumoChar(lamps[i], permissive: slot.permissive))
            } else {
                s.append("r")
            }
        }
        return s
    }

    /// The characters of `state` (a state string of this light) at the links of the phase at `index` in
    /// `signal.phases`, in link order.
    public func chars(ofPhaseIndex index: Int, in state: String) -> String {
        var out = ""
        for (slot, ch) in zip(slots, state) where slot.lamp == index { out.append(ch) }
        return out
    }

    /// Before a controller has ever been heard from: all links flashing red (stop, then go).
    public var neverSeen: String { String(repeating: "s", count: slots.count) }
}
