import Foundation
import GRDB
import RaftCore

/// A controller's database opened for reading only — the audit's way in, and the only SQL outside
/// `RaftStore`. It writes nothing (no migration, no lock file, no checkpoint) and can read beside a running
/// controller (SQLite's WAL lets readers in while the controller writes). Rows are decoded as stored and
/// nothing in them is trusted: a malformed row is reported with what is wrong, never trapped on.
public final class StoreReader: @unchecked Sendable {
    /// Why the reader failed: `isBadInput` when the folder itself is not a readable controller database
    /// (the person gave the wrong folder, or it was altered), false for an I/O failure while reading.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var isBadInput: Bool
        public var description: String { message }
    }

    public let directory: String
    private let db: DatabaseQueue

    /// Opens `directory`'s database read-only; refuses a folder without one, or with schema migrations
    /// this build does not know (a newer Greenwave wrote it), by name.
    public init(directory: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw Failure(message: "--data \(directory): no such folder", isBadInput: true)
        }
        let file = (directory as NSString).appendingPathComponent(RaftStore.databaseFileName)
        guard FileManager.default.fileExists(atPath: file) else {
            throw Failure(
                message: "--data \(directory): not a controller data folder (no \(RaftStore.databaseFileName) in it)",
                isBadInput: true)
        }
        self.directory = directory
        var config = Configuration()
        config.readonly = true
        config.label = "greenwave.reader"
        let applied: [String]
        do {
            db = try DatabaseQueue(path: file, configuration: config)
            applied = try db.read { db -> [String] in
                guard try db.tableExists("grdb_migrations") else { return [] }
                return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            }
        } catch {
            throw Failure(message: "--data \(directory): cannot open \(file) read-only: \(error)", isBadInput: true)
        }
        let unknown = Set(applied).subtracting(RaftStore.knownMigrations)
        guard unknown.isEmpty else {
            throw Failure(
                message:
                    "--data \(directory): the database has schema migrations this build does not know (\(unknown.sorted().joined(separator: ", "))); use a newer greenwave",
                isBadInput: true)
        }
        guard !applied.isEmpty else {
            throw Failure(message: "--data \(directory): the database has no Greenwave schema", isBadInput: true)
        }
    }

    /// The schema migrations applied to the database (docs/storage.md), oldest first.
    public func appliedMigrations() throws -> [String] {
        try read("read the schema migrations") { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
        }
    }

    // MARK: - Audit rows

    /// One stored audit row, decoded without trusting it: `row` is nil when a column has the wrong shape
    /// (then `problem` says which).
    public struct StoredAuditRow: Sendable {
        public var index: LogIndex
        public var row: AuditRow?
        public var problem: String?
    }

    /// Every audit row in index order, each decoded by `RaftStore.decodeAuditRow` (v1 and v2 rows, every
    /// column checked).
    public func auditRows() throws -> [StoredAuditRow] {
        try read("read the audit rows") { db in
            var out: [StoredAuditRow] = []
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM audit ORDER BY idx")
            while let raw = try cursor.next() {
                let index = LogIndex(max(0, raw.storedInt64("idx") ?? -1))
                switch RaftStore.decodeAuditRow(raw) {
                case .success(let r): out.append(StoredAuditRow(index: index, row: r, problem: nil))
                case .failure(.malformedRow(_, let reason)):
                    out.append(StoredAuditRow(index: index, row: nil, problem: reason))
                case .failure(let v): out.append(StoredAuditRow(index: index, row: nil, problem: "\(v)"))
                }
            }
            return out
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
            guard
                let r = try Row.fetchOne(
                    db, sql: "SELECT term, commit_index, snapshot_index FROM raft_state WHERE id = 1")
            else {
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
        /// Set when the row's stored checksum (`EntryChecksum`, databases since v2-log-entry-checksums)
        /// does not match its index, term, kind and data: what differs.
        public var checksumMismatch: String? = nil
    }

    /// Log entries with index in [low, high], in order.
    public func logEntries(from low: LogIndex, through high: LogIndex) throws -> [LogEntryRow] {
        guard low <= high else { return [] }
        return try read("read the log") { db in
            let hasChecksums = try db.columns(in: "log_entry").contains { $0.name == "checksum" }
            let sql =
                "SELECT idx, term, kind, data\(hasChecksums ? ", checksum" : "") FROM log_entry WHERE idx >= ? AND idx <= ? ORDER BY idx"
            return try Row.fetchAll(db, sql: sql, arguments: [Int64(clamping: low), Int64(clamping: high)]).map { r in
                var e = LogEntryRow(
                    index: UInt64(max(0, r.storedInt64("idx") ?? 0)), term: UInt64(max(0, r.storedInt64("term") ?? 0)),
                    kind: UInt8(clamping: r.storedInt64("kind") ?? 255),
                    data: (r.storedData("data").map { [UInt8]($0) }) ?? [])
                if hasChecksums {
                    let computed = EntryChecksum.compute(index: e.index, term: e.term, kind: e.kind, data: e.data)
                    let stored = r.storedData("checksum").map { [UInt8]($0) }
                    if stored != computed {
                        e.checksumMismatch =
                            "its checksum does not match: stored \(stored.map(hex) ?? "none"), computed \(hex(computed))"
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

    /// Stored snapshots, oldest first (unverified: the reader checks nothing about their contents).
    public func snapshots() throws -> [SnapshotRow] {
        try read("read the snapshots") { db in
            try Row.fetchAll(db, sql: "SELECT idx, term, data, sha256 FROM snapshot ORDER BY idx").map { r in
                SnapshotRow(
                    index: UInt64(max(0, r.storedInt64("idx") ?? 0)), term: UInt64(max(0, r.storedInt64("term") ?? 0)),
                    data: (r.storedData("data").map { [UInt8]($0) }) ?? [],
                    sha256: (r.storedData("sha256").map { [UInt8]($0) }) ?? [])
            }
        }
    }

    // MARK: - Lamp events

    /// Lamp events with time in [from, to), of one signal (or all), in time order, ties in insertion order.
    /// A row with a NULL or mistyped column is refused (the lamp log was altered).
    public func lampEvents(signalID: String? = nil, from: Int64 = .min, to: Int64 = .max) throws -> [LampEvent] {
        try read("read the lamp event log") { db in
            let columns = "SELECT signal_id, time_ms, event_code, parameter FROM lamp_event"
            let rows: [Row]
            if let s = signalID {
                rows = try Row.fetchAll(
                    db, sql: "\(columns) WHERE signal_id = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms, id",
                    arguments: [s, from, to])
            } else {
                rows = try Row.fetchAll(
                    db, sql: "\(columns) WHERE time_ms >= ? AND time_ms < ? ORDER BY time_ms, id", arguments: [from, to]
                )
            }
            return try rows.map(Self.decodeLampEvent)
        }
    }

    /// One `lamp_event` row, every column checked.
    public static func decodeLampEvent(_ r: Row) throws -> LampEvent {
        guard let sig = r.storedText("signal_id"), let t = r.storedInt64("time_ms"),
            let code = r.storedInt64("event_code"),
            let param = r.storedInt64("parameter")
        else {
            let when = r.storedInt64("time_ms").map { "at \($0) ms" } ?? "at an unknown time"
            throw Failure(
                message:
                    "a lamp_event row \(when) has a NULL column or one of the wrong type: the lamp log was altered",
                isBadInput: true)
        }
        return LampEvent(signalID: sig, timeMs: t, eventCode: code, parameter: param)
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
            try Int64.fetchOne(
                db, sql: "SELECT MAX(time_ms) FROM lamp_event WHERE signal_id = ? AND event_code = ? AND time_ms <= ?",
                arguments: [signalID, code, t])
        }
    }

    private func read<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try db.read(body)
        } catch let f as Failure {
            throw f
        } catch {
            throw Failure(message: "\(directory): cannot \(what): \(error)", isBadInput: false)
        }
    }
}
