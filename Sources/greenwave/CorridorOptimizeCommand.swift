import ArgumentParser
import CorridorFile
import Foundation
import SignalTiming

/// `greenwave corridor optimize`: the offsets that give a plan the widest two-way green bands
/// (`BandOptimizer`), printed per section and against speed, and optionally written into a copy of the
/// corridor file as the plan's `offsets_s`.
struct CorridorOptimizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimize",
        abstract: "Two-way bandwidth optimisation of one plan's offsets (exact, MAXBAND model).",
        discussion: """
            Keeps the plan's cycle and splits and chooses its offsets. Every link's travel time may lie
            anywhere within the speed range (--speed ± --speed-range percent) in each direction; the total of
            the two bands is maximised and shared by --share (percent to the corridor's increasing direction;
            or --favour DIRECTION for 100 / 0). With --section N each run of N signals is optimised on its own
            (offsets between sections are then independent). Prints each section's bands, the end-to-end bands
            of the result at uniform speeds around --speed, and with --write OUT a copy of the corridor file
            whose plan has the offsets as offsets_s (checked by loading it back).
            """
    )

    @Argument(help: "The corridor YAML file.") var file: String
    @Option(help: "The plan to optimise.") var plan: String = "normal"
    @Option(help: "Design speed, km/h (default: the plan's progression speed).") var speed: Int?
    @Option(help: "Each link's speed may vary by this many percent either way.") var speedRange: Int = 0
    @Option(help: "Share of the total band for the increasing direction, percent (50: equal bands).") var share: Int =
        50
    @Option(help: "All of the band to one direction (its name or increasing/decreasing): --share 100 or 0.") var favour:
        String?
    @Option(help: "Optimise runs of this many signals separately (default: the whole corridor).") var section: Int?
    @Option(help: "Queue clearance at the start of every coordinated green, seconds, both directions.") var queueS:
        Double = 0
    @Option(help: "Write a copy of the corridor file with the optimised offsets here.") var write: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let doc = try loadCorridorOrExit(file)
        let c = doc.corridor
        guard let p = c.plans.first(where: { $0.id.rawValue == plan }) else {
            throw ValidationError(
                "\(file): no plan '\(plan)' (plans: \(c.plans.map(\.id.rawValue).joined(separator: ", ")))")
        }
        guard !p.isFlash, let progression = p.progression else {
            throw ValidationError("plan '\(plan)' is flash: it has no offsets")
        }
        let v = speed ?? progression.speedKmh
        guard (5...200).contains(v) else { throw ValidationError("--speed \(v) km/h is outside 5 … 200") }
        guard (0...50).contains(speedRange) else {
            throw ValidationError("--speed-range \(speedRange) % is outside 0 … 50")
        }
        let sharePercent = try increasingShare(doc)
        guard queueS >= 0, queueS <= 60 else { throw ValidationError("--queue-s \(queueS) is outside 0 … 60 s") }
        let n = c.signals.count
        if let s = section, !(2...max(2, n)).contains(s) { throw ValidationError("--section \(s) is outside 2 … \(n)") }
        let low = max(1, v - v * speedRange / 100)
        let high = v + v * speedRange / 100
        let problem = try optimisationProblem(c, plan: p, speeds: low...high, sharePercent: sharePercent)
        let result: Optimised
        do { result = try BandOptimizer.solveSections(problem, size: section ?? n) } catch {
            throw ValidationError("\(error)")
        }
        let speeds = Set([v - v / 10, v - v / 20, v, v + v / 20, v + v / 10, low, high]).sorted().filter { $0 >= 1 }
        let bySpeed = endToEnd(c, plan: p, offsetsMs: result.offsetsMs, greensMs: problem.greensMs, speeds: speeds)
        let offsetsLine =
            "offsets_s: { "
            + c.signals.enumerated().map { "\($0.element.id.rawValue): \(fmt(result.offsetsMs[$0.offset]))" }.joined(
                separator: ", ") + " }"
        if json {
            try printJSON(
                c, plan: p, speeds: low...high, sharePercent: sharePercent, result: result, bySpeed: bySpeed)
        } else {
            print(
                "plan \(plan): cycle \(fmt(p.cycleMs)) s, speeds \(low)…\(high) km/h on every link, \(sharePercent) % of the band \(doc.increasingName)"
                    + (queueS > 0 ? ", queue clearance \(queueS) s" : ""))
            printText(doc, result: result, bySpeed: bySpeed)
            print(offsetsLine)
        }
        if let out = write { try writeCopy(to: out, offsetsLine: offsetsLine, offsetsMs: result.offsetsMs) }
    }

    typealias Optimised = (offsetsMs: [Milliseconds], sections: [(range: Range<Int>, solution: BandOptimizer.Solution)])
    typealias SpeedBands = (speed: Int, increasing: Milliseconds, decreasing: Milliseconds)

    /// The increasing direction's share of the total band, percent: --share, or 100 / 0 with --favour.
    func increasingShare(_ doc: CorridorDocument) throws -> Int {
        var sharePercent = share
        if let f = favour {
            switch f {
            case doc.increasingName, "increasing": sharePercent = 100
            case doc.decreasingName, "decreasing": sharePercent = 0
            default: throw ValidationError("--favour \(f): '\(doc.increasingName)' or '\(doc.decreasingName)'")
            }
        }
        guard (0...100).contains(sharePercent) else {
            throw ValidationError("--share \(sharePercent) % is outside 0 … 100")
        }
        return sharePercent
    }

    /// The plan's cycle and coordinated greens, every link's travel times within the speed range, and the
    /// queue clearance (which no coordinated green may be shorter than).
    func optimisationProblem(
        _ c: Corridor, plan p: TimingPlan, speeds: ClosedRange<Int>, sharePercent: Int
    ) throws -> BandOptimizer.Problem {
        let x = c.signals.map(\.positionMetres)
        var links: [BandOptimizer.LinkTimes] = []
        for (a, b) in zip(x, x.dropFirst()) {
            guard let l = BandOptimizer.LinkTimes(metres: b - a, speedKmh: speeds) else {
                throw ValidationError(
                    "a link of \(b - a) m at \(speeds.lowerBound)…\(speeds.upperBound) km/h cannot be timed")
            }
            links.append(l)
        }
        let greens = c.coordinatedGreensMs(p)
        let queue = Array(repeating: Milliseconds((queueS * 1000).rounded()), count: c.signals.count)
        for (i, g) in greens.enumerated() where queue[i] > g {
            throw ValidationError(
                "--queue-s \(queueS) is longer than S\(c.signals[i].id.rawValue)'s coordinated green (\(fmt(g)) s)")
        }
        return BandOptimizer.Problem(
            cycleMs: p.cycleMs, greensMs: greens, links: links, increasingSharePercent: sharePercent,
            queueIncreasingMs: queue, queueDecreasingMs: queue)
    }

    /// End to end at uniform speeds: what a platoon at one speed gets through the whole corridor.
    func endToEnd(
        _ c: Corridor, plan p: TimingPlan, offsetsMs: [Milliseconds], greensMs greens: [Milliseconds], speeds: [Int]
    ) -> [SpeedBands] {
        let x = c.signals.map(\.positionMetres)
        return speeds.map { s in
            let inc = ProgressionMath.band(
                offsetsMs: offsetsMs, cycleMs: p.cycleMs, greensMs: greens,
                travelMs: ProgressionMath.travelTimesMs(positionsMetres: x, speedKmh: s, direction: .increasing)
            ).widthMs
            let dec = ProgressionMath.band(
                offsetsMs: offsetsMs, cycleMs: p.cycleMs, greensMs: greens,
                travelMs: ProgressionMath.travelTimesMs(positionsMetres: x, speedKmh: s, direction: .decreasing)
            ).widthMs
            return (s, inc, dec)
        }
    }

    func printJSON(
        _ c: Corridor, plan p: TimingPlan, speeds: ClosedRange<Int>, sharePercent: Int, result: Optimised,
        bySpeed: [SpeedBands]
    ) throws {
        struct Section: Codable {
            var first: String
            var last: String
            var increasingBandS: Double
            var decreasingBandS: Double
        }
        struct AtSpeed: Codable {
            var speedKmh: Int
            var increasingBandS: Double
            var decreasingBandS: Double
        }
        struct Out: Codable {
            var plan: String
            var cycleS: Double
            var speedKmh: ClosedRange<Int>
            var increasingSharePercent: Int
            var sections: [Section]
            var endToEnd: [AtSpeed]
            var offsetsS: [String: Double]
        }
        func name(_ i: Int) -> String { "S\(c.signals[i].id.rawValue)" }
        let out = Out(
            plan: plan, cycleS: Double(p.cycleMs) / 1000, speedKmh: speeds,
            increasingSharePercent: sharePercent,
            sections: result.sections.map {
                Section(
                    first: name($0.range.lowerBound), last: name($0.range.upperBound - 1),
                    increasingBandS: Double($0.solution.increasingBandMs) / 1000,
                    decreasingBandS: Double($0.solution.decreasingBandMs) / 1000)
            },
            endToEnd: bySpeed.map {
                AtSpeed(
                    speedKmh: $0.speed, increasingBandS: Double($0.increasing) / 1000,
                    decreasingBandS: Double($0.decreasing) / 1000)
            },
            offsetsS: Dictionary(
                uniqueKeysWithValues: c.signals.enumerated().map {
                    ("\($0.element.id.rawValue)", Double(result.offsetsMs[$0.offset]) / 1000)
                }))
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        print(String(decoding: try e.encode(out), as: UTF8.self))
    }

    /// Each section's bands, then the end-to-end bands at one speed.
    func printText(_ doc: CorridorDocument, result: Optimised, bySpeed: [SpeedBands]) {
        func name(_ i: Int) -> String { "S\(doc.corridor.signals[i].id.rawValue)" }
        print(
            "section            \(pad(doc.increasingName, 12)) \(pad(doc.decreasingName, 12))  (bands, s; each section on its own, at its chosen speeds)"
        )
        for (range, sol) in result.sections {
            print(
                "\(pad("\(name(range.lowerBound))–\(name(range.upperBound - 1))", 18)) \(pad(fmt(sol.increasingBandMs), 12)) \(pad(fmt(sol.decreasingBandMs), 12))"
            )
        }
        print("end to end at one speed (bands, s):")
        for r in bySpeed {
            print("  \(pad("\(r.speed) km/h", 10)) \(pad(fmt(r.increasing), 8)) \(fmt(r.decreasing))")
        }
    }

    /// Writes a copy of the corridor file whose plan has `offsetsLine`, and checks it by loading it back.
    func writeCopy(to out: String, offsetsLine: String, offsetsMs: [Milliseconds]) throws {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw ValidationError("\(file): \(error)")
        }
        let updated = try withOffsets(text, plan: plan, line: offsetsLine)
        do { try updated.write(toFile: out, atomically: true, encoding: .utf8) } catch {
            throw ValidationError("\(out): \(error)")
        }
        let check: CorridorDocument
        do { check = try CorridorFile.load(path: out) } catch {
            throw ValidationError("the written file does not load: \(error)")
        }
        guard let written = check.corridor.plans.first(where: { $0.id.rawValue == plan }),
            written.signals.map(\.offsetMs) == offsetsMs
        else {
            throw ValidationError("\(out): the plan's offsets did not come back as written")
        }
        FileHandle.standardError.write(Data("wrote \(out) (plan \(plan) with offsets_s)\n".utf8))
    }

    /// `text` with the plan's `offsets_s` line replaced by `line` (or added after its `progression` line).
    func withOffsets(_ text: String, plan: String, line: String) throws -> String {
        var lines = text.components(separatedBy: "\n")
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "- name: \(plan)" })
        else {
            throw ValidationError(
                "\(file): cannot find the line '- name: \(plan)' to write the offsets under (the plan must be written in block style)"
            )
        }
        let dash =
            lines[start].firstIndex(of: "-").map { lines[start].distance(from: lines[start].startIndex, to: $0) } ?? 0
        let keyIndent = String(repeating: " ", count: dash + 2)
        var end = start + 1
        while end < lines.count {
            let l = lines[end]
            let indent = l.prefix { $0 == " " }.count
            if !l.trimmingCharacters(in: .whitespaces).isEmpty && !l.trimmingCharacters(in: .whitespaces).hasPrefix("#")
                && indent <= dash
            {
                break
            }
            end += 1
        }
        if let existing = (start + 1..<end).first(where: {
            lines[$0].trimmingCharacters(in: .whitespaces).hasPrefix("offsets_s:")
        }) {
            guard lines[existing].contains("{") && lines[existing].contains("}") else {
                throw ValidationError(
                    "\(file): the plan's offsets_s spans several lines; write it on one line to have it replaced")
            }
            lines[existing] = keyIndent + line + "   # greenwave corridor optimize"
        } else {
            let after =
                (start + 1..<end).last(where: {
                    lines[$0].trimmingCharacters(in: .whitespaces).hasPrefix("progression:")
                }) ?? (end - 1)
            lines.insert(keyIndent + line + "   # greenwave corridor optimize", at: after + 1)
        }
        return lines.joined(separator: "\n")
    }
}
