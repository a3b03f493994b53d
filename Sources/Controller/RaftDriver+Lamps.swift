import SignalTiming

extension RaftDriver {
    /// Every state change of `signal` in `(fromMs, throughMs]`, from the applied state.
    func lampChanges(of signal: SignalID, after fromMs: Int64, through throughMs: Int64) -> [SignalState] {
        // The timeline answers from its baseline on. A compaction moves the baseline to a recent cycle
        // start of the leader's clock; this controller's clock may be a little behind it, and must not
        // ask about the time before (there is nothing to change there: the baseline is steady state).
        let base = machine.timeline.baseline.atMs
        guard throughMs >= base else { return [] }
        return Array(machine.timeline.changes(of: signal, fromMs: max(fromMs, base), throughMs: throughMs).dropFirst())
    }
}
