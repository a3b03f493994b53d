import GreenwaveAPI
import SignalTiming

/// Model → screen, with nothing else consulted: the same model and size always give the same frame.
///
/// Layout, top to bottom:
/// 1. title bar: corridor, dashboard clock, controllers up, corridor-wide sync accuracy;
/// 2. cluster line: leader, term, commit index, mode in force and the pending one with its time;
/// 3. the corridor strip: each direction's main-road lamp at every signal in road order, one cell per
///    signal — the green wave as it moves;
/// 4. the signal table: one row per controller, in as many table columns as the width allows, paged
///    when it does not fit (`page` in the model); columns the width cannot hold are dropped, least
///    important first;
/// 5. the console: the followed mode change, the last messages, and the command line or key help.
public enum DashboardRenderer {
    public static func render(_ m: DashboardModel, width: Int, height: Int) -> Screen {
        let w = max(1, width)
        let h = max(1, height)
        var top: [ScreenLine] = [titleLine(m, w), clusterLine(m)]
        if h >= 14 { top += stripLines(m, w) }
        var bottom: [ScreenLine] = []
        // Console history: two lines on a normal terminal, more when the table leaves rows spare.
        let spare = h - top.count - 2 - (m.controllers.count + 1)
        let messageRows = max(h >= 20 ? 2 : (h >= 10 ? 1 : 0), min(6, spare - 1))
        if let wl = watchLine(m) { bottom.append(wl) }
        let recent = m.messages.suffix(max(0, messageRows - bottom.count))
        for msg in recent { bottom.append(messageLine(msg)) }
        var tableRows = h - top.count - bottom.count - 1 - 1 // header and the command line
        if tableRows < 1 {
            // Very short terminal: keep the title, the table header and a row, and the command line.
            top = Array(top.prefix(max(0, h - 3)))
            bottom = []
            tableRows = max(0, h - top.count - 2)
        }
        let table = tableLines(m, width: w, rows: tableRows)
        var lines = top + table.lines + bottom
        lines.append(commandLine(m, page: table.page, pages: table.pages))
        lines = Array(lines.prefix(h))
        while lines.count < h { lines.append(ScreenLine()) }
        return Screen(width: w, height: h, lines: lines.map { $0.clipped(to: w) })
    }

    // MARK: - Header

    static let inverse = TextStyle(inverse: true)
    static let bold = TextStyle(bold: true)
    static let dim = TextStyle(dim: true)
    static let alarm = TextStyle(fg: .red, bold: true)

    /// The title bar. The figures come first in importance; the corridor name takes what width is left.
    static func titleLine(_ m: DashboardModel, _ w: Int) -> ScreenLine {
        let up = m.reachableCount
        let upSpan = Span(
            " \(up)/\(m.controllers.count) up ",
            up == m.controllers.count ? inverse : TextStyle(fg: .red, bold: true, inverse: true))
        let syncSpan: Span
        if let acc = m.syncAccuracy {
            syncSpan = Span(
                " sync \(percent(acc)) of \(m.switchesSeen) checks ",
                acc >= 0.999 ? inverse : TextStyle(fg: .yellow, bold: true, inverse: true))
        } else {
            syncSpan = Span(" sync – ", inverse)
        }
        let brand = Span(" GREENWAVE ", TextStyle(bold: true, inverse: true))
        let clockSpan = Span(" \(clock(m.nowMs)) UTC ", inverse)
        let fixed = [brand, clockSpan, upSpan, syncSpan].reduce(0) { $0 + $1.text.count }
        let room = w - fixed - 2
        var l = ScreenLine([brand])
        if room >= 8 {
            let name = m.corridorName.count <= room ? m.corridorName : String(m.corridorName.prefix(room - 1)) + "…"
            l.add(" \(name) ", inverse)
        }
        l.spans += [clockSpan, upSpan, syncSpan]
        return l.padded(to: w, inverse)
    }

    static func clusterLine(_ m: DashboardModel) -> ScreenLine {
        var l = ScreenLine()
        guard let leader = m.leader, let s = leader.status else {
            l.add("NO LEADER", alarm)
            l.add(" · the corridor cannot commit commands; signals keep their last committed plan")
            return l
        }

        l.add("leader ")
        l.add("S\(pad2(s.signal))", bold)
        l.add(" · term \(s.term) · commit \(s.commitIndex) · mode ")
        l.add(s.mode, bold)
        // Which is in force: the time-of-day schedule, or an operator's override and until when.
        if let src = s.modeSource, src != "baseline" {
            l.add(" (")
            l.add(
                src == "override" ? "override" : "schedule",
                TextStyle(fg: src == "override" ? .yellow : .green, bold: true))
            if src == "override", let u = s.modeUntilMs { l.add(" until \(clock(u, tenths: false))") }
            l.add(")")
        }
        if let p = s.pendingMode, let at = s.pendingModeAtMs {
            l.add(" → ")
            l.add(p, TextStyle(fg: .cyan, bold: true))
            l.add(" at \(clock(at, tenths: false))")
            let left = at - m.nowMs
            if left > 0 { l.add(" (in \(duration(left)))") }
        }
        if let who = m.signedIn {
            l.add(" · signed in: ")
            l.add(who, bold)
        }
        return l
    }

    static func stripLines(_ m: DashboardModel, _ w: Int) -> [ScreenLine] {
        var out: [ScreenLine] = []
        let labelWidth = min(13, max(4, w - m.controllers.count - 1))
        for (name, phase, arrow) in [
            (m.increasingName, m.increasingPhase, "▸"), (m.decreasingName, m.decreasingPhase, "◂")
        ] {
            var l = ScreenLine()
            let label = String(name.prefix(labelWidth - 2))
            l.add(label + String(repeating: " ", count: max(0, labelWidth - 2 - label.count)) + arrow + " ", dim)
            for c in m.controllers {
                if c.unreachable {
                    l.add("×", alarm)
                } else if let p = phase, let lamp = c.lamps?.lamps["\(p)"] {
                    let (ch, st) = lampCell(lamp)
                    l.add(ch, st)
                } else {
                    l.add("·", dim)
                }
            }
            out.append(l)
        }
        return out
    }

    // MARK: - Signal table

    /// A table column: a header, a width, a priority (lower survives longer), and how to fill it.
    struct Column {
        var header: String
        var width: Int
        var priority: Int
        var rightAligned = false
        var isLamps = false
        var cell: (DashboardModel, DashboardModel.Controller) -> Span
    }

    static func columns(_ m: DashboardModel) -> [Column] {
        let lampWidth = max(1, m.phases.map { "\($0.id)".count }.reduce(0, +) + m.phases.count - 1)
        return [
            Column(header: "sig", width: 3, priority: 0) { _, c in Span("S\(pad2(c.signal))", bold) },
            Column(header: "name", width: 18, priority: 7) { _, c in Span(String(c.name.prefix(18))) },
            // Header: the phase ids over their lamps.
            Column(
                header: m.phases.map { "\($0.id)" }.joined(separator: " "), width: lampWidth, priority: 0, isLamps: true
            ) { _, _ in Span("") },
            Column(header: "interval", width: 8, priority: 6) { _, c in Span(intervalName(c.lamps?.interval)) },
            Column(header: "left", width: 5, priority: 1, rightAligned: true) { m, c in
                Span(m.timeLeftMs(of: c).map { tenthsText($0) } ?? "")
            },
            Column(header: "state", width: 7, priority: 1) { _, c in stateSpan(c) },
            Column(header: "plan", width: 10, priority: 2) { _, c in Span(String((c.lamps?.plan ?? "").prefix(10))) },
            Column(header: "role", width: 7, priority: 3) { _, c in roleSpan(c) },
            Column(header: "applied", width: 7, priority: 5, rightAligned: true) { _, c in
                Span(c.status.map { "\($0.appliedIndex)" } ?? "")
            },
            Column(header: "lag", width: 4, priority: 2, rightAligned: true) { m, c in
                guard let lag = m.lag(of: c) else { return Span("") }
                return Span("\(lag)", lag > 10 ? TextStyle(fg: .yellow, bold: true) : .plain)
            },
            Column(header: "hash", width: 4, priority: 1) { _, c in
                switch c.agrees {
                case true?: return Span("same", TextStyle(fg: .green))
                case false?: return Span("DIFF", TextStyle(fg: .red, bold: true, inverse: true))
                case nil: return Span("…", dim)
                }
            },
            Column(header: "skew", width: 8, priority: 4, rightAligned: true) { m, c in
                guard let s = c.phaseSkewMs else { return Span("") }
                return Span(signedMs(s), abs(s) <= m.syncToleranceMs ? .plain : TextStyle(fg: .yellow, bold: true))
            },
            // Corridor time (docs/corridor-time.md): this controller's clock offset to it; '!' and red when
            // the clock alarm is raised, '?' while corridor time is not known.
            Column(header: "clock", width: 7, priority: 4, rightAligned: true) { _, c in clockSpan(c) },
            Column(header: "delay", width: 6, priority: 5, rightAligned: true) { m, c in
                guard let s = c.switchDelayMs else { return Span("") }
                return Span(signedMs(s), abs(s) <= m.syncToleranceMs ? .plain : TextStyle(fg: .yellow, bold: true))
            }
        ]
    }

    static func clockSpan(_ c: DashboardModel.Controller) -> Span {
        guard let k = c.status?.clock else { return Span("") }
        guard k.synced else { return Span("?", TextStyle(fg: .yellow, bold: true)) }
        // The controller's clock minus corridor time, the way an operator thinks of a wrong clock.
        let off = -k.offsetMs
        guard off.isFinite else { return Span("?", TextStyle(fg: .yellow, bold: true)) }
        let a = abs(off)
        let sign = off < 0 ? "-" : "+"
        func tenths(_ v: Double) -> String {
            let t = Int((v * 10).rounded())
            return "\(t / 10).\(t % 10)"
        }
        let text: String
        if a < 9.95 {
            text = sign + tenths(a) + "ms"
        } else if a < 999.5 {
            text = sign + "\(Int(a.rounded()))ms"
        } else if a < 99_950 {
            text = sign + tenths(a / 1000) + "s"
        } else {
            text = sign + ">99s"
        }
        return k.alarm ? Span(text + "!", alarm) : Span(text)
    }

    /// The columns that fit in `width`, dropping the least important first.
    static func fitting(_ cols: [Column], width: Int) -> [Column] {
        var keep = cols
        func total(_ cs: [Column]) -> Int { cs.reduce(0) { $0 + $1.width } + max(0, cs.count - 1) }
        while total(keep) > width, let worst = keep.map(\.priority).max(), worst > 0 {
            if let i = keep.lastIndex(where: { $0.priority == worst }) { keep.remove(at: i) }
        }
        return keep
    }

    static func tableLines(_ m: DashboardModel, width: Int, rows: Int) -> (lines: [ScreenLine], page: Int, pages: Int) {
        guard rows >= 1 else { return ([], 0, 1) }
        let all = columns(m)
        let n = m.controllers.count
        let bodyRows = max(1, rows - 1)
        // Choose how many table columns: the fewest that show every signal on one page while keeping the
        // important columns; else as many as keep them (fewest pages).
        var choice = (k: 1, cols: fitting(all, width: width))
        for k in 1...4 {
            let colWidth = (width - 3 * (k - 1)) / k
            let cols = fitting(all, width: colWidth)
            let rowWidth = cols.reduce(0) { $0 + $1.width } + max(0, cols.count - 1)
            guard rowWidth <= colWidth, cols.contains(where: { $0.header == "plan" }) else { break }
            choice = (k, cols)
            if bodyRows * k >= n { break }
        }
        let perPage = bodyRows * choice.k
        let pages = max(1, (n + perPage - 1) / perPage)
        let page = min(max(0, m.page), pages - 1)
        let slice = Array(m.controllers.dropFirst(page * perPage).prefix(perPage))
        let cols = choice.cols
        let rowWidth = cols.reduce(0) { $0 + $1.width } + max(0, cols.count - 1)

        var header = ScreenLine()
        for k in 0..<choice.k {
            if k > 0 { header.add(" │ ", dim) }
            var h = ScreenLine()
            for (i, c) in cols.enumerated() {
                if i > 0 { h.add(" ") }
                h.add(align(String(c.header.prefix(c.width)), c.width, right: c.rightAligned), TextStyle(bold: true))
            }
            header.spans += h.padded(to: rowWidth).spans
        }
        var lines = [header]
        for r in 0..<bodyRows {
            var line = ScreenLine()
            for k in 0..<choice.k {
                let idx = k * bodyRows + r
                if k > 0 { line.add(" │ ", dim) }
                guard idx < slice.count else {
                    line.add(String(repeating: " ", count: rowWidth))
                    continue
                }
                line.spans += row(m, slice[idx], cols).padded(to: rowWidth).spans
            }
            lines.append(line)
        }
        return (lines, page, pages)
    }

    static func row(_ m: DashboardModel, _ c: DashboardModel.Controller, _ cols: [Column]) -> ScreenLine {
        var l = ScreenLine()
        if c.unreachable {
            l.add("S\(pad2(c.signal))", alarm)
            l.add(" ")
            var text = "UNREACHABLE"
            if let since = c.unreachableSinceMs { text += " for \(duration(max(0, m.nowMs - since)))" }
            text += " at \(c.api)"
            l.add(text, TextStyle(fg: .red, bold: true))
            return l
        }
        for (i, col) in cols.enumerated() {
            if i > 0 { l.add(" ") }
            if col.isLamps {
                for (j, p) in m.phases.enumerated() {
                    if j > 0 { l.add(" ") }
                    if let lamp = c.lamps?.lamps["\(p.id)"] {
                        let (ch, st) = lampCell(lamp)
                        l.add(ch, st)
                    } else {
                        l.add("·", dim)
                    }
                    let extra = "\(p.id)".count - 1
                    if extra > 0 { l.add(String(repeating: " ", count: extra)) }
                }
                continue
            }
            let s = col.cell(m, c)
            l.add(align(String(s.text.prefix(col.width)), col.width, right: col.rightAligned), s.style)
        }
        return l
    }

    static func stateSpan(_ c: DashboardModel.Controller) -> Span {
        if c.lamps?.monitorFault != nil { return Span("FAULT", TextStyle(fg: .red, bold: true, inverse: true)) }
        guard let mode = c.lamps?.mode else { return Span("–", dim) }
        switch mode {
        case "coordinated": return Span("coord")
        case "transitioning": return Span("TRANS", TextStyle(fg: .cyan, bold: true))
        case "hold": return Span("HELD", TextStyle(fg: .magenta, bold: true))
        case "preemptEntry", "preemptDwell", "preemptExit": return Span("PREEMPT", TextStyle(fg: .blue, bold: true))
        case "flash": return Span("FLASH", TextStyle(fg: .yellow, bold: true))
        default: return Span(mode)
        }
    }

    static func roleSpan(_ c: DashboardModel.Controller) -> Span {
        guard let s = c.status else { return Span("?", dim) }
        if s.halted != nil || s.health == "failed" { return Span("FAILED", TextStyle(fg: .red, bold: true)) }
        switch s.role {
        case "leader": return Span("leader", TextStyle(fg: .green, bold: true))
        case "candidate", "pre-candidate": return Span("cand.", TextStyle(fg: .yellow))
        default: return Span(s.voter ? "voter" : "learner", s.voter ? .plain : dim)
        }
    }

    /// A lamp as one coloured cell: G green, Y yellow, R red, lower case when flashing, - dark.
    /// A name that is no lamp's (`lamp(named:)`, the wire's one table) is "?".
    static func lampCell(_ name: String) -> (String, TextStyle) {
        switch lamp(named: name) {
        case .green: return ("G", TextStyle(fg: .black, bg: .green, bold: true))
        case .yellow: return ("Y", TextStyle(fg: .black, bg: .yellow, bold: true))
        case .red: return ("R", TextStyle(fg: .white, bg: .red, bold: true))
        case .flashingYellow: return ("y", TextStyle(fg: .yellow, bold: true))
        case .flashingRed: return ("r", TextStyle(fg: .red, bold: true))
        case .dark: return ("-", dim)
        case nil: return ("?", dim)
        }
    }

    static func intervalName(_ i: String?) -> String {
        switch i {
        case "minGreen": return "min grn"
        case "extension": return "ext grn"
        case "greenRest": return "grn rest"
        case "yellow": return "yellow"
        case "redClear": return "all-red"
        case "redRest": return "red rest"
        case "flash": return "flash"
        case let v?: return v
        case nil: return ""
        }
    }

    // MARK: - Console

    /// The followed mode change: every replica's input changes at the announced boundary; each signal
    /// adopts the plan at its own next coordinated-green start (no green is cut short).
    static func watchLine(_ m: DashboardModel) -> ScreenLine? {
        guard let w = m.watch, let p = m.watchProgress else { return nil }
        var l = ScreenLine()
        let done = p.done == p.total
        l.add("mode \(w.plan) (#\(w.index)) ", bold)
        if m.nowMs < w.effectiveAtMs {
            l.add("takes effect \(clock(w.effectiveAtMs, tenths: false)) (in \(duration(w.effectiveAtMs - m.nowMs)))")
            l.add(" · each signal adopts it at its next coordinated green", dim)
        } else {
            l.add("effective \(clock(w.effectiveAtMs, tenths: false)) · ")
            l.add(
                "running on \(p.done)/\(p.total) signals",
                done ? TextStyle(fg: .green, bold: true) : TextStyle(fg: .yellow, bold: true))
            if let f = p.firstMs, let last = p.lastMs {
                l.add(" (adopted \(clock(f, tenths: false))–\(clock(last, tenths: false)))", dim)
            }
        }
        return l
    }

    static func messageLine(_ msg: DashboardModel.Message) -> ScreenLine {
        var l = ScreenLine()
        switch msg.kind {
        case .info: l.add(msg.text, dim)
        case .ok: l.add(msg.text, TextStyle(fg: .green))
        case .error: l.add(msg.text, TextStyle(fg: .red, bold: true))
        }
        return l
    }

    static func commandLine(_ m: DashboardModel, page: Int, pages: Int) -> ScreenLine {
        var l = ScreenLine()
        if let input = m.input {
            l.add(":", bold)
            l.add(input)
            l.add(" ", inverse) // the cursor
            l.add("   Enter submits · Esc cancels", dim)
        } else {
            l.add(":", bold)
            l.add(" command", dim)
            if pages > 1 { l.add("  [ ] page \(page + 1)/\(pages)", bold) }
            l.add(
                "  q quit  ·  mode PLAN · hold S12 · release S12 · flash [S12] · unflash [S12] · preempt S05-S11 DIR · cancel N",
                dim)
        }
        return l
    }

    // MARK: - Formatting

    static func pad2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    static func align(_ s: String, _ n: Int, right: Bool) -> String {
        let pad = String(repeating: " ", count: max(0, n - s.count))
        return right ? pad + s : s + pad
    }

    /// HH:MM:SS(.t) UTC from epoch ms.
    static func clock(_ ms: Int64, tenths: Bool = true) -> String {
        let dayMs = ((ms % 86_400_000) + 86_400_000) % 86_400_000
        let h = dayMs / 3_600_000
        let mi = (dayMs / 60_000) % 60
        let s = (dayMs / 1000) % 60
        let t = (dayMs / 100) % 10
        let base = "\(pad2(Int(h))):\(pad2(Int(mi))):\(pad2(Int(s)))"
        return tenths ? base + ".\(t)" : base
    }

    /// 1:53, 12 s, 2:03:04.
    static func duration(_ ms: Int64) -> String {
        let s = (ms + 999) / 1000
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60):\(pad2(Int(s % 60)))" }
        return "\(s / 3600):\(pad2(Int((s / 60) % 60))):\(pad2(Int(s % 60)))"
    }

    static func tenthsText(_ ms: Int64) -> String {
        let t = ms / 100
        return "\(t / 10).\(t % 10)"
    }

    static func signedMs(_ ms: Int64) -> String { (ms >= 0 ? "+" : "") + "\(ms)ms" }

    static func percent(_ x: Double) -> String {
        let hundredths = Int((x * 10000).rounded(.down))
        return "\(hundredths / 100).\(pad2(hundredths % 100))%"
    }
}
