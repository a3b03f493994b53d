import CorridorFile
import Foundation
import SignalTiming
import XCTest

@testable import CorridorMachine

/// What the schedule costs on the 47-signal corridor when its first command comes long after its reference
/// epoch (2025-01-01 IST), counted in control events handed to the timeline compiler (not milliseconds):
/// before the schedule baseline the first command compiled every scheduled change since the epoch (1 241
/// after 11 months of the tests' Mumbai week, past the 4 096-event limit after about three years); now it
/// rebases to the last change and compiles a handful, whatever the age. Printed for docs/operations.md.
final class ScheduleCostTests: XCTestCase {
    /// The shipped file with its IST schedule (weekday peaks, off-peak, night; weekend and holidays).
    static func wehMachine() throws -> CorridorMachine {
        let path = Fixture.repoRoot + "/corridors/western-express-highway.yaml"
        var doc = try CorridorFile.load(path: path)
        if doc.schedule == nil {
            // A file without one: the Mumbai week of ScheduleMachineTests added to its text.
            let text = try String(contentsOfFile: path, encoding: .utf8)
            doc = try CorridorFile.parse(
                yaml: text + "\n" + ScheduleMachineTests.scheduleYAML + "\n", file: "western-express-highway+schedule")
        }
        return try CorridorMachine(
            corridor: doc.corridor, referenceEpochMs: doc.referenceEpochMs, initialPlan: doc.initialPlan,
            corridorID: Fixture.corridorID,
            operators: Fixture.operatorNames.map {
                OperatorRecord(name: $0, publicKey: Fixture.signer($0).publicKey, role: .engineer)
            },
            schedule: try XCTUnwrap(doc.schedule))
    }

    struct Cost {
        var history: Int
        var compiled: Int
        var timelineEvents: Int
        var seconds: Double
    }

    /// Genesis, then one command `days` after the epoch: the scheduled changes since the epoch, the events
    /// compiled by that command, and the events its timeline holds.
    func firstCommand(daysAfterEpoch days: Int64) throws -> Cost {
        var d = Driver()
        d.m = try Self.wehMachine()
        let t = d.m.referenceEpochMs + days * 86_400_000 + 3 * 3_600_000 + 17_000
        let history = d.m.modeLine.planEvents(through: t).count
        let before = d.m.scheduleEventsCompiled
        let started = Date()
        XCTAssertEqual(d.send(.release(SignalID(1)), at: t).result?.code, .notHeld)
        let seconds = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(d.m.baseline.atMs, t - 86_400_000, "the first command rebases the scheduled history")
        XCTAssertEqual(d.m.timeline.state(of: SignalID(1), at: t).plan, d.m.modeLine.mode(at: t).plan)
        return Cost(
            history: history, compiled: d.m.scheduleEventsCompiled - before, timelineEvents: d.m.timeline.events.count,
            seconds: seconds)
    }

    func testFirstCommandCostDoesNotGrowWithTheTimeSinceTheEpoch() throws {
        let day = try firstCommand(daysAfterEpoch: 1)
        let months = try firstCommand(daysAfterEpoch: 334)
        let years = try firstCommand(daysAfterEpoch: 4 * 365)
        for (name, c) in [("1 day", day), ("11 months", months), ("4 years", years)] {
            print(
                String(
                    format:
                        "WEH schedule cost, first command %@ after the epoch: %d scheduled changes since the epoch, %d events compiled, timeline %d events, %.3f s",
                    name, c.history, c.compiled, c.timelineEvents, c.seconds))
        }
        // Replaying from the epoch would compile the whole history (and could not at all past the limit).
        XCTAssertGreaterThan(years.history, Limits.timelineEventsMax)
        XCTAssertGreaterThan(months.history, 1_000)
        XCTAssertLessThanOrEqual(years.compiled, 2 * day.compiled + 8)
        XCTAssertLessThanOrEqual(months.compiled, 2 * day.compiled + 8)
        XCTAssertLessThan(years.compiled, 100)
        XCTAssertLessThan(years.timelineEvents, 100)
    }
}
