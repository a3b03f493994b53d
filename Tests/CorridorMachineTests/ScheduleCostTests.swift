import CorridorFile
import Foundation
import SignalTiming
import XCTest

@testable import CorridorMachine

/// What the schedule costs on the 47-signal corridor when its first command comes 11 months after its
/// reference epoch (2025-01-01): genesis, then the first command, which compiles and compacts the whole
/// scheduled history since the epoch (1 241 plan changes). Printed for docs/operations.md; the bound asserted is
/// the timeline's event limit, which this history must stay under.
final class ScheduleCostTests: XCTestCase {
    func testFirstCommandOnTheWesternExpressHighwayCompactsTwoYearsOfSchedule() throws {
        // The shipped file carries no schedule (its comment says why): a Mumbai week is added to its text.
        let text = try String(
            contentsOfFile: Fixture.repoRoot + "/corridors/western-express-highway.yaml", encoding: .utf8)
        let doc = try CorridorFile.parse(
            yaml: text + "\n" + ScheduleMachineTests.scheduleYAML + "\n", file: "western-express-highway+schedule.yaml")
        let s = try XCTUnwrap(doc.schedule)
        let started = Date()
        var d = Driver()
        d.m = try CorridorMachine(
            corridor: doc.corridor, referenceEpochMs: doc.referenceEpochMs, initialPlan: doc.initialPlan,
            corridorID: Fixture.corridorID,
            operators: Fixture.operatorNames.map {
                OperatorRecord(name: $0, publicKey: Fixture.signer($0).publicKey, role: .engineer)
            },
            schedule: s)
        let genesisS = Date().timeIntervalSince(started)
        let t: Int64 = 1_764_547_200_000 // 2025-12-01T00:00Z, 11 months after the epoch
        let history = d.m.modeLine.planEvents(through: t).count
        XCTAssertLessThan(history, Limits.timelineEventsMax)
        let applyStart = Date()
        XCTAssertEqual(d.send(.release(SignalID(1)), at: t).result?.code, .notHeld)
        let firstS = Date().timeIntervalSince(applyStart)
        XCTAssertGreaterThan(d.m.baseline.atMs, t - 86_400_000, "the first command compacts the scheduled history")
        let nextStart = Date()
        XCTAssertEqual(d.send(.release(SignalID(1)), at: t + 60_000).result?.code, .notHeld)
        let nextS = Date().timeIntervalSince(nextStart)
        print(
            String(
                format:
                    "WEH schedule cost: genesis %.2f s; first command after %d scheduled changes %.2f s; next command %.3f s",
                genesisS, history, firstS, nextS))
    }
}
