import Console
import Controller
import Foundation
import GreenwaveAPI
import XCTest

/// Multi-process tests on loopback: five real `greenwave controller` processes (3 voters, 2 learners).
final class ClusterTests: XCTestCase {
    private func request(
        _ type: String, seq: UInt64 = 1, client: String = ConsoleClient.newClientID(),
        plan: String? = nil, signal: Int? = nil
    ) -> CommandRequest {
        CommandRequest(operator: "test", clientID: client, sequence: seq, type: type, plan: plan, signal: signal)
    }

    /// Waits until every controller in `list` reports the same applied index and state hash.
    private func assertConverged(
        _ c: LocalCluster, _ list: [Int], timeout: Double = 15,
        file: StaticString = #filePath, line: UInt = #line
    ) async {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [Int: StatusResponse] = [:]
        while Date() < deadline {
            last = [:]
            for s in list { if let st = await c.status(s) { last[s] = st } }
            let hashes = Set(last.values.map(\.stateHash))
            let applied = Set(last.values.map(\.appliedIndex))
            if last.count == list.count && hashes.count == 1 && applied.count == 1 { return }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        XCTFail(
            "replicas did not converge: \(last.mapValues { "\($0.appliedIndex) \($0.stateHash.prefix(12))" })",
            file: file, line: line)
    }

    func testCommandsCommitEverywhereAndFailoverAfterKillingTheLeader() async throws {
        let c = try LocalCluster()
        try c.startAll()
        guard let leader = await c.waitForLeader() else { return XCTFail("no leader elected:\n\(c.log(1))") }
        // On a loaded machine a learner's API may come up, or learn the leader, after the election.
        let known = Date().addingTimeInterval(10)
        var learnersKnow = false
        while !learnersKnow && Date() < known {
            var all = true
            for s in [2, 4] { if (await c.status(s))?.leader != leader { all = false } }
            learnersKnow = all
            if !all { try? await Task.sleep(nanoseconds: 50_000_000) }
        }
        guard learnersKnow else { return XCTFail("the learners did not learn the leader") }

        // A command sent to a learner is forwarded to the leader and committed.
        let client = ConsoleClient.newClientID()
        // A 503 (the forward found no leader API yet, on a loaded machine) is retried with the same client id
        // and sequence: it applies once.
        var answer = await c.command(2, request("mode", client: client, plan: "night"))
        let retryUntil = Date().addingTimeInterval(10)
        while (answer == nil || answer?.0 == 503) && Date() < retryUntil {
            try? await Task.sleep(nanoseconds: 100_000_000)
            answer = await c.command(2, request("mode", client: client, plan: "night"))
        }
        guard let (code, r) = answer, let first = r else {
            return XCTFail("no answer (\(String(describing: answer?.0))):\n\(c.log(2))")
        }
        XCTAssertEqual(code, 200)
        XCTAssertEqual(first.result, "accepted")
        // The leader that committed it (on a loaded machine leadership may have moved since the election).
        XCTAssertTrue(c.voters.contains(first.leader), "\(first.leader)")
        XCTAssertNotNil(first.effectiveAtMs)
        // The same client id and sequence again: the first result, not a second application.
        let again = await c.command(4, request("mode", client: client, plan: "night"))
        XCTAssertEqual(again?.1?.duplicate, true)
        XCTAssertEqual(again?.1?.effectiveAtMs, first.effectiveAtMs)
        await assertConverged(c, c.signals)

        // kill -9 the leader: a new leader commits within 2 s.
        guard let leader = await c.waitForLeader(among: c.voters) else { return XCTFail("no leader before the kill") }
        let killedAt = Date()
        c.kill9(leader)
        let survivors = c.signals.filter { $0 != leader }
        var committedAfter: Double?
        while Date().timeIntervalSince(killedAt) < 10 {
            for s in survivors {
                if let (code, _) = await c.command(s, request("flash", signal: 2)), code == 200 {
                    committedAfter = Date().timeIntervalSince(killedAt)
                    break
                }
            }
            if committedAfter != nil { break }
        }
        guard let t = committedAfter else { return XCTFail("no command committed within 10 s of killing the leader") }
        print("failover: a command committed \(Int(t * 1000)) ms after kill -9 of leader \(leader)")
        XCTAssertLessThan(t, 2.0, "a new leader must commit within 2 s of kill -9 (took \(t) s)")
        guard let newLeader = await c.waitForLeader(among: survivors) else { return XCTFail("no new leader") }
        XCTAssertNotEqual(newLeader, leader)

        // The old leader restarts on its data folder, recovers and catches up; every replica agrees.
        try c.start(leader)
        await assertConverged(c, c.signals)
        let st = await c.status(leader)
        XCTAssertEqual(
            st?.mode == "night" || st?.pendingMode == "night", true, "the restarted controller has the mode change")
    }

    /// The trial of issue 16 on the real daemon: a learner cut off across a corridor flash and restored
    /// 20 s after it took effect applies it late. Its lamps enter the new schedule safely (a late
    /// entry, logged), never trip its conflict monitor, and end up flashing like everyone else.
    func testACutOffLearnerEntersALateCommandSafely() async throws {
        let c = try LocalCluster()
        try c.startAll()
        guard await c.waitForLeader() != nil else { return XCTFail("no leader") }
        await assertConverged(c, c.signals)
        let learner = 4
        let inStepBy = Date().addingTimeInterval(60)
        while Date() < inStepBy {
            if let l = await c.status(learner)?.lamps, l.entry == nil { break }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
        let entry = await c.status(learner)?.lamps?.entry
        XCTAssertNil(entry, "in step after the start-up sequence")
        guard let (code, _) = await c.post(learner, "/v1/debug/isolate?on=1", body: Data()), code == 200 else {
            return XCTFail("fault injection endpoint missing")
        }
        guard let (cc, r) = await c.command(1, request("flash")), cc == 200, let flashed = r else {
            return XCTFail("flash not committed")
        }
        _ = await c.waitApplied(flashed.index, on: [1, 2, 3, 5])
        // Past its effective time (5 s margin) by 20 s: the schedule has long left its green.
        try await Task.sleep(nanoseconds: 25_000_000_000)
        let cutMode = await c.status(learner)?.lamps?.mode
        XCTAssertNotEqual(cutMode, "flash", "the cut-off learner does not know of the flash")
        _ = await c.post(learner, "/v1/debug/isolate?on=0", body: Data())
        // Watch its lamps: never a monitor fault, and flashing within a green + yellow + all-red.
        var sawFlash = false
        let watchUntil = Date().addingTimeInterval(40)
        while Date() < watchUntil {
            let l = await c.status(learner)?.lamps
            XCTAssertNil(l?.monitorFault, "the late entry tripped the monitor")
            if l?.mode == "flash" && l?.entry == nil {
                sawFlash = true
                break
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        XCTAssertTrue(sawFlash, "the learner ends up flashing, in step")
        XCTAssertTrue(c.log(learner).contains("safe late entry"), "the late entry is logged")
        XCTAssertFalse(c.log(learner).contains("conflict monitor tripped"))
        await assertConverged(c, c.signals)
    }

    func testPartitionedLearnerKeepsItsPlanAndCatchesUpAfterHealing() async throws {
        let c = try LocalCluster()
        try c.startAll()
        guard await c.waitForLeader() != nil else { return XCTFail("no leader") }
        await assertConverged(c, c.signals)
        let learner = 4
        // Every start runs the start-up sequence (flash, all-red, entry into the schedule): wait until
        // the learner's lamps are in step with the schedule.
        let inStepBy = Date().addingTimeInterval(60)
        while Date() < inStepBy {
            if let l = await c.status(learner)?.lamps, l.entry == nil { break }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
        let entered = await c.status(learner)?.lamps
        XCTAssertNotNil(entered)
        XCTAssertNil(entered?.entry, "the learner's lamps are in step after the start-up sequence")
        guard let (code, _) = await c.post(learner, "/v1/debug/isolate?on=1", body: Data()), code == 200 else {
            return XCTFail("fault injection endpoint missing")
        }
        let before = await c.status(learner)
        // The corridor goes on without it.
        guard let (cc, r) = await c.command(1, request("hold", signal: 2)), cc == 200, let held = r else {
            return XCTFail("hold not committed")
        }
        _ = await c.waitApplied(held.index, on: [1, 2, 3, 5])
        let cut = await c.status(learner)
        XCTAssertEqual(cut?.appliedIndex, before?.appliedIndex, "a cut-off learner applies nothing new")
        // Its lamps keep running the last committed plan on its own clock.
        let lampsBefore = cut?.lamps
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let later = await c.status(learner)
        XCTAssertNotNil(later?.lamps)
        XCTAssertEqual(later?.lamps?.mode, "coordinated")
        XCTAssertNotEqual(later?.timeMs, cut?.timeMs)
        XCTAssertTrue(
            later?.lamps?.atMs != lampsBefore?.atMs || later?.lamps?.timeLeftMs != nil, "the lamp driver keeps timing")
        // Heal: it catches up and agrees with everyone.
        _ = await c.post(learner, "/v1/debug/isolate?on=0", body: Data())
        await assertConverged(c, c.signals)
    }

    func testGarbageFramesAndBodiesHurtNothing() async throws {
        let c = try LocalCluster()
        try c.startAll()
        guard let leader = await c.waitForLeader() else { return XCTFail("no leader") }
        // Garbage on every peer port.
        for s in c.signals {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = UInt16(c.peerPorts[s]!).bigEndian
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            XCTAssertTrue(connected)
            var junk = [UInt8](repeating: 0, count: 4096)
            for i in junk.indices { junk[i] = UInt8.random(in: 0...255) }
            junk[0...3] = [0x7f, 0xff, 0xff, 0xff] // a huge declared frame length
            _ = junk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        // Garbage HTTP bodies: malformed JSON, a wrong type, an oversized body, an unknown command.
        let bad: [(Data, Int)] = [
            (Data("{not json".utf8), 400),
            (Data(#"{"operator":"x","client_id":"1","sequence":"one","type":"mode"}"#.utf8), 400),
            (Data(repeating: 0x41, count: 200_000), 413),
            (Data(#"{"operator":"x","client_id":"1","sequence":1,"type":"explode"}"#.utf8), 400),
            (Data(#"{"operator":"x","client_id":"zz-top","sequence":1,"type":"mode","plan":"night"}"#.utf8), 400)
        ]
        for (body, expected) in bad {
            let r = await c.post(leader, "/v1/commands", body: body)
            XCTAssertEqual(r?.0, expected, String(decoding: body.prefix(60), as: UTF8.self))
        }
        // Everyone is still up, healthy, and the corridor still commits.
        for s in c.signals {
            let h: [String: String]? = await c.get(s, "/healthz")
            XCTAssertEqual(h?["status"], "ok", "controller \(s) unhealthy after garbage")
            XCTAssertTrue(c.processes[s]!.isRunning)
        }
        let r = await c.command(3, request("mode", plan: "rush-hour"))
        XCTAssertEqual(r?.0, 200)
        // A command the state machine refuses is committed, answered 422 with the reason.
        let refused = await c.command(3, request("hold", signal: 99))
        XCTAssertEqual(refused?.0, 422)
        XCTAssertEqual(refused?.1?.result, "rejected")
        XCTAssertTrue(refused?.1?.reason?.contains("99") == true)
        await assertConverged(c, c.signals)
    }

    func testSigtermOnTheLeaderHandsOverAndExitsCleanly() async throws {
        let c = try LocalCluster()
        try c.startAll()
        guard let leader = await c.waitForLeader() else { return XCTFail("no leader") }
        await assertConverged(c, c.signals)
        let p = c.processes[leader]!
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, c.log(leader))
        XCTAssertTrue(c.log(leader).contains("leadership handed over"), c.log(leader))
        let survivors = c.voters.filter { $0 != leader }
        let next = await c.waitForLeader(among: survivors, timeout: 5)
        XCTAssertNotNil(next)
        // The linearizable read on a follower goes through the new leader.
        let st: StateResponse? = await c.get(2, "/v1/state?consistency=linearizable")
        XCTAssertNotNil(st?.readIndex)
    }
}
