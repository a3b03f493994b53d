import Foundation
import GRDB
import RaftCore

/// The audit chain's hashing rules, public so that an auditor's tool can recompute them.
///
///     row_hash = SHA-256( prev_row_hash (32 bytes) ‖ canonicalEncoding(row) )
///
/// `canonicalEncoding` is, in this order, with integers big-endian and each variable-length field
/// prefixed by its byte length as a 4-byte big-endian unsigned integer (strings as UTF-8):
///
///     u8  version = 1
///     u64 index          u64 prev_index      u64 term       i64 leader_time_ms
///     len+bytes operator len+bytes client_id u64 sequence
///     len+bytes command  len+bytes command_text  len+bytes result
///     32 bytes state_hash
///
/// The first row's `prev_index` is 0 and its `prev_row_hash` is 32 zero bytes.
public enum AuditChain {
    public static let encodingVersion: UInt8 = 1
    public static let zeroHash = [UInt8](repeating: 0, count: 32)

    public static func canonicalEncoding(_ r: AuditRecord, prevIndex: LogIndex) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96 + r.command.count + r.commandText.utf8.count + r.result.utf8.count)
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) } }
        func bytes(_ b: [UInt8]) {
            withUnsafeBytes(of: UInt32(b.count).bigEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: b)
        }
        func text(_ s: String) { bytes(Array(s.utf8)) }
        out.append(encodingVersion)
        u64(r.index)
        u64(prevIndex)
        u64(r.term)
        u64(UInt64(bitPattern: r.leaderTimeMs))
        text(r.operatorName)
        text(r.clientID)
        u64(r.sequence)
        bytes(r.command)
        text(r.commandText)
        text(r.result)
        out.append(contentsOf: r.stateHash)
        return out
    }

    public static func rowHash(_ r: AuditRecord, prevIndex: LogIndex, prevRowHash: [UInt8]) -> [UInt8] {
        sha256(prevRowHash + canonicalEncoding(r, prevIndex: prevIndex))
    }
}

extension RaftStore {
    /// Appends audit rows in one transaction, chaining each to the previous one. Indexes must be
    /// strictly increasing and above the last stored audit row. Rows can never be changed or removed:
    /// the table's triggers refuse UPDATE and DELETE.
    public func appendAudit(_ records: [AuditRecord]) throws {
        try commit(WriteBatch(auditRecords: records))
    }

    /// The audit rows with index in [low, high), in index order (unverified; see `verifyAuditChain`).
    public func auditRows(from low: LogIndex = 0, to high: LogIndex = LogIndex(Int64.max)) throws -> [AuditRow] {
        try read("read audit rows") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE idx >= ? AND idx < ? ORDER BY idx",
                             arguments: [try sqlInt(low, "index"), try sqlInt(high, "index")]).map { try Self.decodeAudit($0).get() }
        }
    }

    /// The newest audit row's index and hash (0 and zero hash when empty), without verifying.
    public func auditHead() throws -> (index: LogIndex, hash: [UInt8]) {
        try read("read audit head") { db in try Self.auditHead(db) }
    }

    /// Walks the whole chain in index order, recomputing every row hash and checking every link.
    /// Throws the first `AuditChainViolation` found (tampered, missing, out-of-place row, broken link).
    /// Returns the head: keep it elsewhere to detect a removal of the newest rows, which no chain can
    /// reveal by itself.
    @discardableResult
    public func verifyAuditChain() throws -> AuditChainHead {
        try read("verify audit chain") { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT * FROM audit ORDER BY idx")
            var prevIndex: LogIndex = 0
            var prevHash = AuditChain.zeroHash
            var count = 0
            while let raw = try rows.next() {
                let row: AuditRow
                switch Self.decodeAudit(raw) {
                case let .success(r): row = r
                case let .failure(v): throw v
                }
                let index = row.record.index
                if AuditChain.rowHash(row.record, prevIndex: row.prevIndex, prevRowHash: row.prevRowHash) != row.rowHash {
                    throw AuditChainViolation.rowTampered(index: index)
                }
                if row.prevIndex > prevIndex {
                    throw AuditChainViolation.rowMissing(index: row.prevIndex, referencedBy: index)
                }
                if row.prevIndex < prevIndex {
                    throw AuditChainViolation.unexpectedRow(index: prevIndex, before: index)
                }
                if row.prevRowHash != prevHash {
                    throw AuditChainViolation.chainBroken(index: index, previousIndex: prevIndex)
                }
                prevIndex = index
                prevHash = row.rowHash
                count += 1
            }
            return AuditChainHead(rowCount: count, lastIndex: prevIndex, headHash: prevHash)
        }
    }

    static func auditHead(_ db: Database) throws -> (index: LogIndex, hash: [UInt8]) {
        guard let row = try Row.fetchOne(db, sql: "SELECT idx, row_hash FROM audit ORDER BY idx DESC LIMIT 1") else {
            return (0, AuditChain.zeroHash)
        }
        let idx = try int64Column(row, "idx", table: "audit", key: "newest row")
        return (try fromSQL(idx, table: "audit", key: "idx \(idx)", field: "idx", max: maxLogIndex), blobColumn(row, "row_hash") ?? [])
    }

    static func appendAudit(_ db: Database, _ records: [AuditRecord]) throws -> Int {
        guard !records.isEmpty else { return 0 }
        var (prevIndex, prevHash) = try auditHead(db)
        let insert = try db.cachedStatement(sql: """
            INSERT INTO audit (idx, term, leader_time_ms, operator, client_id, sequence, command, command_text,
                               result, state_hash, prev_index, prev_row_hash, row_hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for r in records {
            guard r.index > prevIndex else { throw StorageError.auditIndexNotIncreasing(index: r.index, lastAuditIndex: prevIndex) }
            guard r.stateHash.count == 32 else { throw StorageError.invalidStateHash(index: r.index, length: r.stateHash.count) }
            let hash = AuditChain.rowHash(r, prevIndex: prevIndex, prevRowHash: prevHash)
            try insert.execute(arguments: [
                try sqlInt(r.index, "audit index"), try sqlInt(r.term, "audit term"), r.leaderTimeMs, r.operatorName,
                r.clientID, Int64(bitPattern: r.sequence), Data(r.command), r.commandText, r.result, Data(r.stateHash),
                try sqlInt(prevIndex, "audit prev index"), Data(prevHash), Data(hash),
            ])
            prevIndex = r.index
            prevHash = hash
        }
        return records.count
    }

    static func decodeAudit(_ row: Row) -> Result<AuditRow, AuditChainViolation> {
        let rawIdx = optionalInt64Column(row, "idx") ?? -1
        guard rawIdx >= 0 else { return .failure(.malformedRow(index: 0, reason: "negative or missing index \(rawIdx)")) }
        let index = LogIndex(rawIdx)
        func blob(_ c: String) -> [UInt8]? { blobColumn(row, c) }
        func text(_ c: String) -> String? { textColumn(row, c) }
        func int(_ c: String) -> Int64? { optionalInt64Column(row, c) }
        guard let term = int("term"), term >= 0, let time = int("leader_time_ms"), let op = text("operator"),
              let client = text("client_id"), let seq = int("sequence"), let command = blob("command"),
              let commandText = text("command_text"), let result = text("result"), let stateHash = blob("state_hash"),
              let prevIndex = int("prev_index"), prevIndex >= 0, let prevHash = blob("prev_row_hash"),
              let rowHash = blob("row_hash")
        else { return .failure(.malformedRow(index: index, reason: "a column is NULL, negative or of the wrong type")) }
        guard stateHash.count == 32, prevHash.count == 32, rowHash.count == 32 else {
            return .failure(.malformedRow(index: index, reason: "a hash column is not 32 bytes"))
        }
        let record = AuditRecord(index: index, term: Term(term), leaderTimeMs: time, operatorName: op, clientID: client,
                                 sequence: UInt64(bitPattern: seq), command: command, commandText: commandText,
                                 result: result, stateHash: stateHash)
        return .success(AuditRow(record: record, prevIndex: LogIndex(prevIndex), prevRowHash: prevHash, rowHash: rowHash))
    }
}
