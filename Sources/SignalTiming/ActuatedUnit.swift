// One actuated signal as its cabinet runs it (issue 20, the daemon's part): the dual-ring controller
// stepped every 100 ms on the replicated mode and plan, its lamps and pedestrian heads checked by an
// independent dual-ring conflict monitor (a trip latches flash), and flash around it.
//
// What it follows (the stage model's `SignalState` for this signal, from the replicated timeline):
// - flash (the start-up flash, an ordered flash): flash. From running, the controller first stops
//   (`DualRingController.stopping`: every green ends at its first safe point, full yellow and red
//   clearance, nothing new starts), then flashes once all is red.
// - leaving flash: all red for the corridor's flash-exit red, then a new controller starts there (its
//   own start-up red, the longest red clearance), enters with the coordinated phases 2 and 6 and runs them
//   to the plan's first yield point at least their minimum after they began (at most one cycle): in
//   transition (event 150, 4) until the first local zero its coordinated green spans, then in step (150, 1).
//   A controller starting mid-cycle (a restart, a late entry) does exactly this.
// - a plan change: `setPlan` at the instant the replicated timeline changes the plan.
// - preemption (entry and dwell): the controller's preemption input (2 and 6 dwell).
// - hold: not honoured by the dual-ring controller yet; the API refuses a hold for an actuated signal
//   (docs/signal-timing.md).
// Pure and deterministic, like the controller: integer ms, no clock.

/// Why an actuated unit flashes (the lamp log's event 173 reasons).
public enum UnitFlash: Hashable, Sendable {
    case none
    /// The start-up flash, or an ordered flash: what the replicated timeline says.
    case ordered
    /// The conflict monitor tripped: latched until a person resets it.
    case monitor(String)
}

public struct ActuatedUnit: Sendable {
    public private(set) var signal: ActuatedSignal
    public let referenceMs: Milliseconds
    public let flashExitRedMs: Milliseconds
    public private(set) var nowMs: Milliseconds
    public private(set) var controller: DualRingController?
    public private(set) var monitor: ConflictMonitor
    public private(set) var flash: UnitFlash = .ordered
    /// Leaving flash: all red until then, then a controller starts.
    public private(set) var exitRedUntilMs: Milliseconds?
    public private(set) var lamps: [Lamp]
    public private(set) var peds: [PedLamp]
    /// The corridor's plan ids (pattern numbers of event 131: index + 1; 255 flash).
    let planIDs: [PlanID]

    /// Starts flashing at `startMs` rounded up to the reference's 100 ms grid (the start-up flash:
    /// what the timeline says decides when it ends).
    public init(
        signal: ActuatedSignal, corridorPlans: [PlanID], referenceMs: Milliseconds, flashExitRedMs: Milliseconds,
        startMs: Milliseconds
    ) {
        self.signal = signal
        self.referenceMs = referenceMs
        self.flashExitRedMs = flashExitRedMs
        self.planIDs = corridorPlans
        let tick = ActuatedLimits.tickMs
        nowMs = referenceMs + ceilDiv(startMs - referenceMs, tick) * tick
        monitor = ConflictMonitor(dualRing: signal.ring)
        lamps = signal.ring.phases.map(\.flashLamp)
        peds = signal.ring.phases.map { _ in .dontWalk }
        monitor.observe(atMs: nowMs, lamps: lamps, peds: peds)
    }

    /// The events of the start (184 power restored, 131 flash pattern, 150 free, 173 start-up flash).
    public func startEvents() -> [HiResEvent] {
        [
            HiResEvent(atMs: nowMs, code: HiResEventCode.powerRestored, param: 0),
            HiResEvent(atMs: nowMs, code: HiResEventCode.patternChange, param: 255),
            HiResEvent(atMs: nowMs, code: HiResEventCode.coordState, param: CoordinationState.free.rawValue),
            HiResEvent(atMs: nowMs, code: HiResEventCode.unitFlashStatus, param: 7)
        ]
    }

    public var isFlashing: Bool { flash != .none }

    /// The next step's end (`nowMs + 100 ms`).
    public var nextStepMs: Milliseconds { nowMs + ActuatedLimits.tickMs }

    /// One 100 ms step to `nowMs + 100`, following `state` (this signal's stage-model state at that
    /// instant: its mode and plan are the replicated ones) with this step's local inputs. Returns the
    /// events of the step in order.
    public mutating func step(following state: SignalState, inputs: ControllerInputs) -> [HiResEvent] {
        nowMs += ActuatedLimits.tickMs
        let t = nowMs
        var out: [HiResEvent] = []
        if case .monitor = flash { return out }
        if state.mode == .flash {
            exitRedUntilMs = nil
            if var c = controller {
                c.stopping = true
                out += unitEvents(c.step(inputs))
                controller = c
                if c.allRed { enterFlash(&out) }
            } else if flash == .none {
                enterFlash(&out)
            }
        } else if flash == .ordered {
            // Leaving flash: steady red first.
            flash = .none
            exitRedUntilMs = t + flashExitRedMs
            out.append(HiResEvent(atMs: t, code: HiResEventCode.unitFlashStatus, param: 2))
        } else if let until = exitRedUntilMs {
            if t >= until, signal.plans.contains(where: { $0.id == state.plan }) {
                exitRedUntilMs = nil
                startController(plan: state.plan, &out)
            }
        } else if var c = controller {
            if c.layout.plan.id != state.plan, let events = try? c.setPlan(state.plan) {
                out += events.filter { $0.code != HiResEventCode.patternChange }
                out.append(HiResEvent(atMs: t, code: HiResEventCode.patternChange, param: pattern(state.plan)))
            }
            var i = inputs
            i.preempt = state.mode == .preemptEntry || state.mode == .preemptDwell
            out += unitEvents(c.step(i))
            controller = c
        }
        show(&out)
        return out
    }

    /// The replicated plans changed (an engineer's `update-plan`): the running controller takes the new
    /// cycle, offset and splits from its next decision (`DualRingController.updatePlans`). Refused (nothing
    /// changes) when the phases differ or a new plan does not lay out.
    public mutating func update(signal new: ActuatedSignal) throws -> [HiResEvent] {
        guard new.ring == signal.ring else { throw TimingError("the dual ring changed: restart the controller") }
        var out: [HiResEvent] = []
        if var c = controller {
            out = try c.updatePlans(new.plans)
            controller = c
        }
        signal = new
        return out
    }

    mutating func startController(plan: PlanID, _ out: inout [HiResEvent]) {
        guard
            let c = try? signal.controller(plan: plan, referenceMs: referenceMs, startMs: nowMs)
        else { return }
        controller = c
        out.append(HiResEvent(atMs: nowMs, code: HiResEventCode.patternChange, param: pattern(plan)))
        out.append(HiResEvent(atMs: nowMs, code: HiResEventCode.coordState, param: c.coordination.rawValue))
    }

    mutating func enterFlash(_ out: inout [HiResEvent]) {
        controller = nil
        flash = .ordered
        out.append(HiResEvent(atMs: nowMs, code: HiResEventCode.patternChange, param: 255))
        out.append(HiResEvent(atMs: nowMs, code: HiResEventCode.coordState, param: CoordinationState.free.rawValue))
        out.append(HiResEvent(atMs: nowMs, code: HiResEventCode.unitFlashStatus, param: 3))
    }

    /// The controller's events, with its pattern numbers (131) left out: the unit logs the corridor's.
    func unitEvents(_ e: [HiResEvent]) -> [HiResEvent] { e.filter { $0.code != HiResEventCode.patternChange } }

    func pattern(_ plan: PlanID) -> Int { (planIDs.firstIndex(of: plan) ?? 0) + 1 }

    /// Sets the lamps for the state reached and passes a change through the monitor; a fault latches flash.
    mutating func show(_ out: inout [HiResEvent]) {
        let n = signal.ring.phases.count
        var l: [Lamp]
        var p: [PedLamp] = Array(repeating: .dontWalk, count: n)
        if flash != .none {
            l = signal.ring.phases.map(\.flashLamp)
        } else if let c = controller {
            l = c.lamps
            p = c.pedLamps
        } else {
            l = Array(repeating: .red, count: n)
        }
        guard l != lamps || p != peds else { return }
        let faults = monitor.observe(atMs: nowMs, lamps: l, peds: p)
        if let f = faults.first {
            flash = .monitor(f.description)
            controller = nil
            l = signal.ring.phases.map(\.flashLamp)
            p = Array(repeating: .dontWalk, count: n)
            out.append(HiResEvent(atMs: nowMs, code: HiResEventCode.unitFlashStatus, param: 6))
        }
        lamps = l
        peds = p
    }
}
