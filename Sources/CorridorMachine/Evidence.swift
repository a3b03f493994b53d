// Names and typed outcomes for the audit's evidence (schema v2 rows, docs/storage.md): stable words
// chosen here, never Swift's reflection text, so that a compiler or a refactoring cannot change them.

extension Command {
    /// The command's kind as the audit stores it. These words are a format: never rename one.
    public var kindName: String {
        switch self {
        case .setMode: return "setMode"
        case .hold: return "hold"
        case .release: return "release"
        case .flash: return "flash"
        case .unflash: return "unflash"
        case .preempt: return "preempt"
        case .cancelPreemption: return "cancelPreemption"
        case .updatePlan: return "updatePlan"
        case .addOperator: return "addOperator"
        case .setRole: return "setRole"
        case .revokeKey: return "revokeKey"
        case .setModeUntil: return "setModeUntil"
        case .setSchedule: return "setSchedule"
        case .clearSchedule: return "clearSchedule"
        }
    }

    /// The kind of an entry's bytes: a command's `kindName`, `checkpoint` for an audit checkpoint,
    /// `undecodable` otherwise.
    public static func kindName(of bytes: [UInt8]) -> String {
        if AuditCheckpoint.isCheckpoint(bytes) { return AuditCheckpoint.kindName }
        guard let env = try? CommandEnvelope.decode(bytes) else { return "undecodable" }
        return env.command.kindName
    }
}

extension AuditCheckpoint {
    public static let kindName = "checkpoint"
}

extension RejectCode {
    /// The code's name as printed (`notHeld`, `unauthorized`, …).
    public var name: String { "\(self)" }
}
