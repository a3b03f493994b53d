import Foundation
import RaftCore
import XCTest

@testable import Storage

final class AuditTests: XCTestCase {
    /// A store whose audit table holds rows at 1...10 (or `indexes`), with the append-only triggers
    /// dropped when `dropTriggers` so that raw SQL can tamper with it.
    func chainedStore(indexes: [LogIndex] = Array(1...10), dropTriggers: Bool) throws -> RaftStore {
        let (store, _) = try makeStore(self)
        try store.appendAudit(indexes.prefix(4).map { auditRecord($0) })
        try store.appendAudit(indexes.dropFirst(4).map { auditRecord($0) })
        XCTAssertNoThrow(try store.verifyAuditChain(), "the untouched chain verifies")
        if dropTriggers {
            try store.executeRawSQLForTesting(
                "DROP TRIGGER audit_append_only_update; DROP TRIGGER audit_append_only_delete;")
        }
        return store
    }

    func assertViolation(
        _ store: RaftStore, _ expected: AuditChainViolation, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrows(expected, try store.verifyAuditChain(), file: file, line: line)
    }

    /// Pins the exact bytes hashed (docs/storage.md); the digest was computed independently (Python hashlib).
    func testCanonicalEncodingAndHashAreThePublishedFormat() {
        let r = AuditRecord(
            index: 7, term: 2, leaderTimeMs: 1_700_000_000_123, operatorName: "asha", clientID: "console-1",
            sequence: 42, command: [1, 2, 3], commandText: "mode rush-hour", result: "ok",
            stateHash: Array(0..<32))
        XCTAssertEqual(
            hexBytes(AuditChain.canonicalEncoding(r, prevIndex: 3)),
            "010000000000000007000000000000000300000000000000020000018bcfe5687b000000046173686100000009636f6e736f6c652d31000000000000002a000000030102030000000e6d6f646520727573682d686f7572000000026f6b000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        )
        XCTAssertEqual(
            hexBytes(AuditChain.rowHash(r, prevIndex: 3, prevRowHash: AuditChain.zeroHash)),
            "c9cb0cc9f41fc949f4b89d54a8855d5b5ec32bc232f7701eb9c0905822cbb8bb")
    }

    /// Schema v2 rows (typed evidence): the bytes hashed for an accepted, a rejected and a checkpoint row,
    /// pinned; digests computed independently (Python hashlib, from docs/storage.md).
    func testV2CanonicalEncodingAndHashAreThePublishedFormat() {
        func r(
            _ o: AuditOutcome, kind: String = "setMode", op: String = "asha", client: String = "console-1",
            seq: UInt64 = 42
        ) -> AuditRecord {
            AuditRecord(
                index: 7, term: 2, leaderTimeMs: 1_700_000_000_123, operatorName: op, clientID: client, sequence: seq,
                command: [1, 2, 3], stateHash: Array(0..<32), commandKind: kind, outcome: o)
        }
        let rejected = r(.rejected(code: 11, reason: "not held"))
        XCTAssertEqual(rejected.format, 2)
        XCTAssertEqual(
            hexBytes(AuditChain.canonicalEncoding(rejected, prevIndex: 3)),
            "020000000000000007000000000000000300000000000000020000018bcfe5687b000000046173686100000009636f6e736f6c652d31000000000000002a00000003010203000000077365744d6f6465020b000000086e6f742068656c64000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        )
        XCTAssertEqual(
            hexBytes(AuditChain.rowHash(rejected, prevIndex: 3, prevRowHash: AuditChain.zeroHash)),
            "a129eb7b18636290fc22258c98ccaa9674ca58c4cf6ff066e73da0eb7d5be04e")
        XCTAssertEqual(
            hexBytes(
                AuditChain.rowHash(
                    r(.accepted(effectiveAtMs: 1_700_000_005_000)), prevIndex: 3, prevRowHash: AuditChain.zeroHash)),
            "f68c19f8695bdece741553a96b8928147c76ad6c6aedb1063a88b641e295ee38")
        let cp = r(
            .checkpoint(ownHeadHash: [UInt8](repeating: 0xAB, count: 32)), kind: "checkpoint", op: "", client: "",
            seq: 0)
        XCTAssertEqual(
            hexBytes(AuditChain.rowHash(cp, prevIndex: 3, prevRowHash: AuditChain.zeroHash)),
            "090c10c20d45e4ace8042038ef53612a6e1b8ebe1fa98d41f1df140e1d1d0e75")
    }

    /// v2 rows round-trip through the store beside v1 rows in one chain, and an edit of a typed column
    /// (here the reason code) breaks its row's hash.
    func testV2RowsRoundTripAfterV1RowsAndATypedEditIsCaught() throws {
        let (store, _) = try makeStore(self)
        try store.appendAudit([auditRecord(1), auditRecord(2)])
        let v2: [AuditRecord] = [
            AuditRecord(
                index: 3, term: 1, leaderTimeMs: 10, operatorName: "ravi", clientID: "c", sequence: 1, command: [9],
                stateHash: Array(repeating: 1, count: 32),
                commandKind: "hold", outcome: .accepted(effectiveAtMs: 5_010)),
            AuditRecord(
                index: 5, term: 1, leaderTimeMs: 11, operatorName: "ravi", clientID: "c", sequence: 2, command: [9],
                stateHash: Array(repeating: 2, count: 32),
                commandKind: "release", outcome: .rejected(code: 11, reason: "signal 1 is not held")),
            AuditRecord(
                index: 6, term: 1, leaderTimeMs: 12, operatorName: "", clientID: "", sequence: 0, command: [7],
                stateHash: Array(repeating: 2, count: 32),
                commandKind: "checkpoint", outcome: .checkpoint(ownHeadHash: nil)),
            AuditRecord(
                index: 8, term: 1, leaderTimeMs: 13, operatorName: "", clientID: "", sequence: 0, command: [7],
                stateHash: Array(repeating: 2, count: 32),
                commandKind: "checkpoint", outcome: .checkpoint(ownHeadHash: Array(repeating: 3, count: 32)))
        ]
        try store.appendAudit(v2)
        XCTAssertNoThrow(try store.verifyAuditChain())
        let rows = try store.auditRows()
        XCTAssertEqual(rows.map(\.record.format), [1, 1, 2, 2, 2, 2])
        XCTAssertEqual(Array(rows.map(\.record).suffix(4)), v2)
        try store.executeRawSQLForTesting(
            "DROP TRIGGER audit_append_only_update; UPDATE audit SET reason_code = 3 WHERE idx = 5")
        assertViolation(store, .rowTampered(index: 5))
        try store.executeRawSQLForTesting("UPDATE audit SET reason_code = 11, result_kind = 'maybe' WHERE idx = 5")
        XCTAssertThrowsError(try store.verifyAuditChain()) { XCTAssertTrue("\($0)".contains("result kind"), "\($0)") }
    }

    func testChainIsBuiltAcrossAppendsAndVerifies() throws {
        let store = try chainedStore(indexes: [1, 2, 4, 7, 8, 9], dropTriggers: false)
        let rows = try store.auditRows()
        XCTAssertEqual(rows.map(\.record.index), [1, 2, 4, 7, 8, 9])
        XCTAssertEqual(rows.map(\.prevIndex), [0, 1, 2, 4, 7, 8])
        XCTAssertEqual(rows[0].prevRowHash, AuditChain.zeroHash)
        for (prev, row) in zip(rows, rows.dropFirst()) {
            XCTAssertEqual(row.prevRowHash, prev.rowHash)
        }
        for row in rows {
            XCTAssertEqual(
                row.rowHash, AuditChain.rowHash(row.record, prevIndex: row.prevIndex, prevRowHash: row.prevRowHash))
        }
        XCTAssertEqual(rows[3].record, auditRecord(7))
        let head = try store.verifyAuditChain()
        XCTAssertEqual(head, AuditChainHead(rowCount: 6, lastIndex: 9, headHash: rows[5].rowHash))
        XCTAssertEqual(try store.auditHead().hash, rows[5].rowHash)
        XCTAssertEqual(try store.auditRows(from: 3, to: 8).map(\.record.index), [4, 7])
    }

    func testAppendRefusesNonIncreasingIndexAndBadStateHash() throws {
        let store = try chainedStore(indexes: [1, 2, 3], dropTriggers: false)
        XCTAssertThrows(
            StorageError.auditIndexNotIncreasing(index: 3, lastAuditIndex: 3), try store.appendAudit([auditRecord(3)]))
        XCTAssertThrows(
            StorageError.auditIndexNotIncreasing(index: 5, lastAuditIndex: 5),
            try store.appendAudit([auditRecord(5), auditRecord(5)]))
        var bad = auditRecord(9)
        bad.stateHash = [1, 2, 3]
        XCTAssertThrows(StorageError.invalidStateHash(index: 9, length: 3), try store.appendAudit([bad]))
        XCTAssertEqual(try store.verifyAuditChain().lastIndex, 3, "refused appends store nothing")
    }

    func testTriggersRefuseUpdateAndDelete() throws {
        let store = try chainedStore(dropTriggers: false)
        for sql in [
            "UPDATE audit SET result = 'forged' WHERE idx = 3", "DELETE FROM audit WHERE idx = 3", "DELETE FROM audit"
        ] {
            XCTAssertThrowsError(try store.executeRawSQLForTesting(sql), sql) { error in
                XCTAssertTrue("\(error)".contains("append-only"), "\(error)")
            }
        }
        XCTAssertEqual(try store.verifyAuditChain().rowCount, 10)
    }

    func testCompactionNeverTouchesTheAuditTable() throws {
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 10, term: 1))
        try store.appendAudit((1...10).map { auditRecord($0) })
        try store.saveSnapshot(StoredSnapshot(index: 10, term: 1, membership: Membership(voters: [1]), data: []))
        try store.compact(through: 10)
        XCTAssertTrue(
            try store.installSnapshot(StoredSnapshot(index: 30, term: 2, membership: Membership(voters: [1]), data: []))
        )
        XCTAssertEqual(try store.verifyAuditChain().rowCount, 10)
    }

    func testTamperedRowIsNamed() throws {
        let store = try chainedStore(dropTriggers: true)
        try store.executeRawSQLForTesting("UPDATE audit SET result = 'rejected: no such signal' WHERE idx = 6")
        assertViolation(store, .rowTampered(index: 6))
    }

    func testTamperedBlobAndTimeAreNamed() throws {
        let store = try chainedStore(dropTriggers: true)
        try store.executeRawSQLForTesting("UPDATE audit SET leader_time_ms = leader_time_ms + 1 WHERE idx = 9")
        try store.executeRawSQLForTesting("UPDATE audit SET command = X'00' WHERE idx = 4")
        assertViolation(store, .rowTampered(index: 4))
    }

    func testDeletedRowIsNamed() throws {
        let store = try chainedStore(dropTriggers: true)
        try store.executeRawSQLForTesting("DELETE FROM audit WHERE idx = 5")
        assertViolation(store, .rowMissing(index: 5, referencedBy: 6))
        XCTAssertTrue("\(AuditChainViolation.rowMissing(index: 5, referencedBy: 6))".contains("audit row 5 is missing"))
    }

    func testDeletedFirstRowIsNamed() throws {
        let store = try chainedStore(dropTriggers: true)
        try store.executeRawSQLForTesting("DELETE FROM audit WHERE idx = 1")
        assertViolation(store, .rowMissing(index: 1, referencedBy: 2))
    }

    func testDeletedRunOfRowsNamesTheNewestMissing() throws {
        let store = try chainedStore(dropTriggers: true)
        try store.executeRawSQLForTesting("DELETE FROM audit WHERE idx BETWEEN 3 AND 5")
        assertViolation(store, .rowMissing(index: 5, referencedBy: 6))
    }

    func testSwappedRowsAreNamed() throws {
        let store = try chainedStore(dropTriggers: true)
        // Rows 5 and 6 trade places (each keeps its own contents and hashes).
        try store.executeRawSQLForTesting(
            """
            UPDATE audit SET idx = -1 WHERE idx = 5;
            UPDATE audit SET idx = 5 WHERE idx = 6;
            UPDATE audit SET idx = 6 WHERE idx = -1;
            """)
        assertViolation(store, .rowTampered(index: 5))
    }

    func testSwappedContentsAreNamed() throws {
        let store = try chainedStore(dropTriggers: true)
        // Rows 3 and 8 exchange their commands and results, keeping their hashes.
        try store.executeRawSQLForTesting(
            """
            CREATE TEMP TABLE t AS SELECT idx, command, command_text, result FROM audit WHERE idx IN (3, 8);
            UPDATE audit SET command = (SELECT command FROM t WHERE t.idx = 11 - audit.idx),
                             command_text = (SELECT command_text FROM t WHERE t.idx = 11 - audit.idx),
                             result = (SELECT result FROM t WHERE t.idx = 11 - audit.idx)
            WHERE idx IN (3, 8);
            """)
        assertViolation(store, .rowTampered(index: 3))
    }

    func testRewrittenRowWithRecomputedHashBreaksTheNextLink() throws {
        let store = try chainedStore(dropTriggers: true)
        let rows = try store.auditRows()
        var forged = rows[3].record // index 4
        forged.result = "forged"
        let hash = AuditChain.rowHash(forged, prevIndex: rows[3].prevIndex, prevRowHash: rows[3].prevRowHash)
        try store.executeRawSQLForTesting(
            "UPDATE audit SET result = 'forged', row_hash = X'\(hexBytes(hash))' WHERE idx = 4")
        assertViolation(store, .chainBroken(index: 5, previousIndex: 4))
    }

    func testInsertedRowIsNamed() throws {
        let store = try chainedStore(indexes: [1, 2, 4, 5], dropTriggers: true)
        // A forged row at 3 that chains correctly to row 2 still does not fit before row 4.
        let rows = try store.auditRows()
        let forged = auditRecord(3)
        let hash = AuditChain.rowHash(forged, prevIndex: 2, prevRowHash: rows[1].rowHash)
        try store.executeRawSQLForTesting(
            """
            INSERT INTO audit (idx, term, leader_time_ms, operator, client_id, sequence, command, command_text, result,
                               state_hash, prev_index, prev_row_hash, row_hash) VALUES (3, \(forged.term), \(forged.leaderTimeMs), '\(forged.operatorName)', '\(forged.clientID)',
                                      \(forged.sequence), X'\(hexBytes(forged.command))', '\(forged.commandText)', '\(forged.result)',
                                      X'\(hexBytes(forged.stateHash))', 2, X'\(hexBytes(rows[1].rowHash))', X'\(hexBytes(hash))')
            """)
        assertViolation(store, .unexpectedRow(index: 3, before: 4))
    }
}
