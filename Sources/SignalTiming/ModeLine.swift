/// Where the mode (plan) in force comes from.
public enum ModeSource: Hashable, Sendable {
    /// The baseline's plan (the corridor's initial plan, or what history was compacted into).
    case baseline
    /// An operator's mode command, by its event id (log index).
    case override(EventID)
    /// The time-of-day schedule.
    case schedule
}

/// An operator's mode command as the mode line sees it.
public struct ModeOverride: Hashable, Sendable {
    public var id: EventID
    public var plan: PlanID
    public var effectiveAtMs: Milliseconds
    /// When the schedule takes over again (a cycle boundary); nil: until the next mode command.
    public var untilMs: Milliseconds?
    public init(id: EventID, plan: PlanID, effectiveAtMs: Milliseconds, untilMs: Milliseconds?) {
        self.id = id
        self.plan = plan
        self.effectiveAtMs = effectiveAtMs
        self.untilMs = untilMs
    }
}

/// The schedule the corridor follows and since when (a cycle boundary): `id` is the log index of the
/// command that set it, 0 for the corridor file's.
public struct ScheduleInForce: Hashable, Sendable {
    public var schedule: TimeOfDaySchedule
    public var sinceMs: Milliseconds
    public var id: EventID
    public init(schedule: TimeOfDaySchedule, sinceMs: Milliseconds, id: EventID) {
        self.schedule = schedule
        self.sinceMs = sinceMs
        self.id = id
    }
}

/// A stretch of time with one mode.
public struct ModeSegment: Hashable, Sendable {
    public var startMs: Milliseconds
    public var plan: PlanID
    public var source: ModeSource
    /// The id a timeline event starting this segment carries.
    public var eventID: EventID?
}

/// The mode in force at corridor time t as a pure function of (corridor, reference epoch, baseline,
/// overrides, schedules, t): an operator's override while it lasts, else the plan of the schedule in
/// force, else the baseline's. Every replica evaluates the same function of the same replicated state,
/// so a controller cut off from the others keeps following the schedule on its own, and nothing derived
/// from the time enters the state.
///
/// A replaced schedule stays in the list until history is compacted past its successor's start, so
/// that the past replays as it happened. Scheduled changes take effect at a cycle boundary: the first
/// `referenceEpochMs + k·cycle` at or after the action's time, for the cycle of the plan being left (of
/// the plan entered when leaving flash; at the action's time between two flash plans) — the rule the
/// mode command uses.
public struct ModeLine: Sendable {
    public let corridor: Corridor
    public let referenceEpochMs: Milliseconds
    public let baseline: Baseline
    /// In the order they take effect (the log's).
    public let overrides: [ModeOverride]
    /// In the order they take effect (increasing `sinceMs`).
    public let schedules: [ScheduleInForce]

    public init(
        corridor: Corridor, referenceEpochMs: Milliseconds, baseline: Baseline, overrides: [ModeOverride],
        schedules: [ScheduleInForce]
    ) {
        self.corridor = corridor
        self.referenceEpochMs = referenceEpochMs
        self.baseline = baseline
        self.overrides = overrides
        self.schedules = schedules
    }

    public init(
        corridor: Corridor, referenceEpochMs: Milliseconds, baseline: Baseline, overrides: [ModeOverride],
        schedule: ScheduleInForce?
    ) {
        self.init(
            corridor: corridor, referenceEpochMs: referenceEpochMs, baseline: baseline, overrides: overrides,
            schedules: schedule.map { [$0] } ?? [])
    }

    /// The first `referenceEpochMs + k·cycle` at or after `t` (`t` itself for a cycle of 0).
    public static func boundary(atOrAfter t: Milliseconds, epochMs: Milliseconds, cycleMs: Milliseconds) -> Milliseconds
    {
        guard cycleMs > 0 else { return t }
        return epochMs - floorDiv(epochMs - t, cycleMs) * cycleMs
    }

    /// The plan's cycle, 0 for a flash plan.
    public func cycleMs(_ p: PlanID) -> Milliseconds {
        guard let plan = corridor.plan(p), !plan.isFlash else { return 0 }
        return plan.cycleMs
    }

    /// When a change from `previous` to `plan` asked for at `atMs` takes effect.
    public func aligned(_ atMs: Milliseconds, from previous: PlanID, to plan: PlanID) -> Milliseconds {
        let c = cycleMs(previous) > 0 ? cycleMs(previous) : cycleMs(plan)
        return Self.boundary(atOrAfter: atMs, epochMs: referenceEpochMs, cycleMs: c)
    }

    /// The schedule in force at `t`, with the start of its successor (or `Int64.max`).
    func scheduleIndex(at t: Milliseconds) -> Int? { schedules.lastIndex { $0.sinceMs <= t } }
    func end(of i: Int) -> Milliseconds { i + 1 < schedules.count ? schedules[i + 1].sinceMs : Int64.max }

    /// The schedules' changes that take effect in `(afterMs, throughMs]`, at their cycle boundaries, each
    /// from the schedule in force then.
    public func scheduledChanges(
        after afterMs: Milliseconds, through throughMs: Milliseconds
    )
        -> [(atMs: Milliseconds, plan: PlanID, previous: PlanID)]
    {
        var out: [(Milliseconds, PlanID, PlanID)] = []
        for (i, s) in schedules.enumerated() {
            let lo = max(afterMs, s.sinceMs)
            let hi = min(throughMs, end(of: i) - 1)
            guard hi > lo else { continue }
            // A change whose action is up to one cycle before `lo` may take effect after it.
            for c in s.schedule.nominalChanges(after: lo - Limits.cycleMsMax, through: hi) {
                let at = aligned(c.atMs, from: c.previous, to: c.plan)
                if at > lo && at <= hi { out.append((at, c.plan, c.previous)) }
            }
        }
        return out
    }

    /// The plan of the schedule in force at `t` (changes counted from their cycle boundaries); nil
    /// before the first schedule.
    public func scheduledPlan(at t: Milliseconds) -> PlanID? {
        guard let i = scheduleIndex(at: t) else { return nil }
        let s = schedules[i].schedule
        if let c = s.nominalChanges(after: t - Limits.cycleMsMax, through: t).last,
            aligned(c.atMs, from: c.previous, to: c.plan) > t
        {
            return c.previous
        }
        return s.nominalPlan(at: t)
    }

    /// The next scheduled change after `t`, at its cycle boundary (within a year and a bit), or nil.
    public func nextScheduledChange(after t: Milliseconds) -> (atMs: Milliseconds, plan: PlanID)? {
        guard !schedules.isEmpty else { return nil }
        var from = t
        let end = t + 400 * 86_400_000
        while from < end {
            let to = min(end, from + 8 * 86_400_000)
            if let c = scheduledChanges(after: from, through: to).first { return (c.atMs, c.plan) }
            from = to
        }
        return nil
    }

    /// The mode at `t` (≥ the baseline): plan, where it comes from, and the id its timeline event carries.
    public func mode(at t: Milliseconds) -> ModeSegment {
        var last: ModeOverride?
        for o in overrides where o.effectiveAtMs <= t { last = o }
        let sched = scheduleIndex(at: t).map { schedules[$0] }
        if let o = last, !(sched.map { $0.sinceMs > o.effectiveAtMs } ?? false), o.untilMs.map({ t < $0 }) ?? true {
            return ModeSegment(startMs: o.effectiveAtMs, plan: o.plan, source: .override(o.id), eventID: o.id)
        }
        if let s = sched, let p = scheduledPlan(at: t) {
            return ModeSegment(startMs: t, plan: p, source: .schedule, eventID: s.id)
        }
        if let o = last {
            return ModeSegment(startMs: o.effectiveAtMs, plan: o.plan, source: .override(o.id), eventID: o.id)
        }
        return ModeSegment(startMs: baseline.atMs, plan: baseline.plan, source: .baseline, eventID: nil)
    }

    /// The segments from the baseline through `throughMs`: a new segment wherever the plan or its
    /// source changes, and at every override's start (even to the plan in force, as a mode command
    /// always did). `startMs` of each is exact. The cost grows with the span from the baseline; a query
    /// about one instant uses `segment(at:)` or `segments(from:through:)`, which give the same segments.
    public func segments(through throughMs: Milliseconds) -> [ModeSegment] {
        let points = changePoints(after: baseline.atMs, through: throughMs, includingStart: true)
        return walk(from: baselineSegment, points: points)
    }

    /// The segment the baseline starts.
    var baselineSegment: ModeSegment {
        ModeSegment(startMs: baseline.atMs, plan: baseline.plan, source: .baseline, eventID: nil)
    }

    /// The instants in `(afterMs, throughMs]` (with `includingStart`, `[afterMs, throughMs]`: an override or a
    /// schedule may start at the baseline itself; a scheduled change there is the baseline's) at which the mode
    /// may change, sorted.
    func changePoints(
        after afterMs: Milliseconds, through throughMs: Milliseconds, includingStart: Bool = false
    ) -> [Milliseconds] {
        var points: [Milliseconds] = []
        for o in overrides {
            points.append(o.effectiveAtMs)
            if let u = o.untilMs { points.append(u) }
        }
        points += schedules.map(\.sinceMs)
        points += scheduledChanges(after: afterMs, through: throughMs).map(\.atMs)
        return points.filter { ($0 > afterMs || (includingStart && $0 == afterMs)) && $0 <= throughMs }.sorted()
    }

    /// The segments that follow `start` (the segment in force just before the first point) at `points`
    /// (sorted): a new one wherever the plan or the source changes, or an override starts.
    func walk(from start: ModeSegment, points: [Milliseconds]) -> [ModeSegment] {
        var out = [start]
        var previousPoint: Milliseconds?
        for p in points where p != previousPoint {
            previousPoint = p
            var m = mode(at: p)
            m.startMs = p
            let cur = out[out.count - 1]
            let overrideStart = overrides.contains { $0.effectiveAtMs == p && m.source == .override($0.id) }
            if m.plan != cur.plan || m.source != cur.source || overrideStart {
                if cur.startMs == p { out[out.count - 1] = m } else { out.append(m) }
            }
        }
        return out
    }

    /// How far one step of `segment(at:)` looks back.
    static let lookBackMs: Milliseconds = 8 * 86_400_000

    /// The segment in force at `t`, with its exact start: `segments(through: t).last`, at a cost that grows
    /// with the time since the mode last changed (hours for a real schedule), not since the baseline (a
    /// corridor that ran its schedule for two years without a command has its baseline two years back).
    ///
    /// It walks windows back from `t`, each from `mode(at:)` at its start, and stops at the first window in
    /// which that walk starts a segment. Exact: the walk from the baseline (W) and a window's walk (w) decide
    /// each point by the plan and source of their current segment alone, and those agree once either has
    /// started one, so each segment w starts W starts too, and w's last is W's last in the window. They can
    /// disagree only while W is still in its baseline segment and `mode(at:)` already names the schedule for
    /// the baseline's plan; then W's first segment may be one w skips, but W starts nothing before it, no
    /// window further back starts one, and the walk ends with W itself, from the baseline.
    public func segment(at t: Milliseconds) -> ModeSegment { segmentAndWalk(at: t).segment }

    /// `segment(at:)`, and the earliest instant its walk started from (what it cost: the span walked is
    /// `t - walkedFromMs`).
    func segmentAndWalk(at t: Milliseconds) -> (segment: ModeSegment, walkedFromMs: Milliseconds) {
        var hi = t
        while hi - Self.lookBackMs > baseline.atMs {
            let lo = hi - Self.lookBackMs
            var start = mode(at: lo)
            start.startMs = lo
            let segs = walk(from: start, points: changePoints(after: lo, through: hi))
            if segs.count > 1 { return (segs[segs.count - 1], lo) }
            hi = lo
        }
        // No change in (hi, t]: the segment in force at hi is the one at t.
        return (segments(through: hi).last!, baseline.atMs)
    }

    /// The segment in force at `t` and every segment that starts after it through `throughMs`: the
    /// segments of `segments(through: throughMs)` from the one in force at `t` on, at the cost of
    /// `segment(at:)` plus the span asked for.
    public func segments(from t: Milliseconds, through throughMs: Milliseconds) -> [ModeSegment] {
        guard t >= baseline.atMs else { return segments(through: throughMs) }
        return walk(from: segment(at: t), points: changePoints(after: t, through: throughMs))
    }

    /// The timeline's plan events through `throughMs`: one `setPlan` at each segment start where the plan
    /// changes or an override starts.
    public func planEvents(through throughMs: Milliseconds) -> [ControlEvent] {
        var out: [ControlEvent] = []
        var plan = baseline.plan
        for s in segments(through: throughMs) {
            guard let id = s.eventID else { continue }
            let isOverride: Bool = {
                if case .override = s.source { return true }
                return false
            }()
            if s.plan != plan || isOverride {
                out.append(ControlEvent(id: id, effectiveAtMs: s.startMs, action: .setPlan(s.plan)))
            }
            plan = s.plan
        }
        return out
    }

    /// The mode in force at `t` and until when it lasts (the next change of plan or source found within
    /// `horizonMs`; nil: none found).
    public func modeAndEnd(
        at t: Milliseconds, horizonMs: Milliseconds = 8 * 86_400_000
    ) -> (mode: ModeSegment, untilMs: Milliseconds?) {
        let segs = segments(from: t, through: t + horizonMs)
        return (segs[0], segs.count > 1 ? segs[1].startMs : nil)
    }
}
