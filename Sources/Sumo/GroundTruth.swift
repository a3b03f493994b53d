// SUMO's own view at the advance loops, to judge the ATSPM measures by (docs/sumo.md, "Ground truth"):
// beside every advance loop an `instantInductionLoop` at the same lane, position and vehicle types writes
// each vehicle's entry time (SUMO interpolates it within the step), and after every step the traffic
// lights' state strings are read back over TraCI (what SUMO showed during that step). Each arrival gets
// the lamp of its phase at that instant, from those state strings — not from the controller's log.
import Foundation
import SignalTiming

/// One vehicle reaching an advance loop, as SUMO saw it.
public struct GroundTruthArrival: Sendable, Equatable, Codable {
    public var signal: Int
    public var phase: Int
    /// The loop (`LoopSpec.id`).
    public var loop: String
    public var vehicle: String
    /// SUMO time of entry, seconds, and the same as epoch ms (SUMO's 0 is the corridor's reference).
    public var sumoTimeS: Double
    public var epochMs: Int64
    /// The phase's lamp SUMO showed then: `green` (any of its links 'G' or 'g'), `yellow` (any 'y'), else
    /// `red` (or the link character itself if it is neither: 'O', 's').
    public var lamp: String
}

/// A change of a phase's lamp as SUMO showed it: from `epochMs` on.
public struct GroundTruthLampChange: Sendable, Equatable, Codable {
    public var signal: Int
    public var phase: Int
    public var epochMs: Int64
    public var lamp: String
}

/// What the ground-truth file holds (`greenwave sumo --ground-truth-out FILE`, JSON).
public struct GroundTruthRecord: Sendable, Equatable, Codable {
    public var format = "greenwave-sumo-ground-truth/1"
    public var referenceEpochMs: Int64
    public var stepMs: Int64
    public var arrivals: [GroundTruthArrival]
    public var lampChanges: [GroundTruthLampChange]

    enum CodingKeys: String, CodingKey {
        case format
        case referenceEpochMs = "reference_epoch_ms"
        case stepMs = "step_ms"
        case arrivals
        case lampChanges = "lamp_changes"
    }
}

extension GroundTruthArrival {
    enum CodingKeys: String, CodingKey {
        case signal, phase, loop, vehicle, lamp
        case sumoTimeS = "sumo_time_s"
        case epochMs = "epoch_ms"
    }
}

extension GroundTruthLampChange {
    enum CodingKeys: String, CodingKey {
        case signal, phase, lamp
        case epochMs = "epoch_ms"
    }
}

/// Collects the lamps SUMO shows each step; after the run, reads the instant loops' output.
public final class GroundTruthProbe {
    let programs: [LightProgram]
    let phases: [[PhaseID]]
    let advance: [LoopSpec]
    let referenceEpochMs: Int64
    let stepMs: Int64
    public let additionalFile: String
    let outputFile: String
    /// Per program, the last state read back.
    var last: [String?]
    public private(set) var changes: [GroundTruthLampChange] = []
    /// Per (signal, phase): its lamp changes in time order (epoch ms, lamp).
    var timeline: [SignalID: [PhaseID: [(Int64, String)]]] = [:]

    public init(scenario: Scenario, referenceEpochMs: Int64, stepMs: Int64, tag: String) throws {
        programs = scenario.programs()
        phases = scenario.corridor.signals.map { $0.phases.map(\.id) }
        advance = scenario.corridor.signals.flatMap { (scenario.loops[$0.id] ?? []).filter { $0.kind == .advance } }
        self.referenceEpochMs = referenceEpochMs
        self.stepMs = stepMs
        additionalFile = scenario.directory + "/ground-truth-\(tag).add.xml"
        outputFile = scenario.directory + "/ground-truth-\(tag).out.xml"
        last = Array(repeating: nil, count: programs.count)
        try Self.instantLoopsXML(advance, output: outputFile).write(
            toFile: additionalFile, atomically: true, encoding: .utf8)
    }

    /// The instant loops beside `loops` (id `GT.<loop id>`), all writing to `output`.
    public static func instantLoopsXML(_ loops: [LoopSpec], output: String) -> String {
        var x = "<additional>\n"
        for l in loops {
            let types = l.vTypes.map { " vTypes=\"\($0)\"" } ?? ""
            x +=
                "  <instantInductionLoop id=\"GT.\(l.id)\" lane=\"\(l.lane)\" pos=\"-\(l.metresBeforeStopLine)\" friendlyPos=\"true\" file=\"\(output)\"\(types)/>\n"
        }
        return x + "</additional>\n"
    }

    /// The lamp a phase shows from its links' characters.
    public static func lamp(_ chars: String) -> String {
        if chars.contains(where: { $0 == "G" || $0 == "g" }) { return "green" }
        if chars.contains("y") { return "yellow" }
        if chars.isEmpty || chars.allSatisfy({ $0 == "r" }) { return "red" }
        return String(chars.first!)
    }

    /// After the step that ran from `stepStartS`: what SUMO shows now is what it showed during that step.
    func afterStep(stepStartS: Double, traci: TraCIConnection) throws {
        let at = referenceEpochMs + Int64((stepStartS * 1000).rounded())
        for (k, p) in programs.enumerated() {
            let state = try traci.redYellowGreenState(of: p.trafficLight)
            if state == last[k] { continue }
            let before = last[k]
            last[k] = state
            for (i, phase) in phases[k].enumerated() {
                let lamp = Self.lamp(p.chars(ofPhaseIndex: i, in: state))
                if let b = before, Self.lamp(p.chars(ofPhaseIndex: i, in: b)) == lamp { continue }
                changes.append(
                    GroundTruthLampChange(signal: p.signal.rawValue, phase: phase.rawValue, epochMs: at, lamp: lamp))
                timeline[p.signal, default: [:]][phase, default: []].append((at, lamp))
            }
        }
    }

    /// The record, once SUMO has exited (its instant-loop file is complete then).
    public func record() throws -> GroundTruthRecord {
        let xml = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
        let byID = Dictionary(advance.map { ("GT.\($0.id)", $0) }, uniquingKeysWith: { a, _ in a })
        var arrivals: [GroundTruthArrival] = []
        for line in xml.split(separator: "\n") where line.contains("<instantOut ") {
            let a = xmlAttributes(line)
            guard a["state"] == "enter", let id = a["id"], let spec = byID[id],
                let t = a["time"].flatMap(Double.init), let v = a["vehID"]
            else { continue }
            let ms = referenceEpochMs + Int64((t * 1000).rounded())
            arrivals.append(
                GroundTruthArrival(
                    signal: spec.signal.rawValue, phase: spec.phase.rawValue, loop: spec.id, vehicle: v, sumoTimeS: t,
                    epochMs: ms, lamp: lamp(spec.signal, spec.phase, at: ms)))
        }
        arrivals.sort { ($0.epochMs, $0.loop) < ($1.epochMs, $1.loop) }
        return GroundTruthRecord(
            referenceEpochMs: referenceEpochMs, stepMs: stepMs, arrivals: arrivals, lampChanges: changes)
    }

    /// The phase's lamp at `ms`: the last change at or before it (red before the first).
    func lamp(_ s: SignalID, _ p: PhaseID, at ms: Int64) -> String {
        guard let t = timeline[s]?[p] else { return "red" }
        var lo = 0
        var hi = t.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if t[mid].0 <= ms { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? "red" : t[lo - 1].1
    }
}
