/// A signal's lamps, advanced one wake-up at a time: the timing engine alone (`SignalEngine`, the
/// schedule) or a controller's follower around one (`SignalFollower`, what the lamps show).
protocol LampStepper {
    /// The next instant at which something may change, nil when nothing is due.
    var nextWakeMs: Milliseconds? { get }
    mutating func advance(to t: Milliseconds)
    /// What the lamps show at `t` (after `advance(to: t)`).
    func shown(signal: SignalID, at t: Milliseconds) -> SignalState
}

extension LampStepper {
    /// The first instant after `s.atMs` at which the lamps, the interval code, the stage or the mode
    /// differ from `s` (the end of a min green counts: the green may end there), found on a copy.
    func nextChange(after s: SignalState, signal: SignalID) -> Milliseconds? {
        var probe = self
        var candidate: Milliseconds? = nil
        if s.interval == .minGreen, let end = s.intervalEndMs { candidate = end }
        var steps = 0
        while let w = probe.nextWakeMs {
            if let c = candidate, w >= c { return c }
            probe.advance(to: w)
            let r = probe.shown(signal: signal, at: w)
            if r.lamps != s.lamps || r.interval != s.interval || r.mode != s.mode || r.stage != s.stage {
                return w
            }
            steps += 1
            precondition(steps < Limits.engineStepsMax)
        }
        return candidate
    }
}

extension SignalEngine: LampStepper {
    func shown(signal: SignalID, at t: Milliseconds) -> SignalState { report(signal: signal, at: t) }
}

extension SignalFollower: LampStepper {
    func shown(signal: SignalID, at t: Milliseconds) -> SignalState { engine.report(signal: signal, at: t) }
}
