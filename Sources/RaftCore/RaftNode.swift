/// One Raft participant as a value type. See `Types.swift` for the shell's ordering contract.
///
/// Every public mutating method is an input; its effects are collected until the shell calls
/// `ready()`. The node never blocks, never reads a clock and draws randomness only from its seeded
/// generator, so the same inputs in the same order always produce the same outputs.
public struct RaftNode: Sendable {
    public let config: RaftConfig
    public var id: NodeID { config.id }
    /// The membership in force: the newest configuration entry in the log (committed or not, thesis
    /// §4.1), else the snapshot's, else the bootstrap membership from the config.
    public internal(set) var membership: Membership

    public private(set) var term: Term = 0
    public private(set) var vote: NodeID = noNode
    public private(set) var role: Role = .follower
    /// The leader of `term` as far as this node knows, or `noNode`.
    public private(set) var leader: NodeID = noNode
    /// Set when the node detected an impossible condition (for example a committed entry that
    /// conflicts with the leader). A halted node ignores every input; the shell must stop it.
    public internal(set) var halted: String?
    /// Elections this node started (real ones, not PreVote rounds), for metrics.
    public private(set) var electionsStarted: UInt64 = 0
    /// Messages dropped because they were malformed (`Message.malformation`), and the last reason.
    public private(set) var malformedDropped: UInt64 = 0
    public private(set) var lastMalformation: String?
    /// Set once this node's term reached `maxTerm`: it can no longer campaign (a term above cannot be
    /// stored). Only a hostile or corrupted peer gets a corridor there; the shell reports it.
    public private(set) var termExhausted = false

    var log: RaftLog
    private var rng: SplitMix64
    var electionElapsed = 0
    private var heartbeatElapsed = 0
    /// Ticks since the leader's last heartbeat to learners (`RaftConfig.learnerHeartbeatTicks`).
    private var learnerHeartbeatElapsed = 0
    private var randomizedElectionTimeout = 0
    /// Leader only: one entry per other member. Only looked up, never iterated (iteration goes
    /// through `membership`, whose order is fixed), so hashing order never leaks into behaviour.
    var progress: [NodeID: Progress] = [:]
    /// Candidate / pre-candidate only: the answers received this round.
    private var votes: [NodeID: Bool] = [:]
    var msgs: [Message] = []
    var readStates: [ReadState] = []
    var applyHandedOut: LogIndex
    private var prevSoft: SoftState
    private var prevHard: HardState

    // ReadIndex (leader only).
    private struct PendingRead: Sendable {
        var round: UInt64
        var index: LogIndex
        var from: NodeID
        var context: UInt64
        var acks: Set<NodeID>
    }
    private var reads: [PendingRead] = []
    /// Requests that arrived before the leader committed an entry of its own term.
    private var readsAwaitingCommit: [(from: NodeID, context: UInt64)] = []
    /// Heartbeat rounds: every broadcast is a new round; an acknowledgement of a round confirms
    /// leadership as of the moment the round was sent (ReadIndex) and starts a lease (lease reads).
    private var readRound: UInt64 = 0
    /// Leader only: ticks since it became leader, and the tick at which each recent round was sent.
    private var leaderTicks = 0
    private var roundSentAt: [(round: UInt64, tick: Int)] = []
    /// Ticks since this node started; in lease mode a new node grants no vote for an election timeout,
    /// because it may have acknowledged a leader's lease just before it restarted.
    private var ticksSinceStart = 0
    /// Set once this leader started a leadership transfer: the target's forced election ignores
    /// leases, so no lease read is served again in this term.
    var leaseForfeited = false
    /// Leader only: whether this leader's term (and its vote for itself) is known to be durable here. A
    /// leader elected by peers' votes knows it (they answered vote requests sent only once the term was
    /// stored); a lone voter wins in the same `Ready` that stores the term, and learns it when the shell
    /// reports an entry of the term durable. Until then it sends nothing: a message carrying a term its
    /// own disk may lose lets it, restarted, lead that term a second time with different entries.
    var termDurable = false

    // Membership (thesis §4.1, one server at a time).
    /// The membership at the compaction point.
    var baseMembership: Membership
    /// Configuration entries in the log after the compaction point, in index order.
    var configHistory: [(index: LogIndex, membership: Membership)] = []

    // Snapshots.
    /// The newest local snapshot: what this node sends to peers whose entries are compacted away.
    public internal(set) var snapshot: Snapshot?
    /// A snapshot being received, chunk by chunk.
    var incoming: (index: LogIndex, term: Term, checksum: UInt64, total: Int, data: [UInt8])?
    /// A received snapshot for the next `Ready`.
    var snapshotToInstall: Snapshot?

    // Leadership transfer.
    /// The voter this leader is handing over to, or `noNode`.
    public internal(set) var transferee: NodeID = noNode
    var transferElapsed = 0

    /// Starts a node from what the shell restored (an empty `RestoredState` for a brand-new node).
    /// - Precondition: `config.validate()` succeeds.
    public init(config: RaftConfig, restored: RestoredState = RestoredState()) {
        do { try config.validate() } catch { preconditionFailure("invalid RaftConfig: \(error)") }
        self.config = config
        self.rng = SplitMix64(seed: config.seed ^ (config.id &* 0x9E37_79B9_7F4A_7C15))
        self.log = RaftLog(
            offset: restored.snapshotIndex, offsetTerm: restored.snapshotTerm,
            entries: restored.entries, committed: restored.hardState.commit,
            applied: max(restored.applied, restored.snapshotIndex))
        self.snapshot = restored.snapshot
        self.baseMembership = restored.snapshot?.membership ?? config.membership
        self.membership = baseMembership
        self.term = restored.hardState.term
        self.vote = restored.hardState.vote
        self.applyHandedOut = log.applied
        self.prevSoft = SoftState(role: .follower, leader: noNode)
        self.prevHard = HardState(term: term, vote: vote, commit: log.committed)
        noteLogChange(from: log.firstIndex)
        becomeFollower(term: term, leader: noNode)
    }

    // MARK: - Read-only views

    public var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    public var softState: SoftState { SoftState(role: role, leader: leader) }
    public var commitIndex: LogIndex { log.committed }
    public var appliedIndex: LogIndex { log.applied }
    public var lastIndex: LogIndex { log.lastIndex }
    public var lastTerm: Term { log.lastTerm }
    public var persistedIndex: LogIndex { log.persisted }
    public var firstIndex: LogIndex { log.firstIndex }
    public func term(at index: LogIndex) -> Term? { log.term(at: index) }
    public func entry(at index: LogIndex) -> Entry? { log.entry(at: index) }
    /// Every entry after the compaction point (for tests and the simulator's checks).
    public var entries: [Entry] { log.entries }
    public var isVoter: Bool { membership.isVoter(id) }
    /// Leader only: the highest index known to be replicated on `peer`.
    public func matchIndex(of peer: NodeID) -> LogIndex? {
        peer == id && role == .leader ? log.persisted : progress[peer]?.match
    }
    /// Leader only: the next index to send to `peer`.
    public func nextIndex(of peer: NodeID) -> LogIndex? { progress[peer]?.next }
    /// The election timeout currently drawn, in ticks (for tests of the randomisation).
    public var electionTimeoutTicks: Int { randomizedElectionTimeout }

    // MARK: - Inputs

    /// Advances logical time by one tick.
    public mutating func tick() {
        guard halted == nil else { return }
        if ticksSinceStart < config.electionTicks { ticksSinceStart += 1 }
        if role == .leader { tickLeader() } else { tickElection() }
    }

    /// Starts an election now (PreVote first when enabled), as if the election timeout had passed.
    public mutating func campaign() {
        guard halted == nil, role != .leader, isVoter else { return }
        startElection()
    }

    /// Proposes application commands. On the leader they are appended at once; anywhere else they are
    /// refused, naming the leader this node knows of, for the client to propose there. There is no
    /// Raft-level forwarding: the one path to the leader is the shell's (the controller's HTTP API).
    @discardableResult
    public mutating func propose(_ batch: [[UInt8]]) -> ProposeResult {
        guard halted == nil else { return .dropped(reason: "node halted") }
        guard !batch.isEmpty else { return .dropped(reason: "empty proposal") }
        guard batch.count <= config.limits.maxProposalBatch else {
            return .dropped(reason: "batch of \(batch.count) exceeds \(config.limits.maxProposalBatch) entries")
        }
        if role == .leader { return appendProposal(batch) }
        return .notLeader(leader: leader)
    }

    /// Asks for a linearizable read point (thesis §6.4). A `ReadState` with `context` appears in a
    /// later `Ready` once leadership is confirmed by a quorum.
    @discardableResult
    public mutating func readIndex(context: UInt64) -> ReadIndexResult {
        guard halted == nil else { return .dropped(reason: "node halted") }
        if role == .leader { return handleReadRequest(from: id, context: context) }
        guard leader != noNode else { return .notLeader(leader: noNode) }
        send(Message(kind: .readIndex, from: id, to: leader, term: 0, context: context))
        return .forwarded(to: leader)
    }

    /// The shell made entries up to `index` (whose term is `term`) durable. A report about an entry
    /// that has since been overwritten is ignored.
    public mutating func persisted(upTo index: LogIndex, term t: Term) {
        guard halted == nil, index > log.persisted, index <= log.handedOut, log.term(at: index) == t else { return }
        log.persisted = index
        guard role == .leader else { return }
        // An entry of this term is durable, so is the hard state written with or before it: the term.
        let termBecameDurable = !termDurable && t == term
        if termBecameDurable { termDurable = true }
        if maybeCommit() || (termBecameDurable && role == .leader) { bcastAppend() }
    }

    /// The shell applied entries up to `index` to its state machine.
    public mutating func applied(upTo index: LogIndex) {
        guard halted == nil else { return }
        log.applied = max(log.applied, min(index, applyHandedOut))
    }

    /// Whether `ready()` would return any work.
    public var hasReady: Bool {
        guard halted == nil else { return false }
        return softState != prevSoft || hardState != prevHard || log.handedOut < log.lastIndex || !msgs.isEmpty
            || !readStates.isEmpty || min(log.committed, log.persisted) > applyHandedOut || snapshotToInstall != nil
    }

    /// Takes the pending work. Entries and the hard state are considered handed to the shell.
    public mutating func ready() -> Ready {
        let soft = softState
        let hard = hardState
        let entries = log.unhanded
        log.handedOut = log.lastIndex
        let toApply = log.entriesToApply(after: applyHandedOut, maxCount: config.limits.maxApplyBatch)
        if let last = toApply.last { applyHandedOut = last.index }
        let r = Ready(
            softState: soft != prevSoft ? soft : nil, hardState: hard != prevHard ? hard : nil,
            entries: entries, messages: msgs, committedEntries: toApply, readStates: readStates,
            snapshot: snapshotToInstall)
        snapshotToInstall = nil
        prevSoft = soft
        prevHard = hard
        msgs = []
        readStates = []
        return r
    }

    /// Handles one message from a peer.
    public mutating func step(_ m: Message) {
        guard halted == nil, m.to == id, m.from != id else { return }
        if let why = m.malformation {
            malformedDropped &+= 1
            lastMalformation = "\(m.kind) from \(m.from): \(why)"
            return
        }
        // A node that is not a member (removed, or never added) cannot start elections here: its vote
        // requests are ignored, so it cannot raise anyone's term. Other messages are accepted, because
        // a node that lags behind a membership change must still hear from a newly added leader.
        if (m.kind == .vote || m.kind == .preVote) && !membership.isVoter(m.from) { return }
        if m.term == 0 {
            // A forwarded read is not bound to a term: whoever leads handles it.
        } else if m.term > term {
            if m.kind == .vote || m.kind == .preVote {
                // Heard from a leader within the minimum election timeout: a disruptive candidate
                // (for example one rejoining after a partition) is ignored (thesis §4.2.3).
                var inLease = config.checkQuorum && leader != noNode && electionElapsed < config.electionTicks
                if case .lease = config.readMode, ticksSinceStart < config.electionTicks { inLease = true }
                if inLease && m.context != transferContext { return }
            }
            switch m.kind {
            case .preVote:
                break // A PreVote never changes our term.
            case .preVoteResponse where !m.reject:
                break // A granted PreVote carries the term we would campaign in.
            default:
                becomeFollower(term: m.term, leader: m.isFromLeader || m.kind == .readIndexResponse ? m.from : noNode)
            }
        } else if m.term < term {
            if (config.checkQuorum || config.preVote) && m.isFromLeader {
                // A leader from an older term (cut off, then healed) learns the newer term from this
                // reply and steps down; without it, it would keep its followers' PreVotes failing.
                send(Message(kind: .appendResponse, from: id, to: m.from, term: term))
            } else if m.kind == .preVote {
                send(Message(kind: .preVoteResponse, from: id, to: m.from, term: term, reject: true))
            }
            return
        }

        switch m.kind {
        case .vote, .preVote:
            handleVoteRequest(m)
            return
        default:
            break
        }
        switch role {
        case .leader: stepLeader(m)
        case .candidate, .preCandidate: stepCandidate(m)
        case .follower: stepFollower(m)
        }
    }

    // MARK: - Roles

    mutating func becomeFollowerKeepingTerm() { becomeFollower(term: term, leader: noNode) }

    mutating func applyHandedOutAfterRestore(_ index: LogIndex) { applyHandedOut = index }

    mutating func becomeFollower(term t: Term, leader l: NodeID) {
        if t != term {
            term = t
            vote = noNode
        }
        role = .follower
        leader = l
        reset()
    }

    private mutating func becomePreCandidate() {
        precondition(role != .leader)
        role = .preCandidate
        leader = noNode
        // The term and vote stay as they are: a PreVote round changes nothing durable.
        votes = [:]
        electionElapsed = 0
        resetRandomizedTimeout()
    }

    private mutating func becomeCandidate() {
        precondition(role != .leader)
        term += 1
        vote = id
        role = .candidate
        leader = noNode
        reset()
        electionsStarted += 1
    }

    private mutating func becomeLeader() {
        precondition(role == .candidate)
        role = .leader
        leader = id
        // Granted votes from peers answer requests that left only once this term was durable.
        let electedByPeers = votes.contains { $0.key != id && $0.value }
        reset()
        termDurable = electedByPeers
        let last = log.lastIndex
        for peer in membership.all where peer != id {
            progress[peer] = Progress(next: last + 1, isLearner: membership.isLearner(peer), limits: config.limits)
        }
        // An empty entry of the new term lets the leader commit, and so learn the commit index,
        // without waiting for a client (§8); earlier-term entries commit with it (§5.4.2).
        log.appendNew([Entry(term: term, index: last + 1, kind: .noop)])
        bcastAppend()
    }

    private mutating func reset() {
        electionElapsed = 0
        heartbeatElapsed = 0
        learnerHeartbeatElapsed = 0
        resetRandomizedTimeout()
        votes = [:]
        progress = [:]
        reads = []
        readsAwaitingCommit = []
        transferee = noNode
        transferElapsed = 0
        leaderTicks = 0
        roundSentAt = []
        leaseForfeited = false
        termDurable = false
    }

    private mutating func resetRandomizedTimeout() {
        randomizedElectionTimeout = config.electionTicks + rng.below(config.electionTicks)
    }

    // MARK: - Elections

    private mutating func tickElection() {
        electionElapsed += 1
        if isVoter && electionElapsed >= randomizedElectionTimeout {
            electionElapsed = 0
            startElection()
        }
    }

    private mutating func startElection() {
        if config.preVote { campaign(pre: true) } else { campaign(pre: false) }
    }

    private mutating func campaign(pre: Bool, transfer: Bool = false) {
        guard term < maxTerm else {
            // `term + 1` could not be stored: stay a follower (a leader of maxTerm may still lead).
            termExhausted = true
            electionElapsed = 0
            return
        }
        let voteTerm: Term
        if pre {
            becomePreCandidate()
            voteTerm = term + 1
        } else {
            becomeCandidate()
            voteTerm = term
        }
        votes[id] = true
        if pollWon(pre: pre) { return }
        for peer in membership.voters where peer != id {
            send(
                Message(
                    kind: pre ? .preVote : .vote, from: id, to: peer, term: voteTerm,
                    logTerm: log.lastTerm, index: log.lastIndex, context: transfer ? transferContext : 0))
        }
    }

    /// Counts the votes; on a win moves on (real election after PreVote, leadership after a vote).
    /// Returns true when the round is decided.
    private mutating func pollWon(pre: Bool) -> Bool {
        switch membership.majority.voteResult({ votes[$0] }) {
        case .won:
            if pre { campaign(pre: false) } else { becomeLeader() }
            return true
        case .lost:
            becomeFollower(term: term, leader: noNode)
            return true
        case .pending:
            return false
        }
    }

    private mutating func handleVoteRequest(_ m: Message) {
        let pre = m.kind == .preVote
        let canVote =
            vote == m.from
            || (vote == noNode && leader == noNode)
            || (pre && m.term > term)
        if canVote && log.isUpToDate(lastIndex: m.index, lastTerm: m.logTerm) {
            // For a real vote m.term == term here (a higher term made us a follower of it above).
            send(Message(kind: pre ? .preVoteResponse : .voteResponse, from: id, to: m.from, term: m.term))
            if !pre {
                electionElapsed = 0
                vote = m.from
            }
        } else {
            send(Message(kind: pre ? .preVoteResponse : .voteResponse, from: id, to: m.from, term: term, reject: true))
        }
    }

    private mutating func stepCandidate(_ m: Message) {
        switch m.kind {
        case .append:
            becomeFollower(term: m.term, leader: m.from)
            handleAppend(m)
        case .heartbeat:
            becomeFollower(term: m.term, leader: m.from)
            handleHeartbeat(m)
        case .snapshot:
            becomeFollower(term: m.term, leader: m.from)
            handleSnapshot(m)
        case .voteResponse where role == .candidate && m.term == term,
            .preVoteResponse where role == .preCandidate:
            guard membership.isVoter(m.from) else { return }
            votes[m.from] = !m.reject
            _ = pollWon(pre: role == .preCandidate)
        default:
            break // Proposals and reads are dropped: there is no leader to take them.
        }
    }

    // MARK: - Follower

    private mutating func stepFollower(_ m: Message) {
        switch m.kind {
        case .append:
            electionElapsed = 0
            leader = m.from
            handleAppend(m)
        case .heartbeat:
            electionElapsed = 0
            leader = m.from
            handleHeartbeat(m)
        case .snapshot:
            electionElapsed = 0
            leader = m.from
            handleSnapshot(m)
        case .timeoutNow:
            // Leadership transfer: campaign at once, skipping PreVote, with a context that lets voters
            // grant the vote although they still hear from the old leader.
            if isVoter { campaign(pre: false, transfer: true) }
        case .readIndexResponse:
            pushReadState(ReadState(index: m.index, context: m.context))
        default:
            break // A forwarded read that reached a non-leader is dropped, never re-forwarded.
        }
    }

    private mutating func handleAppend(_ m: Message) {
        if m.index < log.committed {
            send(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: log.committed))
            return
        }
        if log.matchTerm(m.index, m.logTerm) {
            if let conflict = log.findConflict(m.entries), conflict <= log.committed {
                halted = "entry \(conflict) is committed but conflicts with leader \(m.from) in term \(m.term)"
                return
            }
            let (lastNew, changedFrom) = log.maybeAppend(prevIndex: m.index, entries: m.entries)
            if let from = changedFrom { noteLogChange(from: from) }
            commitTo(min(m.commit, lastNew))
            send(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: lastNew))
        } else {
            // Tell the leader where our logs may agree: the last index at or before the probe whose term
            // is no newer than the leader's, so it can skip a whole term per round trip.
            let hint = log.findConflictByTerm(index: min(m.index, log.lastIndex), term: m.logTerm)
            send(
                Message(
                    kind: .appendResponse, from: id, to: m.from, term: term, index: m.index,
                    reject: true, rejectHint: hint.index, hintTerm: hint.term))
        }
    }

    private mutating func handleHeartbeat(_ m: Message) {
        // The leader never sends a commit beyond what it knows we hold.
        if m.commit > log.lastIndex {
            // ... so it believes we hold entries we do not: our log was lost after we acknowledged it (a
            // re-synced replica). Say where it ends, so that the leader sends it again.
            send(
                Message(
                    kind: .appendResponse, from: id, to: m.from, term: term, index: m.commit, reject: true,
                    rejectHint: log.lastIndex, hintTerm: log.lastTerm))
        }
        commitTo(min(m.commit, log.lastIndex))
        send(Message(kind: .heartbeatResponse, from: id, to: m.from, term: term, context: m.context))
    }

    mutating func commitTo(_ index: LogIndex) {
        if index > log.committed { log.committed = index }
    }

    // MARK: - Leader

    private mutating func tickLeader() {
        leaderTicks += 1
        heartbeatElapsed += 1
        learnerHeartbeatElapsed += 1
        electionElapsed += 1
        if transferee != noNode {
            transferElapsed += 1
            // A transfer that has not finished within an election timeout is abandoned.
            if transferElapsed >= config.electionTicks {
                transferee = noNode
                transferElapsed = 0
            }
        }
        if electionElapsed >= config.electionTicks {
            electionElapsed = 0
            if config.checkQuorum {
                if !quorumActive() {
                    // CheckQuorum: without a quorum this leader may be deposed without knowing; it
                    // steps down so that clients go elsewhere and reads cannot be stale.
                    becomeFollower(term: term, leader: noNode)
                    return
                }
                for peer in membership.all where peer != id { progress[peer]?.recentActive = false }
            }
        }
        if heartbeatElapsed >= config.heartbeatTicks {
            heartbeatElapsed = 0
            let learners = learnerHeartbeatElapsed >= config.learnerHeartbeatTicks
            if learners { learnerHeartbeatElapsed = 0 }
            bcastHeartbeat(learners: learners)
        }
    }

    private func quorumActive() -> Bool {
        membership.majority.hasMajority { $0 == id || progress[$0]?.recentActive == true }
    }

    private mutating func stepLeader(_ m: Message) {
        switch m.kind {
        case .readIndex:
            _ = handleReadRequest(from: m.from, context: m.context)
        case .appendResponse:
            handleAppendResponse(m)
        case .heartbeatResponse:
            handleHeartbeatResponse(m)
        case .snapshotResponse:
            handleSnapshotResponse(m)
        default:
            break
        }
    }

    private mutating func appendProposal(_ batch: [[UInt8]]) -> ProposeResult {
        guard transferee == noNode else { return .dropped(reason: "leadership transfer to \(transferee) in progress") }
        guard batch.count <= config.limits.maxProposalBatch else { return .dropped(reason: "batch too large") }
        let bytes = batch.reduce(0) { $0 + $1.count + 24 }
        let uncommitted = log.bytes(after: log.committed)
        if uncommitted > 0 && uncommitted + bytes > config.limits.maxUncommittedBytes {
            return .dropped(reason: "\(uncommitted) uncommitted bytes: the leader is not keeping up")
        }
        let first = log.lastIndex + 1
        var new: [Entry] = []
        new.reserveCapacity(batch.count)
        for (i, data) in batch.enumerated() {
            new.append(Entry(term: term, index: first + LogIndex(i), kind: .normal, data: data))
        }
        log.appendNew(new)
        bcastAppend()
        return .appended(firstIndex: first, lastIndex: log.lastIndex, term: term)
    }

    private mutating func handleAppendResponse(_ m: Message) {
        guard var pr = progress[m.from] else { return }
        // An acknowledgement beyond this leader's log cannot be true (the leader never shortens its log
        // within its term): ignore it rather than count a replica that does not exist.
        if !m.reject && m.index > log.lastIndex { return }
        pr.recentActive = true
        if m.reject {
            var hint = m.rejectHint
            if m.hintTerm > 0 { hint = log.findConflictByTerm(index: m.rejectHint, term: m.hintTerm).index }
            if hint < pr.match {
                // A follower that holds what it acknowledged never hints below it: this one lost its log
                // (a replica re-synced from scratch, docs/operations.md). Start again from where its log
                // ends. Lowering `match` only makes commit more conservative; the commit index never goes back.
                pr.match = hint
                pr.becomeProbe()
                progress[m.from] = pr
                sendAppend(to: m.from)
                return
            }
            if pr.maybeDecrease(rejected: m.index, hint: hint) {
                if pr.state == .replicate { pr.becomeProbe() }
                progress[m.from] = pr
                sendAppend(to: m.from)
            } else {
                progress[m.from] = pr
            }
            return
        }
        let wasPaused = pr.isPaused
        if pr.maybeUpdate(m.index) {
            switch pr.state {
            case .probe:
                pr.becomeReplicate()
            case .snapshot:
                // The peer installed the snapshot (or already had its point): stream from there.
                if pr.match >= pr.snapshotIndex { pr.becomeReplicate() }
            case .replicate:
                pr.inflights.free(upTo: m.index)
            }
            progress[m.from] = pr
            if maybeCommit() {
                bcastAppend()
            } else if wasPaused {
                sendAppend(to: m.from)
            }
            // Keep the pipeline full while there is more to send (bounded by the inflight limit).
            var rounds = 0
            while rounds < config.limits.maxInflightMessages, let p = progress[m.from], !p.isPaused,
                p.next <= log.lastIndex
            {
                sendAppend(to: m.from, allowEmpty: false)
                rounds += 1
            }
            if m.from == transferee, progress[m.from]?.match == log.lastIndex {
                send(Message(kind: .timeoutNow, from: id, to: m.from, term: term))
            }
        } else {
            progress[m.from] = pr
        }
    }

    private mutating func handleHeartbeatResponse(_ m: Message) {
        guard var pr = progress[m.from] else { return }
        pr.recentActive = true
        pr.probeSent = false
        if pr.state == .replicate && pr.inflights.isFull { pr.inflights.freeFirst() }
        // A chunk may have been lost: the heartbeat response lets the next one (re)start.
        if pr.state == .snapshot { pr.snapshotChunkSent = false }
        progress[m.from] = pr
        if pr.match < log.lastIndex { sendAppend(to: m.from) }
        if m.context != 0 {
            if let sent = roundSentAt.last(where: { $0.round == m.context }), membership.isVoter(m.from) {
                progress[m.from]!.leaseTick = max(progress[m.from]!.leaseTick, sent.tick)
            }
            acknowledgeReads(round: m.context, from: m.from)
        }
    }

    /// Commits the highest index a quorum of voters holds, if it belongs to the current term
    /// (Figure 8: an entry from an earlier term is never committed by counting replicas).
    private mutating func maybeCommit() -> Bool {
        let candidate = membership.majority.committed { $0 == id ? log.persisted : (progress[$0]?.match ?? 0) }
        guard candidate > log.committed, log.term(at: candidate) == term else { return false }
        let hadCommitInTerm = log.term(at: log.committed) == term
        log.committed = candidate
        if !hadCommitInTerm { releaseReadsAwaitingCommit() }
        if !membership.isVoter(id) && latestConfigIndex <= log.committed {
            // This leader removed itself and the change is committed: tell everyone the commit index,
            // then step down (thesis §4.2.2).
            bcastAppend()
            becomeFollower(term: term, leader: noNode)
            return false
        }
        return true
    }

    mutating func bcastAppend() {
        for peer in membership.all where peer != id { sendAppend(to: peer) }
    }

    /// Sends the next append to `peer` unless its progress is paused. An empty append still carries
    /// the commit index and, in replicate, re-probes a follower that may have lost appends.
    mutating func sendAppend(to peer: NodeID, allowEmpty: Bool = true) {
        guard termDurable, var pr = progress[peer] else { return }
        if pr.state == .snapshot {
            sendSnapshotChunk(to: peer)
            return
        }
        guard !pr.isPaused else { return }
        let prevIndex = pr.next - 1
        guard let prevTerm = log.term(at: prevIndex) else {
            // The entries this peer needs are compacted away: send the snapshot instead.
            sendSnapshotChunk(to: peer)
            return
        }
        let ents = log.slice(
            from: pr.next, to: log.lastIndex, maxBytes: config.limits.maxAppendBytes,
            maxCount: config.limits.maxAppendEntries)
        if ents.isEmpty && !allowEmpty { return }
        send(
            Message(
                kind: .append, from: id, to: peer, term: term, logTerm: prevTerm, index: prevIndex,
                entries: ents, commit: log.committed))
        pr.sentEntries(
            lastIndex: ents.last?.index ?? prevIndex, count: ents.count,
            bytes: ents.reduce(0) { $0 + $1.sizeBytes })
        progress[peer] = pr
    }

    /// A heartbeat to every voter, and to the learners too when `learners` (see `learnerHeartbeatTicks`).
    private mutating func bcastHeartbeat(learners: Bool = true) {
        guard termDurable else { return }
        readRound += 1
        roundSentAt.append((readRound, leaderTicks))
        if roundSentAt.count > 64 { roundSentAt.removeFirst() }
        for peer in membership.all where peer != id && (learners || membership.isVoter(peer)) {
            let match = progress[peer]?.match ?? 0
            send(
                Message(
                    kind: .heartbeat, from: id, to: peer, term: term, commit: min(match, log.committed),
                    context: readRound))
        }
    }

    /// Lease reads: the leader holds a lease while a quorum of voters acknowledged a heartbeat sent
    /// less than `electionTicks - driftMarginTicks` ago. Those voters will not vote for anyone else
    /// until their own election timeout passes, so no other leader can exist meanwhile — provided
    /// clocks drift apart by less than the margin.
    private func leaseValid(marginTicks: Int) -> Bool {
        guard !leaseForfeited, transferee == noNode, membership.isVoter(id) else { return false }
        let t = membership.majority.committed { $0 == id ? leaderTicks : (progress[$0]?.leaseTick ?? -1) }
        return t >= 0 && leaderTicks < t + config.electionTicks - marginTicks
    }

    // MARK: - ReadIndex

    private mutating func handleReadRequest(from: NodeID, context: UInt64) -> ReadIndexResult {
        guard reads.count + readsAwaitingCommit.count < config.limits.maxPendingReads else {
            return .dropped(reason: "too many pending reads")
        }
        if log.term(at: log.committed) != term {
            // Until it commits in its own term the leader does not know the true commit index.
            readsAwaitingCommit.append((from, context))
            return .pending
        }
        startReadRound([(from, context)])
        return .pending
    }

    private mutating func startReadRound(_ requests: [(from: NodeID, context: UInt64)]) {
        guard !requests.isEmpty else { return }
        if membership.voters == [id] {
            for r in requests { releaseRead(index: log.committed, from: r.from, context: r.context) }
            return
        }
        if case .lease(let margin) = config.readMode, leaseValid(marginTicks: margin) {
            for r in requests { releaseRead(index: log.committed, from: r.from, context: r.context) }
            return
        }
        for r in requests {
            reads.append(
                PendingRead(
                    round: readRound + 1, index: log.committed, from: r.from, context: r.context,
                    acks: [id]))
        }
        bcastHeartbeat()
    }

    private mutating func releaseReadsAwaitingCommit() {
        let waiting = readsAwaitingCommit
        readsAwaitingCommit = []
        startReadRound(waiting)
    }

    private mutating func acknowledgeReads(round: UInt64, from: NodeID) {
        guard membership.isVoter(from) else { return }
        for i in reads.indices where reads[i].round <= round { reads[i].acks.insert(from) }
        // An acknowledgement of a round confirms every earlier round too, so the front is released first.
        var released = 0
        // Only voters of the configuration in force count: a leader that removed itself (it leads until the
        // removal commits, thesis §4.2.2) does not count its own acknowledgement, nor one of a voter removed since.
        while released < reads.count && membership.majority.hasMajority({ reads[released].acks.contains($0) }) {
            released += 1
        }
        guard released > 0 else { return }
        let done = reads[..<released]
        reads.removeFirst(released)
        for r in done { releaseRead(index: r.index, from: r.from, context: r.context) }
    }

    private mutating func releaseRead(index: LogIndex, from: NodeID, context: UInt64) {
        if from == id {
            pushReadState(ReadState(index: index, context: context))
        } else {
            send(Message(kind: .readIndexResponse, from: id, to: from, term: term, index: index, context: context))
        }
    }

    private mutating func pushReadState(_ rs: ReadState) {
        if readStates.count < config.limits.maxReadStates { readStates.append(rs) }
    }

    // MARK: - Output

    mutating func send(_ m: Message) {
        // Beyond the bound the message is dropped; Raft recovers from lost messages by retrying.
        if msgs.count < config.limits.maxPendingMessages { msgs.append(m) }
    }
}
