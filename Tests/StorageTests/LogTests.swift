import Foundation
import RaftCore
import XCTest

@testable import Storage

final class LogTests: XCTestCase {
    func testFreshStoreIsEmptyWithSchemaVersion() throws {
        let (store, _) = try makeStore(self)
        XCTAssertEqual(try store.firstIndex(), 1)
        XCTAssertEqual(try store.lastIndex(), 0)
        XCTAssertEqual(try store.term(at: 0), 0)
        XCTAssertEqual(try store.hardState(), HardState())
        XCTAssertEqual(
            try store.appliedMigrations(),
            [
                "v1-raft-log-snapshots-audit-lamps", "v2-log-entry-checksums", "v3-folder-identity",
                "v4-audit-typed-evidence"
            ])
        XCTAssertEqual(try store.load(), LoadedState(restored: RestoredState(), snapshot: nil))
    }

    func testAppendAndReadRange() throws {
        let (store, _) = try makeStore(self)
        let result = try store.append(entries(1, 5, term: 1), hardState: HardState(term: 1, vote: 2, commit: 0))
        XCTAssertEqual(result.lastIndex, 5)
        XCTAssertEqual(result.lastTerm, 1)
        XCTAssertEqual(result.entriesWritten, 5)
        try store.append(entries(6, 8, term: 2))
        XCTAssertEqual(try store.lastIndex(), 8)
        XCTAssertEqual(try store.entries(from: 3, to: 7), entries(3, 5, term: 1) + entries(6, 6, term: 2))
        XCTAssertEqual(try store.entries(from: 4, to: 4), [])
        XCTAssertEqual(try store.term(at: 5), 1)
        XCTAssertEqual(try store.term(at: 8), 2)
        XCTAssertEqual(try store.hardState(), HardState(term: 1, vote: 2, commit: 0))
        XCTAssertThrows(StorageError.unavailable(index: 9, lastIndex: 8), try store.entries(from: 5, to: 10))
        XCTAssertThrows(StorageError.unavailable(index: 9, lastIndex: 8), try store.term(at: 9))
        XCTAssertThrows(StorageError.invalidRange(low: 5, high: 4), try store.entries(from: 5, to: 4))
    }

    func testRangeRespectsMaxBytesButReturnsAtLeastOne() throws {
        let (store, _) = try makeStore(self)
        let big = (1...4).map { Entry(term: 1, index: $0, data: [UInt8](repeating: 7, count: 100)) }
        try store.append(big)
        XCTAssertEqual(try store.entries(from: 1, to: 5, maxBytes: 250).count, 2) // 124 bytes each
        XCTAssertEqual(try store.entries(from: 1, to: 5, maxBytes: 10).count, 1)
        XCTAssertEqual(try store.entries(from: 1, to: 5).count, 4)
    }

    func testAppendOverwritesConflictingSuffix() throws {
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 10, term: 1))
        // A new leader's entries from index 6 replace 6...10, even though they are fewer.
        try store.append(entries(6, 7, term: 3))
        XCTAssertEqual(try store.lastIndex(), 7)
        XCTAssertEqual(try store.entries(from: 1, to: 8), entries(1, 5, term: 1) + entries(6, 7, term: 3))
        // Re-appending an identical prefix is harmless.
        try store.append(entries(7, 9, term: 3))
        XCTAssertEqual(try store.entries(from: 6, to: 10), entries(6, 9, term: 3))
    }

    func testAppendRejectsGapsBadOrderAndDecreasingTerms() throws {
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 3, term: 2))
        XCTAssertThrows(
            StorageError.appendLeavesGap(firstIndex: 5, lastIndex: 3), try store.append(entries(5, 6, term: 2)))
        XCTAssertThrows(
            StorageError.entriesNotConsecutive(at: 6, previous: 4),
            try store.append([Entry(term: 2, index: 4), Entry(term: 2, index: 6)]))
        XCTAssertThrows(
            StorageError.termsDecrease(at: 5, term: 1, previousTerm: 2),
            try store.append([Entry(term: 2, index: 4), Entry(term: 1, index: 5)]))
        XCTAssertThrows(
            StorageError.termsDecrease(at: 4, term: 1, previousTerm: 2), try store.append(entries(4, 4, term: 1)))
        XCTAssertEqual(try store.lastIndex(), 3, "a refused append stores nothing")
    }

    func testTruncateSuffix() throws {
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 10, term: 1))
        try store.truncateSuffix(from: 4)
        XCTAssertEqual(try store.lastIndex(), 3)
        XCTAssertEqual(try store.entries(from: 1, to: 4), entries(1, 3, term: 1))
        try store.append(entries(4, 5, term: 2))
        XCTAssertEqual(try store.term(at: 5), 2)
    }

    func testCompactPrefixKeepsTermAndRefusesCompactedReads() throws {
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 5, term: 1) + entries(6, 10, term: 2))
        try store.compact(through: 6)
        XCTAssertEqual(try store.firstIndex(), 7)
        XCTAssertEqual(try store.lastIndex(), 10)
        XCTAssertEqual(try store.term(at: 6), 2, "the compaction point keeps its term")
        XCTAssertEqual(try store.compactionPoint().index, 6)
        XCTAssertThrows(StorageError.compacted(index: 5, snapshotIndex: 6), try store.term(at: 5))
        XCTAssertThrows(StorageError.compacted(index: 6, snapshotIndex: 6), try store.entries(from: 6, to: 8))
        XCTAssertThrows(StorageError.compacted(index: 6, snapshotIndex: 6), try store.truncateSuffix(from: 6))
        XCTAssertEqual(try store.entries(from: 7, to: 11), entries(7, 10, term: 2))
        try store.compact(through: 3) // at or below the compaction point: no-op
        XCTAssertEqual(try store.firstIndex(), 7)
        XCTAssertThrows(StorageError.unavailable(index: 11, lastIndex: 10), try store.compact(through: 11))
        // Compact everything: the log is empty but still knows where it ends.
        try store.compact(through: 10)
        XCTAssertEqual(try store.lastIndex(), 10)
        XCTAssertEqual(try store.term(at: 10), 2)
        try store.append(entries(11, 12, term: 3))
        XCTAssertEqual(try store.lastIndex(), 12)
        // Entries at or below the compaction point are committed: re-sending them is skipped, not an error.
        let r = try store.append(
            entries(9, 13, term: 3).map {
                var e = $0
                if e.index <= 10 { e.term = 2 }
                return e
            })
        XCTAssertEqual(r.entriesWritten, 3)
        XCTAssertEqual(try store.entries(from: 11, to: 14), entries(11, 13, term: 3))
    }

    func testReopenRestoresEverything() throws {
        let dir = try makeTempDirectory(self)
        do {
            let store = try RaftStore(directory: dir)
            try store.append(
                entries(1, 20, term: 1) + entries(21, 30, term: 4), hardState: HardState(term: 4, vote: 3, commit: 25))
            try store.saveSnapshot(
                StoredSnapshot(
                    index: 12, term: 1, membership: Membership(voters: [1, 2, 3], learners: [7]), data: [1, 2, 3]))
            try store.compact(through: 12)
            try store.close()
        }
        let reopened = try RaftStore(directory: dir)
        let loaded = try reopened.load()
        XCTAssertEqual(loaded.restored.hardState, HardState(term: 4, vote: 3, commit: 25))
        XCTAssertEqual(loaded.restored.entries, entries(13, 20, term: 1) + entries(21, 30, term: 4))
        XCTAssertEqual(loaded.restored.snapshotIndex, 12)
        XCTAssertEqual(loaded.restored.snapshotTerm, 1)
        XCTAssertEqual(loaded.restored.applied, 12)
        XCTAssertEqual(loaded.snapshot?.membership, Membership(voters: [1, 2, 3], learners: [7]))
    }

    func testVoteSurvivesFullRangeNodeIDs() throws {
        let (store, dir) = try makeStore(self)
        try store.setHardState(HardState(term: 9, vote: UInt64.max - 1, commit: 0))
        try store.close()
        XCTAssertEqual(try RaftStore(directory: dir).hardState().vote, UInt64.max - 1)
    }

    func testValuesBeyondSQLiteRangeAreRefused() throws {
        let (store, _) = try makeStore(self)
        XCTAssertThrows(
            StorageError.valueOutOfRange(field: "term", value: UInt64.max),
            try store.setHardState(HardState(term: UInt64.max)))
    }

    func testDataDirectoryIsLockedWhileOpen() throws {
        let (store, dir) = try makeStore(self)
        XCTAssertThrows(StorageError.dataDirectoryLocked(path: dir), try RaftStore(directory: dir))
        try store.close()
        XCTAssertNoThrow(try RaftStore(directory: dir))
    }

    func testClosedStoreRefusesWork() throws {
        let (store, _) = try makeStore(self)
        try store.close()
        XCTAssertThrowsError(try store.lastIndex()) { error in
            guard case StorageError.closed = error else { return XCTFail("expected .closed, got \(error)") }
        }
    }

    func testDatabaseIsInWALModeWithFullSync() throws {
        let (store, _) = try makeStore(self)
        XCTAssertEqual(try store.pragmaForTesting("journal_mode"), "wal")
        XCTAssertEqual(try store.pragmaForTesting("synchronous"), "2", "synchronous=FULL is 2")
    }

    func testNewerSchemaIsRefused() throws {
        let (store, dir) = try makeStore(self)
        try store.executeRawSQLForTesting("INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
        try store.close()
        XCTAssertThrows(
            StorageError.schemaTooNew(
                path: dir + "/" + RaftStore.databaseFileName, unknownMigrations: ["v99-from-the-future"]),
            try RaftStore(directory: dir))
    }
}
