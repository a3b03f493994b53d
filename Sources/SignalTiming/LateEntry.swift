/// Safe late entry and the start-up sequence: what one controller's lamps show when what it knows of
/// the corridor's timeline changes under it.
///
/// `CorridorTimeline.state(of:at:)` is *the schedule*: what signal S shows at t if every control event
/// had been known in time. A controller does not always know in time — it was cut off past a command's
/// effective time, restarted, or caught up from a snapshot — and the schedule of the timeline it now
/// knows may disagree with the lamps it has been showing. Jumping to the schedule can cut a green, a
/// yellow or an all-red short, and the conflict monitor then latches flash.
///
/// `SignalFollower` owns the lamps instead. It runs the signal's own timing engine; when the timeline
/// changes, the engine keeps the interval it is timing (its start, its floors, the cycle it laid out)
/// and follows the new timeline's inputs from that instant — to the engine this is an ordinary input
/// change, which it only acts on at safe points: a green ends no earlier than its min green (and a
/// preemption dwell no earlier than its minimum), yellow and red clearance always run in full, the next
/// stage is chosen at the end of red clearance, and the next coordinated green starts a shortway
/// transition (each cycle shortened or lengthened by at most 20 %) towards the schedule's offsets.
/// Alongside, it runs the schedule's own engine; as soon as both will show the same lamps from then on
/// (`SignalEngine.sameFuture`), the follower is *in step* and simply is the schedule.
///
/// Bound (clean inputs: no hold, flash or preemption for the signal): the follower reaches its next
/// coordinated green within one (at most 120 %) cycle and is in step at most 5 transition cycles of at
/// most 120 % later (lengthening by 20 % closes any offset error in ⌈100/20⌉ = 5 cycles; shortening
/// is taken only when it is faster): 1.2 + 5 × 1.2 = 7.2 cycles, documented as
/// `LateEntry.convergenceCyclesMax` = 8 cycles of the corridor's longest plan, counted from the later
/// of the instant the controller learnt the timeline and the signal's last input change.
/// `tools/late-entry` measures it over ≥ 10^5 random histories (docs/signal-timing.md).
///
/// Start-up (every start of a controller, like a NEMA controller's start-up flash): flash for
/// `startupFlashMs` whatever the schedule says, then all-red for at least the corridor's
/// `flashExitRedMs`, then entry at a safe point of the schedule: if the schedule flashes, flash; if it
/// is green with at least the stage's min green left (or resting), that green from now to the
/// schedule's planned end (its floors counted from now); otherwise the all-red lasts until the
/// schedule's next green starts, and the signal enters there exactly in step. The all-red is thus at
/// most `flashExitRedMs` + a min green + a yellow + a red clearance.
public struct SignalFollower: Sendable {
    /// Where the follower stands.
    public enum Status: String, Hashable, Sendable {
        /// Start-up flash, or the all-red after it.
        case startup
        /// Showing its own safe transition towards the schedule.
        case entering
        /// Showing exactly the schedule.
        case inStep
    }

    public let signal: SignalID
    /// The timeline the follower follows (the last one given).
    public private(set) var timeline: CorridorTimeline
    /// What the lamps show.
    var engine: SignalEngine
    /// The schedule's engine, advanced alongside while not in step (nil: in step, `engine` is it).
    var target: SignalEngine?
    /// End of the start-up flash, while it is not over.
    public private(set) var startupFlashUntilMs: Milliseconds?
    /// Times a new timeline disagreed with the lamps (a late entry began).
    public private(set) var lateEntries = 0
    /// When the follower last came into step (nil: not yet).
    public private(set) var inStepSinceMs: Milliseconds?
    /// In the start-up sequence (its flash or the all-red after it).
    var booting = false
    /// The last state `state(at:)` returned: a timeline update can change the lamps at the very instant
    /// the follower stands at (a green whose floor has passed ends there), and `changes` must report it.
    var lastReport: SignalState?

    /// A controller starting at `atMs`: the start-up sequence, then entry into `timeline`'s schedule.
    public init(
        signal: SignalID, timeline: CorridorTimeline, startingAt atMs: Milliseconds,
        startupFlashMs: Milliseconds = Limits.startupFlashMsDefault
    ) {
        precondition(startupFlashMs >= 0)
        self.signal = signal
        self.timeline = timeline
        let i = timeline.index(of: signal)
        startupFlashUntilMs = atMs + startupFlashMs
        booting = true
        engine = SignalEngine(
            startingUpAt: atMs, flashUntilMs: atMs + startupFlashMs, signal: timeline.signals[i],
            schedule: timeline.schedules[i], epochMs: timeline.referenceEpochMs,
            safety: timeline.corridor.safety)
        target = Self.schedule(of: signal, in: timeline, at: atMs)
    }

    /// A follower already in step with `timeline` at `atMs` (no start-up): what a controller that has
    /// always known the timeline shows.
    public init(signal: SignalID, inStepWith timeline: CorridorTimeline, at atMs: Milliseconds) {
        self.signal = signal
        self.timeline = timeline
        engine = Self.schedule(of: signal, in: timeline, at: atMs)
        target = nil
        inStepSinceMs = atMs
    }

    /// The schedule's engine for `signal` at `t`. Before the timeline's baseline the signal is, by the
    /// baseline's definition, in steady state "as if since forever", so the engine starts there.
    static func schedule(of signal: SignalID, in timeline: CorridorTimeline, at t: Milliseconds) -> SignalEngine {
        let i = timeline.index(of: signal)
        var e = SignalEngine(
            signal: timeline.signals[i], schedule: timeline.schedules[i], epochMs: timeline.referenceEpochMs,
            safety: timeline.corridor.safety, baselineAtMs: min(t, timeline.baseline.atMs))
        e.advance(to: t)
        return e
    }

    /// The last instant the follower has been advanced to.
    public var nowMs: Milliseconds { engine.nowMs }

    public var status: Status {
        if target == nil { return .inStep }
        return booting ? .startup : .entering
    }

    /// The start-up sequence is over once its flash has ended and the engine has left the all-red.
    private mutating func noteBoot() {
        guard booting, startupFlashUntilMs == nil || engine.nowMs >= startupFlashUntilMs! else { return }
        if engine.interval != .flash && engine.interval != .flashExitRed { booting = false }
    }

    public var inStep: Bool { target == nil }

    /// The controller now knows `timeline` (a command applied, a snapshot installed, a compaction, a
    /// restart's stored state). Takes effect at `nowMs`: if the lamps already agree with its schedule
    /// the follower is (stays) in step; otherwise a late entry begins.
    public mutating func update(timeline new: CorridorTimeline) {
        let t = engine.nowMs
        let i = new.index(of: signal)
        let tgt = Self.schedule(of: signal, in: new, at: t)
        let flashUntil = startupFlashUntilMs.flatMap { $0 > t ? $0 : nil }
        let resumed = SignalEngine(
            resuming: engine, signal: new.signals[i], schedule: new.schedules[i],
            epochMs: new.referenceEpochMs, safety: new.corridor.safety, flashUntilMs: flashUntil)
        timeline = new
        if flashUntil == nil && resumed.sameFuture(as: tgt) {
            if target != nil { inStepSinceMs = t }
            engine = tgt
            target = nil
            booting = false
        } else {
            if target == nil { lateEntries += 1 }
            engine = resumed
            target = tgt
        }
    }

    /// Next instant either engine acts.
    var nextWakeMs: Milliseconds? {
        let a = engine.nextWakeMs ?? .max
        let b = target?.nextWakeMs ?? .max
        let w = min(a, b)
        return w == .max ? nil : w
    }

    /// Applies everything up to `t` (≥ `nowMs`), coming into step at the first instant the lamps'
    /// engine and the schedule's agree for good.
    public mutating func advance(to t: Milliseconds) {
        var steps = 0
        while var tgt = target {
            if let f = startupFlashUntilMs, engine.nowMs >= f { startupFlashUntilMs = nil }
            let w = min(nextWakeMs ?? .max, t)
            if booting, startupFlashUntilMs == nil, engine.inStartupRed, engine.nextWakeMs == w {
                // The end of the start-up all-red: enter the schedule at a safe point (or wait for one).
                tgt.advance(to: w)
                var red = engine
                red.advanceClock(to: w)
                if let entered = red.pickUp(tgt) {
                    engine = entered
                    booting = false
                } else {
                    engine = red
                }
            } else {
                engine.advance(to: w)
                tgt.advance(to: w)
            }
            if startupFlashUntilMs.map({ w >= $0 }) ?? true, engine.sameFuture(as: tgt) {
                // Same lamps from now on; take the schedule's engine (its schedule has no start-up
                // flash spliced in).
                engine = tgt
                target = nil
                startupFlashUntilMs = nil
                booting = false
                inStepSinceMs = w
            } else {
                target = tgt
            }
            noteBoot()
            if w >= t { return }
            steps += 1
            precondition(steps < Limits.engineStepsMax, "signal \(signal): follower did not converge")
        }
        startupFlashUntilMs = nil
        booting = false
        engine.advance(to: t)
    }

    /// The lamps at `t` (≥ `nowMs`), and when they next change.
    public mutating func state(at t: Milliseconds) -> SignalState {
        advance(to: t)
        var s = engine.report(signal: signal, at: t)
        s.nextChangeMs = self.nextChange(after: s, signal: signal)
        lastReport = s
        return s
    }

    /// Every change of lamps, interval code or mode in `(nowMs, throughMs]`, in order; the follower is
    /// left at `throughMs`.
    public mutating func changes(through throughMs: Milliseconds) -> [SignalState] {
        var out: [SignalState] = []
        let previous = lastReport
        var s = state(at: engine.nowMs)
        if let p = previous, p.lamps != s.lamps || p.interval != s.interval || p.mode != s.mode || p.stage != s.stage {
            out.append(s)
        }
        while let n = s.nextChangeMs, n <= throughMs {
            s = state(at: n)
            out.append(s)
            precondition(out.count < Limits.engineStepsMax)
        }
        advance(to: throughMs)
        return out
    }
}

/// The documented figures of late entry.
public enum LateEntry {
    /// A follower is in step with the schedule at most this many cycles (of the corridor's longest
    /// plan) after the later of: the instant it learnt the timeline, and its signal's last input
    /// change (plan change, flash, hold, preemption call or release). One cycle to reach the next
    /// coordinated green, five shortway cycles of at most 120 %, and one for a plan change pending at
    /// the cycle boundary: 1 + 5·1.2 + 1 = 8. Measured by `tools/late-entry`; asserted by the property
    /// tests.
    public static let convergenceCyclesMax: Milliseconds = 8
}

extension CorridorTimeline {
    /// Every instant at which `signal`'s inputs (plan, flash, hold, preemption call) change.
    public func inputChangesMs(of signal: SignalID) -> [Milliseconds] {
        Array(schedules[index(of: signal)].startsMs.dropFirst())
    }

    /// Whether `signal` ends with no flash, hold or preemption in force.
    public func finalInputsAreClean(of signal: SignalID) -> Bool {
        schedules[index(of: signal)].inputs.last!.isClean
    }
}
