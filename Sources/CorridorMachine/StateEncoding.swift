import Crypto
import SignalTiming

/// A snapshot: the encoded state, the index (and term) it reflects, and the state's SHA-256.
public struct MachineSnapshot: Hashable, Sendable {
    public static let formatVersion: UInt16 = 1
    static let magic: [UInt8] = Array("GWSN".utf8)
    public var appliedIndex: UInt64
    public var appliedTerm: UInt64
    public var state: [UInt8]
    public var stateHash: [UInt8]

    // Layout (v1): "GWSN" | u16 version | u64 index | u64 term | u32 length + state | 32 bytes hash.
    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.raw(Self.magic)
        w.u16(Self.formatVersion)
        w.u64(appliedIndex)
        w.u64(appliedTerm)
        w.data(state)
        w.raw(stateHash)
        return w.bytes
    }

    /// Decodes the framing (not the state).
    public static func decode(_ bytes: [UInt8]) throws -> MachineSnapshot {
        var r = ByteReader(bytes)
        guard try r.raw(4, "snapshot magic") == magic else { throw DecodeError.badMagic(kind: "snapshot") }
        let v = try r.u16("snapshot version")
        guard v == formatVersion else { throw DecodeError.unsupportedVersion(kind: "snapshot", version: v) }
        let index = try r.u64("applied index")
        let term = try r.u64("applied term")
        let state = try r.data("state")
        let hash = try r.raw(32, "state hash")
        try r.finish()
        return MachineSnapshot(appliedIndex: index, appliedTerm: term, state: state, stateHash: hash)
    }
}

extension CorridorMachine {
    // State layout (v1), all canonical:
    // "GWCS" | u16 version | settings | corridor | i64 reference epoch | i64 clock |
    // baseline (i64 at, string plan, optional provenance) | events | optional corridor flash |
    // signal flashes | holds | preemptions | sessions | (v2) string corridor id |
    // operators (string name, data key, u8 role, u64 added, optional u64 revoked).

    /// The canonical encoding of the replicated state (not the applied index: equal states at
    /// different indices, e.g. across a no-op or a duplicate, have equal hashes).
    public func encodedState() -> [UInt8] {
        var w = ByteWriter()
        encodeStatePrefix(&w)
        encodeStateTail(&w)
        return w.bytes
    }

    /// The part of the state encoding that only `updatePlan` (the corridor) changes: magic, version,
    /// settings, corridor, reference epoch. For the 47-signal corridor it is most of the bytes, so the
    /// state hash feeds it to SHA-256 once and keeps the hasher (`StateHashPrefix`).
    func encodeStatePrefix(_ w: inout ByteWriter) {
        w.raw(Self.stateMagic)
        w.u16(Self.stateFormatVersion)
        w.i64(settings.safetyMarginMs)
        w.u32(UInt32(settings.maxSessions))
        w.u32(UInt32(settings.maxEvents))
        Codecs.corridor(&w, corridor)
        w.i64(referenceEpochMs)
    }

    /// The rest of the state encoding, from the clock on: what a command changes.
    func encodeStateTail(_ w: inout ByteWriter) {
        encodeTailHead(&w)
        w.array(events, Self.encodeEvent)
        encodeTailRest(&w)
    }

    /// The tail up to the events: clock and baseline.
    func encodeTailHead(_ w: inout ByteWriter) {
        w.i64(clockMs)
        w.i64(baseline.atMs)
        w.string(baseline.plan.rawValue)
        w.optional(baselineSource, Self.provenance)
    }

    static func encodeEvent(_ w: inout ByteWriter, _ e: EventRecord) {
        w.u64(e.event.id.rawValue)
        w.i64(e.event.effectiveAtMs)
        w.string(e.operatorID)
        Codecs.action(&w, e.event.action)
    }

    /// The tail after the events.
    func encodeTailRest(_ w: inout ByteWriter) {
        w.optional(corridorFlash, Self.provenance)
        w.array(signalFlashes) { w, f in
            Codecs.signal(&w, f.signal)
            Self.provenance(&w, f.source)
            w.i64(f.effectiveAtMs)
        }
        w.array(holds) { w, h in
            Codecs.signal(&w, h.signal)
            w.optional(h.stage) { $0.string($1) }
            Self.provenance(&w, h.source)
            w.i64(h.effectiveAtMs)
        }
        w.array(preemptions) { w, p in
            Self.provenance(&w, p.source)
            Codecs.preemption(&w, p.preemption)
            w.i64(p.effectiveAtMs)
            w.i64(p.endsAtMs)
        }
        w.array(sessions) { w, s in
            w.raw(s.clientID.bytes)
            w.u64(s.lastSequence)
            w.u64(s.lastIndex)
            Codecs.result(&w, s.result)
        }
        w.string(corridorID)
        w.array(operators) { w, o in
            w.string(o.name)
            w.data(o.publicKey)
            w.u8(o.role.rawValue)
            w.u64(o.addedAtIndex)
            w.optional(o.revokedAtIndex) { $0.u64($1) }
        }
        // Schedules: only when there are any, so that a corridor without one encodes (and hashes) as before.
        if !schedules.isEmpty || !modeEnds.isEmpty {
            w.u8(1)
            w.array(schedules) { w, s in
                Codecs.schedule(&w, s.inForce.schedule)
                w.i64(s.inForce.sinceMs)
                w.u64(s.inForce.id.rawValue)
                w.optional(s.source, Self.provenance)
            }
            w.array(modeEnds) { w, e in
                w.u64(e.id.rawValue)
                w.i64(e.untilMs)
            }
            // A pending clear: only when there is one, so that states without it encode as before.
            if let c = scheduleClear {
                w.u8(2)
                w.i64(c.atMs)
                w.u64(c.id.rawValue)
            }
        }
    }

    /// SHA-256 of `encodedState()`, the same bytes hashed (the state hash's definition does not change:
    /// audit rows, snapshots and replicas of older builds agree), but the prefix that only `updatePlan`
    /// changes is hashed once and its hasher state kept; each call hashes only the tail.
    mutating func computeStateHash() -> [UInt8] {
        let prefix: SHA256
        if let cached = hashPrefix, cached.corridorVersion == corridorVersion {
            prefix = cached.hasher
        } else {
            var w = ByteWriter()
            encodeStatePrefix(&w)
            var h = SHA256()
            h.update(data: w.bytes)
            hashPrefix = StateHashPrefix(corridorVersion: corridorVersion, hasher: h)
            prefix = h
        }
        var h = prefix // a value: the cached hasher is not advanced
        // The tail as `encodeStateTail` writes it, fed in three parts; the events' bytes come from a cache that
        // grows as events are appended (issue 19: up to 1,024 events were encoded again for every command).
        var w = ByteWriter()
        encodeTailHead(&w)
        w.count(events.count)
        h.update(data: w.bytes)
        h.update(data: encodedEventsForHash())
        var rest = ByteWriter()
        encodeTailRest(&rest)
        h.update(data: rest.bytes)
        return Array(h.finalize())
    }

    /// The encoding of `events`, each as `encodeEvent` writes it, without the count: the cached bytes when they
    /// still encode a prefix of the events, extended by the events appended since. Events are only appended, or
    /// all removed (compaction, which counts `eventsCleared`); the cache also checks the last event it holds.
    mutating func encodedEventsForHash() -> [UInt8] {
        var cache = eventBytes ?? EventBytesCache(cleared: eventsCleared, count: 0, last: nil, bytes: [])
        eventBytes = nil // the bytes uniquely referenced: appending does not copy them
        let valid =
            cache.cleared == eventsCleared && cache.count <= events.count
            && (cache.count == 0 || events[cache.count - 1] == cache.last)
        if !valid { cache = EventBytesCache(cleared: eventsCleared, count: 0, last: nil, bytes: []) }
        if cache.count < events.count {
            var w = ByteWriter()
            for e in events[cache.count...] { Self.encodeEvent(&w, e) }
            cache.bytes += w.bytes
            cache.count = events.count
            cache.last = events[events.count - 1]
        }
        eventBytes = cache
        return cache.bytes
    }

    static func provenance(_ w: inout ByteWriter, _ p: Provenance) {
        w.u64(p.logIndex)
        w.string(p.operatorID)
    }
    static func provenance(_ r: inout ByteReader) throws -> Provenance {
        Provenance(logIndex: try r.u64("log index"), operatorID: try r.string("operator"))
    }

    /// Rebuilds a machine from `encodedState()`; refuses unknown versions, malformed or
    /// non-canonical bytes and states the timing model refuses.
    public init(encodedState bytes: [UInt8], appliedIndex: UInt64 = 0, appliedTerm: UInt64 = 0) throws {
        var r = ByteReader(bytes)
        guard try r.raw(4, "state magic") == Self.stateMagic else { throw DecodeError.badMagic(kind: "state") }
        let v = try r.u16("state version")
        guard v == Self.stateFormatVersion else { throw DecodeError.unsupportedVersion(kind: "state", version: v) }
        let settings = MachineSettings(
            safetyMarginMs: try r.i64("safety margin"), maxSessions: Int(try r.u32("max sessions")),
            maxEvents: Int(try r.u32("max events")))
        let corridor = try Codecs.corridor(&r)
        let epoch = try r.i64("reference epoch")
        let clock = try r.i64("clock")
        let baseline = Baseline(atMs: try r.i64("baseline time"), plan: PlanID(try r.string("baseline plan")))
        let baselineSource = try r.optional("baseline source", Self.provenance)
        let events = try r.array("events", Self.eventRecord)
        let corridorFlash = try r.optional("corridor flash", Self.provenance)
        let flashes = try r.array("signal flashes", Self.flashRecord)
        let holds = try r.array("holds", Self.holdRecord)
        let preemptions = try r.array("preemptions", Self.preemptionRecord)
        let sessions = try r.array("sessions", Self.sessionRecord)
        let corridorID = try r.string("corridor id")
        let operators = try r.array("operators", Self.operatorRecord)
        var schedules: [ScheduleRecord] = []
        var modeEnds: [ModeEnd] = []
        var scheduleClear: ScheduleClear?
        if r.remaining > 0 {
            (schedules, modeEnds) = try Self.scheduleSection(&r, corridor: corridor)
            if r.remaining > 0 { scheduleClear = try Self.scheduleClear(&r, schedules: schedules, events: events) }
        }
        try r.finish()
        guard operators.count <= Self.maxOperatorKeys else {
            throw DecodeError.invalid(what: "operators (\(operators.count) keys)")
        }
        try Self.increasing(events, "events") { $0.event.id < $1.event.id }
        try Self.increasing(flashes, "signal flashes") { $0.signal < $1.signal }
        try Self.increasing(holds, "holds") { $0.signal < $1.signal }
        try Self.increasing(preemptions, "preemptions") { $0.source.logIndex < $1.source.logIndex }
        try Self.increasing(sessions, "sessions") { $0.clientID < $1.clientID }
        try Self.increasing(operators, "operators") { $0.keyID < $1.keyID }
        try Self.increasing(schedules, "schedules") { $0.inForce.sinceMs < $1.inForce.sinceMs }
        try Self.increasing(modeEnds, "mode ends") { $0.id < $1.id }
        guard settings.maxSessions >= 1, settings.maxEvents >= 1, settings.maxEvents <= Limits.timelineEventsMax,
            settings.safetyMarginMs >= 0
        else {
            throw DecodeError.invalid(what: "settings")
        }
        let timeline: CorridorTimeline
        do {
            timeline = try CorridorTimeline(
                corridor: corridor, referenceEpochMs: epoch, baseline: baseline, events: events.map(\.event))
        } catch let e as TimingError {
            throw DecodeError.invalid(what: "timeline: \(e.message)")
        }
        self.settings = settings
        self.corridor = corridor
        self.referenceEpochMs = epoch
        self.clockMs = clock
        self.baseline = baseline
        self.baselineSource = baselineSource
        self.events = events
        self.corridorFlash = corridorFlash
        self.signalFlashes = flashes
        self.holds = holds
        self.preemptions = preemptions
        self.sessions = sessions
        self.corridorID = corridorID
        self.operators = operators
        self.timeline = timeline
        self.schedules = schedules
        self.modeEnds = modeEnds
        self.scheduleClear = scheduleClear
        if !schedules.isEmpty {
            do { try recompile(reusing: false) } catch let e as TimingError {
                throw DecodeError.invalid(what: "timeline: \(e.message)")
            }
        }
        self.appliedIndex = appliedIndex
        self.appliedTerm = appliedTerm
        self.stateHash = Self.hash(bytes)
    }

    // MARK: the records of an encoded state, in the order `encodedState()` writes them

    static func eventRecord(_ r: inout ByteReader) throws -> EventRecord {
        let id = EventID(try r.u64("event id"))
        let at = try r.i64("effective time")
        let op = try r.string("operator")
        return EventRecord(
            event: ControlEvent(id: id, effectiveAtMs: at, action: try Codecs.action(&r)), operatorID: op)
    }

    static func flashRecord(_ r: inout ByteReader) throws -> FlashRecord {
        FlashRecord(
            signal: try Codecs.signal(&r), source: try Self.provenance(&r), effectiveAtMs: try r.i64("effective time"))
    }

    static func holdRecord(_ r: inout ByteReader) throws -> HoldRecord {
        HoldRecord(
            signal: try Codecs.signal(&r), stage: try r.optional("stage") { try $0.string("stage") },
            source: try Self.provenance(&r), effectiveAtMs: try r.i64("effective time"))
    }

    static func preemptionRecord(_ r: inout ByteReader) throws -> PreemptionRecord {
        PreemptionRecord(
            source: try Self.provenance(&r), preemption: try Codecs.preemption(&r),
            effectiveAtMs: try r.i64("effective time"), endsAtMs: try r.i64("end time"))
    }

    static func sessionRecord(_ r: inout ByteReader) throws -> Session {
        let id = ClientID(bytes: try r.raw(16, "client id"))!
        let seq = try r.u64("sequence")
        let index = try r.u64("last index")
        return Session(clientID: id, lastSequence: seq, result: try Codecs.result(&r), lastIndex: index)
    }

    static func operatorRecord(_ r: inout ByteReader) throws -> OperatorRecord {
        let name = try r.string("operator name")
        let key = try r.data("public key")
        let role = try Codecs.role(&r)
        let added = try r.u64("added at")
        let revoked = try r.optional("revoked at") { try $0.u64("revoked at") }
        guard OperatorRecord.nameProblem(name) == nil, OperatorKeys.isValidPublicKey(key) else {
            throw DecodeError.invalid(what: "operator record")
        }
        return OperatorRecord(name: name, publicKey: key, role: role, addedAtIndex: added, revokedAtIndex: revoked)
    }

    /// The optional last section (marker 1, schedules, mode ends); present only when one of them is not empty,
    /// and every schedule names plans of `corridor`.
    static func scheduleSection(
        _ r: inout ByteReader, corridor: Corridor
    ) throws -> ([ScheduleRecord], [ModeEnd]) {
        guard try r.u8("schedules marker") == 1 else { throw DecodeError.invalid(what: "schedules marker") }
        let schedules = try r.array("schedules") { r in
            let s = try Codecs.schedule(&r)
            let since = try r.i64("schedule start")
            let id = EventID(try r.u64("schedule id"))
            return ScheduleRecord(
                inForce: ScheduleInForce(schedule: s, sinceMs: since, id: id),
                source: try r.optional("schedule source", Self.provenance))
        }
        let modeEnds = try r.array("mode ends") { r in
            ModeEnd(id: EventID(try r.u64("mode end id")), untilMs: try r.i64("mode end"))
        }
        guard !schedules.isEmpty || !modeEnds.isEmpty else {
            throw DecodeError.invalid(what: "schedules (an empty section is not canonical)")
        }
        for s in schedules {
            do { try s.inForce.schedule.validate(planIDs: corridor.plans.map(\.id)) } catch let e as TimingError {
                throw DecodeError.invalid(what: "schedule: \(e.message)")
            }
        }
        return (schedules, modeEnds)
    }

    /// A pending `clearSchedule` after the schedule section (marker 2): there must be a schedule and the
    /// clear's own mode event at its boundary.
    static func scheduleClear(
        _ r: inout ByteReader, schedules: [ScheduleRecord], events: [EventRecord]
    ) throws -> ScheduleClear {
        guard try r.u8("schedule clear marker") == 2 else { throw DecodeError.invalid(what: "schedule clear marker") }
        let c = ScheduleClear(atMs: try r.i64("schedule clear time"), id: EventID(try r.u64("schedule clear id")))
        guard !schedules.isEmpty, events.contains(where: { $0.event.id == c.id && $0.event.effectiveAtMs == c.atMs })
        else { throw DecodeError.invalid(what: "schedule clear (no schedule or no mode event of its own)") }
        return c
    }

    /// Refuses a list that is not in its canonical (strictly increasing) order.
    static func increasing<T>(_ xs: [T], _ what: String, _ less: (T, T) -> Bool) throws {
        for i in xs.indices.dropFirst() where !less(xs[i - 1], xs[i]) {
            throw DecodeError.invalid(what: "\(what) (not strictly increasing)")
        }
    }

    /// A snapshot of the current state.
    public func snapshot() -> MachineSnapshot {
        MachineSnapshot(
            appliedIndex: appliedIndex, appliedTerm: appliedTerm, state: encodedState(), stateHash: stateHash)
    }

    /// Restores from a snapshot, verifying the state's hash first.
    public init(snapshot: MachineSnapshot) throws {
        let actual = Self.hash(snapshot.state)
        guard actual == snapshot.stateHash else {
            throw DecodeError.hashMismatch(expected: hex(snapshot.stateHash), actual: hex(actual))
        }
        try self.init(
            encodedState: snapshot.state, appliedIndex: snapshot.appliedIndex, appliedTerm: snapshot.appliedTerm)
    }

    /// Restores from `MachineSnapshot.encoded()` bytes.
    public init(snapshotBytes: [UInt8]) throws {
        try self.init(snapshot: try MachineSnapshot.decode(snapshotBytes))
    }
}
