import ArgumentParser
import CorridorFile
import Foundation
import SignalTiming

/// `greenwave corridor diagram FILE --plan NAME --out FILE.svg`
struct CorridorDiagramCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagram",
        abstract: "Draw a plan's time-space diagram as SVG: distance up, time across, greens and reds, green bands.",
        discussion:
            "Lamps come from the timing model itself (the coordinated stage of each signal); bands from the plan's offsets at its progression speed."
    )

    @Argument(help: "The corridor YAML file.")
    var file: String

    @Option(help: "The plan to draw.")
    var plan: String

    @Option(help: "Where to write the SVG.")
    var out: String

    @Option(
        help: "Seconds of time to draw (default: the corridor's travel time at the progression speed plus two cycles).")
    var seconds: Int?

    func validate() throws {
        if let s = seconds, !(30...20_000).contains(s) { throw ValidationError("--seconds must be within 30...20000") }
    }

    func run() throws {
        let doc = try loadCorridorOrExit(file)
        let c = doc.corridor
        guard let p = c.plan(PlanID(plan)) else {
            throw ValidationError(
                "no plan '\(plan)' in \(file) (plans: \(c.plans.map(\.id.rawValue).joined(separator: ", ")))")
        }
        guard !p.isFlash, let prog = p.progression else {
            throw ValidationError("plan '\(plan)' is flash: there is no cycle to draw")
        }
        let svg = try TimeSpaceDiagram(doc: doc, plan: p, progression: prog, seconds: seconds).render()
        try svg.write(toFile: out, atomically: true, encoding: .utf8)
        let bands = Direction.allCases.map { d in
            "\(doc.name(of: d)) \(fmt(c.bandwidth(plan: p, direction: d)!.widthMs)) s"
        }
        print("wrote \(out): plan \(p.id), cycle \(fmt(p.cycleMs)) s, bands \(bands.joined(separator: ", "))")
    }
}

/// The SVG drawing. Integer arithmetic for times; pixel coordinates are computed at the edge.
struct TimeSpaceDiagram {
    let doc: CorridorDocument
    let plan: TimingPlan
    let progression: Progression
    let seconds: Int?

    func render() throws -> String {
        let c = doc.corridor
        let cycle = plan.cycleMs
        let length = max(1, c.lengthMetres)
        let crossing = travelMs(metres: length, speedKmh: progression.speedKmh)
        let spanMs = Milliseconds(seconds ?? 0) * 1_000 > 0 ? Milliseconds(seconds!) * 1_000 : crossing + 2 * cycle
        let t0 = doc.referenceEpochMs // diagram time 0 = the reference epoch (a cycle boundary)
        let t1 = t0 + spanMs
        let timeline = try CorridorTimeline(
            corridor: c, referenceEpochMs: doc.referenceEpochMs,
            baseline: Baseline(atMs: t0, plan: plan.id), events: [])
        // Layout.
        let left = 260.0
        let right = 30.0
        let top = 70.0
        let bottom = 60.0
        let plotW = min(2_400.0, max(900.0, Double(spanMs) / 1_000.0 * 0.8))
        let plotH = max(500.0, Double(c.signals.count) * 16.0)
        let width = left + plotW + right
        let height = top + plotH + bottom
        func x(_ t: Milliseconds) -> Double { left + Double(t - t0) / Double(spanMs) * plotW }
        func y(_ metres: Int) -> Double {
            top + plotH - Double(metres - c.signals[0].positionMetres) / Double(length) * plotH
        }
        func n(_ v: Double) -> String { String(format: "%.1f", v) }

        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(n(width))" height="\(n(height))" viewBox="0 0 \(n(width)) \(n(height))" font-family="sans-serif" font-size="10">
            <rect width="100%" height="100%" fill="white"/>
            <defs><clipPath id="plot"><rect x="\(n(left))" y="\(n(top - 6))" width="\(n(plotW))" height="\(n(plotH + 12))"/></clipPath></defs>

            """
        let bandsText = Direction.allCases.map { d -> String in
            let b = c.bandwidth(plan: plan, direction: d)!
            return "\(doc.name(of: d)) \(fmt(b.widthMs)) s (\(b.efficiencyPercent) %)"
        }.joined(separator: ", ")
        s +=
            "<text x=\"\(n(left))\" y=\"24\" font-size=\"16\" font-weight=\"bold\">\(esc(c.name)): plan \(esc(plan.id.rawValue))</text>\n"
        s +=
            "<text x=\"\(n(left))\" y=\"44\" font-size=\"12\">cycle \(fmt(cycle)) s, progression \(progression.speedKmh) km/h favouring \(doc.name(of: progression.favoured)); bandwidth \(esc(bandsText)). Offsets: start of coordinated green (NEMA TS2).</text>\n"
        // Cycle grid lines.
        var g = t0
        while g <= t1 {
            s +=
                "<line x1=\"\(n(x(g)))\" y1=\"\(n(top))\" x2=\"\(n(x(g)))\" y2=\"\(n(top + plotH))\" stroke=\"#ddd\"/>\n"
            s +=
                "<text x=\"\(n(x(g)))\" y=\"\(n(top + plotH + 16))\" text-anchor=\"middle\" fill=\"#555\">\((g - t0) / 1_000)</text>\n"
            g += cycle * max(1, spanMs / cycle / 30)
        }
        s +=
            "<text x=\"\(n(left + plotW / 2))\" y=\"\(n(top + plotH + 40))\" text-anchor=\"middle\" fill=\"#333\">time since the reference epoch, s (grid: cycles)</text>\n"
        // Green bands, under the signal bars.
        s += "<g clip-path=\"url(#plot)\">\n"
        let colours: [Direction: String] = [.increasing: "#2e8b57", .decreasing: "#1e6fd9"]
        for d in Direction.allCases {
            let b = c.bandwidth(plan: plan, direction: d)!
            guard b.widthMs > 0 else { continue }
            let firstPos =
                d == .increasing ? c.signals[0].positionMetres : c.signals[c.signals.count - 1].positionMetres
            let lastPos = d == .increasing ? c.signals[c.signals.count - 1].positionMetres : c.signals[0].positionMetres
            var front = t0 + b.startMs - crossing - cycle
            front = t0 + b.startMs - ((b.startMs + crossing + cycle) / cycle) * cycle
            while front <= t1 {
                let pts = [
                    (front, firstPos), (front + b.widthMs, firstPos), (front + b.widthMs + crossing, lastPos),
                    (front + crossing, lastPos)
                ]
                s +=
                    "<polygon points=\"\(pts.map { "\(n(x($0.0))),\(n(y($0.1)))" }.joined(separator: " "))\" fill=\"\(colours[d]!)\" fill-opacity=\"0.22\" stroke=\"\(colours[d]!)\" stroke-opacity=\"0.6\" stroke-width=\"0.6\"/>\n"
                front += cycle
            }
        }
        // Each signal's coordinated-phase lamp over time.
        for (i, sig) in c.signals.enumerated() {
            let k = plan.signals[i].coordinatedStage
            let through = sig.phases.firstIndex { $0.id == sig.stages[k].phases[0] }!
            let yy = y(sig.positionMetres)
            let changes = timeline.changes(of: sig.id, fromMs: t0, throughMs: t1)
            for (j, st) in changes.enumerated() {
                let end = j + 1 < changes.count ? changes[j + 1].atMs : t1
                let from = max(st.atMs, t0)
                guard end > from else { continue }
                let colour: String
                switch st.lamps[through] {
                case .green: colour = "#1a9c3a"
                case .yellow, .flashingYellow: colour = "#f2c200"
                default: colour = "#d22"
                }
                s +=
                    "<rect x=\"\(n(x(from)))\" y=\"\(n(yy - 3))\" width=\"\(n(x(end) - x(from)))\" height=\"6\" fill=\"\(colour)\"/>\n"
            }
        }
        s += "</g>\n"
        for sig in c.signals {
            let voter = doc.voters.contains(sig.id) ? " ★" : ""
            s +=
                "<text x=\"\(n(left - 8))\" y=\"\(n(y(sig.positionMetres) + 3))\" text-anchor=\"end\">\(sig.id). \(esc(sig.name)) \(sig.positionMetres) m\(voter)</text>\n"
        }
        // Legend.
        let ly = height - 14
        s +=
            "<rect x=\"\(n(left))\" y=\"\(n(ly - 8))\" width=\"14\" height=\"8\" fill=\"#2e8b57\" fill-opacity=\"0.4\"/><text x=\"\(n(left + 18))\" y=\"\(n(ly))\">\(esc(doc.increasingName)) band</text>\n"
        s +=
            "<rect x=\"\(n(left + 130))\" y=\"\(n(ly - 8))\" width=\"14\" height=\"8\" fill=\"#1e6fd9\" fill-opacity=\"0.4\"/><text x=\"\(n(left + 148))\" y=\"\(n(ly))\">\(esc(doc.decreasingName)) band</text>\n"
        s +=
            "<text x=\"\(n(left + 270))\" y=\"\(n(ly))\">bars: arterial through lamp (green / yellow / red); ★ Raft voter; distance up</text>\n"
        s += "</svg>\n"
        return s
    }

    func esc(_ t: String) -> String {
        t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;")
    }
}
