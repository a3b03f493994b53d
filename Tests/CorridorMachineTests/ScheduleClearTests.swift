import CorridorFile
import Foundation
import SignalTiming
import XCTest

@testable import CorridorMachine

/// `clearSchedule`: an engineer's command; at the next cycle boundary the plan in force stays (held by the
/// command's own mode event) and the schedule changes nothing more; mode commands take no `until` again;
/// the state round-trips with the pending clear; compaction past it leaves a corridor without a schedule.
final class ScheduleClearTests: XCTestCase {
    func testClearScheduleNeedsAnEngineerAndKeepsThePlanInForce() throws {
        var d = Driver()
        d.m = try ScheduleMachineTests.machine()
        let t = ScheduleMachineTests.ist("2025-01-02", "09:00") // Thursday, rush-hour (120 s) in force
        let otto = Fixture.signer("otto")
        XCTAssertTrue(
            d.send(.addOperator(name: "otto", publicKey: otto.publicKey, role: .supervisor), at: t).result!.isAccepted)
        XCTAssertEqual(d.send(.clearSchedule, client: 2, at: t + 1_000, op: "otto").result?.code, .forbidden)
        XCTAssertNil(d.m.scheduleClear)
        let r = d.send(.clearSchedule, at: t + 2_000)
        guard case .accepted(let at)? = r.result else { return XCTFail("\(String(describing: r.result))") }
        XCTAssertEqual((at - d.m.referenceEpochMs) % 120_000, 0, "a rush-hour cycle boundary")
        XCTAssertGreaterThanOrEqual(at, t + 2_000 + d.m.settings.safetyMarginMs)
        XCTAssertFalse(d.m.followsSchedule)
        XCTAssertEqual(d.send(.clearSchedule, at: t + 3_000).result?.code, .invalidCommand, "already cleared")
        // The plan in force stays past every change the schedule had (11:30 normal, 23:00 night, Friday 08:00).
        for q in [at, ScheduleMachineTests.ist("2025-01-02", "12:00"), ScheduleMachineTests.ist("2025-01-03", "03:00")]
        {
            XCTAssertEqual(d.m.mode(at: q).plan, PlanID("rush-hour"), "at \(q)")
            XCTAssertEqual(d.m.modeInForce(at: q).source, .override(EventID(r.index)))
            XCTAssertNil(d.m.modeInForce(at: q).untilMs)
        }
        XCTAssertEqual(d.m.modeInForce(at: at).provenance?.operatorID, "asha")
        // The lamps show no scheduled change: every signal runs rush-hour at the old 11:30 change and after.
        let noon = ScheduleMachineTests.ist("2025-01-02", "12:00")
        for s in d.m.corridor.signals {
            XCTAssertEqual(try d.m.timeline(through: noon + 1).state(of: s.id, at: noon).plan, PlanID("rush-hour"))
        }
        // The state round-trips with the pending clear.
        let copy = try CorridorMachine(encodedState: d.m.encodedState())
        XCTAssertEqual(copy.stateHash, d.m.stateHash)
        XCTAssertEqual(copy.scheduleClear, d.m.scheduleClear)
        // Mode commands are plain again: no 'until', and no end by default.
        XCTAssertEqual(
            d.send(.setModeUntil(PlanID("night"), until: .nextScheduledChange), at: t + 4_000).result?.code,
            .invalidCommand)
        let n = d.send(.setMode(PlanID("normal")), at: t + 5_000)
        guard case .accepted(let nAt)? = n.result else { return XCTFail("\(String(describing: n.result))") }
        XCTAssertGreaterThan(nAt, at)
        XCTAssertNil(d.m.modeInForce(at: nAt).untilMs)
        // Once everything has settled, compaction leaves a corridor without a schedule.
        XCTAssertEqual(d.send(.release(SignalID(1)), client: 3, at: noon).result?.code, .notHeld)
        XCTAssertTrue(d.m.schedules.isEmpty)
        XCTAssertNil(d.m.scheduleClear)
        XCTAssertEqual(d.m.mode(at: noon + 86_400_000).plan, PlanID("normal"))
        XCTAssertEqual(d.send(.clearSchedule, client: 3, at: noon + 1_000).result?.code, .invalidCommand, "no schedule")
        // The command round-trips through its codec.
        var w = ByteWriter()
        Codecs.command(&w, .clearSchedule)
        var rd = ByteReader(w.bytes)
        XCTAssertEqual(try Codecs.command(&rd), .clearSchedule)
    }

    /// A replica that applies the same log has the same hash at every entry, and a schedule set again after a
    /// clear takes over as a schedule does.
    func testClearThenSetAgainIsDeterministic() throws {
        var a = Driver()
        a.m = try ScheduleMachineTests.machine()
        var b = Driver()
        b.m = a.m
        let t = ScheduleMachineTests.ist("2025-01-06", "07:00") // Monday, normal
        let s = try XCTUnwrap(ScheduleMachineTests.document().schedule)
        let steps: [(Command, Int64)] = [
            (.clearSchedule, t), (.release(SignalID(1)), t + 3_600_000), (.setSchedule(s), t + 3_700_000),
            (.release(SignalID(1)), t + 7_200_000)
        ]
        for (k, (c, at)) in steps.enumerated() {
            let ra = a.send(c, client: UInt64(10 + k), at: at)
            let rb = b.send(c, client: UInt64(10 + k), at: at)
            XCTAssertTrue(
                ra.result?.isAccepted ?? false || c == .release(SignalID(1)), "\(c): \(String(describing: ra.result))")
            XCTAssertEqual(ra.stateHash, rb.stateHash)
        }
        XCTAssertTrue(a.m.followsSchedule)
        // 08:00 was passed while cleared (normal stayed); the new schedule has rush-hour until 11:30.
        XCTAssertEqual(a.m.mode(at: ScheduleMachineTests.ist("2025-01-06", "10:00")).plan, PlanID("rush-hour"))
        XCTAssertEqual(a.m.modeInForce(at: ScheduleMachineTests.ist("2025-01-06", "10:00")).source, .schedule)
    }
}
