import CorridorMachine
import SignalTiming
import XCTest

final class ExactlyOnceTests: XCTestCase {
    func testDuplicateReturnsFirstResultWithoutReapplying() {
        var d = Driver()
        let first = payload(.hold(SignalID(2), stage: "side"), client: 7, seq: 5, at: Fixture.t0)
        let r1 = d.raw(first)
        guard case .accepted(let at) = r1.result else { return XCTFail("\(String(describing: r1.result))") }
        XCTAssertEqual(at, Fixture.t0 + 5_000)
        let state = d.m.encodedState()
        let hash = d.m.stateHash
        let events = d.m.events.count

        // The client retries (the leader restamps it later): same result, nothing re-applied.
        let retry = payload(.hold(SignalID(2), stage: "side"), client: 7, seq: 5, at: Fixture.t0 + 9_000)
        let r2 = d.raw(retry)
        XCTAssertTrue(r2.duplicate)
        XCTAssertEqual(r2.result, r1.result)
        XCTAssertEqual(d.m.encodedState(), state)
        XCTAssertEqual(d.m.stateHash, hash)
        XCTAssertEqual(d.m.events.count, events)
        XCTAssertEqual(d.m.appliedIndex, 2)

        // A rejection is remembered just the same.
        let bad = d.raw(payload(.release(SignalID(3)), client: 7, seq: 6, at: Fixture.t0 + 10_000))
        XCTAssertEqual(bad.result?.code, .notHeld)
        let badAgain = d.raw(payload(.release(SignalID(3)), client: 7, seq: 6, at: Fixture.t0 + 11_000))
        XCTAssertTrue(badAgain.duplicate)
        XCTAssertEqual(badAgain.result, bad.result)
    }

    func testOlderSequenceIsRejectedAsStale() {
        var d = Driver()
        d.raw(payload(.flash(SignalID(1)), client: 3, seq: 10, at: Fixture.t0))
        let hash = d.m.stateHash
        let r = d.raw(payload(.unflash(SignalID(1)), client: 3, seq: 9, at: Fixture.t0 + 1_000))
        XCTAssertEqual(r.result?.code, .stale)
        XCTAssertEqual(r.result?.reason, "sequence 9 of client \(Fixture.client(3)) is older than its last sequence 10")
        XCTAssertEqual(d.m.stateHash, hash, "a stale command changes nothing")
        XCTAssertEqual(d.m.signalFlashes.map(\.signal), [SignalID(1)])
        // Other clients are independent.
        XCTAssertTrue(
            d.raw(payload(.unflash(SignalID(1)), client: 4, seq: 1, at: Fixture.t0 + 2_000)).result!.isAccepted)
    }

    func testNoopAndConfigEntriesOnlyAdvanceTheIndex() {
        var d = Driver()
        let hash = d.m.stateHash
        XCTAssertNil(d.raw([], kind: .noop).result)
        XCTAssertNil(d.raw([1, 2, 3], kind: .config).result)
        XCTAssertEqual(d.m.appliedIndex, 2)
        XCTAssertEqual(d.m.stateHash, hash)
        // An entry at or below the applied index is ignored.
        let r = d.m.apply(index: 1, term: 1, kind: .normal, payload: payload(.flash(nil), seq: 1, at: Fixture.t0))
        XCTAssertNil(r.result)
        XCTAssertNil(d.m.corridorFlash)
    }
}
