import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The controlling terminal: raw input, the alternate screen, its size, and writing frames so that only
/// the lines that changed are redrawn (no clear, so no flicker).
final class Terminal: @unchecked Sendable {
    private var saved = termios()
    private var raw = false
    private var previous: [String] = []
    private var previousSize = (0, 0)
    private let lock = NSLock()

    /// Raw mode (no echo, no line buffering, no signals from keys: Ctrl-C arrives as a byte), the
    /// alternate screen, cursor hidden.
    func enter() {
        if tcgetattr(STDIN_FILENO, &saved) == 0 {
            var t = saved
            t.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
            t.c_iflag &= ~tcflag_t(IXON | ICRNL | BRKINT | INPCK | ISTRIP)
            t.c_cc.6 = 1 // VMIN
            t.c_cc.5 = 0 // VTIME
            if tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0 { raw = true }
        }
        write("\u{1B}[?1049h\u{1B}[?25l\u{1B}[2J")
    }

    /// Puts the terminal back as it was.
    func leave() {
        write("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")
        if raw {
            var t = saved
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &t)
        }
        raw = false
    }

    /// Columns and rows (80×24 when unknown).
    func size() -> (width: Int, height: Int) {
        var ws = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0, ws.ws_row > 0 {
            return (Int(ws.ws_col), Int(ws.ws_row))
        }
        return (80, 24)
    }

    /// Draws a frame: after a resize every line, otherwise only the lines that changed, in one write.
    func draw(_ screen: Screen, color: Bool) {
        lock.lock()
        defer { lock.unlock() }
        let lines = screen.lines.map { $0.rendered(color: color) }
        var out = ""
        let resized = previousSize != (screen.width, screen.height)
        if resized {
            out += "\u{1B}[0m\u{1B}[2J"
            previous = []
            previousSize = (screen.width, screen.height)
        }
        for (i, l) in lines.enumerated() where resized || i >= previous.count || previous[i] != l {
            out += "\u{1B}[\(i + 1);1H\u{1B}[0m" + l + "\u{1B}[0m\u{1B}[K"
        }
        previous = lines
        if !out.isEmpty { write(out) }
    }

    func write(_ s: String) {
        var bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress! + off, $0.count - off) }
            if n <= 0 { if errno == EINTR { continue } else { return } }
            off += n
        }
    }
}

/// A key press, decoded from the raw input bytes.
public enum Key: Equatable, Sendable {
    case char(Character)
    case enter, backspace, escape, ctrlC, ctrlD, pageUp, pageDown, up, down
}

/// Splits raw terminal input into keys. Escape sequences arrive whole in one read from a real terminal
/// and from tmux; a lone ESC is the Escape key.
public func decodeKeys(_ bytes: [UInt8]) -> [Key] {
    var keys: [Key] = []
    var i = 0
    var text: [UInt8] = []
    func flushText() {
        if !text.isEmpty {
            for ch in String(decoding: text, as: UTF8.self) { keys.append(.char(ch)) }
            text = []
        }
    }
    while i < bytes.count {
        let b = bytes[i]
        switch b {
        case 27:
            flushText()
            if i + 2 < bytes.count, bytes[i + 1] == UInt8(ascii: "[") {
                let c = bytes[i + 2]
                if c == UInt8(ascii: "5") || c == UInt8(ascii: "6"), i + 3 < bytes.count,
                    bytes[i + 3] == UInt8(ascii: "~")
                {
                    keys.append(c == UInt8(ascii: "5") ? .pageUp : .pageDown)
                    i += 4
                    continue
                }
                if c == UInt8(ascii: "A") || c == UInt8(ascii: "B") {
                    keys.append(c == UInt8(ascii: "A") ? .up : .down)
                    i += 3
                    continue
                }
                // Another sequence: skip to its final byte.
                var j = i + 2
                while j < bytes.count, !(64...126).contains(bytes[j]) { j += 1 }
                i = j + 1
                continue
            }
            keys.append(.escape)
            i += 1
        case 13, 10:
            flushText()
            keys.append(.enter)
            i += 1
        case 127, 8:
            flushText()
            keys.append(.backspace)
            i += 1
        case 3:
            flushText()
            keys.append(.ctrlC)
            i += 1
        case 4:
            flushText()
            keys.append(.ctrlD)
            i += 1
        case 0..<32:
            i += 1 // other control bytes are ignored
        default:
            text.append(b)
            i += 1
        }
    }
    flushText()
    return keys
}
