// GreenwaveAPI: the wire contract of a controller's HTTP/JSON API (docs/operations.md lists the routes,
// docs/architecture.md shows where this module stands). The daemon (`Controller`) encodes these types and
// every client (`Console`, `Dashboard`, `Sumo`, the `greenwave` commands) decodes them; neither side
// re-declares one. It holds no transport: no HTTP server or client, no NIO, so that a client links the
// contract without the daemon (Hummingbird, GRDB, the peer transport) and the daemon without a client.
// `APIClient` carries the bytes (async-http-client); what the bytes mean is here.
//
// Compatibility: the JSON is the API's; a field is added as optional (an older controller or client
// omits it), and none is renamed or removed without a version.
import CorridorFile
import CorridorMachine
import Foundation
import SignalTiming

/// `POST /v1/commands` body. `type` is one of: mode, hold, release, flash, unflash, preempt,
/// cancel_preemption, operator_add, operator_role, operator_revoke. Every command names its operator,
/// carries a client id and sequence number so that a retry (to any controller) applies exactly once,
/// and is signed: `signed_by` is the operator's key id (16 hex digits) and `signature` the base64 of
/// the Ed25519 signature of `OperatorKeys.signedMessage` over the command's canonical encoding
/// (docs/security.md). Every replica verifies it when it applies the command.
public struct CommandRequest: Codable, Sendable, Equatable {
    public var `operator`: String
    public var clientID: String
    public var sequence: UInt64
    public var type: String
    public var plan: String?
    public var signal: Int?
    public var stage: String?
    public var signals: [Int]?
    public var direction: String?
    public var speedKmh: Int?
    public var index: UInt64?
    /// operator_add / operator_role: the operator added or changed; operator_add: its public key (base64 of
    /// 32 bytes) and role; operator_revoke: the key id to revoke.
    public var name: String?
    public var publicKey: String?
    public var role: String?
    public var keyID: String?
    public var signedBy: String?
    public var signature: String?
    /// mode: when the schedule takes over again: `next` (its next change) or ms since the Unix epoch.
    public var until: String?
    /// schedule: the YAML of a `schedule:` section (docs/corridor-format.md), parsed the one way every
    /// replica and the signer parse it.
    public var schedule: String?

    enum CodingKeys: String, CodingKey {
        case `operator`, type, plan, signal, stage, signals, direction, sequence, index, name, role, signature, until,
            schedule
        case clientID = "client_id"
        case speedKmh = "speed_kmh"
        case publicKey = "public_key"
        case keyID = "key_id"
        case signedBy = "signed_by"
    }

    public init(
        operator: String, clientID: String, sequence: UInt64, type: String, plan: String? = nil,
        signal: Int? = nil, stage: String? = nil, signals: [Int]? = nil, direction: String? = nil,
        speedKmh: Int? = nil, index: UInt64? = nil, name: String? = nil, publicKey: String? = nil, role: String? = nil,
        keyID: String? = nil
    ) {
        self.name = name
        self.publicKey = publicKey
        self.role = role
        self.keyID = keyID
        self.operator = `operator`
        self.clientID = clientID
        self.sequence = sequence
        self.type = type
        self.plan = plan
        self.signal = signal
        self.stage = stage
        self.signals = signals
        self.direction = direction
        self.speedKmh = speedKmh
        self.index = index
    }

    /// The same request signed by `signer` for the corridor of `document` (the operator becomes the
    /// signer's name).
    public func signed(by signer: OperatorSigner, document: CorridorDocument) throws -> CommandRequest {
        var r = self
        r.operator = signer.name
        let e = signer.envelope(
            corridorID: document.id, clientID: try validatedClientID(), sequence: sequence,
            command: try command(document: document))
        r.signedBy = OperatorKeys.keyIDText(signer.keyID)
        r.signature = Data(e.signature?.bytes ?? []).base64EncodedString()
        return r
    }

    /// The signature the request carries, nil when it has none; a malformed one is a bad request.
    public func validatedSignature() throws -> CommandSignature? {
        guard signedBy != nil || signature != nil else { return nil }
        guard let k = signedBy, let id = OperatorKeys.parseKeyID(k) else {
            throw APIError.badRequest("signed_by must be a key id of 16 hex digits")
        }
        guard let text = signature, text.utf8.count <= 128, let raw = Data(base64Encoded: text), raw.count == 64 else {
            throw APIError.badRequest("signature must be the base64 of a 64-byte Ed25519 signature")
        }
        return CommandSignature(keyID: id, bytes: Array(raw))
    }

    /// The state-machine command, or a message saying what is wrong with the request.
    public func command(document: CorridorDocument) throws -> Command {
        func need<T>(_ v: T?, _ field: String) throws -> T {
            guard let v else { throw APIError.badRequest("command '\(type)' needs the field '\(field)'") }
            return v
        }
        // Names are short in every corridor file; anything longer is refused here, before it costs a log
        // entry on every replica.
        for (field, value) in [("plan", plan), ("stage", stage), ("direction", direction)] {
            if let v = value, v.utf8.count > Self.maxNameBytes {
                throw APIError.badRequest("'\(field)' of \(v.utf8.count) bytes is longer than \(Self.maxNameBytes)")
            }
        }
        if let list = signals, list.count > Limits.signalsMax {
            throw APIError.badRequest(
                "'signals' lists \(list.count) signals; a corridor has at most \(Limits.signalsMax)")
        }
        switch type {
        case "mode":
            let p = PlanID(try need(plan, "plan"))
            guard let u = until else { return .setMode(p) }
            if u == "next" { return .setModeUntil(p, until: .nextScheduledChange) }
            guard u.utf8.count <= 20, let ms = Int64(u), ms >= Limits.earliestTimeMs, ms <= Limits.latestTimeMs else {
                throw APIError.badRequest("'until' must be 'next' or a time in ms since the Unix epoch (2000...2200)")
            }
            return .setModeUntil(p, until: .time(ms))
        case "schedule":
            let text = try need(schedule, "schedule")
            guard text.utf8.count <= Self.maxScheduleBytes else {
                throw APIError.badRequest(
                    "'schedule' of \(text.utf8.count) bytes is longer than \(Self.maxScheduleBytes)")
            }
            do { return .setSchedule(try CorridorFile.parseSchedule(yaml: text, file: "schedule")) } catch {
                throw APIError.badRequest("\(error)")
            }
        case "schedule_clear": return .clearSchedule
        case "hold":
            let id = SignalID(try need(signal, "signal"))
            // An actuated signal's dual-ring controller has no hold yet: refusing is better than a command that
            // is acknowledged and then changes nothing at the intersection (docs/signal-timing.md).
            if document.actuated?.control(of: id) == .actuated {
                throw APIError.badRequest(
                    "signal \(id) runs coordinated-actuated control (the corridor file's actuated: section), which does not honour hold yet: nothing was ordered"
                )
            }
            return .hold(id, stage: stage)
        case "release": return .release(SignalID(try need(signal, "signal")))
        case "flash": return .flash(signal.map(SignalID.init))
        case "unflash": return .unflash(signal.map(SignalID.init))
        case "preempt":
            let list = try need(signals, "signals")
            let d = try need(direction, "direction")
            guard let dir = parseDirection(d, document: document) else {
                throw APIError.badRequest(
                    "unknown direction '\(d)': use \(document.increasingName), \(document.decreasingName), increasing or decreasing"
                )
            }
            return .preempt(PreemptRequest(signals: list.map(SignalID.init), direction: dir, speedKmh: speedKmh))
        case "cancel_preemption": return .cancelPreemption(logIndex: try need(index, "index"))
        case "operator_add":
            let n = try need(name, "name")
            if let p = OperatorRecord.nameProblem(n) { throw APIError.badRequest(p) }
            let k = try need(publicKey, "public_key")
            guard k.utf8.count <= 64, let raw = Data(base64Encoded: k), raw.count == 32 else {
                throw APIError.badRequest("public_key must be the base64 of a 32-byte Ed25519 public key")
            }
            return .addOperator(name: n, publicKey: Array(raw), role: try parsedRole())
        case "operator_role":
            let n = try need(name, "name")
            if let p = OperatorRecord.nameProblem(n) { throw APIError.badRequest(p) }
            return .setRole(name: n, role: try parsedRole())
        case "operator_revoke":
            let k = try need(keyID, "key_id")
            guard let id = OperatorKeys.parseKeyID(k) else { throw APIError.badRequest("key_id must be 16 hex digits") }
            return .revokeKey(keyID: id)
        default:
            throw APIError.badRequest(
                "unknown command type '\(type)': use mode, schedule, schedule_clear, hold, release, flash, unflash, preempt, cancel_preemption, operator_add, operator_role or operator_revoke"
            )
        }
    }

    func parsedRole() throws -> OperatorRole {
        guard let text = role else { throw APIError.badRequest("command '\(type)' needs the field 'role'") }
        guard text.utf8.count <= 16, let r = OperatorRole(name: text) else {
            throw APIError.badRequest("unknown role: use viewer, operator, supervisor or engineer")
        }
        return r
    }

    /// The longest plan, stage or direction name a request may carry, in UTF-8 bytes.
    public static let maxNameBytes = 64
    /// The longest schedule YAML a request may carry, in UTF-8 bytes: what fits in the API's 8 KiB body
    /// with the rest of the request (JSON escaping of newlines and quotes included).
    public static let maxScheduleBytes = 6 * 1024

    public func validatedClientID() throws -> ClientID {
        guard let id = parseClientID(clientID) else {
            throw APIError.badRequest("client_id must be a decimal number or up to 32 hex digits")
        }
        return id
    }
}

public func parseClientID(_ s: String) -> ClientID? {
    if let v = UInt64(s) { return ClientID(v) }
    let hex = s.lowercased()
    guard !hex.isEmpty, hex.count <= 32, hex.allSatisfy({ $0.isHexDigit }) else { return nil }
    let padded = String(repeating: "0", count: 32 - hex.count) + hex
    guard let hi = UInt64(padded.prefix(16), radix: 16), let lo = UInt64(padded.suffix(16), radix: 16) else {
        return nil
    }
    return ClientID(high: hi, low: lo)
}

/// `POST /v1/commands` answer.
public struct CommandResponse: Codable, Sendable, Equatable {
    public var index: UInt64
    public var term: UInt64
    public var result: String
    public var effectiveAtMs: Int64?
    public var effectiveAt: String?
    public var reason: String?
    public var code: String?
    public var duplicate: Bool
    /// The controller (signal id) that led when the command committed.
    public var leader: Int

    public init(
        index: UInt64, term: UInt64, result: String, effectiveAtMs: Int64?, effectiveAt: String?, reason: String?,
        code: String?, duplicate: Bool, leader: Int
    ) {
        self.index = index
        self.term = term
        self.result = result
        self.effectiveAtMs = effectiveAtMs
        self.effectiveAt = effectiveAt
        self.reason = reason
        self.code = code
        self.duplicate = duplicate
        self.leader = leader
    }

    enum CodingKeys: String, CodingKey {
        case index, term, result, reason, code, duplicate, leader
        case effectiveAtMs = "effective_at_ms"
        case effectiveAt = "effective_at"
    }
}

/// `GET /v1/status` answer.
public struct StatusResponse: Codable, Sendable, Equatable {
    public var signal: Int
    public var name: String
    public var role: String
    public var voter: Bool
    public var term: UInt64
    public var leader: Int
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    public var lastIndex: UInt64
    public var stateHash: String
    public var mode: String
    public var modeSinceMs: Int64
    public var pendingMode: String?
    public var pendingModeAtMs: Int64?
    public var lamps: LampUpdate?
    public var pid: Int32
    public var timeMs: Int64
    public var halted: String?
    /// `ok`, or `failed` once the controller stopped taking part in Raft (fail-stop; `/healthz` is 503).
    public var health: String
    /// Why it failed (fail-stop), or a condition that needs a person while it still runs.
    public var healthReason: String?
    /// This controller's clock against corridor time (docs/corridor-time.md); nil from a controller before it.
    public var clock: ClockStatus?
    /// Where the mode comes from: `schedule`, `override` (an operator's mode command) or `baseline`; nil from
    /// a controller before schedules.
    public var modeSource: String?
    /// When the mode in force ends (the next scheduled change, or the override's end); nil: not known.
    public var modeUntilMs: Int64?

    public init(
        signal: Int, name: String, role: String, voter: Bool, term: UInt64, leader: Int, commitIndex: UInt64,
        appliedIndex: UInt64, lastIndex: UInt64, stateHash: String, mode: String, modeSinceMs: Int64,
        pendingMode: String?, pendingModeAtMs: Int64?, lamps: LampUpdate?, pid: Int32, timeMs: Int64, halted: String?,
        health: String = "ok", healthReason: String? = nil, clock: ClockStatus? = nil
    ) {
        self.clock = clock
        self.signal = signal
        self.name = name
        self.role = role
        self.voter = voter
        self.term = term
        self.leader = leader
        self.commitIndex = commitIndex
        self.appliedIndex = appliedIndex
        self.lastIndex = lastIndex
        self.stateHash = stateHash
        self.mode = mode
        self.modeSinceMs = modeSinceMs
        self.pendingMode = pendingMode
        self.pendingModeAtMs = pendingModeAtMs
        self.lamps = lamps
        self.pid = pid
        self.timeMs = timeMs
        self.halted = halted
        self.health = health
        self.healthReason = healthReason
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        signal = try c.decode(Int.self, forKey: .signal)
        name = try c.decode(String.self, forKey: .name)
        role = try c.decode(String.self, forKey: .role)
        voter = try c.decode(Bool.self, forKey: .voter)
        term = try c.decode(UInt64.self, forKey: .term)
        leader = try c.decode(Int.self, forKey: .leader)
        commitIndex = try c.decode(UInt64.self, forKey: .commitIndex)
        appliedIndex = try c.decode(UInt64.self, forKey: .appliedIndex)
        lastIndex = try c.decode(UInt64.self, forKey: .lastIndex)
        stateHash = try c.decode(String.self, forKey: .stateHash)
        mode = try c.decode(String.self, forKey: .mode)
        modeSinceMs = try c.decode(Int64.self, forKey: .modeSinceMs)
        pendingMode = try c.decodeIfPresent(String.self, forKey: .pendingMode)
        pendingModeAtMs = try c.decodeIfPresent(Int64.self, forKey: .pendingModeAtMs)
        lamps = try c.decodeIfPresent(LampUpdate.self, forKey: .lamps)
        pid = try c.decode(Int32.self, forKey: .pid)
        timeMs = try c.decode(Int64.self, forKey: .timeMs)
        halted = try c.decodeIfPresent(String.self, forKey: .halted)
        // A controller from before the health field is taken as healthy unless it says it halted.
        health = try c.decodeIfPresent(String.self, forKey: .health) ?? (halted == nil ? "ok" : "failed")
        healthReason = try c.decodeIfPresent(String.self, forKey: .healthReason)
        clock = try c.decodeIfPresent(ClockStatus.self, forKey: .clock)
        modeSource = try c.decodeIfPresent(String.self, forKey: .modeSource)
        modeUntilMs = try c.decodeIfPresent(Int64.self, forKey: .modeUntilMs)
    }

    enum CodingKeys: String, CodingKey {
        case signal, name, role, voter, term, leader, mode, lamps, pid, halted, health, clock
        case healthReason = "health_reason"
        case commitIndex = "commit_index"
        case appliedIndex = "applied_index"
        case lastIndex = "last_index"
        case stateHash = "state_hash"
        case modeSinceMs = "mode_since_ms"
        case pendingMode = "pending_mode"
        case pendingModeAtMs = "pending_mode_at_ms"
        case timeMs = "time_ms"
        case modeSource = "mode_source"
        case modeUntilMs = "mode_until_ms"
    }
}

/// The `clock` part of `/v1/status`: this controller's clock against corridor time (docs/corridor-time.md).
public struct ClockStatus: Codable, Sendable, Equatable {
    /// Corridor time is known: a majority of the voters' clocks measured.
    public var synced: Bool
    /// Corridor time minus this controller's own clock (ms).
    public var offsetMs: Double
    /// Half the round trip of the sample the estimate came from (ms): the bound on the offset's error.
    public var uncertaintyMs: Double
    /// This controller's clock rate minus corridor time's (ppm); positive: it runs fast.
    public var driftPpm: Double
    /// The clock is farther than `alarmBoundMs` from corridor time.
    public var alarm: Bool
    public var alarmBoundMs: Int64
    /// What the lamps' clock still has to slew (ms): corridor time as estimated minus corridor time as the lamps read it.
    public var residualMs: Double
    public var votersKnown: Int
    public var voters: Int
    /// This controller's own clock and corridor time as the lamps read it, at the answer (ms since the epoch).
    public var localTimeMs: Int64
    public var corridorTimeMs: Int64

    public init(
        synced: Bool, offsetMs: Double, uncertaintyMs: Double, driftPpm: Double, alarm: Bool, alarmBoundMs: Int64,
        residualMs: Double, votersKnown: Int, voters: Int, localTimeMs: Int64, corridorTimeMs: Int64
    ) {
        self.synced = synced
        self.offsetMs = offsetMs
        self.uncertaintyMs = uncertaintyMs
        self.driftPpm = driftPpm
        self.alarm = alarm
        self.alarmBoundMs = alarmBoundMs
        self.residualMs = residualMs
        self.votersKnown = votersKnown
        self.voters = voters
        self.localTimeMs = localTimeMs
        self.corridorTimeMs = corridorTimeMs
    }

    enum CodingKeys: String, CodingKey {
        case synced, alarm, voters
        case offsetMs = "offset_ms"
        case uncertaintyMs = "uncertainty_ms"
        case driftPpm = "drift_ppm"
        case alarmBoundMs = "alarm_bound_ms"
        case residualMs = "residual_ms"
        case votersKnown = "voters_known"
        case localTimeMs = "local_time_ms"
        case corridorTimeMs = "corridor_time_ms"
    }
}

/// `GET /v1/state` answer: the replicated corridor state as this replica has applied it.
public struct StateResponse: Codable, Sendable, Equatable {
    public var consistency: String
    public var appliedIndex: UInt64
    public var readIndex: UInt64?
    public var stateHash: String
    public var mode: String
    public var pendingMode: String?
    public var pendingModeAtMs: Int64?
    public var holds: [Int]
    public var flashing: [Int]
    public var corridorFlash: Bool
    public var preemptions: [UInt64]

    public init(
        consistency: String, appliedIndex: UInt64, readIndex: UInt64?, stateHash: String, mode: String,
        pendingMode: String?,
        pendingModeAtMs: Int64?, holds: [Int], flashing: [Int], corridorFlash: Bool, preemptions: [UInt64]
    ) {
        self.consistency = consistency
        self.appliedIndex = appliedIndex
        self.readIndex = readIndex
        self.stateHash = stateHash
        self.mode = mode
        self.pendingMode = pendingMode
        self.pendingModeAtMs = pendingModeAtMs
        self.holds = holds
        self.flashing = flashing
        self.corridorFlash = corridorFlash
        self.preemptions = preemptions
    }

    enum CodingKeys: String, CodingKey {
        case consistency, mode, holds, flashing, preemptions
        case appliedIndex = "applied_index"
        case readIndex = "read_index"
        case stateHash = "state_hash"
        case pendingMode = "pending_mode"
        case pendingModeAtMs = "pending_mode_at_ms"
        case corridorFlash = "corridor_flash"
    }
}

/// `GET /v1/operators` answer: the operator registry as this replica has applied it.
public struct OperatorsResponse: Codable, Sendable, Equatable {
    public struct Operator: Codable, Sendable, Equatable {
        public var name: String
        public var keyID: String
        public var publicKey: String
        public var role: String
        public var addedAt: UInt64
        public var revokedAt: UInt64?
        enum CodingKeys: String, CodingKey {
            case name, role
            case keyID = "key_id"
            case publicKey = "public_key"
            case addedAt = "added_at"
            case revokedAt = "revoked_at"
        }
    }
    public var signal: Int
    public var appliedIndex: UInt64
    public var operators: [Operator]
    enum CodingKeys: String, CodingKey {
        case signal, operators
        case appliedIndex = "applied_index"
    }

    public init(signal: Int, machine m: CorridorMachine) {
        self.signal = signal
        appliedIndex = m.appliedIndex
        operators = m.operators.map {
            Operator(
                name: $0.name, keyID: OperatorKeys.keyIDText($0.keyID),
                publicKey: Data($0.publicKey).base64EncodedString(),
                role: $0.role.description, addedAt: $0.addedAtIndex, revokedAt: $0.revokedAtIndex)
        }
    }
}

public struct ErrorResponse: Codable, Sendable, Equatable {
    public var error: String
    public var leader: Int?

    public init(error: String, leader: Int? = nil) {
        self.error = error
        self.leader = leader
    }
}

public enum APIError: Error, CustomStringConvertible {
    case badRequest(String)
    public var description: String {
        switch self {
        case .badRequest(let s): return s
        }
    }
}

/// `GET /v1/schedule` answer: the mode in force and where it comes from, the schedule in force, and the
/// mode changes of the next two days, as this replica has applied the state (at its corridor time).
public struct ScheduleResponse: Codable, Sendable, Equatable {
    public struct Change: Codable, Sendable, Equatable {
        public var atMs: Int64
        public var plan: String
        /// `schedule` or `override`.
        public var source: String
        public init(atMs: Int64, plan: String, source: String) {
            self.atMs = atMs
            self.plan = plan
            self.source = source
        }
        enum CodingKeys: String, CodingKey {
            case plan, source
            case atMs = "at_ms"
        }
    }
    public var timeMs: Int64
    public var mode: String
    /// `schedule`, `override` or `baseline`.
    public var modeSource: String
    public var modeSinceMs: Int64
    public var modeUntilMs: Int64?
    /// Who ordered the mode (`command N by NAME`), nil for the schedule of the corridor file or the initial plan.
    public var modeOrderedBy: String?
    /// The schedule in force as a corridor file's `schedule:` section; nil: the corridor has none.
    public var schedule: String?
    public var scheduleSinceMs: Int64?
    /// `corridor file`, or `command N by NAME`.
    public var scheduleSetBy: String?
    /// The UTC offset of the schedule's local time, minutes.
    public var utcOffsetMinutes: Int?
    public var upcoming: [Change]

    public init(
        timeMs: Int64, mode: String, modeSource: String, modeSinceMs: Int64, modeUntilMs: Int64?,
        modeOrderedBy: String?,
        schedule: String?, scheduleSinceMs: Int64?, scheduleSetBy: String?, utcOffsetMinutes: Int?, upcoming: [Change]
    ) {
        self.timeMs = timeMs
        self.mode = mode
        self.modeSource = modeSource
        self.modeSinceMs = modeSinceMs
        self.modeUntilMs = modeUntilMs
        self.modeOrderedBy = modeOrderedBy
        self.schedule = schedule
        self.scheduleSinceMs = scheduleSinceMs
        self.scheduleSetBy = scheduleSetBy
        self.utcOffsetMinutes = utcOffsetMinutes
        self.upcoming = upcoming
    }

    enum CodingKeys: String, CodingKey {
        case mode, schedule, upcoming
        case timeMs = "time_ms"
        case modeSource = "mode_source"
        case modeSinceMs = "mode_since_ms"
        case modeUntilMs = "mode_until_ms"
        case modeOrderedBy = "mode_ordered_by"
        case scheduleSinceMs = "schedule_since_ms"
        case scheduleSetBy = "schedule_set_by"
        case utcOffsetMinutes = "utc_offset_minutes"
    }
}

extension ScheduleResponse {
    /// The answer for `machine` at corridor time `t`.
    public init(machine m: CorridorMachine, at t: Int64) {
        let q = max(t, m.baseline.atMs)
        let f = m.modeInForce(at: q)
        func by(_ p: Provenance?) -> String? { p.map { "command \($0.logIndex) by \($0.operatorID)" } }
        func name(_ s: ModeSource) -> String {
            switch s {
            case .schedule: return "schedule"
            case .override: return "override"
            case .baseline: return "baseline"
            }
        }
        let sched = m.schedule(at: q) ?? m.schedules.last
        var upcoming: [Change] = []
        for s in m.modeLine.segments(from: q, through: q + 2 * 86_400_000) where s.startMs > q {
            upcoming.append(Change(atMs: s.startMs, plan: s.plan.rawValue, source: name(s.source)))
        }
        self.init(
            timeMs: t, mode: f.plan.rawValue, modeSource: name(f.source), modeSinceMs: f.sinceMs,
            modeUntilMs: f.untilMs,
            modeOrderedBy: f.source == .baseline && f.provenance == nil ? nil : by(f.provenance),
            schedule: sched?.inForce.schedule.yaml,
            scheduleSinceMs: sched?.inForce.sinceMs, scheduleSetBy: sched.map { by($0.source) ?? "corridor file" },
            utcOffsetMinutes: sched?.inForce.schedule.utcOffsetMinutes, upcoming: upcoming)
    }
}
