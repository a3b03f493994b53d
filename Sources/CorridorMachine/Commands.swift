import SignalTiming

/// A client's identity for exactly-once delivery: 16 bytes (a UUID, or a UInt64 widened).
public struct ClientID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }
    public init(_ value: UInt64) { self.init(high: 0, low: value) }
    /// From 16 bytes, big-endian.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        var r = ByteReader(bytes)
        high = try! r.u64("client id")
        low = try! r.u64("client id")
    }
    public var bytes: [UInt8] {
        var w = ByteWriter()
        w.u64(high)
        w.u64(low)
        return w.bytes
    }

    /// How long exactly-once covers a client whose id carries its creation time: one hour of the
    /// corridor's clock from that time. Within it a retry returns the first result; after it a command
    /// under that id is refused as too old (it may be a retry of one that was applied), never applied
    /// a second time. Clients retry for seconds; a long-lived client (the dashboard) starts a new id.
    public static let windowMs: Int64 = 3_600_000

    /// A client id that carries its creation time (ms since the Unix epoch) in its high 64 bits.
    public static func timed(createdAtMs: Int64, random: UInt64) -> ClientID {
        ClientID(high: UInt64(max(0, createdAtMs)), low: random)
    }

    /// The creation time the id carries, when its high half is a plausible time; nil for ids without
    /// one (a plain number, or a random id), whose sessions are kept least-recently-used instead.
    public var createdAtMs: Int64? {
        guard high >= UInt64(Limits.earliestTimeMs), high <= UInt64(Limits.latestTimeMs) else { return nil }
        return Int64(high)
    }
    public static func < (a: ClientID, b: ClientID) -> Bool { (a.high, a.low) < (b.high, b.low) }
    public var description: String { high == 0 ? "\(low)" : hex(bytes) }
}

/// A request for an emergency green corridor. Missing values take SignalTiming's defaults
/// (40 km/h, lead 30 s, clear 10 s).
public struct PreemptRequest: Hashable, Sendable {
    public var signals: [SignalID]
    public var direction: Direction
    public var speedKmh: Int?
    public var leadMs: Milliseconds?
    public var clearMs: Milliseconds?
    public init(
        signals: [SignalID], direction: Direction, speedKmh: Int? = nil, leadMs: Milliseconds? = nil,
        clearMs: Milliseconds? = nil
    ) {
        self.signals = signals
        self.direction = direction
        self.speedKmh = speedKmh
        self.leadMs = leadMs
        self.clearMs = clearMs
    }
    public var preemption: Preemption {
        let d = Preemption(signals: signals, direction: direction)
        return Preemption(
            signals: signals, direction: direction, speedKmh: speedKmh ?? d.speedKmh,
            leadMs: leadMs ?? d.leadMs, clearMs: clearMs ?? d.clearMs)
    }
}

/// A timing plan as a corridor file states it (`plans[]` in docs/corridor-format.md), in
/// milliseconds: validated at apply time by the same rules as a corridor file, then by
/// `SignalTiming.Corridor`. Maps are encoded sorted by key.
public struct PlanSpec: Hashable, Sendable {
    public var name: String
    /// The flash pattern (everything else is ignored and must be empty/zero).
    public var isFlash: Bool
    public var cycleMs: Milliseconds
    public var coordinatedStage: String
    /// Split per stage name, incl. yellow and all-red; must name every stage and sum to the cycle.
    public var splitsMs: [String: Milliseconds]
    /// Optional per-signal split tables (same rules), by signal id.
    public var signalSplitsMs: [Int: [String: Milliseconds]]
    public var progression: Progression
    /// Explicit offsets for every signal (each < cycle); nil = computed from the progression.
    public var offsetsMs: [Int: Milliseconds]?

    public init(
        name: String, cycleMs: Milliseconds, coordinatedStage: String, splitsMs: [String: Milliseconds],
        signalSplitsMs: [Int: [String: Milliseconds]] = [:], progression: Progression,
        offsetsMs: [Int: Milliseconds]? = nil
    ) {
        self.name = name
        self.isFlash = false
        self.cycleMs = cycleMs
        self.coordinatedStage = coordinatedStage
        self.splitsMs = splitsMs
        self.signalSplitsMs = signalSplitsMs
        self.progression = progression
        self.offsetsMs = offsetsMs
    }

    public static func flash(_ name: String) -> PlanSpec {
        var p = PlanSpec(
            name: name, cycleMs: 0, coordinatedStage: "", splitsMs: [:],
            progression: Progression(speedKmh: 0, favoured: .increasing, favouredBandPercent: 0))
        p.isFlash = true
        return p
    }
}

/// What an operator asks for.
public enum Command: Hashable, Sendable {
    /// Switch the corridor to a plan (`flash` is a plan too) at the next cycle boundary of the
    /// reference clock at least the safety margin after the leader's timestamp.
    case setMode(PlanID)
    /// A mode that overrides the time-of-day schedule until a time or its next change (needs a schedule).
    /// With a schedule in force, `setMode` is this with `.nextScheduledChange`.
    case setModeUntil(PlanID, until: ModeUntil)
    /// Replace the time-of-day schedule from the next cycle boundary after the safety margin.
    case setSchedule(TimeOfDaySchedule)
    /// Remove the time-of-day schedule at the next cycle boundary after the safety margin: the plan in force
    /// then stays (as if ordered by a mode command) and the mode changes only by command again.
    case clearSchedule
    /// Rest a signal in a stage (nil: the coordinated stage) until released.
    case hold(SignalID, stage: String?)
    case release(SignalID)
    /// Flash one signal, or the whole corridor (nil).
    case flash(SignalID?)
    case unflash(SignalID?)
    /// An emergency green corridor.
    case preempt(PreemptRequest)
    /// Cancel the preemption ordered by the command at this log index.
    case cancelPreemption(logIndex: UInt64)
    /// Add a plan, or replace one that no pending or running control event uses.
    case updatePlan(PlanSpec)
    /// Register an operator's Ed25519 public key (32 bytes) with a role. A name may have several keys
    /// (rotation: add the new one, then revoke the old); they share its role.
    case addOperator(name: String, publicKey: [UInt8], role: OperatorRole)
    /// Change the role of every active key of an operator.
    case setRole(name: String, role: OperatorRole)
    /// Revoke one key: commands it signs are refused from this index on.
    case revokeKey(keyID: UInt64)
}

/// A command with who sent it, their signature, and when the leader proposed it.
public struct CommandEnvelope: Hashable, Sendable {
    /// Version 2 carries the signer's key id and signature; version 1 (unsigned) still decodes, so that the
    /// audit can read old records, and every replica refuses it.
    public static let formatVersion: UInt16 = 2
    /// The largest command entry a replica applies (a plan update for 128 signals fits many times over);
    /// a larger one is refused without being decoded.
    public static let maxEncodedBytes = 64 * 1024
    /// The longest operator name, in UTF-8 bytes.
    public static let maxOperatorBytes = 128
    public var operatorID: String
    public var clientID: ClientID
    public var sequence: UInt64
    /// Stamped by the leader's shell when it proposes: the only clock the machine knows. Not signed.
    public var leaderTimeMs: Milliseconds
    public var command: Command
    /// The operator's signature (nil: an unsigned command, which no replica applies).
    public var signature: CommandSignature?

    public init(
        operatorID: String, clientID: ClientID, sequence: UInt64, leaderTimeMs: Milliseconds, command: Command,
        signature: CommandSignature? = nil
    ) {
        self.operatorID = operatorID
        self.clientID = clientID
        self.sequence = sequence
        self.leaderTimeMs = leaderTimeMs
        self.command = command
        self.signature = signature
    }

    /// The header alone: what is known even when the command body cannot be decoded.
    public struct Header: Hashable, Sendable {
        public var operatorID: String
        public var clientID: ClientID
        public var sequence: UInt64
        public var leaderTimeMs: Milliseconds
        public var signature: CommandSignature?
    }

    /// The encoded command alone (tag and body), as signed.
    public var commandBytes: [UInt8] {
        var w = ByteWriter()
        Codecs.command(&w, command)
        return w.bytes
    }

    /// What the operator signs for this envelope on corridor `corridorID`.
    public func signedMessage(corridorID: String) -> [UInt8] {
        OperatorKeys.signedMessage(
            corridorID: corridorID, clientID: clientID, sequence: sequence, operatorName: operatorID,
            command: commandBytes)
    }

    // Layout (v2): u16 version | string operator | 16 bytes client id | u64 sequence | i64 leader time |
    // u8 signed (0/1) [| u64 key id | 64 bytes signature] | u8 command tag | body.
    // (v1: the same without the signature fields.)
    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.u16(Self.formatVersion)
        w.string(operatorID)
        w.raw(clientID.bytes)
        w.u64(sequence)
        w.i64(leaderTimeMs)
        if let s = signature, s.bytes.count == 64 {
            w.u8(1)
            w.u64(s.keyID)
            w.raw(s.bytes)
        } else {
            w.u8(0)
        }
        Codecs.command(&w, command)
        return w.bytes
    }

    /// Decodes the header, leaving the reader at the command tag.
    public static func decodeHeader(_ r: inout ByteReader) throws -> Header {
        let v = try r.u16("command version")
        guard v == formatVersion || v == 1 else { throw DecodeError.unsupportedVersion(kind: "command", version: v) }
        let op = try r.string("operator")
        guard !op.isEmpty, op.utf8.count <= maxOperatorBytes else {
            throw DecodeError.invalid(what: "operator name of \(op.utf8.count) bytes (1...\(maxOperatorBytes) allowed)")
        }
        let client = ClientID(bytes: try r.raw(16, "client id"))!
        let seq = try r.u64("sequence")
        let t = try r.i64("leader time")
        var signature: CommandSignature?
        if v >= 2, try r.bool("signed") {
            signature = CommandSignature(keyID: try r.u64("key id"), bytes: try r.raw(64, "signature"))
        }
        return Header(operatorID: op, clientID: client, sequence: seq, leaderTimeMs: t, signature: signature)
    }

    public static func decode(_ bytes: [UInt8]) throws -> CommandEnvelope {
        var r = ByteReader(bytes)
        let h = try decodeHeader(&r)
        let c = try Codecs.command(&r)
        try r.finish()
        return CommandEnvelope(
            operatorID: h.operatorID, clientID: h.clientID, sequence: h.sequence,
            leaderTimeMs: h.leaderTimeMs, command: c, signature: h.signature)
    }

    /// The same command with the leader's timestamp set (for the leader's shell; the signature stays
    /// valid: the timestamp is not signed).
    public static func stamp(_ bytes: [UInt8], leaderTimeMs: Milliseconds) throws -> [UInt8] {
        var e = try decode(bytes)
        e.leaderTimeMs = leaderTimeMs
        return e.encoded()
    }
}

/// Why a command was refused.
public enum RejectCode: UInt8, Hashable, Sendable, CaseIterable {
    case malformed = 1
    case unsupportedVersion
    case stale
    case unknownSignal
    case unknownPlan
    case unknownStage
    case invalidPlan
    case planInUse
    case invalidPreemption
    case unknownPreemption
    case notHeld
    case alreadyFlashing
    case notFlashing
    case tooManyEvents
    case tooManySessions
    case invalidCommand
    /// The leader's timestamp is outside `Limits.earliestTimeMs...latestTimeMs`, or further behind the
    /// corridor's clock than `Limits.leaderTimeStepBackMsMax`.
    case implausibleTime
    /// The command entry is larger than `CommandEnvelope.maxEncodedBytes`.
    case oversized
    /// The client id's creation time is outside the exactly-once window (`ClientID.windowMs`): too old
    /// (it may be a retry of a command already applied) or from the future.
    case outsideSessionWindow
    /// Unsigned, signed by a key the registry does not hold or has revoked, a signature that does not
    /// verify, or a signer whose name is not the one the command carries. Nothing is recorded.
    case unauthorized
    /// Signed by an operator whose role may not order this command.
    case forbidden
}

/// The deterministic outcome of one command, stored in its client's session.
public enum CommandResult: Hashable, Sendable, CustomStringConvertible {
    /// Applied; takes effect at this time (ms since the Unix epoch).
    case accepted(effectiveAtMs: Milliseconds)
    case rejected(RejectCode, reason: String)

    public var isAccepted: Bool { if case .accepted = self { return true } else { return false } }
    public var reason: String? { if case .rejected(_, let r) = self { return r } else { return nil } }
    public var code: RejectCode? { if case .rejected(let c, _) = self { return c } else { return nil } }
    /// The longest reason a result keeps, in UTF-8 bytes. Reasons quote what the command said (a plan or
    /// stage name), so a hostile command could otherwise make every replica store a huge reason forever.
    public static let maxReasonBytes = 512

    /// The same result with its reason cut to `maxReasonBytes` and control characters made visible
    /// (`\u{1B}` as `\\u{1B}`), so that a stored reason is bounded and prints as one harmless line.
    public var bounded: CommandResult {
        guard case .rejected(let code, let reason) = self else { return self }
        var out = ""
        var bytes = 0
        for scalar in reason.unicodeScalars {
            let piece =
                scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value)
                ? "\\u{\(String(scalar.value, radix: 16, uppercase: true))}" : String(scalar)
            let n = piece.utf8.count
            if bytes + n > Self.maxReasonBytes - 3 {
                out += "…"
                break
            }
            out += piece
            bytes += n
        }
        return .rejected(code, reason: out)
    }

    public var description: String {
        switch self {
        case .accepted(let t): return "accepted, effective at \(t)"
        case .rejected(let c, let r): return "rejected (\(c)): \(r)"
        }
    }
}
