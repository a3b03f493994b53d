/// Terminal text with styles, measured in cells. Every character the renderer emits is one cell wide
/// (ASCII plus a few box and arrow characters), so a line's width is its character count.
public enum TermColor: Int, Sendable, Equatable {
    case black = 0
    case red, green, yellow, blue, magenta, cyan, white
}

public struct TextStyle: Sendable, Equatable {
    public var fg: TermColor?
    public var bg: TermColor?
    public var bold = false
    public var dim = false
    public var inverse = false

    public init(
        fg: TermColor? = nil, bg: TermColor? = nil, bold: Bool = false, dim: Bool = false, inverse: Bool = false
    ) {
        self.fg = fg
        self.bg = bg
        self.bold = bold
        self.dim = dim
        self.inverse = inverse
    }

    public static let plain = TextStyle()

    /// The SGR sequence that sets this style from a reset.
    var sgr: String {
        var codes: [String] = []
        if bold { codes.append("1") }
        if dim { codes.append("2") }
        if inverse { codes.append("7") }
        if let fg { codes.append("\(30 + fg.rawValue)") }
        if let bg { codes.append("\(40 + bg.rawValue)") }
        return codes.isEmpty ? "" : "\u{1B}[" + codes.joined(separator: ";") + "m"
    }
}

public struct Span: Sendable, Equatable {
    public var text: String
    public var style: TextStyle
    public init(_ text: String, _ style: TextStyle = .plain) {
        self.text = text
        self.style = style
    }
}

/// One screen line: styled spans.
public struct ScreenLine: Sendable, Equatable {
    public var spans: [Span] = []

    public init(_ spans: [Span] = []) { self.spans = spans }

    public var width: Int { spans.reduce(0) { $0 + $1.text.count } }
    public var plain: String { spans.map(\.text).joined() }

    public mutating func add(_ text: String, _ style: TextStyle = .plain) { spans.append(Span(text, style)) }

    /// Cut to at most `n` cells.
    public func clipped(to n: Int) -> ScreenLine {
        var out = ScreenLine()
        var left = max(0, n)
        for s in spans where left > 0 {
            if s.text.count <= left {
                out.spans.append(s)
                left -= s.text.count
            } else {
                out.spans.append(Span(String(s.text.prefix(left)), s.style))
                left = 0
            }
        }
        return out
    }

    /// Padded with plain spaces (or the given style) to exactly `n` cells, clipping if longer.
    public func padded(to n: Int, _ style: TextStyle = .plain) -> ScreenLine {
        var out = clipped(to: n)
        let w = out.width
        if w < n { out.spans.append(Span(String(repeating: " ", count: n - w), style)) }
        return out
    }

    /// The line with ANSI styles (each span reset after), or plain text.
    public func rendered(color: Bool) -> String {
        guard color else { return plain }
        var s = ""
        for sp in spans {
            let sgr = sp.style.sgr
            if sgr.isEmpty { s += sp.text } else { s += sgr + sp.text + "\u{1B}[0m" }
        }
        return s
    }
}

/// A whole frame: exactly `height` lines, none wider than `width` cells.
public struct Screen: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var lines: [ScreenLine]

    /// The frame as plain text, one line per row, trailing spaces removed (what a test reads).
    public var text: String {
        lines.map { l in
            var s = l.plain
            while s.hasSuffix(" ") { s.removeLast() }
            return s
        }.joined(separator: "\n")
    }
}
