// A SUMO network and one hour of demand from a corridor (plain XML → netconvert), and the link
// map of every traffic light read back from netconvert's output.
//
// Geometry: the main road runs along the y axis (increasing position = the corridor's increasing
// direction, "north"), junction i at y = position_i. A 300 m lead-in edge precedes the first and
// follows the last junction. Each junction has a side street 200 m long on each side (west x < 0,
// east x > 0). Left-hand traffic (`--lefthand`), as in Mumbai.
import Foundation
import SignalTiming

/// Demand and geometry defaults (docs/sumo.md).
public struct NetworkOptions: Sendable, Equatable {
    /// Main-road lanes per direction and speed limit.
    public var mainLanes = 3
    public var mainSpeedKmh = 50
    /// Side-street lanes per direction and speed limit.
    public var sideLanes = 1
    public var sideSpeedKmh = 50
    public var sideLengthMetres = 200
    public var leadMetres = 300
    /// Main-road vehicles per hour per direction, entering before the first signal of that
    /// direction and leaving after the last (end to end).
    public var mainVehPerHour = 1200
    /// Side-street vehicles per hour per approach (west and east of each signal), crossing straight.
    public var sideVehPerHour = 150
    /// Turning traffic on the main road: at every signal, each main-road approach gets this share
    /// (percent of `mainVehPerHour`) of extra vehicles that enter on the approach edge and turn
    /// across the oncoming flow there (the right turn: Mumbai drives on the left), so that the turn
    /// phases (5 from the increasing, 1 from the decreasing approach) have demand. 0: none.
    public var mainTurnPercent = 0
    /// Seconds of demand.
    public var demandSeconds = 3600
    public init() {}

    /// Turning vehicles per hour per main-road approach at each signal.
    public var turnVehPerHour: Int { mainVehPerHour * mainTurnPercent / 100 }
}

/// Edge ids (stable, used by the link map and the trip classification).
enum EdgeID {
    /// Main road towards increasing positions, entering signal `id` (or leaving the last: "inc_end").
    static func inc(_ id: SignalID) -> String { "inc_\(id.rawValue)" }
    static func dec(_ id: SignalID) -> String { "dec_\(id.rawValue)" }
    static let incEnd = "inc_end"
    static let decEnd = "dec_end"
    static func westIn(_ id: SignalID) -> String { "w\(id.rawValue)_in" }
    static func westOut(_ id: SignalID) -> String { "w\(id.rawValue)_out" }
    static func eastIn(_ id: SignalID) -> String { "e\(id.rawValue)_in" }
    static func eastOut(_ id: SignalID) -> String { "e\(id.rawValue)_out" }
}

/// The SUMO traffic-light id of a signal.
public func trafficLightID(_ id: SignalID) -> String { "S\(id.rawValue)" }

public enum NetworkXML {
    public static func nodes(_ corridor: Corridor, _ o: NetworkOptions) -> String {
        var x = "<nodes>\n"
        let first = corridor.signals[0].positionMetres
        let last = corridor.signals[corridor.signals.count - 1].positionMetres
        x += "  <node id=\"south\" x=\"0\" y=\"\(first - o.leadMetres)\" type=\"priority\"/>\n"
        x += "  <node id=\"north\" x=\"0\" y=\"\(last + o.leadMetres)\" type=\"priority\"/>\n"
        for s in corridor.signals {
            let y = s.positionMetres
            x +=
                "  <node id=\"J\(s.id.rawValue)\" x=\"0\" y=\"\(y)\" type=\"traffic_light\" tl=\"\(trafficLightID(s.id))\"/>\n"
            x += "  <node id=\"W\(s.id.rawValue)\" x=\"-\(o.sideLengthMetres)\" y=\"\(y)\" type=\"priority\"/>\n"
            x += "  <node id=\"E\(s.id.rawValue)\" x=\"\(o.sideLengthMetres)\" y=\"\(y)\" type=\"priority\"/>\n"
        }
        return x + "</nodes>\n"
    }

    public static func edges(_ corridor: Corridor, _ o: NetworkOptions) -> String {
        let main = String(
            format: "numLanes=\"%d\" speed=\"%.4f\" priority=\"3\"", o.mainLanes, Double(o.mainSpeedKmh) / 3.6)
        let side = String(
            format: "numLanes=\"%d\" speed=\"%.4f\" priority=\"1\"", o.sideLanes, Double(o.sideSpeedKmh) / 3.6)
        var x = "<edges>\n"
        let sig = corridor.signals
        for (k, s) in sig.enumerated() {
            let j = "J\(s.id.rawValue)"
            let before = k == 0 ? "south" : "J\(sig[k - 1].id.rawValue)"
            let after = k == sig.count - 1 ? "north" : "J\(sig[k + 1].id.rawValue)"
            x += "  <edge id=\"\(EdgeID.inc(s.id))\" from=\"\(before)\" to=\"\(j)\" \(main)/>\n"
            x += "  <edge id=\"\(EdgeID.dec(s.id))\" from=\"\(after)\" to=\"\(j)\" \(main)/>\n"
            x += "  <edge id=\"\(EdgeID.westIn(s.id))\" from=\"W\(s.id.rawValue)\" to=\"\(j)\" \(side)/>\n"
            x += "  <edge id=\"\(EdgeID.westOut(s.id))\" from=\"\(j)\" to=\"W\(s.id.rawValue)\" \(side)/>\n"
            x += "  <edge id=\"\(EdgeID.eastIn(s.id))\" from=\"E\(s.id.rawValue)\" to=\"\(j)\" \(side)/>\n"
            x += "  <edge id=\"\(EdgeID.eastOut(s.id))\" from=\"\(j)\" to=\"E\(s.id.rawValue)\" \(side)/>\n"
        }
        x += "  <edge id=\"\(EdgeID.incEnd)\" from=\"J\(sig[sig.count - 1].id.rawValue)\" to=\"north\" \(main)/>\n"
        x += "  <edge id=\"\(EdgeID.decEnd)\" from=\"J\(sig[0].id.rawValue)\" to=\"south\" \(main)/>\n"
        return x + "</edges>\n"
    }

    /// One hour of demand: Poisson arrivals (exponential headways), straight through, plus the
    /// main-road turners (`mainTurnPercent`). Vehicle ids: "inc.N", "dec.N" (main road end to end),
    /// "side_w<id>.N" / "side_e<id>.N", "turn_inc<id>.N" / "turn_dec<id>.N" (turning at signal id).
    /// Turners are of type `car_turn` (the same car): the turn loops count only them and the through
    /// loops only `car`, which is what a turn-pocket loop and a through-lane loop see (the network's
    /// inner lane is shared, so its loops tell the two apart by type).
    public static func routes(_ corridor: Corridor, _ o: NetworkOptions) -> String {
        let sig = corridor.signals
        func flow(_ id: String, _ from: String, _ to: String, _ vph: Int, lane: String, type: String = "car") -> String
        {
            String(
                format:
                    "  <flow id=\"%@\" type=\"%@\" begin=\"0\" end=\"%d\" period=\"exp(%.6f)\" from=\"%@\" to=\"%@\" departLane=\"%@\" departSpeed=\"max\"/>\n",
                id, type, o.demandSeconds, Double(vph) / 3600.0, from, to, lane)
        }
        var x = "<routes>\n"
        // SUMO's default passenger car (Krauss, 4.5 m, sigma 0.5), written out so that it is documented.
        x +=
            "  <vType id=\"car\" vClass=\"passenger\" length=\"4.5\" minGap=\"2.5\" accel=\"2.6\" decel=\"4.5\" sigma=\"0.5\" maxSpeed=\"55.55\"/>\n"
        x +=
            "  <vType id=\"car_turn\" vClass=\"passenger\" length=\"4.5\" minGap=\"2.5\" accel=\"2.6\" decel=\"4.5\" sigma=\"0.5\" maxSpeed=\"55.55\"/>\n"
        if o.mainVehPerHour > 0 {
            x += flow("inc", EdgeID.inc(sig[0].id), EdgeID.incEnd, o.mainVehPerHour, lane: "best")
            x += flow("dec", EdgeID.dec(sig[sig.count - 1].id), EdgeID.decEnd, o.mainVehPerHour, lane: "best")
        }
        if o.sideVehPerHour > 0 {
            for s in sig {
                x += flow(
                    "side_w\(s.id.rawValue)", EdgeID.westIn(s.id), EdgeID.eastOut(s.id), o.sideVehPerHour, lane: "first"
                )
                x += flow(
                    "side_e\(s.id.rawValue)", EdgeID.eastIn(s.id), EdgeID.westOut(s.id), o.sideVehPerHour, lane: "first"
                )
            }
        }
        if o.turnVehPerHour > 0 {
            // Left-hand traffic: the increasing direction's right turn goes east, the decreasing one's west.
            for s in sig {
                x += flow(
                    "turn_inc\(s.id.rawValue)", EdgeID.inc(s.id), EdgeID.eastOut(s.id), o.turnVehPerHour, lane: "best",
                    type: "car_turn")
                x += flow(
                    "turn_dec\(s.id.rawValue)", EdgeID.dec(s.id), EdgeID.westOut(s.id), o.turnVehPerHour, lane: "best",
                    type: "car_turn")
            }
        }
        return x + "</routes>\n"
    }
}

/// A movement through a junction, as the corridor's phases see it.
public enum Approach: String, Sendable, Hashable, CaseIterable {
    /// Main road travelling towards increasing positions (WEH: northbound).
    case mainIncreasing
    case mainDecreasing
    /// Side street from the west (travelling east) and from the east (travelling west).
    case sideFromWest
    case sideFromEast
}

public enum Turn: String, Sendable, Hashable {
    case straight, left, right, uturn
}

/// One controlled link of a traffic light, from netconvert's `<connection ... tl= linkIndex=>`.
public struct Link: Sendable, Hashable {
    public var index: Int
    public var approach: Approach
    public var turn: Turn
    public var fromEdge: String
    public var toEdge: String
}

/// Every traffic light's links in link-index order, read back from the .net.xml.
public struct LinkMap: Sendable, Equatable {
    public var links: [String: [Link]]

    /// Parses the `<connection>` elements of a .net.xml. Each traffic-light id must have link indices
    /// 0..n-1 with no gaps (one character of the state string each).
    public static func parse(netXML: String, corridor: Corridor) throws -> LinkMap {
        var approaches: [String: Approach] = [:]
        for s in corridor.signals {
            approaches[EdgeID.inc(s.id)] = .mainIncreasing
            approaches[EdgeID.dec(s.id)] = .mainDecreasing
            approaches[EdgeID.westIn(s.id)] = .sideFromWest
            approaches[EdgeID.eastIn(s.id)] = .sideFromEast
        }
        var byTL: [String: [Int: Link]] = [:]
        for line in netXML.split(separator: "\n") where line.contains("<connection ") && line.contains(" tl=\"") {
            let a = xmlAttributes(line)
            guard let tl = a["tl"], let idx = a["linkIndex"].flatMap(Int.init), let from = a["from"], let to = a["to"]
            else { continue }
            guard let approach = approaches[from] else {
                throw SumoError("link \(idx) of \(tl) comes from unexpected edge \(from)")
            }
            let turn: Turn
            switch a["dir"] ?? "" {
            case "s": turn = .straight
            case "l", "L": turn = .left
            case "r", "R": turn = .right
            case "t", "T": turn = .uturn
            default: throw SumoError("link \(idx) of \(tl) has unknown direction \(a["dir"] ?? "none")")
            }
            let link = Link(index: idx, approach: approach, turn: turn, fromEdge: from, toEdge: to)
            if let old = byTL[tl]?[idx], old != link {
                // Several lanes may share one link index only if they are the same movement.
                if old.approach != link.approach || old.turn != link.turn {
                    throw SumoError("link \(idx) of \(tl) mixes movements")
                }
            }
            byTL[tl, default: [:]][idx] = link
        }
        var out: [String: [Link]] = [:]
        for (tl, m) in byTL {
            let n = m.count
            guard (0..<n).allSatisfy({ m[$0] != nil }) else { throw SumoError("\(tl): link indices are not 0..<\(n)") }
            out[tl] = (0..<n).map { m[$0]! }
        }
        for s in corridor.signals where out[trafficLightID(s.id)] == nil {
            throw SumoError("netconvert made no traffic light \(trafficLightID(s.id))")
        }
        return LinkMap(links: out)
    }
}

/// `key="value"` pairs of one XML element on one line.
func xmlAttributes<S: StringProtocol>(_ line: S) -> [String: String] {
    var out: [String: String] = [:]
    var rest = Substring(line)
    while let eq = rest.range(of: "=\"") {
        let keyPart = rest[..<eq.lowerBound]
        let key = keyPart.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "<" }).last.map(String.init) ?? ""
        let afterQuote = rest[eq.upperBound...]
        guard let close = afterQuote.firstIndex(of: "\"") else { break }
        out[key] = String(afterQuote[..<close])
        rest = afterQuote[afterQuote.index(after: close)...]
    }
    return out
}

public struct SumoError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
