import ArgumentParser
import CorridorFile
import Foundation
import SignalTiming

/// Loads a corridor file, printing the precise error to stderr and exiting 1 if it is refused.
func loadCorridorOrExit(_ path: String) throws -> CorridorDocument {
    do {
        return try CorridorFile.load(path: path)
    } catch let e as CorridorFileError {
        FileHandle.standardError.write("error: \(e)\n".data(using: .utf8)!)
        throw ExitCode(1)
    }
}

/// `greenwave corridor check FILE`
struct CorridorCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a corridor file and summarise it: signals, length, plans, cycles, bandwidth each way.",
        discussion: "Exit status 0 if the file is valid, 1 with the file, key path, line and problem if not."
    )

    @Argument(help: "The corridor YAML file.")
    var file: String

    @Flag(help: "Print the summary as JSON.")
    var json = false

    @Option(help: "Also report each plan's bands over runs of this many signals (sections), at the plan's speed.")
    var section: Int?

    func run() throws {
        let doc = try loadCorridorOrExit(file)
        if let problem = doc.referenceEpochProblem(nowMs: Int64(Date().timeIntervalSince1970 * 1000)) {
            FileHandle.standardError.write("error: \(file): reference_epoch_ms: \(problem)\n".data(using: .utf8)!)
            throw ExitCode(1)
        }
        if doc.firstEngineer == nil {
            FileHandle.standardError.write(
                "warning: \(file): security.first_engineer: missing; a controller refuses to start from this file (the demo adds one for the person running it; docs/security.md)\n"
                    .data(using: .utf8)!)
        }
        let c = doc.corridor
        let spacings = zip(c.signals, c.signals.dropFirst()).map { $1.positionMetres - $0.positionMetres }
        if let n = section, !(2...max(2, c.signals.count)).contains(n) {
            throw ValidationError("--section \(n) is outside 2 … \(c.signals.count)")
        }
        let rows = c.plans.map { planRow($0, doc) }
        if json {
            try printJSON(doc, rows: rows, spacings: spacings)
            return
        }
        printSummary(doc, rows: rows, spacings: spacings)
        printSchedule(doc)
        printActuated(doc)
    }

    struct PlanRow: Codable {
        var name: String
        var cycleS: String
        var progression: String
        var bands: [String: BandRow]
        /// With --section: per section (first–last signal), the band each way.
        var sections: [SectionRow]?
    }
    struct SectionRow: Codable {
        var first: Int, last: Int
        var bandsMs: [String: Int64]
    }
    struct BandRow: Codable {
        var widthMs: Int64
        var efficiencyPercent: Int
    }

    /// A plan's cycle, progression and band each way (and per section with --section).
    func planRow(_ p: TimingPlan, _ doc: CorridorDocument) -> PlanRow {
        let c = doc.corridor
        if p.isFlash {
            return PlanRow(name: p.id.rawValue, cycleS: "flash", progression: "-", bands: [:], sections: nil)
        }
        let prog = p.progression!
        var bands: [String: BandRow] = [:]
        for d in Direction.allCases {
            let b = c.bandwidth(plan: p, direction: d)!
            bands[doc.name(of: d)] = BandRow(widthMs: b.widthMs, efficiencyPercent: b.efficiencyPercent)
        }
        let way =
            prog.favouredBandPercent >= 100
            ? "one-way \(doc.name(of: prog.favoured))"
            : "two-way, favour \(doc.name(of: prog.favoured)) \(prog.favouredBandPercent) %"
        return PlanRow(
            name: p.id.rawValue, cycleS: fmt(p.cycleMs), progression: "\(prog.speedKmh) km/h, \(way)",
            bands: bands,
            sections: section.map { sectionRows(p, doc, size: $0) })
    }

    /// A section's band is the corridor's band formula over its signals alone (a common shift of the
    /// travel times moves every arc alike, so the whole-corridor travel times serve).
    func sectionRows(_ p: TimingPlan, _ doc: CorridorDocument, size n: Int) -> [SectionRow] {
        let c = doc.corridor
        let prog = p.progression!
        let x = c.signals.map(\.positionMetres)
        let greens = c.coordinatedGreensMs(p)
        let offsets = p.signals.map(\.offsetMs)
        var list: [SectionRow] = []
        for start in stride(from: 0, to: c.signals.count, by: n) {
            let r = start..<min(c.signals.count, start + n)
            var widths: [String: Int64] = [:]
            for d in Direction.allCases {
                let travel = ProgressionMath.travelTimesMs(
                    positionsMetres: x, speedKmh: prog.speedKmh, direction: d)
                widths[doc.name(of: d)] =
                    ProgressionMath.band(
                        offsetsMs: Array(offsets[r]), cycleMs: p.cycleMs,
                        greensMs: Array(greens[r]), travelMs: Array(travel[r])
                    ).widthMs
            }
            list.append(
                SectionRow(
                    first: c.signals[r.lowerBound].id.rawValue, last: c.signals[r.upperBound - 1].id.rawValue,
                    bandsMs: widths))
        }
        return list
    }

    func printJSON(_ doc: CorridorDocument, rows: [PlanRow], spacings: [Int]) throws {
        struct Summary: Codable {
            var file: String, corridor: String, name: String, signals: Int, voters: [Int]
            var lengthM: Int, spacingMinM: Int?, spacingMaxM: Int?, initialPlan: String, plans: [PlanRow]
            /// The schedule section as the loader read it (nil: none).
            var schedule: String?
        }
        let c = doc.corridor
        let s = Summary(
            file: file, corridor: doc.id, name: c.name, signals: c.signals.count,
            voters: doc.voters.map(\.rawValue),
            lengthM: c.lengthMetres, spacingMinM: spacings.min(), spacingMaxM: spacings.max(),
            initialPlan: doc.initialPlan.rawValue, plans: rows, schedule: doc.schedule?.yaml)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(data: try enc.encode(s), encoding: .utf8)!)
    }

    /// The text summary: the corridor, then a table of the plans, then the sections.
    func printSummary(_ doc: CorridorDocument, rows: [PlanRow], spacings: [Int]) {
        let c = doc.corridor
        print("\(file): OK")
        print("corridor  \(doc.id): \(c.name)")
        print("signals   \(c.signals.count): \(c.signals.first!.name) → \(c.signals.last!.name)")
        print(
            "voters    \(doc.voters.map(\.description).joined(separator: ", ")) (\(c.signals.count - doc.voters.count) learners)"
        )
        let km = "\(c.lengthMetres / 1000).\(String(format: "%02d", (c.lengthMetres % 1000) / 10))"
        print("length    \(km) km" + (spacings.isEmpty ? "" : ", spacing \(spacings.min()!)–\(spacings.max()!) m"))
        print("initial   \(doc.initialPlan)")
        print("plans     \(c.plans.count)")
        let inc = doc.increasingName
        let dec = doc.decreasingName
        let header = ["plan", "cycle", "progression", "band \(inc)", "band \(dec)"]
        var table = [header]
        for r in rows {
            func band(_ n: String) -> String {
                guard let b = r.bands[n] else { return "-" }
                return "\(fmt(b.widthMs)) s (\(b.efficiencyPercent) %)"
            }
            table.append([r.name, r.cycleS == "flash" ? "flash" : "\(r.cycleS) s", r.progression, band(inc), band(dec)])
        }
        let widths = (0..<header.count).map { i in table.map { $0[i].count }.max()! }
        for row in table {
            print(
                "  "
                    + row.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
        for r in rows {
            guard let list = r.sections else { continue }
            print("sections of \(section ?? 0), plan \(r.name) (band \(inc) / \(dec), s)")
            print(
                "  "
                    + list.map { "S\($0.first)–S\($0.last) \(fmt($0.bandsMs[inc] ?? 0))/\(fmt($0.bandsMs[dec] ?? 0))" }
                    .joined(separator: "  "))
        }
    }

    /// The schedule: local time, day plans, week, holidays, and what it does over the coming week.
    func printSchedule(_ doc: CorridorDocument) {
        guard let s = doc.schedule else {
            print("schedule  none (the mode changes only by command)")
            return
        }
        let off = s.utcOffsetMinutes
        print(
            "schedule  local time UTC\(off < 0 ? "-" : "+")\(ScheduleAction.timeText(abs(off))), \(s.dayPlans.count) day plans, \(s.holidays.count) holidays"
        )
        for d in s.dayPlans {
            let days = s.week.enumerated().filter { $0.element == d.name }.map {
                String(TimeOfDaySchedule.weekdayNames[$0.offset].prefix(3))
            }
            print(
                "  \(d.name) (\(days.isEmpty ? "holidays only" : days.joined(separator: " "))): "
                    + d.actions.map { "\($0.timeText) \($0.plan)" }.joined(separator: ", "))
        }
        for h in s.holidays.prefix(12) { print("  holiday \(h.date): \(h.dayPlan)") }
        if s.holidays.count > 12 { print("  … \(s.holidays.count - 12) more holidays") }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let line = ModeLine(
            corridor: doc.corridor, referenceEpochMs: doc.referenceEpochMs,
            baseline: Baseline(atMs: doc.referenceEpochMs, plan: doc.initialPlan),
            overrides: [], schedule: ScheduleInForce(schedule: s, sinceMs: doc.referenceEpochMs, id: EventID(0)))
        let week = line.scheduledChanges(after: now, through: now + 7 * 86_400_000)
        print(
            "  now \(line.scheduledPlan(at: now).map(\.rawValue) ?? "-"); \(week.count) changes in the next 7 days, at cycle boundaries:"
        )
        for c in week.prefix(6) { print("    \(localTime(c.atMs, offsetMinutes: off))  \(c.previous) → \(c.plan)") }
    }
}
