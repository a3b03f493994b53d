import RaftCore

/// Raft's safety properties, checked after every simulated step (Raft paper, Figure 3), plus the
/// durability and monotonicity the shell contract promises and linearizability of ReadIndex reads.
/// The checker with the default state machine.
typealias InvariantChecker = SafetyChecker<HashStateMachine>

struct SafetyChecker<Machine: SimulatedStateMachine> {
    let membership: Membership
    var violations: [String] = []
    /// The newest configuration in the committed log (the bootstrap membership before any).
    var committedMembership: Membership
    /// Configuration entries committed so far.
    var committedConfigChanges = 0
    /// The reference replica: applies the committed log in order; `prefixDigest[i]` is its digest
    /// after the first i committed entries.
    private var reference = Machine()
    private var prefixDigest: [[UInt8]] = [Machine().stateDigest]
    /// For each committed entry, the configuration of the node that first revealed it committed.
    private var committedBy: [Membership] = []
    /// Nodes removed by a committed configuration, and the term in which the removal was seen committed.
    private var removedInTerm: [NodeID: Term] = [:]

    /// Election safety: the one leader seen for each term.
    var leaderOfTerm: [Term: NodeID] = [:]
    /// The committed log as the cluster has revealed it: entry i+1 at position i.
    var committed: [Entry] = []
    /// For each committed entry, the term of the node that first revealed it committed: at least the
    /// term in which it was committed. Leader completeness binds leaders of later terms only.
    private var committedInTerm: [Term] = []
    /// Log matching: for every (index, term) ever seen, the entry's payload and the previous term
    /// (position i holds what was seen at index i; usually one term per index, rarely a few). A
    /// configuration entry's decoded membership is kept with it.
    private var seenAt: [[SeenEntry]] = [[]]
    private struct SeenEntry {
        var term: Term
        var kind: EntryKind
        var data: [UInt8]
        var prevTerm: Term
        var config: Membership?
    }
    /// Entries that left a node's memory: written to a disk or sent in an append. One that never did
    /// vanishes with its node's crash and was never part of any log but that incarnation's, so the same
    /// (index, term) may carry another entry later (a lone voter whose first write of a term was lost
    /// leads that term again): not a log-matching violation (`crashed`).
    private var escaped: Set<EntryID> = []
    private struct EntryID: Hashable {
        var index: LogIndex
        var term: Term
    }
    /// Memberships new nodes were started with (their own addition included) and the index of the
    /// entry that added them: a snapshot such a node takes below that index carries its start-up
    /// membership, as an operator's new node would.
    var joinedWith: [(membership: Membership, below: LogIndex)] = []
    /// The committed configurations: (index, membership) in index order, the bootstrap one at 0.
    private(set) var committedConfigs: [(index: LogIndex, membership: Membership)] = []
    /// Leader append-only: per node, the leadership term and the last entry seen while leading.
    private var leading: [NodeID: (term: Term, last: Entry?, checkedCommitted: Int)] = [:]
    /// One vote per term, across crashes: (voter, term) → candidate.
    private var votesCast: [VoteKey: NodeID] = [:]
    /// The vote each node holds per term, across crashes.
    private var votesHeld: [VoteKey: NodeID] = [:]
    /// The vote each node has durably recorded per term.
    private var durableVote: [VoteKey: NodeID] = [:]
    private struct VoteKey: Hashable {
        var voter: NodeID
        var term: Term
    }
    /// Durable state never goes back.
    private var durableTerm: [NodeID: Term] = [:]
    private var durableCommit: [NodeID: LogIndex] = [:]
    /// ReadIndex: the commit index known anywhere when each read was asked.
    private var readFloor: [UInt64: (node: NodeID, floor: Int)] = [:]

    init(membership: Membership) {
        self.membership = membership
        self.committedMembership = membership
        self.committedConfigs = [(0, membership)]
    }

    /// The configuration in force at `index` of the committed log.
    func committedConfig(at index: LogIndex) -> Membership {
        committedConfigs.last(where: { $0.index <= index })!.membership
    }

    mutating func fail(step: Int, _ message: String) {
        if violations.count < 20 { violations.append("step \(step): \(message)") }
    }

    /// Observes one live node after a step: its vote, election safety, log matching, the configuration its
    /// log implies, the committed log, configuration appends, and the leader properties, in that order (a
    /// log-matching or commit-index violation stops the checks that would build on it).
    mutating func observe(_ raft: RaftNode, step: Int) {
        checkVote(raft, step: step)
        checkElectionSafety(raft, step: step)
        guard let log = checkLogMatching(raft, step: step) else { return }
        checkImpliedConfiguration(raft, lastConfig: log.lastConfig, step: step)
        guard extendCommitted(raft, step: step) else { return }
        checkConfigurationAppends(log.newConfigs, node: raft.id, step: step)
        checkLeader(raft, step: step)
    }

    /// A configuration entry a node holds that this checker had not seen before: where, in which term, and
    /// the index of the configuration entry before it in that node's log (0: none).
    private typealias NewConfig = (index: LogIndex, term: Term, previous: LogIndex)

    private mutating func checkVote(_ raft: RaftNode, step: Int) {
        let id = raft.id
        // One vote per term, as the node itself records it within one incarnation (covers votes for
        // itself too; a vote lost in a crash before it was persisted or sent may be cast again).
        if raft.vote != noNode {
            let key = VoteKey(voter: id, term: raft.term)
            if let v = votesHeld[key], v != raft.vote {
                fail(step: step, "node \(id) changed its vote in term \(raft.term) from \(v) to \(raft.vote)")
            }
            votesHeld[key] = raft.vote
        }
    }

    private mutating func checkElectionSafety(_ raft: RaftNode, step: Int) {
        let id = raft.id
        if raft.role == .leader {
            if let other = leaderOfTerm[raft.term], other != id {
                fail(step: step, "two leaders in term \(raft.term): \(other) and \(id)")
            }
            leaderOfTerm[raft.term] = id
        }
    }

    /// Log matching over the node's entries; nil after a violation, else its newest configuration entry and
    /// the configuration entries first seen now.
    private mutating func checkLogMatching(
        _ raft: RaftNode, step: Int
    ) -> (lastConfig: Membership?, newConfigs: [NewConfig])? {
        let id = raft.id
        // Log matching, checked incrementally: the same (index, term) must always carry the same entry
        // and follow the same term; by induction equal entries then have equal prefixes.
        var prevTerm = raft.term(at: raft.firstIndex - 1) ?? 0
        var prevConfig: Membership?
        var prevConfigIndex: LogIndex = 0
        var lastConfig: Membership?
        var newConfigs: [NewConfig] = []
        for e in raft.entries {
            let i = Int(e.index)
            while seenAt.count <= i { seenAt.append([]) }
            var config: Membership?
            if let k = seenAt[i].firstIndex(where: { $0.term == e.term }) {
                let s = seenAt[i][k]
                if s.data != e.data || s.kind != e.kind || s.prevTerm != prevTerm {
                    fail(
                        step: step,
                        "log matching: node \(id) holds a different entry at index \(e.index) term \(e.term)")
                    return nil
                }
                config = s.config
            } else {
                if e.kind == .config {
                    config = Membership.decode(e.data)
                    newConfigs.append((e.index, e.term, prevConfigIndex))
                }
                seenAt[i].append(
                    SeenEntry(term: e.term, kind: e.kind, data: e.data, prevTerm: prevTerm, config: config))
            }
            if let m = config {
                // One voter at a time: successive configurations' majorities always intersect.
                if let p = prevConfig, symmetricDifference(p.voters, m.voters) > 1 {
                    fail(
                        step: step,
                        "configuration at \(e.index) on node \(id) changes more than one voter (\(p.voters) -> \(m.voters))"
                    )
                }
                prevConfig = m
                prevConfigIndex = e.index
                lastConfig = m
            }
            prevTerm = e.term
        }
        return (lastConfig, newConfigs)
    }

    private mutating func checkImpliedConfiguration(_ raft: RaftNode, lastConfig: Membership?, step: Int) {
        let id = raft.id
        // The configuration a node uses is the one its log implies: the newest configuration entry,
        // else its snapshot's, else the one it was started with (thesis §4.1).
        let implied = lastConfig ?? raft.snapshot?.membership ?? raft.config.membership
        if implied != raft.membership {
            fail(
                step: step,
                "configuration: node \(id) uses \(raft.membership.voters)+\(raft.membership.learners) but its log implies \(implied.voters)+\(implied.learners)"
            )
        }
    }

    /// Checks the node's commit index against the committed log and extends that log with what the node
    /// committed beyond it; false when its commit index lies beyond its own log (nothing more is checked).
    private mutating func extendCommitted(_ raft: RaftNode, step: Int) -> Bool {
        let id = raft.id
        // The committed log grows from every node's commit index; a node must agree with it.
        let commit = Int(raft.commitIndex)
        if commit > raft.entries.count + Int(raft.firstIndex) - 1 {
            fail(step: step, "node \(id) commit \(commit) beyond its last index \(raft.lastIndex)")
            return false
        }
        let agree = min(commit, committed.count)
        if agree > 0, agree >= Int(raft.firstIndex), let e = raft.entry(at: LogIndex(agree)), e != committed[agree - 1]
        {
            fail(step: step, "state machine safety: node \(id) committed a different entry at \(agree)")
        }
        if commit > committed.count {
            for i in committed.count + 1...commit {
                guard let e = raft.entry(at: LogIndex(i)) else { break }
                committed.append(e)
                committedInTerm.append(raft.term)
                // The configuration the revealing node (normally the leader that committed it) counts
                // with: under one-server-at-a-time changes a leader counts with its newest configuration,
                // committed or not (thesis §4.1), and its majorities intersect the previous one's.
                committedBy.append(raft.membership)
                reference.apply(e)
                prefixDigest.append(reference.stateDigest)
                if e.kind == .config, let m = Membership.decode(e.data) {
                    if symmetricDifference(committedMembership.voters, m.voters) > 1 {
                        fail(step: step, "committed configuration at \(e.index) changes more than one voter")
                    }
                    for gone in committedMembership.all where !m.contains(gone) { removedInTerm[gone] = raft.term }
                    committedMembership = m
                    committedConfigs.append((e.index, m))
                    committedConfigChanges += 1
                }
            }
            commitGrew(step: step)
        }
        return true
    }

    private mutating func checkConfigurationAppends(_ newConfigs: [NewConfig], node id: NodeID, step: Int) {
        // A leader appends a configuration entry only after its previous one is committed and after it
        // committed an entry of its own term (Ongaro's 2015 fix to single-server changes).
        for c in newConfigs {
            if c.previous > LogIndex(committed.count) {
                fail(
                    step: step,
                    "configuration \(c.index) (term \(c.term)) on node \(id) was appended while the change at \(c.previous) was uncommitted"
                )
            }
            // Some committed entry before it has its term (a newer leader may have committed past it since).
            var k = min(committed.count, Int(c.index) - 1)
            while k >= 1 && committed[k - 1].term > c.term { k -= 1 }
            if k < 1 || committed[k - 1].term != c.term {
                fail(
                    step: step,
                    "configuration \(c.index) was appended in term \(c.term) before its leader committed an entry of that term"
                )
            }
        }
    }

    private mutating func checkLeader(_ raft: RaftNode, step: Int) {
        let id = raft.id
        // Leader append-only and leader completeness.
        if raft.role == .leader {
            var state = leading[id]
            if state == nil || state!.term != raft.term {
                state = (raft.term, nil, 0)
            }
            if let last = state!.last, last.index >= raft.firstIndex, raft.entry(at: last.index) != last {
                fail(
                    step: step,
                    "leader append-only: leader \(id) of term \(raft.term) lost or changed entry \(last.index)")
            }
            var k = state!.checkedCommitted
            // Amortised: each committed entry is checked once per leadership. A stale leader of an older
            // term (cut off, not yet aware it was replaced) may lack entries committed after its term.
            while k < committed.count && committedInTerm[k] < raft.term {
                // Entries folded into the leader's snapshot were applied, so they are the committed ones.
                if k + 1 >= Int(raft.firstIndex) && raft.entry(at: LogIndex(k + 1)) != committed[k] {
                    fail(
                        step: step,
                        "leader completeness: leader \(id) of term \(raft.term) lacks committed entry \(k + 1)")
                    break
                }
                k += 1
            }
            leading[id] = (raft.term, raft.entries.last, k)
            if let t = removedInTerm[id], raft.term > t {
                fail(
                    step: step,
                    "removed node \(id) became leader in term \(raft.term), after its removal committed in term \(t)")
            }
        } else {
            leading[id] = nil
        }
    }

    /// Quorum durability of newly committed entries is checked when the disk state is known; here we
    /// only note that the committed log grew (see `diskWritten` and `durableCheck`).
    private mutating func commitGrew(step: Int) {
        pendingDurability = true
    }
    private var pendingDurability = false
    private var disks: [NodeID: SimDisk] = [:]
    private var durableChecked = 0

    /// A committed entry must be on the durable disks of a quorum of voters.
    mutating func durableCheck(step: Int) {
        guard pendingDurability else { return }
        pendingDurability = false
        while durableChecked < committed.count {
            let e = committed[durableChecked]
            let voters = committedBy[durableChecked]
            var holders = 0
            for v in voters.voters {
                guard let d = disks[v] else { continue }
                if d.entry(at: e.index) == e || (d.snapshot?.index ?? 0) >= e.index { holders += 1 }
            }
            if holders < voters.quorum {
                fail(step: step, "durability: committed entry \(e.index) is durable on only \(holders) voters")
                return
            }
            durableChecked += 1
        }
    }

    mutating func diskWritten(node: NodeID, disk: SimDisk, removed: [Entry], step: Int) {
        if let prev = disks[node]?.snapshot?.index, let now = disk.snapshot?.index, now < prev {
            fail(step: step, "node \(node) snapshot index went back on disk from \(prev) to \(now)")
        }
        disks[node] = disk
        // A committed entry is never removed from any disk.
        for e in removed where Int(e.index) <= committed.count && committed[Int(e.index) - 1] == e {
            fail(step: step, "durability: node \(node) truncated committed entry \(e.index) from its disk")
            break
        }
        let hs = disk.hardState
        if hs.term < durableTerm[node, default: 0] {
            fail(step: step, "node \(node) persisted term \(hs.term) after \(durableTerm[node]!)")
        }
        if hs.commit < durableCommit[node, default: 0] {
            fail(step: step, "node \(node) persisted commit \(hs.commit) after \(durableCommit[node]!)")
        }
        if hs.commit > disk.lastIndex {
            fail(step: step, "node \(node) persisted commit \(hs.commit) beyond its stored log \(disk.lastIndex)")
        }
        durableTerm[node] = hs.term
        durableCommit[node] = hs.commit
        if hs.vote != noNode {
            let key = VoteKey(voter: node, term: hs.term)
            if let v = durableVote[key], v != hs.vote {
                fail(
                    step: step,
                    "node \(node) persisted a vote for \(hs.vote) in term \(hs.term) after persisting one for \(v)")
            }
            durableVote[key] = hs.vote
        }
    }

    /// A snapshot taken locally must image exactly the committed prefix it claims.
    mutating func snapshotTaken(node: NodeID, snapshot: Snapshot, step: Int) {
        guard let m = Machine(snapshotData: snapshot.data), m.appliedIndex == snapshot.index else {
            fail(step: step, "node \(node) took an undecodable snapshot")
            return
        }
        snapshotInstalled(node: node, snapshot: snapshot, digest: m.stateDigest, step: step)
        let d = disks[node]
        if let prev = d?.snapshot, prev.index > snapshot.index {
            fail(step: step, "node \(node) stored snapshot \(snapshot.index) after \(prev.index)")
        }
        if var disk = d {
            disk.compact(snapshot)
            disks[node] = disk
        }
    }

    /// An installed snapshot must carry the state of the committed prefix up to its index.
    mutating func snapshotInstalled(node: NodeID, snapshot: Snapshot, digest: [UInt8], step: Int) {
        guard Int(snapshot.index) < prefixDigest.count else {
            fail(
                step: step, "node \(node) holds snapshot \(snapshot.index) beyond the committed log \(committed.count)")
            return
        }
        if prefixDigest[Int(snapshot.index)] != digest {
            fail(
                step: step, "node \(node) holds snapshot \(snapshot.index) whose state differs from the committed log's"
            )
        }
        let expected = committedConfig(at: snapshot.index)
        if snapshot.membership != expected
            && !joinedWith.contains(where: { $0.membership == snapshot.membership && snapshot.index < $0.below })
        {
            fail(
                step: step,
                "node \(node) holds snapshot \(snapshot.index) with membership \(snapshot.membership.voters)+\(snapshot.membership.learners), but the committed log has \(expected.voters)+\(expected.learners) there"
            )
        }
        if snapshot.index > 0, snapshot.term != committed[Int(snapshot.index) - 1].term {
            fail(
                step: step,
                "node \(node) holds snapshot \(snapshot.index) with term \(snapshot.term), committed term \(committed[Int(snapshot.index) - 1].term)"
            )
        }
    }

    /// After every apply the replica's state must equal the committed prefix's.
    mutating func stateAfterApply(node: NodeID, index: LogIndex, digest: [UInt8], step: Int) {
        if Int(index) < prefixDigest.count && prefixDigest[Int(index)] != digest {
            fail(step: step, "node \(node) state after applying \(index) differs from the committed prefix's")
        }
    }

    mutating func restarted(node: NodeID, hardState: HardState, lastIndex: LogIndex) {
        leading[node] = nil
        for key in votesHeld.keys where key.voter == node { votesHeld[key] = nil }
    }

    /// Entries a write made durable, or a message carried off the node.
    mutating func entriesLeft(_ entries: [Entry]) {
        for e in entries { escaped.insert(EntryID(index: e.index, term: e.term)) }
    }

    /// A node crashed holding `entries` in memory; `disk` is what survives. Entries that never left it
    /// are forgotten by the log-matching check (see `escaped`); committed ones never are.
    mutating func crashed(node: NodeID, entries: [Entry], disk: SimDisk) {
        for e in entries
        where Int(e.index) > committed.count && e.index > disk.offset && disk.entry(at: e.index) != e
            && !escaped.contains(EntryID(index: e.index, term: e.term))
        {
            let i = Int(e.index)
            if i < seenAt.count { seenAt[i].removeAll { $0.term == e.term && $0.kind == e.kind && $0.data == e.data } }
        }
    }

    /// Every message leaves a node only after what it depends on is durable.
    mutating func sent(_ m: Message, step: Int) {
        if m.kind == .append { entriesLeft(m.entries) }
        switch m.kind {
        case .append, .heartbeat, .snapshot, .timeoutNow, .readIndexResponse:
            // What a leader sends carries its term: the term must be on its disk first, or a crash could
            // let it lead the same term again with other entries at the same indexes.
            if durableTerm[m.from, default: 0] < m.term {
                fail(
                    step: step,
                    "leader \(m.from) sent a \(m.kind) of term \(m.term) before persisting that term (its disk has \(durableTerm[m.from, default: 0]))"
                )
            }
        default:
            break
        }
        if m.kind == .voteResponse && !m.reject {
            let key = VoteKey(voter: m.from, term: m.term)
            if let c = votesCast[key], c != m.to {
                fail(step: step, "node \(m.from) voted for \(c) and \(m.to) in term \(m.term)")
            }
            votesCast[key] = m.to
            if durableTerm[m.from, default: 0] < m.term {
                fail(step: step, "node \(m.from) granted a vote in term \(m.term) before persisting that term")
            } else if durableVote[VoteKey(voter: m.from, term: m.term)] != m.to {
                fail(
                    step: step, "node \(m.from) granted a vote to \(m.to) in term \(m.term) before persisting that vote"
                )
            }
        }
    }

    mutating func applied(node: NodeID, entry: Entry, expectedIndex: LogIndex, step: Int) {
        if entry.index != expectedIndex {
            fail(step: step, "node \(node) applied index \(entry.index) when \(expectedIndex) was next")
        }
        if Int(entry.index) > committed.count {
            fail(
                step: step,
                "node \(node) applied entry \(entry.index) before it was committed (committed: \(committed.count))")
        } else if committed[Int(entry.index) - 1] != entry {
            fail(step: step, "state machine safety: node \(node) applied a different entry at \(entry.index)")
        }
    }

    mutating func readRequested(context: UInt64, node: NodeID, step: Int) {
        readFloor[context] = (node, committed.count)
    }

    /// Linearizable reads: the read index covers every entry committed before the read was asked.
    mutating func readReturned(_ rs: ReadState, node: NodeID, step: Int) {
        // A duplicated request may be answered twice; each answer must still be linearizable.
        guard let r = readFloor[rs.context] else {
            fail(step: step, "node \(node) returned read \(rs.context) that nobody asked")
            return
        }
        if r.node != node { fail(step: step, "read \(rs.context) asked at \(r.node) answered at \(node)") }
        if Int(rs.index) < r.floor {
            fail(
                step: step,
                "stale read: read \(rs.context) got index \(rs.index) but \(r.floor) was committed when it was asked")
        }
    }
}

/// How many ids are in one list and not the other.
func symmetricDifference(_ a: [NodeID], _ b: [NodeID]) -> Int {
    Set(a).symmetricDifference(Set(b)).count
}
