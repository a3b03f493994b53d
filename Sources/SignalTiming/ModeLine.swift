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
    /// always did). `startMs` of each is exact.
    public func segments(through throughMs: Milliseconds) -> [ModeSegment] {
        let b = baseline.atMs
        var points: [Milliseconds] = []
        for o in overrides {
            points.append(o.effectiveAtMs)
            if let u = o.untilMs { points.append(u) }
        }
        points += schedules.map(\.sinceMs)
        points += scheduledChanges(after: b, through: throughMs).map(\.atMs)
        points = points.filter { $0 >= b && $0 <= throughMs }.sorted()
        var out = [ModeSegment(startMs: b, plan: baseline.plan, source: .baseline, eventID: nil)]
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
        let segs = segments(through: t + horizonMs)
        var current = segs[0]
        var until: Milliseconds?
        for s in segs {
            if s.startMs <= t {
                current = s
            } else {
                until = s.startMs
                break
            }
        }
        return (current, until)
    }
}
