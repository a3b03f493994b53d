/// The log as the core sees it: every entry after the compaction point, in memory, with marks for
/// what has been handed to the shell for persistence, what is durable, committed and applied.
///
/// Invariants: `applied <= committed`; `persisted <= handedOut <= lastIndex`;
/// `entries[i].index == offset + 1 + i`; terms never decrease along the log.
struct RaftLog: Sendable {
    /// Index and term of the last entry folded into a snapshot (0, 0 when nothing is compacted).
    private(set) var offset: LogIndex
    private(set) var offsetTerm: Term
    private(set) var entries: [Entry]
    var committed: LogIndex
    var applied: LogIndex
    /// Entries up to here were handed to the shell in a `Ready`.
    var handedOut: LogIndex
    /// Entries up to here were reported durable by the shell.
    var persisted: LogIndex

    init(
        offset: LogIndex = 0, offsetTerm: Term = 0, entries: [Entry] = [], committed: LogIndex = 0,
        applied: LogIndex = 0
    ) {
        self.offset = offset
        self.offsetTerm = offsetTerm
        self.entries = entries
        let last = offset + LogIndex(entries.count)
        // Everything folded into the snapshot is committed and applied by definition.
        self.committed = max(offset, min(committed, last))
        self.applied = max(offset, min(applied, self.committed))
        self.handedOut = last
        self.persisted = last
    }

    var firstIndex: LogIndex { offset + 1 }
    var lastIndex: LogIndex { offset + LogIndex(entries.count) }
    var lastTerm: Term { entries.last?.term ?? offsetTerm }

    /// The term of the entry at `index`, or nil when it is compacted away or beyond the end.
    func term(at index: LogIndex) -> Term? {
        if index == offset { return offsetTerm }
        guard index > offset, index <= lastIndex else { return nil }
        return entries[Int(index - offset - 1)].term
    }

    func entry(at index: LogIndex) -> Entry? {
        guard index > offset, index <= lastIndex else { return nil }
        return entries[Int(index - offset - 1)]
    }

    func matchTerm(_ index: LogIndex, _ term: Term) -> Bool { self.term(at: index) == term }

    /// §5.4.1: a candidate's log is at least as up-to-date as ours.
    func isUpToDate(lastIndex candidateIndex: LogIndex, lastTerm candidateTerm: Term) -> Bool {
        candidateTerm > lastTerm || (candidateTerm == lastTerm && candidateIndex >= lastIndex)
    }

    /// Entries in `from ... to` (inclusive), at most `maxBytes` bytes and `maxCount` entries but always
    /// at least one when the range is not empty.
    func slice(from: LogIndex, to: LogIndex, maxBytes: Int, maxCount: Int) -> [Entry] {
        guard from <= to, from > offset, to <= lastIndex else { return [] }
        var result: [Entry] = []
        var bytes = 0
        var i = from
        while i <= to && result.count < maxCount { // bounded by maxCount
            let e = entries[Int(i - offset - 1)]
            if !result.isEmpty && bytes + e.sizeBytes > maxBytes { break }
            bytes += e.sizeBytes
            result.append(e)
            i += 1
        }
        return result
    }

    /// Appends entries the leader created. Precondition: they continue the log.
    mutating func appendNew(_ new: [Entry]) {
        guard let first = new.first else { return }
        precondition(first.index == lastIndex + 1, "leader append must continue the log")
        entries.append(contentsOf: new)
    }

    /// The first index in `incoming` whose entry conflicts with ours (different term) or is new;
    /// nil when every incoming entry is already present.
    func findConflict(_ incoming: [Entry]) -> LogIndex? {
        for e in incoming { // bounded by incoming.count
            if !matchTerm(e.index, e.term) { return e.index }
        }
        return nil
    }

    /// Follower side of AppendEntries after the consistency check passed: drops a conflicting suffix
    /// and appends what is new (§5.3 rules 3 and 4). Returns the last index now known to match and
    /// the first index whose entry changed (nil when nothing changed).
    mutating func maybeAppend(
        prevIndex: LogIndex, entries incoming: [Entry]
    ) -> (lastNew: LogIndex, changedFrom: LogIndex?) {
        let lastNew = prevIndex + LogIndex(incoming.count)
        guard let conflict = findConflict(incoming) else { return (lastNew, nil) }
        precondition(conflict > committed, "a committed entry conflicts with the leader (index \(conflict))")
        truncate(after: conflict - 1)
        let start = Int(conflict - prevIndex - 1)
        entries.append(contentsOf: incoming[start...])
        return (lastNew, conflict)
    }

    /// Drops every entry up to `index` (folded into a snapshot). Precondition: `index` is applied.
    mutating func compact(upTo index: LogIndex) {
        guard index > offset else { return }
        precondition(index <= applied && index <= persisted, "only applied, durable entries are compacted")
        let t = term(at: index)!
        entries.removeFirst(Int(index - offset))
        offset = index
        offsetTerm = t
    }

    /// Replaces the whole log with a snapshot's point (a follower installing a leader's snapshot).
    mutating func restore(index: LogIndex, term: Term) {
        offset = index
        offsetTerm = term
        entries = []
        committed = index
        applied = index
        handedOut = index
        persisted = index
    }

    /// Removes every entry after `index` and pulls the persistence marks back with it.
    private mutating func truncate(after index: LogIndex) {
        guard index < lastIndex else { return }
        entries.removeLast(Int(lastIndex - index))
        handedOut = min(handedOut, index)
        persisted = min(persisted, index)
    }

    /// Entries not yet handed to the shell.
    var unhanded: [Entry] {
        guard handedOut < lastIndex else { return [] }
        return Array(entries[Int(handedOut - offset)...])
    }

    /// Largest index `<= index` whose term is `<= term` — the conflict-term search used on both sides
    /// of a rejected AppendEntries to skip a whole term at a time.
    func findConflictByTerm(index: LogIndex, term: Term) -> (index: LogIndex, term: Term) {
        var i = min(index, lastIndex)
        while i > offset { // bounded by the log length
            let t = entries[Int(i - offset - 1)].term
            if t <= term { return (i, t) }
            i -= 1
        }
        return (offset, offsetTerm)
    }

    /// Committed, durable entries after `after` (what was already handed out for applying), at most
    /// `maxCount`.
    func entriesToApply(after: LogIndex, maxCount: Int) -> [Entry] {
        let lo = max(after, offset)
        let hi = min(committed, persisted, lo + LogIndex(maxCount))
        guard hi > lo else { return [] }
        return Array(entries[Int(lo - offset)..<Int(hi - offset)])
    }

    /// Bytes of entries after `index`.
    func bytes(after index: LogIndex) -> Int {
        guard index < lastIndex else { return 0 }
        var total = 0
        for e in entries[Int(max(index, offset) - offset)...] { total += e.sizeBytes }
        return total
    }
}
