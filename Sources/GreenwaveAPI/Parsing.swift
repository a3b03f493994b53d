// How a person names signals and directions on the command line, in the dashboard and in a request:
// one parser for each, so that the console, the dashboard and the API accept the same words.
import CorridorFile
import SignalTiming

/// "S12", "s12" or "12" → 12.
public func parseSignal(_ s: String) -> Int? {
    let t = s.hasPrefix("S") || s.hasPrefix("s") ? String(s.dropFirst()) : s
    return Int(t)
}

/// Signals in travel order from "S05 S06 S07" or ranges "S05-S11" (a descending range keeps its order):
/// the signal ids, or the first word that is neither an id nor a range.
public func parseSignalList(_ words: [String]) -> Result<[Int], SignalListError> {
    var list: [Int] = []
    for w in words {
        let parts = w.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2, let a = parseSignal(parts[0]), let b = parseSignal(parts[1]) {
            // A typed range is hostile input like any other: "S1-S999999999" must not allocate a billion ids.
            let span = b.subtractingReportingOverflow(a)
            guard !span.overflow, span.partialValue.magnitude < UInt(Limits.signalsMax) else {
                return .failure(SignalListError(word: w, reason: "a corridor has at most \(Limits.signalsMax) signals"))
            }
            list += a <= b ? Array(a...b) : Array((b...a).reversed())
        } else if parts.count == 1, let v = parseSignal(w) {
            list.append(v)
        } else {
            return .failure(SignalListError(word: w))
        }
    }
    return .success(list)
}

public struct SignalListError: Error, CustomStringConvertible {
    public var word: String
    /// Why a word that looks like a range is refused; nil: the word is no id or range at all.
    public var reason: String?
    public init(word: String, reason: String? = nil) {
        self.word = word
        self.reason = reason
    }
    public var description: String {
        if let reason { return "'\(word)': \(reason)" }
        return "'\(word)' is not a signal id or range (S05, 5 or S05-S11)"
    }
}

/// A direction from the corridor's name for it, or `increasing` / `decreasing`.
public func parseDirection(_ s: String, document: CorridorDocument) -> Direction? {
    switch s.lowercased() {
    case "increasing", document.increasingName.lowercased(): return .increasing
    case "decreasing", document.decreasingName.lowercased(): return .decreasing
    default: return nil
    }
}
