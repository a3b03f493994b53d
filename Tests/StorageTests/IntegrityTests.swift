import Foundation
import RaftCore
import XCTest

@testable import Storage

/// Entry checksums, range checks on rows read back, the folder identity and the re-sync reset.
final class IntegrityTests: XCTestCase {
    private func hexOf(_ s: String) -> String { hexBytes(Array(s.utf8)) }

    /// A flipped bit in a stored entry (data, term or index moved) is refused on every read path,
    /// naming the index, the stored and the computed checksum.
    func testACorruptedLogEntryIsRefusedNamingItsIndex() throws {
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 10, term: 1), hardState: HardState(term: 1, vote: 1, commit: 10))
        // "e7t1" with one bit flipped in its first byte: 'e' (0x65) -> 'd' (0x64).
        var flipped = Array("e7t1".utf8)
        flipped[0] ^= 0x01
        try store.executeRawSQLForTesting("UPDATE log_entry SET data = X'\(hexBytes(flipped))' WHERE idx = 7")
        let stored = hexBytes(EntryChecksum.compute(index: 7, term: 1, kind: 0, data: Array("e7t1".utf8)))
        let computed = hexBytes(EntryChecksum.compute(index: 7, term: 1, kind: 0, data: flipped))
        let expected = StorageError.entryChecksumMismatch(index: 7, stored: stored, computed: computed)
        XCTAssertThrows(expected, try store.load())
        XCTAssertThrows(expected, try store.entries(from: 5, to: 9))
        XCTAssertThrows(expected, try store.term(at: 7))
        XCTAssertEqual(try store.entries(from: 1, to: 7), entries(1, 6, term: 1))
        XCTAssertTrue(expected.description.contains("index 7"), expected.description)

        // The term changed (without the data): refused as well.
        let (other, _) = try makeStore(self)
        try other.append(entries(1, 3, term: 1))
        try other.executeRawSQLForTesting("UPDATE log_entry SET term = 2 WHERE idx = 3")
        XCTAssertThrowsError(try other.load()) { error in
            guard case StorageError.entryChecksumMismatch(index: 3, _, _)? = error as? StorageError else {
                return XCTFail("\(error)")
            }
        }
    }

    /// Rows with values no well-behaved store writes are a clear error, never a trap.
    func testHostileRowsAreErrorsNotTraps() throws {
        let cases: [(String, String)] = [
            ("UPDATE log_entry SET term = -1 WHERE idx = 2", "term is negative"),
            ("UPDATE log_entry SET term = 'eleven' WHERE idx = 2", "term is not an integer"),
            ("UPDATE log_entry SET kind = 9 WHERE idx = 2", "unknown entry kind 9"),
            ("UPDATE log_entry SET kind = 1.5 WHERE idx = 2", "kind is not an integer"),
            ("UPDATE log_entry SET data = 'text' WHERE idx = 2", "data is not a blob"),
            ("UPDATE raft_state SET term = 'x'", "term is not an integer"),
            ("UPDATE raft_state SET commit_index = -5", "commit_index is negative"),
            ("UPDATE raft_state SET vote = X'00'", "vote is not an integer"),
            ("UPDATE raft_state SET snapshot_index = 2.5", "snapshot_index is not an integer")
        ]
        for (sql, reason) in cases {
            let (store, _) = try makeStore(self)
            try store.append(entries(1, 3, term: 1), hardState: HardState(term: 1, vote: 1, commit: 3))
            try store.executeRawSQLForTesting(sql)
            XCTAssertThrowsError(try store.load(), sql) { error in
                guard case StorageError.corruptRow(_, _, let r)? = error as? StorageError else {
                    return XCTFail("\(sql): \(error)")
                }
                XCTAssertTrue(r.contains(reason), "\(sql): \(r)")
            }
        }
        // A row without a checksum (NULL) is refused too.
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 3, term: 1))
        try store.executeRawSQLForTesting("UPDATE log_entry SET checksum = NULL WHERE idx = 3")
        XCTAssertThrowsError(try store.load()) { error in
            guard case StorageError.entryChecksumMismatch(index: 3, stored: "none", _)? = error as? StorageError else {
                return XCTFail("\(error)")
            }
        }
    }

    /// A database written before the checksum migration gets checksums for its rows when opened.
    func testMigrationComputesChecksumsForExistingRows() throws {
        let dir = try makeTempDirectory(self)
        do {
            let store = try RaftStore(directory: dir)
            try store.append(entries(1, 2500, term: 3), hardState: HardState(term: 3, vote: 1, commit: 2500))
            // Back to the v1 schema: no checksum column, no identity table, no typed audit columns.
            try store.executeRawSQLForTesting(
                """
                DROP TRIGGER raft_state_high_water; DROP TABLE folder_identity;
                ALTER TABLE log_entry DROP COLUMN checksum;
                ALTER TABLE audit DROP COLUMN format; ALTER TABLE audit DROP COLUMN command_kind;
                ALTER TABLE audit DROP COLUMN result_kind; ALTER TABLE audit DROP COLUMN reason_code;
                ALTER TABLE audit DROP COLUMN reason; ALTER TABLE audit DROP COLUMN effective_at_ms;
                ALTER TABLE audit DROP COLUMN own_head_hash;
                DELETE FROM grdb_migrations WHERE identifier <> 'v1-raft-log-snapshots-audit-lamps';
                """)
            try store.close()
        }
        let store = try RaftStore(directory: dir)
        XCTAssertEqual(try store.appliedMigrations(), RaftStore.knownMigrations)
        let loaded = try store.load()
        XCTAssertEqual(loaded.restored.entries, entries(1, 2500, term: 3))
        XCTAssertEqual(loaded.restored.hardState, HardState(term: 3, vote: 1, commit: 2500))
        XCTAssertNil(try store.folderRecord().identity)
    }

    private func identity(node: NodeID = 3) -> FolderIdentity {
        FolderIdentity(
            corridorID: "demo-5", nodeID: node, clusterID: "demo-5-0011223344556677",
            fingerprint: [UInt8](repeating: 0xAB, count: 32), voters: [1, 3, 5], learners: [2, 4],
            recordedAtMs: 1_700_000_000_000)
    }

    func testIdentityIsRecordedOnceAndTheHardStatesHighWaterIsKept() throws {
        let (store, _) = try makeStore(self)
        XCTAssertNil(try store.folderRecord().identity)
        try store.append(entries(1, 4, term: 2), hardState: HardState(term: 2, vote: 3, commit: 1))
        try store.recordIdentity(identity())
        try store.recordIdentity(identity()) // the same again: fine
        XCTAssertThrows(
            StorageError.identityAlreadyRecorded(path: store.directory), try store.recordIdentity(identity(node: 4)))
        var r = try store.folderRecord()
        XCTAssertEqual(r.identity, identity())
        XCTAssertEqual(r.highWaterTerm, 2)
        XCTAssertEqual(r.highWaterCommit, 1)
        try store.setHardState(HardState(term: 7, vote: 5, commit: 4))
        r = try store.folderRecord()
        XCTAssertEqual(r.highWaterTerm, 7)
        XCTAssertEqual(r.highWaterCommit, 4)
        // Someone resets the hard state and empties the log: the high-water marks remember.
        try store.executeRawSQLForTesting(
            "DELETE FROM log_entry; UPDATE raft_state SET term = 0, vote = 0, commit_index = 0")
        r = try store.folderRecord()
        XCTAssertEqual(r.hardState, HardState())
        XCTAssertEqual(r.highWaterTerm, 7)
        XCTAssertFalse(r.hasRaftState)
        try store.resetHighWaterMarks()
        XCTAssertEqual(try store.folderRecord().highWaterTerm, 0)
    }

    func testResetForResyncKeepsTermVoteAndEvidenceAndDropsLogAndSnapshots() throws {
        let (store, _) = try makeStore(self)
        try store.recordIdentity(identity())
        try store.append(entries(1, 20, term: 4), hardState: HardState(term: 5, vote: 3, commit: 20))
        try store.saveSnapshot(
            StoredSnapshot(
                index: 10, term: 4, membership: Membership(voters: [1, 3, 5], learners: [2, 4]), data: [1, 2, 3]))
        try store.compact(through: 10)
        try store.appendAudit([auditRecord(12), auditRecord(15)])
        try store.appendLampEvents([LampEvent(signalID: "3", timeMs: 1, eventCode: 1, parameter: 2)])
        let outcome = try store.resetForResync()
        XCTAssertEqual(
            outcome,
            ResyncOutcome(
                keptHardState: HardState(term: 5, vote: 3, commit: 0), droppedEntries: 10, droppedSnapshots: 1,
                auditFloor: 15))
        let r = try store.folderRecord()
        XCTAssertEqual(r.hardState, HardState(term: 5, vote: 3, commit: 0))
        XCTAssertEqual(r.logEntries, 0)
        XCTAssertEqual(r.snapshots, 0)
        XCTAssertEqual(r.compactionIndex, 0)
        XCTAssertEqual(r.auditRows, 2)
        XCTAssertEqual(r.lampEvents, 1)
        XCTAssertEqual(r.resyncAuditFloor, 15)
        XCTAssertEqual(r.resyncCount, 1)
        XCTAssertEqual(r.highWaterCommit, 0)
        XCTAssertEqual(r.highWaterTerm, 5)
        XCTAssertEqual(try store.load().restored, RestoredState(hardState: HardState(term: 5, vote: 3, commit: 0)))
        // The leader's entries (or snapshot) are accepted from index 1 again.
        try store.append(entries(1, 3, term: 5))
        try store.verifyAuditChain()
    }

    func testNewestKnownMembershipPrefersTheNewestConfigEntry() throws {
        let (store, _) = try makeStore(self)
        XCTAssertNil(try store.newestKnownMembership())
        try store.saveSnapshot(
            StoredSnapshot(index: 2, term: 1, membership: Membership(voters: [1, 3, 5], learners: [2, 4]), data: []))
        XCTAssertEqual(try store.newestKnownMembership()?.membership.voters, [1, 3, 5])
        let m = Membership(voters: [1, 5], learners: [2, 3, 4])
        try store.append([Entry(term: 1, index: 1), Entry(term: 1, index: 2, kind: .config, data: m.encoded())])
        XCTAssertEqual(try store.newestKnownMembership()?.membership, m)
        XCTAssertEqual(try store.newestKnownMembership()?.source, "the configuration entry at index 2")
    }
}

/// The checksum's bytes, pinned against an independent computation of the documented layout.
final class EntryChecksumLayoutTests: XCTestCase {
    func testTheChecksumIsTheDocumentedSHA256Prefix() {
        var layout: [UInt8] = [1]
        layout += [0, 0, 0, 0, 0, 0, 0x01, 0x02] // index 258
        layout += [0, 0, 0, 0, 0, 0, 0, 0x07] // term 7
        layout += [2] // kind config
        layout += [0, 0, 0, 3] + [0xAA, 0xBB, 0xCC] // len + data
        XCTAssertEqual(
            EntryChecksum.compute(index: 258, term: 7, kind: 2, data: [0xAA, 0xBB, 0xCC]),
            Array(sha256(layout).prefix(16)))
    }
}
