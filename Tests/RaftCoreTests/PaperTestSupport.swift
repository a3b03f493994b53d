import RaftCore
import XCTest

/// Builders for the paper-rule tests (etcd raft_paper_test.go style): build one node, bring it into a
/// state by feeding it inputs, then feed it ONE input and assert its state and the messages it produces.
/// Everything lives in `Paper` so that other test files in this target cannot collide with the names.
enum Paper {
    /// A configuration with the defaults the tests rely on spelled out.
    static func config(
        _ id: NodeID, voters: [NodeID] = [1, 2, 3], learners: [NodeID] = [], preVote: Bool = true,
        checkQuorum: Bool = true, seed: UInt64 = 0, electionTicks: Int = 10,
        heartbeatTicks: Int = 1, limits: (inout RaftLimits) -> Void = { _ in }
    ) -> RaftConfig {
        var c = RaftConfig(id: id, membership: Membership(voters: voters, learners: learners), seed: seed)
        c.preVote = preVote
        c.checkQuorum = checkQuorum
        c.electionTicks = electionTicks
        c.heartbeatTicks = heartbeatTicks
        limits(&c.limits)
        return c
    }

    /// Entries with the given terms, at consecutive indexes starting at `from`.
    static func entries(_ terms: [Term], from: LogIndex = 1) -> [Entry] {
        terms.enumerated().map { Entry(term: $0.element, index: from + LogIndex($0.offset)) }
    }

    /// A node restarted from durable state: `terms` is its log, everything in it durable.
    static func restored(
        term: Term, vote: NodeID = noNode, commit: LogIndex = 0, log terms: [Term] = [],
        applied: LogIndex? = nil
    ) -> RestoredState {
        RestoredState(
            hardState: HardState(term: term, vote: vote, commit: commit), entries: entries(terms),
            applied: applied ?? commit)
    }

    /// Plays the shell until the node has no more work: persist entries, "send" (discard) messages,
    /// apply committed entries. Returns every Ready taken.
    @discardableResult
    static func settle(_ n: inout RaftNode) -> [Ready] {
        var out: [Ready] = []
        var rounds = 0
        while n.hasReady && rounds < 100 {
            let r = n.ready()
            if let last = r.entries.last { n.persisted(upTo: last.index, term: last.term) }
            if let last = r.committedEntries.last { n.applied(upTo: last.index) }
            out.append(r)
            rounds += 1
        }
        return out
    }

    /// A follower of `leader` in `term` holding `log`, with nothing pending (the heartbeat that taught it
    /// the leader has been answered and drained).
    static func follower(
        _ id: NodeID = 2, leader: NodeID = 1, term: Term = 1, log terms: [Term] = [], commit: LogIndex = 0,
        config c: RaftConfig? = nil
    ) -> RaftNode {
        var n = RaftNode(config: c ?? config(id), restored: restored(term: term, commit: commit, log: terms))
        if leader != noNode {
            n.step(Message(kind: .heartbeat, from: leader, to: id, term: term, commit: commit))
        }
        settle(&n)
        return n
    }

    /// Elects `c.id` by feeding it just enough granted (pre)votes, then settles it (the noop of the new
    /// term is persisted locally but acknowledged by nobody; every peer's progress is in probe with
    /// the noop append outstanding). Then every peer in `acked` acknowledges the whole log.
    static func leader(
        config c: RaftConfig, restored r: RestoredState = RestoredState(),
        acked: [NodeID] = []
    ) -> RaftNode {
        var n = RaftNode(config: c, restored: r)
        n.campaign()
        for peer in c.membership.voters where peer != c.id && n.role == .preCandidate {
            n.step(Message(kind: .preVoteResponse, from: peer, to: c.id, term: n.term + 1))
        }
        for peer in c.membership.voters where peer != c.id && n.role == .candidate {
            n.step(Message(kind: .voteResponse, from: peer, to: c.id, term: n.term))
        }
        precondition(n.role == .leader, "Paper.leader: election did not succeed")
        settle(&n)
        for peer in acked {
            n.step(Message(kind: .appendResponse, from: peer, to: c.id, term: n.term, index: n.lastIndex))
        }
        settle(&n)
        return n
    }

    /// Messages in the next Ready (which is taken).
    static func messages(_ n: inout RaftNode) -> [Message] { n.ready().messages }

    /// The smallest seed >= `from` whose node draws an election timeout strictly above `electionTicks`
    /// right after `build` (so that ticking `electionTicks` times cannot start an election).
    static func seed(where build: (UInt64) -> RaftNode, timeoutAbove ticks: Int) -> UInt64? {
        for s in UInt64(0)..<1000 where build(s).electionTimeoutTicks > ticks { return s }
        return nil
    }
}

/// Asserts the role, term, vote and leader of `n` in one line.
func assertState(
    _ n: RaftNode, role: Role, term: Term, vote: NodeID, leader: NodeID,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(n.role, role, "role", file: file, line: line)
    XCTAssertEqual(n.term, term, "term", file: file, line: line)
    XCTAssertEqual(n.vote, vote, "vote", file: file, line: line)
    XCTAssertEqual(n.leader, leader, "leader", file: file, line: line)
}
