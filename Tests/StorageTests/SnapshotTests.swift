import Foundation
import RaftCore
import XCTest

@testable import Storage

final class SnapshotTests: XCTestCase {
    let members = Membership(voters: [1, 2, 3, 4, 5], learners: [10, 11])

    func testRoundTripAndKeepsNewestTwo() throws {
        let (store, _) = try makeStore(self)
        XCTAssertNil(try store.latestSnapshot())
        for i: LogIndex in [10, 20, 30] {
            try store.saveSnapshot(
                StoredSnapshot(index: i, term: i / 10, membership: members, data: Array("state at \(i)".utf8)))
        }
        XCTAssertEqual(try store.snapshotIndexes(), [20, 30])
        XCTAssertEqual(
            try store.latestSnapshot(),
            StoredSnapshot(index: 30, term: 3, membership: members, data: Array("state at 30".utf8)))
        XCTAssertEqual(try store.snapshot(at: 20).data, Array("state at 20".utf8))
        XCTAssertThrows(StorageError.snapshotNotFound(index: 10), try store.snapshot(at: 10))
    }

    func testEmptyAndLargeData() throws {
        let (store, _) = try makeStore(self, snapshotsToKeep: 1)
        try store.saveSnapshot(StoredSnapshot(index: 1, term: 1, membership: Membership(voters: [1]), data: []))
        XCTAssertEqual(try store.latestSnapshot()?.data, [])
        let big = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try store.saveSnapshot(StoredSnapshot(index: 2, term: 1, membership: Membership(voters: [1]), data: big))
        XCTAssertEqual(try store.latestSnapshot()?.data, big)
        XCTAssertEqual(try store.snapshotIndexes(), [2])
    }

    func testCorruptDataIsRejectedNamingTheSnapshot() throws {
        let (store, _) = try makeStore(self)
        let data = Array("the corridor state".utf8)
        try store.append(entries(1, 12, term: 2))
        try store.saveSnapshot(StoredSnapshot(index: 12, term: 2, membership: members, data: data))
        try store.compact(through: 12)
        // Flip one byte of the stored data behind the store's back.
        try store.executeRawSQLForTesting(
            "UPDATE snapshot SET data = X'\(hexBytes(Array(data.dropLast()) + [0x21]))' WHERE idx = 12")
        XCTAssertThrowsError(try store.latestSnapshot()) { error in
            guard case StorageError.snapshotChecksumMismatch(let index, let stored, let computed) = error else {
                return XCTFail("expected snapshotChecksumMismatch, got \(error)")
            }
            XCTAssertEqual(index, 12)
            XCTAssertNotEqual(stored, computed)
            XCTAssertTrue("\(error)".contains("snapshot at index 12 is corrupt"), "\(error)")
        }
        XCTAssertThrowsError(try store.snapshot(at: 12))
        XCTAssertThrowsError(try store.load(), "a restart must not use a corrupt snapshot") { error in
            guard case StorageError.snapshotChecksumMismatch(index: 12, _, _) = error else {
                return XCTFail("expected snapshotChecksumMismatch, got \(error)")
            }
        }
    }

    func testCorruptChecksumColumnIsRejectedToo() throws {
        let (store, _) = try makeStore(self)
        try store.saveSnapshot(StoredSnapshot(index: 3, term: 1, membership: members, data: [9, 9, 9]))
        try store.executeRawSQLForTesting("UPDATE snapshot SET sha256 = zeroblob(32) WHERE idx = 3")
        XCTAssertThrowsError(try store.latestSnapshot()) { error in
            guard case StorageError.snapshotChecksumMismatch(index: 3, _, _) = error else {
                return XCTFail("expected snapshotChecksumMismatch, got \(error)")
            }
        }
    }

    func testLoadRefusesCompactedLogWithoutSnapshot() throws {
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 10, term: 1))
        try store.compact(through: 5)
        XCTAssertThrows(StorageError.missingSnapshot(compactedThrough: 5, newestSnapshot: nil), try store.load())
        try store.saveSnapshot(StoredSnapshot(index: 4, term: 1, membership: members, data: []))
        XCTAssertThrows(StorageError.missingSnapshot(compactedThrough: 5, newestSnapshot: 4), try store.load())
        try store.saveSnapshot(StoredSnapshot(index: 7, term: 1, membership: members, data: []))
        let loaded = try store.load()
        XCTAssertEqual(loaded.restored.applied, 7)
        XCTAssertEqual(loaded.restored.snapshotIndex, 7, "RaftCore takes the compaction point from the snapshot")
        XCTAssertEqual(loaded.restored.snapshot?.index, 7)
        XCTAssertEqual(loaded.restored.entries, entries(8, 10, term: 1), "only entries after the snapshot")
    }

    func testInstallSnapshotReplacesTheWholeLog() throws {
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 10, term: 2), hardState: HardState(term: 2, vote: 1, commit: 3))
        XCTAssertTrue(try store.installSnapshot(StoredSnapshot(index: 6, term: 2, membership: members, data: [6])))
        let loaded = try store.load()
        XCTAssertEqual(loaded.restored.entries, [], "Ready.snapshot replaces the whole stored log")
        XCTAssertEqual(loaded.restored.snapshotIndex, 6)
        XCTAssertEqual(loaded.restored.snapshotTerm, 2)
        XCTAssertEqual(loaded.restored.hardState.commit, 6, "commit is raised to the snapshot")
        XCTAssertEqual(loaded.restored.applied, 6)
        XCTAssertEqual(loaded.restored.snapshot, RaftCore.Snapshot(index: 6, term: 2, membership: members, data: [6]))
        XCTAssertEqual(try store.lastIndex(), 6)
        XCTAssertFalse(
            try store.installSnapshot(StoredSnapshot(index: 5, term: 2, membership: members, data: [5])),
            "older snapshot ignored")
        XCTAssertEqual(try store.latestSnapshot()?.index, 6)
    }

    func testGroupCommitWithAReadySnapshotThenEntries() throws {
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 4, term: 1))
        var batch = WriteBatch()
        batch.writes = [
            LogWrite(
                snapshot: StoredSnapshot(index: 20, term: 3, membership: members, data: [20]),
                hardState: HardState(term: 3, vote: 0, commit: 20), entries: entries(21, 22, term: 3))
        ]
        let r = try store.commit(batch)
        XCTAssertEqual(r.lastIndex, 22)
        XCTAssertEqual(r.lastTerm, 3)
        let loaded = try store.load()
        XCTAssertEqual(loaded.restored.entries, entries(21, 22, term: 3))
        XCTAssertEqual(loaded.restored.snapshotIndex, 20)
        XCTAssertEqual(loaded.snapshot?.data, [20])
    }

    func testInstallSnapshotDiscardsConflictingLog() throws {
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 10, term: 2))
        XCTAssertTrue(try store.installSnapshot(StoredSnapshot(index: 8, term: 3, membership: members, data: [8])))
        XCTAssertEqual(try store.load().restored.entries, [])
        XCTAssertEqual(try store.lastIndex(), 8)
        XCTAssertEqual(try store.term(at: 8), 3)
        XCTAssertTrue(
            try store.installSnapshot(StoredSnapshot(index: 20, term: 3, membership: members, data: [20])),
            "past the log's end")
        XCTAssertEqual(try store.lastIndex(), 20)
        try store.append(entries(21, 21, term: 3))
        XCTAssertEqual(try store.lastIndex(), 21)
    }
}
