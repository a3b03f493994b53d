// RaftCore: the Raft consensus algorithm as a deterministic value type.
//
// Terminology follows the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable Consensus
// Algorithm", 2014) and Ongaro's thesis (PreVote §9.6, CheckQuorum §6.2, ReadIndex §6.4).
//
// The core performs no I/O. It never reads a clock (time is counted in ticks that the shell delivers)
// and never reads a global random source (a seeded generator is injected through `RaftConfig.seed`).
// Every input — `tick()`, `step(_:)`, `propose(_:)`, `readIndex(context:)`, `persisted(upTo:term:)`,
// `applied(upTo:)` — mutates the node and may leave work in a `Ready` batch for the shell. The shell's
// ordering contract (see docs/raft-core.md):
//
//   1. take `ready()`;
//   2. make `ready.hardState` and `ready.entries` durable (entries first, or both in one transaction),
//      then report `persisted(upTo: lastEntry.index, term: lastEntry.term)` (or `persistedHardState()`);
//   3. only then send `ready.messages` — they may depend on what was just persisted (a vote, an ack);
//   4. apply `ready.committedEntries` in order and report `applied(upTo:)`.
//
// Invariants stated with the types that hold them; every loop and queue has a bound in `RaftLimits`.

/// A Raft term. Monotonically increasing on every node, persisted before it is acted upon.
public typealias Term = UInt64
/// A 1-based position in the replicated log. Index 0 means "before the first entry".
public typealias LogIndex = UInt64
/// A cluster member's identity. 0 is reserved for "none".
public typealias NodeID = UInt64

public let noNode: NodeID = 0

/// What an entry carries.
public enum EntryKind: UInt8, Sendable, Equatable {
    /// An application command, opaque to Raft.
    case normal = 0
    /// The empty entry a new leader appends so that it can commit in its own term (§5.4.2, §8).
    case noop = 1
}

/// One log entry. Invariant: within one log, indexes are consecutive and terms never decrease.
public struct Entry: Sendable, Equatable {
    public var term: Term
    public var index: LogIndex
    public var kind: EntryKind
    public var data: [UInt8]

    public init(term: Term, index: LogIndex, kind: EntryKind = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.kind = kind
        self.data = data
    }

    /// Bytes counted against size limits: the payload plus a fixed per-entry overhead.
    public var sizeBytes: Int { data.count + 24 }
}

/// The state that must be durable before any message that depends on it is sent.
public struct HardState: Sendable, Equatable {
    public var term: Term
    /// The candidate this node voted for in `term`, or `noNode`.
    public var vote: NodeID
    /// The highest index known committed. Persisting it is an optimisation (faster recovery), not a
    /// safety requirement; it never exceeds the last persisted entry.
    public var commit: LogIndex

    public init(term: Term = 0, vote: NodeID = noNode, commit: LogIndex = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// The role a node plays right now.
public enum Role: String, Sendable, Equatable {
    case follower, preCandidate, candidate, leader
}

/// Volatile state the shell may show (status pages, dashboards). Not persisted.
public struct SoftState: Sendable, Equatable {
    public var role: Role
    public var leader: NodeID

    public init(role: Role, leader: NodeID) {
        self.role = role
        self.leader = leader
    }
}

/// The cluster membership: voters decide, learners only receive the log.
/// Invariant: ids are sorted, unique, non-zero, and no id is both a voter and a learner.
public struct Membership: Sendable, Equatable {
    public private(set) var voters: [NodeID]
    public private(set) var learners: [NodeID]

    public init(voters: [NodeID], learners: [NodeID] = []) {
        let v = Array(Set(voters)).sorted()
        let l = Array(Set(learners).subtracting(v)).sorted()
        precondition(!v.contains(noNode) && !l.contains(noNode), "node id 0 is reserved")
        precondition(!v.isEmpty, "a cluster needs at least one voter")
        self.voters = v
        self.learners = l
    }

    /// All members, voters first, each in ascending order.
    public var all: [NodeID] { voters + learners }
    /// Votes (or acknowledgements) needed for a decision: a strict majority of voters.
    public var quorum: Int { voters.count / 2 + 1 }
    public func isVoter(_ id: NodeID) -> Bool { voters.contains(id) }
    public func isLearner(_ id: NodeID) -> Bool { learners.contains(id) }
    public func contains(_ id: NodeID) -> Bool { isVoter(id) || isLearner(id) }
}

/// A read whose linearizable index is known: once the shell has applied up to `index`, it may answer
/// the read identified by `context` from its state machine.
public struct ReadState: Sendable, Equatable {
    public var index: LogIndex
    public var context: UInt64

    public init(index: LogIndex, context: UInt64) {
        self.index = index
        self.context = context
    }
}
