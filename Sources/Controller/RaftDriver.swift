import CorridorMachine
import Foundation
import GreenwaveAPI
import Logging
import RaftCore
import SignalTiming
import Storage
import Transport

/// Where the driver sends Raft messages (the seam for in-process tests: `PeerTransport` in a controller,
/// an in-memory network in the tests). Must not block: a full queue drops (Raft tolerates loss).
public protocol RaftMessageSender: Sendable {
    func send(_ messages: [Message])
    /// What the transport saw of `peers`, for a log line that explains an election (`PeerTransport.evidence`).
    func evidence(for peers: [NodeID]) -> String
}

extension RaftMessageSender {
    public func evidence(for peers: [NodeID]) -> String { "transport: no evidence" }
}

extension PeerTransport: RaftMessageSender {}

/// The outcome of one command once it has been committed and applied.
public struct CommandOutcome: Sendable {
    public var index: LogIndex
    public var term: Term
    public var result: CommandResult
    public var duplicate: Bool
    public var stateHash: [UInt8]
}

/// The shell around `RaftNode` (docs/raft-core.md): it persists each `Ready` in one SQLite transaction
/// (group commit), only then sends its messages, applies committed entries to the `CorridorMachine`,
/// writes the audit chain, takes snapshots, and answers the proposals and reads that wait on it.
///
/// All Raft state lives in this actor; inputs arrive as calls (ticks, peer messages, proposals, reads)
/// and each call drains the node's `Ready` before it returns.
public actor RaftDriver {
    let options: ControllerOptions
    let store: RaftStore
    /// Where Raft messages go: the TCP transport, or an in-memory network in the in-process tests.
    let transport: any RaftMessageSender
    /// Corridor time: what the leader stamps into commands (docs/corridor-time.md).
    let clock: ControllerClock
    let logger: Logger
    private(set) var node: RaftNode
    private(set) var machine: CorridorMachine
    private var lastSnapshotIndex: LogIndex

    private var proposalWaiters:
        [LogIndex: (term: Term, id: UInt64, continuation: CheckedContinuation<CommandOutcome, Error>)] = [:]
    /// Proposals that arrived while a write of this leader's log was in flight (issue 19, batching): they go
    /// to the core together, as one batch, once it is durable — one `Ready`, one SQLite transaction and
    /// fsync, one append per follower. At most `RaftLimits.maxProposalBatch` wait; beyond that a proposal
    /// is refused (the leader is not keeping up).
    private var queuedProposals: [QueuedProposal] = []
    private var nextProposalID: UInt64 = 1
    private var readWaiters: [UInt64: CheckedContinuation<LogIndex, Error>] = [:]
    private var appliedWaiters: [(index: LogIndex, id: UInt64, continuation: CheckedContinuation<Void, Error>)] = []
    private var nextReadContext: UInt64 = 1
    /// Ids for `waitUntilApplied`, in a range of their own (read contexts count up from 1).
    private var nextApplyWaitID: UInt64 = 1 << 62
    /// Audit rows and lamp events waiting for the next group commit.
    private var pendingAudit: [AuditRecord] = []
    var pendingLampEvents: [LampEvent] = []
    /// After a write whose lamp event rows failed, lamp events wait until then (monotonic ns) before they
    /// go with a write again, so that a store that keeps refusing them costs one retry a second, not one
    /// per write (RaftDriver+LampEvents.swift).
    var lampRetryAtNs: UInt64 = 0
    /// The write in flight that carries lamp events, if any: one at a time, so that the events of a write
    /// stored without them go back in front of the newer ones and stay in the order shown.
    var lampWriteSeq: UInt64?
    private var auditHead: LogIndex
    /// This replica's audit chain as it will be stored (the store hashes with the same public rules):
    /// the newest row's index and hash, and the hashes of recent rows, for checking audit checkpoints
    /// against rows that may still wait in the write queue.
    private var chain = ChainTracker()
    private var stopping = false
    /// Fault injection (tests only, `--fault-injection`): drop every peer message in and out, as if
    /// this controller's links were cut. Its lamps keep running on its own clock.
    private var isolated = false
    /// Why this controller stopped taking part in Raft (fail-stop), or nil while it is healthy. Once set
    /// it never clears: the process must be restarted (docs/operations.md, "Fail-stops").
    private(set) var failure: String?
    /// Fault injection (tests only): the next write to the store fails as a full disk would.
    private var failNextPersist = false
    /// Rate limit of the warning about a leader clock far from this controller's own.
    /// At most one warning per 10 s per kind (malformed peer messages, leader clock), with the count held back.
    var warnings = LogLimiter(windowNs: 10_000_000_000, maxKeys: 8)
    /// This controller's clock minus the leader's timestamp of the last command applied (ms).
    private var leaderClockOffsetMs: Int64 = 0

    /// This controller's metrics (ControllerInstruments.swift): what the driver counts and times itself.
    nonisolated let instruments: ControllerInstruments
    /// Evidence about this controller's own scheduling, for the log lines that say why it campaigned or
    /// stepped down (SchedulingWatch.swift).
    private var watch = SchedulingWatch()
    /// Fires whenever entries were applied or a snapshot installed: the lamp driver sleeps on it.
    nonisolated let appliedSignal = AppliedSignal()
    /// Durable writes run here, one at a time in order, so that the actor is not blocked on the disk.
    let writerQueue = DispatchQueue(label: "greenwave.store-writer")
    private var writes = WriteQueue()
    /// The role as of the last `Ready`, to tell what a role change was.
    private var lastRole: Role = .follower
    private var lastLeader: NodeID = noNode
    private var lastRoleTerm: Term = 0

    public init(
        options: ControllerOptions, store: RaftStore, transport: any RaftMessageSender, clock: ControllerClock,
        logger: Logger,
        metrics: ControllerMetrics? = nil
    ) throws {
        self.options = options
        self.instruments = ControllerInstruments(metrics ?? ControllerMetrics(signal: options.signal.rawValue))
        self.clock = clock
        self.store = store
        self.transport = transport
        self.logger = logger
        let loaded: LoadedState
        do {
            loaded = try store.load()
        } catch let e as StorageError {
            throw StartupRefusal.corruptStorage(folder: store.directory, error: e)
        }
        // The start-up self-check (StartupCheck.swift): the snapshot plus the log replayed up to the
        // stored commit index must give the state hashes of the audit rows; the node starts with that
        // machine and does not apply those entries again.
        let check = try StartupCheck.selfCheck(store: store, loaded: loaded, document: options.document)
        machine = check.machine
        lastSnapshotIndex = check.snapshotIndex
        var restored = loaded.restored
        restored.applied = machine.appliedIndex
        node = RaftNode(config: options.raftConfig, restored: restored)
        auditHead = check.auditHead
        pendingAudit = check.auditToWrite
        let storedHead = try store.auditHead()
        chain = ChainTracker(index: storedHead.index, hash: storedHead.hash)
        for r in pendingAudit { chain.append(r) }
        let (t, c, l, si, ah) = (node.term, node.commitIndex, node.lastIndex, lastSnapshotIndex, auditHead)
        logger.info(
            "controller state loaded",
            metadata: [
                "raft.term": "\(t)", "raft.commit": "\(c)", "raft.last": "\(l)", "snapshot.index": "\(si)",
                "audit.head": "\(ah)"
            ])
        logger.info(
            "start-up self-check passed",
            metadata: [
                "replayed": "\(check.replayed)", "compared": "\(check.compared)",
                "applied": "\(check.machine.appliedIndex)",
                "ms": "\(String(format: "%.1f", Double(check.elapsedNs) / 1e6))"
            ])
    }

    // MARK: - Inputs

    /// Advances Raft time by `count` ticks (the tick loop fires the ticks that elapsed on the monotonic
    /// clock since its last call, at most `ControllerOptions.maxCatchUpTicks`; `skipped` says how many it
    /// gave up). Every peer message waiting in `inbox` is stepped *first*: what arrived while this process
    /// was not scheduled counts before the time that passed, so a heartbeat waiting in the inbox never lets
    /// a follower's election timer run out, nor a leader's check-quorum window close, behind it.
    /// `dueNs` is when the first tick was due and `calledNs` when the loop woke up (monotonic), for the
    /// scheduling evidence (SchedulingWatch.swift).
    ///
    /// Returns how many ticks the loop may let pass before it calls again: 1 for a voter that follows or
    /// campaigns (its randomised election timeout keeps one-tick resolution); one heartbeat interval for a
    /// leader (it has nothing to do between heartbeats but count towards its check-quorum window, which is
    /// a whole number of heartbeat intervals); one election timeout for a learner (it never campaigns). Ticks fired together
    /// are the same ticks fired one by one, only later by less than the stride; heartbeats stay on time.
    @discardableResult
    func tick(
        count: Int = 1, dueNs: UInt64 = 0, calledNs: UInt64 = 0, skipped: UInt64 = 0, inbox: PeerInbox? = nil
    ) -> Int {
        guard !stopping else { return 1 }
        let t0 = monotonicNs()
        defer { watch.noteBusy(monotonicNs() - t0, now: t0) }
        if calledNs > 0 {
            watch.noteTick(
                lateNs: calledNs > dueNs ? calledNs - dueNs : 0, actorWaitNs: t0 > calledNs ? t0 - calledNs : 0, now: t0
            )
        }
        watch.ticksSkipped += skipped
        if let inbox { stepAll(inbox.takeAll(), now: t0) }
        for _ in 0..<max(1, count) { node.tick() }
        drain()
        guard !stopping else { return 1 }
        if !pendingAudit.isEmpty || (!pendingLampEvents.isEmpty && lampEventsDue) { flushSidecar() }
        maybeProposeCheckpoint()
        return tickStride
    }

    /// See `tick`: ticks the loop may let pass between calls in the current role.
    var tickStride: Int {
        if node.role == .leader { return max(1, options.heartbeatTicks) }
        // A learner never campaigns: its ticks only count time (issue 19: 42 learners woke 20 times a
        // second for nothing). Its audit rows and lamp events still go with every write of entries.
        if node.role == .follower && !node.isVoter { return max(1, options.electionTicks) }
        return 1
    }

    /// Steps every peer message waiting in `inbox` and handles one `Ready` for all of them.
    func stepInbox(_ inbox: PeerInbox) {
        let batch = inbox.takeAll()
        guard !batch.isEmpty, !stopping else { return }
        let t0 = monotonicNs()
        stepAll(batch, now: t0)
        drain()
        watch.noteBusy(monotonicNs() - t0, now: t0)
    }

    /// One peer message (tests and tools that drive the driver directly).
    func step(_ m: Message) {
        guard !stopping else { return }
        stepAll([m], now: monotonicNs())
        drain()
    }

    private func stepAll(_ batch: [Message], now: UInt64) {
        guard !stopping, !isolated, !batch.isEmpty else { return }
        let dropped = node.malformedDropped
        for m in batch {
            watch.heard(from: m.from, now: now)
            node.step(m)
        }
        if node.malformedDropped != dropped { noteMalformed() }
    }

    /// A warning per 10 s at most about peer messages the core dropped as malformed, with the count.
    private func noteMalformed() {
        guard case .log(let suppressed) = warnings.admit(source: "peers", reason: "malformed", nowNs: monotonicNs())
        else { return }
        logger.warning(
            "dropped malformed peer messages",
            metadata: [
                "last": "\(node.lastMalformation ?? "")", "suppressed": "\(suppressed)",
                "total": "\(node.malformedDropped)"
            ])
    }

    /// Proposes an envelope on the leader; returns when it is applied. The leader stamps its own time.
    func propose(_ make: (Int64) -> CommandEnvelope) async throws -> CommandOutcome {
        if let f = failure { throw ControllerError.halted(f) }
        guard !stopping else { throw ControllerError.shuttingDown }
        guard node.role == .leader else {
            throw node.leader == noNode ? ControllerError.noLeader : ControllerError.notLeader(leader: node.leader)
        }
        let now = clock.corridorMs()
        // Every replica would refuse the command (deterministically, `CorridorMachine.implausibleTime`):
        // say so at once instead of committing a refusal. The leader's clock is what is wrong.
        if let why = CorridorMachine.implausibleTime(now, clockMs: machine.clockMs) {
            logger.error("refusing to propose: this leader's clock is implausible", metadata: ["reason": "\(why)"])
            throw ControllerError.rejected("this leader cannot stamp commands: \(why)")
        }
        let envelope = make(now)
        // Every replica verifies the signature and role when it applies the entry; refusing here as well
        // means a forgery or a wrong role costs no log entry on 47 replicas.
        if let refusal = machine.authorization(of: envelope) {
            if refusal.code == .forbidden { throw ControllerError.forbidden(refusal.reason ?? "forbidden") }
            throw ControllerError.unauthorized(refusal.reason ?? "unauthorized")
        }
        let encoded = envelope.encoded()
        guard encoded.count <= CommandEnvelope.maxEncodedBytes else {
            throw ControllerError.rejected(
                "command of \(encoded.count) bytes exceeds \(CommandEnvelope.maxEncodedBytes)")
        }
        let id = nextProposalID
        nextProposalID += 1
        // A cancelled wait (the API's timeout) gives up the waiter; the entry may still commit, and a retry
        // with the same client id and sequence then returns its result.
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { c in
                guard queuedProposals.count < node.config.limits.maxProposalBatch else {
                    c.resume(
                        throwing: ControllerError.rejected(
                            "\(queuedProposals.count) proposals wait for the leader's disk: the leader is not keeping up"
                        ))
                    return
                }
                queuedProposals.append(QueuedProposal(id: id, bytes: encoded, continuation: c))
                // With no write of entries in flight the proposal goes to the core at once (no added latency);
                // otherwise it waits for that write and goes with the others that arrive meanwhile.
                if proposeQueued() { drain() }
            }
        } onCancel: {
            Task { await self.abandonProposal(id: id) }
        }
    }

    struct QueuedProposal {
        var id: UInt64
        var bytes: [UInt8]
        var continuation: CheckedContinuation<CommandOutcome, Error>
    }

    /// Hands the queued proposals to the core as one batch unless a write of entries is in flight. Returns true
    /// when it proposed (the caller drains).
    private func proposeQueued() -> Bool {
        guard !queuedProposals.isEmpty, !writes.entriesInFlight else { return false }
        let n = min(queuedProposals.count, node.config.limits.maxProposalBatch)
        let batch = queuedProposals.prefix(n)
        queuedProposals.removeFirst(n)
        instruments.proposals.increment(by: Int64(n))
        instruments.proposalBatches.increment()
        switch node.propose(batch.map(\.bytes)) {
        case .appended(let first, _, let term):
            for (i, p) in batch.enumerated() { proposalWaiters[first + LogIndex(i)] = (term, p.id, p.continuation) }
        case .notLeader(let to):
            let e = to == noNode ? ControllerError.noLeader : ControllerError.notLeader(leader: to)
            for p in batch { p.continuation.resume(throwing: e) }
        case .dropped(let why):
            for p in batch {
                p.continuation.resume(throwing: ControllerError.rejected("the leader refused the proposal: \(why)"))
            }
        }
        return true
    }

    /// Every waiting proposal, queued or in the log, is told `error`.
    private func failProposals(_ error: ControllerError) {
        for p in queuedProposals { p.continuation.resume(throwing: error) }
        queuedProposals = []
        for (_, w) in proposalWaiters { w.continuation.resume(throwing: error) }
        proposalWaiters = [:]
    }

    /// Drops a waiter that timed out (the command may still commit later; a retry with the same client
    /// id and sequence returns its result).
    func abandonProposal(id: UInt64) {
        if let i = queuedProposals.firstIndex(where: { $0.id == id }) {
            queuedProposals.remove(at: i).continuation.resume(
                throwing: ControllerError.timeout("not committed in time"))
        } else if let waiting = proposalWaiters.first(where: { $0.value.id == id }) {
            proposalWaiters[waiting.key] = nil
            waiting.value.continuation.resume(throwing: ControllerError.timeout("not committed in time"))
        }
    }

    /// A linearizable read point (ReadIndex): returns once this replica has applied up to it.
    func linearizableReadIndex() async throws -> LogIndex {
        if let f = failure { throw ControllerError.halted(f) }
        let ctx = nextReadContext
        nextReadContext += 1
        switch node.readIndex(context: ctx) {
        case .pending, .forwarded:
            break
        case .notLeader:
            throw ControllerError.noLeader
        case .dropped(let why):
            throw ControllerError.rejected(why)
        }
        let index: LogIndex = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { c in
                readWaiters[ctx] = c
                drain()
            }
        } onCancel: {
            Task { await self.cancelRead(context: ctx) }
        }
        try await waitApplied(index, id: ctx)
        return index
    }

    /// Returns true once this replica has applied `index`, or false after `timeoutMs` (for clients that
    /// want to know when a committed command reached this replica without polling it).
    func waitUntilApplied(_ index: LogIndex, timeoutMs: Int) async -> Bool {
        if machine.appliedIndex >= index { return true }
        let id = nextApplyWaitID
        nextApplyWaitID += 1
        let timer = Task {
            try? await Task.sleep(nanoseconds: UInt64(max(0, timeoutMs)) * 1_000_000)
            await self.cancelAppliedWait(id: id)
        }
        defer { timer.cancel() }
        do {
            try await waitApplied(index, id: id)
            return true
        } catch {
            return false
        }
    }

    func cancelRead(context: UInt64) {
        readWaiters.removeValue(forKey: context)?.resume(
            throwing: ControllerError.timeout("read not confirmed in time"))
    }

    func cancelAllReads() {
        for (_, c) in readWaiters { c.resume(throwing: ControllerError.timeout("read not confirmed in time")) }
        readWaiters = [:]
        for w in appliedWaiters {
            w.continuation.resume(throwing: ControllerError.timeout("replica did not catch up in time"))
        }
        appliedWaiters = []
    }

    private func waitApplied(_ index: LogIndex, id: UInt64) async throws {
        if machine.appliedIndex >= index { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                if Task.isCancelled {
                    c.resume(throwing: ControllerError.timeout("replica did not catch up in time"))
                } else {
                    appliedWaiters.append((index, id, c))
                }
            }
        } onCancel: {
            Task { await self.cancelAppliedWait(id: id) }
        }
    }

    private func cancelAppliedWait(id: UInt64) {
        guard let i = appliedWaiters.firstIndex(where: { $0.id == id }) else { return }
        appliedWaiters.remove(at: i).continuation.resume(
            throwing: ControllerError.timeout("replica did not catch up in time"))
    }

    /// Fault injection (tests only): make the next durable write fail, as a full or dying disk would.
    func injectPersistFailure() {
        failNextPersist = true
        logger.warning("fault injection: the next write to the store fails")
    }

    /// Stops taking part in Raft for good: no more ticks, messages, proposals or reads; waiting clients
    /// are told why; `/v1/status` says `failed` with the reason, `/healthz` answers 503 and
    /// `greenwave_health_ok` is 0. The lamps keep running the last applied plan on this controller's own
    /// clock, as a cut-off controller does; a leader that stops sending is replaced by the others within
    /// an election timeout. Logged once, at critical.
    func failStop(_ reason: String) {
        guard failure == nil else { return }
        failure = reason
        stopping = true
        logger.critical(
            "fail-stop: this controller no longer takes part in Raft",
            metadata: [
                "reason": "\(reason)", "raft.term": "\(node.term)", "raft.role": "\(node.role)",
                "raft.commit": "\(node.commitIndex)", "applied": "\(machine.appliedIndex)"
            ])
        failProposals(.halted(reason))
        cancelAllReads()
        if options.exitOnFailStop {
            // For a supervisor that restarts the process (systemd Restart=on-failure); see docs/operations.md.
            exit(70)
        }
    }

    func setIsolated(_ on: Bool) {
        isolated = on
        logger.warning("fault injection: peer links \(on ? "cut" : "restored")")
    }

    func recordLampEvents(_ events: [LampEvent]) {
        pendingLampEvents.append(contentsOf: events)
    }

    // MARK: - Views

    func status() -> DriverStatus {
        DriverStatus(
            nodeID: node.id, role: node.role, term: node.term, leader: failure == nil ? node.leader : noNode,
            commitIndex: node.commitIndex,
            appliedIndex: machine.appliedIndex, lastIndex: node.lastIndex, stateHash: machine.stateHash,
            membership: node.membership, halted: node.halted, failure: failure,
            warning: node.termExhausted
                ? "term \(node.term) is the largest that can be stored: this node cannot campaign" : nil)
    }

    func machineCopy() -> CorridorMachine { machine }

    func driverMetrics() -> DriverMetrics {
        DriverMetrics(
            elections: node.electionsStarted, term: node.term, isLeader: node.role == .leader,
            commitIndex: node.commitIndex, appliedIndex: machine.appliedIndex, malformedDropped: node.malformedDropped,
            healthy: failure == nil && node.halted == nil, leaderClockOffsetMs: leaderClockOffsetMs)
    }

    // MARK: - Graceful stop

    /// Hands leadership to the most caught-up voter (if leading), waits up to `waitMs` for it to take
    /// over, then stops taking input and flushes what is pending.
    func prepareToStop(waitMs: Int) async {
        if node.role == .leader, let target = node.bestTransferTarget {
            logger.info("transferring leadership before stopping", metadata: ["raft.target": "\(target)"])
            _ = node.transferLeadership(to: target)
            drain()
            let deadline = monotonicNs() + UInt64(waitMs) * 1_000_000
            while node.role == .leader && monotonicNs() < deadline {
                try? await Task.sleep(nanoseconds: UInt64(options.tickMs) * 1_000_000)
                node.tick()
                drain()
            }
            logger.info(
                "leadership handed over", metadata: ["raft.role": "\(node.role)", "raft.leader": "\(node.leader)"])
        }
        // The last flush: the lamp events the channel delivered (CoreService waited for it) go too, after
        // any write in flight (which may hold lamp events back, or hand some back for a retry).
        waitForWrites()
        lampRetryAtNs = 0
        flushSidecar(wait: true)
        noteLampEventsLostAtStop()
        stopping = true
        failProposals(.shuttingDown)
        cancelAllReads()
    }

    // MARK: - The Ready loop

    /// Handles every pending `Ready`: persist, then send, then apply. Bounded by the node's own bounds.
    private func drain() {
        var rounds = 0
        defer {
            // A halted core has no Ready (hasReady is false), so this is checked after every input.
            if let h = node.halted { failStop("raft core halted: \(h)") }
        }
        while !stopping && node.hasReady && rounds < 64 {
            rounds += 1
            let rd = node.ready()
            // 1. Persist (one transaction: snapshot, entries, hard state, plus pending audit rows and
            //    lamp events: group commit) — on the writer queue, so that this actor goes on answering
            //    heartbeats while SQLite waits for the disk (docs/operations.md, "Leadership under load").
            var batch = WriteBatch()
            let raftDurable = rd.snapshot != nil || rd.hardState != nil || !rd.entries.isEmpty
            if raftDurable { batch.add(rd) }
            batch.auditRecords = pendingAudit
            pendingAudit = []
            if lampEventsDue {
                batch.lampEvents = pendingLampEvents
                pendingLampEvents = []
            }
            // 2. Send. Messages that promise nothing durable go now; the others (acknowledgements of
            //    entries, votes, snapshot answers) wait until every Raft write handed out before them is
            //    durable (`WriteQueue.waitsForDurability`).
            let (now, held) = WriteQueue.split(rd.messages)
            if rd.snapshot != nil {
                // A snapshot replaces the log and, inside the core, counts as durable at once: it is
                // written before anything else happens (rare: a follower far behind).
                guard writeNow(batch) else { return }
                send(now + held)
            } else {
                if !batch.isEmpty {
                    enqueueWrite(batch, lastEntry: rd.entries.last.map { ($0.index, $0.term) }, raft: raftDurable)
                }
                send(now)
                holdUntilDurable(held)
            }
            // 3. Install a received snapshot, then apply (committed entries are durable here: the core
            //    hands out only entries reported persisted).
            if let snap = rd.snapshot {
                do {
                    machine = try CorridorMachine(snapshotBytes: snap.data)
                    lastSnapshotIndex = snap.index
                    logger.info(
                        "installed snapshot from leader",
                        metadata: ["snapshot.index": "\(snap.index)", "snapshot.bytes": "\(snap.data.count)"])
                } catch {
                    failStop("the snapshot received at index \(snap.index) does not decode: \(error)")
                    return
                }
            }
            for e in rd.committedEntries { apply(e) }
            if let last = rd.committedEntries.last { node.applied(upTo: last.index) }
            if rd.snapshot != nil || !rd.committedEntries.isEmpty { appliedSignal.notify() }
            for rs in rd.readStates {
                readWaiters.removeValue(forKey: rs.context)?.resume(returning: rs.index)
            }
            releaseAppliedWaiters()
            if let soft = rd.softState {
                logger.info(
                    "raft role changed",
                    metadata: [
                        "raft.role": "\(soft.role)", "raft.leader": "\(soft.leader)", "raft.term": "\(node.term)"
                    ])
                explainRoleChange(from: lastRole, to: soft.role, previousLeader: lastLeader)
                lastRole = soft.role
                lastLeader = soft.leader
                lastRoleTerm = node.term
            }
        }
        maybeSnapshot()
    }

    private func send(_ messages: [Message]) {
        if !messages.isEmpty && !isolated { transport.send(messages) }
    }

    // MARK: - Durable writes off the actor

    /// Hands `batch` to the writer queue. `raft` marks a write of Raft state (entries, hard state) that
    /// held messages may wait for; `lastEntry` is reported `persisted` when it is durable.
    private func enqueueWrite(_ batch: WriteBatch, lastEntry: (LogIndex, Term)?, raft: Bool) {
        let fail = failNextPersist
        failNextPersist = false
        let seq = writes.begin(
            raft: raft, lastEntry: lastEntry, sidecar: raft ? nil : (batch.auditRecords, batch.lampEvents))
        if !batch.lampEvents.isEmpty { lampWriteSeq = seq }
        let store = self.store
        let done = writes.completions
        writerQueue.async {
            let t0 = monotonicNs()
            var outcome = RaftDriver.WriteOutcome()
            if fail {
                outcome.failure = "\(ControllerError.rejected("fault injection: write refused"))"
            } else {
                outcome = RaftDriver.commitSeparatingLampEvents(store, batch)
            }
            done.push(
                WriteQueue.Completion(
                    seq: seq, failure: outcome.failure, ns: monotonicNs() - t0,
                    lampFailure: outcome.lampFailure, failedLamps: outcome.lampFailure == nil ? [] : batch.lampEvents))
            Task { await self.writesCompleted() }
        }
    }

    /// Writes `batch` before returning (after every write queued before it); false after a fail-stop.
    private func writeNow(_ batch: WriteBatch) -> Bool {
        waitForWrites()
        guard !stopping else { return false }
        guard !batch.isEmpty else { return true }
        let t0 = monotonicNs()
        do {
            if failNextPersist {
                failNextPersist = false
                throw ControllerError.rejected("fault injection: write refused")
            }
            let outcome = writerQueue.sync { RaftDriver.commitSeparatingLampEvents(store, batch) }
            if let f = outcome.failure { throw ControllerError.rejected(f) }
            if let lf = outcome.lampFailure { lampEventsFailed(batch.lampEvents, failure: lf) }
        } catch {
            // Nothing that depends on this write may leave the process; the node cannot go on.
            failStop("persisting failed: \(error)")
            return false
        }
        instruments.persist.recordNanoseconds(Int64(clamping: monotonicNs() - t0))
        return true
    }

    /// Blocks until every queued write is done and handles their completions here.
    private func waitForWrites() {
        guard writes.inFlight else { return }
        writerQueue.sync {}
        handleCompletions()
    }

    private func holdUntilDurable(_ messages: [Message]) {
        guard !messages.isEmpty else { return }
        if !writes.hold(messages) { send(messages) }
    }

    /// Called (through a task) after each write the queue finished.
    private func writesCompleted() {
        let progressed = handleCompletions()
        let proposed = !stopping && proposeQueued()
        guard progressed || proposed else { return }
        drain()
    }

    /// Reports finished writes to the core and sends what waited for them. Returns true when the core
    /// may have new work (an entry became durable).
    @discardableResult
    private func handleCompletions() -> Bool {
        var progressed = false
        for c in writes.completions.takeAll() {
            if c.seq == lampWriteSeq { lampWriteSeq = nil }
            guard let w = writes.finish(c.seq) else { continue }
            if let f = c.failure {
                if w.raft {
                    // Nothing that depends on this write left the process (held messages are dropped);
                    // the node cannot go on.
                    failStop("persisting failed: \(f)")
                    return false
                }
                // Audit rows and lamp events alone: keep them for the next write.
                logger.error("writing audit rows / lamp events failed; will retry", metadata: ["error": "\(f)"])
                if let (audit, lamps) = w.sidecar {
                    pendingAudit = audit + pendingAudit
                    pendingLampEvents = lamps + pendingLampEvents
                }
                continue
            }
            instruments.persist.recordNanoseconds(Int64(clamping: c.ns))
            if let lf = c.lampFailure { lampEventsFailed(c.failedLamps, failure: lf) }
            if let (index, term) = w.lastEntry {
                node.persisted(upTo: index, term: term)
                progressed = true
            }
            guard !stopping else { continue }
            send(w.held)
        }
        return progressed && !stopping
    }

    /// A warning that says why this controller campaigned or stepped down, with the evidence about its own
    /// scheduling: a busy machine shows here as late ticks or a busy driver, a lost leader as silence.
    private func explainRoleChange(from old: Role, to new: Role, previousLeader: NodeID) {
        let now = monotonicNs()
        let timeoutMs = options.electionTicks * options.tickMs
        switch (old, new) {
        case (.follower, .preCandidate), (.follower, .candidate):
            let silence =
                previousLeader == noNode
                ? "no leader known"
                : "last message from leader \(previousLeader) \(watch.silenceMs(of: previousLeader, now: now).map { "\($0) ms" } ?? "never") ago"
            let seen = previousLeader == noNode ? "" : "; \(transport.evidence(for: [previousLeader]))"
            logger.warning(
                "campaigning: election timeout",
                metadata: [
                    "why":
                        "\(silence); election timeout \(timeoutMs)–\(2 * timeoutMs) ms; \(watch.summary(now: now))\(seen)",
                    "raft.term": "\(node.term)"
                ])
        case (.leader, .follower):
            let voters = node.membership.voters.filter { $0 != node.id }
            let heard = voters.map { v in "\(v): \(watch.silenceMs(of: v, now: now).map { "\($0) ms" } ?? "never")" }
                .joined(separator: ", ")
            let reason =
                node.term > lastRoleTerm
                ? "a message of a higher term (term \(lastRoleTerm) to \(node.term))"
                : "not heard from a quorum of voters within the election timeout (check-quorum)"
            logger.warning(
                "stepping down: \(reason)",
                metadata: [
                    "why":
                        "voters last heard [\(heard)]; election timeout \(timeoutMs) ms; \(watch.summary(now: now)); \(transport.evidence(for: voters))",
                    "raft.term": "\(node.term)"
                ])
        default:
            break
        }
    }

    private func apply(_ e: Entry) {
        // The same code as the start-up self-check's replay, so that what it compares is what this wrote.
        let r = machine.applyLogEntry(e)
        if let header = r.header { observeLeaderClock(header.leaderTimeMs, index: e.index) }
        if e.index > auditHead, let record = StartupCheck.auditRecord(for: e, result: r, chain: chain, store: store) {
            pendingAudit.append(record)
            chain.append(record)
            auditHead = e.index
            if let cp = r.checkpoint {
                chain.rowsSinceCheckpoint = 0
                chain.lastCheckpointMs = wallClockMs()
                if checkpointProposal?.index ?? 0 <= e.index { checkpointProposal = nil }
                if case .checkpoint(let own)? = record.outcome, cp.headIndex > 0, own != cp.headHash {
                    // Recorded in the row (evidence) and counted; logged at most once per 10 s. A replica
                    // that installed a snapshot from the leader mismatches at every later checkpoint
                    // (its chain's links differ from the leader's: docs/audit.md, limits).
                    instruments.auditCheckpointMismatches.increment()
                    if case .log(let suppressed) = warnings.admit(
                        source: "audit", reason: "checkpoint", nowNs: monotonicNs())
                    {
                        logger.error(
                            "audit checkpoint disagrees with this replica's chain",
                            metadata: [
                                "index": "\(e.index)", "checkpoint.head": "\(cp.headIndex)",
                                "own.hash": "\(own.map { hex($0) } ?? "none")", "suppressed": "\(suppressed)"
                            ])
                    }
                }
            } else {
                chain.rowsSinceCheckpoint += 1
            }
        }
        if let w = proposalWaiters.removeValue(forKey: e.index) {
            if w.term == e.term, let result = r.result {
                w.continuation.resume(
                    returning: CommandOutcome(
                        index: e.index, term: e.term, result: result,
                        duplicate: r.duplicate, stateHash: r.stateHash))
            } else {
                w.continuation.resume(throwing: ControllerError.superseded(index: e.index))
            }
        }
    }

    /// Compares a command's leader timestamp with this controller's clock when it is applied. Only
    /// reported (log, rate-limited; `greenwave_leader_clock_offset_ms`): what the state machine does
    /// with the time must not depend on any one replica's clock.
    private func observeLeaderClock(_ leaderTimeMs: Int64, index: LogIndex) {
        let now = clock.corridorMs()
        let (offset, overflow) = now.subtractingReportingOverflow(leaderTimeMs)
        leaderClockOffsetMs = overflow ? Int64.max : offset
        // Commands applied while catching up are legitimately old; only a leader ahead of us, or a fresh
        // entry far behind, says a clock is wrong.
        guard overflow || offset < -Self.clockWarningMs || (node.commitIndex == index && offset > Self.clockWarningMs)
        else { return }
        guard case .log(let suppressed) = warnings.admit(source: "leader", reason: "clock", nowNs: monotonicNs()) else {
            return
        }
        logger.warning(
            "leader clock disagrees with this controller's",
            metadata: [
                "offset.ms": "\(leaderClockOffsetMs)", "index": "\(index)", "suppressed": "\(suppressed)"
            ])
    }

    static let clockWarningMs: Int64 = 2_000

    /// The audit checkpoint proposed by this leader and not yet applied (index, term).
    private var checkpointProposal: (index: LogIndex, term: Term)?

    /// On the leader: proposes an audit checkpoint carrying this replica's chain head once enough rows
    /// (or time with new rows) have passed since the last checkpoint applied (docs/audit.md). No waiter:
    /// if it is lost to a leader change, the next leader proposes its own.
    private func maybeProposeCheckpoint() {
        guard node.role == .leader, failure == nil, !stopping, chain.rowsSinceCheckpoint > 0 else { return }
        if let p = checkpointProposal, p.term == node.term, p.index > machine.appliedIndex { return }
        let now = wallClockMs()
        let byRows =
            options.auditCheckpointEveryRows > 0 && chain.rowsSinceCheckpoint >= options.auditCheckpointEveryRows
        let (elapsed, overflow) = now.subtractingReportingOverflow(chain.lastCheckpointMs)
        let byTime = overflow || elapsed >= Int64(max(1, options.auditCheckpointEveryMs))
        guard byRows || byTime else { return }
        let cp = AuditCheckpoint(headIndex: chain.index, headHash: chain.hash, leaderTimeMs: now)
        if case .appended(let first, _, let term) = node.propose([cp.encoded()]) {
            checkpointProposal = (first, term)
            instruments.proposals.increment()
            drain()
        }
    }

    private func releaseAppliedWaiters() {
        guard !appliedWaiters.isEmpty else { return }
        let applied = machine.appliedIndex
        var keep: [(index: LogIndex, id: UInt64, continuation: CheckedContinuation<Void, Error>)] = []
        for w in appliedWaiters {
            if w.index <= applied { w.continuation.resume() } else { keep.append(w) }
        }
        appliedWaiters = keep
    }

    /// Writes audit rows and lamp events that wait for a group commit when nothing else is written: on
    /// the writer queue, or before returning when `wait` (a snapshot is about to drop the log under them).
    private func flushSidecar(wait: Bool = false) {
        let lamps = lampEventsDue ? pendingLampEvents : []
        guard !pendingAudit.isEmpty || !lamps.isEmpty else {
            if wait { waitForWrites() }
            return
        }
        let batch = WriteBatch(auditRecords: pendingAudit, lampEvents: lamps)
        pendingAudit = []
        if !lamps.isEmpty { pendingLampEvents = [] }
        enqueueWrite(batch, lastEntry: nil, raft: false)
        if wait { waitForWrites() }
    }

    private func maybeSnapshot() {
        let applied = machine.appliedIndex
        guard applied >= lastSnapshotIndex + LogIndex(options.snapshotEveryEntries), node.persistedIndex >= applied
        else { return }
        // The audit rows up to `applied` must be durable before the log under them can go.
        flushSidecar(wait: true)
        guard pendingAudit.isEmpty, !stopping else { return }
        let data = machine.snapshot().encoded()
        guard let snap = node.compact(upTo: applied, data: data) else { return }
        do {
            try writerQueue.sync {
                try store.saveSnapshot(StoredSnapshot(snap))
                try store.compact(through: snap.index)
            }
            lastSnapshotIndex = snap.index
            logger.info(
                "snapshot taken", metadata: ["snapshot.index": "\(snap.index)", "snapshot.bytes": "\(data.count)"])
        } catch {
            logger.error("saving snapshot failed", metadata: ["error": "\(error)"])
        }
    }
}

/// A point-in-time view of the Raft side for status pages.
public struct DriverStatus: Sendable {
    public var nodeID: NodeID
    public var role: Role
    public var term: Term
    public var leader: NodeID
    public var commitIndex: LogIndex
    public var appliedIndex: LogIndex
    public var lastIndex: LogIndex
    public var stateHash: [UInt8]
    public var membership: Membership
    public var halted: String?
    /// Set once the controller failed and stopped (fail-stop): the reason.
    public var failure: String?
    /// A condition that does not stop the controller but needs a person.
    public var warning: String?
}

/// The Raft side's state and the totals the core keeps, read by `/metrics` (ControllerInstruments.swift).
public struct DriverMetrics: Sendable {
    public var elections: UInt64 = 0
    public var term: Term = 0
    public var isLeader = false
    public var commitIndex: LogIndex = 0
    public var appliedIndex: LogIndex = 0
    public var malformedDropped: UInt64 = 0
    /// False after a fail-stop or when the core halted.
    public var healthy = true
    public var leaderClockOffsetMs: Int64 = 0
}

/// This replica's audit chain head and recent row hashes, kept as rows are queued for the store.
struct ChainTracker {
    var index: LogIndex = 0
    var hash: [UInt8] = AuditChain.zeroHash
    /// Row hashes of the newest rows (at most `keep`), oldest first.
    private var recent: [(index: LogIndex, hash: [UInt8])] = []
    static let keep = 8_192
    var rowsSinceCheckpoint = 0
    var lastCheckpointMs: Int64 = 0

    init() {}
    init(index: LogIndex, hash: [UInt8]) {
        self.index = index
        self.hash = hash
        if index > 0 { recent = [(index, hash)] }
    }

    mutating func append(_ r: AuditRecord) {
        let h = AuditChain.rowHash(r, prevIndex: index, prevRowHash: hash)
        index = r.index
        hash = h
        recent.append((r.index, h))
        if recent.count > Self.keep + 1_024 { recent.removeFirst(1_024) }
    }

    /// The hash of this replica's row at `i`, if it is among the recent rows.
    func rowHash(at i: LogIndex) -> [UInt8]? {
        var lo = 0
        var hi = recent.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if recent[mid].index < i { lo = mid + 1 } else { hi = mid }
        }
        return lo < recent.count && recent[lo].index == i ? recent[lo].hash : nil
    }
}
