import RaftCore
import XCTest

@testable import RaftSimulation

/// The deterministic cluster simulator in the suite: a bounded number of seeds under several cluster
/// shapes (the runner, `tools/simulate`, goes to millions), seed replay, and proof that each safety
/// check can fail.
final class SimulatorTests: XCTestCase {
    private func runSeeds(
        _ seeds: ClosedRange<UInt64>, _ configure: (inout SimulationOptions) -> Void = { _ in },
        file: StaticString = #filePath, line: UInt = #line
    ) {
        var options = SimulationOptions()
        configure(&options)
        var commits = 0
        for seed in seeds {
            let r = Simulation.run(seed: seed, options: options)
            commits += r.commits
            XCTAssertEqual(
                r.violations, [], "seed \(seed) failed; replay with tools/simulate --seeds 1 --start \(seed) --trace",
                file: file, line: line)
        }
        // A run that commits nothing would make the safety checks vacuous.
        XCTAssertGreaterThan(commits, seeds.count * 5, "too few commits to mean anything", file: file, line: line)
    }

    func testFiveVotersTwoLearnersKeepEveryInvariant() {
        runSeeds(1...80)
    }

    func testThreeVotersOneLearnerKeepEveryInvariant() {
        runSeeds(1001...1080) {
            $0.voters = 3
            $0.learners = 1
            $0.faultSteps = 1500
        }
    }

    func testWithoutPreVoteOrCheckQuorumKeepEveryInvariant() {
        runSeeds(2001...2040) {
            $0.preVote = false
            $0.checkQuorum = false
            $0.faultSteps = 1500
        }
    }

    func testSingleVoterClusterKeepsEveryInvariant() {
        runSeeds(3001...3030) {
            $0.voters = 1
            $0.learners = 2
            $0.faultSteps = 1000
        }
    }

    private var singleVoter: SimulationOptions {
        var options = SimulationOptions()
        options.voters = 1
        options.learners = 2
        options.faultSteps = 1000
        return options
    }

    /// A real core bug (issue 17), found once the clients stopped using proposal forwarding: with early
    /// sends the lone voter streamed entries of a term it had not stored yet, crashed, led the same term
    /// again with other entries, and its learners held two different entries at one (index, term) and
    /// applied one never committed. Seed 731 failed so until the core held a lone leader's messages until
    /// its term was durable (`DurabilityTests`); seed 3004, which failed in a first try at this change,
    /// is an early-sends seed too. The checker now also flags the first such message itself.
    func testSingleVoterSeedsThatLedATermTwiceAfterSendingEarly() {
        for seed: UInt64 in [731, 3004] {
            let r = Simulation.run(seed: seed, options: singleVoter)
            XCTAssertTrue(r.earlySends, "seed \(seed) must keep exercising early sends")
            XCTAssertEqual(r.violations, [], "seed \(seed)")
            XCTAssertGreaterThan(r.coverage.proposalsRedirected, 0, "clients must be sent on to the leader")
        }
    }

    /// A checker artefact, not a core bug: without early sends the lone voter won a term, appended, and
    /// crashed before anything of that term was written or sent; restarted, it led the term again with
    /// another entry at the same index. Nobody but the lost incarnation ever held the first entry, but the
    /// checker had recorded it from the node's memory and reported "log matching". Seed 2058 failed so
    /// (with and without the old forwarding) until the checker forgot entries that never left a crashed
    /// node (`SafetyChecker.crashed`).
    func testSingleVoterSeedWhoseLostEntriesNeverLeftTheNode() {
        let r = Simulation.run(seed: 2058, options: singleVoter)
        XCTAssertFalse(r.earlySends)
        XCTAssertEqual(r.violations, [])
    }

    func testStormyFaultsKeepEveryInvariant() {
        runSeeds(4001...4030) {
            $0.weights.varyPerSeed = false
            $0.weights.crash = 15
            $0.weights.partition = 15
            $0.weights.drop = 120
            $0.weights.duplicate = 40
            $0.faultSteps = 2000
        }
    }

    func testLeaseReadsWithoutClockDriftAreLinearizable() {
        runSeeds(5001...5040) {
            $0.leaseReads = true
            $0.clockDrift = false
            $0.faultSteps = 2000
        }
    }

    func testWithoutCompactionMembershipOrTransfersKeepEveryInvariant() {
        runSeeds(6001...6030) {
            $0.compaction = false
            $0.membershipChanges = false
            $0.transfers = false
        }
    }

    func testSnapshotsAndMembershipChangesAreExercised() {
        var installed = 0
        var changes = 0
        var largest = 0
        // 45 seeds: with the clients proposing at the leader a refusal names (issue 17) the histories
        // differ and 7001...7030 commit 8 changes (11 before); over 300 seeds the rate is unchanged
        // (111 against 118 changes, 161 against 108 snapshots installed).
        for seed in UInt64(7001)...7045 {
            let r = Simulation.run(seed: seed)
            XCTAssertEqual(r.violations, [], "seed \(seed)")
            installed += r.snapshotsInstalled
            changes += r.membershipChanges
            largest = max(largest, r.largestSnapshotBytes)
        }
        // Otherwise the compaction and membership checks would pass vacuously.
        XCTAssertGreaterThan(installed, 10)
        XCTAssertGreaterThan(changes, 10)
        XCTAssertGreaterThan(largest, SimulationOptions().snapshotChunkBytes, "snapshots must span several chunks")
    }

    /// Issue 19: a node sends what promises nothing durable (a leader's appends) while its write is in
    /// flight, as the controller does. The leader's own write then sometimes completes after its
    /// followers' acknowledgements — the commit happens when it does — and every invariant still holds
    /// (the durability check would see a leader that counted its own undurable entry).
    func testLeaderWritingInParallelWithSendingKeepsEveryInvariant() {
        var early = 0
        var commitsOnLeaderWrite = 0
        // 90 seeds: with the learners' sparser heartbeats on half the seeds (issue 16), 8001...8060 reach the
        // case 4 times.
        for seed in UInt64(8001)...8090 {
            let r = Simulation.run(seed: seed)
            XCTAssertEqual(
                r.violations, [], "seed \(seed); replay with tools/simulate --seeds 1 --start \(seed) --trace")
            if r.earlySends { early += 1 }
            commitsOnLeaderWrite += r.coverage.commitsOnLeaderWrite
        }
        XCTAssertGreaterThan(early, 25, "about half the seeds send early")
        XCTAssertLessThan(early, 65)
        // The case is reached, not rare enough to go unseen.
        XCTAssertGreaterThan(
            commitsOnLeaderWrite, 5, "the leader's own write must sometimes be the one that completes a quorum")
        var off = SimulationOptions()
        off.earlySends = false
        for seed in UInt64(8001)...8010 { XCTAssertFalse(Simulation.run(seed: seed, options: off).earlySends) }
    }

    func testSameSeedReplaysTheIdenticalHistory() {
        var options = SimulationOptions()
        options.recordTrace = true
        options.faultSteps = 1500
        let a = Simulation.run(seed: 77, options: options)
        let b = Simulation.run(seed: 77, options: options)
        XCTAssertEqual(a.traceHash, b.traceHash)
        XCTAssertEqual(a.trace, b.trace)
        XCTAssertEqual(a.commits, b.commits)
        XCTAssertEqual(a.elections, b.elections)
        XCTAssertGreaterThan(a.trace.count, 1500)
        let c = Simulation.run(seed: 78, options: options)
        XCTAssertNotEqual(a.traceHash, c.traceHash, "different seeds should give different histories")
    }

    // MARK: - Each check can fail

    private func entry(_ index: LogIndex, _ term: Term, _ byte: UInt8) -> Entry {
        Entry(term: term, index: index, data: [byte])
    }

    func testCheckerFlagsTwoLeadersInOneTerm() {
        var sim = Simulation(seed: 1)
        // Elect node 1 alone: single-node quorum is impossible here, so force it via a 1-voter config
        // view: run until a leader exists, then present a second node claiming the same term.
        var leader: RaftNode?
        for _ in 0..<2000 where leader == nil {
            sim.step += 1
            sim.faultStep()
            leader = sim.nodes.compactMap(\.raft).first { $0.role == .leader }
        }
        guard let l = leader else { return XCTFail("no leader emerged") }
        var checker = InvariantChecker(membership: sim.membership)
        checker.observe(l, step: 1)
        // A node with another id that is leader of the same term.
        let otherID: NodeID = l.id == 1 ? 2 : 1
        var other = RaftNode(
            config: RaftConfig(id: otherID, membership: Membership(voters: [otherID])),
            restored: RestoredState(hardState: HardState(term: l.term - 1)))
        other.campaign() // a single voter elects itself in the next term: l's term
        XCTAssertEqual(other.role, .leader)
        XCTAssertEqual(other.term, l.term)
        checker.observe(other, step: 2)
        XCTAssertTrue(checker.violations.contains { $0.contains("two leaders in term") }, "\(checker.violations)")
    }

    func testCheckerFlagsADoubleVote() {
        var checker = InvariantChecker(membership: Membership(voters: [1, 2, 3]))
        checker.diskWritten(
            node: 1, disk: SimDisk(hardState: HardState(term: 4, vote: 2), entries: []), removed: [], step: 1)
        checker.sent(Message(kind: .voteResponse, from: 1, to: 2, term: 4), step: 1)
        XCTAssertEqual(checker.violations, [])
        checker.sent(Message(kind: .voteResponse, from: 1, to: 3, term: 4), step: 2)
        XCTAssertTrue(
            checker.violations.contains { $0.contains("voted for 2 and 3 in term 4") }, "\(checker.violations)")
    }

    func testCheckerFlagsAVoteSentBeforeItsTermWasDurable() {
        var checker = InvariantChecker(membership: Membership(voters: [1, 2, 3]))
        checker.sent(Message(kind: .voteResponse, from: 1, to: 2, term: 4), step: 1)
        XCTAssertTrue(checker.violations.contains { $0.contains("before persisting") }, "\(checker.violations)")
    }

    func testCheckerFlagsALeaderMessageSentBeforeItsTermWasDurable() {
        var checker = InvariantChecker(membership: Membership(voters: [1], learners: [2]))
        checker.diskWritten(
            node: 1, disk: SimDisk(hardState: HardState(term: 1, vote: 1), entries: []), removed: [], step: 1)
        checker.sent(Message(kind: .append, from: 1, to: 2, term: 1), step: 1)
        XCTAssertEqual(checker.violations, [])
        checker.sent(Message(kind: .heartbeat, from: 1, to: 2, term: 2), step: 2)
        XCTAssertTrue(
            checker.violations.contains { $0.contains("sent a heartbeat of term 2 before persisting that term") },
            "\(checker.violations)")
    }

    /// Entries that never left a crashed node (not written, not sent) are forgotten, and the same
    /// (index, term) may carry another entry afterwards; once sent, they are not.
    func testCheckerForgetsOnlyEntriesThatNeverLeftACrashedNode() {
        func lone(proposing byte: UInt8) -> RaftNode {
            var n = RaftNode(config: RaftConfig(id: 1, membership: Membership(voters: [1], learners: [2])))
            n.campaign()
            n.propose([[byte]])
            return n
        }
        let a = lone(proposing: 0xA)
        var quiet = InvariantChecker(membership: a.membership)
        quiet.observe(a, step: 1)
        quiet.crashed(node: 1, entries: a.entries, disk: SimDisk())
        quiet.restarted(node: 1, hardState: HardState(), lastIndex: 0)
        quiet.observe(lone(proposing: 0xB), step: 2)
        XCTAssertEqual(quiet.violations, [])
        var sent = InvariantChecker(membership: a.membership)
        sent.observe(a, step: 1)
        sent.entriesLeft(a.entries)
        sent.crashed(node: 1, entries: a.entries, disk: SimDisk())
        sent.restarted(node: 1, hardState: HardState(), lastIndex: 0)
        sent.observe(lone(proposing: 0xB), step: 2)
        XCTAssertTrue(
            sent.violations.contains { $0.contains("log matching: node 1 holds a different entry at index 2 term 1") },
            "\(sent.violations)")
    }

    func testCheckerFlagsApplyingBeforeCommitAndDivergentApply() {
        var checker = InvariantChecker(membership: Membership(voters: [1]))
        checker.applied(node: 1, entry: entry(1, 1, 9), expectedIndex: 1, step: 1)
        XCTAssertTrue(checker.violations.contains { $0.contains("before it was committed") }, "\(checker.violations)")
    }

    func testCheckerFlagsTruncatingACommittedEntryFromDisk() {
        var node = RaftNode(config: RaftConfig(id: 1, membership: Membership(voters: [1])))
        node.campaign()
        var rd = node.ready()
        node.persisted(upTo: rd.entries.last!.index, term: rd.entries.last!.term)
        rd = node.ready()
        XCTAssertEqual(node.commitIndex, 1)
        var checker = InvariantChecker(membership: Membership(voters: [1]))
        checker.observe(node, step: 1)
        XCTAssertEqual(checker.committed.count, 1)
        checker.diskWritten(node: 1, disk: SimDisk(), removed: [node.entry(at: 1)!], step: 2)
        XCTAssertTrue(
            checker.violations.contains { $0.contains("truncated committed entry 1") }, "\(checker.violations)")
    }

    func testCheckerFlagsAStaleRead() {
        var node = RaftNode(config: RaftConfig(id: 1, membership: Membership(voters: [1])))
        node.campaign()
        let rd = node.ready()
        node.persisted(upTo: rd.entries.last!.index, term: rd.entries.last!.term)
        var checker = InvariantChecker(membership: Membership(voters: [1]))
        checker.observe(node, step: 1)
        checker.readRequested(context: 5, node: 1, step: 1)
        checker.readReturned(ReadState(index: 0, context: 5), node: 1, step: 2)
        XCTAssertTrue(checker.violations.contains { $0.contains("stale read") }, "\(checker.violations)")
    }

    func testCheckerFlagsLogMatchingViolation() {
        // Two single-voter clusters with the same ids produce different entries at (index 2, term 1).
        func leaderWith(_ payload: UInt8) -> RaftNode {
            var n = RaftNode(config: RaftConfig(id: 1, membership: Membership(voters: [1])))
            n.campaign()
            n.propose([[payload]])
            return n
        }
        var checker = InvariantChecker(membership: Membership(voters: [1]))
        checker.observe(leaderWith(1), step: 1)
        XCTAssertEqual(checker.violations, [])
        checker.observe(leaderWith(2), step: 2)
        XCTAssertFalse(checker.violations.isEmpty)
    }
}
