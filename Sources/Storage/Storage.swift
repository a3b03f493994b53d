import Crypto
// Storage: Greenwave's durable state on one SQLite file (WAL, synchronous=FULL).
//
// `RaftStore` keeps the Raft hard state and log, state-machine snapshots (SHA-256 checked on load),
// the append-only audit chain and the lamp event log. Every write method runs one SQLite transaction
// and returns only after it committed; with `synchronous=FULL` in WAL mode the commit has been
// fsync'ed to the write-ahead log by then, so what a method reports written survives a kill -9 or a
// power loss — except a group commit of only a commit index and audit rows, which is fsync'ed with the
// next synced commit (`RaftStore.commit`). See docs/storage.md.
import Foundation
import GRDB
import RaftCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

public final class RaftStore: @unchecked Sendable {
    public static let databaseFileName = "greenwave.sqlite"
    public static let lockFileName = "LOCK"

    /// The data directory and the database file inside it.
    public let directory: String
    public let databasePath: String
    /// How many snapshots to keep (the newest ones); older ones are deleted when a snapshot is saved.
    public let snapshotsToKeep: Int

    let dbQueue: DatabaseQueue
    /// Guards `lockFD` (-1 once closed) and serializes operations with `close()`.
    private let closeLock = NSLock()
    private var lockFD: Int32
    /// The term and vote of the `raft_state` row as the last group commit left it (nil: not known, as after
    /// any other write): a batch whose hard state keeps them needs no fsync of its own (`commit(_:)`).
    /// Guarded by `closeLock`.
    var storedTermVote: (term: Term, vote: NodeID)?
    /// False while the connection may be left at `synchronous=NORMAL` (an unsynced write whose restore
    /// failed): the next synced write sets FULL again first. Guarded by `closeLock`.
    private var synchronousIsFull = true
    /// Write transactions committed with an fsync, and without one (`commit(_:)`); for tests, read while no
    /// write runs.
    private(set) var syncedWrites = 0
    private(set) var unsyncedWrites = 0

    /// Opens (creating if needed) the store in `directory`, takes the directory's lock file, and
    /// migrates the schema. Throws `StorageError.dataDirectoryLocked` when another process uses it.
    public init(directory: String, snapshotsToKeep: Int = 2) throws {
        precondition(snapshotsToKeep >= 1, "keep at least one snapshot")
        self.directory = directory
        self.databasePath = (directory as NSString).appendingPathComponent(Self.databaseFileName)
        self.snapshotsToKeep = snapshotsToKeep
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StorageError.cannotOpen(
                path: directory, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        let lockPath = (directory as NSString).appendingPathComponent(Self.lockFileName)
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 {
            throw StorageError.cannotOpen(path: lockPath, reason: String(cString: strerror(errno)))
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            _ = Glibc_close(fd)
            if err == EWOULDBLOCK { throw StorageError.dataDirectoryLocked(path: directory) }
            throw StorageError.cannotOpen(path: lockPath, reason: String(cString: strerror(err)))
        }

        var config = Configuration()
        config.label = "greenwave.storage"
        config.prepareDatabase { db in
            // WAL: readers never block the writer; a commit appends to the -wal file.
            // synchronous=FULL: the WAL is fsync'ed at every commit, so a commit that returned is durable.
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        let path = databasePath
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            try queue.write { db in
                let migrator = Self.migrator
                if try migrator.hasBeenSuperseded(db) {
                    let known = Set(migrator.migrations)
                    let unknown = try migrator.appliedIdentifiers(db).subtracting(known).sorted()
                    throw StorageError.schemaTooNew(path: path, unknownMigrations: unknown)
                }
            }
            try Self.migrator.migrate(queue)
            let mode = try queue.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
            guard mode?.lowercased() == "wal" else {
                throw StorageError.cannotOpen(
                    path: path, reason: "SQLite refused WAL mode (journal_mode is \(mode ?? "unknown"))")
            }
            self.dbQueue = queue
            self.lockFD = fd
        } catch {
            _ = flock(fd, LOCK_UN)
            _ = Glibc_close(fd)
            if let e = error as? StorageError { throw e }
            throw StorageError.cannotOpen(path: databasePath, reason: "\(error)")
        }
    }

    deinit {
        try? close()
    }

    /// Closes the database and releases the directory lock. Further calls fail with `.closed`.
    public func close() throws {
        closeLock.lock()
        defer { closeLock.unlock() }
        guard lockFD >= 0 else { return }
        defer {
            _ = flock(lockFD, LOCK_UN)
            _ = Glibc_close(lockFD)
            lockFD = -1
        }
        do { try dbQueue.close() } catch {
            throw StorageError.sqlite(operation: "close", message: "\(error)")
        }
    }

    // MARK: Schema

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-raft-log-snapshots-audit-lamps") { db in try db.execute(sql: Self.v1Schema) }
        // Every log entry carries a checksum (EntryChecksum), written on append and verified on every
        // read. Rows written before this migration get theirs computed here, from their stored values;
        // a row whose values are out of range is left without one (and is refused when read).
        m.registerMigration(Self.entryChecksumMigration) { db in try Self.addEntryChecksums(db) }
        // Who the folder belongs to (FolderIdentity), recorded at first start and checked at every start,
        // with the highest term and commit index the raft_state row ever held (kept by a trigger): a
        // hard state that goes backwards is a database that lost its state.
        m.registerMigration(Self.folderIdentityMigration) { db in try db.execute(sql: Self.folderIdentitySchema) }
        // Typed evidence (schema v2 rows, issue 15): rows written from now on carry the command's kind and
        // the outcome in typed columns, hashed by the v2 rules; the rows already stored stay v1 (format
        // 1, their hashes unchanged), so a migrated folder still verifies against its v1 hashes.
        m.registerMigration(Self.typedEvidenceMigration) { db in try db.execute(sql: Self.typedEvidenceColumns) }
        return m
    }

    /// The first schema: Raft state, log, snapshots, the append-only audit chain and the lamp event log.
    static let v1Schema = """
        CREATE TABLE raft_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            term INTEGER NOT NULL,
            vote INTEGER NOT NULL,
            commit_index INTEGER NOT NULL,
            snapshot_index INTEGER NOT NULL,
            snapshot_term INTEGER NOT NULL
        );
        INSERT INTO raft_state (id, term, vote, commit_index, snapshot_index, snapshot_term)
            VALUES (1, 0, 0, 0, 0, 0);
        CREATE TABLE log_entry (
            idx INTEGER PRIMARY KEY,
            term INTEGER NOT NULL,
            kind INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        CREATE TABLE snapshot (
            idx INTEGER PRIMARY KEY,
            term INTEGER NOT NULL,
            voters TEXT NOT NULL,
            learners TEXT NOT NULL,
            data BLOB NOT NULL,
            sha256 BLOB NOT NULL
        );
        CREATE TABLE audit (
            idx INTEGER PRIMARY KEY,
            term INTEGER NOT NULL,
            leader_time_ms INTEGER NOT NULL,
            operator TEXT NOT NULL,
            client_id TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            command BLOB NOT NULL,
            command_text TEXT NOT NULL,
            result TEXT NOT NULL,
            state_hash BLOB NOT NULL,
            prev_index INTEGER NOT NULL,
            prev_row_hash BLOB NOT NULL,
            row_hash BLOB NOT NULL
        );
        CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit rows are append-only: UPDATE refused'); END;
        CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit rows are append-only: DELETE refused'); END;
        CREATE TABLE lamp_event (
            id INTEGER PRIMARY KEY,
            signal_id TEXT NOT NULL,
            time_ms INTEGER NOT NULL,
            event_code INTEGER NOT NULL,
            parameter INTEGER NOT NULL
        );
        CREATE INDEX lamp_event_by_signal_time ON lamp_event (signal_id, time_ms);
        """

    /// Adds the log entries' checksum column and computes it for the rows already stored, 1000 at a time.
    static func addEntryChecksums(_ db: Database) throws {
        try db.execute(sql: "ALTER TABLE log_entry ADD COLUMN checksum BLOB")
        var after: Int64 = -1
        while true {
            let rows = try Row.fetchAll(
                db, sql: "SELECT idx, term, kind, data FROM log_entry WHERE idx > ? ORDER BY idx LIMIT 1000",
                arguments: [after])
            guard let lastRow = rows.last else { break }
            for row in rows {
                let idx: Int64 = row["idx"]
                let term: Int64 = row["term"]
                let kind: Int64 = row["kind"]
                let data = [UInt8](row.storedData("data") ?? Data())
                guard idx >= 0, term >= 0, let k = UInt8(exactly: kind) else { continue }
                let sum = EntryChecksum.compute(index: UInt64(idx), term: UInt64(term), kind: k, data: data)
                try db.execute(sql: "UPDATE log_entry SET checksum = ? WHERE idx = ?", arguments: [Data(sum), idx])
            }
            after = lastRow["idx"]
        }
    }

    static let folderIdentitySchema = """
        CREATE TABLE folder_identity (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            format INTEGER NOT NULL,
            corridor_id TEXT NOT NULL,
            node_id INTEGER NOT NULL,
            cluster_id TEXT NOT NULL,
            fingerprint BLOB NOT NULL,
            voters TEXT NOT NULL,
            learners TEXT NOT NULL,
            recorded_at_ms INTEGER NOT NULL,
            max_term INTEGER NOT NULL DEFAULT 0,
            max_commit INTEGER NOT NULL DEFAULT 0,
            resync_audit_floor INTEGER NOT NULL DEFAULT 0,
            resync_count INTEGER NOT NULL DEFAULT 0
        );
        CREATE TRIGGER raft_state_high_water AFTER UPDATE ON raft_state
        BEGIN
            UPDATE folder_identity SET max_term = max(max_term, NEW.term), max_commit = max(max_commit, NEW.commit_index);
        END;
        """

    static let typedEvidenceColumns = """
        ALTER TABLE audit ADD COLUMN format INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE audit ADD COLUMN command_kind TEXT;
        ALTER TABLE audit ADD COLUMN result_kind TEXT;
        ALTER TABLE audit ADD COLUMN reason_code INTEGER;
        ALTER TABLE audit ADD COLUMN reason TEXT;
        ALTER TABLE audit ADD COLUMN effective_at_ms INTEGER;
        ALTER TABLE audit ADD COLUMN own_head_hash BLOB;
        """

    public static let typedEvidenceMigration = "v4-audit-typed-evidence"
    public static let entryChecksumMigration = "v2-log-entry-checksums"
    public static let folderIdentityMigration = "v3-folder-identity"
    /// Every migration this build knows, oldest first (for readers such as the audit tools).
    public static var knownMigrations: [String] { migrator.migrations }

    /// The schema migrations applied to this database, oldest first.
    public func appliedMigrations() throws -> [String] {
        try read("schema version") { db in try Self.migrator.completedMigrations(db) }
    }

    // MARK: Transactions

    /// Runs `body` in one write transaction; returns after the commit is durable. Any write but a group
    /// commit forgets the stored term and vote (`storedTermVote`): the next group commit syncs.
    func write<T>(_ operation: String, _ body: (Database) throws -> T) throws -> T {
        try wrap(operation) {
            storedTermVote = nil
            return try transaction(synced: true, body)
        }
    }

    /// Runs `body` in one write transaction, fsync'ed (`synchronous=FULL`, the connection's setting) or not
    /// (`synchronous=NORMAL` for this transaction: in WAL mode it is appended to the log without an fsync and
    /// becomes durable with the next synced commit — the WAL is replayed in order, so what survives a power
    /// loss is always a prefix of the commits; a kill -9 loses nothing either way). Called inside `wrap`.
    func transaction<T>(synced sync: Bool, _ body: (Database) throws -> T) throws -> T {
        if sync { return try synced { try dbQueue.write { db in try body(db) } } }
        return try dbQueue.writeWithoutTransaction { db in
            // SQLite refuses to change the safety level inside a transaction: set it around it.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            synchronousIsFull = false
            var result: T?
            do {
                try db.inTransaction {
                    result = try body(db)
                    return .commit
                }
            } catch {
                try? restoreFull(db)
                throw error
            }
            try restoreFull(db)
            unsyncedWrites += 1
            return result!
        }
    }

    private func restoreFull(_ db: Database) throws {
        try db.execute(sql: "PRAGMA synchronous = FULL")
        synchronousIsFull = true
    }

    /// `body` on a connection at `synchronous=FULL` (set again first if an unsynced write could not restore it).
    private func synced<T>(_ body: () throws -> T) throws -> T {
        if !synchronousIsFull { try dbQueue.writeWithoutTransaction { db in try restoreFull(db) } }
        let r = try body()
        syncedWrites += 1
        return r
    }

    func read<T>(_ operation: String, _ body: (Database) throws -> T) throws -> T {
        try wrap(operation) { try dbQueue.read { db in try body(db) } }
    }

    /// Runs one database operation under `closeLock` (GRDB's queue serializes them anyway), so that
    /// none can start on, or race with, a closed connection.
    func wrap<T>(_ operation: String, _ body: () throws -> T) throws -> T {
        closeLock.lock()
        defer { closeLock.unlock() }
        guard lockFD >= 0 else { throw StorageError.closed }
        do {
            return try body()
        } catch let error as StorageError {
            throw error
        } catch let error as AuditChainViolation {
            throw error
        } catch let error as DatabaseError {
            throw StorageError.sqlite(operation: operation, message: error.description)
        } catch {
            throw StorageError.sqlite(operation: operation, message: "\(error)")
        }
    }

    /// Test hook: the value of a PRAGMA on the store's connection.
    func pragmaForTesting(_ name: String) throws -> String? {
        try read("pragma") { db in
            switch try DatabaseValue.fetchOne(db, sql: "PRAGMA \(name)")?.storage {
            case .int64(let v)?: return String(v)
            case .string(let s)?: return s
            case .double(let d)?: return String(d)
            default: return nil
            }
        }
    }

    /// Test hook: the `detail` lines of EXPLAIN QUERY PLAN for `sql`.
    func queryPlanForTesting(_ sql: String) throws -> [String] {
        try read("explain") { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0.storedText("detail") ?? "" }
        }
    }

    /// Test hook: runs raw SQL outside the store's rules (used to simulate tampering).
    func executeRawSQLForTesting(_ sql: String) throws {
        try wrap("raw SQL") {
            storedTermVote = nil
            try dbQueue.writeWithoutTransaction { db in try db.execute(sql: sql) }
        }
    }
}

// glibc and Darwin both export `close`, which `RaftStore.close()` shadows inside the class.
// swift-format-ignore: AlwaysUseLowerCamelCase
@inline(__always) func Glibc_close(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
        return Glibc.close(fd)
    #else
        return Darwin.close(fd)
    #endif
}

// MARK: - Integer conversions (SQLite INTEGER is signed 64-bit)

@inline(__always) func sqlInt(_ value: UInt64, _ field: String) throws -> Int64 {
    guard value <= UInt64(Int64.max) else { throw StorageError.valueOutOfRange(field: field, value: value) }
    return Int64(value)
}

@inline(__always) func fromSQL(
    _ value: Int64, table: String, key: String, field: String, max: UInt64 = UInt64(Int64.max)
) throws -> UInt64 {
    guard value >= 0 else {
        throw StorageError.corruptRow(table: table, key: key, reason: "\(field) is negative (\(value))")
    }
    guard UInt64(value) <= max else {
        throw StorageError.corruptRow(table: table, key: key, reason: "\(field) \(value) is above its bound \(max)")
    }
    return UInt64(value)
}

/// Reads an INTEGER column without trapping: NULL, text, a real or a blob is a `corruptRow` (GRDB's
/// non-optional subscript would trap on them).
func int64Column(_ row: Row, _ column: String, table: String, key: String) throws -> Int64 {
    let value = (row[column] as DatabaseValue?) ?? .null
    if case .int64(let i) = value.storage { return i }
    throw StorageError.corruptRow(table: table, key: key, reason: "\(column) is not an integer (\(value))")
}

/// Reads a term, index or commit column and checks it against RaftCore's bounds.
func boundedColumn(_ row: Row, _ column: String, table: String, key: String, max: UInt64) throws -> UInt64 {
    try fromSQL(try int64Column(row, column, table: table, key: key), table: table, key: key, field: column, max: max)
}

/// The column as stored, never trapping (GRDB's typed subscripts trap on a failed conversion).
func rawColumn(_ row: Row, _ column: String) -> DatabaseValue { (row[column] as DatabaseValue?) ?? .null }
func textColumn(_ row: Row, _ column: String) -> String? {
    if case .string(let s) = rawColumn(row, column).storage { return s }
    return nil
}
func blobColumn(_ row: Row, _ column: String) -> [UInt8]? {
    if case .blob(let d) = rawColumn(row, column).storage { return [UInt8](d) }
    return nil
}
func optionalInt64Column(_ row: Row, _ column: String) -> Int64? {
    if case .int64(let i) = rawColumn(row, column).storage { return i }
    return nil
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func sha256(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }

extension Row {
    /// The column as an integer when SQLite stores it as one; nil otherwise (NULL, text, blob, real,
    /// a missing column). Never traps, unlike GRDB's typed subscripts on a value of another type — a
    /// row is input like any other and may have been edited by hand.
    public func storedInt64(_ column: String) -> Int64? {
        if case .int64(let i) = ((self[column] as DatabaseValue?) ?? .null).storage { return i }
        return nil
    }

    /// The column as text when SQLite stores it as text; nil otherwise. Never traps.
    public func storedText(_ column: String) -> String? {
        if case .string(let s) = ((self[column] as DatabaseValue?) ?? .null).storage { return s }
        return nil
    }

    /// The column's bytes when SQLite stores a blob; nil otherwise. Never traps.
    public func storedData(_ column: String) -> Data? {
        if case .blob(let d) = ((self[column] as DatabaseValue?) ?? .null).storage { return d }
        return nil
    }
}
