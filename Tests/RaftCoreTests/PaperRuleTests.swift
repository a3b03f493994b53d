import RaftCore
import XCTest

/// Figure 2 "Rules for all servers" for every role, and restart from durable state (Figure 2 "Persistent state").
final class PaperRuleTests: XCTestCase {

    // Figure 2 Rules for all servers: "If RPC request or response contains term T > currentTerm: set currentTerm = T, convert to follower" — follower, vote reset.
    func testFollowerAdoptsHigherTermFromAppendAndForgetsVote() {
        var n = RaftNode(config: Paper.config(2), restored: Paper.restored(term: 1, vote: 3))
        n.step(Message(kind: .append, from: 1, to: 2, term: 2, commit: 0))
        assertState(n, role: .follower, term: 2, vote: noNode, leader: 1)
        let r = n.ready()
        XCTAssertEqual(r.hardState, HardState(term: 2, vote: noNode, commit: 0))
        XCTAssertEqual(r.messages, [Message(kind: .appendResponse, from: 2, to: 1, term: 2)])
    }

    // Figure 2 Rules for all servers — pre-candidate: a higher-term heartbeat makes it a follower of that term.
    func testPreCandidateAdoptsHigherTermAndBecomesFollower() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 1))
        n.campaign()
        _ = n.ready()
        XCTAssertEqual(n.role, .preCandidate)
        n.step(Message(kind: .heartbeat, from: 2, to: 1, term: 3))
        assertState(n, role: .follower, term: 3, vote: noNode, leader: 2)
        XCTAssertEqual(n.ready().messages, [Message(kind: .heartbeatResponse, from: 1, to: 2, term: 3)])
    }

    // Figure 2 Rules for all servers — candidate: a higher-term append makes it a follower and drops its self-vote.
    func testCandidateAdoptsHigherTermAndForgetsSelfVote() {
        var n = RaftNode(config: Paper.config(1, preVote: false), restored: Paper.restored(term: 1))
        n.campaign()
        _ = n.ready()
        assertState(n, role: .candidate, term: 2, vote: 1, leader: noNode)
        n.step(Message(kind: .append, from: 3, to: 1, term: 4, commit: 0))
        assertState(n, role: .follower, term: 4, vote: noNode, leader: 3)
        XCTAssertEqual(n.ready().hardState, HardState(term: 4, vote: noNode, commit: 0))
    }

    // Figure 2 Rules for all servers — candidate: a higher-term rejection (a response) also makes it a follower.
    func testCandidateAdoptsHigherTermFromVoteRejection() {
        var n = RaftNode(config: Paper.config(1, preVote: false), restored: Paper.restored(term: 1))
        n.campaign()
        _ = n.ready()
        n.step(Message(kind: .voteResponse, from: 2, to: 1, term: 7, reject: true))
        assertState(n, role: .follower, term: 7, vote: noNode, leader: noNode)
    }

    // Figure 2 Rules for all servers — leader: a higher-term append from a new leader deposes it.
    func testLeaderAdoptsHigherTermFromAppendAndBecomesFollower() {
        var n = Paper.leader(config: Paper.config(1), acked: [2, 3])
        n.step(Message(kind: .append, from: 2, to: 1, term: 2, logTerm: 1, index: 1, commit: 1))
        assertState(n, role: .follower, term: 2, vote: noNode, leader: 2)
        let r = n.ready()
        XCTAssertEqual(r.softState, SoftState(role: .follower, leader: 2))
        XCTAssertEqual(r.messages, [Message(kind: .appendResponse, from: 1, to: 2, term: 2, index: 1)])
    }

    // Figure 2 Rules for all servers — leader: a higher-term RequestVote deposes it (no lease without CheckQuorum).
    func testLeaderAdoptsHigherTermFromVoteRequestWithoutCheckQuorum() {
        var n = Paper.leader(config: Paper.config(1, checkQuorum: false), acked: [2, 3])
        n.step(Message(kind: .vote, from: 2, to: 1, term: 3, logTerm: 1, index: 1))
        assertState(n, role: .follower, term: 3, vote: 2, leader: noNode)
        XCTAssertEqual(n.ready().messages, [Message(kind: .voteResponse, from: 1, to: 2, term: 3)])
    }

    // Figure 2 Rules for all servers: a higher term is adopted even when the vote itself is refused (§5.4.1).
    func testHigherTermIsAdoptedEvenWhenVoteIsRefused() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 2, vote: 1, log: [2, 2]))
        n.step(Message(kind: .vote, from: 3, to: 1, term: 5, logTerm: 1, index: 9))
        assertState(n, role: .follower, term: 5, vote: noNode, leader: noNode)
        let r = n.ready()
        XCTAssertEqual(r.hardState, HardState(term: 5, vote: noNode, commit: 0))
        XCTAssertEqual(r.messages, [Message(kind: .voteResponse, from: 1, to: 3, term: 5, reject: true)])
    }

    // Figure 2 Persistent state: a restarted node keeps currentTerm, votedFor and log; commit is restored too.
    func testRestartedNodeKeepsTermVoteLogAndCommit() {
        var n = RaftNode(
            config: Paper.config(1), restored: Paper.restored(term: 5, vote: 2, commit: 2, log: [1, 1, 3], applied: 0))
        assertState(n, role: .follower, term: 5, vote: 2, leader: noNode)
        XCTAssertEqual(n.entries, Paper.entries([1, 1, 3]))
        XCTAssertEqual(n.commitIndex, 2)
        XCTAssertEqual(n.persistedIndex, 3)
        let r = n.ready()
        XCTAssertNil(r.hardState, "nothing new to persist")
        XCTAssertEqual(r.entries, [], "restored entries are already durable")
        XCTAssertEqual(r.committedEntries, Paper.entries([1, 1]), "committed but unapplied entries are re-applied")
    }

    // Figure 2 Persistent state / RequestVote receiver 2: after a restart the node still refuses a second candidate in its term.
    func testRestartedNodeDoesNotVoteTwiceInItsTerm() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 5, vote: 2, log: [1]))
        n.step(Message(kind: .vote, from: 3, to: 1, term: 5, logTerm: 5, index: 5))
        XCTAssertEqual(n.vote, 2)
        XCTAssertEqual(n.ready().messages, [Message(kind: .voteResponse, from: 1, to: 3, term: 5, reject: true)])
        n.step(Message(kind: .vote, from: 2, to: 1, term: 5, logTerm: 5, index: 5))
        XCTAssertEqual(n.ready().messages, [Message(kind: .voteResponse, from: 1, to: 2, term: 5)])
    }

    // Figure 2 Persistent state: a restart does not re-apply what the state machine already reflects.
    func testRestartedNodeDoesNotReapplyAppliedEntries() {
        var n = RaftNode(
            config: Paper.config(1), restored: Paper.restored(term: 5, commit: 3, log: [1, 1, 3], applied: 2))
        XCTAssertEqual(n.appliedIndex, 2)
        XCTAssertEqual(n.ready().committedEntries, [Entry(term: 3, index: 3)])
    }

    // Figure 2 Rules for all servers (apply): committed entries are handed out in order, at most maxApplyBatch at a time.
    func testCommittedEntriesAreHandedOutInOrderInBoundedBatches() {
        var n = RaftNode(
            config: Paper.config(1, limits: { $0.maxApplyBatch = 2 }),
            restored: Paper.restored(term: 1, commit: 5, log: [1, 1, 1, 1, 1], applied: 0))
        var batches: [[LogIndex]] = []
        for _ in 0..<4 {
            let r = n.ready()
            batches.append(r.committedEntries.map(\.index))
            if let last = r.committedEntries.last { n.applied(upTo: last.index) }
        }
        XCTAssertEqual(batches, [[1, 2], [3, 4], [5], []])
        XCTAssertEqual(n.appliedIndex, 5)
    }

    // Ready contract (Types.swift): `hasReady` is "whether ready() would return any work".
    func testHasReadyNeverPromisesAnEmptyReady() {
        var n = RaftNode(
            config: Paper.config(1, limits: { $0.maxApplyBatch = 2 }),
            restored: Paper.restored(term: 1, commit: 5, log: [1, 1, 1, 1, 1], applied: 0))
        XCTAssertEqual(n.ready().committedEntries.map(\.index), [1, 2])
        // The shell has not reported applying 1–2 yet (it may apply asynchronously).
        let promised = n.hasReady
        let r = n.ready()
        XCTAssertEqual(promised, !r.isEmpty, "hasReady must say exactly whether ready() has work")
        XCTAssertEqual(r.committedEntries.map(\.index), [3, 4])
    }
}
