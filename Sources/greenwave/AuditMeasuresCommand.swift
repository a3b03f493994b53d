import ArgumentParser
import Audit
import CorridorFile
import Foundation
import GreenwaveAPI
import SignalTiming

/// `greenwave audit measures`: the ATSPM performance measures of a signal from its own lamp event log — split
/// monitor, arrivals on green, split failures — as a table or JSON, and the Purdue coordination diagram of a
/// phase as SVG. docs/audit.md, "Measures".
struct AuditMeasuresCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measures",
        abstract:
            "ATSPM measures from a controller's lamp log: split monitor, arrivals on green, split failures, coordination diagram.",
        discussion:
            "Services whose green starts in [--from, --to) count. Detectors map to phases through the corridor file's `actuated` section (calls: false is an advance loop). Exit 64 on bad input."
    )
    @Option(help: "A controller's data folder (its own signal's lamp log).") var data: String?
    @Option(
        help:
            "Instead of --data: an ATSPM CSV (SignalID,Timestamp,EventCode,EventParam), e.g. from `audit export` or `greenwave sumo --atspm-out`."
    ) var atspm: String?
    @Option(
        help:
            "With --atspm: the detector configuration (DeviceId,Phase,Parameter,Function; Advance or Presence), e.g. from `greenwave sumo --detectors-out`; default: the corridor file's actuated section."
    ) var detectors: String?
    @Option(help: "Window start (ISO-8601 UTC or epoch ms; default: the start of the log).") var from: String?
    @Option(help: "Window end, exclusive (default: the end of the log).") var to: String?
    @Option(help: "Only this signal (default: every signal in the folder's lamp log).") var signal: String?
    @Option(help: "Only this phase.") var phase: Int?
    @Option(help: "Loops that count arrivals: 'advance' (default) or 'stop-bar'.") var arrivals: String = "advance"
    @Option(
        name: .customLong("travel-s"),
        help: "Seconds added to each arrival: travel time from the loop to the stop bar (default 0).") var travelS:
        Double = 0
    @Option(help: "The corridor file (default: the folder's recorded copy, corridor.yaml).") var corridor: String?
    @Option(help: "Write the phase's Purdue coordination diagram to this SVG file (needs --phase).") var svg: String?
    @Flag(help: "Also list every cycle.") var cycles = false
    @Flag(help: "JSON instead of a table.") var json = false

    func run() throws {
        try auditing {
            guard let which = ArrivalDetectors(rawValue: arrivals) else {
                throw AuditError("--arrivals must be 'advance' or 'stop-bar', got '\(arrivals)'")
            }
            guard travelS.isFinite, travelS >= 0, travelS <= 60 else { throw AuditError("--travel-s must be 0 to 60") }
            var o = MeasuresOptions(
                phase: phase, fromMs: try parseTime(from, "--from"), toMs: try parseTime(to, "--to"))
            if let s = signal {
                guard let id = parseSignal(s) else { throw AuditError("--signal: '\(s)' is not a signal id") }
                o.signal = id
            }
            o.arrivals = which
            o.travelMs = Int64((travelS * 1000).rounded())
            o.corridor = corridor
            if svg != nil && phase == nil { throw AuditError("--svg draws one phase: give --phase") }
            let reports = try computeReports(o)
            if let svg { try writeDiagram(reports, to: svg, options: o) }
            if json {
                try printJSON(reports.map { MeasuresText.json($0, arrivals: which, travelMs: o.travelMs) })
            } else {
                for (k, r) in reports.enumerated() {
                    if k > 0 { print("") }
                    for l in MeasuresText.lines(r, cycles: cycles, arrivals: which) { printLine(l) }
                }
            }
        }
    }

    /// From a data folder, or from an ATSPM CSV (with --corridor and --detectors): the same measures.
    func computeReports(_ o: MeasuresOptions) throws -> [SignalMeasures] {
        switch (data, atspm) {
        case (let data?, nil):
            guard detectors == nil else {
                throw AuditError("--detectors goes with --atspm (a folder has its corridor file)")
            }
            return try MeasuresReport.compute(folder: try DataFolder(path: data), options: o)
        case (nil, let path?):
            var doc: CorridorDocument?
            if let c = corridor {
                do { doc = try CorridorFile.load(path: c) } catch { throw AuditError("--corridor \(c): \(error)") }
            }
            let dets = try detectors.map { try DetectorCSV.parse(csv: ATSPMExport.readBounded($0), source: $0) }
            return try MeasuresReport.compute(
                rows: try ATSPMExport.read(path: path), source: path, doc: doc, detectors: dets, options: o)
        default:
            throw AuditError("give either --data (a controller's folder) or --atspm (an ATSPM CSV)")
        }
    }

    func writeDiagram(_ reports: [SignalMeasures], to path: String, options o: MeasuresOptions) throws {
        guard reports.count == 1, let r = reports.first, r.phases.count == 1, let p = r.phases.first else {
            throw AuditError("--svg draws one phase of one signal: give --signal as well (the folder logs several)")
        }
        let cycles = p.arrivalCycles ?? Measures.arrivalCycles(p.cycles, arrivals: [])
        var note =
            "\(AuditTime.iso(r.fromMs, digits: 1)) to \(AuditTime.iso(r.toMs, digits: 1)), \(cycles.count) cycles"
        if let a = p.arrivals {
            note += ", \(a.arrivals) arrivals on loops \(p.arrivalChannels.map(String.init).joined(separator: ","))"
            note += a.percentOnGreen.map { String(format: ", %.1f %% on green", $0 * 100) } ?? ""
            note += a.platoonRatio.map { String(format: ", platoon ratio %.2f", $0) } ?? ""
        } else {
            note += "; no arrivals: \(p.arrivalsNote ?? "-")"
        }
        let title =
            "S\(r.signal)\(r.name.map { " \($0)" } ?? "") phase \(p.phase)\(p.name.map { " (\($0))" } ?? ""): Purdue coordination diagram"
        let text = CoordinationDiagram.svg(title: title, note: note, cycles: cycles, fromMs: r.fromMs, toMs: r.toMs)
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw AuditError("--svg \(path): \(error.localizedDescription)")
        }
        FileHandle.standardError.write(
            Data("wrote the coordination diagram of S\(r.signal) phase \(p.phase) to \(path)\n".utf8))
    }
}
