import RaftCore
import XCTest

/// ReadIndex linearizable reads (thesis §6.4).
final class ReadIndexTests: XCTestCase {

    // Thesis §6.4: a single-voter leader is trivially confirmed; it answers at once with its commit index.
    func testSingleVoterLeaderAnswersReadImmediately() {
        var n = Paper.leader(config: Paper.config(1, voters: [1]))
        XCTAssertEqual(n.commitIndex, 1, "the noop committed once durable")
        XCTAssertEqual(n.readIndex(context: 42), .pending)
        let r = n.ready()
        XCTAssertEqual(r.readStates, [ReadState(index: 1, context: 42)])
        XCTAssertEqual(r.messages, [])
    }

    // Thesis §6.4 steps 2–4: the leader records its commit index, confirms leadership by a heartbeat round, and answers after a quorum acks it.
    func testLeaderAnswersReadOnlyAfterQuorumAcksHeartbeatOfTheRound() {
        var n = Paper.leader(config: Paper.config(1, voters: [1, 2, 3, 4, 5]), acked: [2, 3])
        XCTAssertEqual(n.commitIndex, 1)
        XCTAssertEqual(n.readIndex(context: 42), .pending)
        let r = n.ready()
        XCTAssertEqual(r.readStates, [])
        let beats = r.messages.filter { $0.kind == .heartbeat }
        XCTAssertEqual(beats.map(\.to), [2, 3, 4, 5])
        let round = beats.first?.context ?? 0
        XCTAssertNotEqual(round, 0, "the heartbeat carries the read round")
        XCTAssertTrue(beats.allSatisfy { $0.context == round && $0.term == n.term })

        n.step(Message(kind: .heartbeatResponse, from: 2, to: 1, term: 1, context: 0))
        XCTAssertEqual(n.ready().readStates, [], "an ack of an ordinary heartbeat confirms nothing")
        n.step(Message(kind: .heartbeatResponse, from: 2, to: 1, term: 1, context: round))
        XCTAssertEqual(n.ready().readStates, [], "leader + 1 of 5 is not a quorum")
        n.step(Message(kind: .heartbeatResponse, from: 4, to: 1, term: 1, context: round))
        XCTAssertEqual(n.ready().readStates, [ReadState(index: 1, context: 42)])
    }

    // Thesis §6.4: acknowledgements from learners do not confirm leadership.
    func testLearnerAcksDoNotConfirmRead() {
        var n = Paper.leader(config: Paper.config(1, voters: [1, 2, 3], learners: [4]), acked: [2])
        n.readIndex(context: 7)
        let round = n.ready().messages.first { $0.kind == .heartbeat }?.context ?? 0
        n.step(Message(kind: .heartbeatResponse, from: 4, to: 1, term: 1, context: round))
        XCTAssertEqual(n.ready().readStates, [], "a learner is not a voter")
        n.step(Message(kind: .heartbeatResponse, from: 3, to: 1, term: 1, context: round))
        XCTAssertEqual(n.ready().readStates, [ReadState(index: 1, context: 7)])
    }

    // Thesis §4.2.2 with §6.4: a leader that removed itself leads until the removal commits, but it is no
    // longer a voter, so its own acknowledgement must not count towards the read's quorum. (Found by the
    // simulator's round check, issue 22: with {2, 3, 4} left, leader 1 released a read that only voter 2
    // had confirmed.)
    func testLeaderThatRemovedItselfDoesNotCountItselfForReads() {
        var n = Paper.leader(config: Paper.config(1, voters: [1, 2, 3, 4]), acked: [2, 3, 4])
        XCTAssertEqual(n.commitIndex, 1)
        guard case .appended = n.proposeMembershipChange(.remove(1)) else { return XCTFail("removal refused") }
        Paper.settle(&n)
        XCTAssertEqual(n.membership.voters, [2, 3, 4])
        XCTAssertEqual(n.role, .leader, "it leads until the removal commits")
        n.readIndex(context: 5)
        let round = n.ready().messages.first { $0.kind == .heartbeat }?.context ?? 0
        XCTAssertNotEqual(round, 0)
        n.step(Message(kind: .heartbeatResponse, from: 2, to: 1, term: 1, context: round))
        XCTAssertEqual(n.ready().readStates, [], "1 of the 3 remaining voters is not a quorum of them")
        n.step(Message(kind: .heartbeatResponse, from: 3, to: 1, term: 1, context: round))
        XCTAssertEqual(n.ready().readStates, [ReadState(index: 1, context: 5)])
    }

    // Thesis §6.4 step 1: a leader that has not yet committed an entry of its term delays the read until it has.
    func testLeaderWithoutCommitInItsTermDelaysRead() {
        var n = Paper.leader(config: Paper.config(1), restored: Paper.restored(term: 1, commit: 1, log: [1, 1]))
        XCTAssertEqual(n.term, 2)
        XCTAssertEqual(n.commitIndex, 1)
        XCTAssertEqual(n.readIndex(context: 9), .pending)
        let r = n.ready()
        XCTAssertEqual(r.readStates, [])
        XCTAssertFalse(
            r.messages.contains { $0.kind == .heartbeat && $0.context != 0 }, "no round before a commit in term 2")
        n.step(Message(kind: .heartbeatResponse, from: 2, to: 1, term: 2, context: 1))
        XCTAssertEqual(n.ready().readStates, [], "a stray ack cannot release a read that has no round yet")

        n.step(Message(kind: .appendResponse, from: 2, to: 1, term: 2, index: 3)) // noop of term 2 committed
        XCTAssertEqual(n.commitIndex, 3)
        let r2 = n.ready()
        XCTAssertEqual(r2.readStates, [])
        let round = r2.messages.first { $0.kind == .heartbeat && $0.context != 0 }?.context
        XCTAssertNotNil(round, "the delayed read starts its round once the leader commits in its term")
        n.step(Message(kind: .heartbeatResponse, from: 3, to: 1, term: 2, context: round ?? 0))
        XCTAssertEqual(
            n.ready().readStates, [ReadState(index: 3, context: 9)], "read index is the term's commit, not the old one")
    }

    // Thesis §6.4: a follower forwards the read to its leader...
    func testFollowerForwardsReadIndexToLeader() {
        var n = Paper.follower(2, leader: 1, term: 1)
        XCTAssertEqual(n.readIndex(context: 5), .forwarded(to: 1))
        XCTAssertEqual(n.ready().messages, [Message(kind: .readIndex, from: 2, to: 1, term: 0, context: 5)])
        var lost = Paper.follower(2, leader: noNode, term: 1)
        XCTAssertEqual(lost.readIndex(context: 5), .notLeader(leader: noNode))
        XCTAssertFalse(lost.hasReady)
    }

    // ... thesis §6.4: ... and turns the leader's answer into a ReadState.
    func testFollowerTurnsReadIndexResponseIntoReadState() {
        var n = Paper.follower(2, leader: 1, term: 1)
        n.readIndex(context: 5)
        _ = n.ready()
        n.step(Message(kind: .readIndexResponse, from: 1, to: 2, term: 1, index: 4, context: 5))
        XCTAssertEqual(n.ready().readStates, [ReadState(index: 4, context: 5)])
    }

    // Thesis §6.4 (leader side of forwarding): the leader answers a forwarded read to the requester after a quorum ack.
    func testLeaderAnswersForwardedReadWithReadIndexResponse() {
        var n = Paper.leader(config: Paper.config(1), acked: [2, 3])
        n.step(Message(kind: .readIndex, from: 3, to: 1, term: 0, context: 11))
        let round = n.ready().messages.first { $0.kind == .heartbeat }?.context ?? 0
        XCTAssertNotEqual(round, 0)
        n.step(Message(kind: .heartbeatResponse, from: 2, to: 1, term: 1, context: round))
        let r = n.ready()
        XCTAssertEqual(r.readStates, [], "the read belongs to node 3")
        XCTAssertEqual(
            r.messages.filter { $0.kind == .readIndexResponse },
            [Message(kind: .readIndexResponse, from: 1, to: 3, term: 1, index: 1, context: 11)])
    }

    // Thesis §6.4 (the Jepsen stale-read case): a deposed leader learns the newer term from its round's reply and never answers the read.
    func testDeposedLeaderNeverAnswersPendingRead() {
        var n = Paper.leader(config: Paper.config(1, voters: [1, 2, 3, 4, 5]), acked: [2, 3])
        n.readIndex(context: 3)
        let round = n.ready().messages.first { $0.kind == .heartbeat }?.context ?? 0
        XCTAssertNotEqual(round, 0)
        // 2 answers the old term's heartbeat with term 2
        n.step(Message(kind: .appendResponse, from: 2, to: 1, term: 2))
        assertState(n, role: .follower, term: 2, vote: noNode, leader: noNode)
        n.step(Message(kind: .heartbeatResponse, from: 3, to: 1, term: 1, context: round))
        n.step(Message(kind: .heartbeatResponse, from: 4, to: 1, term: 1, context: round))
        let r = n.ready()
        XCTAssertEqual(r.readStates, [])
        XCTAssertFalse(r.messages.contains { $0.kind == .readIndexResponse })
    }

    // Bounds: ReadIndex requests beyond maxPendingReads are dropped, not queued without limit.
    func testReadsBeyondMaxPendingReadsAreDropped() {
        var n = Paper.leader(config: Paper.config(1, limits: { $0.maxPendingReads = 2 }), acked: [2])
        XCTAssertEqual(n.readIndex(context: 1), .pending)
        XCTAssertEqual(n.readIndex(context: 2), .pending)
        guard case .dropped = n.readIndex(context: 3) else { return XCTFail("a third pending read must be dropped") }
        let round = n.ready().messages.last { $0.kind == .heartbeat }?.context ?? 0
        n.step(Message(kind: .heartbeatResponse, from: 2, to: 1, term: 1, context: round))
        XCTAssertEqual(n.ready().readStates.map(\.context), [1, 2])
    }
}
