import Foundation
import GRDB
import RaftCore

/// The single `raft_state` row: hard state plus the compaction point.
struct RaftStateRow {
    var hardState: HardState
    var snapshotIndex: LogIndex
    var snapshotTerm: Term

    static func fetch(_ db: Database) throws -> RaftStateRow {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: "SELECT term, vote, commit_index, snapshot_index, snapshot_term FROM raft_state WHERE id = 1"))
        else {
            throw StorageError.corruptRow(table: "raft_state", key: "id 1", reason: "the row is missing")
        }
        let key = "id 1"
        func u(_ col: String, _ max: UInt64) throws -> UInt64 {
            try boundedColumn(row, col, table: "raft_state", key: key, max: max)
        }
        // Node ids are stored bit for bit (any UInt64 but 0 names a node).
        let vote = try int64Column(row, "vote", table: "raft_state", key: key)
        let state = RaftStateRow(
            hardState: HardState(
                term: try u("term", maxTerm), vote: UInt64(bitPattern: vote), commit: try u("commit_index", maxLogIndex)
            ),
            snapshotIndex: try u("snapshot_index", maxLogIndex), snapshotTerm: try u("snapshot_term", maxTerm))
        return state
    }

    func store(_ db: Database) throws {
        try db.cachedStatement(
            sql: """
                UPDATE raft_state SET term = ?, vote = ?, commit_index = ?, snapshot_index = ?, snapshot_term = ?
                WHERE id = 1
                """
        ).execute(
            arguments: [
                try sqlInt(hardState.term, "term"), Int64(bitPattern: hardState.vote),
                try sqlInt(hardState.commit, "commit index"), try sqlInt(snapshotIndex, "snapshot index"),
                try sqlInt(snapshotTerm, "snapshot term")
            ])
    }
}

extension RaftStore {
    // MARK: Group commit

    /// Stores everything in `batch` in ONE transaction: the writes in order (each write's entries replace
    /// the stored suffix from their first index; the last hard state wins), then the audit rows (chained),
    /// then the lamp events. If it throws, nothing of the batch is stored.
    ///
    /// Returns after the commit is durable (fsync'ed) when the batch holds a snapshot, entries, lamp events
    /// or a hard state whose term or vote differs from the stored one. A batch of only a new commit index
    /// and/or audit rows is not fsync'ed of its own (etcd's rule: a Ready that only moves the commit index
    /// needs no sync): it is in the write-ahead log at once (a kill -9 loses nothing) and durable with the
    /// next synced commit; a power loss before that may lose it, which costs nothing acknowledged — the
    /// commit index is learned again from the leader and the start-up replay writes the audit rows of the
    /// committed entries again (`StartupCheck`). The WAL keeps the commits' order, so the stored commit index
    /// is never behind an audit row written after it. `syncedWrites` / `unsyncedWrites` count the two.
    @discardableResult
    public func commit(_ batch: WriteBatch) throws -> WriteResult {
        try wrap("group commit") {
            let sync = needsSync(batch)
            storedTermVote = nil // unknown until this commit is known to have succeeded
            let result = try transaction(synced: sync) { db in try commitBody(db, batch) }
            storedTermVote = (result.hardState.term, result.hardState.vote)
            return result
        }
    }

    /// Whether `batch` must be fsync'ed before `commit` returns (see there). Called inside `wrap`.
    func needsSync(_ batch: WriteBatch) -> Bool {
        guard let stored = storedTermVote, batch.lampEvents.isEmpty else { return true }
        for w in batch.writes {
            if w.snapshot != nil || !w.entries.isEmpty { return true }
            if let hs = w.hardState, hs.term != stored.term || hs.vote != stored.vote { return true }
        }
        return false
    }

    private func commitBody(_ db: Database, _ batch: WriteBatch) throws -> WriteResult {
        var state = try RaftStateRow.fetch(db)
        var last = try Self.lastIndex(db, state)
        var entriesWritten = 0
        var stateChanged = false
        // The term at `last` when this transaction wrote that entry itself (nil: read it back).
        var lastTerm: Term?
        for w in batch.writes {
            if let snapshot = w.snapshot {
                if stateChanged { try state.store(db) }
                if try self.installSnapshot(db, snapshot) {
                    state = try RaftStateRow.fetch(db)
                    last = state.snapshotIndex
                    lastTerm = nil
                    stateChanged = false
                }
            }
            if !w.entries.isEmpty {
                let (newLast, n) = try Self.appendEntries(db, w.entries, state: state, lastIndex: last)
                last = newLast
                if n > 0, let e = w.entries.last, e.index == newLast { lastTerm = e.term }
                entriesWritten += n
            }
            if let hs = w.hardState {
                state.hardState = hs
                stateChanged = true
            }
        }
        if stateChanged { try state.store(db) }
        let audits = try Self.appendAudit(db, batch.auditRecords)
        try Self.insertLampEvents(db, batch.lampEvents)
        return WriteResult(
            lastIndex: last, lastTerm: try lastTerm ?? Self.term(db, at: last, state: state, lastIndex: last),
            hardState: state.hardState, entriesWritten: entriesWritten,
            auditRowsWritten: audits, lampEventsWritten: batch.lampEvents.count)
    }

    /// Persists one Ready's hard state and entries in one transaction (see `commit(_:)`).
    @discardableResult
    public func append(_ entries: [Entry], hardState: HardState? = nil) throws -> WriteResult {
        try commit(WriteBatch(writes: [LogWrite(hardState: hardState, entries: entries)]))
    }

    /// Stores the hard state alone.
    public func setHardState(_ hardState: HardState) throws {
        try commit(WriteBatch(writes: [LogWrite(hardState: hardState)]))
    }

    // MARK: Log edits

    /// Deletes the entries from `index` on. Entries at or below the compaction point cannot be removed.
    public func truncateSuffix(from index: LogIndex) throws {
        try write("truncate log suffix") { db in
            let state = try RaftStateRow.fetch(db)
            guard index > state.snapshotIndex else {
                throw StorageError.compacted(index: index, snapshotIndex: state.snapshotIndex)
            }
            try db.execute(sql: "DELETE FROM log_entry WHERE idx >= ?", arguments: [try sqlInt(index, "index")])
        }
    }

    /// Deletes the entries up to and including `index` and records (index, its term) as the compaction
    /// point. A no-op when `index` is at or below the current compaction point. Save a snapshot at or
    /// past `index` first: `load()` refuses a compacted log that no snapshot covers. The audit table is
    /// never touched.
    public func compact(through index: LogIndex) throws {
        try write("compact log prefix") { db in
            var state = try RaftStateRow.fetch(db)
            guard index > state.snapshotIndex else { return }
            let last = try Self.lastIndex(db, state)
            guard index <= last else { throw StorageError.unavailable(index: index, lastIndex: last) }
            let term = try Self.term(db, at: index, state: state, lastIndex: last)
            try db.execute(sql: "DELETE FROM log_entry WHERE idx <= ?", arguments: [try sqlInt(index, "index")])
            state.snapshotIndex = index
            state.snapshotTerm = term
            try state.store(db)
        }
    }

    // MARK: Log reads

    public func hardState() throws -> HardState {
        try read("read hard state") { db in try RaftStateRow.fetch(db).hardState }
    }

    /// The compaction point: the index and term of the last entry folded into a snapshot (0, 0 if none).
    public func compactionPoint() throws -> (index: LogIndex, term: Term) {
        try read("read compaction point") { db in
            let s = try RaftStateRow.fetch(db)
            return (s.snapshotIndex, s.snapshotTerm)
        }
    }

    /// The first index still in the log (compaction point + 1), even when the log is empty.
    public func firstIndex() throws -> LogIndex {
        try read("read first index") { db in try RaftStateRow.fetch(db).snapshotIndex + 1 }
    }

    /// The last index in the log, or the compaction point when no entry is stored.
    public func lastIndex() throws -> LogIndex {
        try read("read last index") { db in try Self.lastIndex(db, RaftStateRow.fetch(db)) }
    }

    /// The term of the entry at `index`: 0 for index 0, the snapshot term at the compaction point.
    public func term(at index: LogIndex) throws -> Term {
        try read("read term") { db in
            let state = try RaftStateRow.fetch(db)
            return try Self.term(db, at: index, state: state, lastIndex: Self.lastIndex(db, state))
        }
    }

    /// The entries in [low, high), stopping early (but always returning at least one entry when the
    /// range is non-empty) once `maxBytes` of `Entry.sizeBytes` would be exceeded.
    public func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int = .max) throws -> [Entry] {
        try read("read log range") { db in
            guard low <= high else { throw StorageError.invalidRange(low: low, high: high) }
            let state = try RaftStateRow.fetch(db)
            guard low > state.snapshotIndex else {
                throw StorageError.compacted(index: low, snapshotIndex: state.snapshotIndex)
            }
            let last = try Self.lastIndex(db, state)
            guard high <= last + 1 else { throw StorageError.unavailable(index: high - 1, lastIndex: last) }
            if low == high { return [] }
            var out: [Entry] = []
            var bytes = 0
            let rows = try Row.fetchCursor(
                db,
                sql: "SELECT idx, term, kind, data, checksum FROM log_entry WHERE idx >= ? AND idx < ? ORDER BY idx",
                arguments: [try sqlInt(low, "index"), try sqlInt(high, "index")])
            var expected = low
            var stoppedBySize = false
            while let row = try rows.next() {
                let e = try Self.decodeEntry(row)
                guard e.index == expected else {
                    throw StorageError.corruptRow(
                        table: "log_entry", key: "idx \(expected)", reason: "the entry is missing (the log has a hole)")
                }
                if !out.isEmpty, bytes + e.sizeBytes > maxBytes {
                    stoppedBySize = true
                    break
                }
                bytes += e.sizeBytes
                out.append(e)
                expected += 1
            }
            if !stoppedBySize, expected < high {
                throw StorageError.corruptRow(
                    table: "log_entry", key: "idx \(expected)", reason: "the entry is missing (the log has a hole)")
            }
            return out
        }
    }

    // MARK: Restart

    /// Everything a restarting node needs: hard state, the log after the newest snapshot (or after the
    /// compaction point without one), the newest snapshot (checksum verified; a corrupt one throws
    /// `snapshotChecksumMismatch`) both as `restored.snapshot` and as stored, and `restored.applied` =
    /// the snapshot's index (0 without one).
    public func load() throws -> LoadedState {
        try read("load state") { db in
            let state = try RaftStateRow.fetch(db)
            var entries: [Entry] = []
            let rows = try Row.fetchCursor(
                db, sql: "SELECT idx, term, kind, data, checksum FROM log_entry ORDER BY idx")
            var expected = state.snapshotIndex + 1
            while let row = try rows.next() {
                let e = try Self.decodeEntry(row)
                guard e.index == expected else {
                    throw StorageError.corruptRow(
                        table: "log_entry", key: "idx \(expected)",
                        reason: e.index < expected
                            ? "an entry at or below the compaction point \(state.snapshotIndex) remains"
                            : "the entry is missing (the log has a hole before \(e.index))")
                }
                entries.append(e)
                expected += 1
            }
            let snapshot = try Self.latestSnapshot(db)
            if state.snapshotIndex > 0, (snapshot?.index ?? 0) < state.snapshotIndex {
                throw StorageError.missingSnapshot(
                    compactedThrough: state.snapshotIndex, newestSnapshot: snapshot?.index)
            }
            // RaftCore takes the compaction point from the snapshot when one is given: hand it the
            // entries after the snapshot only (those before are folded into it).
            let restored = RestoredState(
                hardState: state.hardState, entries: entries.filter { $0.index > (snapshot?.index ?? 0) },
                snapshotIndex: state.snapshotIndex, snapshotTerm: state.snapshotTerm,
                applied: snapshot?.index ?? 0, snapshot: snapshot?.raftSnapshot)
            return LoadedState(restored: restored, snapshot: snapshot)
        }
    }

    // MARK: Helpers (inside a transaction)

    static func lastIndex(_ db: Database, _ state: RaftStateRow) throws -> LogIndex {
        if let max = try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(idx) FROM log_entry")) {
            return try fromSQL(max, table: "log_entry", key: "max(idx)", field: "idx", max: maxLogIndex)
        }
        return state.snapshotIndex
    }

    static func term(_ db: Database, at index: LogIndex, state: RaftStateRow, lastIndex: LogIndex) throws -> Term {
        if index == 0 { return 0 }
        if index == state.snapshotIndex { return state.snapshotTerm }
        guard index > state.snapshotIndex else {
            throw StorageError.compacted(index: index, snapshotIndex: state.snapshotIndex)
        }
        guard index <= lastIndex else { throw StorageError.unavailable(index: index, lastIndex: lastIndex) }
        // The whole row, so that its checksum is verified before its term is believed.
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT idx, term, kind, data, checksum FROM log_entry WHERE idx = ?"),
                arguments: [try sqlInt(index, "index")])
        else {
            throw StorageError.corruptRow(
                table: "log_entry", key: "idx \(index)", reason: "the entry is missing (the log has a hole)")
        }
        return try decodeEntry(row).term
    }

    /// Decodes a `log_entry` row (idx, term, kind, data, checksum): every number range-checked against
    /// RaftCore's bounds, the kind a known one, and the checksum recomputed — a mismatch is
    /// `entryChecksumMismatch` naming the index, never an entry handed on.
    static func decodeEntry(_ row: Row) throws -> Entry {
        let idx = try int64Column(row, "idx", table: "log_entry", key: "idx ?")
        let key = "idx \(idx)"
        let index = try fromSQL(idx, table: "log_entry", key: key, field: "idx", max: maxLogIndex)
        let kindRaw = try int64Column(row, "kind", table: "log_entry", key: key)
        guard let raw = UInt8(exactly: kindRaw), let kind = EntryKind(rawValue: raw) else {
            throw StorageError.corruptRow(table: "log_entry", key: key, reason: "unknown entry kind \(kindRaw)")
        }
        let term = try boundedColumn(row, "term", table: "log_entry", key: key, max: maxTerm)
        let bytes: [UInt8]
        switch ((row["data"] as DatabaseValue?) ?? .null).storage {
        case .blob(let data): bytes = [UInt8](data)
        case .null: bytes = []
        default: throw StorageError.corruptRow(table: "log_entry", key: key, reason: "data is not a blob")
        }
        let computed = EntryChecksum.compute(index: index, term: term, kind: raw, data: bytes)
        guard let storedValue = row["checksum"] as DatabaseValue?, case .blob(let storedData) = storedValue.storage
        else {
            throw StorageError.entryChecksumMismatch(index: index, stored: "none", computed: hex(computed))
        }
        let stored = [UInt8](storedData)
        guard stored == computed else {
            throw StorageError.entryChecksumMismatch(index: index, stored: hex(stored), computed: hex(computed))
        }
        return Entry(term: term, index: index, kind: kind, data: bytes)
    }

    /// Validates and writes `entries`, replacing the stored suffix from the first one's index.
    /// Entries at or below the compaction point are already committed and folded into a snapshot:
    /// they are skipped. Returns the new last index and the number of rows written.
    static func appendEntries(
        _ db: Database, _ entries: [Entry], state: RaftStateRow, lastIndex: LogIndex
    ) throws -> (LogIndex, Int) {
        for i in entries.indices.dropFirst() {
            let prev = entries[i - 1]
            let e = entries[i]
            guard e.index == prev.index + 1 else {
                throw StorageError.entriesNotConsecutive(at: e.index, previous: prev.index)
            }
            guard e.term >= prev.term else {
                throw StorageError.termsDecrease(at: e.index, term: e.term, previousTerm: prev.term)
            }
        }
        let toWrite = entries.drop { $0.index <= state.snapshotIndex }
        guard let first = toWrite.first else { return (lastIndex, 0) }
        guard first.index <= lastIndex + 1 else {
            throw StorageError.appendLeavesGap(firstIndex: first.index, lastIndex: lastIndex)
        }
        if first.index > 1 {
            let prevTerm = try term(db, at: first.index - 1, state: state, lastIndex: lastIndex)
            guard first.term >= prevTerm else {
                throw StorageError.termsDecrease(at: first.index, term: first.term, previousTerm: prevTerm)
            }
        }
        if first.index <= lastIndex {
            try db.execute(sql: "DELETE FROM log_entry WHERE idx >= ?", arguments: [try sqlInt(first.index, "index")])
        }
        let insert = try db.cachedStatement(
            sql: "INSERT INTO log_entry (idx, term, kind, data, checksum) VALUES (?, ?, ?, ?, ?)")
        for e in toWrite {
            let sum = EntryChecksum.compute(index: e.index, term: e.term, kind: e.kind.rawValue, data: e.data)
            try insert.execute(arguments: [
                try sqlInt(e.index, "index"), try sqlInt(e.term, "term"), Int64(e.kind.rawValue), Data(e.data),
                Data(sum)
            ])
        }
        return (toWrite.last!.index, toWrite.count)
    }
}
