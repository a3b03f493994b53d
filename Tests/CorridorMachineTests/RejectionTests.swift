import CorridorMachine
import SignalTiming
import XCTest

final class RejectionTests: XCTestCase {
    func reject(
        _ c: Command, after setup: [Command] = [], file: StaticString = #filePath, line: UInt = #line
    ) -> CommandResult {
        var d = Driver()
        var t = Fixture.t0
        for s in setup {
            XCTAssertTrue(d.send(s, at: t).result?.isAccepted == true, "setup \(s)", file: file, line: line)
            t += 1_000
        }
        let hashBefore = d.m.stateHash
        let eventsBefore = d.m.events
        let corridorBefore = d.m.corridor
        let r = d.send(c, at: t)
        XCTAssertFalse(r.result!.isAccepted, "\(c) should be rejected", file: file, line: line)
        XCTAssertEqual(d.m.events, eventsBefore, file: file, line: line)
        XCTAssertEqual(d.m.corridor, corridorBefore, file: file, line: line)
        XCTAssertNotEqual(d.m.stateHash, hashBefore, "the rejection is recorded in the session", file: file, line: line)
        return r.result!
    }

    func testUnknownSignal() {
        let r = reject(.hold(SignalID(9), stage: nil))
        XCTAssertEqual(r.code, .unknownSignal)
        XCTAssertEqual(r.reason, "unknown signal 9 (signals: 1, 2, 3, 4, 5)")
        XCTAssertEqual(reject(.flash(SignalID(0))).code, .unknownSignal)
        XCTAssertEqual(
            reject(.preempt(PreemptRequest(signals: [SignalID(4), SignalID(6)], direction: .increasing))).code,
            .unknownSignal)
    }

    func testUnknownPlanAndStage() {
        let r = reject(.setMode(PlanID("weekend")))
        XCTAssertEqual(r.code, .unknownPlan)
        XCTAssertEqual(r.reason, "unknown plan 'weekend' (plans: normal, rush-hour, night, flash)")
        let s = reject(.hold(SignalID(2), stage: "bus-lane"))
        XCTAssertEqual(s.code, .unknownStage)
        XCTAssertEqual(s.reason, "signal 2 has no stage 'bus-lane' (stages: main, main-turn, side)")
    }

    func testStateDependentRefusals() {
        XCTAssertEqual(reject(.release(SignalID(2))).code, .notHeld)
        XCTAssertEqual(reject(.unflash(nil)).code, .notFlashing)
        XCTAssertEqual(reject(.unflash(SignalID(3))).code, .notFlashing)
        XCTAssertEqual(reject(.flash(nil), after: [.flash(nil)]).code, .alreadyFlashing)
        XCTAssertEqual(reject(.cancelPreemption(logIndex: 77)).code, .unknownPreemption)
        let p = reject(.preempt(PreemptRequest(signals: [SignalID(1), SignalID(3)], direction: .increasing)))
        XCTAssertEqual(p.code, .invalidPreemption)
        XCTAssertEqual(
            p.reason, "preemption signals must be consecutive in the increasing direction; 3 does not follow 1")
        XCTAssertEqual(
            reject(.preempt(PreemptRequest(signals: [SignalID(1)], direction: .increasing, speedKmh: 500))).code,
            .invalidPreemption)
        XCTAssertEqual(reject(.preempt(PreemptRequest(signals: [], direction: .increasing))).code, .invalidPreemption)
    }

    static let progression = Progression(speedKmh: 40, favoured: .increasing, favouredBandPercent: 100)
    func plan(
        _ name: String = "evening", cycle: Int64 = 100_000, main: Int64 = 60_000, turn: Int64 = 16_000,
        side: Int64 = 24_000
    ) -> PlanSpec {
        PlanSpec(
            name: name, cycleMs: cycle, coordinatedStage: "main",
            splitsMs: ["main": main, "main-turn": turn, "side": side],
            progression: Self.progression)
    }

    func testInvalidPlanUpdates() {
        let overrun = reject(.updatePlan(plan(side: 29_000)))
        XCTAssertEqual(overrun.code, .invalidPlan)
        XCTAssertEqual(
            overrun.reason, "plan 'evening': splits sum to 105000 ms, overrunning the cycle of 100000 ms by 5000 ms")
        let underrun = reject(.updatePlan(plan(side: 20_000)))
        XCTAssertEqual(
            underrun.reason, "plan 'evening': splits sum to 96000 ms, 4000 ms short of the cycle of 100000 ms")
        var offsets = plan()
        offsets.offsetsMs = [1: 0, 2: 0, 3: 100_000, 4: 0, 5: 0]
        XCTAssertEqual(
            reject(.updatePlan(offsets)).reason,
            "plan 'evening': offset 100000 ms of signal 3 is not in 0..<cycle 100000 ms")
        var missing = plan()
        missing.offsetsMs = [1: 0, 2: 0]
        XCTAssertEqual(reject(.updatePlan(missing)).code, .invalidPlan)
        let short = reject(.updatePlan(plan(main: 74_000, turn: 9_000, side: 17_000)))
        XCTAssertEqual(
            short.reason,
            "plan 'evening': split 9000 ms of stage 'main-turn' is below min green 5000 ms + yellow 3000 ms + all-red 2000 ms = 10000 ms"
        )
        XCTAssertEqual(
            reject(.updatePlan(plan(cycle: 20_000, main: 8_000, turn: 6_000, side: 6_000))).code, .invalidPlan)
        var stage = plan()
        stage.splitsMs["bus"] = 0
        XCTAssertEqual(reject(.updatePlan(stage)).code, .unknownStage)
        var coord = plan()
        coord.coordinatedStage = "nope"
        XCTAssertEqual(reject(.updatePlan(coord)).code, .unknownStage)
        var sig = plan()
        sig.signalSplitsMs = [8: ["main": 60_000, "main-turn": 16_000, "side": 24_000]]
        XCTAssertEqual(reject(.updatePlan(sig)).code, .unknownSignal)
        var speed = plan()
        speed.progression.speedKmh = 5
        XCTAssertEqual(reject(.updatePlan(speed)).code, .invalidPlan)
        // The plan in force cannot be replaced under the running timeline.
        let inUse = reject(.updatePlan(plan("normal")))
        XCTAssertEqual(inUse.code, .planInUse)
    }

    func testValidPlanUpdateAddsAPlanThatCanThenBeUsed() {
        var d = Driver()
        let r = d.send(.updatePlan(plan()), at: Fixture.t0)
        XCTAssertEqual(r.result, .accepted(effectiveAtMs: Fixture.t0))
        XCTAssertEqual(d.m.corridor.plan(PlanID("evening"))?.cycleMs, 100_000)
        XCTAssertTrue(d.send(.setMode(PlanID("evening")), at: Fixture.t0 + 1_000).result!.isAccepted)
        // Replacing an unused plan ("night") works and keeps its position.
        XCTAssertTrue(
            d.send(
                .updatePlan(plan("night", cycle: 60_000, main: 30_000, turn: 12_000, side: 18_000)),
                at: Fixture.t0 + 2_000
            ).result!.isAccepted)
        XCTAssertEqual(d.m.corridor.plans.map(\.id.rawValue), ["normal", "rush-hour", "night", "flash", "evening"])
        XCTAssertEqual(d.m.corridor.plan(PlanID("night"))?.signals[0].splitsMs, [30_000, 12_000, 18_000])
    }

    func testMalformedAndFutureCommandsAreRejectedWithReasons() {
        var d = Driver()
        let garbage = d.raw([0xFF, 0x00, 0x13])
        XCTAssertEqual(garbage.result?.code, .unsupportedVersion)
        XCTAssertEqual(
            garbage.result?.reason, "undecodable command: unsupported command format version 65280 (this build reads 2)"
        )
        XCTAssertEqual(d.raw([]).result?.reason, "undecodable command: truncated while reading command version")
        var unknownTag = payload(.release(SignalID(1)), client: 5, seq: 1, at: Fixture.t0)
        unknownTag[unknownTag.count - 9] = 42
        // Changed bytes no longer match the signature; signed again, they reach the decoder.
        XCTAssertEqual(d.raw(unknownTag).result?.code, .unauthorized)
        let r = d.raw(resigned(unknownTag))
        XCTAssertEqual(r.result?.code, .malformed)
        XCTAssertEqual(r.result?.reason, "undecodable command body: unknown command tag 42")
        XCTAssertEqual(
            d.m.session(Fixture.client(5))?.lastSequence, 1, "a decodable, signed header still gets exactly-once")
        let hash = d.m.stateHash
        XCTAssertEqual(d.raw([0, 1, 0, 0]).result?.code, .malformed)
        XCTAssertEqual(d.m.stateHash, hash, "bytes without a header change nothing")
    }
}
