/// A batch of work for the shell. Handle it in this order: persist `entries` and `hardState`,
/// report `persisted(upTo:term:)`, send `messages`, apply `committedEntries`, report `applied(upTo:)`.
public struct Ready: Sendable, Equatable {
    /// Changed role or leader since the previous `Ready`; nil when unchanged.
    public var softState: SoftState?
    /// Changed term, vote or commit since the previous `Ready`; nil when unchanged. Persist before sending.
    public var hardState: HardState?
    /// New entries to persist. When the first one's index is at or below what is stored, the stored
    /// suffix from that index on must be replaced (a leader overwrote a conflicting tail).
    public var entries: [Entry]
    /// Messages to send once `entries` and `hardState` are durable.
    public var messages: [Message]
    /// Entries that are committed and durable here, in order, to apply to the state machine.
    public var committedEntries: [Entry]
    /// Linearizable reads that may be answered once `applied >= index`.
    public var readStates: [ReadState]
    /// A snapshot received from the leader: persist it and replace the whole stored log with it
    /// (before `entries`, which follow it), then restore the state machine from it before applying
    /// `committedEntries`.
    public var snapshot: Snapshot? = nil

    public var isEmpty: Bool {
        softState == nil && hardState == nil && entries.isEmpty && messages.isEmpty
            && committedEntries.isEmpty && readStates.isEmpty && snapshot == nil
    }
}

/// What became of a proposal.
public enum ProposeResult: Sendable, Equatable {
    /// Appended to the leader's log at these indexes in this term; not yet committed.
    case appended(firstIndex: LogIndex, lastIndex: LogIndex, term: Term)
    /// Not accepted here (only the leader appends); `leader` is the leader this node knows of, or
    /// `noNode`. The client proposes again there.
    case notLeader(leader: NodeID)
    /// Refused: too large, too many uncommitted bytes, empty, a transfer or membership change in
    /// progress.
    case dropped(reason: String)
}

/// What became of a leadership transfer request.
public enum TransferResult: Sendable, Equatable {
    /// The target is caught up and was told to campaign (or is being caught up first).
    case started(to: NodeID)
    case notLeader(leader: NodeID)
    case refused(reason: String)
}

/// What became of a ReadIndex request.
public enum ReadIndexResult: Sendable, Equatable {
    /// The leader is confirming its leadership; a `ReadState` with this context will follow.
    case pending
    /// Sent to the leader; a `ReadState` follows when it answers.
    case forwarded(to: NodeID)
    case notLeader(leader: NodeID)
    case dropped(reason: String)
}

/// What the shell loads from durable storage to restart a node.
public struct RestoredState: Sendable, Equatable {
    public var hardState: HardState
    /// The stored log after the compaction point, in order.
    public var entries: [Entry]
    /// The compaction point: index and term of the last entry folded into a snapshot.
    public var snapshotIndex: LogIndex
    public var snapshotTerm: Term
    /// What the state machine already reflects (its snapshot's index when it is rebuilt on start).
    public var applied: LogIndex
    /// The newest stored snapshot; when set, `snapshotIndex`/`snapshotTerm` are taken from it.
    public var snapshot: Snapshot?

    public init(
        hardState: HardState = HardState(), entries: [Entry] = [], snapshotIndex: LogIndex = 0,
        snapshotTerm: Term = 0, applied: LogIndex = 0, snapshot: Snapshot? = nil
    ) {
        self.hardState = hardState
        self.entries = entries
        self.snapshotIndex = snapshot?.index ?? snapshotIndex
        self.snapshotTerm = snapshot?.term ?? snapshotTerm
        self.applied = applied
        self.snapshot = snapshot
    }
}
