import CorridorFile
import Foundation
import GRDB
import RaftCore
import Storage

/// A controller's data folder opened for reading only: the audit never writes to the evidence (no
/// migration, no lock file, no checkpoint), and it can read next to a running controller (SQLite's WAL
/// lets readers in while the controller writes). Rows are read as stored; nothing here trusts them.
public final class DataFolder: @unchecked Sendable {
    /// The schema this reader understands (docs/storage.md); a newer database is refused by name.
    public static let knownMigrations: Set<String> = Set(RaftStore.knownMigrations)

    public let path: String
    let db: DatabaseQueue

    public init(path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw AuditError("--data \(path): no such folder")
        }
        let file = (path as NSString).appendingPathComponent(RaftStore.databaseFileName)
        guard FileManager.default.fileExists(atPath: file) else {
            throw AuditError("--data \(path): not a controller data folder (no \(RaftStore.databaseFileName) in it)")
        }
        self.path = path
        var config = Configuration()
        config.readonly = true
        config.label = "greenwave.audit"
        do {
            db = try DatabaseQueue(path: file, configuration: config)
            let applied = try db.read { db -> [String] in
                guard try db.tableExists("grdb_migrations") else { return [] }
                return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            }
            let unknown = Set(applied).subtracting(Self.knownMigrations)
            guard unknown.isEmpty else {
                throw AuditError("--data \(path): the database has schema migrations this build does not know (\(unknown.sorted().joined(separator: ", "))); use a newer greenwave")
            }
            guard !applied.isEmpty else { throw AuditError("--data \(path): the database has no Greenwave schema") }
        } catch let e as AuditError {
            throw e
        } catch {
            throw AuditError("--data \(path): cannot open \(file) read-only: \(error)")
        }
    }

    /// The schema migrations applied to the database (docs/storage.md), oldest first.
    public func appliedMigrations() throws -> [String] {
        try read("read the schema migrations") { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
    }

    /// The folder's name (`s01`), for reports.
    public var name: String { (path as NSString).lastPathComponent }

    // MARK: - Audit rows

    /// One stored audit row, decoded without trusting it: `row` is nil when a column has the wrong
    /// shape (then `problem` says which).
    public struct StoredRow: Sendable {
        public var index: LogIndex
        public var row: ChainRow?
        public var problem: String?
    }

    /// Every audit row in index order.
    public func auditRows() throws -> [StoredRow] {
        try read("read the audit rows") { db in
            var out: [StoredRow] = []
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM audit ORDER BY idx")
            while let raw = try cursor.next() { out.append(Self.decodeAudit(raw)) }
            return out
        }
    }

    /// Storage's own decoder (`RaftStore.decodeAuditRow`: v1 and v2 rows, every column checked).
    static func decodeAudit(_ raw: Row) -> StoredRow {
        let idx: Int64 = raw.storedInt64("idx") ?? -1
        let index = LogIndex(max(0, idx))
        switch RaftStore.decodeAuditRow(raw) {
        case .success(let r):
            return StoredRow(index: index, row: ChainRow(record: r.record, prevIndex: r.prevIndex, prevRowHash: r.prevRowHash, rowHash: r.rowHash), problem: nil)
        case .failure(let v):
            if case let .malformedRow(_, reason) = v { return StoredRow(index: index, row: nil, problem: reason) }
            return StoredRow(index: index, row: nil, problem: "\(v)")
        }
    }

    // MARK: - Raft state, log, snapshots

    public struct RaftState: Sendable {
        public var term: Term
        public var commitIndex: LogIndex
        /// The compaction point: entries at or below it exist only inside a snapshot.
        public var snapshotIndex: LogIndex
    }

    public func raftState() throws -> RaftState {
        try read("read the Raft state") { db in
            guard let r = try Row.fetchOne(db, sql: "SELECT term, commit_index, snapshot_index FROM raft_state WHERE id = 1") else {
                return RaftState(term: 0, commitIndex: 0, snapshotIndex: 0)
            }
            func u(_ c: String) -> UInt64 { UInt64(max(0, r.storedInt64(c) ?? 0)) }
            return RaftState(term: u("term"), commitIndex: u("commit_index"), snapshotIndex: u("snapshot_index"))
        }
    }

    public struct LogEntryRow: Sendable {
        public var index: LogIndex
        public var term: Term
        /// RaftCore's `EntryKind` raw value (0 normal, 1 no-op, 2 configuration).
        public var kind: UInt8
        public var data: [UInt8]
        /// Set when the row's stored checksum (`Storage.EntryChecksum`, databases since
        /// v2-log-entry-checksums) does not match its index, term, kind and data: what differs.
        public var checksumMismatch: String? = nil
    }

    /// Log entries with index in [low, high], in order.
    public func logEntries(from low: LogIndex, through high: LogIndex) throws -> [LogEntryRow] {
        guard low <= high else { return [] }
        return try read("read the log") { db in
            let hasChecksums = try db.columns(in: "log_entry").contains { $0.name == "checksum" }
            return try Row.fetchAll(db, sql: "SELECT idx, term, kind, data\(hasChecksums ? ", checksum" : "") FROM log_entry WHERE idx >= ? AND idx <= ? ORDER BY idx",
                                    arguments: [Int64(clamping: low), Int64(clamping: high)]).map { r in
                var e = LogEntryRow(index: UInt64(max(0, r.storedInt64("idx") ?? 0)), term: UInt64(max(0, r.storedInt64("term") ?? 0)),
                                    kind: UInt8(clamping: r.storedInt64("kind") ?? 255), data: (r.storedData("data").map { [UInt8]($0) }) ?? [])
                if hasChecksums {
                    let computed = EntryChecksum.compute(index: e.index, term: e.term, kind: e.kind, data: e.data)
                    let stored = r.storedData("checksum").map { [UInt8]($0) }
                    if stored != computed {
                        e.checksumMismatch = "its checksum does not match: stored \(stored.map(hexString) ?? "none"), computed \(hexString(computed))"
                    }
                }
                return e
            }
        }
    }

    public struct SnapshotRow: Sendable {
        public var index: LogIndex
        public var term: Term
        public var data: [UInt8]
        /// The SHA-256 of `data` recorded when it was saved.
        public var sha256: [UInt8]
    }

    /// Stored snapshots, oldest first (unverified: see `Replayer.verifiedSnapshot`).
    public func snapshots() throws -> [SnapshotRow] {
        try read("read the snapshots") { db in
            try Row.fetchAll(db, sql: "SELECT idx, term, data, sha256 FROM snapshot ORDER BY idx").map { r in
                SnapshotRow(index: UInt64(max(0, r.storedInt64("idx") ?? 0)), term: UInt64(max(0, r.storedInt64("term") ?? 0)),
                            data: (r.storedData("data").map { [UInt8]($0) }) ?? [], sha256: (r.storedData("sha256").map { [UInt8]($0) }) ?? [])
            }
        }
    }

    // MARK: - Lamp events

    /// Lamp events with time in [from, to), of one signal (or all), in time order, ties in insertion order.
    public func lampEvents(signalID: String? = nil, from: Int64 = .min, to: Int64 = .max) throws -> [LampEvent] {
        try read("read the lamp event log") { db in
            let rows: [Row]
            if let s = signalID {
                rows = try Row.fetchAll(db, sql: "SELECT signal_id, time_ms, event_code, parameter FROM lamp_event WHERE signal_id = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms, id",
                                        arguments: [s, from, to])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT signal_id, time_ms, event_code, parameter FROM lamp_event WHERE time_ms >= ? AND time_ms < ? ORDER BY time_ms, id",
                                        arguments: [from, to])
            }
            return try rows.map { r in
                guard let sig = r.storedText("signal_id"), let t = r.storedInt64("time_ms"), let code = r.storedInt64("event_code"),
                      let param = r.storedInt64("parameter") else {
                    throw AuditError("a lamp_event row near \(r.storedInt64("time_ms").map { AuditTime.iso($0) } ?? "an unknown time") has a NULL column or one of the wrong type: the lamp log was altered")
                }
                return LampEvent(signalID: sig, timeMs: t, eventCode: code, parameter: param)
            }
        }
    }

    /// The signals that have lamp events in this folder (normally one: the controller's own).
    public func lampSignals() throws -> [String] {
        try read("read the lamp event log") { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT signal_id FROM lamp_event ORDER BY signal_id")
        }
    }

    /// The time of the latest event with `code` of `signalID` at or before `t`.
    public func lastLampEvent(signalID: String, code: Int64, atOrBefore t: Int64) throws -> Int64? {
        try read("read the lamp event log") { db in
            try Int64.fetchOne(db, sql: "SELECT MAX(time_ms) FROM lamp_event WHERE signal_id = ? AND event_code = ? AND time_ms <= ?",
                               arguments: [signalID, code, t])
        }
    }

    // MARK: - Corridor

    /// Where the controller recorded its corridor file at first start (`Controller.CorridorCopy`).
    public static let corridorCopyName = "corridor.yaml"

    public var corridorCopyPath: String { (path as NSString).appendingPathComponent(Self.corridorCopyName) }

    /// The corridor the folder's history started from: `override` if given, else the folder's
    /// recorded copy; nil if neither (replay then needs a snapshot).
    public func corridor(override: String?) throws -> (document: CorridorDocument, source: String)? {
        let p: String
        if let o = override {
            p = o
        } else if FileManager.default.fileExists(atPath: corridorCopyPath) {
            p = corridorCopyPath
        } else {
            return nil
        }
        do {
            return (try CorridorFile.load(path: p), p)
        } catch {
            throw AuditError("corridor \(p): \(error)")
        }
    }

    private func read<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try db.read(body)
        } catch let e as AuditError {
            throw e
        } catch {
            throw AuditError("\(path): cannot \(what): \(error)", badInput: false)
        }
    }
}

/// A stored audit row: the record and its place in the hash chain (as `Storage.AuditRow`).
public struct ChainRow: Sendable, Equatable {
    public var record: AuditRecord
    public var prevIndex: LogIndex
    public var prevRowHash: [UInt8]
    public var rowHash: [UInt8]

    public init(record: AuditRecord, prevIndex: LogIndex, prevRowHash: [UInt8], rowHash: [UInt8]) {
        self.record = record
        self.prevIndex = prevIndex
        self.prevRowHash = prevRowHash
        self.rowHash = rowHash
    }
}
