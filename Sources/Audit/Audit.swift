// Audit: what an incident investigator or auditor asks of a controller's record.
//
// A controller's data folder (docs/storage.md) holds the audit chain — one row per applied command,
// each row hashed together with its predecessor's hash — the Raft log after the last compaction,
// state-machine snapshots, the lamp event log, and (since issue 8) `corridor.yaml`, a copy of the
// corridor file the folder's history started from. From those alone this module answers:
//
// - `CommandLog`: every command in order — index, term, leader time, operator, command, result and
//   when it took effect.
// - `Verifier`: the chain checked row by row (tampered, deleted, inserted, swapped rows named), every
//   command replayed through a fresh `CorridorMachine` from the first (or from a verified snapshot)
//   and the recomputed state hash compared with the recorded one at every index; the committed log
//   and the stored snapshots cross-checked against the chain; several controllers' folders compared
//   at every index they share.
// - `SignalAt`: what one signal showed at an instant, by replay, cross-checked against the lamp event
//   log that controller wrote; a disagreement is reported, never smoothed over.
// - `ATSPMExport`: the lamp event log as Indiana hi-res event rows, with the state at the start of
//   the window written out so that a window never starts mid-plan.
//
// The folder is opened read-only (`DataFolder`): an audit never writes to the evidence, and it can
// run next to a live controller. Times are integer milliseconds since the Unix epoch (UTC).
// See docs/audit.md.

/// An error an auditor can act on. `isBadInput` separates a wrong argument or unusable folder (exit
/// 64 in the CLI) from a finding about the record itself (exit 1).
public struct AuditError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var isBadInput: Bool
    public init(_ message: String, badInput: Bool = true) {
        self.message = message
        self.isBadInput = badInput
    }
    public var description: String { message }
}

/// Lowercase hex of bytes (hashes in reports).
public func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
