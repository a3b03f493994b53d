import RaftCore

// A deterministic cluster simulator (in the spirit of FoundationDB's simulation and TigerBeetle's
// VOPR). N voters and L learners run in one process over a simulated network and simulated disks.
// One seed drives every choice: which message is delivered next (so messages are delayed and
// reordered), drops, duplicates, partitions (asymmetric ones too), crashes that lose every write
// not yet reported durable, restarts from what was durable, proposals and reads. After every step
// the `InvariantChecker` checks Raft's safety properties; then a liveness phase heals everything and
// requires a leader and new commits within a bound. The same seed always replays the same history.
//
// With `compaction`, `membershipChanges` and `transfers` (all on by default) nodes also fold their
// applied log into snapshots that lagging peers receive in small chunks; the leader adds spare nodes
// as learners, promotes and removes members one at a time (removed nodes keep running and trying to
// campaign); and leaders hand over to other voters.

/// What the simulator does and how often.
public struct SimulationOptions: Sendable {
    public var voters = 5
    public var learners = 2
    /// Steps of the fault phase; each step is one action.
    public var faultSteps = 2500
    /// Rounds allowed in the liveness phase (each round: every node ticks, then the network and the
    /// disks drain).
    public var livenessRounds = 400
    public var electionTicks = 10
    public var heartbeatTicks = 2
    public var preVote = true
    public var checkQuorum = true
    /// Weights of the actions of the fault phase.
    public var weights = ActionWeights()
    /// Record a human-readable trace of every step (slow; for replaying one seed).
    public var recordTrace = false
    /// Nodes that are not members at first; membership changes add them as learners.
    public var spares = 2
    /// Fold applied entries into snapshots (sent in chunks of `snapshotChunkBytes`).
    public var compaction = true
    /// Add, promote and remove members one at a time.
    public var membershipChanges = true
    /// Hand leadership over with TimeoutNow.
    public var transfers = true
    public var snapshotChunkBytes = 96
    /// Serve reads from the leader's lease (`ReadMode.lease`) instead of a ReadIndex round.
    public var leaseReads = false
    /// With lease reads: let nodes tick at different rates (unbounded clock drift), under which lease
    /// reads are not safe — the checker is expected to find stale reads. Off: every tick is a tick
    /// of all nodes, so clocks do not drift.
    public var clockDrift = true

    public init() {}
}

/// Relative weights (per mille of steps, roughly) of the fault phase's actions. By default each seed
/// draws its own fault intensity — calm, moderate or stormy — for crashes, partitions and drops, so that
/// a run of many seeds covers both long stable stretches and heavy churn.
public struct ActionWeights: Sendable {
    public var deliver = 400
    public var tick = 90
    public var tickAll = 30
    public var persist = 160
    public var propose = 60
    public var read = 20
    public var drop = 30
    public var duplicate = 20
    public var crash = 3
    public var restart = 20
    public var partition = 3
    public var heal = 10
    public var compact = 12
    public var membership = 4
    public var transfer = 1
    /// Re-deliver a message delivered earlier (possibly from an older term).
    public var replay = 6
    /// Cut every link of the current leader, both ways: the stale-leader scenario.
    public var isolateLeader = 2
    /// Draw crash, partition and drop weights from the seed instead of using the ones above.
    public var varyPerSeed = true
    public init() {}

    mutating func vary(_ rng: inout SplitMix64) {
        let levels = [1, 4, 12]
        replay = [0, 6, 20][rng.below(3)]
        // Partitions must sometimes outlast an election so that a cut-off leader meets its successor.
        heal = [2, 4, 10][rng.below(3)]
        isolateLeader = [0, 2][rng.below(2)]
        crash = levels[rng.below(3)]
        partition = levels[rng.below(3)]
        drop = [0, 30, 100][rng.below(3)]
        duplicate = [0, 20][rng.below(2)]
    }
}

public struct SimulationResult: Sendable {
    public var seed: UInt64
    /// Safety and liveness violations, each a sentence naming the step.
    public var violations: [String]
    /// Entries committed in the run (the length of the committed log at the end).
    public var commits: Int
    /// Distinct terms in which a leader was seen.
    public var elections: Int
    /// Steps executed.
    public var steps: Int
    /// Largest number of messages in flight at once.
    public var maxInFlight: Int = 0
    /// Snapshots installed from a leader, membership changes committed, largest snapshot moved (bytes).
    public var snapshotsInstalled = 0
    public var membershipChanges = 0
    public var largestSnapshotBytes = 0
    /// FNV-1a hash of every action and its effect: equal hashes mean identical histories.
    public var traceHash: UInt64
    /// The trace, when `recordTrace` was set.
    public var trace: [String]
}

/// A durable disk: only what a completed write put there survives a crash.
struct SimDisk {
    var hardState = HardState()
    /// The newest snapshot; entries at or below its index are folded into it.
    var snapshot: Snapshot?
    var offset: LogIndex = 0
    var entries: [Entry] = []  // index offset+1+i at position i

    var lastIndex: LogIndex { offset + LogIndex(entries.count) }

    func entry(at index: LogIndex) -> Entry? {
        guard index > offset, index <= lastIndex else { return nil }
        return entries[Int(index - offset - 1)]
    }

    /// Applies one `Ready`'s durable part; returns the entries it removed from the log (not counting
    /// those folded into an installed snapshot).
    mutating func write(hardState hs: HardState?, entries new: [Entry], snapshot snap: Snapshot? = nil) -> [Entry] {
        var removed: [Entry] = []
        if let snap {
            removed = entries.filter { $0.index > snap.index }
            snapshot = snap
            offset = snap.index
            entries = []
        }
        if let first = new.first {
            precondition(first.index > offset && first.index <= lastIndex + 1, "a write must continue or overwrite the stored log")
            let keep = Int(first.index - offset) - 1
            if keep < entries.count {
                removed += entries[keep...]
                entries.removeLast(entries.count - keep)
            }
            entries.append(contentsOf: new)
        }
        if let hs { hardState = hs }
        return removed
    }

    /// Stores a snapshot taken locally and drops the log prefix it covers.
    mutating func compact(_ snap: Snapshot) {
        snapshot = snap
        let drop = Int(min(snap.index, lastIndex) - min(offset, snap.index))
        entries.removeFirst(min(drop, entries.count))
        offset = snap.index
    }
}

struct SimNode<Machine: SimulatedStateMachine> {
    let id: NodeID
    var raft: RaftNode?
    /// Whether the node was ever started (spares are not until they are added).
    var provisioned = false
    /// The membership the node was first started with.
    var bootstrap: Membership?
    /// The replica's state machine (lost on a crash, rebuilt from the snapshot and the log).
    var machine = Machine()
    var disk = SimDisk()
    /// `Ready`s taken from the node whose writes are not durable yet, oldest first.
    var pending: [Ready] = []
    var appliedCount: LogIndex { machine.appliedIndex }
    /// Monotonicity within one incarnation (one run between a start and a crash).
    var lastTerm: Term = 0
    var lastCommit: LogIndex = 0
    var lastSnapshotIndex: LogIndex = 0
}

/// A replicated state machine the simulator runs on every node (and once more, as the reference the
/// checker compares every replica with). Everything must be deterministic: same entries in the same
/// order, same state and digest on every node.
public protocol SimulatedStateMachine: Sendable {
    /// An empty state machine.
    init()
    /// Restores from `snapshotData()`; nil when the bytes are not a valid image.
    init?(snapshotData: [UInt8])
    /// Applies one committed entry (normal, noop or config).
    mutating func apply(_ entry: Entry)
    /// The index of the last applied entry.
    var appliedIndex: LogIndex { get }
    /// The state as bytes, the payload of a snapshot.
    func snapshotData() -> [UInt8]
    /// A digest of the state: replicas at the same index must agree.
    var stateDigest: [UInt8] { get }
    /// The payload of proposal number `sequence` (unique per sequence), drawn from `rng`.
    static func makeCommand(sequence: UInt64, rng: inout SplitMix64) -> [UInt8]
}

/// The default machine: a running FNV hash over applied entries. Its snapshot is the index and hash
/// plus filler whose length varies with the index, so that snapshots span several chunks.
public struct HashStateMachine: SimulatedStateMachine {
    public private(set) var appliedIndex: LogIndex = 0
    private var hash: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public init?(snapshotData bytes: [UInt8]) {
        guard bytes.count >= 16 else { return nil }
        var index: UInt64 = 0
        var hash: UInt64 = 0
        for i in 0..<8 {
            index |= UInt64(bytes[i]) << (8 * UInt64(i))
            hash |= UInt64(bytes[8 + i]) << (8 * UInt64(i))
        }
        guard bytes == HashStateMachine.encode(index: index, hash: hash) else { return nil }
        appliedIndex = index
        self.hash = hash
    }

    public mutating func apply(_ e: Entry) {
        func mix(_ b: UInt8) { hash ^= UInt64(b); hash = hash &* 0x100_0000_01b3 }
        for i in 0..<8 { mix(UInt8(truncatingIfNeeded: e.index >> (8 * UInt64(i)))) }
        mix(e.kind.rawValue)
        for b in e.data { mix(b) }
        appliedIndex = e.index
    }

    public func snapshotData() -> [UInt8] { HashStateMachine.encode(index: appliedIndex, hash: hash) }

    public var stateDigest: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: hash >> (8 * UInt64($0))) } }

    public static func makeCommand(sequence: UInt64, rng: inout SplitMix64) -> [UInt8] {
        withUnsafeBytes(of: sequence.bigEndian, Array.init)
    }

    static func encode(index: LogIndex, hash: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        for v in [index, hash] { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
        let filler = 40 + Int(index % 23) * 37
        for i in 0..<filler { out.append(UInt8(truncatingIfNeeded: hash >> (8 * UInt64(i % 8))) ^ UInt8(truncatingIfNeeded: i)) }
        return out
    }
}

/// The simulator with the default state machine.
public typealias Simulation = ClusterSimulation<HashStateMachine>

public struct ClusterSimulation<Machine: SimulatedStateMachine> {
    public let seed: UInt64
    public let options: SimulationOptions
    var rng: SplitMix64
    var nodes: [SimNode<Machine>] = []
    var network: [Message] = []
    /// Cut directed links (from, to).
    var cut: Set<Link> = []
    var checker: SafetyChecker<Machine>
    var step = 0
    var maxInFlight = 0
    var weights: ActionWeights
    /// Drawn per seed (1–4): small batches separate a new leader's no-op from older entries, which is
    /// what exposes Figure 8 and commit-index bugs.
    var appendEntriesLimit = 4
    var inflightLimit = 4
    /// Messages delivered recently, for the replay action (a bounded ring).
    var delivered: [Message] = []
    /// Relative tick rate of each node (all 1 unless clocks drift).
    var tickRate: [Int] = []
    var snapshotsInstalled = 0
    var largestSnapshotBytes = 0
    var trace = Trace()
    var nextPayload: UInt64 = 1
    var nextReadContext: UInt64 = 1
    let membership: Membership
    let maxNetwork = 4000

    struct Link: Hashable { var from: NodeID; var to: NodeID }

    public init(seed: UInt64, options: SimulationOptions = SimulationOptions()) {
        self.seed = seed
        self.options = options
        self.rng = SplitMix64(seed: seed)
        self.weights = options.weights
        if weights.varyPerSeed {
            weights.vary(&rng)
            appendEntriesLimit = 1 + rng.below(4)
            inflightLimit = 1 + rng.below(4)
        }
        if options.leaseReads && options.clockDrift {
            // Persistent drift: each node's clock runs at its own rate, up to 4 times another's.
            weights.tickAll = 0
            weights.tick = 120
            weights.read *= 4
        }
        if options.leaseReads && !options.clockDrift {
            weights.tickAll += weights.tick / 4
            weights.tick = 0
            weights.read *= 4
        }
        let voters = (1...options.voters).map { NodeID($0) }
        let learners = options.learners > 0
            ? (options.voters + 1 ... options.voters + options.learners).map { NodeID($0) } : []
        membership = Membership(voters: voters, learners: learners)
        checker = SafetyChecker<Machine>(membership: membership)
        trace.record = options.recordTrace
        for id in membership.all {
            var n = SimNode<Machine>(id: id)
            n.provisioned = true
            n.bootstrap = membership
            n.raft = RaftNode(config: config(for: id, membership: membership), restored: RestoredState())
            nodes.append(n)
        }
        for k in 0..<options.spares {
            nodes.append(SimNode<Machine>(id: NodeID(membership.all.count + k + 1)))
        }
        tickRate = nodes.map { _ in options.leaseReads && options.clockDrift ? 1 + rng.below(4) : 1 }
    }

    func config(for id: NodeID, membership: Membership) -> RaftConfig {
        var c = RaftConfig(id: id, membership: membership, seed: seed)
        c.electionTicks = options.electionTicks
        c.heartbeatTicks = options.heartbeatTicks
        c.preVote = options.preVote
        c.checkQuorum = options.checkQuorum
        // Small limits so that batching, pipelining and flow control are exercised.
        c.limits.maxAppendEntries = appendEntriesLimit
        c.limits.maxAppendBytes = 200
        c.limits.maxInflightMessages = inflightLimit
        c.limits.maxInflightBytes = 800
        c.limits.maxPendingMessages = 256
        c.limits.maxApplyBatch = 8
        c.limits.maxPendingReads = 16
        c.limits.maxSnapshotChunkBytes = options.snapshotChunkBytes
        if options.leaseReads { c.readMode = .lease(driftMarginTicks: 2) }
        return c
    }

    /// Runs the fault phase and the liveness phase and reports what was found.
    public static func run(seed: UInt64, options: SimulationOptions = SimulationOptions()) -> SimulationResult {
        var sim = ClusterSimulation(seed: seed, options: options)
        return sim.run()
    }

    public mutating func run() -> SimulationResult {
        while step < options.faultSteps && checker.violations.isEmpty {  // bounded by faultSteps
            step += 1
            faultStep()
            checkAll()
            maxInFlight = max(maxInFlight, network.count)
        }
        if checker.violations.isEmpty { livenessPhase() }
        return SimulationResult(seed: seed, violations: checker.violations, commits: checker.committed.count,
                                elections: checker.leaderOfTerm.count, steps: step, maxInFlight: maxInFlight,
                                snapshotsInstalled: snapshotsInstalled, membershipChanges: checker.committedConfigChanges,
                                largestSnapshotBytes: largestSnapshotBytes, traceHash: trace.hash, trace: trace.lines)
    }

    // MARK: - Fault phase

    mutating func faultStep() {
        let w = weights
        let table: [(Int, Action)] = [
            (w.deliver, .deliver), (w.tick, .tick), (w.tickAll, .tickAll), (w.persist, .persist),
            (w.propose, .propose), (w.read, .read), (w.drop, .drop), (w.duplicate, .duplicate),
            (w.crash, .crash), (w.restart, .restart), (w.partition, .partition), (w.heal, .heal),
            (options.compaction ? w.compact : 0, .compact),
            (options.membershipChanges ? w.membership : 0, .membership),
            (options.transfers ? w.transfer : 0, .transfer),
            (w.replay, .replay),
            (w.isolateLeader, .isolateLeader),
        ]
        let total = table.reduce(0) { $0 + $1.0 }
        var pick = rng.below(total)
        var action = Action.deliver
        for (weight, a) in table {
            if pick < weight { action = a; break }
            pick -= weight
        }
        perform(action)
    }

    enum Action {
        case deliver, tick, tickAll, persist, propose, read, drop, duplicate, crash, restart, partition, heal
        case compact, membership, transfer, replay, isolateLeader
    }

    mutating func perform(_ action: Action) {
        switch action {
        case .deliver:
            guard !network.isEmpty else { return }
            let m = network.remove(at: rng.below(network.count))
            deliver(m)
        case .tick:
            var pick = rng.below(tickRate.reduce(0, +))
            var i = 0
            while pick >= tickRate[i] { pick -= tickRate[i]; i += 1 }
            tick(i)
        case .tickAll:
            for i in nodes.indices { tick(i) }
        case .persist:
            let candidates = nodes.indices.filter { !nodes[$0].pending.isEmpty }
            guard !candidates.isEmpty else { return }
            completeWrite(candidates[rng.below(candidates.count)])
        case .propose:
            let i = rng.below(nodes.count)
            propose(i, count: 1 + rng.below(3))
        case .read:
            let i = rng.below(nodes.count)
            read(i)
        case .drop:
            guard !network.isEmpty else { return }
            let m = network.remove(at: rng.below(network.count))
            trace.add("drop \(describe(m))")
        case .duplicate:
            guard !network.isEmpty, network.count < maxNetwork else { return }
            let m = network[rng.below(network.count)]
            network.append(m)
            trace.add("dup \(describe(m))")
        case .crash:
            let i = rng.below(nodes.count)
            crash(i)
        case .restart:
            let down = nodes.indices.filter { nodes[$0].raft == nil && nodes[$0].provisioned }
            guard !down.isEmpty else { return }
            restart(down[rng.below(down.count)])
        case .partition:
            partition()
        case .heal:
            cut = []
            trace.add("heal")
        case .compact:
            compact(rng.below(nodes.count))
        case .membership:
            changeMembership()
        case .transfer:
            transfer()
        case .isolateLeader:
            guard let l = nodes.first(where: { $0.raft?.role == .leader })?.id else { return }
            for other in nodes.map(\.id) where other != l {
                cut.insert(Link(from: l, to: other))
                cut.insert(Link(from: other, to: l))
            }
            trace.add("isolate leader \(l)")
        case .replay:
            guard !delivered.isEmpty else { return }
            let m = delivered[rng.below(delivered.count)]
            trace.add("replay \(describe(m))")
            deliver(m)
        }
    }

    /// Folds the node's applied entries into a snapshot of its state machine.
    mutating func compact(_ i: Int) {
        guard let raft = nodes[i].raft, raft.appliedIndex > raft.firstIndex else { return }
        let index = raft.appliedIndex
        let data = nodes[i].machine.snapshotData()
        guard let snap = nodes[i].raft!.compact(upTo: index, data: data) else { return }
        nodes[i].disk.compact(snap)
        checker.snapshotTaken(node: nodes[i].id, snapshot: snap, step: step)
        trace.add("compact \(nodes[i].id) at \(index) (\(data.count) bytes)")
        collect(i)
    }

    /// The leader adds a spare as a learner, promotes a caught-up learner, or removes a member.
    mutating func changeMembership() {
        guard let li = nodes.indices.first(where: { nodes[$0].raft?.role == .leader }) else { return }
        let m = nodes[li].raft!.membership
        let change: MembershipChange
        switch rng.below(3) {
        case 0:
            guard let spare = nodes.first(where: { !$0.provisioned }) else { return }
            change = .addLearner(spare.id)
        case 1:
            guard !m.learners.isEmpty else { return }
            change = .promote(m.learners[rng.below(m.learners.count)])
        default:
            // Keep at least three voters so that the cluster can still tolerate a fault.
            let pool = m.voters.count > 3 ? m.all : m.learners
            guard !pool.isEmpty else { return }
            change = .remove(pool[rng.below(pool.count)])
        }
        let r = nodes[li].raft!.proposeMembershipChange(change)
        trace.add("membership \(change) at \(nodes[li].id): \(r)")
        if case .appended = r, case .addLearner(let id) = change {
            // Provision the new node with a membership that includes it, as an operator would.
            let j = Int(id) - 1
            let boot = (try? m.applying(change).get()) ?? m
            nodes[j].provisioned = true
            nodes[j].bootstrap = boot
            nodes[j].raft = RaftNode(config: config(for: id, membership: boot), restored: RestoredState())
            collect(j)
        }
        collect(li)
    }

    mutating func transfer() {
        guard let li = nodes.indices.first(where: { nodes[$0].raft?.role == .leader }) else { return }
        let voters = nodes[li].raft!.membership.voters.filter { $0 != nodes[li].id }
        guard !voters.isEmpty else { return }
        let target = voters[rng.below(voters.count)]
        let r = nodes[li].raft!.transferLeadership(to: target)
        trace.add("transfer \(nodes[li].id) -> \(target): \(r)")
        collect(li)
    }

    mutating func partition() {
        if rng.below(3) == 0 {
            // Asymmetric: one direction of one link.
            let a = membership.all[rng.below(membership.all.count)]
            let b = membership.all[rng.below(membership.all.count)]
            guard a != b else { return }
            cut.insert(Link(from: a, to: b))
            trace.add("cut \(a)->\(b)")
        } else {
            // Split into two groups; every link between them is cut both ways.
            var side: [NodeID: Bool] = [:]
            for id in membership.all { side[id] = rng.below(2) == 0 }
            var desc: [NodeID] = []
            for a in membership.all where side[a] == true {
                desc.append(a)
                for b in membership.all where side[b] == false {
                    cut.insert(Link(from: a, to: b))
                    cut.insert(Link(from: b, to: a))
                }
            }
            trace.add("partition \(desc)")
        }
    }

    // MARK: - Node actions

    mutating func tick(_ i: Int) {
        guard nodes[i].raft != nil else { return }
        nodes[i].raft!.tick()
        trace.add("tick \(nodes[i].id)")
        collect(i)
    }

    mutating func deliver(_ m: Message) {
        let i = Int(m.to) - 1
        guard !cut.contains(Link(from: m.from, to: m.to)), nodes[i].raft != nil else {
            trace.add("lost \(describe(m))")
            return
        }
        trace.add("deliver \(describe(m))")
        if delivered.count < 64 { delivered.append(m) } else { delivered[rng.below(64)] = m }
        let before = nodes[i].raft!.term
        let knowsSender = nodes[i].raft!.membership.contains(m.from)
        nodes[i].raft!.step(m)
        if !knowsSender && (m.kind == .vote || m.kind == .preVote) && nodes[i].raft!.term != before {
            checker.fail(step: step, "non-member \(m.from) changed the term of \(m.to) with a \(m.kind)")
        }
        collect(i)
    }

    mutating func propose(_ i: Int, count: Int) {
        guard nodes[i].raft != nil else { return }
        var batch: [[UInt8]] = []
        for _ in 0..<count {
            batch.append(Machine.makeCommand(sequence: nextPayload, rng: &rng))
            nextPayload += 1
        }
        let r = nodes[i].raft!.propose(batch)
        trace.add("propose at \(nodes[i].id): \(r)")
        collect(i)
    }

    mutating func read(_ i: Int) {
        guard nodes[i].raft != nil else { return }
        let ctx = nextReadContext
        nextReadContext += 1
        checker.readRequested(context: ctx, node: nodes[i].id, step: step)
        let r = nodes[i].raft!.readIndex(context: ctx)
        trace.add("read \(ctx) at \(nodes[i].id): \(r)")
        collect(i)
    }

    mutating func crash(_ i: Int) {
        guard nodes[i].raft != nil else { return }
        nodes[i].raft = nil
        let lost = nodes[i].pending.count
        nodes[i].pending = []
        nodes[i].machine = Machine()
        trace.add("crash \(nodes[i].id) losing \(lost) writes")
    }

    mutating func restart(_ i: Int) {
        let d = nodes[i].disk
        // The state machine restarts from the stored snapshot, then replays committed entries.
        let restored = RestoredState(hardState: d.hardState, entries: d.entries, applied: d.snapshot?.index ?? 0,
                                     snapshot: d.snapshot)
        nodes[i].machine = d.snapshot.flatMap { Machine(snapshotData: $0.data) } ?? Machine()
        nodes[i].raft = RaftNode(config: config(for: nodes[i].id, membership: nodes[i].bootstrap!), restored: restored)
        nodes[i].lastTerm = d.hardState.term
        nodes[i].lastCommit = nodes[i].raft!.commitIndex
        nodes[i].lastSnapshotIndex = nodes[i].raft!.firstIndex - 1
        checker.restarted(node: nodes[i].id, hardState: d.hardState, lastIndex: LogIndex(d.entries.count))
        trace.add("restart \(nodes[i].id) term \(d.hardState.term) log \(d.entries.count)")
        collect(i)
    }

    /// Takes the node's pending work into its write queue.
    mutating func collect(_ i: Int) {
        guard var raft = nodes[i].raft else { return }
        if let h = raft.halted {
            checker.fail(step: step, "node \(nodes[i].id) halted: \(h)")
        }
        // Bounded: one Ready drains the node's pending work.
        if raft.hasReady {
            // The committed entries handed out now must be known committed to the checker.
            checker.observe(raft, step: step)
            let rd = raft.ready()
            nodes[i].pending.append(rd)
        }
        nodes[i].raft = raft
    }

    /// Makes the node's oldest pending write durable, then sends its messages and applies its entries.
    mutating func completeWrite(_ i: Int) {
        guard nodes[i].raft != nil, !nodes[i].pending.isEmpty else { return }
        let w = nodes[i].pending.removeFirst()
        let id = nodes[i].id
        let removed = nodes[i].disk.write(hardState: w.hardState, entries: w.entries, snapshot: w.snapshot)
        if let snap = w.snapshot {
            // Install into the state machine before applying anything after it.
            guard let m = Machine(snapshotData: snap.data), m.appliedIndex == snap.index else {
                checker.fail(step: step, "node \(id) received an undecodable snapshot at \(snap.index)")
                return
            }
            checker.snapshotInstalled(node: id, snapshot: snap, digest: m.stateDigest, step: step)
            nodes[i].machine = m
            snapshotsInstalled += 1
            largestSnapshotBytes = max(largestSnapshotBytes, snap.data.count)
        }
        checker.diskWritten(node: id, disk: nodes[i].disk, removed: removed, step: step)
        if let last = w.entries.last {
            nodes[i].raft!.persisted(upTo: last.index, term: last.term)
        }
        trace.add("persist \(id) hs=\(w.hardState.map { "\($0.term)/\($0.vote)/\($0.commit)" } ?? "-") entries=\(w.entries.count)")
        for m in w.messages {
            checker.sent(m, step: step)
            if network.count < maxNetwork { network.append(m) }
        }
        for e in w.committedEntries {
            checker.applied(node: id, entry: e, expectedIndex: nodes[i].appliedCount + 1, step: step)
            nodes[i].machine.apply(e)
            checker.stateAfterApply(node: id, index: e.index, digest: nodes[i].machine.stateDigest, step: step)
        }
        if let last = w.committedEntries.last { nodes[i].raft!.applied(upTo: last.index) }
        for rs in w.readStates { checker.readReturned(rs, node: id, step: step) }
        collect(i)
    }

    // MARK: - Checks

    mutating func checkAll() {
        for i in nodes.indices {
            guard let raft = nodes[i].raft else { continue }
            if raft.term < nodes[i].lastTerm {
                checker.fail(step: step, "node \(nodes[i].id) term went back from \(nodes[i].lastTerm) to \(raft.term)")
            }
            if raft.commitIndex < nodes[i].lastCommit {
                checker.fail(step: step, "node \(nodes[i].id) commit went back from \(nodes[i].lastCommit) to \(raft.commitIndex)")
            }
            if raft.firstIndex - 1 < nodes[i].lastSnapshotIndex {
                checker.fail(step: step, "node \(nodes[i].id) snapshot index went back from \(nodes[i].lastSnapshotIndex) to \(raft.firstIndex - 1)")
            }
            nodes[i].lastTerm = raft.term
            nodes[i].lastCommit = raft.commitIndex
            nodes[i].lastSnapshotIndex = raft.firstIndex - 1
            checker.observe(raft, step: step)
        }
        checker.durableCheck(step: step)
        trace.add("check \(checker.committed.count)")
    }

    // MARK: - Liveness

    mutating func livenessPhase() {
        cut = []
        for i in nodes.indices where nodes[i].raft == nil && nodes[i].provisioned { restart(i) }
        trace.add("liveness")
        var target: (payload: [UInt8], leader: NodeID, term: Term)?
        for _ in 0..<options.livenessRounds {  // bounded by livenessRounds
            step += 1
            for i in nodes.indices { tick(i) }
            drain()
            checkAll()
            if !checker.violations.isEmpty { return }
            let current = nodes.indices.first(where: { nodes[$0].raft?.role == .leader })
            // A proposal appended by a leader that then lost leadership may be overwritten (it was never
            // committed); a client would retry it with the new leader, and so does the simulator.
            let targetLost = target.map { t in
                !checker.committed.contains { $0.data == t.payload }
                    && current.map { nodes[$0].id != t.leader || nodes[$0].raft!.term != t.term } ?? false
            } ?? true
            if targetLost, let leaderIndex = current {
                let payload = Machine.makeCommand(sequence: nextPayload | 1 << 62, rng: &rng)
                nextPayload += 1
                if case .appended(_, _, let term) = nodes[leaderIndex].raft!.propose([payload]) {
                    target = (payload, nodes[leaderIndex].id, term)
                    collect(leaderIndex)
                }
            }
            if let t = target, let idx = checker.committed.firstIndex(where: { $0.data == t.payload }) {
                let index = LogIndex(idx + 1)
                // Every member of the committed configuration must apply it; removed nodes need not.
                let members = checker.committedMembership.all
                if nodes.allSatisfy({ !members.contains($0.id) || $0.appliedCount >= index }) { return }
            }
        }
        let leaders = nodes.compactMap { n in n.raft.flatMap { $0.role == .leader ? n.id : nil } }
        if let l = nodes.first(where: { $0.raft?.role == .leader })?.raft {
            let peers = l.membership.all.filter { $0 != l.id }.map { "\($0):\(l.matchIndex(of: $0) ?? 0)/\(l.nextIndex(of: $0) ?? 0)" }
            checker.fail(step: step, "liveness detail: leader \(l.id) term \(l.term) last \(l.lastIndex) persisted \(l.persistedIndex) commit \(l.commitIndex) transferee \(l.transferee) members \(l.membership.voters)+\(l.membership.learners) match/next \(peers)")
        }
        checker.fail(step: step, target == nil
            ? "liveness: no leader within \(options.livenessRounds) rounds after healing (leaders: \(leaders))"
            : "liveness: a proposal made after healing was not applied everywhere within \(options.livenessRounds) rounds")
    }

    /// Delivers every message and completes every write until the cluster is quiet (bounded).
    mutating func drain() {
        var guardRounds = 0
        while guardRounds < 200 && (!network.isEmpty || nodes.contains(where: { !$0.pending.isEmpty })) {
            guardRounds += 1
            for i in nodes.indices { while !nodes[i].pending.isEmpty { completeWrite(i) } }
            let batch = network
            network = []
            for m in batch { deliver(m) }
        }
    }

    func describe(_ m: Message) -> String {
        "\(m.kind)(\(m.from)->\(m.to) t\(m.term) i\(m.index) lt\(m.logTerm) n\(m.entries.count) c\(m.commit)\(m.reject ? " rej" : "") h\(m.rejectHint)/\(m.hintTerm) x\(m.context)\(m.snapshot.map { " snap@\($0.index)+\($0.offset)/\($0.total)" } ?? ""))"
    }
}

/// The history as a hash, and optionally as lines.
struct Trace {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    var record = false
    var lines: [String] = []

    mutating func add(_ text: String) {
        for b in text.utf8 {
            hash ^= UInt64(b)
            hash = hash &* 0x100_0000_01b3
        }
        if record { lines.append(text) }
    }
}
