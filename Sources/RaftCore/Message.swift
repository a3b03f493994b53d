/// The kinds of message peers exchange.
public enum MessageKind: UInt8, Sendable, Equatable, CaseIterable {
    /// AppendEntries (§5.3): `index`/`logTerm` identify the entry before `entries`; `commit` is the
    /// leader's commit index.
    case append = 1
    /// Reply to `append`. Accept: `index` is the last index now matching the leader. Reject: `index`
    /// echoes the rejected `index`, and `rejectHint`/`hintTerm` name where the logs may agree.
    case appendResponse = 2
    /// Leader heartbeat; `commit` never exceeds what the follower is known to hold; `context` carries
    /// the newest ReadIndex round so that acknowledgements confirm leadership.
    case heartbeat = 3
    case heartbeatResponse = 4
    /// RequestVote (§5.2): `index`/`logTerm` describe the candidate's last entry.
    case vote = 5
    case voteResponse = 6
    /// PreVote (thesis §9.6): like `vote` for `term` = candidate's term + 1, but nobody changes state.
    case preVote = 7
    case preVoteResponse = 8
    // 9 was a proposal forwarded by a follower to the leader. Proposals reach the leader only through
    // the controller's HTTP API now (docs/raft-core.md, "Proposals"); a frame of kind 9 is refused as
    // an unknown kind and costs its sender the connection. Do not reuse the number.
    /// A ReadIndex request forwarded to the leader; `context` is the requester's.
    case readIndex = 10
    /// The leader's answer: `index` is the read index for the requester's `context`.
    case readIndexResponse = 11
    /// One chunk of the leader's snapshot (`snapshot` is set) for a peer whose entries are compacted away.
    case snapshot = 12
    /// Progress of a snapshot transfer: `index`/`logTerm` name the snapshot, `context` is the next
    /// byte offset wanted (resume point); `reject` asks to start over. Completion is an `appendResponse`.
    case snapshotResponse = 13
    /// Leadership transfer: the leader tells a caught-up voter to start an election at once.
    case timeoutNow = 14
}

/// One chunk of a snapshot in transit. Chunks are at most `RaftLimits.maxSnapshotChunkBytes` long.
public struct SnapshotChunk: Sendable, Equatable {
    public var index: LogIndex
    public var term: Term
    public var membership: Membership
    /// Byte offset of `data` within the whole snapshot.
    public var offset: Int
    /// Size of the whole snapshot in bytes.
    public var total: Int
    /// `Checksum.of` the whole snapshot's data.
    public var checksum: UInt64
    public var data: [UInt8]

    public init(
        index: LogIndex, term: Term, membership: Membership, offset: Int, total: Int, checksum: UInt64, data: [UInt8]
    ) {
        self.index = index
        self.term = term
        self.membership = membership
        self.offset = offset
        self.total = total
        self.checksum = checksum
        self.data = data
    }
}

/// The `context` of a vote request sent because of a leadership transfer: voters grant it even while
/// they still hear from the old leader.
public let transferContext: UInt64 = 1

/// One message between peers. Fields not used by a kind are zero / empty.
public struct Message: Sendable, Equatable {
    public var kind: MessageKind
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    public var logTerm: Term = 0
    public var index: LogIndex = 0
    public var entries: [Entry] = []
    public var commit: LogIndex = 0
    public var reject: Bool = false
    public var rejectHint: LogIndex = 0
    public var hintTerm: Term = 0
    public var context: UInt64 = 0
    public var snapshot: SnapshotChunk? = nil

    public init(
        kind: MessageKind, from: NodeID, to: NodeID, term: Term, logTerm: Term = 0, index: LogIndex = 0,
        entries: [Entry] = [], commit: LogIndex = 0, reject: Bool = false, rejectHint: LogIndex = 0,
        hintTerm: Term = 0, context: UInt64 = 0, snapshot: SnapshotChunk? = nil
    ) {
        self.kind = kind
        self.from = from
        self.to = to
        self.term = term
        self.logTerm = logTerm
        self.index = index
        self.entries = entries
        self.commit = commit
        self.reject = reject
        self.rejectHint = rejectHint
        self.hintTerm = hintTerm
        self.context = context
        self.snapshot = snapshot
    }

    /// Whether a follower's reply can tell a stale leader about a newer term.
    var isFromLeader: Bool { kind == .append || kind == .heartbeat || kind == .snapshot || kind == .timeoutNow }
}
