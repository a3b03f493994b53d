import RaftCore
import XCTest

/// The majority math every Raft decision asks (`Quorum`), against a brute-force definition.
final class QuorumTests: XCTestCase {
    func testSizeIsAStrictMajority() {
        let sizes = (1...8).map { n in Quorum(voters: Array(1...NodeID(n))).size }
        XCTAssertEqual(sizes, [1, 2, 2, 3, 3, 4, 4, 5])
        // Order and repeats do not change the configuration.
        XCTAssertEqual(Quorum(voters: [5, 1, 3, 3, 1]), Quorum(voters: [1, 3, 5]))
        XCTAssertEqual(Quorum(voters: [5, 1, 3, 3, 1]).size, 2)
        XCTAssertEqual(Membership(voters: [1, 2, 3, 4, 5], learners: [6, 7]).quorum, 3)
        XCTAssertEqual(Membership(voters: [1, 2, 3, 4, 5], learners: [6, 7]).majority.voters, [1, 2, 3, 4, 5])
    }

    func testVotesWinLoseOrWait() {
        let q = Quorum(voters: [1, 2, 3, 4, 5])
        func result(_ votes: [NodeID: Bool]) -> Quorum.VoteResult { q.voteResult { votes[$0] } }
        XCTAssertEqual(result([:]), .pending)
        XCTAssertEqual(result([1: true, 2: true]), .pending)
        XCTAssertEqual(result([1: true, 2: true, 3: true]), .won)
        XCTAssertEqual(result([1: false, 2: false]), .pending)
        XCTAssertEqual(result([1: false, 2: false, 3: false]), .lost)
        XCTAssertEqual(result([1: true, 2: true, 3: false, 4: false]), .pending)
        XCTAssertEqual(result([1: true, 2: true, 3: false, 4: false, 5: true]), .won)
        // A grant from a node that is no voter (a learner, a removed node) counts for nothing.
        XCTAssertEqual(result([1: true, 2: true, 6: true, 7: true]), .pending)
        // One voter decides alone.
        XCTAssertEqual(Quorum(voters: [9]).voteResult { $0 == 9 ? true : nil }, .won)
        XCTAssertEqual(Quorum(voters: [9]).voteResult { $0 == 9 ? false : nil }, .lost)
        // An even configuration: 2 grants of 4 are no majority; 2 refusals more leave none possible.
        XCTAssertEqual(Quorum(voters: [1, 2, 3, 4]).voteResult { $0 <= 2 ? true : nil }, .pending)
        XCTAssertEqual(Quorum(voters: [1, 2, 3, 4]).voteResult { $0 <= 2 }, .lost)
    }

    func testCommittedIsTheHighestValueAMajorityReached() {
        let q = Quorum(voters: [1, 2, 3, 4, 5])
        let match: [NodeID: LogIndex] = [1: 9, 2: 7, 3: 7, 4: 3, 5: 0]
        XCTAssertEqual(q.committed { match[$0]! }, 7)
        XCTAssertEqual(Quorum(voters: [1, 2, 3, 4]).committed { match[$0]! }, 7) // 3 of 4 hold 7 or more
        XCTAssertEqual(Quorum(voters: [2, 3, 4, 5]).committed { match[$0]! }, 3)
        XCTAssertEqual(Quorum(voters: [4]).committed { match[$0]! }, 3)
        // Lease ticks, where -1 means "never acknowledged".
        XCTAssertEqual(Quorum(voters: [1, 2, 3]).committed { [1: 40, 2: -1, 3: -1][$0]! }, -1)
        XCTAssertEqual(Quorum(voters: [1, 2, 3]).committed { [1: 40, 2: 35, 3: -1][$0]! }, 35)
    }

    func testHasMajority() {
        let q = Quorum(voters: [1, 2, 3, 4, 5])
        XCTAssertFalse(q.hasMajority { $0 <= 2 })
        XCTAssertTrue(q.hasMajority { $0 <= 3 })
        XCTAssertTrue(q.hasMajority { $0 != 4 })
        XCTAssertFalse(q.hasMajority { _ in false })
    }

    /// Every answer of every configuration of 1 to 7 voters from a seed, against the definitions counted
    /// out by hand: a strict majority granted (won), too few left to grant (lost); the committed value is
    /// the largest v that at least a majority have reached.
    func testAgreesWithBruteForceOnSeededConfigurations() {
        var rng = SplitMix64(seed: 0x9E37_79B9_7F4A_7C15)
        for round in 0..<20_000 {
            let n = Int(rng.next() % 7) + 1
            var ids = Set<NodeID>()
            while ids.count < n { ids.insert(rng.next() % 40 + 1) }
            let q = Quorum(voters: Array(ids))
            var votes: [NodeID: Bool] = [:]
            var values: [NodeID: UInt64] = [:]
            for id in ids {
                switch rng.next() % 3 {
                case 0: votes[id] = true
                case 1: votes[id] = false
                default: break
                }
                values[id] = rng.next() % 12
            }
            let granted = votes.values.filter { $0 }.count
            let refused = votes.values.filter { !$0 }.count
            let expected: Quorum.VoteResult = 2 * granted > n ? .won : (2 * (n - refused) <= n ? .lost : .pending)
            XCTAssertEqual(q.voteResult { votes[$0] }, expected, "round \(round): \(votes) of \(ids.sorted())")
            let best: UInt64 =
                (UInt64(0)...12).reversed().first { v in 2 * values.values.filter { $0 >= v }.count > n } ?? 0
            XCTAssertEqual(q.committed { values[$0]! }, best, "round \(round): \(values)")
            XCTAssertEqual(q.hasMajority { votes[$0] == true }, 2 * granted > n, "round \(round)")
        }
    }
}
