import XCTest

@testable import RaftCore
@testable import RaftSimulation

/// Issue 22: the scenario families reach the states they are for, each new check fails on a planted
/// bug, and a stuck liveness phase ends with a verdict at once. (The mutation harness,
/// `tools/mutate-raft`, shows which one-line core bugs the families and checks catch.)
final class ScenarioTests: XCTestCase {

    // MARK: - The families reach their states

    func testScenarioFamiliesReachTheStatesTheyAreFor() {
        var total = Coverage()
        // 50 seeds: since the clients propose at the leader a refusal names (issue 17, no Raft-level
        // forwarding) the histories differ, and 22001...22030 happen to give no snapshot across a
        // membership change (over 300 seeds the family occurs more often than before: 726 against 535);
        // since half the seeds heartbeat learners once per election timeout (issue 16) 22001...22040 give
        // exactly 5.
        for seed in UInt64(22001)...22050 {
            let r = Simulation.run(seed: seed)
            XCTAssertEqual(
                r.violations, [], "seed \(seed); replay with tools/simulate --seeds 1 --start \(seed) --trace")
            let c = r.coverage
            total.lagTransfers += c.lagTransfers
            total.refusedTransfers += c.refusedTransfers
            total.staleTimeoutNow += c.staleTimeoutNow
            total.staleLeaderMessages += c.staleLeaderMessages
            total.longerFollowerAppends += c.longerFollowerAppends
            total.suffixesOverwritten += c.suffixesOverwritten
            total.earlyMembershipChanges += c.earlyMembershipChanges
            total.snapshotsAcrossMembership += c.snapshotsAcrossMembership
            total.readsReleased += c.readsReleased
            total.readsAtDeposedLeader += c.readsAtDeposedLeader
            total.delayedMessages += c.delayedMessages
        }
        // Each family must actually produce its state, or its checks pass vacuously.
        XCTAssertGreaterThan(total.lagTransfers, 20, "transfers to lagging voters")
        XCTAssertGreaterThan(total.refusedTransfers, 5, "transfers to non-voters, refused")
        XCTAssertGreaterThan(total.staleTimeoutNow, 5, "TimeoutNow from an older term")
        XCTAssertGreaterThan(total.staleLeaderMessages, 20, "deposed leaders still sending")
        XCTAssertGreaterThan(total.longerFollowerAppends, 20, "followers longer than the append")
        XCTAssertGreaterThan(total.suffixesOverwritten, 10, "divergent suffixes overwritten")
        XCTAssertGreaterThan(total.earlyMembershipChanges, 5, "changes racing a new leader's first commit")
        XCTAssertGreaterThan(total.snapshotsAcrossMembership, 5, "snapshots for another configuration")
        XCTAssertGreaterThan(total.readsReleased, 100, "reads checked against their rounds")
        XCTAssertGreaterThan(total.readsAtDeposedLeader, 5, "reads at deposed leaders")
        XCTAssertGreaterThan(total.delayedMessages, 100, "held messages")
    }

    func testScenarioSeedsReplayIdentically() {
        var o = SimulationOptions()
        o.recordTrace = true
        for seed in [UInt64(22007), 22031] {
            let a = Simulation.run(seed: seed, options: o)
            let b = Simulation.run(seed: seed, options: o)
            XCTAssertEqual(a.traceHash, b.traceHash)
            XCTAssertEqual(a.trace, b.trace)
            XCTAssertEqual(a.coverage, b.coverage)
        }
    }

    // MARK: - Each new check fails on a planted bug

    /// A simulation brought to a point where a leader and a follower in its term agree on a log.
    private func settledCluster(voters: Int = 3) -> (sim: Simulation, leader: Int, follower: Int) {
        var o = SimulationOptions()
        o.voters = voters
        o.learners = 0
        o.spares = 0
        o.scenarios = false
        o.varyFeatures = false
        var sim = Simulation(seed: 5, options: o)
        for _ in 0..<200 {
            for i in sim.nodes.indices { sim.tick(i) }
            sim.drain()
            sim.checkAll()
            if let l = sim.nodes.indices.first(where: { sim.nodes[$0].raft?.role == .leader }),
                sim.nodes[l].raft!.commitIndex >= 1
            {
                let f = l == 0 ? 1 : 0
                XCTAssertEqual(sim.checker.violations, [])
                return (sim, l, f)
            }
        }
        XCTFail("no leader")
        return (sim, 0, 1)
    }

    func testCheckerFlagsAMatchIndexBeyondTheFollowersLog() {
        var (sim, l, f) = settledCluster()
        sim.checkMatchIndexes()
        XCTAssertEqual(sim.checker.violations, [])
        let peer = sim.nodes[f].id
        // Planted: the leader believes the follower holds more than it does (an ack of the wrong index).
        sim.nodes[l].raft!.progress[peer]!.match = sim.nodes[f].raft!.lastIndex + 2
        sim.checkMatchIndexes()
        XCTAssertTrue(
            sim.checker.violations.contains { $0.contains("match index") && $0.contains("whose log ends") },
            "\(sim.checker.violations)")
    }

    func testCheckerFlagsAMatchIndexOnADivergentEntry() {
        var (sim, l, f) = settledCluster()
        let peer = sim.nodes[f].id
        let leaderLast = sim.nodes[l].raft!.lastIndex
        // Planted: the follower's entry at the match index is of another term (a divergent suffix).
        var r = sim.nodes[f].raft!
        XCTAssertEqual(r.firstIndex, 1)
        XCTAssertEqual(r.lastIndex, leaderLast)
        let changed = r.entries.map { $0.index == leaderLast ? Entry(term: $0.term + 7, index: $0.index) : $0 }
        r.log = RaftLog(offset: 0, offsetTerm: 0, entries: changed, committed: leaderLast - 1, applied: 0)
        sim.nodes[f].raft = r
        sim.nodes[l].raft!.progress[peer]!.match = leaderLast
        sim.checkMatchIndexes()
        XCTAssertTrue(
            sim.checker.violations.contains { $0.contains("match index") && $0.contains("which holds term") },
            "\(sim.checker.violations)")
    }

    func testCheckerFlagsAConfigurationTheLogDoesNotImply() {
        var n = Paper.leader(config: Paper.config(1, voters: [1]))
        var checker = InvariantChecker(membership: Membership(voters: [1]))
        checker.observe(n, step: 1)
        XCTAssertEqual(checker.violations, [])
        n.membership = Membership(voters: [1], learners: [2]) // planted: not what the log says
        checker.observe(n, step: 2)
        XCTAssertTrue(
            checker.violations.contains { $0.contains("configuration: node 1 uses") }, "\(checker.violations)")
    }

    func testCheckerFlagsAConfigurationChangeBeforeTheLeadersFirstCommit() {
        // A single voter elected in term 1 whose noop is not yet durable, so nothing of term 1 is committed.
        var n = RaftNode(config: Paper.config(1, voters: [1]))
        n.campaign()
        XCTAssertEqual(n.role, .leader)
        XCTAssertEqual(n.commitIndex, 0)
        XCTAssertEqual(
            n.proposeMembershipChange(.addLearner(2)),
            .dropped(reason: "the leader has not committed an entry of its term yet"), "the core refuses")
        // Planted: the entry the core refused.
        let m = Membership(voters: [1], learners: [2])
        n.log.appendNew([Entry(term: 1, index: 2, kind: .config, data: m.encoded())])
        n.noteLogChange(from: 2)
        var checker = InvariantChecker(membership: Membership(voters: [1]))
        checker.observe(n, step: 1)
        XCTAssertTrue(
            checker.violations.contains { $0.contains("before its leader committed an entry of that term") },
            "\(checker.violations)")
    }

    func testCheckerFlagsAConfigurationChangeWhileOneIsPending() {
        var n = Paper.leader(config: Paper.config(1, voters: [1]))
        XCTAssertEqual(n.commitIndex, 1)
        guard case .appended = n.proposeMembershipChange(.addLearner(2)) else { return XCTFail("refused") }
        // Planted: a second change while the first (index 2) is uncommitted.
        let m = Membership(voters: [1], learners: [2, 3])
        n.log.appendNew([Entry(term: 1, index: 3, kind: .config, data: m.encoded())])
        n.noteLogChange(from: 3)
        var checker = InvariantChecker(membership: Membership(voters: [1]))
        checker.observe(n, step: 1)
        XCTAssertTrue(
            checker.violations.contains { $0.contains("appended while the change at 2 was uncommitted") },
            "\(checker.violations)")
    }

    func testCheckerFlagsASnapshotWhoseMembershipTheCommittedLogDoesNotHave() {
        let n = Paper.leader(config: Paper.config(1, voters: [1]))
        var checker = InvariantChecker(membership: Membership(voters: [1]))
        checker.observe(n, step: 1)
        XCTAssertEqual(n.commitIndex, 1)
        var machine = HashStateMachine()
        machine.apply(n.entry(at: 1)!)
        let good = Snapshot(index: 1, term: 1, membership: Membership(voters: [1]), data: machine.snapshotData())
        checker.snapshotInstalled(node: 1, snapshot: good, digest: machine.stateDigest, step: 2)
        XCTAssertEqual(checker.violations, [])
        let bad = Snapshot(index: 1, term: 1, membership: Membership(voters: [1, 2]), data: machine.snapshotData())
        checker.snapshotInstalled(node: 1, snapshot: bad, digest: machine.stateDigest, step: 3)
        XCTAssertTrue(
            checker.violations.contains { $0.contains("snapshot 1 with membership") }, "\(checker.violations)")
    }

    func testCheckerFlagsAReadConfirmedByARoundSentBeforeItArrived() {
        var (sim, l, _) = settledCluster(voters: 5)
        // Let a heartbeat round go out and be acknowledged by everyone.
        for _ in 0..<3 {
            for i in sim.nodes.indices { sim.tick(i) }
            sim.drain()
        }
        let leader = sim.nodes[l].raft!
        XCTAssertFalse((sim.roundAcked[leader.id]?.acks ?? [:]).isEmpty, "acks were recorded")
        sim.noteReadArrived(at: leader, context: 9001)
        // Planted: the leader releases the read at once, on the strength of the acks it already had.
        let rd = Ready(
            softState: nil, hardState: nil, entries: [], messages: [], committedEntries: [],
            readStates: [ReadState(index: leader.commitIndex, context: 9001)])
        sim.checkReadRounds(leader, rd)
        XCTAssertTrue(
            sim.checker.violations.contains {
                $0.contains("read 9001 released by leader") && $0.contains("confirming a round")
            },
            "\(sim.checker.violations)")
        // And a read the leader was never asked in this term.
        let stray = Ready(
            softState: nil, hardState: nil, entries: [], messages: [], committedEntries: [],
            readStates: [ReadState(index: leader.commitIndex, context: 4242)])
        sim.checkReadRounds(leader, stray)
        XCTAssertTrue(
            sim.checker.violations.contains { $0.contains("which it never received") }, "\(sim.checker.violations)")
    }

    func testReadRoundCheckPassesAReadConfirmedByALaterRound() {
        var (sim, l, _) = settledCluster(voters: 5)
        let id = sim.nodes[l].id
        sim.read(l)
        var released = false
        for _ in 0..<5 where !released {
            sim.drain()
            released = sim.coverage.readsReleased > 0
            for i in sim.nodes.indices { sim.tick(i) }
        }
        XCTAssertTrue(released, "the read at leader \(id) was released")
        XCTAssertEqual(sim.checker.violations, [])
    }

    private func ready(_ messages: [Message]) -> Ready {
        Ready(softState: nil, hardState: nil, entries: [], messages: messages, committedEntries: [], readStates: [])
    }

    func testCheckerFlagsATimeoutNowSentToALaggingTarget() {
        var (sim, l, f) = settledCluster()
        let target = sim.nodes[f].id
        var leader = sim.nodes[l].raft!
        sim.checkCampaignsAndTransfers(
            leader, ready([Message(kind: .timeoutNow, from: leader.id, to: target, term: leader.term)]))
        XCTAssertEqual(sim.checker.violations, [], "the target is caught up")
        leader.propose([[7]]) // planted: the leader has an entry the target lacks, and tells it to campaign anyway
        sim.checkCampaignsAndTransfers(
            leader, ready([Message(kind: .timeoutNow, from: leader.id, to: target, term: leader.term)]))
        XCTAssertTrue(
            sim.checker.violations.contains { $0.contains("lacks the leader's last entry") },
            "\(sim.checker.violations)")
    }

    func testCheckerFlagsATransferCampaignWithoutATimeoutNowOfThePreviousTerm() {
        var (sim, _, f) = settledCluster()
        let n = sim.nodes[f].raft!
        let vote = Message(kind: .vote, from: n.id, to: 99, term: n.term + 1, context: transferContext)
        sim.timeoutNowDelivered.insert(.init(node: n.id, term: n.term))
        sim.checkCampaignsAndTransfers(n, ready([vote]))
        XCTAssertEqual(sim.checker.violations, [], "told to campaign by the leader of its term")
        sim.timeoutNowDelivered = [] // planted: it campaigns on a TimeoutNow of an older term (or none)
        sim.checkCampaignsAndTransfers(n, ready([vote]))
        XCTAssertTrue(
            sim.checker.violations.contains { $0.contains("as a transfer target without a TimeoutNow") },
            "\(sim.checker.violations)")
    }

    func testCheckerFlagsACampaignByANonVoter() {
        var (sim, _, _) = settledCluster()
        let learner = RaftNode(config: Paper.config(3, voters: [1, 2], learners: [3]))
        sim.checkCampaignsAndTransfers(learner, ready([Message(kind: .preVote, from: 3, to: 1, term: 1)]))
        XCTAssertTrue(
            sim.checker.violations.contains { $0.contains("not a voter of its configuration") },
            "\(sim.checker.violations)")
    }

    // MARK: - A stuck run ends with a verdict at once

    private func stuckCluster(_ configure: (inout SimulationOptions) -> Void) -> Simulation {
        var o = SimulationOptions()
        o.faultSteps = 300
        configure(&o)
        var sim = Simulation(seed: 11, options: o)
        while sim.step < o.faultSteps && sim.checker.violations.isEmpty {
            sim.step += 1
            sim.faultStep()
            sim.checkAll()
        }
        XCTAssertEqual(sim.checker.violations, [])
        // Planted: three of the five voters are gone for good, so no quorum can ever form.
        for i in 0..<3 {
            sim.crash(i)
            sim.nodes[i].provisioned = false
        }
        return sim
    }

    func testStuckClusterEndsWithALivenessVerdictWithinTheStallBound() {
        var sim = stuckCluster { _ in }
        let clock = ContinuousClock()
        let t0 = clock.now
        sim.livenessPhase()
        XCTAssertLessThan(clock.now - t0, .seconds(3))
        XCTAssertTrue(
            sim.checker.violations.contains { $0.contains("liveness: stuck after healing (no commit") },
            "\(sim.checker.violations)")
        XCTAssertLessThanOrEqual(sim.livenessRounds, sim.options.stallRounds + 1)
        XCTAssertLessThan(sim.livenessRounds, sim.options.livenessRounds)
    }

    func testLivenessPhaseStopsAtItsWallAndDeliveryBudgets() {
        var sim = stuckCluster { $0.livenessWallSeconds = 0 }
        sim.livenessPhase()
        XCTAssertTrue(sim.checker.violations.contains { $0.contains("s of wall time") }, "\(sim.checker.violations)")
        var sim2 = stuckCluster { $0.livenessDeliveryBudget = 5 }
        sim2.livenessPhase()
        XCTAssertTrue(
            sim2.checker.violations.contains { $0.contains("messages delivered") }, "\(sim2.checker.violations)")
    }
}
