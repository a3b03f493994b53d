import CorridorFile
import CorridorMachine
import Foundation
import SignalTiming
import XCTest

@testable import GreenwaveAPI

/// The schedule on the wire: `mode` with `until`, the `schedule` command (YAML parsed the one way the
/// signer and every replica parse it), and `/v1/schedule`'s answer.
final class ScheduleWireTests: XCTestCase {
    static let yaml = """
        schedule:
          utc_offset: "+05:30"
          day_plans:
            d: [{ at: "06:00", plan: normal }, { at: "23:00", plan: night }]
          week: { monday: d, tuesday: d, wednesday: d, thursday: d, friday: d, saturday: d, sunday: d }
        """

    func request(_ type: String) -> CommandRequest {
        CommandRequest(operator: "asha", clientID: "1", sequence: 1, type: type, plan: "night")
    }

    func testModeUntilAndScheduleCommands() throws {
        var r = request("mode")
        XCTAssertEqual(try r.command(document: Fixture.document), .setMode(PlanID("night")))
        r.until = "next"
        XCTAssertEqual(
            try r.command(document: Fixture.document), .setModeUntil(PlanID("night"), until: .nextScheduledChange))
        r.until = "1767225600000"
        XCTAssertEqual(
            try r.command(document: Fixture.document), .setModeUntil(PlanID("night"), until: .time(1_767_225_600_000)))
        for bad in ["soon", "-1", "99999999999999999999", "1e12"] {
            r.until = bad
            XCTAssertThrowsError(try r.command(document: Fixture.document), bad)
        }
        var s = request("schedule")
        XCTAssertThrowsError(try s.command(document: Fixture.document))
        s.schedule = Self.yaml
        guard case .setSchedule(let parsed) = try s.command(document: Fixture.document) else {
            return XCTFail("not a schedule command")
        }
        XCTAssertEqual(parsed.dayPlans.map(\.name), ["d"])
        // Its YAML rendering parses back to the same schedule.
        XCTAssertEqual(try CorridorFile.parseSchedule(yaml: parsed.yaml, file: "rendered"), parsed)
        s.schedule = Self.yaml.replacingOccurrences(of: "\"06:00\"", with: "\"6\"")
        XCTAssertThrowsError(try s.command(document: Fixture.document)) {
            XCTAssertTrue("\($0)".contains("schedule.day_plans.d[0].at"))
        }
        s.schedule = String(repeating: "#", count: CommandRequest.maxScheduleBytes + 1)
        XCTAssertThrowsError(try s.command(document: Fixture.document))
        // The request round-trips through JSON with its new fields.
        s.schedule = Self.yaml
        let back = try JSONDecoder().decode(CommandRequest.self, from: try JSONEncoder().encode(s))
        XCTAssertEqual(back, s)
    }

    func testScheduleAnswerSaysWhichIsInForceAndUntilWhen() throws {
        let m = try CorridorMachine(
            corridor: Fixture.document.corridor, referenceEpochMs: Fixture.document.referenceEpochMs,
            initialPlan: Fixture.document.initialPlan, corridorID: Fixture.document.id,
            operators: [OperatorRecord(name: "asha", publicKey: Fixture.engineer.publicKey, role: .engineer)],
            schedule: try CorridorFile.parseSchedule(yaml: Self.yaml, file: "s"))
        // 2025-01-02 12:00 IST.
        let t: Int64 = 1_735_799_400_000
        let r = ScheduleResponse(machine: m, at: t)
        XCTAssertEqual(r.mode, "normal")
        XCTAssertEqual(r.modeSource, "schedule")
        XCTAssertNil(r.modeOrderedBy)
        XCTAssertEqual(r.scheduleSetBy, "corridor file")
        XCTAssertEqual(r.utcOffsetMinutes, 330)
        // Night from 23:00 IST (a boundary of normal's 90 s cycle): 2025-01-02T17:30Z.
        XCTAssertEqual(r.modeUntilMs, 1_735_839_000_000)
        XCTAssertEqual(
            r.upcoming.first, ScheduleResponse.Change(atMs: 1_735_839_000_000, plan: "night", source: "schedule"))
        let json = String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
        XCTAssertTrue(json.contains("\"mode_source\":\"schedule\""), json)
    }
}
