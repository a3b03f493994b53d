/// Majority math over one configuration's voters, in one place (etcd-io/raft keeps it in `quorum/`):
/// elections, commitment, CheckQuorum, lease reads and ReadIndex all ask this type, never count inline.
///
/// Invariants: `voters` is sorted, without duplicates, and not empty; `size` is a strict majority of
/// them (`voters.count / 2 + 1`), so two majorities of the same voters always share a voter — the
/// property every Raft safety argument rests on.
public struct Quorum: Sendable, Hashable {
    /// The voters, ascending, each once.
    public let voters: [NodeID]

    /// A quorum of `voters` (order and repeats do not matter). A configuration without voters has no
    /// quorum: that is a programmer error (`Membership` refuses one too).
    public init(voters: [NodeID]) {
        let v = Array(Set(voters)).sorted()
        precondition(!v.isEmpty, "a quorum needs at least one voter")
        self.voters = v
    }

    /// For a list known to be sorted and unique (`Membership.voters`): no second sort on the hot path.
    init(sortedUniqueVoters v: [NodeID]) {
        assert(
            !v.isEmpty && zip(v, v.dropFirst()).allSatisfy { $0 < $1 }, "voters must be sorted, unique and not empty")
        self.voters = v
    }

    /// Votes (or acknowledgements) needed for a decision: a strict majority of the voters.
    public var size: Int { voters.count / 2 + 1 }

    /// Whether a majority of the voters satisfy `holds` (CheckQuorum's "recently active", a ReadIndex
    /// round's acknowledgements).
    public func hasMajority(_ holds: (NodeID) -> Bool) -> Bool {
        var count = 0
        for v in voters where holds(v) {
            count += 1
            if count >= size { return true }
        }
        return false
    }

    /// The outcome of an election so far.
    public enum VoteResult: Sendable, Equatable {
        /// Neither a majority of grants nor enough refusals yet.
        case pending
        /// A majority granted.
        case won
        /// So many refused that a majority can no longer grant.
        case lost
    }

    /// The election's outcome from each voter's answer (`vote`: true granted, false refused, nil not yet
    /// answered). Answers of nodes that are not voters are never asked for.
    public func voteResult(_ vote: (NodeID) -> Bool?) -> VoteResult {
        var granted = 0
        var refused = 0
        for v in voters {
            switch vote(v) {
            case true?: granted += 1
            case false?: refused += 1
            case nil: break
            }
        }
        if granted >= size { return .won }
        // The voters that have not refused can no longer make a majority.
        if voters.count - refused < size { return .lost }
        return .pending
    }

    /// The highest value that a majority of the voters have reached, each voter's value from `value`:
    /// the commit index from the match indexes, the start of a lease from the acknowledged heartbeat
    /// ticks. (Sorted descending, the value at position `size - 1`: at least `size` voters have it or more.)
    public func committed<T: Comparable>(_ value: (NodeID) -> T) -> T {
        var values = voters.map(value)
        values.sort(by: >)
        return values[size - 1]
    }
}
