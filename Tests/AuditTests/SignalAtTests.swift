import Audit
import CorridorFile
import CorridorMachine
import Foundation
import RaftCore
import SignalTiming
import Storage
import XCTest

/// A small, known history written the way a controller writes it: commands through the machine into
/// the log and the audit chain, and one signal's lamp events from the resulting timeline with the
/// lamp driver's event codes.
struct KnownRecord {
    let dir: String
    let doc: CorridorDocument
    /// Log index of each command, in order.
    var indexes: [UInt64] = []
    let t0: Int64

    init(
        _ test: XCTestCase, commands: [(afterS: Int64, op: String, command: Command)], lampSignal: Int,
        lampThroughS: Int64
    ) throws {
        dir = (try scratchFolder(test, "known") as NSString).appendingPathComponent("s0\(lampSignal)")
        doc = try writeSignedCorridor(into: dir)
        let store = try RaftStore(directory: dir)
        defer { try? store.close() }
        var m = try CorridorMachine(genesisOf: doc)
        t0 = doc.referenceEpochMs + 7 * 86_400_000 + 1_234
        var batch = WriteBatch()
        var entries = [Entry(term: 1, index: 1, kind: .noop)]
        var index: UInt64 = 1
        for (k, c) in commands.enumerated() {
            index += 1
            let env = testSigner(c.op).envelope(
                corridorID: doc.id, clientID: ClientID.timed(createdAtMs: t0, random: 9), sequence: UInt64(k + 1),
                leaderTimeMs: t0 + c.afterS * 1000, command: c.command)
            let bytes = env.encoded()
            entries.append(Entry(term: 1, index: index, data: bytes))
            let r = m.apply(index: index, term: 1, kind: .normal, payload: bytes)
            batch.auditRecords.append(
                AuditRecord(
                    index: index, term: 1, leaderTimeMs: env.leaderTimeMs, operatorName: c.op,
                    clientID: env.clientID.description,
                    sequence: env.sequence, command: bytes, commandText: "\(c.command)", result: "\(r.result!)",
                    stateHash: r.stateHash))
            indexes.append(index)
        }
        batch.add(hardState: HardState(term: 1, vote: 1, commit: index), entries: entries)
        // The lamp log of `lampSignal`, from the final timeline (as the lamp driver would have seen it).
        let sig = doc.corridor.signals.first { $0.id.rawValue == lampSignal }!
        let states = m.timeline.changes(of: sig.id, fromMs: t0, throughMs: t0 + lampThroughS * 1000)
        // Exactly what the lamp driver writes: the same derivation (Storage.HiResEventLog).
        var log = HiResEventLog(signal: sig, corridor: doc.corridor)
        var prev: SignalState?
        for st in states {
            batch.lampEvents += log.events(from: prev, to: st)
            prev = st
        }
        try store.commit(batch)
    }
}

final class SignalAtTests: XCTestCase {
    func testAHeldSignalIsExplainedByTheHoldCommandAndTheLampLogAgrees() throws {
        let rec = try KnownRecord(
            self,
            commands: [
                (10, "asha", .setMode(PlanID("rush-hour"))), (200, "ravi", .hold(SignalID(3), stage: nil)),
                (400, "ravi", .release(SignalID(3)))
            ],
            lampSignal: 3, lampThroughS: 700)
        let folder = try DataFolder(path: rec.dir)
        XCTAssertTrue(try Verifier.verify(folder: folder).findings.isEmpty)

        let during = rec.t0 + 330_000
        let r = try SignalAt.report(folder: folder, signal: 3, at: during)
        XCTAssertEqual(r.mode, .hold)
        XCTAssertEqual(r.cause?.index, rec.indexes[1])
        XCTAssertEqual(r.cause?.operatorName, "ravi")
        XCTAssertEqual(r.plan, "rush-hour")
        XCTAssertEqual(r.corridorPlanSource?.index, rec.indexes[0])
        XCTAssertEqual(r.commandsReplayed, 2, "the release was proposed later and is not replayed")
        XCTAssertEqual(r.disagreements, [])
        XCTAssertNotNil(r.lampLog)
        XCTAssertEqual(r.lampLog?.coordination, 0, "a held signal is not coordinating: event 150 says free")
        // The main stage rests green in the hold.
        XCTAssertEqual(r.phases.first { $0.phase == 2 }?.lamp, .green)
        XCTAssertEqual(r.phases.first { $0.phase == 2 }?.logLamp, .green)

        // Before any command: the initial plan, no cause.
        let before = try SignalAt.report(folder: folder, signal: 3, at: rec.t0 + 5_000)
        XCTAssertEqual(before.plan, "normal")
        XCTAssertNil(before.cause)
        XCTAssertEqual(before.disagreements, [])
    }

    func testAnInstantWhereTheLampLogDiffersFromTheReplayIsReported() throws {
        let rec = try KnownRecord(
            self, commands: [(200, "ravi", .hold(SignalID(3), stage: nil))], lampSignal: 3, lampThroughS: 600)
        let t = rec.t0 + 400_000
        let honest = try SignalAt.report(folder: try DataFolder(path: rec.dir), signal: 3, at: t)
        XCTAssertEqual(honest.disagreements, [])
        XCTAssertEqual(honest.phases.first { $0.phase == 2 }?.lamp, .green)
        // The controller logged phase 2 going yellow a second before: what it showed differs.
        let store = try RaftStore(directory: rec.dir)
        try store.appendLampEvents([LampEvent(signalID: "3", timeMs: t - 1_000, eventCode: 8, parameter: 2)])
        try store.close()
        let r = try SignalAt.report(folder: try DataFolder(path: rec.dir), signal: 3, at: t)
        XCTAssertEqual(r.disagreements.count, 1, "\(r.disagreements)")
        XCTAssertTrue(r.disagreements[0].hasPrefix("phase 2 "), r.disagreements[0])
        XCTAssertTrue(r.disagreements[0].contains("replay gives green, the lamp log gives yellow"), r.disagreements[0])
    }

    func testAStopRecordEndsTheCrossCheckUntilTheNextStart() throws {
        let rec = try KnownRecord(
            self, commands: [(200, "ravi", .hold(SignalID(3), stage: nil))], lampSignal: 3, lampThroughS: 600)
        let stop = rec.t0 + 300_000
        // After the stop the lamp log says nothing of the lamps (the cabinet flashes them), and it also holds
        // an event that would disagree with the replay.
        let store = try RaftStore(directory: rec.dir)
        try store.appendLampEvents([
            LampEvent(signalID: "3", timeMs: stop, eventCode: HiResCode.powerFailure, parameter: 0),
            LampEvent(signalID: "3", timeMs: stop + 1_000, eventCode: HiResCode.yellowBegin, parameter: 2)
        ])
        try store.close()
        let folder = try DataFolder(path: rec.dir)
        let running = try SignalAt.report(folder: folder, signal: 3, at: stop - 1)
        XCTAssertNil(running.lampLog?.stoppedAtMs)
        XCTAssertEqual(running.disagreements, [])
        let stopped = try SignalAt.report(folder: folder, signal: 3, at: stop + 2_000)
        XCTAssertEqual(stopped.lampLog?.stoppedAtMs, stop)
        XCTAssertEqual(stopped.disagreements, [], "no cross-check while the controller is stopped")
        // A window opening while stopped begins with the stop, not with a state the controller no longer drove.
        let (rows, warnings) = try ATSPMExport.export(folder: folder, signal: 3, from: stop + 2_000, to: stop + 3_000)
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(rows.map(\.eventCode), [HiResCode.powerFailure])
        XCTAssertEqual(rows.first?.synthesized, true)
        // The next start (184) ends it.
        let restart = rec.t0 + 500_000
        let store2 = try RaftStore(directory: rec.dir)
        try store2.appendLampEvents([
            LampEvent(signalID: "3", timeMs: restart, eventCode: HiResCode.powerRestored, parameter: 0)
        ])
        try store2.close()
        let again = try SignalAt.report(folder: try DataFolder(path: rec.dir), signal: 3, at: restart + 1)
        XCTAssertNil(again.lampLog?.stoppedAtMs, "184 ends the stop")
        XCTAssertEqual(again.lampLog?.sinceStartMs, restart)
    }

    func testUnknownSignalAndInstantBeforeHistoryAreBadInput() throws {
        let rec = try KnownRecord(
            self, commands: [(10, "asha", .setMode(PlanID("night")))], lampSignal: 1, lampThroughS: 100)
        let folder = try DataFolder(path: rec.dir)
        XCTAssertThrowsError(try SignalAt.report(folder: folder, signal: 99, at: rec.t0)) {
            XCTAssertTrue(($0 as? AuditError)?.isBadInput == true)
        }
        XCTAssertThrowsError(try SignalAt.report(folder: folder, signal: 1, at: rec.doc.referenceEpochMs - 1)) {
            XCTAssertTrue("\($0)".contains("begins at"))
        }
        XCTAssertThrowsError(try DataFolder(path: rec.dir + "-nope")) {
            XCTAssertTrue("\($0)".contains("no such folder"))
        }
    }
}

final class ExportAndLogTests: XCTestCase {
    func testAWindowStartingMidPlanBeginsWithThePlanState() throws {
        let rec = try KnownRecord(
            self,
            commands: [(10, "asha", .setMode(PlanID("rush-hour"))), (200, "ravi", .hold(SignalID(2), stage: nil))],
            lampSignal: 2, lampThroughS: 600)
        let folder = try DataFolder(path: rec.dir)
        let from = rec.t0 + 300_000
        let to = rec.t0 + 420_000
        let (rows, warnings) = try ATSPMExport.export(folder: folder, from: from, to: to)
        XCTAssertEqual(warnings, [], "the log and the replay agree at the window's start")
        let head = rows.prefix { $0.synthesized }
        XCTAssertFalse(head.isEmpty)
        XCTAssertTrue(head.allSatisfy { $0.timeMs == from })
        // Pattern 2 = rush-hour (corridor order, from 1), coordination 0 = free (held), main phases green.
        XCTAssertEqual(head.first { $0.eventCode == 131 }?.parameter, 2)
        XCTAssertEqual(head.first { $0.eventCode == 150 }?.parameter, 0)
        XCTAssertEqual(Set(head.filter { $0.eventCode == 1 }.map(\.parameter)), [2, 6])
        XCTAssertTrue(rows.dropFirst(head.count).allSatisfy { !$0.synthesized && $0.timeMs >= from && $0.timeMs < to })
        XCTAssertEqual(rows.map(\.timeMs), rows.map(\.timeMs).sorted())
        // The replay says the same about that instant.
        let at = try SignalAt.report(folder: folder, signal: 2, at: from - 1)
        XCTAssertEqual(at.mode, .hold)
        XCTAssertEqual(at.plan, "rush-hour")

        XCTAssertEqual(ATSPMExport.header, "SignalID,Timestamp,EventCode,EventParam")
        XCTAssertEqual(
            ATSPMExport.csvLine(
                .init(signalID: "2", timeMs: 1_795_736_412_345, eventCode: 131, parameter: 2, synthesized: true)),
            "2,2026-11-26 23:40:12.3,131,2")
        XCTAssertEqual(
            ATSPMExport.csvLine(
                .init(signalID: "2", timeMs: 1_795_736_412_345, eventCode: 1, parameter: 6, synthesized: false),
                style: .iso),
            "2,2026-11-26T23:40:12.3,1,6")
        // Without a window start nothing is invented: the log begins with its own start-up record.
        XCTAssertFalse(try ATSPMExport.rows(folder: folder).contains { $0.synthesized })
        XCTAssertEqual(try ATSPMExport.rows(folder: folder).first?.eventCode, 184)
    }

    func testTheCommandLogListsEveryCommandWithItsEffectiveTime() throws {
        let rec = try KnownRecord(
            self,
            commands: [
                (10, "asha", .setMode(PlanID("rush-hour"))), (20, "ravi", .release(SignalID(4))),
                (30, "meera", .flash(SignalID(5)))
            ],
            lampSignal: 1, lampThroughS: 60)
        let folder = try DataFolder(path: rec.dir)
        let all = try CommandLog.entries(folder: folder)
        XCTAssertEqual(all.map(\.index), rec.indexes)
        XCTAssertEqual(all.map(\.operatorName), ["asha", "ravi", "meera"])
        XCTAssertEqual(all.map(\.accepted), [true, false, true])
        XCTAssertEqual(all[2].effectiveAtMs, rec.t0 + 30_000 + 5_000, "flash: leader time + the 5 s margin")
        XCTAssertEqual(
            (all[0].effectiveAtMs! - rec.doc.referenceEpochMs) % 90_000, 0,
            "a mode change lands on a boundary of the running plan's (normal, 90 s) cycle")
        XCTAssertTrue(all[1].result.contains("not held"))
        XCTAssertEqual(
            try CommandLog.entries(folder: folder, from: rec.t0 + 15_000, to: rec.t0 + 30_000).map(\.index),
            [rec.indexes[1]])
    }
}
