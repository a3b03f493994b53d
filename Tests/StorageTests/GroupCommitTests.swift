import Foundation
import XCTest

@testable import RaftCore
@testable import Storage

final class GroupCommitTests: XCTestCase {
    func testSeveralReadysInOrderInOneTransaction() throws {
        let (store, _) = try makeStore(self)
        var batch = WriteBatch()
        batch.add(hardState: HardState(term: 1, vote: 1, commit: 0), entries: entries(1, 5, term: 1))
        batch.add(hardState: nil, entries: entries(6, 8, term: 1))
        // A third Ready overwrites the tail of the second (a new leader's entries).
        batch.add(hardState: HardState(term: 2, vote: 3, commit: 5), entries: entries(7, 7, term: 2))
        batch.auditRecords = [auditRecord(1), auditRecord(3)]
        batch.lampEvents = [LampEvent(signalID: "S1", timeMs: 10, eventCode: 1, parameter: 2)]
        let result = try store.commit(batch)
        XCTAssertEqual(
            result,
            WriteResult(
                lastIndex: 7, lastTerm: 2, hardState: HardState(term: 2, vote: 3, commit: 5),
                entriesWritten: 9, auditRowsWritten: 2, lampEventsWritten: 1))
        XCTAssertEqual(try store.entries(from: 1, to: 8), entries(1, 6, term: 1) + entries(7, 7, term: 2))
        XCTAssertEqual(try store.hardState(), HardState(term: 2, vote: 3, commit: 5), "the last hard state wins")
        XCTAssertEqual(try store.verifyAuditChain().rowCount, 2)
        XCTAssertEqual(try store.lampEvents(from: 0, to: 100).count, 1)
    }

    func testHardStateOnlyAndEmptyBatch() throws {
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 3, term: 1))
        let r = try store.commit(WriteBatch(writes: [LogWrite(hardState: HardState(term: 5, vote: 2, commit: 3))]))
        XCTAssertEqual(r.lastIndex, 3)
        XCTAssertEqual(r.lastTerm, 1)
        XCTAssertEqual(r.entriesWritten, 0)
        XCTAssertTrue(WriteBatch().isEmpty)
        XCTAssertEqual(try store.commit(WriteBatch()).hardState, HardState(term: 5, vote: 2, commit: 3))
    }

    func testLogWriteFromReady() {
        let ready = Ready(
            softState: nil, hardState: HardState(term: 3), entries: entries(1, 2, term: 3), messages: [],
            committedEntries: [], readStates: [])
        var batch = WriteBatch()
        batch.add(ready)
        XCTAssertEqual(batch.writes, [LogWrite(hardState: HardState(term: 3), entries: entries(1, 2, term: 3))])
    }

    /// A failure anywhere in the batch — the last audit row here — leaves no trace of any of it.
    func testFailureLateInTheBatchRollsBackEverything() throws {
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 4, term: 1), hardState: HardState(term: 1, vote: 1, commit: 2))
        try store.appendAudit([auditRecord(2)])
        let before = try store.load()
        let headBefore = try store.verifyAuditChain()

        var batch = WriteBatch()
        batch.add(hardState: HardState(term: 2, vote: 2, commit: 4), entries: entries(3, 9, term: 2))
        batch.add(hardState: HardState(term: 2, vote: 2, commit: 8), entries: entries(10, 12, term: 2))
        var bad = auditRecord(5)
        bad.stateHash = []
        batch.auditRecords = [auditRecord(4), bad]
        batch.lampEvents = [LampEvent(signalID: "S1", timeMs: 1, eventCode: 1, parameter: 1)]
        XCTAssertThrows(StorageError.invalidStateHash(index: 5, length: 0), try store.commit(batch))

        XCTAssertEqual(try store.load(), before, "log, hard state and overwritten suffix untouched")
        XCTAssertEqual(try store.verifyAuditChain(), headBefore)
        XCTAssertEqual(try store.lampEvents(from: 0, to: .max), [])
    }

    func testFailureInALaterWriteRollsBackEarlierWrites() throws {
        let (store, _) = try makeStore(self)
        try store.append(entries(1, 4, term: 1))
        var batch = WriteBatch()
        batch.add(hardState: HardState(term: 1, vote: 1, commit: 4), entries: entries(5, 6, term: 1))
        batch.add(hardState: nil, entries: entries(9, 9, term: 1)) // gap after 6
        XCTAssertThrows(StorageError.appendLeavesGap(firstIndex: 9, lastIndex: 6), try store.commit(batch))
        XCTAssertEqual(try store.lastIndex(), 4)
        XCTAssertEqual(try store.hardState(), HardState())
    }

    /// What a commit returned is on disk for a fresh connection (the store is closed and reopened).
    func testCommittedBatchIsVisibleAfterReopen() throws {
        let (store, dir) = try makeStore(self)
        var batch = WriteBatch()
        for k in 0..<8 {
            batch.add(
                hardState: HardState(term: 1, vote: 1, commit: LogIndex(k * 16)),
                entries: entries(LogIndex(k * 16 + 1), LogIndex(k * 16 + 16), term: 1))
        }
        batch.auditRecords = (1...8).map { auditRecord(LogIndex($0 * 16)) }
        try store.commit(batch)
        try store.close()
        let reopened = try RaftStore(directory: dir)
        XCTAssertEqual(try reopened.load().restored.entries, entries(1, 128, term: 1))
        XCTAssertEqual(try reopened.hardState().commit, 112)
        XCTAssertEqual(try reopened.verifyAuditChain().lastIndex, 128)
    }

    /// Which batches are fsync'ed (`RaftStore.commit`): entries, a snapshot, lamp events, a new term or vote,
    /// and anything after a write that was not a group commit; not a batch that only moves the commit index
    /// and/or adds audit rows. The connection is back at synchronous=FULL after an unsynced one.
    func testOnlyACommitIndexOrAuditRowsGoWithoutAnFsync() throws {
        let (store, _) = try makeStore(self)
        func kind(
            _ batch: WriteBatch, _ why: String, file: StaticString = #filePath, line: UInt = #line
        ) throws
            -> String
        {
            let (s0, u0) = (store.syncedWrites, store.unsyncedWrites)
            try store.commit(batch)
            XCTAssertEqual(
                store.syncedWrites - s0 + store.unsyncedWrites - u0, 1, "one write: \(why)", file: file, line: line)
            XCTAssertEqual(
                try store.pragmaForTesting("synchronous"), "2", "FULL again after: \(why)", file: file, line: line)
            return store.syncedWrites > s0 ? "synced" : "unsynced"
        }
        func hs(_ term: Term, _ vote: NodeID, _ commit: LogIndex) -> WriteBatch {
            WriteBatch(writes: [LogWrite(hardState: HardState(term: term, vote: vote, commit: commit))])
        }
        // Nothing known of the stored row yet: synced.
        XCTAssertEqual(try kind(hs(1, 1, 0), "first commit of this store"), "synced")
        var withEntries = WriteBatch()
        withEntries.add(hardState: nil, entries: entries(1, 4, term: 1))
        XCTAssertEqual(try kind(withEntries, "entries"), "synced")
        XCTAssertEqual(try kind(hs(1, 1, 2), "commit index only"), "unsynced")
        XCTAssertEqual(try kind(WriteBatch(auditRecords: [auditRecord(1), auditRecord(2)]), "audit rows"), "unsynced")
        var both = hs(1, 1, 3)
        both.auditRecords = [auditRecord(3)]
        XCTAssertEqual(try kind(both, "commit index and audit rows"), "unsynced")
        XCTAssertEqual(try kind(hs(1, 2, 3), "a new vote"), "synced")
        XCTAssertEqual(try kind(hs(2, 2, 3), "a new term"), "synced")
        XCTAssertEqual(
            try kind(
                WriteBatch(lampEvents: [LampEvent(signalID: "S1", timeMs: 5, eventCode: 1, parameter: 2)]),
                "lamp events"), "synced")
        XCTAssertEqual(try kind(hs(2, 2, 4), "commit index only"), "unsynced")
        // A write outside the group commit may change the row: the next group commit syncs.
        try store.truncateSuffix(from: 4)
        XCTAssertEqual(try kind(hs(2, 2, 3), "after a truncation"), "synced")
        XCTAssertEqual(try kind(hs(2, 2, 3), "commit index only"), "unsynced")
        // What an unsynced commit stored is there, in order, and survives closing (a process exit).
        XCTAssertEqual(try store.hardState(), HardState(term: 2, vote: 2, commit: 3))
        XCTAssertEqual(try store.verifyAuditChain().lastIndex, 3)
    }

    /// A failed unsynced commit stores nothing and leaves the connection at synchronous=FULL, so the next
    /// write of entries is fsync'ed; the unsynced rows before it are on disk after reopening.
    func testAFailedUnsyncedCommitRollsBackAndTheNextWriteIsSynced() throws {
        let (store, dir) = try makeStore(self)
        try store.append(entries(1, 3, term: 1), hardState: HardState(term: 1, vote: 1, commit: 0))
        try store.commit(WriteBatch(writes: [LogWrite(hardState: HardState(term: 1, vote: 1, commit: 2))]))
        XCTAssertEqual(store.unsyncedWrites, 1)
        var bad = WriteBatch(writes: [LogWrite(hardState: HardState(term: 1, vote: 1, commit: 3))])
        bad.auditRecords = [auditRecord(2), auditRecord(1)] // not increasing: refused inside the transaction
        XCTAssertThrowsError(try store.commit(bad))
        XCTAssertEqual(try store.pragmaForTesting("synchronous"), "2")
        XCTAssertEqual(try store.hardState().commit, 2, "the failed batch left no trace")
        XCTAssertEqual(try store.auditHead().index, 0)
        let synced = store.syncedWrites
        try store.append(entries(4, 4, term: 1))
        XCTAssertEqual(store.syncedWrites, synced + 1)
        try store.close()
        let reopened = try RaftStore(directory: dir)
        XCTAssertEqual(try reopened.hardState(), HardState(term: 1, vote: 1, commit: 2))
        XCTAssertEqual(try reopened.load().restored.entries, entries(1, 4, term: 1))
    }
}
