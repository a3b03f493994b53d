/// Bounds on every queue and loop in the core. They live together so that their relationships can be
/// checked in one place (`RaftConfig.validate()`).
public struct RaftLimits: Sendable, Equatable {
    /// Most bytes of entries in one `append` message (at least one entry is always sent).
    public var maxAppendBytes: Int = 64 * 1024
    /// Most entries in one `append` message.
    public var maxAppendEntries: Int = 256
    /// Most `append` messages in flight to one peer in the replicate state (pipelining depth).
    public var maxInflightMessages: Int = 64
    /// Most bytes in flight to one peer; 0 means no byte limit beyond the message count.
    public var maxInflightBytes: Int = 4 * 1024 * 1024
    /// Most bytes of proposed-but-uncommitted entries a leader accepts before dropping proposals.
    public var maxUncommittedBytes: Int = 8 * 1024 * 1024
    /// Most entries in one proposal batch.
    public var maxProposalBatch: Int = 1024
    /// Most messages waiting in one `Ready`; beyond it messages are dropped (Raft tolerates loss).
    public var maxPendingMessages: Int = 4096
    /// Most committed entries handed out in one `Ready`.
    public var maxApplyBatch: Int = 1024
    /// Most ReadIndex requests waiting on the leader (or waiting for its first commit).
    public var maxPendingReads: Int = 1024
    /// Most read states waiting in one `Ready`.
    public var maxReadStates: Int = 1024
    /// Most members in one cluster.
    public var maxMembers: Int = 255
    /// Most bytes in one snapshot chunk.
    public var maxSnapshotChunkBytes: Int = 512 * 1024
    /// Largest snapshot a follower accepts.
    public var maxSnapshotBytes: Int = 256 * 1024 * 1024

    public init() {}
}

/// How a node behaves. Ticks are the shell's unit of time (e.g. 10 ms).
public struct RaftConfig: Sendable, Equatable {
    public var id: NodeID
    public var membership: Membership
    /// Ticks without hearing from a leader before a voter campaigns; the actual timeout is drawn
    /// uniformly from `electionTicks ..< 2 * electionTicks` at every reset.
    public var electionTicks: Int = 10
    /// Ticks between leader heartbeats. Invariant: `heartbeatTicks < electionTicks`.
    public var heartbeatTicks: Int = 1
    /// Ticks between a leader's heartbeats to learners; 0: with every heartbeat, as to voters. A learner
    /// never campaigns and counts in no quorum, so its heartbeats only keep it in touch: every commit
    /// still reaches it at once (a leader sends an append to every member when its commit index moves),
    /// and a learner that lost an append is re-sent it on its next heartbeat's answer. On a corridor with
    /// 42 learners and 5 voters, one heartbeat per election timeout to each learner cuts the leader's
    /// heartbeat traffic about five-fold. Invariant: 0, or at least `heartbeatTicks`.
    public var learnerHeartbeatTicks: Int = 0
    /// Run a PreVote round before a real election so that a node that was cut off cannot raise the
    /// term and depose a healthy leader when it rejoins.
    public var preVote: Bool = true
    /// A leader that has not heard from a quorum of voters within an election timeout steps down;
    /// followers that hear from a leader ignore vote requests until the election timeout passes.
    public var checkQuorum: Bool = true
    /// How linearizable reads are confirmed.
    public var readMode: ReadMode = .readIndex
    /// Seed of the generator behind randomised election timeouts.
    public var seed: UInt64 = 0
    public var limits = RaftLimits()

    public init(id: NodeID, membership: Membership, seed: UInt64 = 0) {
        self.id = id
        self.membership = membership
        self.seed = seed
    }

    /// Throws a description of the first inconsistency, for the shell to report at start-up.
    public func validate() throws(RaftConfigError) {
        guard id != noNode else { throw RaftConfigError("node id must not be 0") }
        guard membership.contains(id) else { throw RaftConfigError("node \(id) is not a member") }
        guard heartbeatTicks >= 1 else { throw RaftConfigError("heartbeatTicks must be at least 1") }
        guard electionTicks > heartbeatTicks else {
            throw RaftConfigError("electionTicks (\(electionTicks)) must exceed heartbeatTicks (\(heartbeatTicks))")
        }
        guard learnerHeartbeatTicks == 0 || learnerHeartbeatTicks >= heartbeatTicks else {
            throw RaftConfigError(
                "learnerHeartbeatTicks (\(learnerHeartbeatTicks)) must be 0 or at least heartbeatTicks (\(heartbeatTicks))"
            )
        }
        guard membership.all.count <= limits.maxMembers else {
            throw RaftConfigError("\(membership.all.count) members exceed the limit of \(limits.maxMembers)")
        }
        if case .lease(let margin) = readMode {
            guard checkQuorum else { throw RaftConfigError("lease reads need checkQuorum") }
            guard margin >= 1 && margin < electionTicks / 2 else {
                throw RaftConfigError(
                    "lease drift margin must be between 1 and half of electionTicks (\(electionTicks / 2)) ticks")
            }
        }
        let l = limits
        guard l.maxAppendBytes > 0, l.maxAppendEntries > 0, l.maxInflightMessages > 0, l.maxProposalBatch > 0,
            l.maxPendingMessages > 0, l.maxApplyBatch > 0, l.maxPendingReads > 0, l.maxReadStates > 0,
            l.maxSnapshotChunkBytes > 0, l.maxSnapshotBytes >= l.maxSnapshotChunkBytes
        else { throw RaftConfigError("every limit must be positive") }
        guard l.maxInflightBytes == 0 || l.maxInflightBytes >= l.maxAppendBytes else {
            throw RaftConfigError("maxInflightBytes must be 0 or at least maxAppendBytes")
        }
    }
}

/// How the leader confirms that it still leads before it answers a read.
public enum ReadMode: Sendable, Equatable {
    /// A heartbeat round acknowledged by a quorum for every read (thesis §6.4). Safe with any clocks.
    case readIndex
    /// Without a round while the leader's lease holds (thesis §6.4.1). Needs `checkQuorum`, and clocks
    /// whose rates differ by less than `driftMarginTicks` per election timeout; a new or restarted node
    /// grants no vote for one election timeout.
    case lease(driftMarginTicks: Int)
}

public struct RaftConfigError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
