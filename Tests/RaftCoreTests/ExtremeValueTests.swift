import RaftCore
import XCTest

/// Hostile values at the core's boundary (issue 14): terms, indexes and counts at 0, 2^63−1, 2^63 and
/// 2^64−1, in every message kind, delivered to nodes in every role. A trap would end the test process;
/// the checks below also show that nothing out of range is ever adopted.
final class ExtremeValueTests: XCTestCase {
    static let extremes: [UInt64] = [0, 1, 2, maxTerm - 1, maxTerm, maxTerm + 1, UInt64.max - 1, UInt64.max]

    /// Nodes in each role: follower (with a log), candidate, pre-candidate, leader (with acked peers),
    /// and a learner.
    func nodes() -> [RaftNode] {
        var candidate = RaftNode(
            config: Paper.config(1, preVote: false), restored: Paper.restored(term: 3, log: [1, 2, 3]))
        candidate.campaign()
        Paper.settle(&candidate)
        var pre = RaftNode(config: Paper.config(1), restored: Paper.restored(term: 3, log: [1, 2, 3]))
        pre.campaign()
        Paper.settle(&pre)
        let leader = Paper.leader(
            config: Paper.config(1), restored: Paper.restored(term: 3, commit: 2, log: [1, 2, 3]), acked: [2])
        let learner = Paper.follower(
            4, leader: 1, term: 3, log: [1, 2, 3], commit: 2,
            config: Paper.config(4, voters: [1, 2, 3], learners: [4]))
        return [Paper.follower(2, leader: 1, term: 3, log: [1, 2, 3], commit: 2), candidate, pre, leader, learner]
    }

    func randomExtreme(_ rng: inout SplitMix64) -> UInt64 {
        rng.below(3) == 0 ? rng.next() : Self.extremes[rng.below(Self.extremes.count)]
    }

    func randomMessage(to id: NodeID, _ rng: inout SplitMix64) -> Message {
        let kind = MessageKind.allCases[rng.below(MessageKind.allCases.count)]
        let from = NodeID([1, 2, 3, 4, 5][rng.below(5)])
        var m = Message(
            kind: kind, from: from == id ? (id % 3) + 1 : from, to: id, term: randomExtreme(&rng),
            logTerm: randomExtreme(&rng), index: randomExtreme(&rng), commit: randomExtreme(&rng),
            reject: rng.below(2) == 0, rejectHint: randomExtreme(&rng), hintTerm: randomExtreme(&rng),
            context: randomExtreme(&rng))
        if kind == .append || rng.below(8) == 0 {
            // Sometimes consecutive (the shape that passes validation), sometimes anything.
            let n = rng.below(4)
            let consecutive = rng.below(2) == 0
            m.entries = (0..<n).map { i in
                Entry(
                    term: consecutive ? min(m.term, m.logTerm &+ UInt64(i)) : randomExtreme(&rng),
                    index: consecutive ? m.index &+ 1 &+ UInt64(i) : randomExtreme(&rng),
                    kind: [.normal, .noop][rng.below(2)], data: [UInt8(i)])
            }
        }
        if kind == .snapshot {
            let total = [0, 1, 10, Int.max, Int(Int64.max) - 1][rng.below(5)]
            let offset = [0, 1, 5, Int.max, -1, Int.min][rng.below(6)]
            m.snapshot = SnapshotChunk(
                index: randomExtreme(&rng), term: randomExtreme(&rng),
                membership: Membership(voters: [1, 2, 3]), offset: offset, total: total,
                checksum: rng.next(), data: [UInt8](repeating: 7, count: rng.below(12)))
        }
        return m
    }

    /// Thousands of random messages with extreme fields to nodes in every role: no trap, the term never
    /// goes above `maxTerm`, never decreases, and the log keeps consecutive indexes.
    func testRandomExtremeMessagesNeverTrapOrLeaveRange() {
        var rng = SplitMix64(seed: 0x14)
        for round in 0..<40 {
            for var n in nodes() {
                var lastTerm = n.term
                for _ in 0..<250 {
                    let m = randomMessage(to: n.id, &rng)
                    n.step(m)
                    if rng.below(4) == 0 { n.tick() }
                    Paper.settle(&n)
                    XCTAssertLessThanOrEqual(n.term, maxTerm, "round \(round): \(m.kind) raised the term out of range")
                    XCTAssertGreaterThanOrEqual(n.term, lastTerm, "round \(round): the term went backwards")
                    lastTerm = n.term
                    XCTAssertLessThanOrEqual(n.commitIndex, n.lastIndex)
                    for (i, e) in n.entries.enumerated() where i > 0 {
                        XCTAssertEqual(e.index, n.entries[i - 1].index + 1, "log indexes must stay consecutive")
                        XCTAssertGreaterThanOrEqual(e.term, n.entries[i - 1].term, "log terms must not decrease")
                    }
                }
            }
        }
    }

    /// The exact messages the issue names are dropped, counted, and change nothing.
    func testOutOfRangeTermsAreDroppedAndCounted() {
        for bad in [maxTerm + 1, UInt64.max] {
            var f = Paper.follower(2, leader: 1, term: 3, log: [1, 2, 3], commit: 2)
            f.step(Message(kind: .heartbeat, from: 1, to: 2, term: bad, commit: 2))
            f.step(
                Message(
                    kind: .append, from: 1, to: 2, term: bad, logTerm: 3, index: 3,
                    entries: [Entry(term: bad, index: 4)], commit: 3))
            f.step(Message(kind: .vote, from: 3, to: 2, term: bad, logTerm: bad, index: 100))
            XCTAssertEqual(f.term, 3)
            XCTAssertEqual(f.lastIndex, 3)
            XCTAssertEqual(f.malformedDropped, 3)
            XCTAssertNotNil(f.lastMalformation)
        }
    }

    /// An append whose entries do not continue its index (a gap, a repeat, a decreasing term, or an index
    /// that would overflow) is dropped instead of corrupting the log or trapping.
    func testAppendWithInconsistentEntriesIsDropped() {
        let bad: [Message] = [
            Message(kind: .append, from: 1, to: 2, term: 3, logTerm: 3, index: 3, entries: [Entry(term: 3, index: 5)]),
            Message(kind: .append, from: 1, to: 2, term: 3, logTerm: 3, index: 3, entries: [Entry(term: 3, index: 3)]),
            Message(
                kind: .append, from: 1, to: 2, term: 3, logTerm: 3, index: 3,
                entries: [Entry(term: 3, index: 4), Entry(term: 2, index: 5)]),
            Message(kind: .append, from: 1, to: 2, term: 3, logTerm: 3, index: 3, entries: [Entry(term: 4, index: 4)]),
            Message(
                kind: .append, from: 1, to: 2, term: 3, logTerm: 3, index: maxLogIndex,
                entries: [Entry(term: 3, index: 0)]),
            Message(kind: .append, from: 1, to: 2, term: 3, logTerm: 4, index: 3)
        ]
        for m in bad {
            var f = Paper.follower(2, leader: 1, term: 3, log: [1, 2, 3], commit: 2)
            f.step(m)
            Paper.settle(&f)
            XCTAssertEqual(f.lastIndex, 3, "\(m.entries) after \(m.index)")
            XCTAssertEqual(f.malformedDropped, 1)
        }
        // The well-formed version of the first one is taken.
        var f = Paper.follower(2, leader: 1, term: 3, log: [1, 2, 3], commit: 2)
        f.step(
            Message(kind: .append, from: 1, to: 2, term: 3, logTerm: 3, index: 3, entries: [Entry(term: 3, index: 4)]))
        XCTAssertEqual(f.lastIndex, 4)
        XCTAssertEqual(f.malformedDropped, 0)
    }

    /// A node at `maxTerm` cannot campaign (the next term could not be stored): it stays a follower,
    /// says so, and keeps answering its leader; it never traps on `term + 1`.
    func testNodeAtMaxTermDoesNotCampaign() {
        var n = RaftNode(config: Paper.config(1, preVote: false), restored: Paper.restored(term: maxTerm))
        for _ in 0..<100 {
            n.tick()
            Paper.settle(&n)
        }
        n.campaign()
        Paper.settle(&n)
        XCTAssertEqual(n.term, maxTerm)
        XCTAssertEqual(n.role, .follower)
        XCTAssertTrue(n.termExhausted)
        var p = RaftNode(config: Paper.config(1, preVote: true), restored: Paper.restored(term: maxTerm))
        p.campaign()
        XCTAssertEqual(p.role, .follower)
        XCTAssertEqual(p.term, maxTerm)
        // A leader of maxTerm is still followed.
        var f = Paper.follower(2, leader: 1, term: maxTerm - 1, log: [1])
        f.step(
            Message(
                kind: .append, from: 1, to: 2, term: maxTerm, logTerm: 1, index: 1,
                entries: [Entry(term: maxTerm, index: 2)], commit: 2))
        XCTAssertEqual(f.term, maxTerm)
        XCTAssertEqual(f.lastIndex, 2)
    }

    /// A follower that claims to hold more than the leader has is ignored (it would otherwise move
    /// `next` past the log, and at 2^64−1 overflow it).
    func testAcknowledgementBeyondTheLeadersLogIsIgnored() {
        var l = Paper.leader(config: Paper.config(1), acked: [2])
        let commit = l.commitIndex
        for bogus in [l.lastIndex + 1, maxLogIndex, UInt64.max] {
            l.step(Message(kind: .appendResponse, from: 3, to: 1, term: l.term, index: bogus))
            Paper.settle(&l)
        }
        XCTAssertEqual(l.matchIndex(of: 3), 0)
        XCTAssertEqual(l.commitIndex, commit)
        XCTAssertEqual(l.role, .leader)
    }
}

/// A replica that lost its log after acknowledging it (re-synced from scratch) must be brought back by
/// the leader it acknowledged, not only by the next one.
final class LostLogFollowerTests: XCTestCase {
    func testLeaderResendsFromTheStartToAFollowerThatLostItsLog() {
        var l = Paper.leader(
            config: Paper.config(1), restored: Paper.restored(term: 2, commit: 3, log: [1, 1, 2]), acked: [2, 3])
        XCTAssertEqual(l.matchIndex(of: 2), l.lastIndex)
        // Node 2 comes back with its term and vote but an empty log.
        var f = RaftNode(config: Paper.config(2), restored: Paper.restored(term: l.term))
        var toF: [Message] = []
        var toL: [Message] = []
        for _ in 0..<200 {
            l.tick()
            for r in Paper.settle(&l) { toF += r.messages.filter { $0.to == 2 } }
            for m in toF { f.step(m) }
            toF = []
            for r in Paper.settle(&f) { toL += r.messages }
            for m in toL { l.step(m) }
            toL = []
            if f.lastIndex == l.lastIndex { break }
        }
        XCTAssertEqual(f.lastIndex, l.lastIndex, "the follower must receive the whole log again")
        XCTAssertEqual(f.entries.map(\.term), l.entries.map(\.term))
        XCTAssertEqual(l.matchIndex(of: 2), l.lastIndex)
    }
}
