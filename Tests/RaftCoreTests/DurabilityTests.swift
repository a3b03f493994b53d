import RaftCore
import XCTest

/// The durability side of the ordering contract with early sends (`Ready.messagesByDurability`): what a
/// shell may send while its write is in flight must promise nothing the write has not made durable yet.
final class DurabilityTests: XCTestCase {
    private let lone = Paper.config(1, voters: [1], learners: [2])
    private let learnerConfig = Paper.config(2, voters: [1], learners: [2])

    /// The shell of a node with early sends: takes one `Ready`, returns what may go now, and keeps the
    /// write (with the messages that wait for it) in `pending`.
    private struct EarlyShell {
        var node: RaftNode
        var pending: [Ready] = []

        mutating func take() -> [Message] {
            guard node.hasReady else { return [] }
            let rd = node.ready()
            let (now, held) = rd.messagesByDurability
            var write = rd
            write.messages = held
            pending.append(write)
            return now
        }

        /// Completes every pending write in order; returns the held messages that may go now.
        mutating func completeWrites() -> [Message] {
            var out: [Message] = []
            while !pending.isEmpty {
                let w = pending.removeFirst()
                if let last = w.entries.last { node.persisted(upTo: last.index, term: last.term) }
                out += w.messages
                if let last = w.committedEntries.last { node.applied(upTo: last.index) }
            }
            return out
        }
    }

    /// Delivers messages between a leader shell and a learner shell (both with early sends, both disks
    /// completing every write before the next exchange) until nothing moves.
    private func exchange(_ l: inout EarlyShell, _ learner: inout EarlyShell, first: [Message] = []) {
        var inFlight = first
        for _ in 0..<50 {
            inFlight += l.take() + l.completeWrites() + l.take()
            inFlight += learner.take() + learner.completeWrites() + learner.take()
            guard !inFlight.isEmpty else { return }
            let batch = inFlight
            inFlight = []
            for m in batch { if m.to == 1 { l.node.step(m) } else { learner.node.step(m) } }
        }
        XCTFail("the exchange did not settle")
    }

    /// A lone voter wins its election the moment it campaigns, in the same `Ready` that stores its new
    /// term and vote. Until that write is durable it must send nothing that carries the term: its
    /// appends and heartbeats go only once the shell reports its first entry of the term durable.
    func testLoneVoterSendsNothingOfItsTermBeforeTheTermIsDurable() {
        var n = RaftNode(config: lone)
        n.campaign()
        XCTAssertEqual(n.role, .leader)
        n.propose([[7]])
        for _ in 0..<3 { n.tick() }
        let rd = n.ready()
        XCTAssertEqual(rd.hardState?.term, 1)
        XCTAssertEqual(rd.entries.map(\.index), [1, 2])
        XCTAssertEqual(rd.messagesByDurability.now, [], "sent before the term was durable")
        XCTAssertEqual(rd.messages, [])
        n.persisted(upTo: 2, term: 1)
        let after = n.ready()
        XCTAssertEqual(after.messages.map(\.kind), [.append])
        XCTAssertEqual(after.messages.first?.to, 2)
        XCTAssertEqual(after.messages.first?.commit, 2)
    }

    /// Regression (simulator, one voter with two learners: seeds 731 and 2058 once the simulator's clients
    /// stopped using proposal forwarding, 1911 with it). The lone voter wins term 1, streams its no-op and a proposal X to the
    /// learner while its own write is in flight, and crashes before the write completes: its disk still
    /// says term 0. Restarted, it wins term 1 again and proposes Y at the index X took. The learner sees
    /// the same (index, term) and keeps X; the leader then commits index 2 and the learner applies X where
    /// the leader applies Y. Failed before the leader held its messages until its term was durable.
    func testLoneVoterCrashingBeforeItsTermIsDurableCannotSplitALearnersLog() {
        var a = EarlyShell(node: RaftNode(config: lone))
        var learner = EarlyShell(node: RaftNode(config: learnerConfig))
        a.node.campaign()
        // The learner acknowledges the no-op while the leader's first write is still in flight...
        for m in a.take() { learner.node.step(m) }
        for m in learner.take() + learner.completeWrites() { a.node.step(m) }
        // ... and the leader streams X, then crashes: nothing of incarnation A reaches its disk.
        a.node.propose([[0xA]])
        for m in a.take() { learner.node.step(m) }
        _ = learner.take() + learner.completeWrites()
        let termOfA = a.node.term

        var b = EarlyShell(node: RaftNode(config: lone))
        b.node.campaign()
        b.node.propose([[0xB]])
        XCTAssertEqual(b.node.term, termOfA, "the restarted voter reuses the term its crash lost")
        exchange(&b, &learner)
        XCTAssertEqual(b.node.commitIndex, 2)
        XCTAssertEqual(learner.node.commitIndex, 2)
        XCTAssertEqual(
            learner.node.entry(at: 2), b.node.entry(at: 2), "the learner committed an entry the leader never had")
    }
}
