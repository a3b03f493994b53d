import CorridorMachine
import Storage

/// Reading a row's evidence, v1 or v2 (docs/storage.md, "The audit chain"): the words are derived here,
/// from typed fields for v2 rows, so that a v1 and a v2 replica of the same history print and compare
/// the same.
public enum Evidence {
    /// A command's result as a v2 row types it.
    public static func outcome(_ r: CommandResult) -> AuditOutcome {
        switch r {
        case .accepted(let t): return .accepted(effectiveAtMs: t)
        case .rejected(let c, let why): return .rejected(code: c.rawValue, reason: why)
        }
    }

    /// The result in words: a v1 row's recorded text; for a v2 row `CommandResult`'s words (or the
    /// checkpoint's verdict) from the typed fields.
    public static func resultText(_ r: AuditRecord) -> String {
        switch r.outcome {
        case nil: return r.result
        case .accepted(let t)?: return "\(CommandResult.accepted(effectiveAtMs: t))"
        case .rejected(let c, let why)?:
            if let code = RejectCode(rawValue: c) { return "\(CommandResult.rejected(code, reason: why))" }
            return "rejected (code \(c)): \(why)"
        case .checkpoint(let own)?:
            guard let cp = try? AuditCheckpoint.decode(r.command) else { return "checkpoint (undecodable entry)" }
            return cp.verdict(ownRowHash: own)
        }
    }

    /// Accepted, and when it takes effect.
    public static func acceptance(_ r: AuditRecord) -> (accepted: Bool, effectiveAtMs: Int64?) {
        switch r.outcome {
        case .accepted(let t)?: return (true, t)
        case .rejected?, .checkpoint?: return (false, nil)
        case nil:
            // A v1 row: `CommandResult.description` as recorded.
            let prefix = "accepted, effective at "
            guard r.result.hasPrefix(prefix) else { return (false, nil) }
            return (true, Int64(r.result.dropFirst(prefix.count)))
        }
    }
}
