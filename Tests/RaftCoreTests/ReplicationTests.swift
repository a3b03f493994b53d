import RaftCore
import XCTest

/// Log replication (§5.3), commitment (§5.4.2, Figure 8), the AppendEntries receiver (Figure 2),
/// flow control (thesis §10.2 batching/pipelining; etcd's Progress) and learners (thesis §4.2.1).
final class ReplicationTests: XCTestCase {

    // MARK: Leaders

    // Figure 2 Leaders: "send initial empty AppendEntries RPCs (heartbeat) ...; repeat during idle periods" — every heartbeatTicks.
    func testLeaderSendsHeartbeatsEveryHeartbeatTicks() {
        var n = Paper.leader(config: Paper.config(1, voters: [1, 2, 3], learners: [4], heartbeatTicks: 3), acked: [2])
        XCTAssertEqual(n.commitIndex, 1)
        for _ in 0..<2 { n.tick() }
        XCTAssertTrue(n.ready().messages.isEmpty, "no heartbeat before heartbeatTicks")
        n.tick()
        // Each broadcast is a new heartbeat round (its number in `context`), acknowledged for ReadIndex.
        func expected(round: UInt64) -> [Message] {
            [
                Message(kind: .heartbeat, from: 1, to: 2, term: 1, commit: 1, context: round),
                // never beyond the peer's match
                Message(kind: .heartbeat, from: 1, to: 3, term: 1, commit: 0, context: round),
                Message(kind: .heartbeat, from: 1, to: 4, term: 1, commit: 0, context: round)
            ]
        }
        XCTAssertEqual(n.ready().messages, expected(round: 1))
        for _ in 0..<2 { n.tick() }
        XCTAssertTrue(n.ready().messages.isEmpty)
        n.tick()
        XCTAssertEqual(n.ready().messages, expected(round: 2))
    }

    // learnerHeartbeatTicks: learners hear a heartbeat once per that many ticks, voters every heartbeatTicks;
    // a commit still reaches the learners at once (the commit broadcast is an append to every member).
    func testLearnersHearHeartbeatsLessOftenButEveryCommitAtOnce() {
        var c = Paper.config(1, voters: [1, 2, 3], learners: [4, 5], heartbeatTicks: 2)
        c.learnerHeartbeatTicks = 6
        XCTAssertNoThrow(try c.validate())
        var n = Paper.leader(config: c, acked: [2, 3, 4, 5]) // the learners answered the first append: replicating
        _ = n.ready()
        var heard: [NodeID: Int] = [:]
        for _ in 0..<12 {
            n.tick()
            for m in n.ready().messages where m.kind == .heartbeat { heard[m.to, default: 0] += 1 }
        }
        XCTAssertEqual(heard[2], 6, "a voter every 2 ticks")
        XCTAssertEqual(heard[3], 6)
        XCTAssertEqual(heard[4], 2, "a learner every 6 ticks")
        XCTAssertEqual(heard[5], 2)
        n.propose([[9]])
        let idx = n.lastIndex
        _ = n.ready()
        n.persisted(upTo: idx, term: n.term)
        n.step(Message(kind: .appendResponse, from: 2, to: 1, term: n.term, index: idx))
        XCTAssertEqual(n.commitIndex, idx)
        let toLearners = n.ready().messages.filter { $0.kind == .append && [4, 5].contains($0.to) }
        XCTAssertEqual(toLearners.map(\.to), [4, 5])
        XCTAssertTrue(
            toLearners.allSatisfy { $0.commit == idx },
            "the commit reaches the learners without waiting for a heartbeat")
        var bad = c
        bad.learnerHeartbeatTicks = 1
        XCTAssertThrowsError(try bad.validate(), "fewer ticks than a heartbeat interval is refused")
    }

    // Figure 2 Leaders: "If command received from client: append entry to local log" and replicate it (§5.3).
    func testLeaderAppendsProposalAndReplicatesItToFollowers() {
        var n = Paper.leader(config: Paper.config(1), acked: [2, 3])
        XCTAssertEqual(n.propose([[7]]), .appended(firstIndex: 2, lastIndex: 2, term: 1))
        let e = Entry(term: 1, index: 2, data: [7])
        let r = n.ready()
        XCTAssertEqual(r.entries, [e])
        XCTAssertEqual(
            r.messages,
            [2, 3].map {
                Message(kind: .append, from: 1, to: $0, term: 1, logTerm: 1, index: 1, entries: [e], commit: 1)
            })
    }

    // §5.3: an entry is committed once the leader has replicated it on a majority — the leader's own copy counts only once durable.
    func testLeaderCommitsWhenMajorityPersistedCountingItselfOnlyAfterPersisted() {
        var n = Paper.leader(config: Paper.config(1), acked: [2, 3])
        n.propose([[7]])
        let r = n.ready() // handed out, not yet reported durable
        XCTAssertEqual(r.entries.map(\.index), [2])
        n.step(Message(kind: .appendResponse, from: 2, to: 1, term: 1, index: 2))
        XCTAssertEqual(n.commitIndex, 1, "follower 2 alone is not a majority while the leader's copy is not durable")
        XCTAssertTrue(n.ready().messages.isEmpty)
        n.persisted(upTo: 2, term: 1)
        XCTAssertEqual(n.commitIndex, 2)
        let r2 = n.ready()
        XCTAssertEqual(r2.hardState?.commit, 2)
        XCTAssertEqual(r2.committedEntries, [Entry(term: 1, index: 2, data: [7])])
        XCTAssertEqual(
            r2.messages,
            [2, 3].map {
                Message(kind: .append, from: 1, to: $0, term: 1, logTerm: 1, index: 2, commit: 2)
            }, "the new commit index is broadcast")
    }

    // §5.4.2 / Figure 8: an entry from an earlier term is never committed by counting replicas...
    func testLeaderDoesNotCommitPreviousTermEntryByCountingReplicas() {
        var n = Paper.leader(config: Paper.config(1), restored: Paper.restored(term: 2, commit: 1, log: [1, 2]))
        XCTAssertEqual(n.term, 3)
        XCTAssertEqual(n.lastIndex, 3)
        n.step(Message(kind: .appendResponse, from: 2, to: 1, term: 3, index: 2))
        XCTAssertEqual(n.matchIndex(of: 2), 2)
        XCTAssertEqual(n.commitIndex, 1, "index 2 (term 2) is on a majority but must not be committed")
        XCTAssertNil(n.ready().hardState)
    }

    // ... §5.4.2 / Figure 8: ... but it is committed together with an entry of the current term.
    func testLeaderCommitsPreviousTermEntryTogetherWithCurrentTermEntry() {
        var n = Paper.leader(config: Paper.config(1), restored: Paper.restored(term: 2, commit: 1, log: [1, 2]))
        n.step(Message(kind: .appendResponse, from: 2, to: 1, term: 3, index: 2))
        _ = n.ready()
        n.step(Message(kind: .appendResponse, from: 2, to: 1, term: 3, index: 3))
        XCTAssertEqual(n.commitIndex, 3)
        let r = n.ready()
        XCTAssertEqual(r.committedEntries, [Entry(term: 2, index: 2), Entry(term: 3, index: 3, kind: .noop)])
    }

    // Figure 2 AppendEntries receiver 5: the follower learns the commit index from a heartbeat.
    func testFollowerLearnsCommitFromHeartbeat() {
        var n = Paper.follower(2, leader: 1, term: 1, log: [1, 1, 1])
        n.step(Message(kind: .heartbeat, from: 1, to: 2, term: 1, commit: 2))
        XCTAssertEqual(n.commitIndex, 2)
        let r = n.ready()
        XCTAssertEqual(r.hardState, HardState(term: 1, vote: noNode, commit: 2))
        XCTAssertEqual(r.committedEntries, Paper.entries([1, 1]))
        XCTAssertEqual(r.messages, [Message(kind: .heartbeatResponse, from: 2, to: 1, term: 1)])
    }

    // Figure 2 AppendEntries receiver 5: "set commitIndex = min(leaderCommit, index of last new entry)".
    func testFollowerCommitIsMinOfLeaderCommitAndLastNewEntry() {
        var n = Paper.follower(2, leader: 1, term: 1, log: [1, 1, 1])
        n.step(
            Message(
                kind: .append, from: 1, to: 2, term: 1, logTerm: 1, index: 1,
                entries: [Entry(term: 1, index: 2)], commit: 3))
        XCTAssertEqual(n.commitIndex, 2, "index 3 is in the log but this append did not vouch for it")
        XCTAssertEqual(n.ready().messages, [Message(kind: .appendResponse, from: 2, to: 1, term: 1, index: 2)])
    }

    // Figure 2 Rules for all servers: "If commitIndex > lastApplied: ... apply log[lastApplied] to state machine" — in order, committed and durable only.
    func testReadyHandsOutOnlyCommittedDurableEntriesInOrder() {
        var n = Paper.follower(2, leader: 1, term: 1)
        n.step(
            Message(
                kind: .append, from: 1, to: 2, term: 1, logTerm: 0, index: 0,
                entries: Paper.entries([1, 1, 1]), commit: 2))
        let r1 = n.ready()
        XCTAssertEqual(r1.entries, Paper.entries([1, 1, 1]))
        XCTAssertEqual(r1.committedEntries, [], "nothing is applied before it is durable here")
        n.persisted(upTo: 3, term: 1)
        let r2 = n.ready()
        XCTAssertEqual(r2.committedEntries, Paper.entries([1, 1]), "only committed entries, in order")
        n.applied(upTo: 2)
        XCTAssertFalse(n.hasReady, "applied entries are not handed out again")
        n.step(Message(kind: .heartbeat, from: 1, to: 2, term: 1, commit: 3))
        XCTAssertEqual(n.ready().committedEntries, [Entry(term: 1, index: 3)])
    }

    // MARK: AppendEntries receiver

    // Figure 2 AppendEntries receiver 1: "Reply false if term < currentTerm" — with our term, so the stale leader steps down.
    func testAppendFromStaleTermIsRefusedWithCurrentTerm() {
        var n = Paper.follower(2, leader: 3, term: 3, log: [1, 3])
        n.step(
            Message(
                kind: .append, from: 1, to: 2, term: 2, logTerm: 1, index: 1,
                entries: [Entry(term: 2, index: 2)], commit: 2))
        assertState(n, role: .follower, term: 3, vote: noNode, leader: 3)
        XCTAssertEqual(n.lastIndex, 2)
        XCTAssertEqual(n.commitIndex, 0)
        let msgs = n.ready().messages
        XCTAssertEqual(msgs.count, 1)
        XCTAssertEqual(msgs.first?.kind, .appendResponse)
        XCTAssertEqual(msgs.first?.to, 1)
        XCTAssertEqual(msgs.first?.term, 3)
    }

    // Figure 2 Rules for all servers: a stale leader that learns a higher term from a response becomes follower.
    func testStaleLeaderStepsDownOnResponseWithHigherTerm() {
        var n = Paper.leader(config: Paper.config(1), acked: [2])
        n.step(Message(kind: .appendResponse, from: 2, to: 1, term: 5))
        assertState(n, role: .follower, term: 5, vote: noNode, leader: noNode)
        let r = n.ready()
        XCTAssertEqual(r.hardState?.term, 5)
        XCTAssertTrue(r.messages.isEmpty)
    }

    // Figure 2 AppendEntries receiver 2: "Reply false if log doesn't contain an entry at prevLogIndex" — hint at our last index.
    func testAppendRejectedWhenLogTooShortHintsLastIndex() {
        var n = Paper.follower(2, leader: 1, term: 3, log: [1, 1])
        n.step(
            Message(
                kind: .append, from: 1, to: 2, term: 3, logTerm: 3, index: 5,
                entries: [Entry(term: 3, index: 6)], commit: 5))
        XCTAssertEqual(n.lastIndex, 2)
        XCTAssertEqual(n.commitIndex, 0)
        XCTAssertEqual(
            n.ready().messages,
            [
                Message(
                    kind: .appendResponse, from: 2, to: 1, term: 3, index: 5, reject: true, rejectHint: 2, hintTerm: 1)
            ])
    }

    // Figure 2 AppendEntries receiver 2 + §5.3 optimisation: prevLogTerm mismatch → hint = last index ≤ prevIndex with term ≤ prevLogTerm.
    func testAppendRejectedOnTermMismatchHintsFindConflictByTerm() {
        var n = Paper.follower(2, leader: 1, term: 5, log: [1, 2, 2, 4, 4])
        n.step(Message(kind: .append, from: 1, to: 2, term: 5, logTerm: 3, index: 5, commit: 1))
        XCTAssertEqual(n.entries, Paper.entries([1, 2, 2, 4, 4]), "a rejected append changes nothing")
        XCTAssertEqual(
            n.ready().messages,
            [
                Message(
                    kind: .appendResponse, from: 2, to: 1, term: 5, index: 5, reject: true, rejectHint: 3, hintTerm: 2)
            ])
    }

    // Figure 2 AppendEntries receiver 3–4: "If an existing entry conflicts ... delete it and all that follow; append new entries".
    func testAppendDeletesConflictingSuffixAndAppendsNewEntries() {
        var n = Paper.follower(2, leader: 1, term: 3, log: [1, 1, 2, 2])
        let incoming = [
            Entry(term: 1, index: 2), Entry(term: 3, index: 3), Entry(term: 3, index: 4), Entry(term: 3, index: 5)
        ]
        n.step(Message(kind: .append, from: 1, to: 2, term: 3, logTerm: 1, index: 1, entries: incoming, commit: 1))
        XCTAssertEqual(n.entries, Paper.entries([1, 1, 3, 3, 3]))
        let r = n.ready()
        XCTAssertEqual(r.entries, Array(incoming[1...]), "the shell rewrites the log from the first conflict")
        XCTAssertEqual(r.messages, [Message(kind: .appendResponse, from: 2, to: 1, term: 3, index: 5)])
    }

    // Figure 2 AppendEntries receiver 4 / §5.3: entries already present are not touched (a delayed append must not truncate).
    func testAppendOfEntriesAlreadyPresentDoesNotTruncate() {
        var n = Paper.follower(2, leader: 1, term: 2, log: [1, 1, 2, 2])
        n.step(
            Message(
                kind: .append, from: 1, to: 2, term: 2, logTerm: 0, index: 0, entries: Paper.entries([1, 1]), commit: 0)
        )
        XCTAssertEqual(n.entries, Paper.entries([1, 1, 2, 2]))
        let r = n.ready()
        XCTAssertEqual(r.entries, [], "nothing new to persist")
        XCTAssertEqual(r.messages, [Message(kind: .appendResponse, from: 2, to: 1, term: 2, index: 2)])
    }

    // MARK: Flow control

    // Thesis §10.2.1 pipelining: in replicate state the leader streams up to maxInflightMessages appends, then pauses.
    func testReplicatePipelinesUpToMaxInflightThenPauses() {
        var n = Paper.leader(config: Paper.config(1, limits: { $0.maxInflightMessages = 3 }), acked: [2])
        for i in 0..<3 {
            n.propose([[UInt8(i)]])
            let toTwo = n.ready().messages.filter { $0.to == 2 }
            XCTAssertEqual(toTwo.map(\.entries), [[Entry(term: 1, index: LogIndex(2 + i), data: [UInt8(i)])]])
        }
        n.propose([[9]])
        XCTAssertEqual(n.ready().messages.filter { $0.to == 2 }, [], "three appends in flight: paused")
        n.step(Message(kind: .appendResponse, from: 2, to: 1, term: 1, index: 2))
        let resumed = n.ready().messages.filter { $0.to == 2 && !$0.entries.isEmpty }
        XCTAssertEqual(resumed.map { $0.entries.map(\.index) }, [[5]], "one acknowledgement frees one slot")
    }

    // Thesis §10.2.1 pipelining: maxInflightBytes also bounds what is in flight to one peer.
    func testReplicatePausesWhenInflightBytesReachLimit() {
        var n = Paper.leader(
            config: Paper.config(
                1, voters: [1, 2],
                limits: {
                    $0.maxAppendBytes = 100
                    $0.maxInflightBytes = 200
                }), acked: [2])
        var sent: [[LogIndex]] = []
        for i in 0..<4 {
            n.propose([[UInt8](repeating: UInt8(i), count: 52)]) // 76 bytes each
            sent += n.ready().messages.filter { !$0.entries.isEmpty }.map { $0.entries.map(\.index) }
        }
        XCTAssertEqual(sent, [[2], [3], [4]], "76 + 76 < 200 <= 76 * 3: the fourth append waits")
    }

    // etcd Progress: a heartbeat response proves the peer alive, so a full pipeline lets one more append through.
    func testHeartbeatResponseReleasesOneSlotOfFullPipeline() {
        var n = Paper.leader(
            config: Paper.config(1, voters: [1, 2], limits: { $0.maxInflightMessages = 2 }), acked: [2])
        for i in 0..<3 { n.propose([[UInt8(i)]]) }
        XCTAssertEqual(n.ready().messages.map { $0.entries.map(\.index) }, [[2], [3]])
        n.step(Message(kind: .heartbeatResponse, from: 2, to: 1, term: 1))
        XCTAssertEqual(
            n.ready().messages,
            [
                Message(
                    kind: .append, from: 1, to: 2, term: 1, logTerm: 1, index: 3,
                    entries: [Entry(term: 1, index: 4, data: [2])],
                    commit: 1)
            ])
    }

    // etcd Progress probe state: one append at a time until the follower answers.
    func testProbeSendsOneAppendAtATime() {
        var n = Paper.leader(config: Paper.config(1), acked: [2]) // 3 never answered the noop append: probe
        n.propose([[1]])
        n.propose([[2]])
        XCTAssertEqual(n.ready().messages.filter { $0.to == 3 }, [], "the noop append to 3 is outstanding")
        n.step(Message(kind: .heartbeatResponse, from: 3, to: 1, term: 1))
        XCTAssertEqual(
            n.ready().messages.filter { $0.to == 3 },
            [
                Message(
                    kind: .append, from: 1, to: 3, term: 1, logTerm: 0, index: 0,
                    entries: [
                        Entry(term: 1, index: 1, kind: .noop), Entry(term: 1, index: 2, data: [1]),
                        Entry(term: 1, index: 3, data: [2])
                    ], commit: 1)
            ], "a sign of life from 3 lets exactly one probe through")
        n.propose([[3]])
        XCTAssertEqual(n.ready().messages.filter { $0.to == 3 }, [], "still probing: nothing more until 3 answers")
    }

    // §5.3 + the paper's optimisation (fast backtracking): a rejection's hint moves nextIndex back a whole term at once.
    func testRejectionHintSkipsWholeTermsWhenBacktracking() {
        // Leader log terms 1 1 1 4 4 4 4 (+ noop of term 5 at 8); follower 2 holds 1 1 1 2 2 2 3 3 3 3 3.
        var n = Paper.leader(
            config: Paper.config(1), restored: Paper.restored(term: 4, commit: 3, log: [1, 1, 1, 4, 4, 4, 4]))
        XCTAssertEqual(n.term, 5)
        XCTAssertEqual(n.nextIndex(of: 2), 8)
        n.step(
            Message(kind: .appendResponse, from: 2, to: 1, term: 5, index: 7, reject: true, rejectHint: 7, hintTerm: 3))
        XCTAssertEqual(n.nextIndex(of: 2), 4, "skips term 3 and term 2 in one round trip")
        let m = n.ready().messages
        XCTAssertEqual(
            m,
            [
                Message(
                    kind: .append, from: 1, to: 2, term: 5, logTerm: 1, index: 3,
                    entries: Paper.entries([4, 4, 4, 4], from: 4) + [Entry(term: 5, index: 8, kind: .noop)],
                    commit: 3)
            ])
    }

    // etcd Progress: a stale rejection (of an append no longer outstanding) is ignored.
    func testStaleRejectionIsIgnored() {
        var n = Paper.leader(config: Paper.config(1), restored: Paper.restored(term: 4, log: [1, 1, 1, 4]))
        n.step(
            Message(kind: .appendResponse, from: 2, to: 1, term: 5, index: 2, reject: true, rejectHint: 1, hintTerm: 1))
        XCTAssertEqual(n.nextIndex(of: 2), 5)
        XCTAssertEqual(n.ready().messages, [])
    }

    // Thesis §10.2.1 batching: maxAppendEntries bounds the entries of one append.
    func testMaxAppendEntriesBoundsOneMessage() {
        var n = Paper.leader(config: Paper.config(1, voters: [1, 2], limits: { $0.maxAppendEntries = 2 }), acked: [2])
        n.propose([[1], [2], [3], [4], [5]])
        let m = n.ready().messages
        XCTAssertEqual(m.count, 1)
        XCTAssertEqual(m.first?.entries.map(\.index), [2, 3])
    }

    // Thesis §10.2.1 batching: maxAppendBytes bounds the bytes of one append, but one entry always goes.
    func testMaxAppendBytesBoundsOneMessageButSendsAtLeastOneEntry() {
        var n = Paper.leader(config: Paper.config(1, voters: [1, 2], limits: { $0.maxAppendBytes = 100 }), acked: [2])
        n.propose([[UInt8](repeating: 1, count: 30), [UInt8](repeating: 2, count: 30), [UInt8](repeating: 3, count: 30)]
        )
        XCTAssertEqual(n.ready().messages.first?.entries.map(\.index), [2], "54 + 54 bytes exceed 100")
        var big = Paper.leader(config: Paper.config(1, voters: [1, 2], limits: { $0.maxAppendBytes = 100 }), acked: [2])
        big.propose([[UInt8](repeating: 1, count: 500)])
        XCTAssertEqual(big.ready().messages.first?.entries.map(\.index), [2], "an oversized entry still goes alone")
    }

    // MARK: Proposals on followers, bounds, membership

    // Thesis §6.2: a follower refuses, naming the leader (the client proposes there; RaftCore forwards no
    // proposal, docs/raft-core.md); with no leader it names none. Either way nothing is sent or appended.
    func testFollowerRefusesProposalNamingLeaderOrNone() {
        var n = Paper.follower(2, leader: 3, term: 1)
        XCTAssertEqual(n.propose([[5]]), .notLeader(leader: 3))
        XCTAssertEqual(n.lastIndex, 0)
        XCTAssertFalse(n.hasReady)
        var lost = Paper.follower(2, leader: noNode, term: 1)
        XCTAssertEqual(lost.propose([[5]]), .notLeader(leader: noNode))
        XCTAssertFalse(lost.hasReady)
    }

    // Bounds (thesis §10.2 flow control): proposals beyond maxUncommittedBytes are dropped until commits catch up.
    func testProposalsBeyondMaxUncommittedBytesAreDropped() {
        // noop (24 B) uncommitted
        var n = Paper.leader(config: Paper.config(1, limits: { $0.maxUncommittedBytes = 100 }))
        XCTAssertEqual(n.propose([[UInt8](repeating: 0, count: 50)]), .appended(firstIndex: 2, lastIndex: 2, term: 1))
        _ = n.ready()
        guard case .dropped = n.propose([[1]]) else { return XCTFail("98 + 25 bytes exceed 100: must be dropped") }
        XCTAssertEqual(n.lastIndex, 2)
        XCTAssertTrue(n.ready().messages.isEmpty)
        n.persisted(upTo: 2, term: 1)
        n.step(Message(kind: .appendResponse, from: 2, to: 1, term: 1, index: 2))
        XCTAssertEqual(n.commitIndex, 2)
        XCTAssertEqual(
            n.propose([[1]]), .appended(firstIndex: 3, lastIndex: 3, term: 1), "accepted again once committed")
    }

    // Membership (thesis §4.2.3): a node outside the configuration cannot raise anyone's term with (pre)vote requests.
    func testVoteRequestsFromNonMembersAreIgnored() {
        var n = RaftNode(config: Paper.config(2), restored: Paper.restored(term: 1, log: [1])) // no leader: no lease
        n.step(Message(kind: .vote, from: 9, to: 2, term: 6, logTerm: 5, index: 9))
        n.step(Message(kind: .preVote, from: 9, to: 2, term: 6, logTerm: 5, index: 9))
        assertState(n, role: .follower, term: 1, vote: noNode, leader: noNode)
        XCTAssertFalse(n.hasReady, "no vote, no response, nothing to persist")
    }

    // Membership: acknowledgements from a node outside the configuration count for nothing.
    func testLeaderIgnoresAcknowledgementsFromNonMembers() {
        var n = Paper.leader(config: Paper.config(1))
        n.step(Message(kind: .appendResponse, from: 9, to: 1, term: 1, index: 1))
        n.step(Message(kind: .appendResponse, from: 8, to: 1, term: 1, index: 1))
        XCTAssertNil(n.matchIndex(of: 9))
        XCTAssertEqual(n.commitIndex, 0, "two non-members plus the leader are not a majority of {1, 2, 3}")
        XCTAssertEqual(n.role, .leader)
    }

    // MARK: Learners (thesis §4.2.1)

    // Thesis §4.2.1: a learner never campaigns, however long it goes without a leader.
    func testLearnerNeverCampaigns() {
        var n = RaftNode(config: Paper.config(4, voters: [1, 2, 3], learners: [4]))
        for _ in 0..<1000 { n.tick() }
        assertState(n, role: .follower, term: 0, vote: noNode, leader: noNode)
        XCTAssertFalse(n.hasReady)
        n.campaign()
        XCTAssertFalse(n.hasReady, "even an explicit campaign is refused")
    }

    // Thesis §4.2.1: a learner receives and acknowledges the log like a follower.
    func testLearnerAppendsEntriesFromLeader() {
        var n = Paper.follower(4, leader: 1, term: 1, config: Paper.config(4, voters: [1, 2, 3], learners: [4]))
        n.step(Message(kind: .append, from: 1, to: 4, term: 1, entries: Paper.entries([1, 1]), commit: 1))
        XCTAssertEqual(n.entries, Paper.entries([1, 1]))
        XCTAssertEqual(n.commitIndex, 1)
        XCTAssertEqual(n.ready().messages, [Message(kind: .appendResponse, from: 4, to: 1, term: 1, index: 2)])
    }

    // Thesis §4.2.1: learners are not counted for commitment; a 3-voter + learner leader commits with 2 voters.
    func testLearnerIsNotCountedForCommit() {
        var n = Paper.leader(config: Paper.config(1, voters: [1, 2, 3], learners: [4]))
        n.step(Message(kind: .appendResponse, from: 4, to: 1, term: 1, index: 1))
        XCTAssertEqual(n.matchIndex(of: 4), 1)
        XCTAssertEqual(n.commitIndex, 0, "leader + learner is not a majority of the voters")
        n.step(Message(kind: .appendResponse, from: 2, to: 1, term: 1, index: 1))
        XCTAssertEqual(n.commitIndex, 1, "leader + voter 2 is a majority of three voters")
    }
}
