import RaftCore
import XCTest

@testable import Controller

/// The pieces of the driver's scheduling (issue 16): the peer inbox, the scheduling evidence and the
/// timing settings' validation.
final class SchedulingTests: XCTestCase {
    private func msg(_ from: NodeID, term: Term = 1) -> Message {
        Message(kind: .heartbeat, from: from, to: 1, term: term)
    }

    func testInboxKeepsOrderWakesOnlyWhenEmptyAndDropsTheOldestBeyondItsBound() {
        let inbox = PeerInbox(capacity: 3)
        var wakes = 0
        XCTAssertTrue(inbox.push(msg(2, term: 1)) { wakes += 1 })
        XCTAssertEqual(wakes, 1, "the first message wakes the consumer")
        inbox.push(msg(2, term: 2)) { wakes += 1 }
        XCTAssertEqual(wakes, 1, "later ones need no wake: the consumer takes all")
        XCTAssertEqual(inbox.takeAll().map(\.term), [1, 2])
        XCTAssertEqual(inbox.takeAll().count, 0)
        inbox.push(msg(3, term: 3)) { wakes += 1 }
        XCTAssertEqual(wakes, 2, "empty again: wake")
        let kept = (4...6).map { t in inbox.push(msg(3, term: Term(t))) { wakes += 1 } }
        XCTAssertEqual(kept, [true, true, false], "the third beyond the bound dropped an older one")
        XCTAssertEqual(wakes, 2)
        XCTAssertEqual(inbox.count, 3)
        XCTAssertEqual(inbox.dropped, 1)
        XCTAssertEqual(inbox.takeAll().map(\.term), [4, 5, 6], "the oldest went first")
    }

    func testSchedulingWatchKeepsPeaksForOneToTwoWindowsAndSilencePerPeer() {
        var w = SchedulingWatch(windowNs: 1_000)
        w.noteTick(lateNs: 500, actorWaitNs: 20, now: 10)
        w.noteTick(lateNs: 100, actorWaitNs: 70, now: 900)
        XCTAssertEqual(w.tickLate.value(now: 950, windowNs: 1_000), 500)
        XCTAssertEqual(w.actorWait.value(now: 950, windowNs: 1_000), 70)
        // The next window still shows the previous one's peak ...
        w.noteTick(lateNs: 5, actorWaitNs: 1, now: 1_500)
        XCTAssertEqual(w.tickLate.value(now: 1_600, windowNs: 1_000), 500)
        // ... the one after does not.
        XCTAssertEqual(w.tickLate.value(now: 2_600, windowNs: 1_000), 5)
        XCTAssertEqual(w.tickLate.value(now: 5_000, windowNs: 1_000), 0, "nothing noted for two windows")
        w.heard(from: 7, now: 2_000_000)
        XCTAssertEqual(w.silenceMs(of: 7, now: 9_000_000), 7)
        XCTAssertNil(w.silenceMs(of: 8, now: 9_000_000))
    }

    func testTimingProfilesAreValidAndBadSettingsAreRefusedWithTheReason() throws {
        try RaftTiming.loopback.validate()
        try RaftTiming.field.validate()
        XCTAssertEqual(RaftTiming.loopback.heartbeatMs, 50)
        XCTAssertEqual(RaftTiming.loopback.electionTimeoutMs, 300)
        XCTAssertEqual(RaftTiming.field.heartbeatMs, 100)
        XCTAssertEqual(RaftTiming.field.electionTimeoutMs, 1_000)
        XCTAssertNil(RaftTiming.named("lan"))
        func refusal(_ t: RaftTiming) -> String {
            do {
                try t.validate()
                return "accepted"
            } catch { return "\(error)" }
        }
        XCTAssertTrue(
            refusal(RaftTiming(tickMs: 10, electionTicks: 20, heartbeatTicks: 5)).contains(
                "at least 5 heartbeat intervals"))
        XCTAssertTrue(refusal(RaftTiming(tickMs: 10, electionTicks: 5, heartbeatTicks: 0)).contains("at least 1 tick"))
        XCTAssertTrue(refusal(RaftTiming(tickMs: 0, electionTicks: 30, heartbeatTicks: 5)).contains("--tick-ms"))
        XCTAssertTrue(
            refusal(RaftTiming(tickMs: 1, electionTicks: 50, heartbeatTicks: 5)).contains("100...60000 ms"),
            "50 ms is shorter than a busy machine's scheduling delays")
        XCTAssertTrue(
            refusal(RaftTiming(tickMs: 1000, electionTicks: 100, heartbeatTicks: 5)).contains("100...60000 ms"))
    }
}
