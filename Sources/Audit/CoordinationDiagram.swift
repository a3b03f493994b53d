import Foundation
import SignalTiming

/// The Purdue coordination diagram of one phase as an SVG document: x the time of day (UTC), y the time in
/// the cycle (the red-to-red cycle: 0 is the start of red); per cycle a red, a green and a yellow band, and
/// each arrival a dot at its time of day and its time in its cycle.
public enum CoordinationDiagram {
    static let width = 1200.0
    static let height = 560.0
    static let left = 64.0
    static let right = 24.0
    static let top = 56.0
    static let bottom = 52.0

    /// `title` is plain text (escaped here); `note` a second line under it.
    public static func svg(title: String, note: String, cycles: [ArrivalCycle], fromMs: Int64, toMs: Int64) -> String {
        let x0 = min(cycles.first?.startMs ?? fromMs, fromMs)
        let x1 = max(cycles.last?.endMs ?? toMs, toMs, x0 + 1)
        let longest = cycles.map(\.cycleMs).max() ?? 60_000
        let yStep = niceStep(longest, candidates: [10_000, 20_000, 30_000, 60_000, 120_000, 300_000], maxTicks: 12)
        let yMax = max(yStep, (longest + yStep - 1) / yStep * yStep)
        let w = width - left - right
        let h = height - top - bottom
        func x(_ t: Int64) -> Double { left + Double(t - x0) / Double(x1 - x0) * w }
        func y(_ d: Int64) -> Double { top + h - Double(d) / Double(yMax) * h }
        var out = [
            #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(f(width))" height="\#(f(height))" viewBox="0 0 \#(f(width)) \#(f(height))" font-family="sans-serif" font-size="12">"#,
            #"<rect x="0" y="0" width="\#(f(width))" height="\#(f(height))" fill="white"/>"#,
            #"<text x="\#(f(left))" y="22" font-size="15" font-weight="bold">\#(escaped(title))</text>"#,
            ##"<text x="\##(f(left))" y="40" fill="#444">\##(escaped(note))</text>"##
        ]
        out.append(#"<g id="cycles" stroke="none">"#)
        for c in cycles {
            let cx = x(c.startMs)
            let cw = max(0.5, x(c.endMs) - cx)
            func band(_ from: Int64, _ to: Int64, _ colour: String, _ name: String) {
                guard to > from else { return }
                out.append(
                    #"<rect class="\#(name)" x="\#(f(cx))" y="\#(f(y(to)))" width="\#(f(cw))" height="\#(f(y(from) - y(to)))" fill="\#(colour)"/>"#
                )
            }
            band(0, c.greenStartMs - c.startMs, "#f2b8b5", "red")
            band(c.greenStartMs - c.startMs, c.yellowStartMs - c.startMs, "#8fd18f", "green")
            band(c.yellowStartMs - c.startMs, c.cycleMs, "#f5e17a", "yellow")
        }
        out.append("</g>")
        out.append(#"<g id="arrivals" fill="black">"#)
        for c in cycles {
            for a in c.arrivals {
                out.append(#"<circle cx="\#(f(x(a)))" cy="\#(f(y(a - c.startMs)))" r="1.6"/>"#)
            }
        }
        out.append("</g>")
        out += axes(x0: x0, x1: x1, yMax: yMax, yStep: yStep, x: x, y: y)
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    static func axes(
        x0: Int64, x1: Int64, yMax: Int64, yStep: Int64, x: (Int64) -> Double, y: (Int64) -> Double
    ) -> [String] {
        var out = [##"<g id="axes" stroke="#333" fill="#333">"##]
        let base = height - bottom
        out.append(#"<line x1="\#(f(left))" y1="\#(f(base))" x2="\#(f(width - right))" y2="\#(f(base))"/>"#)
        out.append(#"<line x1="\#(f(left))" y1="\#(f(top))" x2="\#(f(left))" y2="\#(f(base))"/>"#)
        let minute: Int64 = 60_000
        let xStep = niceStep(
            x1 - x0, candidates: [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440].map { $0 * minute }, maxTicks: 12)
        var t = (x0 + xStep - 1) / xStep * xStep
        while t <= x1 {
            out.append(#"<line x1="\#(f(x(t)))" y1="\#(f(base))" x2="\#(f(x(t)))" y2="\#(f(base + 5))"/>"#)
            let hhmm = String(AuditTime.iso(t).dropFirst(11).prefix(5))
            out.append(
                #"<text x="\#(f(x(t)))" y="\#(f(base + 19))" text-anchor="middle" stroke="none">\#(hhmm)</text>"#)
            t += xStep
        }
        var d: Int64 = 0
        while d <= yMax {
            out.append(#"<line x1="\#(f(left - 5))" y1="\#(f(y(d)))" x2="\#(f(left))" y2="\#(f(y(d)))"/>"#)
            out.append(
                #"<text x="\#(f(left - 8))" y="\#(f(y(d) + 4))" text-anchor="end" stroke="none">\#(d / 1000)</text>"#)
            d += yStep
        }
        out.append(
            #"<text x="\#(f(left + (width - left - right) / 2))" y="\#(f(height - 10))" text-anchor="middle" stroke="none">time of day (UTC)</text>"#
        )
        out.append(
            #"<text transform="translate(16 \#(f(top + (height - top - bottom) / 2))) rotate(-90)" text-anchor="middle" stroke="none">time in cycle (s, from the start of red)</text>"#
        )
        out.append("</g>")
        return out
    }

    /// The smallest candidate step that gives at most `maxTicks` ticks over `span` (the largest otherwise).
    static func niceStep(_ span: Int64, candidates: [Int64], maxTicks: Int64) -> Int64 {
        candidates.first { span / $0 <= maxTicks } ?? candidates.last!
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    /// Text for an SVG element's content or an attribute value.
    static func escaped(_ s: String) -> String {
        var out = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            // Not allowed in XML 1.0 at all: dropped.
            case _ where ch.value < 0x20 && ch != "\t" && ch != "\n": continue
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
