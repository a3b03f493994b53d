import CorridorFile
import CorridorMachine
import Foundation
import Logging
import RaftCore
import SignalTiming
import XCTest

@testable import Controller
@testable import Storage

/// The start-up checks: whose a data folder is (identity), a database that lost its state, and the
/// self-check that replays the log onto the snapshot against the audit rows' state hashes.
final class StartupCheckTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let logger = Logger(label: "test")
    var dir = ""

    override func setUpWithError() throws {
        dir =
            FileManager.default.temporaryDirectory.appendingPathComponent("gw-startup-\(UUID().uuidString.prefix(8))")
            .path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    var demoYAML: String {
        (try? String(contentsOf: Self.repo.appendingPathComponent("corridors/demo-5.yaml"), encoding: .utf8)) ?? ""
    }

    /// A corridor file in the test folder: demo-5 with `edit` applied.
    func corridorFile(_ name: String, _ edit: (String) -> String = { $0 }) throws -> String {
        let path = (dir as NSString).appendingPathComponent(name)
        try edit(TestOperators.secured(demoYAML)).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func options(
        _ corridorPath: String, signal: Int = 1, data: String? = nil, force: Bool = false
    ) throws -> ControllerOptions {
        var o = try ControllerOptions(
            corridorPath: corridorPath, document: try CorridorFile.load(path: corridorPath),
            signal: SignalID(signal), dataDirectory: data ?? (dir as NSString).appendingPathComponent("s\(signal)"))
        o.forceNewMember = force
        return o
    }

    /// What `FieldController.run` does before the driver starts; returns the open store.
    @discardableResult
    func start(_ o: ControllerOptions) throws -> RaftStore {
        try StartupCheck.checkBeforeOpening(o, logger: logger)
        let store = try RaftStore(directory: o.dataDirectory)
        do {
            try StartupCheck.checkIdentity(store: store, options: o, logger: logger)
            try CorridorCopy.record(corridorPath: o.corridorPath, dataDirectory: o.dataDirectory, logger: logger)
        } catch {
            try? store.close()
            throw error
        }
        return store
    }

    /// First start, then some Raft state (a term, a vote, entries), then stop.
    func firstStart(_ o: ControllerOptions) throws {
        let store = try start(o)
        try store.append(
            [Entry(term: 2, index: 1, kind: .noop), Entry(term: 2, index: 2, kind: .noop)],
            hardState: HardState(term: 2, vote: 1, commit: 2))
        try store.close()
    }

    func refusal(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> StartupRefusal? {
        do {
            try body()
            XCTFail("expected a refusal, the start went ahead", file: file, line: line)
        } catch let r as StartupRefusal {
            return r
        } catch {
            XCTFail("expected a StartupRefusal, got \(error)", file: file, line: line)
        }
        return nil
    }

    // MARK: - Identity

    func testARestartWithTheSameCorridorFileStartsAndRecordsNothingNew() throws {
        let o = try options(try corridorFile("demo.yaml"))
        try firstStart(o)
        let store = try start(o)
        let r = try store.folderRecord()
        XCTAssertEqual(r.identity?.corridorID, "demo-5")
        XCTAssertEqual(r.identity?.nodeID, 1)
        XCTAssertEqual(r.identity?.voters, [1, 3, 5])
        XCTAssertEqual(r.identity?.fingerprint, try StartupCheck.identity(for: o).fingerprint)
        XCTAssertTrue(r.identity?.clusterID.hasPrefix("demo-5-") ?? false)
        // Addresses are not part of the identity: moving a controller to another port is fine.
        try store.close()
        let moved = try options(
            try corridorFile("moved.yaml") { $0.replacingOccurrences(of: "127.0.0.1:7201", with: "127.0.0.1:9201") })
        try start(moved).close()
    }

    func testOtherVotersAreRefusedWithTheDifferenceNamed() throws {
        try firstStart(try options(try corridorFile("demo.yaml")))
        let other = try options(
            try corridorFile("two-voters.yaml") {
                $0.replacingOccurrences(of: "voters: [1, 3, 5]", with: "voters: [1, 3]")
            })
        guard let r = refusal({ try start(other) }) else { return }
        guard case .otherCorridorFile(_, _, let differences, _, _) = r else { return XCTFail("\(r)") }
        XCTAssertTrue(differences.contains("voters recorded [1, 3, 5], given [1, 3]"), "\(differences)")
        XCTAssertTrue(differences.contains("learners recorded [2, 4], given [2, 4, 5]"), "\(differences)")
        XCTAssertTrue(r.description.contains("refusing to start"), r.description)
        XCTAssertTrue(r.description.contains("corridor.yaml"), r.description)
        // Nothing was written: the folder still starts with its own file.
        try start(try options(try corridorFile("demo.yaml"))).close()
    }

    func testOtherSplitsAreRefusedWithThePlanNamed() throws {
        try firstStart(try options(try corridorFile("demo.yaml")))
        let other = try options(
            try corridorFile("night.yaml") {
                $0.replacingOccurrences(
                    of: "splits_s: { main: 32, main-turn: 12, side: 16 }",
                    with: "splits_s: { main: 34, main-turn: 10, side: 16 }")
            })
        guard let r = refusal({ try start(other) }) else { return }
        guard case .otherCorridorFile(_, _, let differences, let recorded, let given) = r else {
            return XCTFail("\(r)")
        }
        XCTAssertEqual(differences, ["plan 'night' differs (cycle, splits, offsets or progression)"])
        XCTAssertNotEqual(recorded, given)
    }

    /// A build that computes fingerprints differently (a new state encoding) must not refuse every
    /// folder: when the folder's copy of its first corridor file gives the fingerprint of the file
    /// given, the new fingerprint is recorded. Another file is still refused.
    func testAFingerprintFromAnOlderEncodingIsRenewedFromTheFoldersCopy() throws {
        let o = try options(try corridorFile("demo.yaml"))
        try firstStart(o)
        try tamperIdentity(o, "UPDATE folder_identity SET fingerprint = zeroblob(32)")
        try start(o).close()
        let store = try RaftStore(directory: o.dataDirectory)
        XCTAssertEqual(try store.folderRecord().identity?.fingerprint, try StartupCheck.identity(for: o).fingerprint)
        try store.close()
        try tamperIdentity(o, "UPDATE folder_identity SET fingerprint = zeroblob(32)")
        let other = try options(
            try corridorFile("two-voters.yaml") {
                $0.replacingOccurrences(of: "voters: [1, 3, 5]", with: "voters: [1, 3]")
            })
        guard case .otherCorridorFile? = refusal({ try start(other) }) else {
            return XCTFail("another file was accepted")
        }
    }

    func tamperIdentity(_ o: ControllerOptions, _ sql: String) throws {
        let store = try RaftStore(directory: o.dataDirectory)
        try store.executeRawSQLForTesting(sql)
        try store.close()
    }

    func testAnotherNodeIDAndAnotherCorridorAreRefused() throws {
        let path = try corridorFile("demo.yaml")
        let s1 = (dir as NSString).appendingPathComponent("s1")
        try firstStart(try options(path, signal: 1))
        guard let r = refusal({ try start(try options(path, signal: 2, data: s1)) }) else { return }
        XCTAssertEqual(r, .otherNode(folder: s1, recorded: 1, given: 2))
        XCTAssertTrue(r.description.contains("belongs to signal 1, not signal 2"), r.description)
        let renamed = try options(
            try corridorFile("renamed.yaml") {
                $0.replacingOccurrences(of: "corridor: demo-5", with: "corridor: demo-6")
            }, data: s1)
        XCTAssertEqual(refusal({ try start(renamed) }), .otherCorridor(folder: s1, recorded: "demo-5", given: "demo-6"))
    }

    func testADeletedDatabaseInAFolderWithAHistoryIsRefusedUnlessForced() throws {
        let o = try options(try corridorFile("demo.yaml"))
        try firstStart(o)
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(
                atPath: (o.dataDirectory as NSString).appendingPathComponent(RaftStore.databaseFileName + suffix))
        }
        guard let r = refusal({ try start(o) }) else { return }
        guard case .databaseMissing(_, let evidence) = r else { return XCTFail("\(r)") }
        XCTAssertTrue(evidence.first?.contains("corridor.yaml") ?? false, "\(evidence)")
        XCTAssertFalse(
            FileManager.default.fileExists(
                atPath: (o.dataDirectory as NSString).appendingPathComponent(RaftStore.databaseFileName)),
            "the refusal must come before a database is created")
        // --force-new-member: starts, with no memory, and records the identity again.
        let store = try start(try options(o.corridorPath, force: true))
        XCTAssertEqual(try store.hardState(), HardState())
        XCTAssertEqual(try store.folderRecord().identity?.nodeID, 1)
        try store.close()
    }

    func testAnEmptiedDatabaseInAFolderWithAHistoryIsRefusedUnlessForced() throws {
        let o = try options(try corridorFile("demo.yaml"))
        try firstStart(o)
        // The file truncated to nothing (as a failed restore or a bad disk leaves it).
        let db = (o.dataDirectory as NSString).appendingPathComponent(RaftStore.databaseFileName)
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        try Data().write(to: URL(fileURLWithPath: db))
        guard let r = refusal({ try start(o) }) else { return }
        guard case .databaseEmpty = r else { return XCTFail("\(r)") }
        XCTAssertTrue(r.description.contains("--force-new-member"), r.description)
        try start(try options(o.corridorPath, force: true)).close()
        try start(o).close() // now it is a member that starts from what it has
    }

    func testADatabaseWhoseHardStateWentBackwardsIsRefusedUnlessForced() throws {
        let o = try options(try corridorFile("demo.yaml"))
        try firstStart(o)
        do {
            let store = try RaftStore(directory: o.dataDirectory)
            try store.executeRawSQLForTesting(
                "DELETE FROM log_entry; UPDATE raft_state SET term = 0, vote = 0, commit_index = 0")
            try store.close()
        }
        XCTAssertEqual(
            refusal({ try start(o) }),
            .stateLost(folder: o.dataDirectory, term: 0, highestTerm: 2, commit: 0, highestCommit: 2))
        try start(try options(o.corridorPath, force: true)).close()
        try start(o).close()
    }

    func testAFreshFolderRestartedBeforeItHeldAnyStateStarts() throws {
        let o = try options(try corridorFile("demo.yaml"))
        try start(o).close()
        try start(o).close()
    }

    // MARK: - Self-check

    /// A folder of signal 1 with `count` entries: a no-op, then commands (hold/release/mode), each
    /// applied as the driver does, with their audit rows; commit = the last index.
    @discardableResult
    func buildLog(
        _ o: ControllerOptions, count: Int, auditUpTo: LogIndex? = nil, snapshotAt: LogIndex? = nil
    ) throws -> CorridorMachine {
        let store = try start(o)
        defer { try? store.close() }
        let doc = o.document
        var m = try CorridorMachine(genesisOf: doc)
        var entries: [Entry] = [Entry(term: 1, index: 1, kind: .noop)]
        var rows: [AuditRecord] = []
        _ = m.applyLogEntry(entries[0])
        let t0 = doc.referenceEpochMs + 86_400_000
        let plans = ["night", "normal", "rush-hour"]
        for i in 2...max(2, count) {
            let k = i % 4
            let command: Command =
                k == 0
                ? .hold(SignalID(2 + i % 4), stage: nil)
                : k == 1
                    ? .release(SignalID(2 + (i - 1) % 4))
                    : .setMode(PlanID(plans[i % 3]))
            let env = TestOperators.engineer.envelope(
                corridorID: doc.id, clientID: ClientID.timed(createdAtMs: t0, random: UInt64(1 + i % 7)),
                sequence: UInt64(i), leaderTimeMs: t0 + Int64(i) * 1_000, command: command)
            let e = Entry(term: 1, index: LogIndex(i), kind: .normal, data: env.encoded())
            let r = m.applyLogEntry(e)
            entries.append(e)
            if e.index <= (auditUpTo ?? .max), let row = StartupCheck.auditRecord(for: e, result: r) {
                rows.append(row)
            }
            if let s = snapshotAt, e.index == s {
                try store.append(entries, hardState: HardState(term: 1, vote: 1, commit: e.index))
                try store.saveSnapshot(
                    StoredSnapshot(index: s, term: 1, membership: o.membership, data: m.snapshot().encoded()))
                try store.compact(through: s)
                entries = []
            }
        }
        try store.append(entries, hardState: HardState(term: 1, vote: 1, commit: LogIndex(count)))
        try store.appendAudit(rows)
        return m
    }

    func selfCheck(_ o: ControllerOptions) throws -> StartupCheck.SelfCheck {
        let store = try RaftStore(directory: o.dataDirectory)
        defer { try? store.close() }
        return try StartupCheck.selfCheck(store: store, loaded: try store.load(), document: o.document)
    }

    func tamper(_ o: ControllerOptions, _ sql: String) throws {
        let store = try RaftStore(directory: o.dataDirectory)
        try store.executeRawSQLForTesting(sql)
        try store.close()
    }

    func testTheSelfCheckReplaysTheLogAndStartsFromThatMachine() throws {
        let o = try options(try corridorFile("demo.yaml"))
        let expected = try buildLog(o, count: 60)
        let check = try selfCheck(o)
        XCTAssertEqual(check.replayed, 60)
        XCTAssertGreaterThan(check.compared, 40)
        XCTAssertEqual(check.machine.appliedIndex, 60)
        XCTAssertEqual(check.machine.stateHash, expected.stateHash)
        XCTAssertEqual(check.auditToWrite, [])
    }

    func testAnAuditRowThatDisagreesWithTheReplayIsRefusedNamingTheIndex() throws {
        let o = try options(try corridorFile("demo.yaml"))
        try buildLog(o, count: 40)
        let replayed = try selfCheck(o)
        _ = replayed
        try tamper(
            o, "DROP TRIGGER audit_append_only_update; UPDATE audit SET state_hash = zeroblob(32) WHERE idx = 22")
        guard let r = refusal({ _ = try selfCheck(o) }) else { return }
        guard case .stateDiverged(_, let index, let recorded, let replayedHash) = r else { return XCTFail("\(r)") }
        XCTAssertEqual(index, 22)
        XCTAssertEqual(recorded, String(repeating: "0", count: 64))
        XCTAssertEqual(replayedHash.count, 64)
        XCTAssertTrue(r.description.contains("at index 22"), r.description)
    }

    /// A log entry rewritten with a valid checksum (the checksum cannot see it) is caught by the replay.
    func testALogEntryRewrittenWithAValidChecksumIsCaughtByTheReplay() throws {
        let o = try options(try corridorFile("demo.yaml"))
        try buildLog(o, count: 40)
        let env = TestOperators.engineer.envelope(
            corridorID: o.document.id,
            clientID: ClientID.timed(createdAtMs: o.document.referenceEpochMs + 86_400_000, random: 99),
            sequence: 1, leaderTimeMs: o.document.referenceEpochMs + 86_400_000 + 30_000, command: .flash(nil))
        let data = env.encoded()
        let sum = EntryChecksum.compute(index: 30, term: 1, kind: 0, data: data)
        try tamper(
            o,
            "UPDATE log_entry SET data = X'\(data.map { String(format: "%02x", $0) }.joined())', checksum = X'\(sum.map { String(format: "%02x", $0) }.joined())' WHERE idx = 30"
        )
        guard let r = refusal({ _ = try selfCheck(o) }) else { return }
        guard case .stateDiverged(_, let index, _, _) = r else { return XCTFail("\(r)") }
        XCTAssertEqual(index, 30)
    }

    func testTheSelfCheckStartsFromTheSnapshotAndChecksItsRow() throws {
        let o = try options(try corridorFile("demo.yaml"))
        let expected = try buildLog(o, count: 50, snapshotAt: 24)
        let check = try selfCheck(o)
        XCTAssertEqual(check.snapshotIndex, 24)
        XCTAssertEqual(check.replayed, 26)
        XCTAssertEqual(check.machine.stateHash, expected.stateHash)
        try tamper(
            o, "DROP TRIGGER audit_append_only_update; UPDATE audit SET state_hash = zeroblob(32) WHERE idx = 24")
        guard case .stateDiverged(_, 24, _, _)? = refusal({ _ = try selfCheck(o) }) else {
            return XCTFail("the snapshot's own row was not compared")
        }
    }

    /// The previous run applied entries but died before writing their audit rows: the self-check hands
    /// them to the driver to write.
    func testAuditRowsMissingAtTheEndAreWrittenNotRefused() throws {
        let o = try options(try corridorFile("demo.yaml"))
        try buildLog(o, count: 30, auditUpTo: 25)
        let check = try selfCheck(o)
        XCTAssertEqual(check.auditToWrite.map(\.index), Array(26...30))
        XCTAssertEqual(check.auditHead, 30)
    }

    // MARK: - Re-sync

    func testResyncRefusesAVoterUnlessForcedAndKeepsTermAndVote() throws {
        let path = try corridorFile("demo.yaml")
        let voter = try options(path, signal: 1)
        try buildLog(voter, count: 20)
        XCTAssertThrowsError(try Resync.run(dataDirectory: voter.dataDirectory, corridorPath: path, force: false)) {
            error in
            XCTAssertTrue("\(error)".contains("is a voter"), "\(error)")
        }
        let report = try Resync.run(dataDirectory: voter.dataDirectory, corridorPath: path, force: true)
        XCTAssertTrue(report.wasVoter)
        XCTAssertEqual(report.outcome.keptHardState, HardState(term: 1, vote: 1, commit: 0))
        XCTAssertEqual(report.outcome.droppedEntries, 20)
        // It starts again, from nothing to apply, and its old audit rows are not compared.
        try start(voter).close()
        let check = try selfCheck(voter)
        XCTAssertEqual(check.replayed, 0)

        let learner = try options(path, signal: 2)
        try buildLog(learner, count: 10)
        XCTAssertFalse(try Resync.run(dataDirectory: learner.dataDirectory, corridorPath: path, force: false).wasVoter)
        // Another corridor file is refused as at start.
        let other = try corridorFile("other.yaml") {
            $0.replacingOccurrences(of: "voters: [1, 3, 5]", with: "voters: [1, 2, 3]")
        }
        XCTAssertThrowsError(try Resync.run(dataDirectory: learner.dataDirectory, corridorPath: other, force: true)) {
            error in
            guard case .otherCorridorFile? = error as? StartupRefusal else { return XCTFail("\(error)") }
        }
    }

    // MARK: - Cost

    /// The self-check's cost on a folder with a few thousand entries (printed; docs/storage.md).
    func testSelfCheckCostOnAFewThousandEntries() throws {
        // 300 by default (the suite stays fast); GREENWAVE_SELFCHECK_ENTRIES=3000 for the figure in docs.
        let n = Int(ProcessInfo.processInfo.environment["GREENWAVE_SELFCHECK_ENTRIES"] ?? "") ?? 300
        let o = try options(try corridorFile("demo.yaml"))
        try buildLog(o, count: n)
        var best = UInt64.max
        for _ in 0..<3 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let check = try selfCheck(o)
            best = min(best, DispatchTime.now().uptimeNanoseconds - t0)
            XCTAssertEqual(check.replayed, n)
            print(
                "self-check: \(n) entries, \(check.compared) audit rows compared, self-check \(String(format: "%.1f", Double(check.elapsedNs) / 1e6)) ms (with the store load: \(String(format: "%.1f", Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)) ms)"
            )
        }
        print(
            "self-check best of 3 (load + replay + compare): \(String(format: "%.1f", Double(best) / 1e6)) ms for \(n) entries"
        )
        // The replay alone (what a restart cost before the self-check too, after it started serving).
        let store = try RaftStore(directory: o.dataDirectory)
        let loaded = try store.load()
        try store.close()
        let doc = o.document
        var m = try CorridorMachine(genesisOf: doc)
        let t0 = DispatchTime.now().uptimeNanoseconds
        for e in loaded.restored.entries { _ = m.applyLogEntry(e) }
        print(
            "replay alone: \(String(format: "%.1f", Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)) ms for \(n) entries"
        )
        // GREENWAVE_SELFCHECK_KEEP=DIR keeps the folder (DIR/s1, with its corridor.yaml) to start a
        // release controller on it.
        if let keep = ProcessInfo.processInfo.environment["GREENWAVE_SELFCHECK_KEEP"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                atPath: o.dataDirectory, toPath: (keep as NSString).appendingPathComponent("s1"))
        }
    }
}
