// Operators, their keys and roles, and the signature every command carries (docs/security.md).
//
// The registry is part of the replicated state: every replica verifies every command's Ed25519
// signature and its signer's role when it applies the entry, so a forged, altered, revoked-key or
// wrong-role command is refused with the same reason on every replica, whoever appended it.
import Crypto
import Foundation
import SignalTiming

/// What an operator may order. Each role may do everything the roles before it may.
public enum OperatorRole: UInt8, Hashable, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    /// Reads status, state, lamps and metrics.
    case viewer = 1
    /// + mode, hold, release, flash and unflash of one signal, preempt, cancel a preemption.
    case `operator` = 2
    /// + flash and unflash of the whole corridor.
    case supervisor = 3
    /// + plan updates and operator management (add, role, revoke).
    case engineer = 4

    public static func < (a: OperatorRole, b: OperatorRole) -> Bool { a.rawValue < b.rawValue }
    public var description: String {
        switch self {
        case .viewer: return "viewer"
        case .operator: return "operator"
        case .supervisor: return "supervisor"
        case .engineer: return "engineer"
        }
    }
    public init?(name: String) {
        guard let r = OperatorRole.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = r
    }

    /// The least role that may order `command`.
    public static func required(for command: Command) -> OperatorRole {
        switch command {
        case .setMode, .setModeUntil, .hold, .release, .preempt, .cancelPreemption: return .operator
        case .flash(let s), .unflash(let s): return s == nil ? .supervisor : .operator
        case .updatePlan, .setSchedule, .clearSchedule, .addOperator, .setRole, .revokeKey: return .engineer
        }
    }
}

/// An operator's Ed25519 key in the registry.
public struct OperatorRecord: Hashable, Sendable {
    /// The longest operator name, in UTF-8 bytes.
    public static let maxNameBytes = 64
    public var name: String
    /// The raw 32-byte Ed25519 public key.
    public var publicKey: [UInt8]
    public var role: OperatorRole
    /// The log index of the command that added the key (0: the corridor file's first engineer).
    public var addedAtIndex: UInt64
    /// The log index of the command that revoked it; a revoked key stays in the registry so that its
    /// id is never given to another key and the audit can say whose it was.
    public var revokedAtIndex: UInt64?

    public init(
        name: String, publicKey: [UInt8], role: OperatorRole, addedAtIndex: UInt64 = 0, revokedAtIndex: UInt64? = nil
    ) {
        self.name = name
        self.publicKey = publicKey
        self.role = role
        self.addedAtIndex = addedAtIndex
        self.revokedAtIndex = revokedAtIndex
    }

    public var keyID: UInt64 { OperatorKeys.keyID(publicKey) }
    public var isActive: Bool { revokedAtIndex == nil }

    /// Why `name` cannot be an operator's name, or nil: 1 to 64 bytes of letters, digits, `.`, `_`, `-`
    /// and `@` (it is printed in audit logs, the dashboard and reasons).
    public static func nameProblem(_ name: String) -> String? {
        let n = name.utf8.count
        guard n >= 1, n <= maxNameBytes else { return "operator name of \(n) bytes (1...\(maxNameBytes) allowed)" }
        let ok = name.unicodeScalars.allSatisfy { s in
            (s.value >= 0x30 && s.value <= 0x39) || (s.value >= 0x41 && s.value <= 0x5A)
                || (s.value >= 0x61 && s.value <= 0x7A)
                || s == "." || s == "_" || s == "-" || s == "@"
        }
        return ok ? nil : "operator name may contain only letters, digits, '.', '_', '-' and '@'"
    }
}

/// Key ids and the signed message.
public enum OperatorKeys {
    /// A key's id: the first 8 bytes of the SHA-256 of its raw public key, big-endian.
    public static func keyID(_ publicKey: [UInt8]) -> UInt64 {
        var v: UInt64 = 0
        for b in SHA256.hash(data: publicKey).prefix(8) { v = v << 8 | UInt64(b) }
        return v
    }

    /// A key id as printed: 16 hex digits.
    public static func keyIDText(_ id: UInt64) -> String {
        hex((0..<8).map { UInt8(truncatingIfNeeded: id >> (56 - 8 * UInt64($0))) })
    }
    public static func parseKeyID(_ s: String) -> UInt64? {
        guard s.count == 16 else { return nil }
        return UInt64(s, radix: 16)
    }

    static let domain: [UInt8] = Array("greenwave-command-signature-v2".utf8)

    /// The bytes an operator signs: a domain tag, the corridor id, the client id, the sequence, the
    /// operator's name and the encoded command. The leader's timestamp is not signed (the leader adds
    /// it); the corridor id stops a command signed for one corridor from being replayed on another.
    public static func signedMessage(
        corridorID: String, clientID: ClientID, sequence: UInt64, operatorName: String,
        command: [UInt8]
    ) -> [UInt8] {
        var w = ByteWriter()
        w.raw(domain)
        w.string(corridorID)
        w.raw(clientID.bytes)
        w.u64(sequence)
        w.string(operatorName)
        w.data(command)
        return w.bytes
    }

    /// Whether `signature` is `publicKey`'s Ed25519 signature of `message` (false for a malformed key or
    /// signature, never a trap).
    public static func verify(publicKey: [UInt8], signature: [UInt8], message: [UInt8]) -> Bool {
        guard publicKey.count == 32, signature.count == 64,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey)
        else { return false }
        return key.isValidSignature(signature, for: message)
    }

    /// `verify`, remembering successes (`VerifiedSignatures`): the leader checks a command's signature when
    /// it is proposed and again when it applies the entry; the second check is a lookup.
    public static func verifyRemembered(
        publicKey: [UInt8], signature: [UInt8], message: [UInt8],
        memo: VerifiedSignatures = .shared
    ) -> Bool {
        let key = VerifiedSignatures.key(publicKey: publicKey, signature: signature, message: message)
        if memo.contains(key) { return true }
        guard verify(publicKey: publicKey, signature: signature, message: message) else { return false }
        memo.insert(key)
        return true
    }

    /// An entry's command header and the reader after it; nil for an audit checkpoint, an oversized payload or
    /// one whose header does not decode.
    static func entryHeader(_ payload: [UInt8]) -> (CommandEnvelope.Header, ByteReader)? {
        guard payload.count <= CommandEnvelope.maxEncodedBytes, !AuditCheckpoint.isCheckpoint(payload) else {
            return nil
        }
        var r = ByteReader(payload)
        guard let header = try? CommandEnvelope.decodeHeader(&r) else { return nil }
        return (header, r)
    }

    /// The public key an entry registers (`addOperator`), if it is one; nil for anything else or anything that
    /// does not decode. For `prevalidate`'s key list: it takes no decision.
    public static func registeredKey(inEntry payload: [UInt8]) -> [UInt8]? {
        guard var (_, r) = entryHeader(payload), case .addOperator(_, let key, _) = try? Codecs.command(&r) else {
            return nil
        }
        return key
    }

    /// Checks an entry's signature ahead of its apply, with every key in `keys` that has the key id it names,
    /// and remembers a success in `memo` (`verifyRemembered`), so that the apply finds it there: the audit
    /// replay checks the signatures of the rows ahead on another core. Decides nothing — the apply still checks
    /// the registry, revocation and name, and verifies itself whatever is not remembered — so a wrong or missing
    /// key only costs the time. Anything that does not decode is skipped.
    public static func prevalidate(
        entry payload: [UInt8], corridorID: String, keys: [UInt64: [[UInt8]]], memo: VerifiedSignatures = .shared
    ) {
        guard let (header, r) = entryHeader(payload), let sig = header.signature, let candidates = keys[sig.keyID]
        else { return }
        let message = signedMessage(
            corridorID: corridorID, clientID: header.clientID, sequence: header.sequence,
            operatorName: header.operatorID, command: Array(payload[r.position...]))
        _ = candidates.contains { verifyRemembered(publicKey: $0, signature: sig.bytes, message: message, memo: memo) }
    }

    /// Whether 32 bytes are a usable Ed25519 public key.
    public static func isValidPublicKey(_ bytes: [UInt8]) -> Bool {
        bytes.count == 32 && (try? Curve25519.Signing.PublicKey(rawRepresentation: bytes)) != nil
    }
}

/// An operator's private key, for clients (the console, the dashboard, tests and benchmarks).
public struct OperatorSigner: Sendable {
    public let name: String
    let key: Curve25519.Signing.PrivateKey

    public init(name: String, privateKey: [UInt8]) throws {
        self.name = name
        self.key = try Curve25519.Signing.PrivateKey(rawRepresentation: privateKey)
    }
    /// A key derived from a seed (SHA-256 of it): the same seed gives the same key on every machine. For
    /// tests, benchmarks and synthetic records only; a real operator's key comes from `init(newKeyFor:)`.
    public init(name: String, seed: String) {
        self.name = name
        self.key = try! Curve25519.Signing.PrivateKey(
            rawRepresentation: Array(SHA256.hash(data: Array("greenwave-test-key:\(seed)".utf8))))
    }
    /// A new random key.
    public init(newKeyFor name: String) {
        self.name = name
        self.key = Curve25519.Signing.PrivateKey()
    }

    public var privateKey: [UInt8] { Array(key.rawRepresentation) }
    public var publicKey: [UInt8] { Array(key.publicKey.rawRepresentation) }
    public var keyID: UInt64 { OperatorKeys.keyID(publicKey) }

    public func sign(_ message: [UInt8]) -> [UInt8] {
        // Signing with a valid key does not fail (swift-crypto throws only for a platform error).
        (try? Array(key.signature(for: message))) ?? []
    }

    /// A signed envelope for `command` (the leader sets `leaderTimeMs` when it proposes).
    public func envelope(
        corridorID: String, clientID: ClientID, sequence: UInt64, leaderTimeMs: Milliseconds = 0,
        command: Command
    ) -> CommandEnvelope {
        var e = CommandEnvelope(
            operatorID: name, clientID: clientID, sequence: sequence, leaderTimeMs: leaderTimeMs, command: command)
        e.signature = CommandSignature(keyID: keyID, bytes: sign(e.signedMessage(corridorID: corridorID)))
        return e
    }
}

/// An operator's signature on a command.
public struct CommandSignature: Hashable, Sendable {
    public var keyID: UInt64
    /// 64 bytes of Ed25519 signature.
    public var bytes: [UInt8]
    public init(keyID: UInt64, bytes: [UInt8]) {
        self.keyID = keyID
        self.bytes = bytes
    }
}

/// Who signed a command, or why it is refused.
enum Authentication {
    case signer(OperatorRecord)
    case refused(CommandResult)
}

extension CorridorMachine {
    /// The most keys the registry holds (active and revoked).
    public static let maxOperatorKeys = 256

    /// The registry record of a key id.
    public func operatorKey(_ id: UInt64) -> OperatorRecord? {
        var lo = 0
        var hi = operators.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if operators[mid].keyID < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < operators.count && operators[lo].keyID == id ? operators[lo] : nil
    }

    /// Why the signed header cannot be attributed to an operator, or the operator's record. Depends on
    /// the registry and the bytes only, so every replica decides the same.
    func authenticate(_ header: CommandEnvelope.Header, command: [UInt8]) -> Authentication {
        guard let sig = header.signature else {
            return .refused(
                .rejected(
                    .unauthorized,
                    reason:
                        "unsigned command: every command must be signed by an operator's key (format version \(CommandEnvelope.formatVersion))"
                ))
        }
        guard let record = operatorKey(sig.keyID) else {
            return .refused(
                .rejected(
                    .unauthorized,
                    reason: "signed by key \(OperatorKeys.keyIDText(sig.keyID)), which is not in the operator registry")
            )
        }
        if let revoked = record.revokedAtIndex {
            return .refused(
                .rejected(
                    .unauthorized,
                    reason:
                        "signed by key \(OperatorKeys.keyIDText(sig.keyID)) of '\(record.name)', revoked by command \(revoked)"
                ))
        }
        guard record.name == header.operatorID else {
            return .refused(
                .rejected(
                    .unauthorized,
                    reason:
                        "signed by key \(OperatorKeys.keyIDText(sig.keyID)) of '\(record.name)' but the command names '\(header.operatorID)'"
                ))
        }
        let message = OperatorKeys.signedMessage(
            corridorID: corridorID, clientID: header.clientID, sequence: header.sequence,
            operatorName: header.operatorID, command: command)
        guard OperatorKeys.verifyRemembered(publicKey: record.publicKey, signature: sig.bytes, message: message) else {
            return .refused(
                .rejected(
                    .unauthorized,
                    reason:
                        "the signature by key \(OperatorKeys.keyIDText(sig.keyID)) of '\(record.name)' does not verify: the command was altered or forged"
                ))
        }
        // A signed command must carry its creation time in its client id: exactly-once then covers it for
        // the whole window and a captured command replayed after the window is refused as too old. (An id
        // without one could be evicted from the session table and the same signed bytes applied again.)
        guard header.clientID.createdAtMs != nil else {
            return .refused(
                .rejected(
                    .unauthorized,
                    reason:
                        "client id \(header.clientID) carries no creation time; a signed command needs a timed client id (ClientID.timed)"
                ))
        }
        return .signer(record)
    }

    /// What the replicas would say about who signed `envelope`: nil when its signature verifies against
    /// this replica's registry and the signer's role may order it, else the refusal. The leader's shell asks
    /// before proposing, so that a forgery costs no log entry; every replica still checks at apply.
    public func authorization(of envelope: CommandEnvelope) -> CommandResult? {
        let header = CommandEnvelope.Header(
            operatorID: envelope.operatorID, clientID: envelope.clientID, sequence: envelope.sequence,
            leaderTimeMs: envelope.leaderTimeMs, signature: envelope.signature)
        switch authenticate(header, command: envelope.commandBytes) {
        case .refused(let r): return r.bounded
        case .signer(let s):
            let needed = OperatorRole.required(for: envelope.command)
            return s.role < needed
                ? CommandResult.rejected(
                    .forbidden, reason: "'\(s.name)' is a \(s.role); this command needs a \(needed)"
                ).bounded : nil
        }
    }

    /// The registry commands.
    mutating func executeRegistry(_ command: Command, index: UInt64) -> CommandResult {
        let now = clockMs
        func activeEngineers(excluding: (OperatorRecord) -> Bool) -> Int {
            operators.filter { $0.isActive && $0.role == .engineer && !excluding($0) }.count
        }
        switch command {
        case .addOperator(let name, let key, let role):
            if let p = OperatorRecord.nameProblem(name) { return .rejected(.invalidCommand, reason: p) }
            guard OperatorKeys.isValidPublicKey(key) else {
                return .rejected(.invalidCommand, reason: "not an Ed25519 public key (\(key.count) bytes; 32 expected)")
            }
            let id = OperatorKeys.keyID(key)
            if let existing = operatorKey(id) {
                return .rejected(
                    .invalidCommand,
                    reason:
                        "key \(OperatorKeys.keyIDText(id)) is already registered (to '\(existing.name)'\(existing.isActive ? "" : ", revoked"))"
                )
            }
            guard operators.count < Self.maxOperatorKeys else {
                return .rejected(
                    .invalidCommand, reason: "the registry holds \(operators.count) keys, the most it keeps")
            }
            if let other = operators.first(where: { $0.isActive && $0.name == name }), other.role != role {
                return .rejected(
                    .invalidCommand,
                    reason:
                        "'\(name)' already has a key with role \(other.role); add the new key with the same role, or change the role first"
                )
            }
            let record = OperatorRecord(name: name, publicKey: key, role: role, addedAtIndex: index)
            let at = operators.firstIndex { $0.keyID > id } ?? operators.count
            operators.insert(record, at: at)
            return .accepted(effectiveAtMs: now)
        case .setRole(let name, let role):
            guard operators.contains(where: { $0.isActive && $0.name == name }) else {
                return .rejected(.invalidCommand, reason: "no active key is registered for '\(name)'")
            }
            if role != .engineer && activeEngineers(excluding: { $0.name == name }) == 0 {
                return .rejected(
                    .invalidCommand,
                    reason:
                        "'\(name)' holds the corridor's last engineer key: add another engineer first, or nobody could manage operators again"
                )
            }
            for i in operators.indices where operators[i].isActive && operators[i].name == name {
                operators[i].role = role
            }
            return .accepted(effectiveAtMs: now)
        case .revokeKey(let id):
            guard let i = operators.firstIndex(where: { $0.keyID == id }) else {
                return .rejected(.invalidCommand, reason: "key \(OperatorKeys.keyIDText(id)) is not in the registry")
            }
            guard operators[i].isActive else {
                return .rejected(
                    .invalidCommand,
                    reason:
                        "key \(OperatorKeys.keyIDText(id)) was already revoked by command \(operators[i].revokedAtIndex!)"
                )
            }
            if operators[i].role == .engineer && activeEngineers(excluding: { $0.keyID == id }) == 0 {
                return .rejected(
                    .invalidCommand,
                    reason:
                        "key \(OperatorKeys.keyIDText(id)) is the corridor's last engineer key: add another engineer first"
                )
            }
            operators[i].revokedAtIndex = index
            return .accepted(effectiveAtMs: now)
        default:
            return .rejected(.invalidCommand, reason: "not a registry command")
        }
    }
}

/// Signatures this process has verified, remembered so that one command's signature is verified once, not
/// at each of its checks (issue 19: the leader verified each command twice, about 5 % of its CPU). Only
/// successes are kept, under the SHA-256 of key, signature and message (length-prefixed): another triple
/// hits only through a SHA-256 collision. Verification is a pure function of those bytes, so remembering it
/// changes no outcome — every replica still decides the same. Bounded: beyond `capacity` the oldest is
/// forgotten (and verified again if it comes back).
public final class VerifiedSignatures: @unchecked Sendable {
    public static let shared = VerifiedSignatures(capacity: 4096)

    private let lock = NSLock()
    private var members: Set<SHA256.Digest> = []
    private var order: [SHA256.Digest?]
    private var next = 0
    public let capacity: Int

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.order = Array(repeating: nil, count: capacity)
    }

    static func key(publicKey: [UInt8], signature: [UInt8], message: [UInt8]) -> SHA256.Digest {
        var h = SHA256()
        for part in [publicKey, signature, message] {
            var n = UInt64(part.count).bigEndian
            withUnsafeBytes(of: &n) { h.update(bufferPointer: $0) }
            h.update(data: part)
        }
        return h.finalize()
    }

    func contains(_ key: SHA256.Digest) -> Bool { lock.withLock { members.contains(key) } }

    func insert(_ key: SHA256.Digest) {
        lock.withLock {
            guard !members.contains(key) else { return }
            if let old = order[next] { members.remove(old) }
            order[next] = key
            members.insert(key)
            next = (next + 1) % capacity
        }
    }

    public var count: Int { lock.withLock { members.count } }
}
