import CorridorFile
@testable import CorridorMachine
import Foundation
import SignalTiming
import XCTest

/// What the schedule costs on the 47-signal corridor when its first command comes 11 months after its
/// reference epoch (2025-01-01): genesis, then the first command, which compiles and compacts the whole
/// scheduled history since the epoch (1 241 plan changes). Printed for docs/operations.md; the bound asserted is
/// the timeline's event limit, which this history must stay under.
final class ScheduleCostTests: XCTestCase {
    func testFirstCommandOnTheWesternExpressHighwayCompactsTwoYearsOfSchedule() throws {
        // The shipped file carries no schedule (its comment says why): the example Mumbai schedule of
        // docs/corridor-format.md is added to a copy.
        let text = try String(contentsOfFile: Fixture.repoRoot + "/corridors/western-express-highway.yaml", encoding: .utf8)
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("weh-scheduled-\(UUID().uuidString).yaml")
        try (text + "\n" + Self.mumbaiSchedule).write(to: copy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: copy) }
        let doc = try CorridorFile.load(path: copy.path)
        let s = try XCTUnwrap(doc.schedule)
        let started = Date()
        var d = Driver()
        d.m = try CorridorMachine(corridor: doc.corridor, referenceEpochMs: doc.referenceEpochMs, initialPlan: doc.initialPlan,
                                  corridorID: Fixture.corridorID,
                                  operators: Fixture.operatorNames.map { OperatorRecord(name: $0, publicKey: Fixture.signer($0).publicKey, role: .engineer) },
                                  schedule: s)
        let genesisS = Date().timeIntervalSince(started)
        let t: Int64 = 1_764_547_200_000  // 2025-12-01T00:00Z, 11 months after the epoch
        let history = d.m.modeLine.planEvents(through: t).count
        XCTAssertLessThan(history, Limits.timelineEventsMax)
        let applyStart = Date()
        XCTAssertEqual(d.send(.release(SignalID(1)), at: t).result?.code, .notHeld)
        let firstS = Date().timeIntervalSince(applyStart)
        XCTAssertGreaterThan(d.m.baseline.atMs, t - 86_400_000, "the first command compacts the scheduled history")
        let nextStart = Date()
        XCTAssertEqual(d.send(.release(SignalID(1)), at: t + 60_000).result?.code, .notHeld)
        let nextS = Date().timeIntervalSince(nextStart)
        print(String(format: "WEH schedule cost: genesis %.2f s; first command after %d scheduled changes %.2f s; next command %.3f s", genesisS, history, firstS, nextS))
    }
    static let mumbaiSchedule = """
# Time-of-day schedule (docs/corridor-format.md, "schedule"), in IST. Mumbai's peaks: the morning peak
# runs south into the city (rush-hour favours southbound); the evening peak runs north, and the only plan
# that favours northbound is `normal` (two-way, 50 %), so the evening runs `normal` until an evening plan
# exists. Night plan from 23:00; Sundays and the fixed-date public holidays start later and have no peak.
schedule:
  utc_offset: "+05:30"
  day_plans:
    weekday:
      - { at: "06:00", plan: normal }
      - { at: "08:00", plan: rush-hour }
      - { at: "11:30", plan: normal }
      - { at: "23:00", plan: night }
    sunday:
      - { at: "07:00", plan: normal }
      - { at: "23:30", plan: night }
  week: { monday: weekday, tuesday: weekday, wednesday: weekday, thursday: weekday, friday: weekday, saturday: weekday, sunday: sunday }
  holidays:
    - { date: "2026-01-26", day_plan: sunday }   # Republic Day
    - { date: "2026-05-01", day_plan: sunday }   # Maharashtra Day
    - { date: "2026-08-15", day_plan: sunday }   # Independence Day
    - { date: "2026-10-02", day_plan: sunday }   # Gandhi Jayanti
    - { date: "2027-01-26", day_plan: sunday }
    - { date: "2027-05-01", day_plan: sunday }
    - { date: "2027-08-15", day_plan: sunday }
    - { date: "2027-10-02", day_plan: sunday }
"""
}
