// Induction loops on every approach lane of every signal (a SUMO additional file), and what each
// loop does for its phase in an actuated controller. docs/sumo.md ("Loops").
//
// Per approach lane: a **stop-bar** loop 3 m before the stop line (a car waiting at the line covers
// it: it calls the phase while the phase is red and extends it while green) and an **advance** loop
// 45 m before the stop line (about 3 s at 50 km/h, one passage time: it only extends). The main
// road's through loops count cars of type `car` only and the turn loops (on the lanes that carry the
// turn across the oncoming flow) cars of type `car_turn` only — the inner lane is shared, and so
// its two sets of loops stand for a through-lane loop and a turn-pocket loop.
import SignalTiming

public enum LoopKind: String, Sendable, Hashable {
    case stopBar = "stop"
    case advance = "adv"
}

/// One induction loop.
public struct LoopSpec: Sendable, Hashable {
    /// SUMO id: `L<signal>.<lane id>.<kind>[.turn]`.
    public var id: String
    public var signal: SignalID
    /// SUMO lane id (`<edge>_<index>`).
    public var lane: String
    public var phase: PhaseID
    public var kind: LoopKind
    /// Position from the lane's end (SUMO: a negative position counts from the end), metres.
    public var metresBeforeStopLine: Int
    /// Vehicle types the loop counts (nil: all).
    public var vTypes: String?

    /// The detector as the actuated controller is configured with it: stop-bar loops call and
    /// extend, advance loops only extend.
    public func config(channel: Int) -> DetectorConfig {
        DetectorConfig(id: channel, phase: phase, calls: kind == .stopBar, extends: true)
    }
}

public enum LoopLayout {
    public static let stopBarMetres = 3
    public static let advanceMetres = 45

    /// Every loop of the corridor, per signal in corridor order, from netconvert's connections (which
    /// lanes of which approach carry which movement). Channel numbers are the positions in each
    /// signal's list, from 1.
    public static func loops(
        netXML: String, corridor: Corridor, assignment: PhaseAssignment = PhaseAssignment()
    ) throws -> [SignalID: [LoopSpec]] {
        var approaches: [String: (SignalID, Approach)] = [:]
        for s in corridor.signals {
            approaches[EdgeID.inc(s.id)] = (s.id, .mainIncreasing)
            approaches[EdgeID.dec(s.id)] = (s.id, .mainDecreasing)
            approaches[EdgeID.westIn(s.id)] = (s.id, .sideFromWest)
            approaches[EdgeID.eastIn(s.id)] = (s.id, .sideFromEast)
        }
        // (edge, lane index) → the movements leaving that lane.
        var movements: [String: Set<Turn>] = [:]
        var laneOrder: [String] = []
        for line in netXML.split(separator: "\n") where line.contains("<connection ") && line.contains(" tl=\"") {
            let a = xmlAttributes(line)
            guard let from = a["from"], approaches[from] != nil, let lane = a["fromLane"].flatMap(Int.init) else {
                continue
            }
            let turn: Turn
            switch a["dir"] ?? "" {
            case "s": turn = .straight
            case "l", "L": turn = .left
            case "r", "R": turn = .right
            default: turn = .uturn
            }
            let key = "\(from)_\(lane)"
            if movements[key] == nil { laneOrder.append(key) }
            movements[key, default: []].insert(turn)
        }
        var out: [SignalID: [LoopSpec]] = [:]
        for key in laneOrder.sorted() {
            let edge = String(key[..<key.lastIndex(of: "_")!])
            let (signal, approach) = approaches[edge]!
            let turns = movements[key]!
            for spec in specs(lane: key, signal: signal, approach: approach, turns: turns, assignment) {
                out[signal, default: []].append(spec)
            }
        }
        for s in corridor.signals where out[s.id] == nil {
            throw SumoError("signal \(s.id) has no approach lanes in the network")
        }
        return out
    }

    /// The loops of one lane: through loops for the through phase (main road: `car` only), turn
    /// loops for the turn phase on a main-road lane that carries the crossing turn (`car_turn` only).
    static func specs(
        lane: String, signal: SignalID, approach: Approach, turns: Set<Turn>, _ assignment: PhaseAssignment
    ) -> [LoopSpec] {
        var out: [LoopSpec] = []
        func add(_ phase: PhaseID, _ vTypes: String?, _ suffix: String) {
            for (kind, metres) in [(LoopKind.stopBar, stopBarMetres), (.advance, advanceMetres)] {
                out.append(
                    LoopSpec(
                        id: "L\(signal.rawValue).\(lane).\(kind.rawValue)\(suffix)", signal: signal, lane: lane,
                        phase: phase, kind: kind, metresBeforeStopLine: metres, vTypes: vTypes))
            }
        }
        switch approach {
        case .mainIncreasing, .mainDecreasing:
            let inc = approach == .mainIncreasing
            if turns.contains(.straight) || turns.contains(.left) {
                add(inc ? assignment.increasingThrough : assignment.decreasingThrough, "car", "")
            }
            if turns.contains(.right) {
                add(inc ? assignment.increasingRight : assignment.decreasingRight, "car_turn", ".turn")
            }
        case .sideFromWest: add(assignment.sideFromWest, nil, "")
        case .sideFromEast: add(assignment.sideFromEast, nil, "")
        }
        return out
    }

    /// The SUMO additional file declaring the loops (their own file output is discarded: Greenwave
    /// reads them over TraCI).
    public static func additionalXML(_ loops: [SignalID: [LoopSpec]]) -> String {
        var x = "<additional>\n"
        for signal in loops.keys.sorted() {
            for l in loops[signal]! {
                let types = l.vTypes.map { " vTypes=\"\($0)\"" } ?? ""
                x +=
                    "  <inductionLoop id=\"\(l.id)\" lane=\"\(l.lane)\" pos=\"-\(l.metresBeforeStopLine)\" friendlyPos=\"true\" period=\"86400\" file=\"NUL\"\(types)/>\n"
            }
        }
        return x + "</additional>\n"
    }
}
