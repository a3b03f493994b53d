import RaftCore

// A deterministic cluster simulator (in the spirit of FoundationDB's simulation and TigerBeetle's
// VOPR). N voters and L learners run in one process over a simulated network and simulated disks.
// One seed drives every choice: which message is delivered next (so messages are delayed and
// reordered), drops, duplicates, partitions (asymmetric ones too), crashes that lose every write
// not yet reported durable, restarts from what was durable, proposals and reads. After every step
// the `InvariantChecker` checks Raft's safety properties; then a liveness phase heals everything and
// requires a leader and new commits within a bound. The same seed always replays the same history.

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

    public init() {}
}

/// Relative weights (per mille of steps, roughly) of the fault phase's actions. By default each seed
/// draws its own fault intensity — calm, moderate or stormy — for crashes, partitions and drops, so that
/// a run of many seeds covers both long stable stretches and heavy churn.
public struct ActionWeights: Sendable {
    public var deliver = 400
    public var tick = 60
    public var tickAll = 20
    public var persist = 160
    public var propose = 60
    public var read = 20
    public var drop = 30
    public var duplicate = 20
    public var crash = 3
    public var restart = 20
    public var partition = 3
    public var heal = 10
    /// Draw crash, partition and drop weights from the seed instead of using the ones above.
    public var varyPerSeed = true
    public init() {}

    mutating func vary(_ rng: inout SplitMix64) {
        let levels = [1, 4, 12]
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
    /// FNV-1a hash of every action and its effect: equal hashes mean identical histories.
    public var traceHash: UInt64
    /// The trace, when `recordTrace` was set.
    public var trace: [String]
}

/// A durable disk: only what a completed write put there survives a crash.
struct SimDisk {
    var hardState = HardState()
    var entries: [Entry] = []  // index i+1 at position i (no compaction yet)

    mutating func write(hardState hs: HardState?, entries new: [Entry]) -> [Entry] {
        var removed: [Entry] = []
        if let first = new.first {
            let keep = Int(first.index) - 1
            precondition(keep <= entries.count, "a write must continue or overwrite the stored log")
            if keep < entries.count {
                removed = Array(entries[keep...])
                entries.removeLast(entries.count - keep)
            }
            entries.append(contentsOf: new)
        }
        if let hs { hardState = hs }
        return removed
    }
}

/// A write handed out by a node that is not yet durable, with the work that must wait for it.
struct PendingWrite {
    var ready: Ready
}

struct SimNode {
    let id: NodeID
    var raft: RaftNode?
    var disk = SimDisk()
    var pending: [PendingWrite] = []
    /// The state machine: entries applied in this incarnation, in order.
    var appliedCount: LogIndex = 0
    var incarnation = 0
    /// Monotonicity within one incarnation.
    var lastTerm: Term = 0
    var lastCommit: LogIndex = 0
}

public struct Simulation {
    public let seed: UInt64
    public let options: SimulationOptions
    var rng: SplitMix64
    var nodes: [SimNode] = []
    var network: [Message] = []
    /// Cut directed links (from, to).
    var cut: Set<Link> = []
    var checker: InvariantChecker
    var step = 0
    var maxInFlight = 0
    var weights: ActionWeights
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
        if weights.varyPerSeed { weights.vary(&rng) }
        let voters = (1...options.voters).map { NodeID($0) }
        let learners = options.learners > 0
            ? (options.voters + 1 ... options.voters + options.learners).map { NodeID($0) } : []
        membership = Membership(voters: voters, learners: learners)
        checker = InvariantChecker(membership: membership)
        trace.record = options.recordTrace
        for id in membership.all {
            var n = SimNode(id: id)
            n.raft = RaftNode(config: config(for: id), restored: RestoredState())
            nodes.append(n)
        }
    }

    func config(for id: NodeID) -> RaftConfig {
        var c = RaftConfig(id: id, membership: membership, seed: seed)
        c.electionTicks = options.electionTicks
        c.heartbeatTicks = options.heartbeatTicks
        c.preVote = options.preVote
        c.checkQuorum = options.checkQuorum
        // Small limits so that batching, pipelining and flow control are exercised.
        c.limits.maxAppendEntries = 4
        c.limits.maxAppendBytes = 200
        c.limits.maxInflightMessages = 4
        c.limits.maxInflightBytes = 800
        c.limits.maxPendingMessages = 256
        c.limits.maxApplyBatch = 8
        c.limits.maxPendingReads = 16
        return c
    }

    /// Runs the fault phase and the liveness phase and reports what was found.
    public static func run(seed: UInt64, options: SimulationOptions = SimulationOptions()) -> SimulationResult {
        var sim = Simulation(seed: seed, options: options)
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
                                elections: checker.leaderOfTerm.count, steps: step, maxInFlight: maxInFlight, traceHash: trace.hash,
                                trace: trace.lines)
    }

    // MARK: - Fault phase

    mutating func faultStep() {
        let w = weights
        let table: [(Int, Action)] = [
            (w.deliver, .deliver), (w.tick, .tick), (w.tickAll, .tickAll), (w.persist, .persist),
            (w.propose, .propose), (w.read, .read), (w.drop, .drop), (w.duplicate, .duplicate),
            (w.crash, .crash), (w.restart, .restart), (w.partition, .partition), (w.heal, .heal),
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

    enum Action { case deliver, tick, tickAll, persist, propose, read, drop, duplicate, crash, restart, partition, heal }

    mutating func perform(_ action: Action) {
        switch action {
        case .deliver:
            guard !network.isEmpty else { return }
            let m = network.remove(at: rng.below(network.count))
            deliver(m)
        case .tick:
            let i = rng.below(nodes.count)
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
            let down = nodes.indices.filter { nodes[$0].raft == nil }
            guard !down.isEmpty else { return }
            restart(down[rng.below(down.count)])
        case .partition:
            partition()
        case .heal:
            cut = []
            trace.add("heal")
        }
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
        nodes[i].raft!.step(m)
        collect(i)
    }

    mutating func propose(_ i: Int, count: Int) {
        guard nodes[i].raft != nil else { return }
        var batch: [[UInt8]] = []
        for _ in 0..<count {
            batch.append(withUnsafeBytes(of: nextPayload.bigEndian, Array.init))
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
        nodes[i].appliedCount = 0
        trace.add("crash \(nodes[i].id) losing \(lost) writes")
    }

    mutating func restart(_ i: Int) {
        let d = nodes[i].disk
        let restored = RestoredState(hardState: d.hardState, entries: d.entries)
        nodes[i].raft = RaftNode(config: config(for: nodes[i].id), restored: restored)
        nodes[i].incarnation += 1
        nodes[i].lastTerm = d.hardState.term
        nodes[i].lastCommit = nodes[i].raft!.commitIndex
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
            nodes[i].pending.append(PendingWrite(ready: rd))
        }
        nodes[i].raft = raft
    }

    /// Makes the node's oldest pending write durable, then sends its messages and applies its entries.
    mutating func completeWrite(_ i: Int) {
        guard nodes[i].raft != nil, !nodes[i].pending.isEmpty else { return }
        let w = nodes[i].pending.removeFirst()
        let id = nodes[i].id
        let removed = nodes[i].disk.write(hardState: w.ready.hardState, entries: w.ready.entries)
        checker.diskWritten(node: id, disk: nodes[i].disk, removed: removed, step: step)
        if let last = w.ready.entries.last {
            nodes[i].raft!.persisted(upTo: last.index, term: last.term)
        }
        trace.add("persist \(id) hs=\(w.ready.hardState.map { "\($0.term)/\($0.vote)/\($0.commit)" } ?? "-") entries=\(w.ready.entries.count)")
        for m in w.ready.messages {
            checker.sent(m, step: step)
            if network.count < maxNetwork { network.append(m) }
        }
        for e in w.ready.committedEntries {
            checker.applied(node: id, entry: e, expectedIndex: nodes[i].appliedCount + 1, step: step)
            nodes[i].appliedCount = e.index
        }
        if let last = w.ready.committedEntries.last { nodes[i].raft!.applied(upTo: last.index) }
        for rs in w.ready.readStates { checker.readReturned(rs, node: id, step: step) }
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
            nodes[i].lastTerm = raft.term
            nodes[i].lastCommit = raft.commitIndex
            checker.observe(raft, step: step)
        }
        checker.durableCheck(step: step)
        trace.add("check \(checker.committed.count)")
    }

    // MARK: - Liveness

    mutating func livenessPhase() {
        cut = []
        for i in nodes.indices where nodes[i].raft == nil { restart(i) }
        trace.add("liveness")
        var target: (payload: [UInt8], proposedAt: Int)?
        for round in 0..<options.livenessRounds {  // bounded by livenessRounds
            step += 1
            for i in nodes.indices { tick(i) }
            drain()
            checkAll()
            if !checker.violations.isEmpty { return }
            if target == nil, let leaderIndex = nodes.indices.first(where: { nodes[$0].raft?.role == .leader }) {
                let payload = withUnsafeBytes(of: (nextPayload | 1 << 63).bigEndian, Array.init)
                nextPayload += 1
                if case .appended = nodes[leaderIndex].raft!.propose([payload]) {
                    target = (payload, round)
                    collect(leaderIndex)
                }
            }
            if let t = target, let idx = checker.committed.firstIndex(where: { $0.data == t.payload }) {
                let index = LogIndex(idx + 1)
                if nodes.allSatisfy({ $0.appliedCount >= index }) { return }
            }
        }
        let leaders = nodes.compactMap { n in n.raft.flatMap { $0.role == .leader ? n.id : nil } }
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
        "\(m.kind)(\(m.from)->\(m.to) t\(m.term) i\(m.index) lt\(m.logTerm) n\(m.entries.count) c\(m.commit)\(m.reject ? " rej" : "") h\(m.rejectHint)/\(m.hintTerm) x\(m.context))"
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
