import Console
import CorridorFile
import GreenwaveAPI

/// What the operator typed after ':', as an API command request, or why it cannot be one.
///
/// Grammar (words separated by spaces, signal ids as S12 or 12):
/// - `mode PLAN`
/// - `hold S12 [STAGE]`, `release S12`
/// - `flash [S12]`, `unflash [S12]` (no signal: the whole corridor)
/// - `preempt S05-S11 DIRECTION [SPEED_KMH]` — the signals (ids in travel order, or a range, which is
///   travelled in the given direction); the direction is
///   the corridor's name for it (e.g. northbound), `increasing`/`decreasing`, or `inbound`/`outbound`
///   (inbound = towards the corridor's first signal, the decreasing direction)
/// - `cancel INDEX` — cancel the preemption ordered at that log index
public enum DashboardCommand {
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    public static func parse(
        _ line: String, document: CorridorDocument, operatorName: String, clientID: String,
        sequence: UInt64
    ) -> Result<CommandRequest, ParseError> {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let verb = words.first?.lowercased() else { return .failure(ParseError(description: "empty command")) }
        let args = Array(words.dropFirst())
        let c = Context(document: document, operatorName: operatorName, clientID: clientID, sequence: sequence)
        switch verb {
        case "mode": return parseMode(args, c)
        case "hold": return parseHold(args, c)
        case "release": return parseRelease(args, c)
        case "flash", "unflash": return parseFlash(verb, args, c)
        case "preempt": return parsePreempt(args, c)
        case "cancel": return parseCancel(args, c)
        default:
            return c.fail("unknown command '\(verb)': use mode, hold, release, flash, unflash, preempt or cancel")
        }
    }

    /// What every command's parser needs: the corridor, and the request's sender and sequence.
    struct Context {
        let document: CorridorDocument
        let operatorName: String
        let clientID: String
        let sequence: UInt64

        func fail(_ s: String) -> Result<CommandRequest, ParseError> { .failure(ParseError(description: s)) }

        func request(_ type: String) -> CommandRequest {
            CommandRequest(operator: operatorName, clientID: clientID, sequence: sequence, type: type)
        }

        /// A signal id of this corridor, or nil.
        func signal(_ s: String) -> Int? {
            guard let v = parseSignal(s), document.endpoints.contains(where: { $0.signal.rawValue == v }) else {
                return nil
            }
            return v
        }

        func notASignal(_ word: String) -> Result<CommandRequest, ParseError> {
            fail("'\(word)' is not a signal of \(document.id)")
        }
    }

    /// `mode PLAN [until next|MS]`: with a schedule, the override lasts until its next change or that time.
    static func parseMode(_ args: [String], _ c: Context) -> Result<CommandRequest, ParseError> {
        let plans = c.document.corridor.plans.map(\.id.rawValue)
        guard args.count == 1 || (args.count == 3 && args[1] == "until") else {
            return c.fail("usage: mode PLAN (one of: \((plans + ["flash"]).joined(separator: ", "))) [until next|MS]")
        }
        var r = c.request("mode")
        r.plan = args[0]
        if args.count == 3 {
            guard args[2] == "next" || Int64(args[2]) != nil else {
                return c.fail("until: 'next' or ms since the Unix epoch")
            }
            r.until = args[2]
        }
        return .success(r)
    }

    static func parseHold(_ args: [String], _ c: Context) -> Result<CommandRequest, ParseError> {
        guard (1...2).contains(args.count) else { return c.fail("usage: hold S12 [STAGE]") }
        guard let s = c.signal(args[0]) else { return c.notASignal(args[0]) }
        var r = c.request("hold")
        r.signal = s
        r.stage = args.count == 2 ? args[1] : nil
        return .success(r)
    }

    static func parseRelease(_ args: [String], _ c: Context) -> Result<CommandRequest, ParseError> {
        guard args.count == 1 else { return c.fail("usage: release S12") }
        guard let s = c.signal(args[0]) else { return c.notASignal(args[0]) }
        var r = c.request("release")
        r.signal = s
        return .success(r)
    }

    /// `flash [S12]`, `unflash [S12]`: no signal, the whole corridor.
    static func parseFlash(_ verb: String, _ args: [String], _ c: Context) -> Result<CommandRequest, ParseError> {
        guard args.count <= 1 else { return c.fail("usage: \(verb) [S12]") }
        var r = c.request(verb)
        if let a = args.first {
            guard let s = c.signal(a) else { return c.notASignal(a) }
            r.signal = s
        }
        return .success(r)
    }

    /// `preempt S05-S11 DIRECTION [SPEED_KMH]`.
    static func parsePreempt(_ args: [String], _ c: Context) -> Result<CommandRequest, ParseError> {
        let document = c.document
        guard args.count >= 2 else { return c.fail("usage: preempt S05-S11 DIRECTION [SPEED_KMH]") }
        var rest = args
        var speed: Int?
        if let last = rest.last, let v = Int(last), rest.count >= 3 {
            speed = v
            rest.removeLast()
        }
        let dirWord = rest.removeLast()
        guard let direction = direction(dirWord, document: document) else {
            return c.fail(
                "unknown direction '\(dirWord)': use \(document.increasingName), \(document.decreasingName), inbound or outbound"
            )
        }
        // A range names a stretch of road: it is travelled in the preemption's direction, so
        // "S05-S11 inbound" runs S11, S10, …, S05. Single ids keep the order given.
        var list: [Int] = []
        for w in rest {
            switch parseSignalList([w]) {
            case .success(let l):
                let ascending = l.count > 1 ? l.sorted() : l
                list += direction == document.decreasingName && l.count > 1 ? ascending.reversed() : ascending
            case .failure(let e): return c.fail(e.description)
            }
        }
        if let bad = list.first(where: { c.signal("\($0)") == nil }) {
            return c.fail("S\(bad) is not a signal of \(document.id)")
        }
        var r = c.request("preempt")
        r.signals = list
        r.direction = direction
        r.speedKmh = speed
        return .success(r)
    }

    /// `cancel INDEX`: the log index of the preemption (`#` before it allowed).
    static func parseCancel(_ args: [String], _ c: Context) -> Result<CommandRequest, ParseError> {
        guard args.count == 1, let i = UInt64(args[0].hasPrefix("#") ? String(args[0].dropFirst()) : args[0]) else {
            return c.fail("usage: cancel INDEX (the log index of the preemption)")
        }
        var r = c.request("cancel_preemption")
        r.index = i
        return .success(r)
    }

    /// The corridor's name for a direction word: what the API accepts, plus inbound (towards the first
    /// signal, the decreasing direction) and outbound.
    static func direction(_ w: String, document: CorridorDocument) -> String? {
        switch w.lowercased() {
        case "inbound": return document.decreasingName
        case "outbound": return document.increasingName
        default: return parseDirection(w, document: document).map(document.name(of:))
        }
    }

    /// A one-line account of a command's fate, for the console's history.
    public static func describe(_ r: CommandRequest) -> String {
        switch r.type {
        case "mode": return "mode \(r.plan ?? "")"
        case "hold": return "hold S\(r.signal ?? 0)" + (r.stage.map { " \($0)" } ?? "")
        case "release": return "release S\(r.signal ?? 0)"
        case "flash", "unflash": return r.type + (r.signal.map { " S\($0)" } ?? " corridor")
        case "preempt":
            let s = r.signals ?? []
            let span = s.count > 1 ? "S\(s.first!)…S\(s.last!)" : s.map { "S\($0)" }.joined()
            return "preempt \(span) \(r.direction ?? "")"
        case "cancel_preemption": return "cancel #\(r.index ?? 0)"
        default: return r.type
        }
    }
}
