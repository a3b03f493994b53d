// CorridorMachine: the replicated state machine of one corridor (docs/corridor-machine.md).
//
// Deterministic by construction: the only clock is the leader's timestamp in each command, all
// arithmetic is on integers, every collection that is encoded or iterated is an array kept sorted
// (no Dictionary/Set iteration), no Foundation. Caches (the compiled timeline, the compaction
// probe) are pure functions of the state and never change an outcome.
import Crypto
import SignalTiming

/// Who ordered something and where it sits in the log.
public struct Provenance: Hashable, Sendable {
    public var logIndex: UInt64
    public var operatorID: String
    public init(logIndex: UInt64, operatorID: String) {
        self.logIndex = logIndex
        self.operatorID = operatorID
    }
}

/// A control event of the timeline and the operator whose command created it. Its
/// `event.id.rawValue` is the log index of that command.
public struct EventRecord: Hashable, Sendable {
    public var event: ControlEvent
    public var operatorID: String
    public var provenance: Provenance { Provenance(logIndex: event.id.rawValue, operatorID: operatorID) }
}

public struct HoldRecord: Hashable, Sendable {
    public var signal: SignalID
    public var stage: String?
    public var source: Provenance
    public var effectiveAtMs: Milliseconds
}

public struct FlashRecord: Hashable, Sendable {
    public var signal: SignalID
    public var source: Provenance
    public var effectiveAtMs: Milliseconds
}

public struct PreemptionRecord: Hashable, Sendable {
    public var source: Provenance
    public var preemption: Preemption
    public var effectiveAtMs: Milliseconds
    /// When the last call of this preemption is released at the latest (max presence).
    public var endsAtMs: Milliseconds
}

/// A client's exactly-once session: its last sequence number and that command's result.
public struct Session: Hashable, Sendable {
    public var clientID: ClientID
    public var lastSequence: UInt64
    public var result: CommandResult
    /// Log index of the session's last new command (the LRU key).
    public var lastIndex: UInt64
}

/// Settings that travel with the state.
public struct MachineSettings: Hashable, Sendable {
    /// A command takes effect no earlier than this after the leader's timestamp, so that every
    /// replica has applied it before it matters.
    public var safetyMarginMs: Milliseconds = 5_000
    /// Sessions kept: a new client beyond it is refused (`tooManySessions`) until older sessions expire
    /// (`ClientID.windowMs` after their creation).
    public var maxSessions = 1_024
    /// Control events kept uncompacted; a command that would exceed it is refused.
    public var maxEvents = 1_024
    public init(safetyMarginMs: Milliseconds = 5_000, maxSessions: Int = 1_024, maxEvents: Int = 1_024) {
        self.safetyMarginMs = safetyMarginMs
        self.maxSessions = maxSessions
        self.maxEvents = maxEvents
    }
}

/// Kinds of log entry, mirroring RaftCore's `EntryKind` (this module depends on no Raft type).
public enum MachineEntryKind: UInt8, Hashable, Sendable {
    case normal = 0
    case noop = 1
    case config = 2
}

/// What applying one entry did.
public struct ApplyResult: Hashable, Sendable {
    public var index: UInt64
    public var term: UInt64
    /// The command's header, when it could be decoded.
    public var header: CommandEnvelope.Header?
    /// The command's result (nil for noop and config entries, and for entries at or below the
    /// applied index, which are ignored).
    public var result: CommandResult?
    /// The result is the stored one of an earlier entry with the same client and sequence.
    public var duplicate: Bool
    /// The state hash after the entry.
    public var stateHash: [UInt8]
    /// Set when the entry was an audit checkpoint (header and result are then nil; nothing changed).
    public var checkpoint: AuditCheckpoint? = nil
    /// The command's kind (`Command.kindName`) when its body was decoded (a new command): the audit's
    /// replay uses it instead of decoding the entry a second time.
    public var commandKind: String? = nil
}

public struct CorridorMachine: Sendable {
    /// Version 2 added the corridor id and the operator registry.
    public static let stateFormatVersion: UInt16 = 2
    static let stateMagic: [UInt8] = Array("GWCS".utf8)

    public internal(set) var settings: MachineSettings { didSet { corridorVersion &+= 1 } }
    public internal(set) var corridor: Corridor { didSet { corridorVersion &+= 1 } }
    public let referenceEpochMs: Milliseconds
    /// The latest leader timestamp seen (the machine's monotonic clock).
    public internal(set) var clockMs: Milliseconds
    public internal(set) var baseline: Baseline
    /// The command that set the baseline's plan (nil: the corridor's initial plan).
    public internal(set) var baselineSource: Provenance?
    /// Uncompacted control events, in log order.
    public internal(set) var events: [EventRecord]
    public internal(set) var corridorFlash: Provenance?
    /// Sorted by signal.
    public internal(set) var signalFlashes: [FlashRecord]
    /// Sorted by signal.
    public internal(set) var holds: [HoldRecord]
    /// Sorted by log index; dropped once ended.
    public internal(set) var preemptions: [PreemptionRecord]
    /// Sorted by client id.
    public internal(set) var sessions: [Session]
    /// The corridor's id (`corridor:` in its file): part of every signed message.
    public let corridorID: String
    /// The operator registry: every key ever registered, sorted by key id.
    public internal(set) var operators: [OperatorRecord]
    /// The time-of-day schedules, in the order they take over (the corridor file's first; a replaced one
    /// stays until history is compacted past its successor's start). Empty: no schedule, the mode changes
    /// only by command, exactly as before schedules existed.
    public internal(set) var schedules: [ScheduleRecord] = []
    /// When mode commands ordered with a schedule in force give way to it, sorted by event id.
    public internal(set) var modeEnds: [ModeEnd] = []
    /// A `clearSchedule` not yet compacted: from its boundary the schedule no longer changes the mode (its
    /// mode event holds the plan in force then) and mode commands take no `until`; compaction past it
    /// drops the schedules.
    public internal(set) var scheduleClear: ScheduleClear?
    /// Cache (not state): the last instant whose scheduled changes `timeline` holds (`Int64.max` without a
    /// schedule).
    public internal(set) var timelineThroughMs: Milliseconds = Int64.max

    public internal(set) var appliedIndex: UInt64 = 0
    public internal(set) var appliedTerm: UInt64 = 0
    /// SHA-256 of `encodedState()`.
    public internal(set) var stateHash: [UInt8] = []
    /// The compiled control timeline: lamps are `timeline.state(of:at:)`.
    public internal(set) var timeline: CorridorTimeline

    /// A cost counter (not state): the control events this machine has handed to the timeline compiler
    /// with a schedule (its timelines, compaction and rebase probes), for ScheduleCostTests.
    public internal(set) var scheduleEventsCompiled = 0

    /// Cache of the compaction probe (not state): for (baseline, event count, last event) the
    /// time from which everything is settled, if any.
    var settleProbe: (key: SettleKey, at: Milliseconds?)?
    struct SettleKey: Equatable {
        var baseline: Baseline
        var count: Int
        var last: UInt64
    }

    /// Cache (not state) of the mode line's plan events (`cachedPlanEvents`), and a cost counter: how often
    /// they were walked from the baseline.
    var planEventsCache: PlanEventsCache?
    public internal(set) var planEventsWalks = 0
    struct PlanEventsKey: Equatable {
        var corridorVersion: UInt64
        var referenceEpochMs: Milliseconds
        var baseline: Baseline
        var overrides: [ModeOverride]
        var schedules: [ScheduleInForce]
    }
    struct PlanEventsCache {
        var key: PlanEventsKey
        var throughMs: Milliseconds
        var events: [ControlEvent]
    }

    /// Cache (not state) for the state hash: the encoded events (`encodedEventsForHash`), and how often all
    /// events were removed.
    var eventBytes: EventBytesCache?
    var eventsCleared: UInt64 = 0
    struct EventBytesCache: Sendable {
        var cleared: UInt64
        var count: Int
        var last: EventRecord?
        var bytes: [UInt8]
    }

    /// Cache (not state) for the state hash: counts changes of the settings and the corridor, which make
    /// the prefix of the state encoding; `hashPrefix` is SHA-256 fed with that prefix at a version.
    private(set) var corridorVersion: UInt64 = 0
    var hashPrefix: StateHashPrefix?

    /// A fresh corridor running `initialPlan` from `referenceEpochMs`.
    /// `operators` is the initial registry (the corridor file's first engineer): without an active
    /// engineer nobody could ever order anything, so an empty one is refused.
    public init(
        corridor: Corridor, referenceEpochMs: Milliseconds, initialPlan: PlanID, corridorID: String,
        operators: [OperatorRecord], settings: MachineSettings = MachineSettings(),
        schedule: TimeOfDaySchedule? = nil
    ) throws {
        guard corridor.planIndex(of: initialPlan) != nil else {
            throw TimingError("unknown initial plan '\(initialPlan)'")
        }
        for o in operators {
            if let p = OperatorRecord.nameProblem(o.name) { throw TimingError("first operators: \(p)") }
            guard OperatorKeys.isValidPublicKey(o.publicKey) else {
                throw TimingError("first operators: '\(o.name)' has no valid Ed25519 public key")
            }
        }
        guard operators.contains(where: { $0.isActive && $0.role == .engineer }) else {
            throw TimingError(
                "the corridor names no first engineer (security.first_engineer): nobody could sign a command")
        }
        let sorted = operators.sorted { $0.keyID < $1.keyID }
        for i in sorted.indices.dropFirst() where sorted[i - 1].keyID == sorted[i].keyID {
            throw TimingError("first operators: key \(OperatorKeys.keyIDText(sorted[i].keyID)) is listed twice")
        }
        self.corridorID = corridorID
        self.operators = sorted
        self.settings = settings
        self.corridor = corridor
        self.referenceEpochMs = referenceEpochMs
        self.clockMs = referenceEpochMs
        self.baseline = Baseline(atMs: referenceEpochMs, plan: initialPlan)
        self.baselineSource = nil
        self.events = []
        self.corridorFlash = nil
        self.signalFlashes = []
        self.holds = []
        self.preemptions = []
        self.sessions = []
        self.timeline = try CorridorTimeline(
            corridor: corridor, referenceEpochMs: referenceEpochMs, baseline: baseline, events: [])
        if let schedule {
            // The corridor file's schedule runs from the reference epoch (id 0: no command set it).
            try schedule.validate(planIDs: corridor.plans.map(\.id))
            self.schedules = [
                ScheduleRecord(
                    inForce: ScheduleInForce(schedule: schedule, sinceMs: referenceEpochMs, id: EventID(0)), source: nil
                )
            ]
            try recompile(reusing: false)
        }
        self.stateHash = computeStateHash()
    }

    // MARK: - Apply

    /// Applies one committed entry. Never traps on bad input: undecodable or invalid commands are
    /// rejected with a reason. Entries at or below the applied index are ignored.
    public mutating func apply(index: UInt64, term: UInt64, kind: MachineEntryKind, payload: [UInt8]) -> ApplyResult {
        guard index > appliedIndex else { return outcome(index, term, header: nil, result: nil) }
        appliedIndex = index
        appliedTerm = term
        guard kind == .normal else { return outcome(index, term, header: nil, result: nil) }
        guard payload.count <= CommandEnvelope.maxEncodedBytes else {
            // Not even the header is trusted: a payload this large is no command any client can send.
            return outcome(
                index, term, header: nil,
                result: .rejected(
                    .oversized, reason: "command of \(payload.count) bytes exceeds \(CommandEnvelope.maxEncodedBytes)"))
        }
        // An audit checkpoint orders nothing and changes nothing; the shell checks it against its chain.
        if AuditCheckpoint.isCheckpoint(payload) { return applyCheckpoint(payload, index: index, term: term) }
        var reader = ByteReader(payload)
        let header: CommandEnvelope.Header
        do {
            header = try CommandEnvelope.decodeHeader(&reader)
        } catch {
            return outcome(index, term, header: nil, result: Self.headerRefusal(error))
        }
        // A timestamp no honest leader stamps is refused before it can move the clock. Nothing else
        // changes (no session is recorded), so a retry through a leader with a sane clock still applies.
        if let why = Self.implausibleTime(header.leaderTimeMs, clockMs: clockMs) {
            return outcome(index, term, header: header, result: .rejected(.implausibleTime, reason: why))
        }
        // Who signed it. An unsigned, unknown, revoked or forged signature changes nothing (no session is
        // recorded): a forger cannot fill the session table, and a genuine retry still applies.
        let commandBytes = Array(payload[reader.position...])
        let signer: OperatorRecord
        switch authenticate(header, command: commandBytes) {
        case .signer(let r): signer = r
        case .refused(let refusal): return outcome(index, term, header: header, result: refusal.bounded)
        }
        // Exactly once.
        let slot = sessionSlot(header.clientID)
        if slot.found, let replay = Self.replay(header, session: sessions[slot.index]) {
            return outcome(index, term, header: header, result: replay.result, duplicate: replay.duplicate)
        }
        return applyNew(header, signer: signer, knownClient: slot.found, reader: &reader, index: index, term: term)
    }

    /// The result of an entry that leaves the state as it is (its hash is the current one).
    private func outcome(
        _ index: UInt64, _ term: UInt64, header: CommandEnvelope.Header?, result: CommandResult?,
        duplicate: Bool = false
    ) -> ApplyResult {
        ApplyResult(
            index: index, term: term, header: header, result: result, duplicate: duplicate, stateHash: stateHash)
    }

    /// An audit checkpoint entry: decoded for the shell, or refused as malformed; the state does not change.
    private func applyCheckpoint(_ payload: [UInt8], index: UInt64, term: UInt64) -> ApplyResult {
        switch Result(catching: { try AuditCheckpoint.decode(payload) }) {
        case .success(let cp):
            return ApplyResult(
                index: index, term: term, header: nil, result: nil, duplicate: false, stateHash: stateHash,
                checkpoint: cp)
        case .failure(let e):
            return outcome(
                index, term, header: nil,
                result: CommandResult.rejected(.malformed, reason: "undecodable audit checkpoint: \(e)").bounded)
        }
    }

    /// The refusal of an entry whose envelope header does not decode.
    private static func headerRefusal(_ error: Error) -> CommandResult {
        guard let e = error as? DecodeError else { return .rejected(.malformed, reason: "undecodable command") }
        let code: RejectCode = {
            if case .unsupportedVersion = e { return .unsupportedVersion }
            return .malformed
        }()
        return CommandResult.rejected(code, reason: "undecodable command: \(e)").bounded
    }

    /// What a known client's command gets without running: the stored result of a retry (its sequence is the
    /// client's last) or the refusal of an older sequence; nil for a new command.
    private static func replay(
        _ header: CommandEnvelope.Header, session s: Session
    ) -> (result: CommandResult, duplicate: Bool)? {
        if header.sequence == s.lastSequence { return (s.result, true) }
        if header.sequence < s.lastSequence {
            return (
                .rejected(
                    .stale,
                    reason:
                        "sequence \(header.sequence) of client \(header.clientID) is older than its last sequence \(s.lastSequence)"
                ), false
            )
        }
        return nil
    }

    /// A new command of an authenticated signer: the clock moves forward, finished preemptions and sessions
    /// are dropped, and the command runs (if the session table admits the client) and is recorded.
    private mutating func applyNew(
        _ header: CommandEnvelope.Header, signer: OperatorRecord, knownClient: Bool, reader: inout ByteReader,
        index: UInt64, term: UInt64
    ) -> ApplyResult {
        clockMs = max(clockMs, header.leaderTimeMs)
        preemptions.removeAll { $0.endsAtMs <= clockMs }
        expireSessions()
        compactIfSettled()
        extendTimelineIfNeeded()
        if let refusal = sessionRefusal(header.clientID, known: knownClient) {
            // Not executed and no session recorded: nothing of the command happened.
            stateHash = computeStateHash()
            return outcome(index, term, header: header, result: refusal)
        }
        let (result, kind) = runCommand(&reader, signer: signer, index: index, operatorID: header.operatorID)
        recordSession(header.clientID, sequence: header.sequence, result: result, index: index)
        compactIfSettled()
        stateHash = computeStateHash()
        return ApplyResult(
            index: index, term: term, header: header, result: result, duplicate: false, stateHash: stateHash,
            commandKind: kind)
    }

    /// Decodes the command body and executes it if the signer's role allows; the result and the command's
    /// kind (nil when the body does not decode).
    private mutating func runCommand(
        _ reader: inout ByteReader, signer: OperatorRecord, index: UInt64, operatorID: String
    ) -> (CommandResult, String?) {
        do {
            let command = try Codecs.command(&reader)
            try reader.finish()
            let needed = OperatorRole.required(for: command)
            if signer.role < needed {
                return (
                    CommandResult.rejected(
                        .forbidden, reason: "'\(signer.name)' is a \(signer.role); this command needs a \(needed)"
                    ).bounded, command.kindName
                )
            }
            return (execute(command, index: index, operatorID: operatorID).bounded, command.kindName)
        } catch let e as DecodeError {
            return (CommandResult.rejected(.malformed, reason: "undecodable command body: \(e)").bounded, nil)
        } catch {
            return (.rejected(.malformed, reason: "undecodable command body"), nil)
        }
    }

    /// Why a leader timestamp cannot be applied, or nil when it is plausible (deterministic: it
    /// depends on the timestamp and the corridor's clock only).
    public static func implausibleTime(_ t: Milliseconds, clockMs: Milliseconds) -> String? {
        guard t >= Limits.earliestTimeMs, t <= Limits.latestTimeMs else {
            return
                "leader time \(t) ms is outside \(Limits.earliestTimeMs)...\(Limits.latestTimeMs) (2000-01-01 to 2200-01-01)"
        }
        // clockMs is itself within the bounds, so the subtraction cannot overflow.
        if t < clockMs - Limits.leaderTimeStepBackMsMax {
            return
                "leader time \(t) ms is \(clockMs - t) ms behind the corridor's clock \(clockMs) ms (at most \(Limits.leaderTimeStepBackMsMax) ms allowed): the leader's clock is wrong"
        }
        return nil
    }

    private func sessionSlot(_ id: ClientID) -> (found: Bool, index: Int) {
        var lo = 0
        var hi = sessions.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sessions[mid].clientID < id { lo = mid + 1 } else { hi = mid }
        }
        return (lo < sessions.count && sessions[lo].clientID == id, lo)
    }

    /// Drops the sessions of timed client ids whose window has passed (deterministic: the clock and
    /// the ids only).
    private mutating func expireSessions() {
        let now = clockMs
        sessions.removeAll { s in
            guard let created = s.clientID.createdAtMs else { return false }
            return created < now - ClientID.windowMs
        }
    }

    /// Why a new command of this client cannot be covered by exactly-once, or nil.
    private func sessionRefusal(_ id: ClientID, known: Bool) -> CommandResult? {
        let now = clockMs
        if let created = id.createdAtMs {
            if created < now - ClientID.windowMs {
                return .rejected(
                    .outsideSessionWindow,
                    reason:
                        "client id \(id) was created at \(created) ms, more than \(ClientID.windowMs / 1000) s before the corridor's clock \(now) ms: a command this old may be a retry of one already applied, so it is refused; send it again under a new client id"
                )
            }
            if created > now + ClientID.windowMs {
                return .rejected(
                    .outsideSessionWindow,
                    reason:
                        "client id \(id) claims to be created at \(created) ms, more than \(ClientID.windowMs / 1000) s after the corridor's clock \(now) ms; check the client's clock"
                )
            }
        }
        guard !known, sessions.count >= max(1, settings.maxSessions) else { return nil }
        // Full: a live session is never evicted (every signed command has a timed id, `authenticate`), so
        // the new client is refused instead of another losing its exactly-once.
        return .rejected(
            .tooManySessions,
            reason:
                "\(sessions.count) clients have commands within the last \(ClientID.windowMs / 1000) s, the limit is \(settings.maxSessions); retry when older sessions expire"
        )
    }

    private mutating func recordSession(_ id: ClientID, sequence: UInt64, result: CommandResult, index: UInt64) {
        let slot = sessionSlot(id)
        if slot.found {
            sessions[slot.index] = Session(clientID: id, lastSequence: sequence, result: result, lastIndex: index)
            return
        }
        sessions.insert(Session(clientID: id, lastSequence: sequence, result: result, lastIndex: index), at: slot.index)
    }

    // MARK: - Commands

    /// Runs one authenticated, authorised command: one function per command below. Each takes effect
    /// `settings.safetyMarginMs` after the corridor's clock at the earliest.
    private mutating func execute(_ command: Command, index: UInt64, operatorID: String) -> CommandResult {
        switch command {
        case .setMode(let plan) where !schedules.isEmpty:
            return executeMode(plan, until: nil, index: index, operatorID: operatorID)
        case .clearSchedule:
            return executeClearSchedule(index: index, operatorID: operatorID)
        case .setModeUntil(let plan, let until):
            return executeMode(plan, until: until, index: index, operatorID: operatorID)
        case .setSchedule(let s):
            return executeSetSchedule(s, index: index, operatorID: operatorID)
        case .setMode(let plan):
            return executeSetMode(plan, index: index, operatorID: operatorID)
        case .hold(let s, let stage):
            return executeHold(s, stage: stage, index: index, operatorID: operatorID)
        case .release(let s):
            return executeRelease(s, index: index, operatorID: operatorID)
        case .flash(nil):
            return executeCorridorFlash(index: index, operatorID: operatorID)
        case .unflash(nil):
            return executeCorridorUnflash(index: index, operatorID: operatorID)
        case .flash(let s?):
            return executeSignalFlash(s, index: index, operatorID: operatorID)
        case .unflash(let s?):
            return executeSignalUnflash(s, index: index, operatorID: operatorID)
        case .preempt(let request):
            return executePreempt(request.preemption, index: index, operatorID: operatorID)
        case .cancelPreemption(let target):
            return executeCancelPreemption(target, index: index, operatorID: operatorID)
        case .updatePlan(let spec):
            return executeUpdatePlan(spec)
        case .addOperator, .setRole, .revokeKey:
            return executeRegistry(command, index: index)
        }
    }

    /// The earliest instant a command applied now may take effect: the corridor's clock plus the safety margin.
    private var soonMs: Milliseconds { clockMs + settings.safetyMarginMs }

    private func unknownSignal(_ s: SignalID) -> CommandResult {
        .rejected(
            .unknownSignal,
            reason: "unknown signal \(s) (signals: \(corridor.signals.map(\.id.description).joined(separator: ", ")))")
    }

    /// `mode PLAN` without a schedule: the plan change lands on the first cycle boundary after the last one.
    private mutating func executeSetMode(_ plan: PlanID, index: UInt64, operatorID: String) -> CommandResult {
        guard let p = corridor.plan(plan) else {
            return .rejected(
                .unknownPlan,
                reason: "unknown plan '\(plan)' (plans: \(corridor.plans.map(\.id.rawValue).joined(separator: ", ")))")
        }
        let (targetPlan, lastChange) = targetMode
        let earliest = max(soonMs, lastChange + 1)
        let target = corridor.plan(targetPlan)!
        let cycle = target.isFlash ? p.cycleMs : target.cycleMs
        let at = cycle > 0 ? firstBoundary(atOrAfter: earliest, cycleMs: cycle) : earliest
        return addEvent(.setPlan(plan), at: at, index: index, operatorID: operatorID)
    }

    /// `hold SIGNAL [STAGE]`: replaces the signal's hold, if any.
    private mutating func executeHold(
        _ s: SignalID, stage: String?, index: UInt64, operatorID: String
    ) -> CommandResult {
        let soon = soonMs
        guard let si = corridor.signalIndex(of: s) else { return unknownSignal(s) }
        if let stage, corridor.signals[si].stageIndex(named: stage) == nil {
            return .rejected(
                .unknownStage,
                reason:
                    "signal \(s) has no stage '\(stage)' (stages: \(corridor.signals[si].stages.map(\.name).joined(separator: ", ")))"
            )
        }
        let r = addEvent(.hold(s, stage: stage), at: soon, index: index, operatorID: operatorID)
        if r.isAccepted {
            let source = Provenance(logIndex: index, operatorID: operatorID)
            let rec = HoldRecord(signal: s, stage: stage, source: source, effectiveAtMs: soon)
            if let i = holds.firstIndex(where: { $0.signal == s }) {
                holds[i] = rec
            } else {
                holds.append(rec)
                holds.sort { $0.signal < $1.signal }
            }
        }
        return r
    }

    private mutating func executeRelease(_ s: SignalID, index: UInt64, operatorID: String) -> CommandResult {
        guard corridor.signalIndex(of: s) != nil else { return unknownSignal(s) }
        guard let i = holds.firstIndex(where: { $0.signal == s }) else {
            return .rejected(.notHeld, reason: "signal \(s) is not held")
        }
        let r = addEvent(.release(s), at: soonMs, index: index, operatorID: operatorID)
        if r.isAccepted { holds.remove(at: i) }
        return r
    }

    private mutating func executeCorridorFlash(index: UInt64, operatorID: String) -> CommandResult {
        if let f = corridorFlash {
            return .rejected(
                .alreadyFlashing,
                reason: "the corridor is already flashing (since command \(f.logIndex) by \(f.operatorID))")
        }
        let r = addEvent(.flash(nil), at: soonMs, index: index, operatorID: operatorID)
        if r.isAccepted { corridorFlash = Provenance(logIndex: index, operatorID: operatorID) }
        return r
    }

    private mutating func executeCorridorUnflash(index: UInt64, operatorID: String) -> CommandResult {
        guard corridorFlash != nil else {
            return .rejected(.notFlashing, reason: "the corridor is not flashing by command")
        }
        let r = addEvent(.unflash(nil), at: soonMs, index: index, operatorID: operatorID)
        if r.isAccepted { corridorFlash = nil }
        return r
    }

    private mutating func executeSignalFlash(_ s: SignalID, index: UInt64, operatorID: String) -> CommandResult {
        let soon = soonMs
        guard corridor.signalIndex(of: s) != nil else { return unknownSignal(s) }
        if let f = signalFlashes.first(where: { $0.signal == s }) {
            return .rejected(
                .alreadyFlashing,
                reason:
                    "signal \(s) is already flashing (since command \(f.source.logIndex) by \(f.source.operatorID))"
            )
        }
        let r = addEvent(.flash(s), at: soon, index: index, operatorID: operatorID)
        if r.isAccepted {
            let source = Provenance(logIndex: index, operatorID: operatorID)
            signalFlashes.append(FlashRecord(signal: s, source: source, effectiveAtMs: soon))
            signalFlashes.sort { $0.signal < $1.signal }
        }
        return r
    }

    private mutating func executeSignalUnflash(_ s: SignalID, index: UInt64, operatorID: String) -> CommandResult {
        guard corridor.signalIndex(of: s) != nil else { return unknownSignal(s) }
        guard let i = signalFlashes.firstIndex(where: { $0.signal == s }) else {
            return .rejected(.notFlashing, reason: "signal \(s) is not flashing by command")
        }
        let r = addEvent(.unflash(s), at: soonMs, index: index, operatorID: operatorID)
        if r.isAccepted { signalFlashes.remove(at: i) }
        return r
    }

    /// `preempt`: in force from `soonMs` until the vehicle has travelled its signals plus lead and clearance
    /// (at most the corridor's maximum presence).
    private mutating func executePreempt(_ p: Preemption, index: UInt64, operatorID: String) -> CommandResult {
        let soon = soonMs
        for s in p.signals where corridor.signalIndex(of: s) == nil { return unknownSignal(s) }
        guard !p.signals.isEmpty else {
            return .rejected(.invalidPreemption, reason: "a preemption needs at least one signal")
        }
        do {
            try Self.validatePreemption(p, corridor: corridor)
        } catch let e as TimingError {
            return .rejected(.invalidPreemption, reason: e.message)
        } catch {
            return .rejected(.invalidPreemption, reason: "invalid preemption")
        }
        let first = corridor.signals[corridor.signalIndex(of: p.signals[0])!].positionMetres
        let last = corridor.signals[corridor.signalIndex(of: p.signals[p.signals.count - 1])!].positionMetres
        let travel = travelMs(metres: abs(last - first), speedKmh: p.speedKmh)
        let ends = soon + travel + min(p.leadMs + p.clearMs, corridor.safety.preemptMaxPresenceMs)
        let r = addEvent(.preempt(p), at: soon, index: index, operatorID: operatorID)
        if r.isAccepted {
            let source = Provenance(logIndex: index, operatorID: operatorID)
            preemptions.append(PreemptionRecord(source: source, preemption: p, effectiveAtMs: soon, endsAtMs: ends))
        }
        return r
    }

    private mutating func executeCancelPreemption(_ target: UInt64, index: UInt64, operatorID: String) -> CommandResult
    {
        guard let i = preemptions.firstIndex(where: { $0.source.logIndex == target }) else {
            return .rejected(.unknownPreemption, reason: "no preemption ordered at log index \(target) is in force")
        }
        let r = addEvent(.cancelPreemption(EventID(target)), at: soonMs, index: index, operatorID: operatorID)
        if r.isAccepted { preemptions.remove(at: i) }
        return r
    }

    /// `plan update`: adds or replaces a plan that is neither in force nor pending; the corridor and its
    /// timeline are rebuilt, or left exactly as they were when the new plan is refused.
    private mutating func executeUpdatePlan(_ spec: PlanSpec) -> CommandResult {
        let now = clockMs
        let plan: TimingPlan
        switch PlanValidation.resolve(spec, corridor: corridor) {
        case .success(let p): plan = p
        case .failure(let e): return e.result
        }
        if planInUse(plan.id) {
            return .rejected(
                .planInUse,
                reason:
                    "plan '\(plan.id)' is in force or pending; switch to another mode and let it settle before replacing it"
            )
        }
        var plans = corridor.plans
        if let i = corridor.planIndex(of: plan.id) { plans[i] = plan } else { plans.append(plan) }
        let saved = (corridor, timeline, timelineThroughMs)
        do {
            // The mode line aligns scheduled changes to the plans' cycles: compiled with the new corridor.
            corridor = try Corridor(
                name: corridor.name, signals: corridor.signals, plans: plans, safety: corridor.safety)
            try recompile(reusing: false)
        } catch let e as TimingError {
            (corridor, timeline, timelineThroughMs) = saved
            return .rejected(.invalidPlan, reason: e.message)
        } catch {
            (corridor, timeline, timelineThroughMs) = saved
            return .rejected(.invalidPlan, reason: "invalid plan")
        }
        return .accepted(effectiveAtMs: now)
    }

    /// Preemption rules (mirrors `CorridorTimeline`'s, with a reason a person can act on).
    static func validatePreemption(_ p: Preemption, corridor: Corridor) throws {
        guard (Limits.progressionSpeedKmhMin...Limits.progressionSpeedKmhMax).contains(p.speedKmh) else {
            throw TimingError(
                "preemption speed \(p.speedKmh) km/h outside \(Limits.progressionSpeedKmhMin)...\(Limits.progressionSpeedKmhMax)"
            )
        }
        guard p.leadMs >= 0, p.clearMs >= 0, p.leadMs <= Limits.preemptMaxPresenceMsMax,
            p.clearMs <= Limits.preemptMaxPresenceMsMax,
            p.leadMs + p.clearMs <= Limits.preemptMaxPresenceMsMax
        else {
            throw TimingError(
                "preemption lead and clear times must be non-negative and at most \(Limits.preemptMaxPresenceMsMax) ms together"
            )
        }
        var previous: Int?
        for s in p.signals {
            let i = corridor.signalIndex(of: s)!
            if let prev = previous, i != (p.direction == .increasing ? prev + 1 : prev - 1) {
                throw TimingError(
                    "preemption signals must be consecutive in the \(p.direction) direction; \(s) does not follow \(corridor.signals[prev].id)"
                )
            }
            previous = i
        }
    }

    private mutating func addEvent(
        _ action: ControlAction, at: Milliseconds, index: UInt64, operatorID: String
    ) -> CommandResult {
        guard events.count < settings.maxEvents else {
            return .rejected(
                .tooManyEvents,
                reason:
                    "\(events.count) control events are in force, the limit is \(settings.maxEvents); release holds, flashes and preemptions so that history can be compacted"
            )
        }
        let record = EventRecord(
            event: ControlEvent(id: EventID(index), effectiveAtMs: at, action: action), operatorID: operatorID)
        let through = defaultTimelineThroughMs
        do {
            // Same corridor and baseline: the signals the event does not concern keep their schedules.
            timeline = try CorridorTimeline(
                corridor: corridor, referenceEpochMs: referenceEpochMs, baseline: baseline,
                events: timelineEventsCached(through: through) + [record.event], reusing: timeline)
        } catch let e as TimingError {
            return .rejected(.invalidCommand, reason: e.message)
        } catch {
            return .rejected(.invalidCommand, reason: "refused by the timing model")
        }
        events.append(record)
        if !schedules.isEmpty { timelineThroughMs = through }
        return .accepted(effectiveAtMs: at)
    }

    /// The first `referenceEpochMs + k·cycle` at or after `t`.
    func firstBoundary(atOrAfter t: Milliseconds, cycleMs: Milliseconds) -> Milliseconds {
        let d = t - referenceEpochMs
        var k = d / cycleMs
        if k * cycleMs < d { k += 1 }
        return referenceEpochMs + k * cycleMs
    }

    private func planInUse(_ id: PlanID) -> Bool {
        if baseline.plan == id { return true }
        if !schedules.isEmpty {
            // Scheduled use from the baseline up to the next cycle after the safety margin: the timeline replays it.
            let horizon = clockMs + settings.safetyMarginMs + Limits.cycleMsMax
            if modeLine.segments(through: horizon).contains(where: { $0.plan == id }) { return true }
        }
        return events.contains { if case .setPlan(let p) = $0.event.action { return p == id } else { return false } }
    }

    // MARK: - Compaction

    /// Folds every event into a new baseline once nothing is in force but the plan and every
    /// signal has settled into steady coordination (or, for the flash plan, is flashing).
    private mutating func compactIfSettled() {
        if !schedules.isEmpty { return compactScheduled() }
        guard !events.isEmpty, corridorFlash == nil, signalFlashes.isEmpty, holds.isEmpty, preemptions.isEmpty else {
            return
        }
        let now = clockMs
        guard events.allSatisfy({ $0.event.effectiveAtMs <= now }) else { return }
        let target = targetMode.plan
        let key = SettleKey(baseline: baseline, count: events.count, last: events[events.count - 1].event.id.rawValue)
        let settled: Milliseconds?
        if corridor.plan(target)!.isFlash {
            // Settled once every signal flashes (not cached: it depends on the clock).
            let all = corridor.signals.allSatisfy { timeline.state(of: $0.id, at: now).mode == .flash }
            settled = all ? now : nil
        } else if let probe = settleProbe, probe.key == key {
            settled = probe.at
        } else {
            settled = timeline.allSettledAtMs
            settleProbe = (key, settled)
        }
        guard let at = settled, at <= now else { return }
        let source = lastModeEvent?.provenance ?? baselineSource
        let newBaseline = Baseline(atMs: at, plan: target)
        guard
            let t = try? CorridorTimeline(
                corridor: corridor, referenceEpochMs: referenceEpochMs, baseline: newBaseline, events: [])
        else { return }
        baseline = newBaseline
        baselineSource = source
        events = []
        eventsCleared &+= 1
        timeline = t
        settleProbe = nil
    }

    // MARK: - Queries

    private var lastModeEvent: EventRecord? {
        // setMode events take effect in log order, so the last one in the log is the latest.
        events.last { if case .setPlan = $0.event.action { return true } else { return false } }
    }

    /// The plan the corridor is heading for (the last mode command, or the baseline) and when it
    /// takes effect.
    public var targetMode: (plan: PlanID, effectiveAtMs: Milliseconds) {
        if let e = lastModeEvent, case .setPlan(let p) = e.event.action { return (p, e.event.effectiveAtMs) }
        return (baseline.plan, baseline.atMs)
    }

    /// The mode (plan) in force at `t` by the reference clock, since when, and who ordered it.
    public func mode(at t: Milliseconds) -> (plan: PlanID, sinceMs: Milliseconds, source: Provenance?) {
        if !schedules.isEmpty {
            let m = modeInForce(at: max(t, baseline.atMs))
            return (m.plan, m.sinceMs, m.provenance)
        }
        var result: (PlanID, Milliseconds, Provenance?) = (baseline.plan, baseline.atMs, baselineSource)
        for e in events {
            if case .setPlan(let p) = e.event.action, e.event.effectiveAtMs <= t {
                result = (p, e.event.effectiveAtMs, e.provenance)
            }
        }
        return result
    }

    /// The mode in force at the machine's clock (the latest leader timestamp).
    public var currentMode: (plan: PlanID, sinceMs: Milliseconds, source: Provenance?) { mode(at: clockMs) }

    /// Mode changes ordered but not yet in force at the machine's clock, in the order they apply.
    public var pendingModes: [(plan: PlanID, effectiveAtMs: Milliseconds, source: Provenance)] {
        if !schedules.isEmpty {
            // The mode changes after the clock, up to and including the schedule's next one.
            var out: [(plan: PlanID, effectiveAtMs: Milliseconds, source: Provenance)] = []
            for seg in modeLine.segments(from: clockMs, through: clockMs + Self.timelineHorizonMs)
            where seg.startMs > clockMs {
                switch seg.source {
                case .override(let id):
                    if let p = event(id)?.provenance { out.append((seg.plan, seg.startMs, p)) }
                case .schedule:
                    let src = schedules.last { $0.inForce.sinceMs <= seg.startMs }?.source
                    out.append((seg.plan, seg.startMs, src ?? Provenance(logIndex: 0, operatorID: "schedule")))
                case .baseline:
                    continue
                }
                if seg.source == .schedule { break }
            }
            return out
        }
        return events.compactMap { e in
            guard case .setPlan(let p) = e.event.action, e.event.effectiveAtMs > clockMs else { return nil }
            return (p, e.event.effectiveAtMs, e.provenance)
        }
    }

    /// The event record with this id (log index), if not compacted.
    public func event(_ id: EventID) -> EventRecord? {
        var lo = 0
        var hi = events.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if events[mid].event.id < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < events.count && events[lo].event.id == id ? events[lo] : nil
    }

    /// The command (log index, operator) that decided what `signal` shows at `t`; nil when it is
    /// the corridor's initial plan.
    public func cause(of signal: SignalID, at t: Milliseconds) -> Provenance? {
        guard corridor.signalIndex(of: signal) != nil, t >= baseline.atMs else { return nil }
        guard let id = timeline.state(of: signal, at: t).cause else { return baselineSource }
        if let r = event(id) { return r.provenance }
        // A scheduled change carries the id of the command that set its schedule (0: the corridor file's).
        return schedules.first { $0.inForce.id == id }?.source
    }

    /// The session of a client.
    public func session(_ id: ClientID) -> Session? {
        let slot = sessionSlot(id)
        return slot.found ? sessions[slot.index] : nil
    }

    // MARK: - Hash

    static func hash(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }
}

/// SHA-256 after the state encoding's prefix (`CorridorMachine.encodeStatePrefix`), for one version of the
/// settings and corridor. Copying it copies the hasher's state (swift-crypto's digests are values).
struct StateHashPrefix: Sendable {
    var corridorVersion: UInt64
    var hasher: SHA256
}
