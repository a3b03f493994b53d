import RaftCore

/// A state-machine snapshot as stored: the state at `index` (whose entry had `term`), the membership
/// in force there, and the encoded state. The store computes and keeps the SHA-256 of `data`, and
/// checks it on every load.
public struct StoredSnapshot: Sendable, Equatable {
    public var index: LogIndex
    public var term: Term
    public var membership: Membership
    public var data: [UInt8]

    public init(index: LogIndex, term: Term, membership: Membership, data: [UInt8]) {
        self.index = index
        self.term = term
        self.membership = membership
        self.data = data
    }

    /// From the Raft core's snapshot (its FNV checksum is not stored: the store keeps a SHA-256).
    public init(_ snapshot: RaftCore.Snapshot) {
        self.init(index: snapshot.index, term: snapshot.term, membership: snapshot.membership, data: snapshot.data)
    }

    /// As the Raft core's snapshot type (for `RestoredState.snapshot`).
    public var raftSnapshot: RaftCore.Snapshot {
        RaftCore.Snapshot(index: index, term: term, membership: membership, data: data)
    }
}

/// One audit row as the caller supplies it: what was applied at `index` and what came of it.
/// The store adds the chain fields (`prevIndex`, `prevRowHash`, `rowHash`).
public struct AuditRecord: Sendable, Equatable {
    /// The log index of the applied entry. Strictly increasing along the chain (gaps are allowed:
    /// no-op entries, for instance, have no audit row).
    public var index: LogIndex
    public var term: Term
    /// The leader's timestamp stamped into the entry, integer milliseconds since the Unix epoch (UTC).
    public var leaderTimeMs: Int64
    public var operatorName: String
    public var clientID: String
    public var sequence: UInt64
    /// The command as encoded in the log entry.
    public var command: [UInt8]
    /// A human-readable rendering of the command, for auditors.
    public var commandText: String
    /// The result of applying the command (accepted, or the rejection reason).
    public var result: String
    /// SHA-256 of the state machine's state after applying this entry (32 bytes).
    public var stateHash: [UInt8]
    /// Schema v2 (typed evidence): the command's kind (`CorridorMachine`'s stable name: `setMode`, `hold`,
    /// …, `checkpoint`) and the outcome in typed fields. A v2 row leaves `commandText` and `result` empty:
    /// the words are derived when read. nil: a v1 row, whose `commandText` and `result` are its evidence.
    public var commandKind: String
    public var outcome: AuditOutcome?
    /// 1 or 2: how the row is stored and hashed (`AuditChain.canonicalEncoding`).
    public var format: UInt8 { outcome == nil ? 1 : 2 }

    public init(
        index: LogIndex, term: Term, leaderTimeMs: Int64, operatorName: String, clientID: String,
        sequence: UInt64, command: [UInt8], commandText: String = "", result: String = "", stateHash: [UInt8],
        commandKind: String = "", outcome: AuditOutcome? = nil
    ) {
        self.index = index
        self.term = term
        self.leaderTimeMs = leaderTimeMs
        self.operatorName = operatorName
        self.clientID = clientID
        self.sequence = sequence
        self.command = command
        self.commandText = commandText
        self.result = result
        self.stateHash = stateHash
        self.commandKind = commandKind
        self.outcome = outcome
    }
}

/// What came of an entry, as a v2 audit row stores it (typed columns `result_kind`, `reason_code`,
/// `reason`, `effective_at_ms`, `own_head_hash`; docs/storage.md).
public enum AuditOutcome: Sendable, Equatable {
    /// The command was accepted and takes effect at this time (ms since the Unix epoch).
    case accepted(effectiveAtMs: Int64)
    /// Refused: the state machine's reason code (`CorridorMachine.RejectCode` raw value, 1…255) and reason.
    case rejected(code: UInt8, reason: String)
    /// An audit checkpoint: this replica's own row hash at the checkpoint's head (nil: it had no such row).
    case checkpoint(ownHeadHash: [UInt8]?)
}

/// A stored audit row: the record plus its place in the hash chain.
public struct AuditRow: Sendable, Equatable {
    public var record: AuditRecord
    /// The index of the previous row in the chain, 0 for the first row.
    public var prevIndex: LogIndex
    /// The previous row's `rowHash`; 32 zero bytes for the first row.
    public var prevRowHash: [UInt8]
    /// SHA-256(prevRowHash ‖ canonical encoding of the row), see `AuditChain.canonicalEncoding`.
    public var rowHash: [UInt8]
}

/// The end of a verified audit chain. Keep `headHash` somewhere else (another replica, a report) to
/// detect a deletion of the newest rows, which a chain cannot show on its own.
public struct AuditChainHead: Sendable, Equatable {
    public var rowCount: Int
    public var lastIndex: LogIndex
    public var headHash: [UInt8]
}

/// A change of the controller's own lamps (in the spirit of the Indiana high-resolution event log).
public struct LampEvent: Sendable, Equatable {
    public var signalID: String
    /// Integer milliseconds since the Unix epoch (UTC).
    public var timeMs: Int64
    public var eventCode: Int64
    public var parameter: Int64

    public init(signalID: String, timeMs: Int64, eventCode: Int64, parameter: Int64) {
        self.signalID = signalID
        self.timeMs = timeMs
        self.eventCode = eventCode
        self.parameter = parameter
    }
}

/// One `Ready`'s worth of durable state: a snapshot received from the leader (if any, applied first:
/// it replaces the whole log, see `RaftStore.installSnapshot`), its hard state (if it changed) and its
/// entries (if any).
public struct LogWrite: Sendable, Equatable {
    public var snapshot: StoredSnapshot?
    public var hardState: HardState?
    public var entries: [Entry]

    public init(snapshot: StoredSnapshot? = nil, hardState: HardState? = nil, entries: [Entry] = []) {
        self.snapshot = snapshot
        self.hardState = hardState
        self.entries = entries
    }

    public init(_ ready: Ready) {
        self.init(snapshot: ready.snapshot.map(StoredSnapshot.init), hardState: ready.hardState, entries: ready.entries)
    }
}

/// Everything to make durable in one SQLite transaction (group commit): several Readys' writes,
/// applied in order (a later write's entries may overwrite an earlier one's suffix; the last hard
/// state wins), plus audit rows and lamp events.
public struct WriteBatch: Sendable, Equatable {
    public var writes: [LogWrite]
    public var auditRecords: [AuditRecord]
    public var lampEvents: [LampEvent]

    public init(writes: [LogWrite] = [], auditRecords: [AuditRecord] = [], lampEvents: [LampEvent] = []) {
        self.writes = writes
        self.auditRecords = auditRecords
        self.lampEvents = lampEvents
    }

    public mutating func add(_ ready: Ready) { writes.append(LogWrite(ready)) }
    public mutating func add(hardState: HardState?, entries: [Entry]) {
        writes.append(LogWrite(hardState: hardState, entries: entries))
    }

    public var isEmpty: Bool {
        writes.allSatisfy { $0.snapshot == nil && $0.hardState == nil && $0.entries.isEmpty } && auditRecords.isEmpty
            && lampEvents.isEmpty
    }
}

/// What a committed `WriteBatch` made durable. Report `persisted(upTo: lastIndex, term: lastTerm)`
/// to the Raft core only after `commit` returned this.
public struct WriteResult: Sendable, Equatable {
    /// The last log index and its term after the batch (the log's end, not only the batch's).
    public var lastIndex: LogIndex
    public var lastTerm: Term
    /// The hard state now stored.
    public var hardState: HardState
    public var entriesWritten: Int
    public var auditRowsWritten: Int
    public var lampEventsWritten: Int
}

/// What a restarting node loads: the Raft state and the newest snapshot (verified), if any.
public struct LoadedState: Sendable, Equatable {
    public var restored: RestoredState
    public var snapshot: StoredSnapshot?
}
