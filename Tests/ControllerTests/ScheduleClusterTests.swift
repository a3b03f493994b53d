import Console
import CorridorFile
import Foundation
import GreenwaveAPI
import SignalTiming
import XCTest

/// Five real controllers on demo-5 with a time-of-day schedule whose next change is 2–3 minutes after the
/// start. A learner is cut off (fault injection) before the change: it applies nothing, yet changes pattern
/// at the scheduled boundary like the others (its lamps run the new plan, its status says the schedule put
/// it there), and when it is reconnected it catches up with the same state hash as everyone.
final class ScheduleClusterTests: XCTestCase {
    func testACutOffLearnerFollowsTheScheduleAndRejoinsWithTheSameHash() async throws {
        let c = try LocalCluster()
        // Every controller's clock reads `ahead` ms fast (the same for all, so they agree), chosen so that a
        // minute boundary of corridor time falls 90 s of wall time after now: the change to night is there,
        // after the learner is in step and cut off, and back to normal ten hours later. (Without the offset
        // the change would have to wait for the wall clock's next-but-one minute, 2-3 minutes.)
        let wallMs = Int64(Date().timeIntervalSince1970 * 1000)
        let changeWallMs = wallMs + 90_000
        let ahead = (changeWallMs + 59_999) / 60_000 * 60_000 - changeWallMs
        let nowMs = wallMs + ahead
        let changeMinute = Int(((changeWallMs + ahead + 330 * 60_000) / 60_000) % 1_440)
        let backMinute = (changeMinute + 600) % 1_440
        let actions = [(changeMinute, "night"), (backMinute, "normal")].sorted { $0.0 < $1.0 }
            .map { "      - { at: \"\(ScheduleAction.timeText($0.0))\", plan: \($0.1) }" }.joined(separator: "\n")
        let days = TimeOfDaySchedule.weekdayNames.map { "\($0): d" }.joined(separator: ", ")
        var yaml = try String(contentsOfFile: c.corridorPath, encoding: .utf8)
        yaml += "\nschedule:\n  utc_offset: \"+05:30\"\n  day_plans:\n    d:\n\(actions)\n  week: { \(days) }\n"
        try yaml.write(toFile: c.corridorPath, atomically: true, encoding: .utf8)
        let doc = try CorridorFile.load(path: c.corridorPath)
        XCTAssertNotNil(doc.schedule)
        for sig in c.signals { try c.start(sig, extra: ["--clock-offset-ms", "\(ahead)"]) }
        guard await c.waitForLeader(among: c.voters, timeout: 30) != nil else {
            return XCTFail("no leader:\n\(c.log(1))")
        }
        let learner = 4
        let inStepBy = Date().addingTimeInterval(60)
        while Date() < inStepBy {
            if let l = await c.status(learner)?.lamps, l.entry == nil { break }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
        let before = await c.status(learner)
        XCTAssertEqual(before?.mode, "normal")
        XCTAssertEqual(before?.modeSource, "schedule")
        guard let until = before?.modeUntilMs else {
            return XCTFail("no scheduled change known: \(String(describing: before))")
        }
        XCTAssertGreaterThan(until, nowMs)
        XCTAssertLessThan(until, nowMs + 300_000)
        guard let (code, _) = await c.post(learner, "/v1/debug/isolate?on=1", body: Data()), code == 200 else {
            return XCTFail("fault injection endpoint missing")
        }
        let cutIndex = await c.status(learner)?.appliedIndex
        // The others apply commands the learner never sees.
        guard
            let (cc, r) = await c.command(
                1,
                CommandRequest(
                    operator: "test", clientID: ConsoleClient.newClientID(), sequence: 1, type: "hold", signal: 2)),
            cc == 200, let held = r
        else { return XCTFail("hold not committed") }
        _ = await c.waitApplied(held.index, on: [1, 2, 3, 5])
        // Until every signal runs night, at most a normal cycle (90 s) and a margin past the scheduled change.
        let wakeAt = Date(timeIntervalSince1970: Double(until - ahead + 100_000) / 1000)
        while Date() < wakeAt {
            let l = await c.status(learner)?.lamps
            XCTAssertNil(l?.monitorFault, "the cut-off learner's monitor tripped")
            var plans: [String?] = [l?.plan]
            for s in [1, 3, 5] { plans.append(await c.status(s)?.lamps?.plan) }
            if plans.allSatisfy({ $0 == "night" }) { break }
            try await Task.sleep(nanoseconds: 1_000_000_000)
        }
        let cut = await c.status(learner)
        XCTAssertEqual(cut?.appliedIndex, cutIndex, "a cut-off learner applies nothing new")
        XCTAssertEqual(cut?.mode, "night", "the cut-off learner's state says night from its schedule")
        XCTAssertEqual(cut?.modeSource, "schedule")
        XCTAssertEqual(cut?.lamps?.plan, "night", "the cut-off learner's lamps run night")
        XCTAssertNil(cut?.lamps?.monitorFault)
        for s in [1, 3, 5] {
            let plan = await c.status(s)?.lamps?.plan
            XCTAssertEqual(plan, "night", "S\(s) lamps")
        }
        _ = await c.post(learner, "/v1/debug/isolate?on=0", body: Data())
        let deadline = Date().addingTimeInterval(20)
        var statuses: [Int: StatusResponse] = [:]
        while Date() < deadline {
            statuses = [:]
            for s in c.signals { if let st = await c.status(s) { statuses[s] = st } }
            if statuses.count == 5, Set(statuses.values.map(\.stateHash)).count == 1,
                Set(statuses.values.map(\.appliedIndex)).count == 1
            {
                break
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        XCTAssertEqual(
            Set(statuses.values.map(\.stateHash)).count, 1,
            "state hashes after rejoining: \(statuses.mapValues { $0.stateHash.prefix(12) })")
        XCTAssertFalse(c.log(learner).contains("conflict monitor tripped"))
    }
}
