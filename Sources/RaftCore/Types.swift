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

/// The largest term any node accepts or produces. Terms are stored as SQLite's signed 64-bit integers,
/// so nothing above 2^63 − 1 can be made durable; a message or row carrying a larger term is refused
/// where it enters (the wire codec, the store), and a node at this term cannot campaign (it stays a
/// follower instead of trapping on `term + 1`).
public let maxTerm: Term = Term(Int64.max)
/// The largest log index any node accepts or produces (the same SQLite bound as `maxTerm`).
public let maxLogIndex: LogIndex = LogIndex(Int64.max)

/// What an entry carries.
public enum EntryKind: UInt8, Sendable, Equatable {
    /// An application command, opaque to Raft.
    case normal = 0
    /// The empty entry a new leader appends so that it can commit in its own term (§5.4.2, §8).
    case noop = 1
    /// A new membership (`Membership.encoded()`), in force on each node as soon as it is in its log.
    case config = 2
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
    /// The majority math over the voters (`Quorum`).
    public var majority: Quorum { Quorum(sortedUniqueVoters: voters) }
    /// Votes (or acknowledgements) needed for a decision: a strict majority of voters (`Quorum.size`).
    public var quorum: Int { majority.size }
    public func isVoter(_ id: NodeID) -> Bool { voters.contains(id) }
    public func isLearner(_ id: NodeID) -> Bool { learners.contains(id) }
    public func contains(_ id: NodeID) -> Bool { isVoter(id) || isLearner(id) }

    /// Canonical bytes: voter count, learner count (UInt16 big-endian), then each id (UInt64 big-endian).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4 + 8 * (voters.count + learners.count))
        appendBigEndian(&out, UInt16(voters.count))
        appendBigEndian(&out, UInt16(learners.count))
        for id in voters + learners { appendBigEndian(&out, id) }
        return out
    }

    /// Decodes `encoded()`; nil when the bytes are not a valid membership.
    public static func decode(_ bytes: [UInt8]) -> Membership? {
        guard bytes.count >= 4 else { return nil }
        let v = Int(readBigEndian(bytes, 0, as: UInt16.self))
        let l = Int(readBigEndian(bytes, 2, as: UInt16.self))
        guard v > 0, bytes.count == 4 + 8 * (v + l) else { return nil }
        var ids: [NodeID] = []
        for i in 0..<v + l { ids.append(readBigEndian(bytes, 4 + 8 * i, as: UInt64.self)) }
        let voters = Array(ids[..<v])
        let learners = Array(ids[v...])
        guard !ids.contains(noNode), Set(ids).count == ids.count else { return nil }
        return Membership(voters: voters, learners: learners)
    }

    /// The membership after one change, or a reason why the change is not allowed. Only one voter is
    /// added or removed at a time, so the majorities of successive memberships always intersect.
    public func applying(_ change: MembershipChange) -> Result<Membership, MembershipChangeError> {
        switch change {
        case .addLearner(let id):
            guard id != noNode else { return .failure(.init("node id 0 is reserved")) }
            guard !contains(id) else { return .failure(.init("node \(id) is already a member")) }
            return .success(Membership(voters: voters, learners: learners + [id]))
        case .promote(let id):
            guard isLearner(id) else { return .failure(.init("node \(id) is not a learner")) }
            return .success(Membership(voters: voters + [id], learners: learners.filter { $0 != id }))
        case .remove(let id):
            guard contains(id) else { return .failure(.init("node \(id) is not a member")) }
            guard voters != [id] else { return .failure(.init("node \(id) is the last voter")) }
            return .success(Membership(voters: voters.filter { $0 != id }, learners: learners.filter { $0 != id }))
        }
    }
}

/// One membership change (thesis §4.1: one server at a time). Replacing a voter that is gone for good
/// is `addLearner(new)`, wait until it catches up, `promote(new)`, then `remove(old)`.
public enum MembershipChange: Sendable, Equatable {
    case addLearner(NodeID)
    /// Makes a caught-up learner a voter.
    case promote(NodeID)
    /// Removes a voter or a learner. A leader that removes itself steps down once the change commits.
    case remove(NodeID)
}

public struct MembershipChangeError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A point-in-time image of the state machine that replaces the log up to `index`.
public struct Snapshot: Sendable, Equatable {
    public var index: LogIndex
    public var term: Term
    /// The membership in force at `index`.
    public var membership: Membership
    /// The state machine's own encoding, opaque to Raft.
    public var data: [UInt8]
    /// `Checksum.of(data)`; a received snapshot is verified against it before it is installed.
    public var checksum: UInt64

    public init(index: LogIndex, term: Term, membership: Membership, data: [UInt8]) {
        self.index = index
        self.term = term
        self.membership = membership
        self.data = data
        self.checksum = Checksum.of(data)
    }
}

/// A 64-bit checksum (FNV-1a over the bytes, then a final avalanche) that catches truncated,
/// reordered or corrupted snapshot chunks. Not a cryptographic hash: the state machine's SHA-256
/// state hash is what auditors rely on.
public enum Checksum {
    public static func of(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        h ^= UInt64(truncatingIfNeeded: bytes.count)
        h = (h ^ (h >> 33)) &* 0xff51_afd7_ed55_8ccd
        h = (h ^ (h >> 33)) &* 0xc4ce_b9fe_1a85_ec53
        return h ^ (h >> 33)
    }
}

func appendBigEndian<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
    var v = value.bigEndian
    withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
}

func readBigEndian<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, as: T.Type) -> T {
    var v: T = 0
    for i in 0..<MemoryLayout<T>.size { v = (v << 8) | T(bytes[offset + i]) }
    return v
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
