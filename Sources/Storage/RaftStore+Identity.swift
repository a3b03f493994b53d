import Foundation
import GRDB
import RaftCore

/// Whose a data folder is, recorded in table `folder_identity` at the first start of a controller on
/// it and checked at every later start (the Controller module decides what to compare; see
/// docs/storage.md, "Folder identity").
public struct FolderIdentity: Sendable, Equatable {
    /// Version of the fingerprint's canonical encoding.
    public static let currentFormat = 1
    public var format: Int
    public var corridorID: String
    public var nodeID: NodeID
    /// The cluster the corridor file bootstraps: the corridor id and the first 8 bytes of the
    /// fingerprint, so every replica started from the same file records the same cluster id.
    public var clusterID: String
    /// SHA-256 over the canonical encoding of the corridor file's membership and timing (32 bytes).
    public var fingerprint: [UInt8]
    /// The membership of the corridor file at first start (for messages that name a difference).
    public var voters: [NodeID]
    public var learners: [NodeID]
    public var recordedAtMs: Int64

    public init(
        format: Int = FolderIdentity.currentFormat, corridorID: String, nodeID: NodeID, clusterID: String,
        fingerprint: [UInt8], voters: [NodeID], learners: [NodeID], recordedAtMs: Int64
    ) {
        self.format = format
        self.corridorID = corridorID
        self.nodeID = nodeID
        self.clusterID = clusterID
        self.fingerprint = fingerprint
        self.voters = voters
        self.learners = learners
        self.recordedAtMs = recordedAtMs
    }

    public var fingerprintHex: String { hex(fingerprint) }

    /// SHA-256 of `bytes` (the fingerprint of a canonical encoding).
    public static func digest(_ bytes: [UInt8]) -> [UInt8] { sha256(bytes) }
}

/// What a folder holds, for the start-up checks: the recorded identity (nil before the first start
/// of a build that records one), the highest term and commit the hard state ever held, and what is
/// stored now.
public struct FolderRecord: Sendable, Equatable {
    public var identity: FolderIdentity?
    public var highWaterTerm: Term
    public var highWaterCommit: LogIndex
    /// Audit rows up to this index were written before the last `resetForResync` (0: never re-synced).
    public var resyncAuditFloor: LogIndex
    public var resyncCount: Int
    public var hardState: HardState
    public var compactionIndex: LogIndex
    public var logEntries: Int
    public var snapshots: Int
    public var auditRows: Int
    public var lampEvents: Int

    /// True when the Raft side has anything: a term, a vote, a commit index, an entry or a snapshot.
    public var hasRaftState: Bool {
        hardState != HardState() || logEntries > 0 || snapshots > 0 || compactionIndex > 0
    }
}

/// What `resetForResync` kept and dropped.
public struct ResyncOutcome: Sendable, Equatable {
    public var keptHardState: HardState
    public var droppedEntries: Int
    public var droppedSnapshots: Int
    public var auditFloor: LogIndex
}

extension RaftStore {
    public func folderRecord() throws -> FolderRecord {
        try read("read the folder identity") { db in
            let state = try RaftStateRow.fetch(db)
            func count(_ table: String) throws -> Int {
                try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0
            }
            var record = FolderRecord(
                identity: nil, highWaterTerm: 0, highWaterCommit: 0, resyncAuditFloor: 0, resyncCount: 0,
                hardState: state.hardState, compactionIndex: state.snapshotIndex,
                logEntries: try count("log_entry"), snapshots: try count("snapshot"),
                auditRows: try count("audit"), lampEvents: try count("lamp_event"))
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM folder_identity WHERE id = 1") else {
                return record
            }
            let key = "id 1"
            let table = "folder_identity"
            guard let corridor = textColumn(row, "corridor_id"), let cluster = textColumn(row, "cluster_id"),
                let fingerprint = blobColumn(row, "fingerprint"), fingerprint.count == 32,
                let voters = textColumn(row, "voters"), let learners = textColumn(row, "learners")
            else {
                throw StorageError.corruptRow(table: table, key: key, reason: "a column is NULL or of the wrong type")
            }
            func ids(_ text: String, _ column: String) throws -> [NodeID] {
                if text.isEmpty { return [] }
                return try text.split(separator: ",").map {
                    guard let id = NodeID($0), id != noNode else {
                        throw StorageError.corruptRow(
                            table: table, key: key, reason: "\(column) has a bad node id \"\($0)\"")
                    }
                    return id
                }
            }
            let format = try int64Column(row, "format", table: table, key: key)
            record.identity = FolderIdentity(
                format: Int(clamping: format), corridorID: corridor,
                nodeID: UInt64(bitPattern: try int64Column(row, "node_id", table: table, key: key)),
                clusterID: cluster, fingerprint: fingerprint, voters: try ids(voters, "voters"),
                learners: try ids(learners, "learners"),
                recordedAtMs: try int64Column(row, "recorded_at_ms", table: table, key: key))
            record.highWaterTerm = try boundedColumn(row, "max_term", table: table, key: key, max: maxTerm)
            record.highWaterCommit = try boundedColumn(row, "max_commit", table: table, key: key, max: maxLogIndex)
            record.resyncAuditFloor = try boundedColumn(
                row, "resync_audit_floor", table: table, key: key, max: maxLogIndex)
            record.resyncCount = Int(clamping: try int64Column(row, "resync_count", table: table, key: key))
            return record
        }
    }

    /// Records the folder's identity (first start). The high-water marks start at the hard state stored
    /// now (non-zero for a folder written before identities were recorded). An identity already
    /// recorded is never replaced: a different one throws `identityAlreadyRecorded`.
    public func recordIdentity(_ identity: FolderIdentity) throws {
        try write("record the folder identity") { db in
            if let existing = try Row.fetchOne(
                db, sql: "SELECT corridor_id, node_id, fingerprint FROM folder_identity WHERE id = 1")
            {
                let same =
                    textColumn(existing, "corridor_id") == identity.corridorID
                    && optionalInt64Column(existing, "node_id") == Int64(bitPattern: identity.nodeID)
                    && blobColumn(existing, "fingerprint") == identity.fingerprint
                if same { return }
                throw StorageError.identityAlreadyRecorded(path: self.directory)
            }
            try db.execute(
                sql: """
                    INSERT INTO folder_identity (id, format, corridor_id, node_id, cluster_id, fingerprint, voters, learners,
                                                 recorded_at_ms, max_term, max_commit)
                    SELECT 1, ?, ?, ?, ?, ?, ?, ?, ?, term, commit_index FROM raft_state WHERE id = 1
                    """,
                arguments: [
                    identity.format, identity.corridorID, Int64(bitPattern: identity.nodeID), identity.clusterID,
                    Data(identity.fingerprint), identity.voters.map(String.init).joined(separator: ","),
                    identity.learners.map(String.init).joined(separator: ","), identity.recordedAtMs
                ])
        }
    }

    /// Replaces the recorded fingerprint (and its format) — only for a build whose fingerprint encoding
    /// changed, after the caller established that the corridor file is the one of the first start
    /// (`Controller.StartupCheck` compares the folder's `corridor.yaml` copy). The cluster id is kept.
    public func updateFingerprint(_ fingerprint: [UInt8], format: Int = FolderIdentity.currentFormat) throws {
        try write("update the folder fingerprint") { db in
            try db.execute(
                sql: "UPDATE folder_identity SET fingerprint = ?, format = ? WHERE id = 1",
                arguments: [Data(fingerprint), format])
        }
    }

    /// Lowers the high-water marks to the hard state stored now (`--force-new-member`: the operator
    /// accepts that this node starts without its memory).
    public func resetHighWaterMarks() throws {
        try write("reset the high-water marks") { db in
            try db.execute(
                sql: """
                    UPDATE folder_identity SET max_term = (SELECT term FROM raft_state WHERE id = 1),
                                               max_commit = (SELECT commit_index FROM raft_state WHERE id = 1)
                    """)
        }
    }

    /// For `greenwave controller resync`, in one transaction: keeps the identity, the term and the vote
    /// (a voter must never vote twice in a term), the audit rows and lamp events (evidence, append-only);
    /// drops every log entry and snapshot and sets the commit index and compaction point to 0, so that
    /// the node rebuilds its state from what the leader sends (a snapshot when its log is compacted).
    /// Audit rows up to the current audit head are marked as written before the re-sync: the start-up
    /// self-check does not compare them with the new replay.
    @discardableResult
    public func resetForResync() throws -> ResyncOutcome {
        try write("reset for re-sync") { db in
            let state = try RaftStateRow.fetch(db)
            let entries = try Int.fetchOne(db, sql: "SELECT count(*) FROM log_entry") ?? 0
            let snapshots = try Int.fetchOne(db, sql: "SELECT count(*) FROM snapshot") ?? 0
            let (auditHead, _) = try Self.auditHead(db)
            try db.execute(sql: "DELETE FROM log_entry")
            try db.execute(sql: "DELETE FROM snapshot")
            var reset = state
            reset.hardState.commit = 0
            reset.snapshotIndex = 0
            reset.snapshotTerm = 0
            try reset.store(db)
            try db.execute(
                sql: """
                    UPDATE folder_identity SET max_commit = 0, resync_audit_floor = max(resync_audit_floor, ?),
                                               resync_count = resync_count + 1
                    """, arguments: [try sqlInt(auditHead, "audit head")])
            return ResyncOutcome(
                keptHardState: reset.hardState, droppedEntries: entries, droppedSnapshots: snapshots,
                auditFloor: auditHead)
        }
    }

    /// The newest membership this folder knows, read without trusting the rest of the log: the newest
    /// configuration entry whose checksum verifies and that decodes, else the newest snapshot's, else nil.
    public func newestKnownMembership() throws -> (membership: Membership, source: String)? {
        try read("read the newest membership") { db in
            let rows = try Row.fetchCursor(
                db, sql: "SELECT idx, term, kind, data, checksum FROM log_entry WHERE kind = ? ORDER BY idx DESC",
                arguments: [Int64(EntryKind.config.rawValue)])
            while let row = try rows.next() {
                if let e = try? Self.decodeEntry(row), let m = Membership.decode(e.data) {
                    return (m, "the configuration entry at index \(e.index)")
                }
            }
            let snaps = try Row.fetchCursor(db, sql: "SELECT * FROM snapshot ORDER BY idx DESC")
            while let row = try snaps.next() {
                if let s = try? Self.decodeSnapshot(row) { return (s.membership, "the snapshot at index \(s.index)") }
            }
            return nil
        }
    }
}
