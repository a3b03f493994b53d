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
            return ResolvedPlan(isFlash: false, cycleMs: p.cycleMs, offsetMs: sp.offsetMs,
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
    init(signal: ResolvedSignal, schedule: SignalSchedule, epochMs: Milliseconds, safety: SafetyTimings,
         baselineAtMs: Milliseconds) {
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
              inputs.plan == c.plan else { return }
        let p = sig.plans[c.plan]
        let bound = min(limit, schedule.nextStart(after: inputIndex) - 1)
        guard bound >= c.startMs else { return }
        let r = c.startMs + (bound - c.startMs) / p.cycleMs * p.cycleMs
        guard r > c.startMs else { return }
        assert(nowMs < r, "a steady cycle ends at the next reference point: now \(nowMs) r \(r) cycle \(c) interval \(interval) end \(plannedEndMs) inputs \(inputs)")
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
            } else if mode == .hold || mode == .preemptDwell || (!sig.plans[planIndex].isFlash && k == sig.plans[planIndex].coordinated) {
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
        return SignalState(signal: signal, atMs: t, lamps: lamps, interval: code, stage: stage,
                           intervalStartMs: startMs,
                           intervalEndMs: endMs, mode: mode, plan: sig.planIDs[planIndex],
                           cycleStartMs: cycle?.startMs, cause: cause, nextChangeMs: nil)
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
