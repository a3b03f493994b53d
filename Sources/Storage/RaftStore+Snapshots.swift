import Foundation
import GRDB
import RaftCore

extension RaftStore {
    /// Stores `snapshot` with the SHA-256 of its data (replacing one at the same index), then deletes
    /// all but the newest `snapshotsToKeep`. Does not touch the log: call `compact(through:)` after.
    public func saveSnapshot(_ snapshot: StoredSnapshot) throws {
        try write("save snapshot") { db in try self.insertSnapshot(db, snapshot) }
    }

    /// For a follower that received `snapshot` from its leader (`Ready.snapshot`), in one transaction:
    /// stores it, replaces the whole log with it (the compaction point becomes the snapshot's index
    /// and term, no entry is kept), and raises the stored commit index to at least the snapshot's
    /// index. Returns false (and changes nothing) when the snapshot is not newer than the compaction
    /// point. `commit(_:)` does the same for a `LogWrite` that carries a snapshot.
    @discardableResult
    public func installSnapshot(_ snapshot: StoredSnapshot) throws -> Bool {
        try write("install snapshot") { db in try self.installSnapshot(db, snapshot) }
    }

    func installSnapshot(_ db: Database, _ snapshot: StoredSnapshot) throws -> Bool {
        var state = try RaftStateRow.fetch(db)
        guard snapshot.index > state.snapshotIndex else { return false }
        try db.execute(sql: "DELETE FROM log_entry")
        try insertSnapshot(db, snapshot)
        state.snapshotIndex = snapshot.index
        state.snapshotTerm = snapshot.term
        state.hardState.commit = max(state.hardState.commit, snapshot.index)
        try state.store(db)
        return true
    }

    /// The newest snapshot, verified against its SHA-256, or nil when there is none. A checksum
    /// mismatch throws `snapshotChecksumMismatch`; an older snapshot is not silently used instead.
    public func latestSnapshot() throws -> StoredSnapshot? {
        try read("load latest snapshot") { db in try Self.latestSnapshot(db) }
    }

    /// The snapshot at `index`, verified. Throws `snapshotNotFound` or `snapshotChecksumMismatch`.
    public func snapshot(at index: LogIndex) throws -> StoredSnapshot {
        try read("load snapshot") { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM snapshot WHERE idx = ?", arguments: [try sqlInt(index, "index")])
            else {
                throw StorageError.snapshotNotFound(index: index)
            }
            return try Self.decodeSnapshot(row)
        }
    }

    /// The indexes of the stored snapshots, oldest first.
    public func snapshotIndexes() throws -> [LogIndex] {
        try read("list snapshots") { db in
            try Row.fetchAll(db, sql: "SELECT idx FROM snapshot ORDER BY idx").map {
                try boundedColumn($0, "idx", table: "snapshot", key: "idx", max: maxLogIndex)
            }
        }
    }

    func insertSnapshot(_ db: Database, _ s: StoredSnapshot) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO snapshot (idx, term, voters, learners, data, sha256) VALUES (?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                try sqlInt(s.index, "snapshot index"), try sqlInt(s.term, "snapshot term"),
                s.membership.voters.map(String.init).joined(separator: ","),
                s.membership.learners.map(String.init).joined(separator: ","),
                Data(s.data), Data(sha256(s.data))
            ])
        try db.execute(
            sql: "DELETE FROM snapshot WHERE idx NOT IN (SELECT idx FROM snapshot ORDER BY idx DESC LIMIT ?)",
            arguments: [snapshotsToKeep])
    }

    static func latestSnapshot(_ db: Database) throws -> StoredSnapshot? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM snapshot ORDER BY idx DESC LIMIT 1") else {
            return nil
        }
        return try decodeSnapshot(row)
    }

    static func decodeSnapshot(_ row: Row) throws -> StoredSnapshot {
        let idx = try int64Column(row, "idx", table: "snapshot", key: "idx ?")
        let key = "idx \(idx)"
        let index = try fromSQL(idx, table: "snapshot", key: key, field: "idx", max: maxLogIndex)
        let data = blobColumn(row, "data") ?? []
        let stored = blobColumn(row, "sha256") ?? []
        let computed = sha256(data)
        guard stored == computed else {
            throw StorageError.snapshotChecksumMismatch(index: index, stored: hex(stored), computed: hex(computed))
        }
        func ids(_ column: String) throws -> [NodeID] {
            guard let text = textColumn(row, column) else {
                throw StorageError.corruptRow(table: "snapshot", key: key, reason: "\(column) is not text")
            }
            if text.isEmpty { return [] }
            return try text.split(separator: ",").map {
                guard let id = NodeID($0), id != noNode else {
                    throw StorageError.corruptRow(
                        table: "snapshot", key: key, reason: "\(column) has a bad node id \"\($0)\"")
                }
                return id
            }
        }
        let voters = try ids("voters")
        let learners = try ids("learners")
        guard !voters.isEmpty else { throw StorageError.corruptRow(table: "snapshot", key: key, reason: "no voters") }
        guard Set(voters).count == voters.count, Set(learners).count == learners.count else {
            throw StorageError.corruptRow(table: "snapshot", key: key, reason: "a node id appears twice")
        }
        guard Set(voters).isDisjoint(with: learners) else {
            throw StorageError.corruptRow(table: "snapshot", key: key, reason: "a node is both voter and learner")
        }
        return StoredSnapshot(
            index: index, term: try boundedColumn(row, "term", table: "snapshot", key: key, max: maxTerm),
            membership: Membership(voters: voters, learners: learners), data: data)
    }
}
