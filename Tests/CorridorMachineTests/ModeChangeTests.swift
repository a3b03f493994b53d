import CorridorMachine
import SignalTiming
import XCTest

final class ModeChangeTests: XCTestCase {
    func testModeTakesEffectAtTheFirstBoundaryAtLeastTheMarginAfterTheLeaderTime() throws {
        let epoch = Fixture.epoch
        // Leader times around a boundary of the normal plan's 90 s cycle.
        let boundary = epoch + 1_000 * 90_000
        for (leader, expected) in [
            (boundary - 5_000, boundary), // exactly the margin before: this boundary
            (boundary - 4_999, boundary + 90_000), // 1 ms too late: the next one
            (boundary - 60_000, boundary),
            (boundary, boundary + 90_000)
        ] {
            var d = Driver()
            let r = d.send(.setMode(PlanID("rush-hour")), at: leader)
            XCTAssertEqual(r.result, .accepted(effectiveAtMs: expected), "leader at boundary\(leader - boundary)")
            XCTAssertEqual(d.m.pendingModes.map(\.plan), [PlanID("rush-hour")])
            XCTAssertEqual(d.m.currentMode.plan, PlanID("normal"))
            XCTAssertEqual(d.m.mode(at: expected - 1).plan, PlanID("normal"))
            XCTAssertEqual(d.m.mode(at: expected).plan, PlanID("rush-hour"))
            XCTAssertEqual(d.m.mode(at: expected).source, Provenance(logIndex: 1, operatorID: "asha"))
        }
        // The margin is a setting.
        var d = Driver(MachineSettings(safetyMarginMs: 60_001))
        XCTAssertEqual(
            d.send(.setMode(PlanID("night")), at: boundary - 60_000).result, .accepted(effectiveAtMs: boundary + 90_000)
        )
    }

    func testLaterModeChangesUseTheCycleOfThePlanTheyFollowAndKeepCommitOrder() {
        var d = Driver()
        let epoch = Fixture.epoch
        let t = epoch + 1_000 * 90_000 + 1_000
        guard case .accepted(let first)? = d.send(.setMode(PlanID("rush-hour")), at: t).result else { return XCTFail() }
        XCTAssertEqual((first - epoch) % 90_000, 0)
        // Ordered right after: it follows rush-hour, so it lands on a 120 s boundary after `first`.
        guard case .accepted(let second)? = d.send(.setMode(PlanID("night")), client: 2, at: t + 100).result else {
            return XCTFail()
        }
        XCTAssertGreaterThan(second, first)
        XCTAssertEqual((second - epoch) % 120_000, 0)
        XCTAssertEqual(d.m.pendingModes.map(\.plan), [PlanID("rush-hour"), PlanID("night")])
        // Out of flash the new plan's boundary is used.
        var f = Driver()
        guard case .accepted(let fl)? = f.send(.setMode(PlanID("flash")), at: t).result else { return XCTFail() }
        guard case .accepted(let back)? = f.send(.setMode(PlanID("night")), client: 2, at: fl + 200_000).result else {
            return XCTFail()
        }
        XCTAssertEqual((back - epoch) % 60_000, 0)
        XCTAssertGreaterThanOrEqual(back, fl + 205_000)
    }

    /// Before the effective instant nothing changes on any signal; from it on, every signal is
    /// driven by the command (cause = its log index) and reaches the new plan in step.
    func testLampsSwitchTogetherAtTheEffectiveInstant() throws {
        var with = Driver()
        let leader = Fixture.epoch + 2_000 * 90_000 + 33_333
        guard case .accepted(let at)? = with.send(.setMode(PlanID("flash")), at: leader).result else {
            return XCTFail()
        }
        let without = Fixture.machine()
        for s in Fixture.corridor.signals.map(\.id) {
            var t = leader
            while t < at {
                let a = with.m.timeline.state(of: s, at: t)
                let b = without.timeline.state(of: s, at: t)
                XCTAssertEqual(a.lamps, b.lamps, "signal \(s) at \(t - at) ms")
                XCTAssertEqual(a.mode, b.mode)
                t += 250
            }
        }
        // Every signal flashes within one cycle of the instant, by the command's authority.
        for s in Fixture.corridor.signals.map(\.id) {
            let st = with.m.timeline.state(of: s, at: at + 90_000)
            XCTAssertEqual(st.mode, .flash, "signal \(s)")
            XCTAssertEqual(with.m.cause(of: s, at: at + 90_000), Provenance(logIndex: 1, operatorID: "asha"))
        }
        // Coming out of flash: all-red for every signal from the same instant, then coordination.
        guard case .accepted(let back)? = with.send(.setMode(PlanID("normal")), client: 2, at: at + 100_000).result
        else { return XCTFail() }
        for s in Fixture.corridor.signals.map(\.id) {
            XCTAssertEqual(with.m.timeline.state(of: s, at: back - 1).mode, .flash, "signal \(s) before")
            let st = with.m.timeline.state(of: s, at: back)
            XCTAssertNotEqual(st.mode, .flash, "signal \(s) at the instant")
            XCTAssertTrue(st.lamps.allSatisfy { $0 == .red }, "signal \(s) all red at the instant: \(st.lamps)")
        }
    }

    func testHistoryIsCompactedOnceSettled() {
        var d = Driver()
        let t = Fixture.epoch + 3_000 * 90_000
        d.send(.setMode(PlanID("rush-hour")), at: t)
        d.send(.hold(SignalID(3), stage: "side"), at: t + 1_000)
        d.send(.release(SignalID(3)), at: t + 60_000)
        XCTAssertEqual(d.m.events.count, 3)
        // Long after, the next command folds the settled history into the baseline.
        d.send(.flash(SignalID(1)), at: t + 3_600_000)
        XCTAssertEqual(d.m.baseline.plan, PlanID("rush-hour"))
        XCTAssertEqual(d.m.events.map(\.event.id), [EventID(4)])
        XCTAssertEqual(d.m.baselineSource, Provenance(logIndex: 1, operatorID: "asha"))
        XCTAssertEqual(d.m.cause(of: SignalID(2), at: t + 3_600_000), Provenance(logIndex: 1, operatorID: "asha"))
    }
}
