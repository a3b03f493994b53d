/// One signal's plan data, resolved into arrays for the engine.
struct ResolvedPlan: Hashable, Sendable {
    var isFlash: Bool
    var cycleMs: Milliseconds
    var offsetMs: Milliseconds
    var coordinated: Int
    var splitsMs: [Milliseconds]
    var greensMs: [Milliseconds]
}

struct ResolvedSignal: Hashable, Sendable {
    var id: SignalID
    var stageCount: Int
    var minGreenMs: [Milliseconds]
    var yellowMs: [Milliseconds]
    var redClearanceMs: [Milliseconds]
    var minSplitMs: [Milliseconds]
    var plans: [ResolvedPlan]
    var planIDs: [PlanID]
    var greenLamps: [[Lamp]]
    var yellowLamps: [[Lamp]]
    var redLamps: [Lamp]
    var flashLamps: [Lamp]

    init(signal s: Signal, index: Int, corridor: Corridor) {
        id = s.id
        stageCount = s.stages.count
        minGreenMs = s.stageMinGreenMs
        yellowMs = s.stageYellowMs
        redClearanceMs = s.stageRedClearanceMs
        minSplitMs = s.stageMinSplitMs
        planIDs = corridor.plans.map(\.id)
        plans = corridor.plans.map { p in
            if p.isFlash {
                return ResolvedPlan(isFlash: true, cycleMs: 0, offsetMs: 0, coordinated: 0, splitsMs: [], greensMs: [])
            }
            let sp = p.signals[index]
            let greens = (0..<s.stages.count).map { sp.splitsMs[$0] - s.stageYellowMs[$0] - s.stageRedClearanceMs[$0] }
            return ResolvedPlan(
                isFlash: false, cycleMs: p.cycleMs, offsetMs: sp.offsetMs,
                coordinated: sp.coordinatedStage, splitsMs: sp.splitsMs, greensMs: greens)
        }
        redLamps = Array(repeating: .red, count: s.phases.count)
        flashLamps = s.phases.map(\.flashLamp)
        greenLamps = s.stagePhaseIndices.map { idx in
            var l = Array(repeating: Lamp.red, count: s.phases.count)
            for i in idx { l[i] = .green }
            return l
        }
        yellowLamps = s.stagePhaseIndices.map { idx in
            var l = Array(repeating: Lamp.red, count: s.phases.count)
            for i in idx { l[i] = .yellow }
            return l
        }
    }
}

/// The interval being timed.
enum EngineInterval: Hashable, Sendable {
    case green(Int)
    case yellow(Int)
    case redClear(Int)
    case flash
    case flashExitRed
}

/// The durations chosen for one cycle when its coordinated green began.
struct CyclePlan: Hashable, Sendable {
    var plan: Int
    /// Cycle start (possibly virtual, after a hold or dwell) and the next cycle's start, ms.
    var startMs: Milliseconds
    var nextStartMs: Milliseconds
    /// Green per stage index for this cycle, ms.
    var greensMs: [Milliseconds]
    /// Started on a reference point with nominal durations: steady coordination.
    var inSync: Bool
}

/// The timing engine of one signal: a deterministic discrete-event machine over its input
/// schedule. It wakes at interval ends and at input changes, and only ever decides at safe points:
///
/// - a green ends no earlier than its min green (and, in a preemption dwell, the dwell minimum);
/// - every green is followed by the stage's full yellow and full red clearance;
/// - the next stage (or flash) is chosen only at the end of red clearance.
///
/// Precedence of inputs: flash > preemption > hold > coordination.
struct SignalEngine: Sendable {
    let sig: ResolvedSignal
    let schedule: SignalSchedule
    let epochMs: Milliseconds
    let safety: SafetyTimings

    /// Last processed time: every wake-up at or before it has been applied.
    private(set) var nowMs: Milliseconds
    /// Index of the input segment in force at `nowMs`.
    private(set) var inputIndex: Int
    private(set) var interval: EngineInterval
    private(set) var intervalStartMs: Milliseconds
    /// Int64.max: rest until an input change ends it.
    private(set) var plannedEndMs: Milliseconds
    private(set) var greenStartMs: Milliseconds
    private(set) var mode: SignalMode
    private(set) var cycle: CyclePlan?
    /// Start of the preemption dwell in the current green, if any.
    private(set) var dwellStartMs: Milliseconds?
    private(set) var cause: EventID?

    /// Starts in the baseline state: steady coordination since forever (or flash).
    init(
        signal: ResolvedSignal, schedule: SignalSchedule, epochMs: Milliseconds, safety: SafetyTimings,
        baselineAtMs: Milliseconds
    ) {
        sig = signal
        self.schedule = schedule
        self.epochMs = epochMs
        self.safety = safety
        inputIndex = 0
        let inputs = schedule.inputs[0]
        let p = signal.plans[inputs.plan]
        if p.isFlash {
            nowMs = baselineAtMs
            interval = .flash
            intervalStartMs = baselineAtMs
            plannedEndMs = .max
            greenStartMs = baselineAtMs
            mode = .flash
        } else {
            let r = epochMs + p.offsetMs + floorDiv(baselineAtMs - epochMs - p.offsetMs, p.cycleMs) * p.cycleMs
            nowMs = r
            interval = .green(p.coordinated)
            intervalStartMs = r
            plannedEndMs = r
            greenStartMs = r
            mode = .coordinated
            setSteadyCycle(startMs: r, plan: inputs.plan)
        }
    }

    var inputs: SignalInputs { schedule.inputs[inputIndex] }

    private mutating func setSteadyCycle(startMs r: Milliseconds, plan: Int) {
        let p = sig.plans[plan]
        interval = .green(p.coordinated)
        intervalStartMs = r
        greenStartMs = r
        plannedEndMs = r + p.greensMs[p.coordinated]
        mode = .coordinated
        dwellStartMs = nil
        cycle = CyclePlan(plan: plan, startMs: r, nextStartMs: r + p.cycleMs, greensMs: p.greensMs, inSync: true)
    }

    /// Applies every wake-up at or before `t`.
    mutating func advance(to t: Milliseconds) {
        precondition(t >= nowMs, "time went backwards: \(t) < \(nowMs)")
        precondition(t < Int64.max)
        var steps = 0
        while true {
            skipSteadyCycles(limit: t)
            let nextInput = schedule.nextStart(after: inputIndex)
            let wake = min(plannedEndMs, nextInput)
            if wake > t {
                nowMs = t
                return
            }
            if nextInput <= wake { inputIndex += 1 }
            nowMs = wake
            if plannedEndMs == wake {
                endInterval(at: wake)
            } else {
                reevaluate(at: wake)
            }
            steps += 1
            precondition(steps < Limits.engineStepsMax, "signal \(sig.id): engine did not converge")
        }
    }

    /// The next wake-up strictly after `nowMs`, if any.
    var nextWakeMs: Milliseconds? {
        let w = min(plannedEndMs, schedule.nextStart(after: inputIndex))
        return w == .max ? nil : w
    }

    /// In steady coordination with unchanged inputs, every cycle is the nominal one: jump to the
    /// last reference point before `limit` and before the next input change, in closed form.
    private mutating func skipSteadyCycles(limit: Milliseconds) {
        guard mode == .coordinated, let c = cycle, c.inSync, nowMs < c.nextStartMs, inputs.isClean,
            inputs.plan == c.plan
        else { return }
        let p = sig.plans[c.plan]
        let bound = min(limit, schedule.nextStart(after: inputIndex) - 1)
        guard bound >= c.startMs else { return }
        let r = c.startMs + (bound - c.startMs) / p.cycleMs * p.cycleMs
        guard r > c.startMs else { return }
        assert(
            nowMs < r,
            "a steady cycle ends at the next reference point: now \(nowMs) r \(r) cycle \(c) interval \(interval) end \(plannedEndMs) inputs \(inputs)"
        )
        setSteadyCycle(startMs: r, plan: c.plan)
        // What `decideNext` would have recorded at that cycle start.
        cause = inputs.planSource
        nowMs = r
    }

    private mutating func startGreen(_ k: Int, at t: Milliseconds) {
        interval = .green(k)
        intervalStartMs = t
        greenStartMs = t
        dwellStartMs = nil
    }

    private mutating func endInterval(at t: Milliseconds) {
        switch interval {
        case .green(let k):
            interval = .yellow(k)
            intervalStartMs = t
            plannedEndMs = t + sig.yellowMs[k]
            if mode == .preemptDwell { mode = .preemptExit }
        case .yellow(let k):
            interval = .redClear(k)
            intervalStartMs = t
            plannedEndMs = t + sig.redClearanceMs[k]
        case .redClear(let k):
            decideNext(at: t, after: k)
        case .flashExitRed:
            decideNext(at: t, after: nil)
        case .flash:
            preconditionFailure("flash rests until an input change")
        }
    }

    /// At the end of red clearance (or of the flash-exit red): choose what runs next.
    private mutating func decideNext(at t: Milliseconds, after k: Int?) {
        let i = inputs
        if i.flash {
            interval = .flash
            intervalStartMs = t
            plannedEndMs = .max
            mode = .flash
            cycle = nil
            dwellStartMs = nil
            cause = i.flashSource
            return
        }
        let p = sig.plans[i.plan]
        precondition(!p.isFlash)
        if i.preempt {
            startGreen(p.coordinated, at: t)
            mode = .preemptDwell
            dwellStartMs = t
            plannedEndMs = .max
            cycle = nil
            cause = i.preemptSource
            return
        }
        if let h = i.hold {
            let stage: Int
            switch h {
            case .coordinated: stage = p.coordinated
            case .stage(let s): stage = s
            }
            startGreen(stage, at: t)
            mode = .hold
            plannedEndMs = .max
            cycle = nil
            cause = i.holdSource
            return
        }
        let next = k.map { ($0 + 1) % sig.stageCount } ?? p.coordinated
        startGreen(next, at: t)
        if next == p.coordinated {
            startCycle(at: t, plan: i.plan, floorMs: t + sig.minGreenMs[next])
            cause = i.planSource
        } else {
            if let cy = cycle, next == sig.plans[cy.plan].coordinated {
                // The plan changed mid-cycle to one with another coordinated stage: the old cycle
                // has wrapped around and is over; run nominal greens until the new one starts.
                cycle = nil
                if mode == .coordinated { mode = .transitioning }
            }
            let green = cycle?.greensMs[next] ?? p.greensMs[next]
            plannedEndMs = t + max(green, sig.minGreenMs[next])
            if mode != .coordinated && mode != .transitioning && mode != .preemptExit {
                mode = .transitioning
                cause = i.planSource
            }
        }
    }

    /// The coordinated stage is green (since `greenStartMs`); lay out the cycle that follows.
    /// Shortway transition: if the green did not start on a reference point, this cycle is
    /// shortened or lengthened by at most `Limits.transitionAdjustPercentMax` % of the cycle,
    /// whichever reaches the reference in fewer cycles; never below any stage's min split, and the
    /// coordinated green never ends before `floorMs`.
    private mutating func startCycle(at t: Milliseconds, plan planIndex: Int, floorMs: Milliseconds) {
        let p = sig.plans[planIndex]
        let c = p.coordinated
        let n = sig.stageCount
        let cycleMs = p.cycleMs
        // Virtual start: a green resting longer than its nominal length counts as just nominal.
        let v = max(greenStartMs, t - p.greensMs[c])
        let error = floorMod(v - epochMs - p.offsetMs, cycleMs)
        let others = (1..<n).map { (c + $0) % n }
        let coordClearMs = sig.yellowMs[c] + sig.redClearanceMs[c]
        let coordGreenMinMs = max(sig.minGreenMs[c], floorMs - v)
        let cycleMinMs = coordGreenMinMs + coordClearMs + others.reduce(0) { $0 + sig.minSplitMs[$1] }
        var lengthMs = cycleMs
        if error != 0 {
            let adjustMax = cycleMs * Limits.transitionAdjustPercentMax / 100
            let shortMax = max(0, min(adjustMax, cycleMs - cycleMinMs))
            let cyclesShort = shortMax > 0 ? ceilDiv(error, shortMax) : Int64.max
            let cyclesLong = ceilDiv(cycleMs - error, adjustMax)
            if cyclesShort <= cyclesLong {
                lengthMs = cycleMs - min(error, shortMax)
            } else {
                lengthMs = cycleMs + min(cycleMs - error, adjustMax)
            }
        }
        lengthMs = max(lengthMs, cycleMinMs)
        let nominal = [p.greensMs[c]] + others.map { p.splitsMs[$0] }
        let minimum = [coordGreenMinMs] + others.map { sig.minSplitMs[$0] }
        let parts = distribute(totalMs: lengthMs - coordClearMs, nominalMs: nominal, minimumMs: minimum)
        var greens = p.greensMs
        greens[c] = parts[0]
        for (j, k) in others.enumerated() {
            greens[k] = parts[j + 1] - sig.yellowMs[k] - sig.redClearanceMs[k]
            assert(greens[k] >= sig.minGreenMs[k])
        }
        let inSync = error == 0 && lengthMs == cycleMs && parts == nominal
        cycle = CyclePlan(plan: planIndex, startMs: v, nextStartMs: v + lengthMs, greensMs: greens, inSync: inSync)
        plannedEndMs = v + parts[0]
        assert(plannedEndMs >= t && plannedEndMs >= greenStartMs + sig.minGreenMs[c])
        mode = inSync ? .coordinated : .transitioning
    }

    /// An input changed at `t` while an interval runs. Greens may end earlier (never before their
    /// floors) or rest; flash may end; yellow and red clearance always run to their end.
    private mutating func reevaluate(at t: Milliseconds) {
        let i = inputs
        switch interval {
        case .flash:
            if !i.flash {
                interval = .flashExitRed
                intervalStartMs = t
                plannedEndMs = t + safety.flashExitRedMs
                mode = .transitioning
                cause = i.planSource
            }
        case .flashExitRed, .yellow, .redClear:
            if i.preempt && !i.flash && mode != .preemptEntry {
                mode = .preemptEntry
                cause = i.preemptSource
            }
        case .green(let k):
            reevaluateGreen(k, at: t)
        }
    }

    /// An input changed at `t` during the green of stage `k`: flash or preemption cut it to its floor
    /// (or a preemption dwells in it), a hold rests in it or ends it, and a resting green is released.
    private mutating func reevaluateGreen(_ k: Int, at t: Milliseconds) {
        let i = inputs
        let dwellFloor = dwellStartMs.map { $0 + safety.preemptDwellMs } ?? Int64.min
        let floor = max(t, greenStartMs + sig.minGreenMs[k], dwellFloor)
        if i.flash {
            if floor < plannedEndMs {
                plannedEndMs = floor
                leaveSteadyCycle()
            }
            cause = i.flashSource
            return
        }
        let p = sig.plans[i.plan]
        if i.preempt {
            if k == p.coordinated {
                if mode != .preemptDwell {
                    mode = .preemptDwell
                    dwellStartMs = t
                }
                plannedEndMs = .max
                cycle = nil
            } else {
                if floor < plannedEndMs {
                    plannedEndMs = floor
                    leaveSteadyCycle()
                }
                mode = .preemptEntry
            }
            cause = i.preemptSource
            return
        }
        if let h = i.hold {
            let target: Int
            switch h {
            case .coordinated: target = p.coordinated
            case .stage(let s): target = s
            }
            if k == target {
                mode = .hold
                plannedEndMs = .max
                cycle = nil
                cause = i.holdSource
            } else if plannedEndMs == .max {
                plannedEndMs = floor
                mode = .transitioning
                cause = i.holdSource
            }
            return
        }
        // Coordination: release a resting green, or carry on.
        if plannedEndMs == .max {
            let wasDwell = mode == .preemptDwell
            if k == p.coordinated {
                startCycle(at: t, plan: i.plan, floorMs: floor)
            } else {
                plannedEndMs = floor
                cycle = nil
                mode = .transitioning
            }
            if wasDwell { mode = .preemptExit }
            cause = wasDwell ? cause : i.holdSource ?? i.planSource
        } else if mode == .preemptEntry {
            mode = .transitioning
            cause = i.preemptSource ?? i.planSource
        }
    }

    /// A green of the running cycle was cut to its floor: the cycle no longer ends on a reference
    /// point, so it is not steady any more (and must not be skipped in closed form).
    private mutating func leaveSteadyCycle() {
        cycle?.inSync = false
        if mode == .coordinated { mode = .transitioning }
    }

    /// The lamps, interval code and stage now.
    func report(signal: SignalID, at t: Milliseconds) -> SignalState {
        let lamps: [Lamp]
        let code: IntervalCode
        var stage: Int?
        var endMs: Milliseconds? = plannedEndMs == .max ? nil : plannedEndMs
        var startMs = intervalStartMs
        let planIndex = cycle?.plan ?? inputs.plan
        switch interval {
        case .green(let k):
            lamps = sig.greenLamps[k]
            stage = k
            let minEnd = greenStartMs + sig.minGreenMs[k]
            if t < minEnd {
                code = .minGreen
                endMs = minEnd
            } else if mode == .hold || mode == .preemptDwell
                || (!sig.plans[planIndex].isFlash && k == sig.plans[planIndex].coordinated)
            {
                code = .greenRest
                startMs = minEnd
            } else {
                code = .extension
                startMs = minEnd
            }
        case .yellow(let k):
            lamps = sig.yellowLamps[k]
            stage = k
            code = .yellow
        case .redClear(let k):
            lamps = sig.redLamps
            stage = k
            code = .redClear
        case .flash:
            lamps = sig.flashLamps
            code = .flash
        case .flashExitRed:
            lamps = sig.redLamps
            code = .redRest
        }
        return SignalState(
            signal: signal, atMs: t, lamps: lamps, interval: code, stage: stage,
            intervalStartMs: startMs,
            intervalEndMs: endMs, mode: mode, plan: sig.planIDs[planIndex],
            cycleStartMs: cycle?.startMs,
            cycleAdjustMs: cycle.map { $0.nextStartMs - $0.startMs - sig.plans[$0.plan].cycleMs },
            cause: cause, nextChangeMs: nil)
    }
}

/// Splits `totalMs` into parts close to `nominalMs`, each at least `minimumMs`, summing exactly to
/// `totalMs`. Returns `nominalMs` unchanged when it already fits. Shortening takes from each part
/// in proportion to its slack above its minimum; lengthening adds in proportion to the nominal
/// parts. Integer-only; rounding remainders go to the earliest parts.
func distribute(totalMs: Milliseconds, nominalMs: [Milliseconds], minimumMs: [Milliseconds]) -> [Milliseconds] {
    precondition(nominalMs.count == minimumMs.count && !nominalMs.isEmpty)
    precondition(totalMs >= minimumMs.reduce(0, +), "distribute: total below the sum of minimums")
    var v = zip(nominalMs, minimumMs).map { max($0, $1) }
    let sum = v.reduce(0, +)
    if sum > totalMs {
        var excess = sum - totalMs
        let slack = zip(v, minimumMs).map { $0 - $1 }
        let slackTotal = slack.reduce(0, +)
        let goal = excess
        for i in v.indices {
            let cut = slack[i] * goal / slackTotal
            v[i] -= cut
            excess -= cut
        }
        for i in v.indices where excess > 0 {
            let cut = min(excess, v[i] - minimumMs[i])
            v[i] -= cut
            excess -= cut
        }
        assert(excess == 0)
    } else if sum < totalMs {
        var extra = totalMs - sum
        let weight = max(1, nominalMs.reduce(0, +))
        let goal = extra
        for i in v.indices {
            let add = nominalMs[i] * goal / weight
            v[i] += add
            extra -= add
        }
        v[0] += extra
    }
    assert(v.reduce(0, +) == totalMs)
    return v
}

// MARK: - Late entry and start-up (see LateEntry.swift)

extension SignalSchedule {
    /// This schedule with flash forced until `untilMs` (the start-up flash); from `untilMs` on, the
    /// inputs are this schedule's.
    func forcingFlash(untilMs: Milliseconds) -> SignalSchedule {
        let i = index(at: untilMs)
        var flashed = inputs[i]
        flashed.flash = true
        flashed.flashSource = nil
        return SignalSchedule(
            startsMs: [Int64.min, untilMs] + startsMs[(i + 1)...],
            inputs: [flashed, inputs[i]] + inputs[(i + 1)...])
    }
}

extension SignalEngine {
    /// The start-up sequence: flash from `atMs` until `flashUntilMs` whatever the schedule says, then
    /// (the engine's ordinary exit from flash) all-red for `flashExitRedMs`, then the coordinated
    /// stage's green and a shortway transition into step. `schedule` is the signal's own; the forced
    /// flash is spliced in front of it.
    init(
        startingUpAt atMs: Milliseconds, flashUntilMs: Milliseconds, signal: ResolvedSignal,
        schedule: SignalSchedule, epochMs: Milliseconds, safety: SafetyTimings
    ) {
        precondition(flashUntilMs >= atMs)
        sig = signal
        self.schedule = schedule.forcingFlash(untilMs: flashUntilMs)
        self.epochMs = epochMs
        self.safety = safety
        nowMs = atMs
        inputIndex = self.schedule.index(at: atMs)
        interval = .flash
        intervalStartMs = atMs
        plannedEndMs = .max
        greenStartMs = atMs
        mode = .flash
        cycle = nil
        dwellStartMs = nil
        cause = nil
        // No flash to show (a zero start-up flash): the all-red starts now.
        if !inputs.flash { reevaluate(at: atMs) }
    }

    /// Moves the clock to `t` without acting on a wake at `t` itself (the caller decides what happens
    /// then); input segments starting at `t` are entered.
    mutating func advanceClock(to t: Milliseconds) {
        if t > nowMs { advance(to: t - 1) }
        while schedule.nextStart(after: inputIndex) <= t { inputIndex += 1 }
        nowMs = t
    }

    /// Late entry: the lamps keep the state `old` has reached (the interval it is timing, its start,
    /// its floors, the cycle it laid out), and from `old.nowMs` on the engine follows `schedule` — the
    /// signal's inputs under a timeline that `old` did not know. This is exactly an input change at
    /// `old.nowMs`, which the engine handles at safe points only: the current green ends no earlier
    /// than its floors, yellow and red clearance run in full, and the next coordinated green starts a
    /// shortway transition towards the schedule's offsets.
    ///
    /// `flashUntilMs`: a start-up flash still running (the schedule is then forced to flash until it).
    init(
        resuming old: SignalEngine, signal: ResolvedSignal, schedule: SignalSchedule, epochMs: Milliseconds,
        safety: SafetyTimings, flashUntilMs: Milliseconds?
    ) {
        precondition(old.sig.stageCount == signal.stageCount, "the signal's stages changed")
        sig = signal
        if let f = flashUntilMs, f > old.nowMs {
            self.schedule = schedule.forcingFlash(untilMs: f)
        } else {
            self.schedule = schedule
        }
        self.epochMs = epochMs
        self.safety = safety
        nowMs = old.nowMs
        inputIndex = self.schedule.index(at: old.nowMs)
        interval = old.interval
        intervalStartMs = old.intervalStartMs
        plannedEndMs = old.plannedEndMs
        greenStartMs = old.greenStartMs
        mode = old.mode
        dwellStartMs = old.dwellStartMs
        cause = old.cause
        // Plans are referred to by index; map the running cycle's plan by id (a snapshot may carry a
        // corridor with plans added). Without it the cycle is dropped: the greens still run to their
        // floors and the next coordinated green lays out a new cycle.
        if let c = old.cycle, let i = signal.planIDs.firstIndex(of: old.sig.planIDs[c.plan]),
            !signal.plans[i].isFlash, signal.plans[i].coordinated == old.sig.plans[c.plan].coordinated
        {
            var mapped = c
            mapped.plan = i
            // A plan replaced under the same name: the cycle is no longer on its reference points
            // and must not be skipped in closed form (the next coordinated green corrects it).
            if signal.plans[i] != old.sig.plans[c.plan] { mapped.inSync = false }
            cycle = mapped
        } else {
            cycle = nil
            if mode == .coordinated { mode = .transitioning }
        }
        if old.inputs != inputs {
            reevaluate(at: nowMs)
        }
    }

    /// True when this engine and `other`, at the same instant, will show the same lamps from now on:
    /// the same interval with the same start and planned end, the same floors while green, the same
    /// cycle and mode, and the same inputs until the same next input change (both then follow the same
    /// schedule). In flash the start of the flash does not matter (the exit from flash starts afresh);
    /// outside green the green's start and the dwell's do not (they only set a green's floors).
    func sameFuture(as other: SignalEngine) -> Bool {
        guard nowMs == other.nowMs, interval == other.interval, mode == other.mode, inputs == other.inputs,
            schedule.nextStart(after: inputIndex) == other.schedule.nextStart(after: other.inputIndex),
            sig == other.sig, epochMs == other.epochMs, safety == other.safety
        else { return false }
        switch interval {
        case .flash:
            return true
        case .green:
            return intervalStartMs == other.intervalStartMs && plannedEndMs == other.plannedEndMs
                && cycle == other.cycle
                && greenStartMs == other.greenStartMs && dwellStartMs == other.dwellStartMs
        case .yellow, .redClear, .flashExitRed:
            return intervalStartMs == other.intervalStartMs && plannedEndMs == other.plannedEndMs
                && cycle == other.cycle
        }
    }

    /// The start-up all-red (after the start-up flash) is still running at `nowMs`.
    var inStartupRed: Bool { interval == .flashExitRed }

    /// Start-up pickup: the lamps have been all red since the start-up flash ended, and at `nowMs` they
    /// enter the schedule `target` (at the same instant) at a safe point. Returns the engine to show, or
    /// nil with the red extended to the schedule's next green start (or flash) when now is not one:
    /// - the schedule flashes: flash (red to flashing is safe);
    /// - the schedule is green and its green has at least the stage's min green left (or rests): show
    ///   that green from now, to the schedule's planned end; its floors count from now;
    /// - otherwise (yellow, red clearance, or a green about to end): stay all red until the schedule's
    ///   next green starts, and enter there exactly in step.
    mutating func pickUp(_ target: SignalEngine) -> SignalEngine? {
        precondition(interval == .flashExitRed && target.nowMs == nowMs)
        let t = nowMs
        switch target.interval {
        case .flash:
            return target
        case .green(let k) where target.plannedEndMs == .max || target.plannedEndMs - t >= sig.minGreenMs[k]:
            var e = target
            e.intervalStartMs = t
            e.greenStartMs = t
            return e
        default:
            var probe = target
            var steps = 0
            while let w = probe.nextWakeMs {
                probe.advance(to: w)
                if case .green = probe.interval, probe.intervalStartMs == w { break }
                if probe.interval == .flash { break }
                steps += 1
                precondition(steps < Limits.engineStepsMax)
            }
            plannedEndMs = probe.nowMs > t ? probe.nowMs : t + safety.flashExitRedMs
            return nil
        }
    }
}
