import CorridorMachine
import SignalTiming
import XCTest

/// Values no honest leader or client produces, applied as committed entries (issue 14): every replica
/// refuses them the same way, with a reason, and nothing traps or grows without bound.
final class HostileValueTests: XCTestCase {
    /// Leader timestamps at the ends of `Int64` and outside the corridor's plausible range are refused
    /// before they move the clock; the machine is unchanged and a sane retry of the same command applies.
    func testImplausibleLeaderTimesAreRefusedWithoutMovingTheClock() {
        for bad: Int64 in [Int64.max, Int64.min, 0, -1, Limits.latestTimeMs + 1, Limits.earliestTimeMs - 1] {
            var d = Driver()
            XCTAssertTrue(d.send(.hold(SignalID(2), stage: nil), at: Fixture.t0).result!.isAccepted)
            let before = d.m.stateHash
            let clock = d.m.clockMs
            let r = d.raw(payload(.flash(nil), client: 7, seq: 1, at: bad))
            XCTAssertEqual(r.result?.code, .implausibleTime, "time \(bad)")
            XCTAssertEqual(d.m.clockMs, clock)
            XCTAssertEqual(d.m.stateHash, before, "a refused timestamp changes nothing")
            XCTAssertNil(d.m.session(ClientID(7)), "no session: a retry through a sane leader must still apply")
            let retry = d.raw(payload(.flash(nil), client: 7, seq: 1, at: Fixture.t0 + 1_000))
            XCTAssertTrue(retry.result!.isAccepted)
            XCTAssertFalse(retry.duplicate)
        }
    }

    /// The year-2100 attack: with the clock at 2100, a leader stamping today's time is refused (it
    /// would schedule in the past) instead of being accepted "effective 2100"; a timestamp within the
    /// step-back bound is accepted.
    func testALeaderFarBehindTheCorridorClockIsRefused() {
        var d = Driver()
        let y2100: Int64 = 4_102_444_800_000
        XCTAssertTrue(d.send(.hold(SignalID(2), stage: nil), at: y2100).result!.isAccepted)
        let r = d.send(.flash(nil), at: Fixture.t0)
        XCTAssertEqual(r.result?.code, .implausibleTime)
        XCTAssertTrue(r.result!.reason!.contains("behind the corridor's clock"), r.result!.reason!)
        let ok = d.send(.release(SignalID(2)), at: y2100 - Limits.leaderTimeStepBackMsMax)
        XCTAssertTrue(ok.result!.isAccepted)
    }

    /// An oversized entry is refused without being decoded; an operator name over the bound makes the
    /// header malformed; neither records a session.
    func testOversizedEntriesAndLongOperatorNamesAreRefused() {
        var d = Driver()
        let big = d.raw([UInt8](repeating: 0x41, count: CommandEnvelope.maxEncodedBytes + 1))
        XCTAssertEqual(big.result?.code, .oversized)
        XCTAssertNil(big.header)
        let long = d.raw(payload(.flash(nil), client: 3, seq: 1, at: Fixture.t0, op: String(repeating: "x", count: 129)))
        XCTAssertEqual(long.result?.code, .malformed)
        XCTAssertNil(d.m.session(ClientID(3)))
        XCTAssertTrue(d.raw(payload(.flash(nil), client: 3, seq: 1, at: Fixture.t0, op: String(repeating: "x", count: 128))).result!.isAccepted)
    }

    /// A 60 KB plan name is refused with a reason of at most `maxReasonBytes`, and control characters in
    /// it (a terminal escape) are stored escaped, so a stored session result stays small and harmless.
    func testReasonsQuotingTheCommandAreBoundedAndEscaped() {
        var d = Driver()
        let name = "\u{1B}[2J\nforged line " + String(repeating: "n", count: 60_000)
        let r = d.send(.setMode(PlanID(name)), at: Fixture.t0)
        XCTAssertEqual(r.result?.code, .unknownPlan)
        let reason = r.result!.reason!
        XCTAssertLessThanOrEqual(reason.utf8.count, CommandResult.maxReasonBytes)
        XCTAssertFalse(reason.unicodeScalars.contains { $0.value < 0x20 }, reason.prefix(40).description)
        XCTAssertTrue(reason.hasPrefix("unknown plan '\\u{1B}[2J\\u{A}forged line nnn"), reason.prefix(60).description)
        XCTAssertTrue(reason.hasSuffix("…"))
        XCTAssertEqual(d.m.session(ClientID(1))?.result, r.result, "the session keeps the bounded reason")
        // The whole encoded state stays small (it was the 60 KB payload echoed, per client, forever).
        XCTAssertLessThan(d.m.encodedState().count, 8_000)
    }

    /// Two replicas fed the same hostile entries end with the same state hash (determinism holds for
    /// refusals too).
    func testHostileEntriesAreDeterministic() {
        var a = Driver(), b = Driver()
        let entries: [[UInt8]] = [
            payload(.flash(nil), client: 1, seq: 1, at: Int64.max),
            [UInt8](repeating: 0xFF, count: CommandEnvelope.maxEncodedBytes + 5),
            payload(.setMode(PlanID(String(repeating: "\u{7}", count: 2_000))), client: 2, seq: 1, at: Fixture.t0),
            payload(.hold(SignalID(Int.max), stage: String(repeating: "s", count: 10_000)), client: 3, seq: 1, at: Fixture.t0 + 1),
            payload(.preempt(PreemptRequest(signals: [SignalID(2)], direction: .increasing, speedKmh: Int.max,
                                            leadMs: Int64.max, clearMs: Int64.max)), client: 4, seq: 1, at: Fixture.t0 + 2),
            payload(.cancelPreemption(logIndex: UInt64.max), client: 5, seq: 1, at: Fixture.t0 + 3),
        ]
        for e in entries {
            let ra = a.raw(e), rb = b.raw(e)
            XCTAssertEqual(ra.result, rb.result)
            XCTAssertFalse(ra.result?.isAccepted ?? false, "\(String(describing: ra.result))")
        }
        XCTAssertEqual(a.m.stateHash, b.m.stateHash)
    }
}
