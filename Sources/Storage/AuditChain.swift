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
/// Schema v2 rows (typed evidence, `format` = 2) replace the two texts by typed fields:
///
///     u8  version = 2
///     u64 index          u64 prev_index      u64 term       i64 leader_time_ms
///     len+bytes operator len+bytes client_id u64 sequence
///     len+bytes command  len+bytes command_kind
///     u8 result kind: 1 accepted  → i64 effective_at_ms
///                     2 rejected  → u8 reason_code, len+bytes reason
///                     3 checkpoint → u8 0 (no own row) | u8 1, 32 bytes own_head_hash
///     32 bytes state_hash
///
/// The first row's `prev_index` is 0 and its `prev_row_hash` is 32 zero bytes. A chain may hold v1 rows
/// followed by v2 rows (a folder migrated from v1): each row is hashed by its own version.
public enum AuditChain {
    public static let encodingVersion: UInt8 = 2
    public static let zeroHash = [UInt8](repeating: 0, count: 32)

    public static func canonicalEncoding(_ r: AuditRecord, prevIndex: LogIndex) -> [UInt8] {
        if let o = r.outcome { return canonicalEncodingV2(r, o, prevIndex: prevIndex) }
        var w = CanonicalBytes(capacity: 96 + r.command.count + r.commandText.utf8.count + r.result.utf8.count)
        w.header(version: 1, r, prevIndex: prevIndex)
        w.text(r.commandText)
        w.text(r.result)
        w.out.append(contentsOf: r.stateHash)
        return w.out
    }

    static func canonicalEncodingV2(_ r: AuditRecord, _ o: AuditOutcome, prevIndex: LogIndex) -> [UInt8] {
        var w = CanonicalBytes(capacity: 128 + r.command.count + r.operatorName.utf8.count)
        w.header(version: 2, r, prevIndex: prevIndex)
        w.text(r.commandKind)
        switch o {
        case .accepted(let t):
            w.out.append(1)
            w.u64(UInt64(bitPattern: t))
        case .rejected(let code, let reason):
            w.out.append(2)
            w.out.append(code)
            w.text(reason)
        case .checkpoint(let own):
            w.out.append(3)
            if let own {
                w.out.append(1)
                w.out.append(contentsOf: own)
            } else {
                w.out.append(0)
            }
        }
        w.out.append(contentsOf: r.stateHash)
        return w.out
    }

    public static func rowHash(_ r: AuditRecord, prevIndex: LogIndex, prevRowHash: [UInt8]) -> [UInt8] {
        sha256(prevRowHash + canonicalEncoding(r, prevIndex: prevIndex))
    }

    /// One step of the chain walk — the one rule every walker applies (`RaftStore.verifyAuditChain`
    /// stops at the first violation, the audit's verifier reports and explains them all): the row must
    /// hash to its stored hash, and name the row before it (`previousIndex`, whose stored hash is
    /// `previousHash`; 0 and zeros before the first row). Nil when it does.
    public static func check(_ row: AuditRow, previousIndex: LogIndex, previousHash: [UInt8]) -> AuditChainViolation? {
        let index = row.record.index
        if rowHash(row.record, prevIndex: row.prevIndex, prevRowHash: row.prevRowHash) != row.rowHash {
            return .rowTampered(index: index)
        }
        if row.prevIndex > previousIndex { return .rowMissing(index: row.prevIndex, referencedBy: index) }
        if row.prevIndex < previousIndex { return .unexpectedRow(index: previousIndex, before: index) }
        if row.prevRowHash != previousHash { return .chainBroken(index: index, previousIndex: previousIndex) }
        return nil
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
            try Row.fetchAll(
                db, sql: "SELECT * FROM audit WHERE idx >= ? AND idx < ? ORDER BY idx",
                arguments: [try sqlInt(low, "index"), try sqlInt(high, "index")]
            ).map { try Self.decodeAudit($0).get() }
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
                case .success(let r): row = r
                case .failure(let v): throw v
                }
                if let v = AuditChain.check(row, previousIndex: prevIndex, previousHash: prevHash) { throw v }
                prevIndex = row.record.index
                prevHash = row.rowHash
                count += 1
            }
            return AuditChainHead(rowCount: count, lastIndex: prevIndex, headHash: prevHash)
        }
    }

    static func auditHead(_ db: Database) throws -> (index: LogIndex, hash: [UInt8]) {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT idx, row_hash FROM audit ORDER BY idx DESC LIMIT 1"))
        else {
            return (0, AuditChain.zeroHash)
        }
        let idx = try int64Column(row, "idx", table: "audit", key: "newest row")
        return (
            try fromSQL(idx, table: "audit", key: "idx \(idx)", field: "idx", max: maxLogIndex),
            blobColumn(row, "row_hash") ?? []
        )
    }

    static func appendAudit(_ db: Database, _ records: [AuditRecord]) throws -> Int {
        guard !records.isEmpty else { return 0 }
        var (prevIndex, prevHash) = try auditHead(db)
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO audit (idx, term, leader_time_ms, operator, client_id, sequence, command, command_text,
                                   result, state_hash, prev_index, prev_row_hash, row_hash,
                                   format, command_kind, result_kind, reason_code, reason, effective_at_ms, own_head_hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        for r in records {
            guard r.index > prevIndex else {
                throw StorageError.auditIndexNotIncreasing(index: r.index, lastAuditIndex: prevIndex)
            }
            guard r.stateHash.count == 32 else {
                throw StorageError.invalidStateHash(index: r.index, length: r.stateHash.count)
            }
            if case .checkpoint(let own?)? = r.outcome, own.count != 32 {
                throw StorageError.invalidStateHash(index: r.index, length: own.count)
            }
            let hash = AuditChain.rowHash(r, prevIndex: prevIndex, prevRowHash: prevHash)
            var kind: String? = nil
            var code: Int64? = nil
            var reason: String? = nil
            var effective: Int64? = nil
            var own: Data? = nil
            switch r.outcome {
            case nil: break
            case .accepted(let t)?:
                kind = "accepted"
                effective = t
            case .rejected(let c, let why)?:
                kind = "rejected"
                code = Int64(c)
                reason = why
            case .checkpoint(let h)?:
                kind = "checkpoint"
                own = h.map { Data($0) }
            }
            try insert.execute(arguments: [
                try sqlInt(r.index, "audit index"), try sqlInt(r.term, "audit term"), r.leaderTimeMs, r.operatorName,
                r.clientID, Int64(bitPattern: r.sequence), Data(r.command), r.commandText, r.result, Data(r.stateHash),
                try sqlInt(prevIndex, "audit prev index"), Data(prevHash), Data(hash),
                Int64(r.format), r.outcome == nil ? nil : r.commandKind, kind, code, reason, effective, own
            ])
            prevIndex = r.index
            prevHash = hash
        }
        return records.count
    }

    /// Decodes one stored audit row (v1 or v2) without trusting it: every column's type and range is
    /// checked, and a row that fails is a `malformedRow` naming why — never a trap. Public so that a
    /// reader of the evidence (the audit tools) uses this decoder, not its own.
    public static func decodeAuditRow(_ row: Row) -> Result<AuditRow, AuditChainViolation> { decodeAudit(row) }

    static func decodeAudit(_ row: Row) -> Result<AuditRow, AuditChainViolation> {
        let rawIdx = optionalInt64Column(row, "idx") ?? -1
        guard rawIdx >= 0 else {
            return .failure(.malformedRow(index: 0, reason: "negative or missing index \(rawIdx)"))
        }
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
        var record = AuditRecord(
            index: index, term: Term(term), leaderTimeMs: time, operatorName: op, clientID: client,
            sequence: UInt64(bitPattern: seq), command: command, commandText: commandText,
            result: result, stateHash: stateHash)
        // A database from before v4 has no `format` column: every row is v1.
        switch int("format") ?? 1 {
        case 1:
            break
        case 2:
            guard let kind = text("command_kind"), kind.utf8.count <= 64 else {
                return .failure(.malformedRow(index: index, reason: "a v2 row without a command kind"))
            }
            record.commandKind = kind
            switch text("result_kind") {
            case "accepted"?:
                guard let t = int("effective_at_ms") else {
                    return .failure(.malformedRow(index: index, reason: "an accepted v2 row without an effective time"))
                }
                record.outcome = .accepted(effectiveAtMs: t)
            case "rejected"?:
                guard let c = int("reason_code"), (1...255).contains(c), let why = text("reason") else {
                    return .failure(
                        .malformedRow(
                            index: index, reason: "a rejected v2 row without a reason code in 1...255 and a reason"))
                }
                record.outcome = .rejected(code: UInt8(c), reason: why)
            case "checkpoint"?:
                let own = blob("own_head_hash")
                guard own == nil || own?.count == 32 else {
                    return .failure(
                        .malformedRow(index: index, reason: "a checkpoint row's own head hash is not 32 bytes"))
                }
                record.outcome = .checkpoint(ownHeadHash: own)
            default:
                return .failure(
                    .malformedRow(
                        index: index, reason: "a v2 row whose result kind is not accepted, rejected or checkpoint"))
            }
        case let f:
            return .failure(.malformedRow(index: index, reason: "row format \(f) (this build reads 1 and 2)"))
        }
        return .success(
            AuditRow(record: record, prevIndex: LogIndex(prevIndex), prevRowHash: prevHash, rowHash: rowHash))
    }
}

/// The audit row's canonical bytes: big-endian integers, length-prefixed (u32) byte strings and UTF-8 text.
struct CanonicalBytes {
    var out: [UInt8] = []

    init(capacity: Int) { out.reserveCapacity(capacity) }

    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) } }

    mutating func bytes(_ b: [UInt8]) {
        withUnsafeBytes(of: UInt32(b.count).bigEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: b)
    }

    mutating func text(_ s: String) { bytes(Array(s.utf8)) }

    /// What both versions begin with: the version byte, the row's place in the chain, who and the command.
    mutating func header(version: UInt8, _ r: AuditRecord, prevIndex: LogIndex) {
        out.append(version)
        u64(r.index)
        u64(prevIndex)
        u64(r.term)
        u64(UInt64(bitPattern: r.leaderTimeMs))
        text(r.operatorName)
        text(r.clientID)
        u64(r.sequence)
        bytes(r.command)
    }
}
