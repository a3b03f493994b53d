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
        let timeline = try CorridorTimeline(
            corridor: c, referenceEpochMs: doc.referenceEpochMs,
            baseline: Baseline(atMs: t0, plan: plan.id), events: [])
        let f = Layout(
            t0: t0, spanMs: spanMs, lengthMetres: length, firstPositionMetres: c.signals[0].positionMetres,
            signals: c.signals.count)
        var s = header(f)
        s += grid(f)
        // Green bands, under the signal bars.
        s += "<g clip-path=\"url(#plot)\">\n"
        s += bands(f, crossingMs: crossing)
        s += lampBars(f, timeline: timeline)
        s += "</g>\n"
        for sig in c.signals {
            let voter = doc.voters.contains(sig.id) ? " ★" : ""
            s +=
                "<text x=\"\(f.n(f.left - 8))\" y=\"\(f.n(f.y(sig.positionMetres) + 3))\" text-anchor=\"end\">\(sig.id). \(esc(sig.name)) \(sig.positionMetres) m\(voter)</text>\n"
        }
        s += legend(f)
        s += "</svg>\n"
        return s
    }

    /// Where things are drawn: the plot's margins and size, and times and positions as pixels.
    struct Layout {
        let t0: Milliseconds
        let spanMs: Milliseconds
        let lengthMetres: Int
        let firstPositionMetres: Int
        let left = 260.0
        let right = 30.0
        let top = 70.0
        let bottom = 60.0
        let plotW: Double
        let plotH: Double

        init(t0: Milliseconds, spanMs: Milliseconds, lengthMetres: Int, firstPositionMetres: Int, signals: Int) {
            self.t0 = t0
            self.spanMs = spanMs
            self.lengthMetres = lengthMetres
            self.firstPositionMetres = firstPositionMetres
            plotW = min(2_400.0, max(900.0, Double(spanMs) / 1_000.0 * 0.8))
            plotH = max(500.0, Double(signals) * 16.0)
        }

        var t1: Milliseconds { t0 + spanMs }
        var width: Double { left + plotW + right }
        var height: Double { top + plotH + bottom }
        func x(_ t: Milliseconds) -> Double { left + Double(t - t0) / Double(spanMs) * plotW }
        func y(_ metres: Int) -> Double {
            top + plotH - Double(metres - firstPositionMetres) / Double(lengthMetres) * plotH
        }
        func n(_ v: Double) -> String { String(format: "%.1f", v) }
    }

    /// The SVG element, the clip path of the plot, and the title lines.
    func header(_ f: Layout) -> String {
        let c = doc.corridor
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(f.n(f.width))" height="\(f.n(f.height))" viewBox="0 0 \(f.n(f.width)) \(f.n(f.height))" font-family="sans-serif" font-size="10">
            <rect width="100%" height="100%" fill="white"/>
            <defs><clipPath id="plot"><rect x="\(f.n(f.left))" y="\(f.n(f.top - 6))" width="\(f.n(f.plotW))" height="\(f.n(f.plotH + 12))"/></clipPath></defs>

            """
        let bandsText = Direction.allCases.map { d -> String in
            let b = c.bandwidth(plan: plan, direction: d)!
            return "\(doc.name(of: d)) \(fmt(b.widthMs)) s (\(b.efficiencyPercent) %)"
        }.joined(separator: ", ")
        s +=
            "<text x=\"\(f.n(f.left))\" y=\"24\" font-size=\"16\" font-weight=\"bold\">\(esc(c.name)): plan \(esc(plan.id.rawValue))</text>\n"
        s +=
            "<text x=\"\(f.n(f.left))\" y=\"44\" font-size=\"12\">cycle \(fmt(plan.cycleMs)) s, progression \(progression.speedKmh) km/h favouring \(doc.name(of: progression.favoured)); bandwidth \(esc(bandsText)). Offsets: start of coordinated green (NEMA TS2).</text>\n"
        return s
    }

    /// Cycle grid lines, labelled in seconds since the reference epoch.
    func grid(_ f: Layout) -> String {
        let cycle = plan.cycleMs
        var s = ""
        var g = f.t0
        while g <= f.t1 {
            s +=
                "<line x1=\"\(f.n(f.x(g)))\" y1=\"\(f.n(f.top))\" x2=\"\(f.n(f.x(g)))\" y2=\"\(f.n(f.top + f.plotH))\" stroke=\"#ddd\"/>\n"
            s +=
                "<text x=\"\(f.n(f.x(g)))\" y=\"\(f.n(f.top + f.plotH + 16))\" text-anchor=\"middle\" fill=\"#555\">\((g - f.t0) / 1_000)</text>\n"
            g += cycle * max(1, f.spanMs / cycle / 30)
        }
        s +=
            "<text x=\"\(f.n(f.left + f.plotW / 2))\" y=\"\(f.n(f.top + f.plotH + 40))\" text-anchor=\"middle\" fill=\"#333\">time since the reference epoch, s (grid: cycles)</text>\n"
        return s
    }

    /// Each direction's green band, one parallelogram per cycle.
    func bands(_ f: Layout, crossingMs crossing: Milliseconds) -> String {
        let c = doc.corridor
        let cycle = plan.cycleMs
        var s = ""
        let colours: [Direction: String] = [.increasing: "#2e8b57", .decreasing: "#1e6fd9"]
        for d in Direction.allCases {
            let b = c.bandwidth(plan: plan, direction: d)!
            guard b.widthMs > 0 else { continue }
            let firstPos =
                d == .increasing ? c.signals[0].positionMetres : c.signals[c.signals.count - 1].positionMetres
            let lastPos = d == .increasing ? c.signals[c.signals.count - 1].positionMetres : c.signals[0].positionMetres
            var front = f.t0 + b.startMs - ((b.startMs + crossing + cycle) / cycle) * cycle
            while front <= f.t1 {
                let pts = [
                    (front, firstPos), (front + b.widthMs, firstPos), (front + b.widthMs + crossing, lastPos),
                    (front + crossing, lastPos)
                ]
                s +=
                    "<polygon points=\"\(pts.map { "\(f.n(f.x($0.0))),\(f.n(f.y($0.1)))" }.joined(separator: " "))\" fill=\"\(colours[d]!)\" fill-opacity=\"0.22\" stroke=\"\(colours[d]!)\" stroke-opacity=\"0.6\" stroke-width=\"0.6\"/>\n"
                front += cycle
            }
        }
        return s
    }

    /// Each signal's coordinated-phase lamp over time.
    func lampBars(_ f: Layout, timeline: CorridorTimeline) -> String {
        var s = ""
        for (i, sig) in doc.corridor.signals.enumerated() {
            let k = plan.signals[i].coordinatedStage
            let through = sig.phases.firstIndex { $0.id == sig.stages[k].phases[0] }!
            let yy = f.y(sig.positionMetres)
            let changes = timeline.changes(of: sig.id, fromMs: f.t0, throughMs: f.t1)
            for (j, st) in changes.enumerated() {
                let end = j + 1 < changes.count ? changes[j + 1].atMs : f.t1
                let from = max(st.atMs, f.t0)
                guard end > from else { continue }
                let colour: String
                switch st.lamps[through] {
                case .green: colour = "#1a9c3a"
                case .yellow, .flashingYellow: colour = "#f2c200"
                default: colour = "#d22"
                }
                s +=
                    "<rect x=\"\(f.n(f.x(from)))\" y=\"\(f.n(yy - 3))\" width=\"\(f.n(f.x(end) - f.x(from)))\" height=\"6\" fill=\"\(colour)\"/>\n"
            }
        }
        return s
    }

    func legend(_ f: Layout) -> String {
        let ly = f.height - 14
        var s = ""
        s +=
            "<rect x=\"\(f.n(f.left))\" y=\"\(f.n(ly - 8))\" width=\"14\" height=\"8\" fill=\"#2e8b57\" fill-opacity=\"0.4\"/><text x=\"\(f.n(f.left + 18))\" y=\"\(f.n(ly))\">\(esc(doc.increasingName)) band</text>\n"
        s +=
            "<rect x=\"\(f.n(f.left + 130))\" y=\"\(f.n(ly - 8))\" width=\"14\" height=\"8\" fill=\"#1e6fd9\" fill-opacity=\"0.4\"/><text x=\"\(f.n(f.left + 148))\" y=\"\(f.n(ly))\">\(esc(doc.decreasingName)) band</text>\n"
        s +=
            "<text x=\"\(f.n(f.left + 270))\" y=\"\(f.n(ly))\">bars: arterial through lamp (green / yellow / red); ★ Raft voter; distance up</text>\n"
        return s
    }

    func esc(_ t: String) -> String {
        t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;")
    }
}
