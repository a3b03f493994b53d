import RaftCore
import XCTest

/// Leader election (§5.2), the RequestVote receiver (Figure 2, §5.4.1), PreVote (thesis §9.6) and
/// CheckQuorum (thesis §6.2, §4.2.3). Each test feeds one input and checks state and messages.
final class ElectionTests: XCTestCase {

    // MARK: Followers: election timeout → campaign

    // Figure 2 Followers: "If election timeout elapses ... convert to candidate"; with PreVote (thesis §9.6) first a PreVote round.
    func testElectionTimeoutStartsPreVoteToVotersAtNextTermWithoutChangingTerm() {
        var n = RaftNode(
            config: Paper.config(1, voters: [1, 2, 3], learners: [4]),
            restored: Paper.restored(term: 2, vote: 3, log: [1, 2]))
        let timeout = n.electionTimeoutTicks
        for _ in 1..<timeout { n.tick() }
        XCTAssertFalse(n.hasReady, "nothing happens before the randomized timeout")
        n.tick()
        assertState(n, role: .preCandidate, term: 2, vote: 3, leader: noNode)
        let r = n.ready()
        XCTAssertNil(r.hardState, "a PreVote round changes nothing durable")
        XCTAssertEqual(
            r.messages,
            [
                Message(kind: .preVote, from: 1, to: 2, term: 3, logTerm: 2, index: 2),
                Message(kind: .preVote, from: 1, to: 3, term: 3, logTerm: 2, index: 2)
            ], "PreVote goes to the voters only (not learner 4), for term+1")
    }

    // Figure 2 Candidates: "On conversion to candidate: increment currentTerm, vote for self, ... send RequestVote RPCs to all other servers".
    func testElectionTimeoutWithoutPreVoteIncrementsTermVotesSelfAndRequestsVotes() {
        var n = RaftNode(
            config: Paper.config(1, voters: [1, 2, 3], learners: [4], preVote: false),
            restored: Paper.restored(term: 2, log: [1, 2]))
        for _ in 0..<n.electionTimeoutTicks { n.tick() }
        assertState(n, role: .candidate, term: 3, vote: 1, leader: noNode)
        let r = n.ready()
        XCTAssertEqual(r.hardState, HardState(term: 3, vote: 1, commit: 0))
        XCTAssertEqual(
            r.messages,
            [
                Message(kind: .vote, from: 1, to: 2, term: 3, logTerm: 2, index: 2),
                Message(kind: .vote, from: 1, to: 3, term: 3, logTerm: 2, index: 2)
            ])
        XCTAssertEqual(n.electionsStarted, 1)
    }

    // §5.2: election timeouts are chosen randomly from a fixed interval [electionTicks, 2*electionTicks).
    func testRandomizedElectionTimeoutLiesInRangeAndVariesAcrossSeedsAndNodes() {
        var bySeed = Set<Int>()
        var byNode = Set<Int>()
        for seed in UInt64(0)..<40 {
            for id in NodeID(1)...5 {
                let t = RaftNode(config: Paper.config(id, voters: [1, 2, 3, 4, 5], seed: seed)).electionTimeoutTicks
                XCTAssertGreaterThanOrEqual(t, 10)
                XCTAssertLessThan(t, 20)
                if id == 1 { bySeed.insert(t) }
                if seed == 0 { byNode.insert(t) }
            }
        }
        XCTAssertGreaterThan(bySeed.count, 3, "node 1's timeout should vary with the seed")
        XCTAssertGreaterThan(byNode.count, 1, "nodes with one seed should not share a timeout")
        // Deterministic: the same seed and id draw the same timeout.
        XCTAssertEqual(
            RaftNode(config: Paper.config(2, seed: 7)).electionTimeoutTicks,
            RaftNode(config: Paper.config(2, seed: 7)).electionTimeoutTicks)
    }

    // Figure 2 Followers: the election timer restarts on "receiving AppendEntries RPC from current leader".
    func testHeartbeatFromLeaderRestartsElectionTimer() {
        var n = Paper.follower(2, leader: 1, term: 2)
        let timeout = n.electionTimeoutTicks
        for _ in 1..<timeout { n.tick() }
        n.step(Message(kind: .heartbeat, from: 1, to: 2, term: 2))
        _ = n.ready()
        for _ in 1..<timeout { n.tick() }
        XCTAssertEqual(n.role, .follower, "the heartbeat restarted the timer")
        n.tick()
        XCTAssertEqual(n.role, .preCandidate, "a full timeout without the leader starts a campaign")
    }

    // Figure 2 Followers: the election timer restarts on "granting vote to candidate".
    func testGrantingVoteRestartsElectionTimer() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 2))
        let timeout = n.electionTimeoutTicks
        for _ in 1..<timeout { n.tick() }
        n.step(Message(kind: .vote, from: 3, to: 1, term: 2))
        XCTAssertEqual(n.vote, 3)
        _ = n.ready()
        for _ in 1..<timeout { n.tick() }
        XCTAssertEqual(n.role, .follower, "granting the vote restarted the timer")
        n.tick()
        XCTAssertEqual(n.role, .preCandidate)
    }

    // Figure 2 Followers: a refused vote is not a reason to wait longer — the timer keeps running.
    func testRefusingVoteDoesNotRestartElectionTimer() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 2, vote: 2))
        let timeout = n.electionTimeoutTicks
        for _ in 1..<timeout { n.tick() }
        n.step(Message(kind: .vote, from: 3, to: 1, term: 2))
        XCTAssertEqual(n.ready().messages, [Message(kind: .voteResponse, from: 1, to: 3, term: 2, reject: true)])
        n.tick()
        XCTAssertEqual(n.role, .preCandidate)
    }

    // MARK: Candidates

    // Thesis §9.6: a pre-candidate that a majority would vote for starts the real election.
    func testPreCandidateWithMajorityOfPreVotesBecomesCandidate() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 2, log: [1, 2]))
        n.campaign()
        _ = n.ready()
        n.step(Message(kind: .preVoteResponse, from: 3, to: 1, term: 3))
        assertState(n, role: .candidate, term: 3, vote: 1, leader: noNode)
        let r = n.ready()
        XCTAssertEqual(r.hardState, HardState(term: 3, vote: 1, commit: 0))
        XCTAssertEqual(
            r.messages,
            [
                Message(kind: .vote, from: 1, to: 2, term: 3, logTerm: 2, index: 2),
                Message(kind: .vote, from: 1, to: 3, term: 3, logTerm: 2, index: 2)
            ])
    }

    // Thesis §9.6: granted PreVotes short of a majority change neither term nor role of the pre-candidate.
    func testPreVoteGrantShortOfMajorityKeepsPreCandidateTerm() {
        var n = RaftNode(config: Paper.config(1, voters: [1, 2, 3, 4, 5]), restored: Paper.restored(term: 4, vote: 2))
        n.campaign()
        _ = n.ready()
        n.step(Message(kind: .preVoteResponse, from: 2, to: 1, term: 5))
        assertState(n, role: .preCandidate, term: 4, vote: 2, leader: noNode)
        XCTAssertFalse(n.hasReady)
    }

    // Thesis §9.6: a pre-candidate rejected by a majority returns to follower in its old term.
    func testPreCandidateRejectedByMajorityBecomesFollowerInSameTerm() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 2, log: [1, 2]))
        n.campaign()
        _ = n.ready()
        n.step(Message(kind: .preVoteResponse, from: 2, to: 1, term: 2, reject: true))
        XCTAssertEqual(n.role, .preCandidate, "one rejection of three is not a majority")
        n.step(Message(kind: .preVoteResponse, from: 3, to: 1, term: 2, reject: true))
        assertState(n, role: .follower, term: 2, vote: noNode, leader: noNode)
        XCTAssertNil(n.ready().hardState)
    }

    // Figure 2 Candidates: "If votes received from majority of servers: become leader"; §8 noop; "send initial empty AppendEntries".
    func testCandidateWinningMajorityBecomesLeaderAppendsNoopAndSendsAppends() {
        var n = RaftNode(
            config: Paper.config(1, voters: [1, 2, 3], learners: [4], preVote: false),
            restored: Paper.restored(term: 1, commit: 1, log: [1]))
        n.campaign()
        _ = n.ready()
        n.step(Message(kind: .voteResponse, from: 2, to: 1, term: 2))
        assertState(n, role: .leader, term: 2, vote: 1, leader: 1)
        let noop = Entry(term: 2, index: 2, kind: .noop)
        XCTAssertEqual(n.entries.last, noop)
        let r = n.ready()
        XCTAssertEqual(r.softState, SoftState(role: .leader, leader: 1))
        XCTAssertEqual(r.entries, [noop])
        XCTAssertEqual(
            r.messages,
            [2, 3, 4].map {
                Message(kind: .append, from: 1, to: $0, term: 2, logTerm: 1, index: 1, entries: [noop], commit: 1)
            }, "the new leader sends its noop to every member, learners included")
    }

    // Figure 2 Candidates / §5.2: a candidate that a majority rejects cannot win; it becomes a follower.
    func testCandidateRejectedByMajorityBecomesFollower() {
        var n = RaftNode(config: Paper.config(1, preVote: false), restored: Paper.restored(term: 1))
        n.campaign()
        _ = n.ready()
        n.step(Message(kind: .voteResponse, from: 2, to: 1, term: 2, reject: true))
        XCTAssertEqual(n.role, .candidate, "one rejection of three is not a majority")
        n.step(Message(kind: .voteResponse, from: 3, to: 1, term: 2, reject: true))
        assertState(n, role: .follower, term: 2, vote: 1, leader: noNode)
    }

    // Figure 2 Candidates: "If AppendEntries RPC received from new leader: convert to follower" (§5.2).
    func testCandidateReceivingAppendFromLeaderOfSameTermBecomesFollower() {
        var n = RaftNode(config: Paper.config(1, preVote: false), restored: Paper.restored(term: 1, log: [1]))
        n.campaign()
        _ = n.ready()
        n.step(
            Message(
                kind: .append, from: 3, to: 1, term: 2, logTerm: 1, index: 1,
                entries: [Entry(term: 2, index: 2, kind: .noop)], commit: 1))
        assertState(n, role: .follower, term: 2, vote: 1, leader: 3)
        XCTAssertEqual(n.lastIndex, 2)
        XCTAssertEqual(n.ready().messages, [Message(kind: .appendResponse, from: 1, to: 3, term: 2, index: 2)])
    }

    // Thesis §9.6 + §5.2: a pre-candidate hearing from a leader of its own term goes back to following it.
    func testPreCandidateReceivingHeartbeatFromLeaderOfSameTermBecomesFollower() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 3))
        n.campaign()
        _ = n.ready()
        n.step(Message(kind: .heartbeat, from: 2, to: 1, term: 3))
        assertState(n, role: .follower, term: 3, vote: noNode, leader: 2)
        XCTAssertEqual(n.ready().messages, [Message(kind: .heartbeatResponse, from: 1, to: 2, term: 3)])
    }

    // Figure 2 Candidates: "If election timeout elapses: start new election" (§5.2 split votes).
    func testCandidateWithSplitVoteStartsNewElectionWithHigherTermAfterTimeout() {
        var n = RaftNode(config: Paper.config(1, preVote: false), restored: Paper.restored(term: 1))
        n.campaign()
        _ = n.ready()
        n.step(Message(kind: .voteResponse, from: 2, to: 1, term: 2, reject: true))
        let timeout = n.electionTimeoutTicks
        for _ in 1..<timeout { n.tick() }
        XCTAssertEqual(n.term, 2)
        XCTAssertTrue(n.ready().messages.isEmpty)
        n.tick()
        assertState(n, role: .candidate, term: 3, vote: 1, leader: noNode)
        XCTAssertEqual(
            n.ready().messages,
            [
                Message(kind: .vote, from: 1, to: 2, term: 3),
                Message(kind: .vote, from: 1, to: 3, term: 3)
            ])
        XCTAssertEqual(n.electionsStarted, 2)
    }

    // Figure 2 RequestVote receiver 2: a candidate has voted for itself, so it refuses a rival of its term.
    func testCandidateRefusesRivalCandidateOfItsTerm() {
        var n = RaftNode(config: Paper.config(1, preVote: false), restored: Paper.restored(term: 1))
        n.campaign()
        _ = n.ready()
        n.step(Message(kind: .vote, from: 2, to: 1, term: 2))
        assertState(n, role: .candidate, term: 2, vote: 1, leader: noNode)
        XCTAssertEqual(n.ready().messages, [Message(kind: .voteResponse, from: 1, to: 2, term: 2, reject: true)])
    }

    // MARK: RequestVote receiver

    // Figure 2 RequestVote receiver 1: "Reply false if term < currentTerm".
    func testVoteRequestWithLowerTermIsNotGranted() {
        var n = RaftNode(config: Paper.config(2), restored: Paper.restored(term: 3, log: [1]))
        n.step(Message(kind: .vote, from: 1, to: 2, term: 2, logTerm: 2, index: 5))
        assertState(n, role: .follower, term: 3, vote: noNode, leader: noNode)
        let r = n.ready()
        XCTAssertNil(r.hardState)
        for m in r.messages { // silently dropping (etcd) and an explicit rejection are both allowed
            XCTAssertEqual(m.kind, .voteResponse)
            XCTAssertTrue(m.reject)
            XCTAssertEqual(m.term, 3)
        }
    }

    // Figure 2 RequestVote receiver 2 / §5.2: each server votes for at most one candidate in a term.
    func testVoteGrantedToAtMostOneCandidatePerTerm() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 1, log: [1]))
        n.step(Message(kind: .vote, from: 2, to: 1, term: 2, logTerm: 1, index: 1))
        assertState(n, role: .follower, term: 2, vote: 2, leader: noNode)
        XCTAssertEqual(n.ready().messages, [Message(kind: .voteResponse, from: 1, to: 2, term: 2)])

        n.step(Message(kind: .vote, from: 3, to: 1, term: 2, logTerm: 1, index: 1))
        XCTAssertEqual(n.vote, 2)
        XCTAssertEqual(
            n.ready().messages, [Message(kind: .voteResponse, from: 1, to: 3, term: 2, reject: true)],
            "second candidate of the same term is rejected")

        n.step(Message(kind: .vote, from: 2, to: 1, term: 2, logTerm: 1, index: 1))
        XCTAssertEqual(
            n.ready().messages, [Message(kind: .voteResponse, from: 1, to: 2, term: 2)],
            "the same candidate asking again (a retry) is granted again")
    }

    // §5.4.1: reject a candidate whose last entry has an older term, even when its log is longer.
    func testVoteRejectedWhenCandidateLastTermIsOlder() {
        var n = RaftNode(config: Paper.config(1, checkQuorum: false), restored: Paper.restored(term: 2, log: [1, 2]))
        n.step(Message(kind: .vote, from: 2, to: 1, term: 3, logTerm: 1, index: 5))
        assertState(n, role: .follower, term: 3, vote: noNode, leader: noNode)
        XCTAssertEqual(n.ready().messages, [Message(kind: .voteResponse, from: 1, to: 2, term: 3, reject: true)])
    }

    // §5.4.1: with equal last terms, reject the candidate whose log is shorter.
    func testVoteRejectedWhenCandidateLogIsShorterInSameLastTerm() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 2, log: [1, 2, 2]))
        n.step(Message(kind: .vote, from: 2, to: 1, term: 3, logTerm: 2, index: 2))
        assertState(n, role: .follower, term: 3, vote: noNode, leader: noNode)
        XCTAssertEqual(n.ready().messages, [Message(kind: .voteResponse, from: 1, to: 2, term: 3, reject: true)])
    }

    // §5.4.1: a later last term wins even with a shorter log; equal last term and length is up to date.
    func testVoteGrantedWhenCandidateLogIsAtLeastAsUpToDate() {
        var a = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 2, log: [1, 1, 1]))
        a.step(Message(kind: .vote, from: 2, to: 1, term: 3, logTerm: 2, index: 1))
        XCTAssertEqual(a.vote, 2)
        XCTAssertEqual(a.ready().messages, [Message(kind: .voteResponse, from: 1, to: 2, term: 3)])

        var b = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 2, log: [1, 2]))
        b.step(Message(kind: .vote, from: 3, to: 1, term: 3, logTerm: 2, index: 2))
        XCTAssertEqual(b.vote, 3)
        XCTAssertEqual(b.ready().messages, [Message(kind: .voteResponse, from: 1, to: 3, term: 3)])
    }

    // Figure 2 "Persistent state ... updated on stable storage before responding to RPCs": vote and response share one Ready.
    func testGrantedVoteIsInHardStateOfTheReadyCarryingTheResponse() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 1))
        n.step(Message(kind: .vote, from: 3, to: 1, term: 2))
        let r = n.ready()
        XCTAssertEqual(r.hardState, HardState(term: 2, vote: 3, commit: 0))
        XCTAssertEqual(r.messages, [Message(kind: .voteResponse, from: 1, to: 3, term: 2)])
        XCTAssertFalse(n.hasReady, "the vote is not reported again")
    }

    // MARK: PreVote (thesis §9.6)

    // Thesis §9.6: a PreVote request changes neither the voter's term nor its vote, and is granted for term+1.
    func testPreVoteGrantedWithoutChangingVotersTermOrVote() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 2, vote: 3, log: [1, 2]))
        n.step(Message(kind: .preVote, from: 2, to: 1, term: 3, logTerm: 2, index: 2))
        assertState(n, role: .follower, term: 2, vote: 3, leader: noNode)
        let r = n.ready()
        XCTAssertNil(r.hardState)
        XCTAssertEqual(r.messages, [Message(kind: .preVoteResponse, from: 1, to: 2, term: 3)])
    }

    // Thesis §9.6: a PreVote is granted only when the candidate's log is at least as up to date (§5.4.1).
    func testPreVoteRejectedWhenCandidateLogIsBehind() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 2, log: [1, 2]))
        n.step(Message(kind: .preVote, from: 2, to: 1, term: 3, logTerm: 1, index: 4))
        assertState(n, role: .follower, term: 2, vote: noNode, leader: noNode)
        let r = n.ready()
        XCTAssertNil(r.hardState)
        XCTAssertEqual(r.messages, [Message(kind: .preVoteResponse, from: 1, to: 2, term: 2, reject: true)])
    }

    // Thesis §9.6 + Figure 2 "Reply false if term < currentTerm": a stale PreVote is refused with the voter's term...
    func testStalePreVoteIsRefusedWithVotersTerm() {
        var n = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 5))
        n.step(Message(kind: .preVote, from: 2, to: 1, term: 4, logTerm: 3, index: 9))
        assertState(n, role: .follower, term: 5, vote: noNode, leader: noNode)
        XCTAssertEqual(n.ready().messages, [Message(kind: .preVoteResponse, from: 1, to: 2, term: 5, reject: true)])
    }

    // ... Figure 2 Rules for all servers: ... and the pre-candidate adopts that higher term from the refusal.
    func testPreCandidateAdoptsHigherTermFromRefusedPreVote() {
        var n = RaftNode(config: Paper.config(2), restored: Paper.restored(term: 3))
        n.campaign()
        _ = n.ready()
        n.step(Message(kind: .preVoteResponse, from: 1, to: 2, term: 5, reject: true))
        assertState(n, role: .follower, term: 5, vote: noNode, leader: noNode)
        XCTAssertEqual(n.ready().hardState, HardState(term: 5, vote: noNode, commit: 0))
    }

    // Thesis §4.2.3 (with CheckQuorum): a follower that heard from its leader within electionTicks ignores higher-term (pre)votes.
    func testFollowerInLeaseIgnoresHigherTermVoteAndPreVote() {
        var n = Paper.follower(2, leader: 1, term: 2, log: [1, 2])
        n.step(Message(kind: .vote, from: 3, to: 2, term: 3, logTerm: 2, index: 2))
        n.step(Message(kind: .preVote, from: 3, to: 2, term: 3, logTerm: 2, index: 2))
        assertState(n, role: .follower, term: 2, vote: noNode, leader: 1)
        XCTAssertFalse(n.hasReady, "no response and nothing to persist")
    }

    // Thesis §4.2.3: the lease applies only with CheckQuorum; without it the higher-term vote is granted.
    func testFollowerWithoutCheckQuorumGrantsHigherTermVoteDespiteLeader() {
        var n = Paper.follower(2, leader: 1, term: 2, log: [1, 2], config: Paper.config(2, checkQuorum: false))
        n.step(Message(kind: .vote, from: 3, to: 2, term: 3, logTerm: 2, index: 2))
        assertState(n, role: .follower, term: 3, vote: 3, leader: noNode)
        XCTAssertEqual(n.ready().messages, [Message(kind: .voteResponse, from: 2, to: 3, term: 3)])
    }

    // Thesis §4.2.3: once electionTicks pass without the leader, the lease is over and a vote can be granted.
    func testFollowerGrantsHigherTermVoteOnceLeaseExpired() {
        let build = { (s: UInt64) in
            Paper.follower(2, leader: 1, term: 2, log: [1, 2], config: Paper.config(2, seed: s))
        }
        guard let seed = Paper.seed(where: build, timeoutAbove: 10) else {
            return XCTFail("no seed draws a timeout above electionTicks: is the timeout randomized?")
        }
        var n = build(seed)
        for _ in 0..<10 { n.tick() }
        XCTAssertEqual(n.role, .follower, "the chosen seed must not campaign within 10 ticks")
        n.step(Message(kind: .vote, from: 3, to: 2, term: 3, logTerm: 2, index: 2))
        assertState(n, role: .follower, term: 3, vote: 3, leader: noNode)
        XCTAssertEqual(n.ready().messages, [Message(kind: .voteResponse, from: 2, to: 3, term: 3)])
    }

    // MARK: CheckQuorum (thesis §6.2)

    // Thesis §6.2: a leader that hears from no quorum within an election timeout steps down.
    func testLeaderWithoutQuorumStepsDownAfterElectionTicks() {
        var n = Paper.leader(config: Paper.config(1))
        let term = n.term
        for _ in 1..<10 { n.tick() }
        XCTAssertEqual(n.role, .leader)
        Paper.settle(&n)
        n.tick()
        assertState(n, role: .follower, term: term, vote: 1, leader: noNode)
        XCTAssertEqual(n.ready().softState, SoftState(role: .follower, leader: noNode))
    }

    // Thesis §6.2: a leader that heard from a quorum (itself + one of three) within the timeout stays leader.
    func testLeaderHearingFromQuorumStaysLeader() {
        var n = Paper.leader(config: Paper.config(1))
        for _ in 1..<10 { n.tick() }
        n.step(Message(kind: .heartbeatResponse, from: 3, to: 1, term: n.term))
        n.tick()
        XCTAssertEqual(n.role, .leader)
        // The activity marks are cleared each round: silence for another round deposes it.
        for _ in 0..<10 { n.tick() }
        XCTAssertEqual(n.role, .follower)
    }
}
