/// The replicated control history of a corridor, compiled for queries.
///
/// The lamp state of signal S at time t is a pure function of (corridor, reference epoch,
/// baseline, events, t): `state(of:at:)` replays S's engine from the baseline, skipping steady
/// cycles in closed form, so its cost is bounded by the events (a few cycles of interval steps
/// each), not by t. For a lamp driver polling every 100 ms, `cursor(of:at:)` gives the same answers
/// incrementally.
public struct CorridorTimeline: Sendable {
    public let corridor: Corridor
    /// System reference time, ms since the Unix epoch: each signal's local cycle time is
    /// `(t − referenceEpochMs − offset) mod cycle`.
    public let referenceEpochMs: Milliseconds
    public let baseline: Baseline
    /// The events, in the order they take effect (stable for equal times).
    public let events: [ControlEvent]

    let signals: [ResolvedSignal]
    let schedules: [SignalSchedule]
    /// What each signal's schedule was compiled from (for `init(…reusing:)`).
    let scheduleInputs: [SignalScheduleInputs]
    /// Each signal's index in `corridor.signals`.
    let indexByID: [SignalID: Int]
    /// The events that concern every signal, in effect order (`eventsBySignal`).
    let globalEvents: [ControlEvent]

    /// Compiles a timeline. Refuses events that name unknown plans, signals or stages, preemptions
    /// over non-consecutive signals, and events before the baseline.
    ///
    /// `previous`, when given, must have been compiled for the same corridor (the caller knows: the
    /// state machine passes it only when adding an event). A signal whose inputs — the events that
    /// concern it (corridor-wide ones and its own) and its preemption call windows — are those it had in
    /// `previous` keeps its compiled schedule instead of compiling it again (issue 19: adding a hold of
    /// one signal compiled all 47). The schedule is a pure function of those inputs, so the result is
    /// the same timeline either way (`TimelineReuseTests`).
    public init(
        corridor: Corridor, referenceEpochMs: Milliseconds, baseline: Baseline,
        events: [ControlEvent], reusing previous: CorridorTimeline? = nil
    ) throws {
        guard let base = corridor.planIndex(of: baseline.plan) else {
            throw TimingError("baseline plan '\(baseline.plan)' does not exist")
        }
        guard events.count <= Limits.timelineEventsMax else {
            throw TimingError(
                "\(events.count) events exceed the limit of \(Limits.timelineEventsMax); compact into a baseline")
        }
        let sorted = Self.inEffectOrder(events)
        let reused = previous.flatMap {
            $0.referenceEpochMs == referenceEpochMs && $0.baseline == baseline
                && $0.scheduleInputs.count == corridor.signals.count ? $0 : nil
        }
        let indexByID =
            reused?.indexByID
            ?? Dictionary(corridor.signals.indices.map { (corridor.signals[$0].id, $0) }, uniquingKeysWith: min)
        let (preemptions, cancels) = try Self.checkEvents(
            sorted, corridor: corridor, baseline: baseline, indexByID: indexByID)
        let windows = Self.callWindows(
            corridor: corridor, preemptions: preemptions, cancels: cancels, indexByID: indexByID)
        let (globals, own) = Self.eventsBySignal(sorted, count: corridor.signals.count, indexByID: indexByID)
        // A corridor-wide event concerns every signal: when those differ, every schedule is compiled.
        let globalsSame = reused?.globalEvents == globals
        var schedules: [SignalSchedule] = []
        var inputs: [SignalScheduleInputs] = []
        schedules.reserveCapacity(corridor.signals.count)
        inputs.reserveCapacity(corridor.signals.count)
        for i in corridor.signals.indices {
            let w = windows[i].sorted { ($0.callMs, $0.source) < ($1.callMs, $1.source) }
            let key = SignalScheduleInputs(own: own[i], windows: w)
            if globalsSame, let p = reused, p.scheduleInputs[i] == key {
                schedules.append(p.schedules[i])
            } else {
                // The events that do not concern signal i change nothing in its schedule (`SignalSchedule.build`
                // skips them), so it is compiled from its own: O(its events), not O(all events).
                schedules.append(
                    try SignalSchedule.build(
                        corridor: corridor, signalIndex: i, baseline: base,
                        events: key.events(merging: globals), windows: w))
            }
            inputs.append(key)
        }
        self.globalEvents = globals
        self.scheduleInputs = inputs
        self.corridor = corridor
        self.referenceEpochMs = referenceEpochMs
        self.baseline = baseline
        self.events = sorted
        self.indexByID = indexByID
        self.signals =
            reused?.signals
            ?? corridor.signals.indices.map {
                ResolvedSignal(signal: corridor.signals[$0], index: $0, corridor: corridor)
            }
        self.schedules = schedules
    }

    /// `events` in the order they take effect, stable for equal times (no sort when they already are: the
    /// state machine appends in log order, which is effect order but for a mode command queued at a boundary).
    static func inEffectOrder(_ events: [ControlEvent]) -> [ControlEvent] {
        var ordered = true
        var i = 1
        while ordered && i < events.count {
            ordered = events[i - 1].effectiveAtMs <= events[i].effectiveAtMs
            i += 1
        }
        if ordered { return events }
        return events.enumerated().sorted {
            ($0.element.effectiveAtMs, $0.offset) < ($1.element.effectiveAtMs, $1.offset)
        }.map(\.element)
    }

    /// The events that concern every signal (mode changes and corridor flashes), and those that concern each
    /// signal alone (its own flash, hold and release), each with the number of corridor-wide events before it,
    /// all in effect order (`SignalScheduleInputs`); preemptions reach the signals as call windows. One pass over
    /// the events (the signals are known: `checkEvents` ran first).
    static func eventsBySignal(
        _ sorted: [ControlEvent], count: Int, indexByID: [SignalID: Int]
    ) -> (globals: [ControlEvent], own: [[SignalScheduleInputs.Ranked]]) {
        var globals: [ControlEvent] = []
        var own = Array(repeating: [SignalScheduleInputs.Ranked](), count: count)
        for e in sorted {
            switch e.action {
            case .setPlan, .flash(nil), .unflash(nil):
                globals.append(e)
            case .flash(let s?), .unflash(let s?), .hold(let s, _), .release(let s):
                own[indexByID[s]!].append(.init(event: e, globalsBefore: globals.count))
            case .preempt, .cancelPreemption:
                break
            }
        }
        return (globals, own)
    }

    /// Checks each event (in effect order) against the corridor and the baseline; the preemptions by id, and
    /// the earliest cancellation of each cancelled preemption.
    static func checkEvents(
        _ sorted: [ControlEvent], corridor: Corridor, baseline: Baseline, indexByID: [SignalID: Int]
    ) throws -> (preemptions: [EventID: (ControlEvent, Preemption)], cancels: [EventID: Milliseconds]) {
        var preemptions: [EventID: (ControlEvent, Preemption)] = [:]
        var cancels: [EventID: Milliseconds] = [:]
        for e in sorted {
            guard e.effectiveAtMs >= baseline.atMs else {
                throw TimingError(
                    "event \(e.id) takes effect at \(e.effectiveAtMs), before the baseline at \(baseline.atMs)")
            }
            switch e.action {
            case .setPlan(let id):
                guard corridor.planIndex(of: id) != nil else {
                    throw TimingError("event \(e.id): unknown plan '\(id)'")
                }
            case .flash(let s?), .unflash(let s?), .hold(let s, _), .release(let s):
                guard let i = indexByID[s] else {
                    throw TimingError("event \(e.id): unknown signal \(s)")
                }
                if case .hold(_, let stage?) = e.action, corridor.signals[i].stageIndex(named: stage) == nil {
                    throw TimingError("event \(e.id): signal \(s) has no stage '\(stage)'")
                }
            case .flash(nil), .unflash(nil):
                break
            case .preempt(let p):
                try Self.validate(p, corridor: corridor, event: e.id, indexByID: indexByID)
                guard preemptions[e.id] == nil else { throw TimingError("event \(e.id): duplicate event id") }
                preemptions[e.id] = (e, p)
            case .cancelPreemption(let target):
                if cancels[target] == nil { cancels[target] = e.effectiveAtMs }
            }
        }
        return (preemptions, cancels)
    }

    /// Each signal's preemption call windows, in preemption-id order (the caller sorts them by call time,
    /// then id); a window ends after the lead and clearance, at the maximum presence, or at a cancellation.
    static func callWindows(
        corridor: Corridor, preemptions: [EventID: (ControlEvent, Preemption)], cancels: [EventID: Milliseconds],
        indexByID: [SignalID: Int]
    ) -> [[SignalSchedule.CallWindow]] {
        var windows = Array(repeating: [SignalSchedule.CallWindow](), count: corridor.signals.count)
        for (id, (e, p)) in preemptions.sorted(by: { $0.key < $1.key }) {
            let first = corridor.signals[indexByID[p.signals[0]]!].positionMetres
            for s in p.signals {
                let i = indexByID[s]!
                let call =
                    e.effectiveAtMs
                    + travelMs(metres: abs(corridor.signals[i].positionMetres - first), speedKmh: p.speedKmh)
                var release = min(call + p.leadMs + p.clearMs, call + corridor.safety.preemptMaxPresenceMs)
                if let c = cancels[id] {
                    if c <= call { continue }
                    release = min(release, c)
                }
                windows[i].append(.init(callMs: call, releaseMs: release, source: id))
            }
        }
        return windows
    }

    static func validate(_ p: Preemption, corridor: Corridor, event: EventID, indexByID: [SignalID: Int]) throws {
        guard !p.signals.isEmpty else { throw TimingError("event \(event): preemption names no signals") }
        guard (Limits.progressionSpeedKmhMin...Limits.progressionSpeedKmhMax).contains(p.speedKmh) else {
            throw TimingError(
                "event \(event): preemption speed \(p.speedKmh) km/h outside \(Limits.progressionSpeedKmhMin)...\(Limits.progressionSpeedKmhMax)"
            )
        }
        guard p.leadMs >= 0, p.clearMs >= 0, p.leadMs + p.clearMs <= Limits.preemptMaxPresenceMsMax else {
            throw TimingError(
                "event \(event): preemption lead and clear times must be non-negative and at most \(Limits.preemptMaxPresenceMsMax) ms together"
            )
        }
        var previous: Int?
        for s in p.signals {
            guard let i = indexByID[s] else {
                throw TimingError("event \(event): preemption names unknown signal \(s)")
            }
            if let prev = previous {
                let expected = p.direction == .increasing ? prev + 1 : prev - 1
                guard i == expected else {
                    throw TimingError(
                        "event \(event): preemption signals must be consecutive in the \(p.direction) direction; \(s) does not follow \(corridor.signals[prev].id)"
                    )
                }
            }
            previous = i
        }
    }

    func index(of signal: SignalID) -> Int {
        guard let i = indexByID[signal] else { preconditionFailure("unknown signal \(signal)") }
        return i
    }

    /// What `signal` shows at `t` (≥ the baseline), why, until when, and when it next changes.
    public func state(of signal: SignalID, at t: Milliseconds) -> SignalState {
        var c = cursor(of: signal, at: t)
        return c.state(at: t)
    }

    /// A cursor positioned at `t`, to be advanced forward.
    public func cursor(of signal: SignalID, at t: Milliseconds) -> SignalCursor {
        precondition(t >= baseline.atMs, "query at \(t) before the baseline at \(baseline.atMs)")
        let i = index(of: signal)
        var engine = SignalEngine(
            signal: signals[i], schedule: schedules[i], epochMs: referenceEpochMs,
            safety: corridor.safety, baselineAtMs: baseline.atMs)
        engine.advance(to: t)
        return SignalCursor(signal: signal, engine: engine)
    }

    /// Every state change of `signal` (lamps, interval code or mode) in `fromMs...throughMs`,
    /// starting with the state at `fromMs`.
    public func changes(of signal: SignalID, fromMs: Milliseconds, throughMs: Milliseconds) -> [SignalState] {
        var c = cursor(of: signal, at: fromMs)
        var out = [c.state(at: fromMs)]
        while let next = out[out.count - 1].nextChangeMs, next <= throughMs {
            out.append(c.state(at: next))
        }
        return out
    }

    /// When every signal has settled (the latest of `settledAtMs(of:)`, and at least the baseline), nil if
    /// one of them does not settle: where a state machine may put a new baseline.
    public var allSettledAtMs: Milliseconds? {
        var latest = baseline.atMs
        for s in corridor.signals {
            guard let t = settledAtMs(of: s.id) else { return nil }
            latest = max(latest, t)
        }
        return latest
    }

    /// The first cycle start, after the last input that concerns `signal`, from which it runs in
    /// steady coordination; nil if its inputs end in flash, hold or preemption. From then on its
    /// state is the closed form of the plan, so a state machine may compact history into a new
    /// baseline at the latest of these over all signals.
    public func settledAtMs(of signal: SignalID) -> Milliseconds? {
        let i = index(of: signal)
        let schedule = schedules[i]
        let last = schedule.startsMs[schedule.startsMs.count - 1]
        guard schedule.inputs[schedule.inputs.count - 1].isClean else { return nil }
        var c = cursor(of: signal, at: max(baseline.atMs, last))
        var steps = 0
        while true {
            if c.engine.mode == .coordinated, let cycle = c.engine.cycle, cycle.inSync,
                c.engine.inputs.plan == cycle.plan
            {
                return cycle.startMs
            }
            guard let w = c.engine.nextWakeMs else { return nil }
            c.engine.advance(to: w)
            steps += 1
            precondition(steps < Limits.engineStepsMax)
        }
    }
}

/// Incremental queries of one signal: each `state(at:)` call must not go back in time.
public struct SignalCursor: Sendable {
    public let signal: SignalID
    var engine: SignalEngine

    /// The state at `t` (≥ the previous query), including the next change time.
    public mutating func state(at t: Milliseconds) -> SignalState {
        engine.advance(to: t)
        var s = engine.report(signal: signal, at: t)
        s.nextChangeMs = engine.nextChange(after: s, signal: signal)
        return s
    }
}
