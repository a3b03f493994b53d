import SignalTiming

extension RaftDriver {
    /// Every state change of `signal` in `(fromMs, throughMs]`, from the applied state.
    func lampChanges(of signal: SignalID, after fromMs: Int64, through throughMs: Int64) -> [SignalState] {
        Array(machine.timeline.changes(of: signal, fromMs: fromMs, throughMs: throughMs).dropFirst())
    }
}
