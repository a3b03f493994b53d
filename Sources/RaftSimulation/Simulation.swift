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
    /// Mix the scenario families of issue 22 into the schedule (each seed draws which and how often):
    /// transfers to lagging targets, stale and duplicated TimeoutNow, deposed leaders that keep
    /// sending, stranded leaders that leave long divergent suffixes, membership changes racing a new
    /// leader's first commit, snapshots taken right after a membership change, delayed heartbeats and
    /// reads at (possibly deposed) leaders.
    public var scenarios = true
    /// Let each seed switch CheckQuorum off (about 1 seed in 5) or serve lease reads with clocks in
    /// lockstep (about 1 in 6), unless the options above already fix them.
    public var varyFeatures = true
    /// The liveness phase ends with a verdict when the cluster makes no progress (no commit, apply or
    /// snapshot install anywhere) for this many rounds, ...
    public var stallRounds = 150
    /// ... or after this many message deliveries, or this many wall-clock seconds.
    public var livenessDeliveryBudget = 300_000
    public var livenessWallSeconds = 5.0
    /// Send what promises nothing durable (`MessageKind.waitsForDurability`: a leader's appends and
    /// heartbeats above all) as soon as the node hands it out, while its write is still in flight, as the
    /// controller's shell does (issue 19; thesis §10.2.1): a leader's own write may then complete after
    /// its followers' acknowledgements, and it must count itself only once it is durable. Drawn per seed
    /// (about half, from the seed's bits, so that the other seeds keep their histories); off: every
    /// message waits for its `Ready`'s write.
    public var earlySends = true

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
    /// Scenario families (issue 22), used when `SimulationOptions.scenarios` is on; drawn per seed.
    /// Transfer to the voter furthest behind (sometimes to a node that is no voter).
    public var transferLagging = 0
    /// Deliver again a TimeoutNow sent earlier (late, duplicated, possibly from a deposed leader).
    public var replayTimeoutNow = 0
    /// Deliver again a leader's append, heartbeat or snapshot chunk sent earlier (a deposed leader
    /// that keeps sending).
    public var replayLeader = 0
    /// Cut the leader off (alone, or with one follower) and give it proposals that it cannot commit:
    /// the old-term divergent suffix the next leader must overwrite.
    public var strandLeader = 0
    /// Hold a message (heartbeats and their acknowledgements, reads, TimeoutNow by preference) for
    /// tens to hundreds of steps before it enters the network again.
    public var delay = 0
    /// A read at a node that believes it leads (perhaps a deposed one).
    public var readAtLeader = 0
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

    mutating func varyScenarios(_ rng: inout SplitMix64) {
        transferLagging = [0, 3, 10][rng.below(3)]
        replayTimeoutNow = [0, 3, 10][rng.below(3)]
        replayLeader = [0, 4, 12][rng.below(3)]
        strandLeader = [0, 1, 3][rng.below(3)]
        delay = [0, 8, 25][rng.below(3)]
        readAtLeader = [0, 10, 30][rng.below(3)]
        // The families take steps (and leaders) away from ordinary membership changes.
        membership *= 2
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
    /// How often each scenario family reached the state it is for (see `Coverage`).
    public var coverage = Coverage()
    /// Rounds the liveness phase used.
    public var livenessRounds = 0
    /// Whether this seed sent non-durable messages before their write completed (`SimulationOptions.earlySends`).
    public var earlySends = false
    /// FNV-1a hash of every action and its effect: equal hashes mean identical histories.
    public var traceHash: UInt64
    /// The trace, when `recordTrace` was set.
    public var trace: [String]
}

/// How often a run reached the states the scenario families aim at: tests require each to be reached,
/// so that a family that silently stops working fails the suite.
public struct Coverage: Sendable, Equatable {
    /// Transfers started to the voter furthest behind, and transfer requests the leader refused.
    public var lagTransfers = 0
    public var refusedTransfers = 0
    /// TimeoutNow delivered to a node already in a newer term (late or from a deposed leader).
    public var staleTimeoutNow = 0
    /// Appends, heartbeats or chunks of an older term delivered again (a deposed leader still sending).
    public var staleLeaderMessages = 0
    /// Appends answered by a follower whose log goes beyond the append's last entry.
    public var longerFollowerAppends = 0
    /// Stored entries replaced by a leader's (a divergent suffix overwritten).
    public var suffixesOverwritten = 0
    /// Membership changes a new leader proposed before committing in its term (refused by the core).
    public var earlyMembershipChanges = 0
    /// Snapshot chunks delivered to a node whose configuration differs from the snapshot's.
    public var snapshotsAcrossMembership = 0
    /// Reads released by a leader (checked against its heartbeat rounds), and reads asked of a leader
    /// while a newer term exists.
    public var readsReleased = 0
    public var readsAtDeposedLeader = 0
    /// Messages held back and released later.
    public var delayedMessages = 0
    /// Commits a leader made when its own write completed, its followers' acknowledgements having come
    /// first (only with early sends: the leader's own write completing after the followers').
    public var commitsOnLeaderWrite = 0
    /// Proposals a node that does not lead refused, naming a leader the client then proposed to.
    public var proposalsRedirected = 0
    public init() {}
}

/// A durable disk: only what a completed write put there survives a crash.
struct SimDisk {
    var hardState = HardState()
    /// The newest snapshot; entries at or below its index are folded into it.
    var snapshot: Snapshot?
    var offset: LogIndex = 0
    var entries: [Entry] = [] // index offset+1+i at position i

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
            precondition(
                first.index > offset && first.index <= lastIndex + 1,
                "a write must continue or overwrite the stored log")
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
        func mix(_ b: UInt8) {
            hash ^= UInt64(b)
            hash = hash &* 0x100_0000_01b3
        }
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
        for i in 0..<filler {
            out.append(UInt8(truncatingIfNeeded: hash >> (8 * UInt64(i % 8))) ^ UInt8(truncatingIfNeeded: i))
        }
        return out
    }
}

/// The simulator with the default state machine.
public typealias Simulation = ClusterSimulation<HashStateMachine>

extension ClusterSimulation where Machine == HashStateMachine {
    /// Runs one seed with the default machine. Called from another module, the generic `run` would run
    /// unspecialised (about half the speed); this entry point is compiled for `HashStateMachine`.
    public static func run(seed: UInt64, options: SimulationOptions = SimulationOptions()) -> SimulationResult {
        var sim = ClusterSimulation<HashStateMachine>(seed: seed, options: options)
        return sim.run()
    }
}

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
    let trace = Trace()
    var nextPayload: UInt64 = 1
    var nextReadContext: UInt64 = 1
    let membership: Membership
    let maxNetwork = 4000
    /// Features as drawn for this seed.
    var checkQuorum: Bool
    var leaseReads: Bool
    var clockDrift: Bool
    /// Scenario triggers drawn for this seed: propose a membership change the moment a node becomes
    /// leader; compact every node the moment a membership change commits.
    var eagerMembership = false
    var compactOnMembership = false
    /// Nodes touched since the last check (an untouched node is unchanged: it is a value).
    var dirty: [Bool] = []
    /// Messages held back by the delay fault, with the step at which each re-enters the network.
    var held: [(release: Int, message: Message)] = []
    /// Messages leaders sent, and TimeoutNow messages, for the replay families (bounded rings).
    var leaderSent: [Message] = []
    var timeoutNows: [Message] = []
    /// A leadership seen per node (its term), and the scenario work due at the next step.
    var leaderTermSeen: [Term] = []
    var pendingEager: Int?
    var pendingCompactAll = false
    var configChangesSeen = 0
    /// ReadIndex rounds, as the network sees them: per leader and term the newest heartbeat round it
    /// sent and, per voter, the newest round that voter acknowledged; per read the first round sent
    /// after the leader received it. A read may be released only when a quorum acknowledged a round
    /// at least that new.
    var roundSent: [NodeID: (term: Term, round: UInt64)] = [:]
    var roundAcked: [NodeID: (term: Term, acks: [NodeID: UInt64])] = [:]
    struct ReadKey: Hashable {
        var leader: NodeID
        var term: Term
        var context: UInt64
    }
    var readFirstRound: [ReadKey: UInt64] = [:]
    var deliveries = 0
    var coverage = Coverage()
    /// TimeoutNow messages delivered: (target, term of the message).
    struct TermKey: Hashable {
        var node: NodeID
        var term: Term
    }
    var timeoutNowDelivered: Set<TermKey> = []
    /// Leaders that sent a TimeoutNow: (leader, term). Such a leader has given up its lease for the term.
    var timeoutNowSent: Set<TermKey> = []
    var livenessRounds = 0
    /// This seed sends non-durable messages before the write completes (`SimulationOptions.earlySends`).
    var earlySends = false
    /// This seed's leaders heartbeat learners once per election timeout only (`RaftConfig.learnerHeartbeatTicks`).
    var sparseLearnerHeartbeats = false

    struct Link: Hashable {
        var from: NodeID
        var to: NodeID
    }

    public init(seed: UInt64, options: SimulationOptions = SimulationOptions()) {
        self.seed = seed
        self.options = options
        self.rng = SplitMix64(seed: seed)
        self.weights = options.weights
        self.checkQuorum = options.checkQuorum
        self.leaseReads = options.leaseReads
        self.clockDrift = options.clockDrift
        // From the seed's bits, not the generator: seeds without early sends keep their histories.
        var bits = SplitMix64(seed: seed ^ 0x5EED_0E41_7A11_5E4D)
        self.earlySends = options.earlySends && bits.next() & 1 == 1
        self.sparseLearnerHeartbeats = bits.next() & 1 == 1
        if weights.varyPerSeed {
            weights.vary(&rng)
            appendEntriesLimit = 1 + rng.below(4)
            inflightLimit = 1 + rng.below(4)
        }
        if options.scenarios {
            weights.varyScenarios(&rng)
            eagerMembership = rng.below(3) == 0
            compactOnMembership = rng.below(3) == 0
        }
        if options.varyFeatures && options.checkQuorum && !options.leaseReads {
            switch rng.below(30) {
            case 0..<6: checkQuorum = false
            case 6..<11:
                leaseReads = true
                clockDrift = false
            default: break
            }
        }
        if leaseReads && clockDrift {
            // Persistent drift: each node's clock runs at its own rate, up to 4 times another's.
            weights.tickAll = 0
            weights.tick = 120
            weights.read *= 4
        }
        if leaseReads && !clockDrift {
            weights.tickAll += weights.tick / 4
            weights.tick = 0
            weights.read *= 4
        }
        let voters = (1...options.voters).map { NodeID($0) }
        let learners =
            options.learners > 0
            ? (options.voters + 1...options.voters + options.learners).map { NodeID($0) } : []
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
        tickRate = nodes.map { _ in leaseReads && clockDrift ? 1 + rng.below(4) : 1 }
        dirty = nodes.map { _ in true }
        leaderTermSeen = nodes.map { _ in 0 }
    }

    func config(for id: NodeID, membership: Membership) -> RaftConfig {
        var c = RaftConfig(id: id, membership: membership, seed: seed)
        c.electionTicks = options.electionTicks
        c.heartbeatTicks = options.heartbeatTicks
        if sparseLearnerHeartbeats { c.learnerHeartbeatTicks = options.electionTicks }
        c.preVote = options.preVote
        c.checkQuorum = checkQuorum
        // Small limits so that batching, pipelining and flow control are exercised.
        c.limits.maxAppendEntries = appendEntriesLimit
        c.limits.maxAppendBytes = 200
        c.limits.maxInflightMessages = inflightLimit
        c.limits.maxInflightBytes = 800
        c.limits.maxPendingMessages = 256
        c.limits.maxApplyBatch = 8
        c.limits.maxPendingReads = 16
        c.limits.maxSnapshotChunkBytes = options.snapshotChunkBytes
        if leaseReads { c.readMode = .lease(driftMarginTicks: 2) }
        return c
    }

    /// Runs the fault phase and the liveness phase and reports what was found.
    public static func run(seed: UInt64, options: SimulationOptions = SimulationOptions()) -> SimulationResult {
        var sim = ClusterSimulation(seed: seed, options: options)
        return sim.run()
    }

    public mutating func run() -> SimulationResult {
        while step < options.faultSteps && checker.violations.isEmpty { // bounded by faultSteps
            step += 1
            faultStep()
            checkAll()
            maxInFlight = max(maxInFlight, network.count)
        }
        if checker.violations.isEmpty { livenessPhase() }
        return SimulationResult(
            seed: seed, violations: checker.violations, commits: checker.committed.count,
            elections: checker.leaderOfTerm.count, steps: step, maxInFlight: maxInFlight,
            snapshotsInstalled: snapshotsInstalled, membershipChanges: checker.committedConfigChanges,
            largestSnapshotBytes: largestSnapshotBytes, coverage: coverage, livenessRounds: livenessRounds,
            earlySends: earlySends, traceHash: trace.hash, trace: trace.lines)
    }

    // MARK: - Fault phase

    mutating func faultStep() {
        releaseHeld(all: false)
        if let li = pendingEager {
            pendingEager = nil
            changeMembership(at: li)
        }
        if pendingCompactAll {
            pendingCompactAll = false
            for i in nodes.indices { compact(i) }
        }
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
            (options.transfers ? w.transferLagging : 0, .transferLagging),
            (w.replayTimeoutNow, .replayTimeoutNow), (w.replayLeader, .replayLeader),
            (w.strandLeader, .strandLeader), (w.delay, .delay), (w.readAtLeader, .readAtLeader)
        ]
        let total = table.reduce(0) { $0 + $1.0 }
        var pick = rng.below(total)
        var action = Action.deliver
        for (weight, a) in table {
            if pick < weight {
                action = a
                break
            }
            pick -= weight
        }
        perform(action)
    }

    enum Action {
        case deliver, tick, tickAll, persist, propose, read, drop, duplicate, crash, restart, partition, heal
        case compact, membership, transfer, replay, isolateLeader
        case transferLagging, replayTimeoutNow, replayLeader, strandLeader, delay, readAtLeader
    }

    /// One step of the schedule; every random choice is drawn from `rng` inside the action, so a seed
    /// replays the same run.
    mutating func perform(_ action: Action) {
        switch action {
        case .deliver: deliverRandom()
        case .tick: tickWeighted()
        case .tickAll: for i in nodes.indices { tick(i) }
        case .persist: persistRandom()
        case .propose:
            let i = rng.below(nodes.count)
            propose(i, count: 1 + rng.below(3))
        case .read:
            let i = rng.below(nodes.count)
            read(i)
        case .drop: dropRandom()
        case .duplicate: duplicateRandom()
        case .crash:
            let i = rng.below(nodes.count)
            crash(i)
        case .restart: restartRandom()
        case .partition: partition()
        case .heal:
            cut = []
            trace.add(4, "heal")
        case .compact: compact(rng.below(nodes.count))
        case .membership: changeMembership()
        case .transfer: transfer()
        case .isolateLeader: isolateLeader()
        case .replay: replayDelivered()
        case .transferLagging: transferToLagging()
        case .replayTimeoutNow: replayTimeoutNow()
        case .replayLeader: replayLeaderMessage()
        case .strandLeader: strandLeader()
        case .delay: delayMessage()
        case .readAtLeader: readAtLeader()
        }
    }

    // MARK: - The actions

    private mutating func deliverRandom() {
        guard !network.isEmpty else { return }
        let m = network.remove(at: rng.below(network.count))
        deliver(m)
    }

    /// Ticks one node, chosen with the weights of `tickRate`.
    private mutating func tickWeighted() {
        var pick = rng.below(tickRate.reduce(0, +))
        var i = 0
        while pick >= tickRate[i] {
            pick -= tickRate[i]
            i += 1
        }
        tick(i)
    }

    /// Completes the pending disk write of one node that has one.
    private mutating func persistRandom() {
        let candidates = nodes.indices.filter { !nodes[$0].pending.isEmpty }
        guard !candidates.isEmpty else { return }
        completeWrite(candidates[rng.below(candidates.count)])
    }

    private mutating func dropRandom() {
        guard !network.isEmpty else { return }
        let m = network.remove(at: rng.below(network.count))
        trace.message(2, m, "drop \(describe(m))")
    }

    private mutating func duplicateRandom() {
        guard !network.isEmpty, network.count < maxNetwork else { return }
        let m = network[rng.below(network.count)]
        network.append(m)
        trace.message(3, m, "dup \(describe(m))")
    }

    /// Restarts one crashed, provisioned node.
    private mutating func restartRandom() {
        let down = nodes.indices.filter { nodes[$0].raft == nil && nodes[$0].provisioned }
        guard !down.isEmpty else { return }
        restart(down[rng.below(down.count)])
    }

    /// Cuts the leader off from every other node, both ways.
    private mutating func isolateLeader() {
        guard let l = nodes.first(where: { $0.raft?.role == .leader })?.id else { return }
        for other in nodes.map(\.id) where other != l {
            cut.insert(Link(from: l, to: other))
            cut.insert(Link(from: other, to: l))
        }
        trace.add(5, l, "isolate leader \(l)")
    }

    /// Delivers again a message that was delivered before.
    private mutating func replayDelivered() {
        guard !delivered.isEmpty else { return }
        let m = delivered[rng.below(delivered.count)]
        trace.message(6, m, "replay \(describe(m))")
        deliver(m)
    }

    private mutating func replayTimeoutNow() {
        guard !timeoutNows.isEmpty else { return }
        let m = timeoutNows[rng.below(timeoutNows.count)]
        trace.message(22, m, "replay timeoutNow \(describe(m))")
        if let t = nodes[Int(m.to) - 1].raft?.term, t > m.term { coverage.staleTimeoutNow += 1 }
        deliver(m)
    }

    private mutating func replayLeaderMessage() {
        guard !leaderSent.isEmpty else { return }
        let m = leaderSent[rng.below(leaderSent.count)]
        trace.message(23, m, "replay leader message \(describe(m))")
        if let t = nodes[Int(m.to) - 1].raft?.term, t > m.term { coverage.staleLeaderMessages += 1 }
        deliver(m)
    }

    /// A read at a node that believes it leads (possibly deposed already).
    private mutating func readAtLeader() {
        let leaders = nodes.indices.filter { nodes[$0].raft?.role == .leader }
        guard !leaders.isEmpty else { return }
        let li = leaders[rng.below(leaders.count)]
        if nodes.contains(where: { ($0.raft?.term ?? 0) > nodes[li].raft!.term }) {
            coverage.readsAtDeposedLeader += 1
        }
        read(li)
    }

    // MARK: - Scenario families (issue 22)

    /// Transfer to the voter the leader knows least about (it must catch up first, and may never), or
    /// now and then to any node at all (a learner, a removed node, a spare: the leader must refuse).
    mutating func transferToLagging() {
        let leaders = nodes.indices.filter { nodes[$0].raft?.role == .leader }
        guard !leaders.isEmpty else { return }
        let li = leaders[rng.below(leaders.count)]
        let l = nodes[li].raft!
        let voters = l.membership.voters.filter { $0 != l.id }
        let target: NodeID
        if voters.isEmpty || rng.below(4) == 0 {
            target = nodes[rng.below(nodes.count)].id
        } else {
            target = voters.min { (l.matchIndex(of: $0) ?? 0, $0) < (l.matchIndex(of: $1) ?? 0, $1) }!
        }
        let r = nodes[li].raft!.transferLeadership(to: target)
        if case .started = r { coverage.lagTransfers += 1 } else { coverage.refusedTransfers += 1 }
        trace.add(24, nodes[li].id, target, "transfer to lagging \(nodes[li].id) -> \(target): \(r)")
        collect(li)
    }

    /// Cuts the leader off (with one companion that still hears it, half of the time) and proposes to
    /// it: entries of its term that the rest never see, to be overwritten after a new election.
    mutating func strandLeader() {
        guard let li = nodes.indices.first(where: { nodes[$0].raft?.role == .leader }) else { return }
        let l = nodes[li].id
        let others = nodes.map(\.id).filter { $0 != l }
        let companion: NodeID = rng.below(2) == 0 ? others[rng.below(others.count)] : noNode
        for a in [l, companion] where a != noNode {
            for b in others where b != companion {
                cut.insert(Link(from: a, to: b))
                cut.insert(Link(from: b, to: a))
            }
        }
        trace.add(25, l, companion, "strand leader \(l) with \(companion)")
        for _ in 0..<2 + rng.below(6) { propose(li, count: 1 + rng.below(3)) }
    }

    /// Holds one message back, preferring the ones ReadIndex and transfers depend on.
    mutating func delayMessage() {
        guard !network.isEmpty else { return }
        var k = rng.below(network.count)
        for _ in 0..<4 {
            switch network[k].kind {
            case .heartbeat, .heartbeatResponse, .readIndex, .readIndexResponse, .timeoutNow, .appendResponse: break
            default:
                k = rng.below(network.count)
                continue
            }
            break
        }
        let m = network.remove(at: k)
        let release = step + 20 + rng.below(400)
        held.append((release, m))
        coverage.delayedMessages += 1
        trace.message(26, m, "hold until \(release) \(describe(m))")
    }

    mutating func releaseHeld(all: Bool) {
        guard !held.isEmpty else { return }
        var kept: [(release: Int, message: Message)] = []
        for h in held {
            if all || h.release <= step {
                if network.count < maxNetwork { network.append(h.message) }
            } else {
                kept.append(h)
            }
        }
        held = kept
    }

    /// Folds the node's applied entries into a snapshot of its state machine.
    mutating func compact(_ i: Int) {
        guard let raft = nodes[i].raft, raft.appliedIndex > raft.firstIndex else { return }
        let index = raft.appliedIndex
        let data = nodes[i].machine.snapshotData()
        guard let snap = nodes[i].raft!.compact(upTo: index, data: data) else { return }
        nodes[i].disk.compact(snap)
        checker.snapshotTaken(node: nodes[i].id, snapshot: snap, step: step)
        trace.add(7, nodes[i].id, index, "compact \(nodes[i].id) at \(index) (\(data.count) bytes)")
        collect(i)
    }

    /// The leader adds a spare as a learner, promotes a caught-up learner, or removes a member.
    mutating func changeMembership(at leaderIndex: Int? = nil) {
        guard let li = leaderIndex ?? nodes.indices.first(where: { nodes[$0].raft?.role == .leader }),
            nodes[li].raft?.role == .leader
        else { return }
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
            // Half of the time a recent transfer target, so that a late TimeoutNow reaches a removed node.
            let targets = timeoutNows.map(\.to).filter { pool.contains($0) }
            change = .remove(
                !targets.isEmpty && rng.below(2) == 0 ? targets[rng.below(targets.count)] : pool[rng.below(pool.count)])
        }
        let r = nodes[li].raft!.proposeMembershipChange(change)
        if case .dropped(let why) = r, why.contains("of its term") { coverage.earlyMembershipChanges += 1 }
        trace.add(8, nodes[li].id, r.traceCode, "membership \(change) at \(nodes[li].id): \(r)")
        if case .appended(let index, _, _) = r, case .addLearner(let id) = change {
            // Provision the new node with a membership that includes it, as an operator would.
            let j = Int(id) - 1
            let boot = (try? m.applying(change).get()) ?? m
            nodes[j].provisioned = true
            nodes[j].bootstrap = boot
            checker.joinedWith.append((boot, index))
            nodes[j].raft = RaftNode(config: config(for: id, membership: boot), restored: RestoredState())
            collect(j)
        }
        if case .appended = r, compactOnMembership {
            // Someone misses the change, to be brought up to date by a snapshot that carries it.
            let others = m.all.filter { $0 != nodes[li].id }
            if !others.isEmpty {
                let away = others[rng.below(others.count)]
                for b in membership.all where b != away {
                    cut.insert(Link(from: away, to: b))
                    cut.insert(Link(from: b, to: away))
                }
                trace.add(27, away, "cut off \(away) during the change")
            }
        }
        collect(li)
    }

    mutating func transfer() {
        guard let li = nodes.indices.first(where: { nodes[$0].raft?.role == .leader }) else { return }
        let voters = nodes[li].raft!.membership.voters.filter { $0 != nodes[li].id }
        guard !voters.isEmpty else { return }
        let target = voters[rng.below(voters.count)]
        let r = nodes[li].raft!.transferLeadership(to: target)
        trace.add(9, nodes[li].id, target, "transfer \(nodes[li].id) -> \(target): \(r)")
        collect(li)
    }

    mutating func partition() {
        if rng.below(3) == 0 {
            // Asymmetric: one direction of one link.
            let a = membership.all[rng.below(membership.all.count)]
            let b = membership.all[rng.below(membership.all.count)]
            guard a != b else { return }
            cut.insert(Link(from: a, to: b))
            trace.add(10, a, b, "cut \(a)->\(b)")
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
            trace.add(11, UInt64(desc.count), desc.first ?? 0, "partition \(desc)")
        }
    }

    // MARK: - Node actions

    mutating func tick(_ i: Int) {
        guard nodes[i].raft != nil else { return }
        nodes[i].raft!.tick()
        trace.add(12, nodes[i].id, "tick \(nodes[i].id)")
        collect(i)
    }

    mutating func deliver(_ m: Message) {
        let i = Int(m.to) - 1
        guard !cut.contains(Link(from: m.from, to: m.to)), nodes[i].raft != nil else {
            trace.message(13, m, "lost \(describe(m))")
            return
        }
        trace.message(14, m, "deliver \(describe(m))")
        if delivered.count < 64 { delivered.append(m) } else { delivered[rng.below(64)] = m }
        deliveries += 1
        if m.kind == .timeoutNow { timeoutNowDelivered.insert(TermKey(node: m.to, term: m.term)) }
        switch m.kind {
        case .append
        where nodes[i].raft!.lastIndex > m.index + LogIndex(m.entries.count) && m.term == nodes[i].raft!.term:
            coverage.longerFollowerAppends += 1
        case .snapshot where m.snapshot.map({ $0.membership != nodes[i].raft!.membership }) == true:
            coverage.snapshotsAcrossMembership += 1
        default: break
        }
        if nodes[i].raft!.role == .leader {
            let l = nodes[i].raft!
            if m.kind == .readIndex {
                noteReadArrived(at: l, context: m.context)
            } else if m.kind == .heartbeatResponse, m.term == l.term, m.context != 0, l.membership.isVoter(m.from) {
                var r: (term: Term, acks: [NodeID: UInt64]) =
                    roundAcked[l.id].flatMap { $0.term == l.term ? $0 : nil } ?? (l.term, [:])
                r.acks[m.from] = max(r.acks[m.from] ?? 0, m.context)
                roundAcked[l.id] = r
            }
        }
        let before = nodes[i].raft!.term
        let knowsSender = nodes[i].raft!.membership.contains(m.from)
        nodes[i].raft!.step(m)
        if !knowsSender && (m.kind == .vote || m.kind == .preVote) && nodes[i].raft!.term != before {
            checker.fail(step: step, "non-member \(m.from) changed the term of \(m.to) with a \(m.kind)")
        }
        collect(i)
    }

    /// A client proposes at node `i`. Only a leader appends (RaftCore forwards no proposal); a node that
    /// does not lead refuses naming the leader it knows, and the client proposes the same batch there, as
    /// a client of the controller's API is sent on by a follower. A refusal may name a stale leader, so
    /// the client follows at most a few such hops, then gives up (the commands were never appended).
    mutating func propose(_ i: Int, count: Int) {
        guard nodes[i].raft != nil else { return }
        var batch: [[UInt8]] = []
        for _ in 0..<count {
            batch.append(Machine.makeCommand(sequence: nextPayload, rng: &rng))
            nextPayload += 1
        }
        var at = i
        for _ in 0..<3 {
            let r = nodes[at].raft!.propose(batch)
            trace.add(15, nodes[at].id, r.traceCode, "propose at \(nodes[at].id): \(r)")
            collect(at)
            guard case .notLeader(let named) = r, named != nodes[at].id,
                let next = nodes.firstIndex(where: { $0.id == named }),
                nodes[next].raft != nil
            else { return }
            coverage.proposalsRedirected += 1
            at = next
        }
    }

    mutating func read(_ i: Int) {
        guard nodes[i].raft != nil else { return }
        let ctx = nextReadContext
        nextReadContext += 1
        checker.readRequested(context: ctx, node: nodes[i].id, step: step)
        if nodes[i].raft!.role == .leader { noteReadArrived(at: nodes[i].raft!, context: ctx) }
        let r = nodes[i].raft!.readIndex(context: ctx)
        trace.add(16, nodes[i].id, ctx, "read \(ctx) at \(nodes[i].id): \(r)")
        collect(i)
    }

    mutating func crash(_ i: Int) {
        guard let raft = nodes[i].raft else { return }
        checker.crashed(node: nodes[i].id, entries: raft.entries, disk: nodes[i].disk)
        nodes[i].raft = nil
        let lost = nodes[i].pending.count
        nodes[i].pending = []
        nodes[i].machine = Machine()
        trace.add(17, nodes[i].id, UInt64(lost), "crash \(nodes[i].id) losing \(lost) writes")
    }

    mutating func restart(_ i: Int) {
        let d = nodes[i].disk
        // The state machine restarts from the stored snapshot, then replays committed entries.
        let restored = RestoredState(
            hardState: d.hardState, entries: d.entries, applied: d.snapshot?.index ?? 0,
            snapshot: d.snapshot)
        nodes[i].machine = d.snapshot.flatMap { Machine(snapshotData: $0.data) } ?? Machine()
        nodes[i].raft = RaftNode(config: config(for: nodes[i].id, membership: nodes[i].bootstrap!), restored: restored)
        nodes[i].lastTerm = d.hardState.term
        nodes[i].lastCommit = nodes[i].raft!.commitIndex
        nodes[i].lastSnapshotIndex = nodes[i].raft!.firstIndex - 1
        checker.restarted(node: nodes[i].id, hardState: d.hardState, lastIndex: LogIndex(d.entries.count))
        roundSent[nodes[i].id] = nil
        roundAcked[nodes[i].id] = nil
        trace.add(
            18, nodes[i].id, d.hardState.term, "restart \(nodes[i].id) term \(d.hardState.term) log \(d.entries.count)")
        collect(i)
    }

    /// Takes the node's pending work into its write queue.
    mutating func collect(_ i: Int) {
        dirty[i] = true
        guard var raft = nodes[i].raft else { return }
        if let h = raft.halted {
            checker.fail(step: step, "node \(nodes[i].id) halted: \(h)")
        }
        // Bounded: one Ready drains the node's pending work.
        if raft.hasReady {
            // The committed entries handed out now must be known committed to the checker.
            checker.observe(raft, step: step)
            let rd = raft.ready()
            if raft.role == .leader {
                if rd.messages.contains(where: { $0.kind == .timeoutNow }) {
                    timeoutNowSent.insert(TermKey(node: raft.id, term: raft.term))
                }
                checkReadRounds(raft, rd)
            }
            checkCampaignsAndTransfers(raft, rd)
            var write = rd
            if earlySends {
                let (now, held) = rd.messagesByDurability
                for m in now { emit(m) }
                write.messages = held
            }
            nodes[i].pending.append(write)
        }
        nodes[i].raft = raft
    }

    /// Elections and transfers by the rules of thesis §3.10 and §4.2: only a voter of its own
    /// configuration asks for votes; a vote request that bypasses leader stickiness (a transfer's) comes
    /// from a node told to campaign by the leader of the term just before; a leader sends TimeoutNow
    /// only to a target whose log already ends with the leader's last entry.
    mutating func checkCampaignsAndTransfers(_ n: RaftNode, _ rd: Ready) {
        for m in rd.messages {
            switch m.kind {
            case .vote, .preVote:
                if !n.membership.isVoter(n.id) {
                    checker.fail(
                        step: step,
                        "node \(n.id), not a voter of its configuration \(n.membership.voters), asked \(m.to) for a \(m.kind) in term \(m.term)"
                    )
                }
                if m.kind == .vote, m.context == transferContext,
                    !timeoutNowDelivered.contains(TermKey(node: n.id, term: m.term - 1))
                {
                    checker.fail(
                        step: step,
                        "node \(n.id) campaigned in term \(m.term) as a transfer target without a TimeoutNow of term \(m.term - 1)"
                    )
                }
            case .timeoutNow where n.role == .leader:
                let ti = Int(m.to) - 1
                guard ti < nodes.count, let t = nodes[ti].raft, t.term == n.term else { continue }
                if t.term(at: n.lastIndex) != n.lastTerm {
                    checker.fail(
                        step: step,
                        "leader \(n.id) sent TimeoutNow to \(m.to), whose log (last \(t.lastIndex)) lacks the leader's last entry \(n.lastIndex)"
                    )
                }
            default:
                break
            }
        }
    }

    /// A read reached leader `l`: it may be confirmed only by a round sent after this moment.
    mutating func noteReadArrived(at l: RaftNode, context: UInt64) {
        let sent = roundSent[l.id].flatMap { $0.term == l.term ? $0.round : nil } ?? 0
        let key = ReadKey(leader: l.id, term: l.term, context: context)
        readFirstRound[key] = min(readFirstRound[key] ?? .max, sent + 1)
    }

    /// Records the heartbeat rounds leader `l` sends, and checks every read it releases: a quorum of
    /// voters must have acknowledged one round sent after the read arrived (thesis §6.4). Acks of
    /// older rounds, of another term or from learners confirm nothing about this read.
    mutating func checkReadRounds(_ l: RaftNode, _ rd: Ready) {
        for m in rd.messages where m.kind == .heartbeat && m.context != 0 {
            let prev = roundSent[l.id].flatMap { $0.term == l.term ? $0.round : nil } ?? 0
            roundSent[l.id] = (l.term, max(prev, m.context))
        }
        // A lease read needs no round, unless the leader sent a TimeoutNow in this term: the target's
        // election ignores leases (thesis §6.4.1), so from then on every read needs a round.
        let leaseHolds = leaseReads && !timeoutNowSent.contains(TermKey(node: l.id, term: l.term))
        guard !leaseHolds, l.membership.voters != [l.id] else { return }
        var released: [UInt64] = rd.readStates.map(\.context)
        for m in rd.messages where m.kind == .readIndexResponse { released.append(m.context) }
        guard !released.isEmpty else { return }
        coverage.readsReleased += released.count
        let acks = roundAcked[l.id].flatMap { $0.term == l.term ? $0.acks : nil } ?? [:]
        for c in released {
            guard let first = readFirstRound[ReadKey(leader: l.id, term: l.term, context: c)] else {
                checker.fail(
                    step: step,
                    "read \(c) released by leader \(l.id) in term \(l.term), which it never received in that term")
                continue
            }
            var confirmed = l.membership.isVoter(l.id) ? 1 : 0
            for v in l.membership.voters where v != l.id && (acks[v] ?? 0) >= first { confirmed += 1 }
            if confirmed < l.membership.quorum {
                checker.fail(
                    step: step,
                    "read \(c) released by leader \(l.id) in term \(l.term) with \(confirmed) of \(l.membership.quorum) voters confirming a round from \(first) on (acks: \(acks.sorted { $0.key < $1.key }))"
                )
            }
        }
    }

    /// Puts a message on the network (and in the replay rings).
    mutating func emit(_ m: Message) {
        switch m.kind {
        case .append, .heartbeat, .snapshot:
            if leaderSent.count < 48 { leaderSent.append(m) } else { leaderSent[rng.below(48)] = m }
        case .timeoutNow:
            if timeoutNows.count < 12 { timeoutNows.append(m) } else { timeoutNows[rng.below(12)] = m }
        default: break
        }
        checker.sent(m, step: step)
        if network.count < maxNetwork { network.append(m) }
    }

    /// Makes the node's oldest pending write durable, then sends its messages and applies its entries.
    mutating func completeWrite(_ i: Int) {
        guard nodes[i].raft != nil, !nodes[i].pending.isEmpty else { return }
        let w = nodes[i].pending.removeFirst()
        let id = nodes[i].id
        let removed = nodes[i].disk.write(hardState: w.hardState, entries: w.entries, snapshot: w.snapshot)
        checker.entriesLeft(w.entries)
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
        if !removed.isEmpty && w.snapshot == nil { coverage.suffixesOverwritten += 1 }
        if let last = w.entries.last {
            let before = nodes[i].raft!.commitIndex
            nodes[i].raft!.persisted(upTo: last.index, term: last.term)
            if earlySends && nodes[i].raft!.commitIndex > before { coverage.commitsOnLeaderWrite += 1 }
        }
        trace.add(
            19, id, (w.hardState?.commit ?? 0) << 16 | UInt64(w.entries.count),
            "persist \(id) hs=\(w.hardState.map { "\($0.term)/\($0.vote)/\($0.commit)" } ?? "-") entries=\(w.entries.count)"
        )
        for m in w.messages { emit(m) }
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
        var anyDirty = false
        for i in nodes.indices where dirty[i] {
            dirty[i] = false
            anyDirty = true
            guard let raft = nodes[i].raft else { continue }
            if raft.term < nodes[i].lastTerm {
                checker.fail(step: step, "node \(nodes[i].id) term went back from \(nodes[i].lastTerm) to \(raft.term)")
            }
            if raft.commitIndex < nodes[i].lastCommit {
                checker.fail(
                    step: step,
                    "node \(nodes[i].id) commit went back from \(nodes[i].lastCommit) to \(raft.commitIndex)")
            }
            if raft.firstIndex - 1 < nodes[i].lastSnapshotIndex {
                checker.fail(
                    step: step,
                    "node \(nodes[i].id) snapshot index went back from \(nodes[i].lastSnapshotIndex) to \(raft.firstIndex - 1)"
                )
            }
            nodes[i].lastTerm = raft.term
            nodes[i].lastCommit = raft.commitIndex
            nodes[i].lastSnapshotIndex = raft.firstIndex - 1
            checker.observe(raft, step: step)
            if raft.role == .leader && leaderTermSeen[i] != raft.term {
                leaderTermSeen[i] = raft.term
                if eagerMembership && options.membershipChanges { pendingEager = i }
            }
        }
        if anyDirty { checkMatchIndexes() }
        if checker.committedConfigChanges != configChangesSeen {
            configChangesSeen = checker.committedConfigChanges
            if compactOnMembership && options.compaction { pendingCompactAll = true }
        }
        checker.durableCheck(step: step)
        trace.add(20, UInt64(checker.committed.count), "check \(checker.committed.count)")
    }

    /// The leader's view of each follower is never ahead of that follower's real log: a follower still
    /// in the leader's term holds, at the leader's match index, the leader's entry (log matching then
    /// covers the prefix). A match beyond is a replica counted for commit that does not exist.
    mutating func checkMatchIndexes() {
        for li in nodes.indices {
            guard let l = nodes[li].raft, l.role == .leader else { continue }
            for peer in l.membership.all where peer != l.id {
                guard let match = l.matchIndex(of: peer), match > 0 else { continue }
                let pi = Int(peer) - 1
                guard pi < nodes.count, let p = nodes[pi].raft, p.term == l.term else { continue }
                if match > p.lastIndex {
                    checker.fail(
                        step: step,
                        "match index: leader \(l.id) of term \(l.term) counts \(match) for node \(peer), whose log ends at \(p.lastIndex)"
                    )
                } else if match >= p.firstIndex, let lt = l.term(at: match), p.term(at: match) != lt {
                    checker.fail(
                        step: step,
                        "match index: leader \(l.id) of term \(l.term) counts \(match) for node \(peer), which holds term \(p.term(at: match) ?? 0) there, not \(lt)"
                    )
                }
            }
        }
    }

    // MARK: - Liveness

    mutating func livenessPhase() {
        cut = []
        releaseHeld(all: true)
        for i in nodes.indices where nodes[i].raft == nil && nodes[i].provisioned { restart(i) }
        trace.add(21, "liveness")
        var target: (payload: [UInt8], leader: NodeID, term: Term)?
        let clock = ContinuousClock()
        let started = clock.now
        let wall = Duration.milliseconds(Int64(options.livenessWallSeconds * 1000))
        let deliveriesAtStart = deliveries
        var progress = progressMark()
        var stalled = 0
        for round in 0..<options.livenessRounds { // bounded by livenessRounds
            livenessRounds = round + 1
            let mark = progressMark()
            if mark != progress {
                progress = mark
                stalled = 0
            } else {
                stalled += 1
            }
            // A stuck run ends with a verdict at once, not after minutes of rounds that change nothing.
            var stuck: String?
            if stalled >= options.stallRounds {
                stuck = "no commit, apply or snapshot install anywhere for \(stalled) rounds"
            } else if deliveries - deliveriesAtStart > options.livenessDeliveryBudget {
                stuck = "more than \(options.livenessDeliveryBudget) messages delivered in \(round) rounds"
            } else if round % 8 == 0, clock.now - started > wall {
                stuck = "more than \(options.livenessWallSeconds) s of wall time in \(round) rounds"
            }
            if let why = stuck {
                livenessFailure("liveness: stuck after healing (\(why))")
                return
            }
            step += 1
            for i in nodes.indices { tick(i) }
            drain()
            checkAll()
            if !checker.violations.isEmpty { return }
            // The leader of the newest term: without CheckQuorum a deposed (or removed) leader that nobody
            // contacts may go on believing it leads.
            let current = nodes.indices.filter { nodes[$0].raft?.role == .leader }.max {
                nodes[$0].raft!.term < nodes[$1].raft!.term
            }
            // A proposal appended by a leader that then lost leadership may be overwritten (it was never
            // committed); a client would retry it with the new leader, and so does the simulator.
            let targetLost =
                target.map { t in
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
        livenessFailure(
            target == nil
                ? "liveness: no leader within \(options.livenessRounds) rounds after healing"
                : "liveness: a proposal made after healing was not applied everywhere within \(options.livenessRounds) rounds"
        )
    }

    /// What changes when the cluster makes progress: commits, applies and installed snapshots.
    func progressMark() -> (LogIndex, LogIndex, Int) {
        var commit: LogIndex = 0
        var applied: LogIndex = 0
        for n in nodes {
            commit = max(commit, n.raft?.commitIndex ?? 0)
            applied &+= n.appliedCount
        }
        return (commit, applied, snapshotsInstalled)
    }

    /// Reports a liveness failure with the last state of the cluster.
    mutating func livenessFailure(_ what: String) {
        let leaders = nodes.compactMap { n in n.raft.flatMap { $0.role == .leader ? n.id : nil } }
        let states = nodes.compactMap { n in
            n.raft.map {
                "\(n.id):\($0.role) t\($0.term) last \($0.lastIndex) commit \($0.commitIndex) applied \(n.appliedCount)"
            }
        }
        checker.fail(step: step, "\(what); leaders \(leaders); nodes \(states.joined(separator: ", "))")
        if let l = nodes.first(where: { $0.raft?.role == .leader })?.raft {
            let peers = l.membership.all.filter { $0 != l.id }.map {
                "\($0):\(l.matchIndex(of: $0) ?? 0)/\(l.nextIndex(of: $0) ?? 0)"
            }
            checker.fail(
                step: step,
                "liveness detail: leader \(l.id) term \(l.term) last \(l.lastIndex) persisted \(l.persistedIndex) commit \(l.commitIndex) transferee \(l.transferee) members \(l.membership.voters)+\(l.membership.learners) match/next \(peers)"
            )
        }
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

/// The history as a hash, and optionally as lines. The hash mixes numbers (an action code and its
/// main values), never formatted text, so that an unrecorded run builds no strings at all.
/// A reference type, so that the lazily built text may read the simulator while the trace is updated.
final class Trace {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    var record = false
    var lines: [String] = []

    @inline(__always) func mix(_ v: UInt64) {
        hash = (hash ^ v) &* 0x100_0000_01b3
        hash ^= hash >> 29
    }

    func add(_ code: UInt64, _ a: UInt64, _ b: UInt64, _ text: @autoclosure () -> String) {
        mix(code)
        mix(a)
        mix(b)
        if record { lines.append(text()) }
    }

    func add(_ code: UInt64, _ a: UInt64, _ text: @autoclosure () -> String) {
        add(code, a, 0, text())
    }

    func add(_ code: UInt64, _ text: @autoclosure () -> String) {
        add(code, 0, 0, text())
    }

    func message(_ code: UInt64, _ m: Message, _ text: @autoclosure () -> String) {
        mix(code)
        mix(UInt64(m.kind.rawValue) | m.from << 8 | m.to << 16 | (m.reject ? 1 << 24 : 0))
        mix(m.term)
        mix(m.index ^ m.logTerm << 32)
        mix(m.commit ^ UInt64(m.entries.count) << 40)
        mix(m.rejectHint ^ m.hintTerm << 32)
        mix(m.context)
        if let c = m.snapshot { mix(c.index ^ UInt64(c.offset) << 32) }
        if record { lines.append(text()) }
    }
}

extension ProposeResult {
    /// A number for the trace hash.
    var traceCode: UInt64 {
        switch self {
        case .appended(let first, _, let term): return 1 ^ first << 8 ^ term << 40
        case .notLeader(let l): return 3 ^ l << 8
        case .dropped: return 4
        }
    }
}
