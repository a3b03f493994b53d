import Console
import Controller
import Foundation
import GreenwaveAPI
import XCTest

@testable import Storage

/// A replica whose log entry was corrupted refuses to start naming the index; `greenwave controller
/// resync` keeps its term and vote and drops its log; started again it catches up from the leader.
final class ResyncClusterTests: XCTestCase {
    private func request(_ type: String, seq: UInt64 = 1, plan: String? = nil, signal: Int? = nil) -> CommandRequest {
        CommandRequest(
            operator: "test", clientID: ConsoleClient.newClientID(), sequence: seq, type: type, plan: plan,
            signal: signal)
    }

    private func run(_ c: LocalCluster, _ args: [String]) throws -> (Int32, String) { try c.runCommand(args) }

    func testACorruptedLearnerIsRefusedThenResyncedAndCatchesUp() async throws {
        let c = try LocalCluster()
        try c.startAll()
        guard let leader = await c.waitForLeader(among: c.voters) else { return XCTFail("no leader:\n\(c.log(1))") }
        var last: UInt64 = 0
        for (i, plan) in ["night", "rush-hour", "normal"].enumerated() {
            guard let (code, r) = await c.command(leader, request("mode", seq: UInt64(i + 1), plan: plan)), code == 200,
                let ok = r
            else {
                return XCTFail("command not committed")
            }
            last = ok.index
        }
        guard await c.waitApplied(last, on: [2]) != nil else { return XCTFail("learner 2 did not apply \(last)") }
        c.kill9(2)
        let data2 = c.dir.appendingPathComponent("s2").path
        do {
            let store = try RaftStore(directory: data2)
            try store.executeRawSQLForTesting(
                "UPDATE log_entry SET data = CAST(X'FF' || substr(data, 2) AS BLOB) WHERE idx = \(last)")
            let hs = try store.hardState()
            XCTAssertGreaterThan(hs.term, 0)
            try store.close()
        }
        // Started on it, the controller refuses and says which entry.
        let (status, output) = try run(
            c, ["controller", "--corridor", c.corridorPath, "--signal", "2", "--data", data2])
        XCTAssertNotEqual(status, 0, output)
        XCTAssertTrue(output.contains("log entry at index \(last) is corrupt"), output)
        XCTAssertTrue(output.contains("greenwave controller resync"), output)

        // A voter's folder is refused by resync without --force.
        c.kill9(5 == leader ? 3 : 5)
        let voter = 5 == leader ? 3 : 5
        let (vs, vout) = try run(
            c,
            [
                "controller", "resync", "--data", c.dir.appendingPathComponent("s\(voter)").path, "--corridor",
                c.corridorPath
            ])
        XCTAssertNotEqual(vs, 0, vout)
        XCTAssertTrue(vout.contains("is a voter"), vout)
        try c.start(voter)

        let termBefore = try { () throws -> UInt64 in
            let s = try RaftStore(directory: data2)
            defer { try? s.close() }
            return try s.hardState().term
        }()
        let (rs, rout) = try run(c, ["controller", "resync", "--data", data2, "--corridor", c.corridorPath])
        XCTAssertEqual(rs, 0, rout)
        XCTAssertTrue(rout.contains("kept term \(termBefore)"), rout)

        try c.start(2)
        // The current leader learns from 2's heartbeat answer that its log is gone and sends it again
        // (RaftCore resets a follower's progress when it hints below its match index).
        let newLeader = leader
        guard let (code, r) = await c.command(newLeader, request("hold", seq: 9, signal: 4)), code == 200, let held = r
        else {
            return XCTFail("command after the re-sync not committed:\n\(c.log(2))")
        }
        guard let statuses = await c.waitApplied(held.index, on: [newLeader, 2], timeout: 30) else {
            let s2 = await c.status(2)
            let sl = await c.status(newLeader)
            return XCTFail(
                "the re-synced learner did not catch up to \(held.index): 2 \(String(describing: s2)), leader \(String(describing: sl))\n\(c.log(2).suffix(6000))"
            )
        }
        XCTAssertEqual(statuses[2]?.stateHash, statuses[newLeader]?.stateHash)
        XCTAssertTrue(c.log(2).contains("start-up self-check passed"))
    }

    /// The real binary: a folder whose database was deleted is refused (exit 1, the message on standard
    /// error, no database created); another corridor file is refused naming the voters; with
    /// --force-new-member it starts and serves.
    func testTheBinaryRefusesALostDatabaseAndAnotherFileAndForceNewMemberStarts() async throws {
        let c = try LocalCluster()
        try c.start(2)
        // Wait until it serves, then stop it cleanly: the folder now has a history.
        let deadline = Date().addingTimeInterval(15)
        while await c.status(2) == nil && Date() < deadline { try? await Task.sleep(nanoseconds: 50_000_000) }
        let up = await c.status(2)
        XCTAssertNotNil(up, c.log(2))
        if let p = c.processes[2] {
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
        }
        let data2 = c.dir.appendingPathComponent("s2").path

        // Another corridor file (other voters): refused, the difference named.
        let other = c.dir.appendingPathComponent("other.yaml").path
        try (try String(contentsOfFile: c.corridorPath, encoding: .utf8)).replacingOccurrences(
            of: "voters: [1, 3, 5]", with: "voters: [1, 2, 3]"
        )
        .write(toFile: other, atomically: true, encoding: .utf8)
        let (os, oout) = try run(c, ["controller", "--corridor", other, "--signal", "2", "--data", data2])
        XCTAssertEqual(os, 1, oout)
        XCTAssertTrue(oout.contains("voters recorded [1, 3, 5], given [1, 2, 3]"), oout)

        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: data2 + "/greenwave.sqlite" + suffix)
        }
        let (status, output) = try run(
            c, ["controller", "--corridor", c.corridorPath, "--signal", "2", "--data", data2])
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("refusing to start") && output.contains("no database greenwave.sqlite"), output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: data2 + "/greenwave.sqlite"))

        let p = Process()
        p.executableURL = c.binary
        p.arguments = [
            "controller", "--corridor", c.corridorPath, "--signal", "2", "--data", data2, "--force-new-member"
        ]
        let log = FileHandle(forWritingAtPath: c.dir.appendingPathComponent("s2.log").path)
        log?.seekToEndOfFile()
        p.standardError = log
        p.standardOutput = log
        try p.run()
        c.processes[2] = p
        let until = Date().addingTimeInterval(15)
        var served: StatusResponse?
        while served == nil && Date() < until {
            served = await c.status(2)
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        XCTAssertEqual(served?.term, 0, c.log(2))
        XCTAssertTrue(c.log(2).contains("--force-new-member"), c.log(2))
    }
}
