import CorridorMachine
import RaftCore
import SignalTiming
import Storage

/// One command as the audit chain records it.
public struct CommandEntry: Sendable, Equatable {
    public var index: LogIndex
    public var term: Term
    /// When the leader proposed it (its clock), ms since the epoch.
    public var leaderTimeMs: Int64
    public var operatorName: String
    public var clientID: String
    public var sequence: UInt64
    /// The command decoded from its bytes, in words ("mode rush-hour", "hold S3", …).
    public var command: String
    /// The text the controller recorded with the row (part of the hashed row).
    public var commandText: String
    /// "accepted, effective at …" or "rejected (code): reason", as recorded.
    public var result: String
    public var accepted: Bool
    /// When an accepted command took (or takes) effect, ms since the epoch.
    public var effectiveAtMs: Int64?
    /// The row's state hash (hex).
    public var stateHash: String
    /// The id of the key that signed the command (16 hex digits), nil when unsigned or undecodable. The
    /// signature itself is in the log entry; `Verifier` re-checks it by replay.
    public var keyID: String?
    /// The row's schema format (1: texts recorded; 2: typed evidence) and, for v2, the command's kind.
    public var format: UInt8 = 1
    public var commandKind: String = ""
}

public enum CommandLog {
    /// The commands of `folder` whose leader time is in [from, to), in log order. Rows are shown as
    /// stored: run `Verifier` to know whether they can be trusted.
    public static func entries(folder: DataFolder, from: Int64 = .min, to: Int64 = .max) throws -> [CommandEntry] {
        try folder.auditRows().compactMap(\.row).filter {
            $0.record.leaderTimeMs >= from && $0.record.leaderTimeMs < to
        }.map { entry(from: $0.record) }
    }

    static func entry(from r: AuditRecord) -> CommandEntry {
        let (accepted, effective) = Evidence.acceptance(r)
        return CommandEntry(
            index: r.index, term: r.term, leaderTimeMs: r.leaderTimeMs, operatorName: r.operatorName,
            clientID: r.clientID,
            sequence: r.sequence, command: describe(r.command), commandText: r.commandText,
            result: Evidence.resultText(r), accepted: accepted, effectiveAtMs: effective,
            stateHash: hexString(r.stateHash), keyID: signer(r.command), format: r.format, commandKind: r.commandKind)
    }

    /// A command's bytes in the console's words.
    public static func describe(_ bytes: [UInt8]) -> String {
        if AuditCheckpoint.isCheckpoint(bytes) {
            guard let cp = try? AuditCheckpoint.decode(bytes) else {
                return "undecodable audit checkpoint (\(bytes.count) bytes)"
            }
            return "checkpoint of row \(cp.headIndex)"
        }
        guard let env = try? CommandEnvelope.decode(bytes) else { return "undecodable command (\(bytes.count) bytes)" }
        func s(_ id: SignalID) -> String { "S\(id.rawValue)" }
        switch env.command {
        case .setMode(let p): return "mode \(p.rawValue)"
        case .hold(let id, let stage): return "hold \(s(id))" + (stage.map { " in stage \($0)" } ?? "")
        case .release(let id): return "release \(s(id))"
        case .flash(let id): return "flash " + (id.map(s) ?? "corridor")
        case .unflash(let id): return "unflash " + (id.map(s) ?? "corridor")
        case .preempt(let r):
            var text = "preempt " + r.signals.map(s).joined(separator: " ")
            text += " \(r.direction.rawValue)"
            if let v = r.speedKmh { text += " at \(v) km/h" }
            return text
        case .cancelPreemption(let i): return "cancel preemption of command \(i)"
        case .updatePlan(let p): return "update plan \(p.name)"
        case .addOperator(let name, let key, let role):
            return "add operator \(name) as \(role) with key \(OperatorKeys.keyIDText(OperatorKeys.keyID(key)))"
        case .setRole(let name, let role): return "make operator \(name) a \(role)"
        case .revokeKey(let id): return "revoke key \(OperatorKeys.keyIDText(id))"
        case .setModeUntil(let p, .nextScheduledChange): return "mode \(p.rawValue) until the next scheduled change"
        case .setModeUntil(let p, .time(let t)): return "mode \(p.rawValue) until \(AuditTime.iso(t))"
        case .clearSchedule: return "clear schedule"
        case .setSchedule(let sc):
            return
                "set schedule (\(sc.dayPlans.count) day plans, \(sc.holidays.count) holidays, UTC\(sc.utcOffsetMinutes >= 0 ? "+" : "-")\(ScheduleAction.timeText(abs(sc.utcOffsetMinutes))))"
        }
    }

    /// Whether the row is an audit checkpoint (written by the replicas, ordered by nobody).
    public static func isCheckpoint(_ e: CommandEntry) -> Bool {
        e.operatorName.isEmpty && e.command.hasPrefix("checkpoint of row")
    }

    /// The signing key's id of a command's bytes.
    public static func signer(_ bytes: [UInt8]) -> String? {
        var reader = ByteReader(bytes)
        guard let h = try? CommandEnvelope.decodeHeader(&reader), let s = h.signature else { return nil }
        return OperatorKeys.keyIDText(s.keyID)
    }

}
