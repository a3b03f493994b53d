// The audit checkpoint: a log entry the leader proposes every so often, carrying the head of its audit
// chain (index and row hash). Committed through Raft, it puts the quorum's view of the chain into every
// replica's record, so that a replica whose tail was cut, or whose rows before the head were rewritten,
// disagrees with a value it does not control (docs/audit.md, "Checkpoints").
//
// It needs no operator signature: it orders nothing. Applying it changes no state (the state hash is the
// one before it), on this build and on an older one (which refuses the bytes as an unknown command
// version, also without changing anything), so it is deterministic on every replica.
import SignalTiming

/// What an audit checkpoint entry carries.
public struct AuditCheckpoint: Hashable, Sendable {
    /// The first four bytes of a checkpoint entry. As a command's version field they read 0x4757, which
    /// no command format uses, so a checkpoint can never be taken for a command.
    public static let magic: [UInt8] = Array("GWAK".utf8)
    public static let formatVersion: UInt16 = 1
    /// magic, version, head index, head hash, leader time.
    public static let encodedBytes = 4 + 2 + 8 + 32 + 8

    /// The index of the newest audit row the leader had written when it proposed this checkpoint (0:
    /// none yet).
    public var headIndex: UInt64
    /// That row's hash (32 bytes; zeros when `headIndex` is 0).
    public var headHash: [UInt8]
    /// The leader's clock when it proposed (ms since the Unix epoch); informative, not checked.
    public var leaderTimeMs: Milliseconds

    public init(headIndex: UInt64, headHash: [UInt8], leaderTimeMs: Milliseconds) {
        self.headIndex = headIndex
        self.headHash = headHash
        self.leaderTimeMs = leaderTimeMs
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.raw(Self.magic)
        w.u16(Self.formatVersion)
        w.u64(headIndex)
        w.raw(headHash.count == 32 ? headHash : [UInt8](repeating: 0, count: 32))
        w.i64(leaderTimeMs)
        return w.bytes
    }

    /// Whether `bytes` claim to be a checkpoint (they start with the magic).
    public static func isCheckpoint(_ bytes: [UInt8]) -> Bool {
        bytes.count >= magic.count && bytes[0] == magic[0] && bytes[1] == magic[1] && bytes[2] == magic[2]
            && bytes[3] == magic[3]
    }

    /// Decodes a checkpoint entry; throws a named `DecodeError` for anything else.
    public static func decode(_ bytes: [UInt8]) throws -> AuditCheckpoint {
        var r = ByteReader(bytes)
        guard try r.raw(4, "checkpoint magic") == magic else { throw DecodeError.badMagic(kind: "audit checkpoint") }
        let v = try r.u16("checkpoint version")
        guard v == formatVersion else { throw DecodeError.unsupportedVersion(kind: "audit checkpoint", version: v) }
        let index = try r.u64("checkpoint head index")
        let hash = try r.raw(32, "checkpoint head hash")
        let t = try r.i64("checkpoint leader time")
        try r.finish()
        return AuditCheckpoint(headIndex: index, headHash: hash, leaderTimeMs: t)
    }

    /// The verdict a replica's row for this checkpoint states, in words, given the hash of its own row
    /// at `headIndex` (nil: it has no such row). The row stores the hash (typed); these words are
    /// derived when it is read.
    public func verdict(ownRowHash: [UInt8]?) -> String {
        if headIndex == 0 { return "checkpoint: the leader had no audit rows yet" }
        guard let own = ownRowHash else {
            return "checkpoint MISMATCH: this replica has no audit row \(headIndex)"
        }
        if own == headHash { return "checkpoint: this replica's row \(headIndex) has the leader's hash" }
        return
            "checkpoint MISMATCH: this replica's row \(headIndex) hashes to \(hex(own)), the leader's to \(hex(headHash))"
    }

    /// One line for the audit log.
    public var description: String { "audit checkpoint of row \(headIndex) (\(hex(headHash)))" }
}
