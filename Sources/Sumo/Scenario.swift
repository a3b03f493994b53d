// A scenario: the corridor (or a section of it), its SUMO network and demand in a work folder, and
// the link map read back from netconvert's output.
import Foundation
import RaftCore // SplitMix64, the project's seeded generator
import SignalTiming

public struct Scenario: Sendable {
    public let corridor: Corridor
    public let options: NetworkOptions
    public let directory: String
    public let linkMap: LinkMap
    /// The induction loops of every signal (`Loops.swift`), declared in `loopsFile`.
    public let loops: [SignalID: [LoopSpec]]
    /// netconvert's traffic-light type: `static` (Greenwave sets every light over TraCI) or
    /// `actuated` (SUMO's own isolated actuated control with its own detectors).
    public let tlsType: String
    public var netFile: String { directory + "/corridor\(tlsType == "static" ? "" : "-" + tlsType).net.xml" }
    public var routesFile: String { directory + "/demand.rou.xml" }
    public var loopsFile: String { directory + "/loops.add.xml" }

    /// Writes nodes, edges, demand and loops into `directory`, runs netconvert and reads the link
    /// map back. `tlsType` "actuated" makes SUMO's own actuated programs (the loops file is still
    /// written, for a run that reads them).
    public static func build(
        corridor: Corridor, options: NetworkOptions = NetworkOptions(), directory: String,
        sumo: SumoInstallation, tlsType: String = "static"
    ) throws -> Scenario {
        guard tlsType == "static" || tlsType == "actuated" else { throw SumoError("unknown tls type \(tlsType)") }
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try NetworkXML.nodes(corridor, options).write(
            toFile: directory + "/corridor.nod.xml", atomically: true, encoding: .utf8)
        try NetworkXML.edges(corridor, options).write(
            toFile: directory + "/corridor.edg.xml", atomically: true, encoding: .utf8)
        try NetworkXML.routes(corridor, options).write(
            toFile: directory + "/demand.rou.xml", atomically: true, encoding: .utf8)
        try sumo.run(
            sumo.netconvert,
            [
                "--node-files", directory + "/corridor.nod.xml",
                "--edge-files", directory + "/corridor.edg.xml",
                "--lefthand", "true", // Mumbai: left-hand traffic
                "--no-turnarounds", "true",
                "--tls.default-type", tlsType, // static: overridden every step over TraCI anyway
                "--output-file", directory + "/corridor\(tlsType == "static" ? "" : "-" + tlsType).net.xml",
                "--no-warnings", "true"
            ], logPath: directory + "/netconvert.log")
        let net = try String(
            contentsOfFile: directory + "/corridor\(tlsType == "static" ? "" : "-" + tlsType).net.xml", encoding: .utf8)
        let map = try LinkMap.parse(netXML: net, corridor: corridor)
        let loops = try LoopLayout.loops(netXML: net, corridor: corridor)
        try LoopLayout.additionalXML(loops).write(
            toFile: directory + "/loops.add.xml", atomically: true, encoding: .utf8)
        return Scenario(
            corridor: corridor, options: options, directory: directory, linkMap: map, loops: loops, tlsType: tlsType)
    }

    public func programs(assignment: PhaseAssignment = PhaseAssignment()) -> [LightProgram] {
        corridor.signals.map {
            LightProgram(signal: $0, links: linkMap.links[trafficLightID($0.id)] ?? [], assignment: assignment)
        }
    }
}

extension Corridor {
    /// The signals `first...last` (by id, in corridor order) with every plan cut to them; offsets
    /// are kept as they are (they are absolute, relative to the reference).
    public func section(from first: SignalID, through last: SignalID) throws -> Corridor {
        guard let a = signalIndex(of: first), let b = signalIndex(of: last), a <= b else {
            throw SumoError("section \(first)-\(last) is not a range of signals of this corridor")
        }
        let plans = self.plans.map { p -> TimingPlan in
            if p.isFlash { return p }
            var q = p
            q.signals = Array(p.signals[a...b])
            return q
        }
        return try Corridor(name: name, signals: Array(signals[a...b]), plans: plans, safety: safety)
    }

    /// The same corridor with `plan`'s offsets replaced by uniformly random ones in [0, cycle), whole
    /// seconds, from a seeded generator: the uncoordinated baseline (same cycle and splits).
    public func withRandomOffsets(plan: PlanID, seed: UInt64) throws -> Corridor {
        var rng = SplitMix64(seed: seed)
        let plans = self.plans.map { p -> TimingPlan in
            guard p.id == plan, !p.isFlash else { return p }
            var q = p
            let cycleSeconds = UInt64(p.cycleMs / 1000)
            for i in q.signals.indices { q.signals[i].offsetMs = Milliseconds(rng.next() % cycleSeconds) * 1000 }
            return q
        }
        return try Corridor(name: name, signals: signals, plans: plans, safety: safety)
    }
}
