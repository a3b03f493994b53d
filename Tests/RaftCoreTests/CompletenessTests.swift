import RaftCore
import XCTest

/// Paper-rule style tests for compaction and snapshots (§7), membership changes one server at a time
/// (thesis §4.1), leadership transfer (thesis §3.10) and lease reads (thesis §6.4.1): one node, one
/// input, then its state and the messages it produces.
final class CompletenessTests: XCTestCase {
    /// A leader of [1, 2, 3] (+ learners) whose log is `count` entries past the noop, all acknowledged
    /// by `acked`, applied and optionally compacted at `compactAt`.
    private func leaderWithLog(
        count: Int, acked: [NodeID] = [2, 3], learners: [NodeID] = [],
        compactAt: LogIndex? = nil, limits: (inout RaftLimits) -> Void = { _ in }
    ) -> RaftNode {
        var n = Paper.leader(config: Paper.config(1, learners: learners, limits: limits), acked: acked)
        if count > 0 { n.propose((0..<count).map { [UInt8($0)] }) }
        Paper.settle(&n)
        for p in acked { n.step(Message(kind: .appendResponse, from: p, to: 1, term: n.term, index: n.lastIndex)) }
        Paper.settle(&n)
        if let at = compactAt { XCTAssertNotNil(n.compact(upTo: at, data: Array(repeating: 7, count: 300))) }
        return n
    }

    // MARK: Compaction and snapshots

    // §7: compaction drops applied entries and remembers the last one's index and term.
    func testCompactionDropsAppliedPrefixAndKeepsItsTerm() {
        var n = leaderWithLog(count: 4)
        XCTAssertEqual(n.appliedIndex, 5)
        XCTAssertNil(n.compact(upTo: 6, data: []), "an unapplied index cannot be compacted")
        let snap = n.compact(upTo: 4, data: [1, 2, 3])
        XCTAssertEqual(snap?.index, 4)
        XCTAssertEqual(snap?.term, n.term)
        XCTAssertEqual(snap?.checksum, Checksum.of([1, 2, 3]))
        XCTAssertEqual(snap?.membership, Membership(voters: [1, 2, 3]))
        XCTAssertEqual(n.firstIndex, 5)
        XCTAssertNil(n.entry(at: 4))
        XCTAssertEqual(n.term(at: 4), n.term)
        XCTAssertNil(n.compact(upTo: 3, data: []), "compaction never goes back")
    }

    // §7: a peer that needs compacted entries receives the snapshot, in chunks of at most maxSnapshotChunkBytes.
    func testLeaderSendsSnapshotInBoundedChunksToPeerBehindCompaction() throws {
        var n = leaderWithLog(
            count: 4, acked: [2], learners: [4], compactAt: 5, limits: { $0.maxSnapshotChunkBytes = 128 })
        // Learner 4 rejects the probe of its first entry: what it needs is compacted away.
        n.step(Message(kind: .appendResponse, from: 4, to: 1, term: n.term, index: 0, reject: true, rejectHint: 0))
        let m = try XCTUnwrap(Paper.messages(&n).first { $0.to == 4 })
        XCTAssertEqual(m.kind, .snapshot)
        let c = try XCTUnwrap(m.snapshot)
        XCTAssertEqual(c.index, 5)
        XCTAssertEqual(c.offset, 0)
        XCTAssertEqual(c.total, 300)
        XCTAssertEqual(c.data.count, 128)
        XCTAssertEqual(c.membership, Membership(voters: [1, 2, 3], learners: [4]))
        // The learner asks for the next chunk; the leader resumes there.
        n.step(Message(kind: .snapshotResponse, from: 4, to: 1, term: n.term, logTerm: c.term, index: 5, context: 128))
        let next = try XCTUnwrap(Paper.messages(&n).first { $0.to == 4 }?.snapshot)
        XCTAssertEqual(next.offset, 128)
        XCTAssertEqual(next.data.count, 128)
        // Completion is an ordinary acknowledgement: the leader streams entries after the snapshot.
        n.step(Message(kind: .appendResponse, from: 4, to: 1, term: n.term, index: 5))
        XCTAssertEqual(n.matchIndex(of: 4), 5)
        let after = Paper.messages(&n).filter { $0.to == 4 }
        XCTAssertTrue(after.contains { $0.kind == .append && $0.index == 5 }, "\(after)")
    }

    private func chunks(of snap: Snapshot, size: Int) -> [SnapshotChunk] {
        stride(from: 0, to: snap.data.count, by: size).map {
            SnapshotChunk(
                index: snap.index, term: snap.term, membership: snap.membership, offset: $0,
                total: snap.data.count, checksum: snap.checksum,
                data: Array(snap.data[$0..<min($0 + size, snap.data.count)]))
        }
    }

    // §7 InstallSnapshot receiver: chunks are acknowledged with the resume offset; the last one installs.
    func testFollowerInstallsSnapshotAfterLastChunkAndAcknowledgesIt() {
        var f = Paper.follower(2, leader: 1, term: 2, log: [1, 1], commit: 1)
        let snap = Snapshot(
            index: 9, term: 2, membership: Membership(voters: [1, 2, 3], learners: [4]), data: Array(0..<200))
        let parts = chunks(of: snap, size: 64)
        f.step(Message(kind: .snapshot, from: 1, to: 2, term: 2, snapshot: parts[0]))
        XCTAssertEqual(
            Paper.messages(&f),
            [Message(kind: .snapshotResponse, from: 2, to: 1, term: 2, logTerm: 2, index: 9, context: 64)])
        // A lost chunk: the next one arrives out of order and is answered with where to resume.
        f.step(Message(kind: .snapshot, from: 1, to: 2, term: 2, snapshot: parts[2]))
        XCTAssertEqual(Paper.messages(&f).first?.context, 64)
        for p in parts.dropFirst() { f.step(Message(kind: .snapshot, from: 1, to: 2, term: 2, snapshot: p)) }
        let r = f.ready()
        XCTAssertEqual(r.snapshot, snap)
        XCTAssertEqual(r.messages.last, Message(kind: .appendResponse, from: 2, to: 1, term: 2, index: 9))
        XCTAssertEqual(r.hardState?.commit, 9)
        XCTAssertEqual(f.firstIndex, 10)
        XCTAssertEqual(f.commitIndex, 9)
        XCTAssertEqual(f.appliedIndex, 9)
        XCTAssertEqual(f.membership, snap.membership)
    }

    // A snapshot whose bytes do not match its checksum is never installed; the sender must start over.
    func testCorruptSnapshotIsRejectedAndNotInstalled() {
        var f = Paper.follower(2, leader: 1, term: 2, log: [1], commit: 1)
        let snap = Snapshot(index: 9, term: 2, membership: Membership(voters: [1, 2, 3]), data: Array(0..<50))
        var bad = chunks(of: snap, size: 64)[0]
        bad.data[10] ^= 0xff
        f.step(Message(kind: .snapshot, from: 1, to: 2, term: 2, snapshot: bad))
        let r = f.ready()
        XCTAssertNil(r.snapshot)
        XCTAssertEqual(
            r.messages, [Message(kind: .snapshotResponse, from: 2, to: 1, term: 2, logTerm: 2, index: 9, reject: true)])
        XCTAssertEqual(f.commitIndex, 1)
    }

    // A node never installs a snapshot older than what it has committed.
    func testSnapshotAtOrBelowCommitIsNotInstalled() {
        var f = Paper.follower(2, leader: 1, term: 2, log: [1, 1, 2, 2], commit: 4)
        let snap = Snapshot(index: 3, term: 2, membership: Membership(voters: [1, 2, 3]), data: [1])
        f.step(Message(kind: .snapshot, from: 1, to: 2, term: 2, snapshot: chunks(of: snap, size: 64)[0]))
        let r = f.ready()
        XCTAssertNil(r.snapshot)
        XCTAssertEqual(r.messages, [Message(kind: .appendResponse, from: 2, to: 1, term: 2, index: 4)])
        XCTAssertEqual(f.lastIndex, 4)
    }

    // A restarted node starts from its snapshot: membership, compaction point and applied index.
    func testRestartFromSnapshotRestoresMembershipAndOffset() {
        let snap = Snapshot(index: 7, term: 3, membership: Membership(voters: [1, 2, 3], learners: [9]), data: [1, 2])
        let n = RaftNode(
            config: Paper.config(9, learners: [9]),
            restored: RestoredState(
                hardState: HardState(term: 3, commit: 7),
                entries: Paper.entries([3, 3], from: 8), snapshot: snap))
        XCTAssertEqual(n.firstIndex, 8)
        XCTAssertEqual(n.lastIndex, 9)
        XCTAssertEqual(n.appliedIndex, 7)
        XCTAssertEqual(n.term(at: 7), 3)
        XCTAssertEqual(n.membership, snap.membership)
        XCTAssertEqual(n.snapshot, snap)
    }

    // MARK: Membership changes

    // Thesis §4.1: a configuration entry takes effect as soon as it is appended; the new member gets progress.
    func testAddLearnerTakesEffectOnAppendAndReplicatesToIt() {
        var n = leaderWithLog(count: 0)
        let r = n.proposeMembershipChange(.addLearner(4))
        guard case .appended(let i, _, _) = r else { return XCTFail("\(r)") }
        XCTAssertEqual(n.membership, Membership(voters: [1, 2, 3], learners: [4]))
        XCTAssertEqual(n.entry(at: i)?.kind, .config)
        XCTAssertEqual(Membership.decode(n.entry(at: i)!.data), n.membership)
        XCTAssertTrue(Paper.messages(&n).contains { $0.to == 4 && $0.kind == .append })
    }

    // One change at a time: a second change waits until the first is committed.
    func testSecondMembershipChangeIsRefusedWhileFirstIsUncommitted() {
        var n = leaderWithLog(count: 0)
        _ = n.proposeMembershipChange(.addLearner(4))
        guard case .dropped(let why) = n.proposeMembershipChange(.addLearner(5)) else { return XCTFail() }
        XCTAssertTrue(why.contains("not committed"), why)
    }

    // The single-server fix: no change before the leader has committed an entry of its own term.
    func testNoMembershipChangeBeforeCommitInLeadersTerm() {
        var n = Paper.leader(config: Paper.config(1)) // nobody acknowledged the noop
        guard case .dropped(let why) = n.proposeMembershipChange(.addLearner(4)) else { return XCTFail() }
        XCTAssertTrue(why.contains("has not committed"), why)
    }

    // A learner is promoted only once it holds everything committed.
    func testPromotionRequiresCaughtUpLearner() {
        var n = leaderWithLog(count: 3, acked: [2, 3], learners: [4])
        guard case .dropped(let why) = n.proposeMembershipChange(.promote(4)) else { return XCTFail() }
        XCTAssertTrue(why.contains("has not caught up"), why)
        n.step(Message(kind: .appendResponse, from: 4, to: 1, term: n.term, index: n.lastIndex))
        Paper.settle(&n)
        guard case .appended = n.proposeMembershipChange(.promote(4)) else { return XCTFail() }
        XCTAssertEqual(n.membership.voters, [1, 2, 3, 4])
        XCTAssertEqual(n.membership.quorum, 3)
    }

    // Thesis §4.2.2: a leader that removed itself keeps leading until the change commits, then steps down.
    func testLeaderThatRemovesItselfStepsDownOnceCommitted() {
        var n = leaderWithLog(count: 0)
        guard case .appended(let i, _, _) = n.proposeMembershipChange(.remove(1)) else { return XCTFail() }
        XCTAssertEqual(n.role, .leader)
        Paper.settle(&n)
        n.step(Message(kind: .appendResponse, from: 2, to: 1, term: n.term, index: i))
        XCTAssertEqual(n.role, .leader, "one of two remaining voters is not a majority")
        n.step(Message(kind: .appendResponse, from: 3, to: 1, term: n.term, index: i))
        XCTAssertEqual(n.commitIndex, i)
        XCTAssertEqual(n.role, .follower)
        // It told the others the commit index before stepping down, and never campaigns again.
        XCTAssertTrue(Paper.messages(&n).contains { $0.kind == .append && $0.commit == i })
        for _ in 0..<100 { n.tick() }
        XCTAssertEqual(n.role, .follower)
    }

    // A removed node cannot disrupt: its (pre)vote requests are ignored and change nobody's term.
    func testVoteRequestFromRemovedNodeChangesNothing() {
        var f = Paper.follower(2, leader: noNode, term: 3, log: [3])
        f.step(Message(kind: .vote, from: 9, to: 2, term: 7, logTerm: 3, index: 5))
        f.step(Message(kind: .preVote, from: 9, to: 2, term: 8, logTerm: 3, index: 5))
        XCTAssertEqual(f.term, 3)
        XCTAssertEqual(f.vote, noNode)
        XCTAssertFalse(f.hasReady)
    }

    // A follower follows the newest configuration in its log, and reverts when that entry is overwritten.
    func testFollowerRevertsMembershipWhenConfigEntryIsTruncated() {
        var f = Paper.follower(2, leader: 1, term: 1, log: [1])
        let cfg = Entry(term: 1, index: 2, kind: .config, data: Membership(voters: [1, 2, 3, 4]).encoded())
        f.step(Message(kind: .append, from: 1, to: 2, term: 1, logTerm: 1, index: 1, entries: [cfg]))
        XCTAssertEqual(f.membership.voters, [1, 2, 3, 4])
        // A new leader of term 2 overwrites index 2.
        f.step(
            Message(kind: .append, from: 3, to: 2, term: 2, logTerm: 1, index: 1, entries: [Entry(term: 2, index: 2)]))
        XCTAssertEqual(f.membership.voters, [1, 2, 3])
    }

    // MARK: Leadership transfer

    // Thesis §3.10: a caught-up target is told to campaign at once; proposals are refused meanwhile.
    func testTransferToCaughtUpVoterSendsTimeoutNow() {
        var n = leaderWithLog(count: 2)
        XCTAssertEqual(n.transferLeadership(to: 2), .started(to: 2))
        XCTAssertEqual(Paper.messages(&n), [Message(kind: .timeoutNow, from: 1, to: 2, term: n.term)])
        guard case .dropped = n.propose([[1]]) else { return XCTFail("proposals must wait during a transfer") }
        XCTAssertEqual(n.transferLeadership(to: 9), .refused(reason: "node 9 is not a voter"))
    }

    // A target that is behind is caught up first; TimeoutNow follows its acknowledgement.
    func testTransferToLaggingVoterCatchesItUpFirst() {
        var n = leaderWithLog(count: 2, acked: [3])
        XCTAssertEqual(n.transferLeadership(to: 2), .started(to: 2))
        XCTAssertFalse(Paper.messages(&n).contains { $0.kind == .timeoutNow })
        n.step(Message(kind: .appendResponse, from: 2, to: 1, term: n.term, index: n.lastIndex))
        XCTAssertTrue(Paper.messages(&n).contains { $0.kind == .timeoutNow && $0.to == 2 })
    }

    // An unfinished transfer is abandoned after an election timeout; proposals flow again.
    func testTransferIsAbandonedAfterElectionTimeout() {
        var n = leaderWithLog(count: 0, acked: [3])
        _ = n.transferLeadership(to: 2)
        for _ in 0..<10 {
            n.tick()
            // Keep the quorum alive so that CheckQuorum does not depose the leader meanwhile.
            n.step(Message(kind: .heartbeatResponse, from: 3, to: 1, term: n.term))
        }
        XCTAssertEqual(n.transferee, noNode)
        guard case .appended = n.propose([[1]]) else { return XCTFail() }
    }

    // TimeoutNow: the target campaigns without PreVote and its requests carry the transfer context,
    // which voters honour even while they still hear from the old leader.
    func testTimeoutNowStartsForcedElectionThatBypassesTheLease() {
        var target = Paper.follower(2, leader: 1, term: 4, log: [4])
        target.step(Message(kind: .timeoutNow, from: 1, to: 2, term: 4))
        XCTAssertEqual(target.role, .candidate)
        XCTAssertEqual(target.term, 5)
        let votes = Paper.messages(&target).filter { $0.kind == .vote }
        XCTAssertEqual(votes.map(\.to), [1, 3])
        XCTAssertTrue(votes.allSatisfy { $0.context == transferContext })

        var voter = Paper.follower(3, leader: 1, term: 4, log: [4])
        voter.step(Message(kind: .vote, from: 2, to: 3, term: 5, logTerm: 4, index: 1, context: transferContext))
        XCTAssertEqual(voter.vote, 2)
        XCTAssertEqual(Paper.messages(&voter), [Message(kind: .voteResponse, from: 3, to: 2, term: 5)])
        var other = Paper.follower(3, leader: 1, term: 4, log: [4])
        other.step(Message(kind: .vote, from: 2, to: 3, term: 5, logTerm: 4, index: 1))
        XCTAssertEqual(other.term, 4, "without the transfer context the lease holds")
    }

    // MARK: Lease reads

    private func leaseConfig() -> RaftConfig {
        var c = Paper.config(1)
        c.readMode = .lease(driftMarginTicks: 2)
        return c
    }

    // Thesis §6.4.1: within its lease the leader answers at once; the lease lasts electionTicks - margin
    // from the sending of the last heartbeat a quorum acknowledged.
    func testLeaseReadIsAnsweredWithoutRoundWhileLeaseHolds() {
        var n = Paper.leader(config: leaseConfig(), acked: [2, 3])
        n.tick() // heartbeat round sent at leader tick 1
        let round = Paper.messages(&n).first { $0.kind == .heartbeat }!.context
        n.step(Message(kind: .heartbeatResponse, from: 2, to: 1, term: n.term, context: round))
        XCTAssertEqual(n.readIndex(context: 42), .pending)
        let r = n.ready()
        XCTAssertEqual(r.readStates, [ReadState(index: n.commitIndex, context: 42)])
        XCTAssertFalse(r.messages.contains { $0.kind == .heartbeat }, "no confirmation round needed")
    }

    func testLeaseReadFallsBackToReadIndexWhenLeaseExpired() {
        var n = Paper.leader(config: leaseConfig(), acked: [2, 3])
        n.tick()
        let round = Paper.messages(&n).first { $0.kind == .heartbeat }!.context
        n.step(Message(kind: .heartbeatResponse, from: 2, to: 1, term: n.term, context: round))
        for _ in 0..<7 {
            n.tick()
            n.step(Message(kind: .appendResponse, from: 3, to: 1, term: n.term, index: n.lastIndex))
        }
        _ = n.ready()
        // Tick 8: 1 + 10 - 2 = 9 is the lease's end, so it still holds; at tick 9 it does not.
        n.tick()
        _ = n.ready()
        XCTAssertEqual(n.readIndex(context: 1), .pending)
        let r = n.ready()
        XCTAssertTrue(r.readStates.isEmpty)
        XCTAssertTrue(r.messages.contains { $0.kind == .heartbeat }, "expired lease: a ReadIndex round")
    }

    func testNoLeaseReadsAfterLeadershipTransferStarted() {
        var n = Paper.leader(config: leaseConfig(), acked: [2, 3])
        n.tick()
        let round = Paper.messages(&n).first { $0.kind == .heartbeat }!.context
        n.step(Message(kind: .heartbeatResponse, from: 2, to: 1, term: n.term, context: round))
        _ = n.transferLeadership(to: 3)
        _ = n.ready()
        XCTAssertEqual(n.readIndex(context: 5), .pending)
        XCTAssertTrue(n.ready().readStates.isEmpty)
    }

    func testLeaseModeNeedsCheckQuorumAndASaneMargin() {
        var c = leaseConfig()
        c.checkQuorum = false
        XCTAssertThrowsError(try c.validate())
        c.checkQuorum = true
        c.readMode = .lease(driftMarginTicks: 6)
        XCTAssertThrowsError(try c.validate())
        c.readMode = .lease(driftMarginTicks: 2)
        XCTAssertNoThrow(try c.validate())
    }

    // A freshly started node in lease mode grants no vote for one election timeout: it may have
    // acknowledged a leader's lease just before it restarted.
    func testNewNodeInLeaseModeGrantsNoVoteForOneElectionTimeout() throws {
        func node(_ seed: UInt64) -> RaftNode {
            var c = Paper.config(3, seed: seed)
            c.readMode = .lease(driftMarginTicks: 2)
            return RaftNode(config: c, restored: Paper.restored(term: 1, log: [1]))
        }
        let seed = try XCTUnwrap(Paper.seed(where: node, timeoutAbove: 10))
        var n = node(seed)
        n.step(Message(kind: .vote, from: 2, to: 3, term: 2, logTerm: 1, index: 1))
        XCTAssertEqual(n.term, 1, "ignored during the start-up quiet period")
        XCTAssertEqual(n.vote, noNode)
        for _ in 0..<10 { n.tick() }
        XCTAssertEqual(n.role, .follower)
        n.step(Message(kind: .vote, from: 2, to: 3, term: 2, logTerm: 1, index: 1))
        XCTAssertEqual(n.vote, 2, "granted once an election timeout has passed")
    }
}
