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
        let r = d.raw(
            signed(.flash(nil), clientID: ClientID.timed(createdAtMs: y2100, random: 7), seq: 1, at: Fixture.t0))
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
        let long = d.raw(
            payload(.flash(nil), client: 3, seq: 1, at: Fixture.t0, op: String(repeating: "x", count: 129)))
        XCTAssertEqual(long.result?.code, .malformed)
        XCTAssertNil(d.m.session(Fixture.client(3)))
        // 128 bytes decode, but no registered operator has such a name.
        XCTAssertEqual(
            d.raw(payload(.flash(nil), client: 3, seq: 1, at: Fixture.t0, op: String(repeating: "x", count: 128)))
                .result?.code, .unauthorized)
        XCTAssertTrue(d.raw(payload(.flash(nil), client: 3, seq: 1, at: Fixture.t0)).result!.isAccepted)
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
        XCTAssertEqual(d.m.sessions.first?.result, r.result, "the session keeps the bounded reason")
        // The whole encoded state stays small (it was the 60 KB payload echoed, per client, forever).
        XCTAssertLessThan(d.m.encodedState().count, 8_000)
    }

    /// Two replicas fed the same hostile entries end with the same state hash (determinism holds for
    /// refusals too).
    func testHostileEntriesAreDeterministic() {
        var a = Driver()
        var b = Driver()
        let entries: [[UInt8]] = [
            payload(.flash(nil), client: 1, seq: 1, at: Int64.max),
            [UInt8](repeating: 0xFF, count: CommandEnvelope.maxEncodedBytes + 5),
            payload(.setMode(PlanID(String(repeating: "\u{7}", count: 2_000))), client: 2, seq: 1, at: Fixture.t0),
            payload(
                .hold(SignalID(Int.max), stage: String(repeating: "s", count: 10_000)), client: 3, seq: 1,
                at: Fixture.t0 + 1),
            payload(
                .preempt(
                    PreemptRequest(
                        signals: [SignalID(2)], direction: .increasing, speedKmh: Int.max,
                        leadMs: Int64.max, clearMs: Int64.max)), client: 4, seq: 1, at: Fixture.t0 + 2),
            payload(.cancelPreemption(logIndex: UInt64.max), client: 5, seq: 1, at: Fixture.t0 + 3)
        ]
        for e in entries {
            let ra = a.raw(e)
            let rb = b.raw(e)
            XCTAssertEqual(ra.result, rb.result)
            XCTAssertFalse(ra.result?.isAccepted ?? false, "\(String(describing: ra.result))")
        }
        XCTAssertEqual(a.m.stateHash, b.m.stateHash)
    }
}

/// The exactly-once window (issue 14): a client id that carries its creation time is covered for
/// `ClientID.windowMs`; a retry older than that is refused as too old instead of applied twice, and
/// other clients can no longer push a live client's session out.
final class SessionWindowTests: XCTestCase {
    func timed(_ createdAt: Int64, _ r: UInt64) -> ClientID { ClientID.timed(createdAtMs: createdAt, random: r) }

    func env(_ c: Command, _ id: ClientID, seq: UInt64, at t: Int64) -> [UInt8] {
        signed(c, clientID: id, seq: seq, at: t)
    }

    func testARetryWithinTheWindowReturnsTheFirstResultAndOneAfterItIsRefused() {
        var d = Driver()
        let id = timed(Fixture.t0, 9)
        let first = d.raw(env(.flash(SignalID(2)), id, seq: 1, at: Fixture.t0))
        XCTAssertTrue(first.result!.isAccepted)
        let retry = d.raw(env(.flash(SignalID(2)), id, seq: 1, at: Fixture.t0 + ClientID.windowMs - 1))
        XCTAssertTrue(retry.duplicate)
        XCTAssertEqual(retry.result, first.result)
        // Another client's command moves the clock past the window: the session expires.
        XCTAssertTrue(
            d.raw(
                env(
                    .unflash(SignalID(2)), timed(Fixture.t0 + ClientID.windowMs, 1), seq: 1,
                    at: Fixture.t0 + ClientID.windowMs + 1)
            ).result!.isAccepted)
        XCTAssertNil(d.m.session(id))
        // The same retry now: refused as too old, not applied a second time.
        let late = d.raw(env(.flash(SignalID(2)), id, seq: 1, at: Fixture.t0 + ClientID.windowMs + 2))
        XCTAssertEqual(late.result?.code, .outsideSessionWindow)
        XCTAssertFalse(late.duplicate)
        XCTAssertTrue(d.m.signalFlashes.isEmpty, "the flash was not applied again")
        XCTAssertNil(d.m.session(id), "a refusal opens no session")
    }

    func testAClientIDFromTheFutureIsRefused() {
        var d = Driver()
        let r = d.raw(env(.flash(nil), timed(Fixture.t0 + ClientID.windowMs + 1, 5), seq: 1, at: Fixture.t0))
        XCTAssertEqual(r.result?.code, .outsideSessionWindow)
        XCTAssertNil(d.m.corridorFlash)
    }

    /// Before, the 1,025th client evicted the least recently used session, so exactly-once silently
    /// stopped covering it. Now live timed sessions are never evicted: a new client is refused instead,
    /// and is accepted once the window of an older one has passed.
    func testLiveTimedSessionsAreNeverEvicted() {
        var d = Driver(MachineSettings(maxSessions: 3))
        for i in 1...3 {
            XCTAssertTrue(
                d.raw(
                    env(.hold(SignalID(i), stage: nil), timed(Fixture.t0, UInt64(i)), seq: 1, at: Fixture.t0 + Int64(i))
                ).result!.isAccepted)
        }
        let refused = d.raw(env(.hold(SignalID(4), stage: nil), timed(Fixture.t0 + 10, 4), seq: 1, at: Fixture.t0 + 10))
        XCTAssertEqual(refused.result?.code, .tooManySessions)
        XCTAssertEqual(d.m.sessions.count, 3)
        XCTAssertFalse(d.m.holds.contains { $0.signal == SignalID(4) })
        // Client 1 still gets its first result back on a retry.
        XCTAssertTrue(
            d.raw(env(.hold(SignalID(1), stage: nil), timed(Fixture.t0, 1), seq: 1, at: Fixture.t0 + 20)).duplicate)
        // After the window the old sessions expire and the new client is served.
        let later = Fixture.t0 + ClientID.windowMs + 100
        XCTAssertTrue(d.raw(env(.hold(SignalID(4), stage: nil), timed(later, 4), seq: 1, at: later)).result!.isAccepted)
        XCTAssertEqual(d.m.sessions.count, 1)
    }

    /// Ids without a creation time (plain numbers) cannot be covered for the whole window once the table is
    /// full (they were evicted least-recently-used), so a signed command under one could be replayed later:
    /// they are refused, and nothing is recorded.
    func testAClientIDWithoutCreationTimeIsRefused() {
        var d = Driver()
        let r = d.raw(signed(.hold(SignalID(1), stage: nil), clientID: ClientID(42), seq: 1, at: Fixture.t0))
        XCTAssertEqual(r.result?.code, .unauthorized)
        XCTAssertTrue(r.result!.reason!.contains("carries no creation time"), r.result!.reason!)
        XCTAssertTrue(d.m.sessions.isEmpty)
        XCTAssertTrue(d.m.holds.isEmpty)
    }
}
