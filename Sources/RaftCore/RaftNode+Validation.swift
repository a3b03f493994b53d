/// Structural checks of a message before the core acts on it. A peer may be buggy, a frame may have
/// been corrupted, or a sender may be hostile; whatever arrives, nothing in it may make the core trap
/// or break an invariant of its log. A message that fails a check is dropped and counted
/// (`RaftNode.malformedDropped`), exactly as if it had been lost: Raft recovers from lost messages.
extension Message {
    /// Why this message cannot be acted upon, or nil when it is well-formed.
    ///
    /// - Only forwarded reads have term 0.
    /// - Every term is at most `maxTerm` and every index at most `maxLogIndex` (so that `+ 1` never
    ///   overflows and every value can be made durable).
    /// - An append's entries continue its `index` one by one (`index + 1`, `index + 2`, …), their terms
    ///   never decrease, are at least `logTerm` and at most the message's term.
    /// - A snapshot chunk lies inside its snapshot and its term is at most the message's term.
    public var malformation: String? {
        if term > maxTerm { return "term \(term) above \(maxTerm)" }
        // Only a forwarded read travels without a term (whoever leads handles it); anything else with
        // term 0 would slip past the term comparison in `step`.
        if term == 0 && kind != .readIndex { return "\(kind) with term 0" }
        if logTerm > maxTerm { return "logTerm \(logTerm) above \(maxTerm)" }
        if hintTerm > maxTerm { return "hintTerm \(hintTerm) above \(maxTerm)" }
        if index > maxLogIndex { return "index \(index) above \(maxLogIndex)" }
        if commit > maxLogIndex { return "commit \(commit) above \(maxLogIndex)" }
        if rejectHint > maxLogIndex { return "rejectHint \(rejectHint) above \(maxLogIndex)" }
        switch kind {
        case .append:
            if logTerm > term { return "append with logTerm \(logTerm) above its term \(term)" }
            guard !entries.isEmpty else { break }
            if UInt64(entries.count) > maxLogIndex - index {
                return "append of \(entries.count) entries after index \(index) passes \(maxLogIndex)"
            }
            var previousTerm = logTerm
            for (i, e) in entries.enumerated() {
                if e.index != index + 1 + UInt64(i) {
                    return "append entry \(i) has index \(e.index), expected \(index + 1 + UInt64(i))"
                }
                if e.term < previousTerm || e.term > term {
                    return "append entry \(e.index) has term \(e.term) outside \(previousTerm)...\(term)"
                }
                previousTerm = e.term
            }
        default:
            if !entries.isEmpty { return "\(kind) message with \(entries.count) entries" }
        }
        if let s = snapshot {
            if s.index > maxLogIndex { return "snapshot index \(s.index) above \(maxLogIndex)" }
            if s.term > term { return "snapshot term \(s.term) above the message's term \(term)" }
            if s.offset < 0 || s.total < 0 || s.data.count > s.total || s.offset > s.total - s.data.count {
                return "snapshot chunk at \(s.offset) of \(s.data.count) bytes outside a snapshot of \(s.total)"
            }
        }
        return nil
    }
}
