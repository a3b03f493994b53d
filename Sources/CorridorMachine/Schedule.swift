// The replicated time-of-day schedule (docs/corridor-machine.md, "Schedule"): which schedules the
// corridor follows and since when, and when operators' mode commands give way to them. The mode in
// force at t is `modeLine.mode(at: t)`, a pure function of this state and t; the compiled timeline
// holds the scheduled plan changes up to `timelineHorizonMs` past the clock, and a controller that
// applies nothing (cut off) extends it locally with `timeline(through:)`, the same function.
import SignalTiming

/// When an operator's mode command gives way to the schedule.
public enum ModeUntil: Hashable, Sendable {
    /// At the first cycle boundary (of the ordered plan) at or after this time, ms since the Unix epoch.
    case time(Milliseconds)
    /// At the schedule's next change after the command takes effect.
    case nextScheduledChange
}

/// The end of one mode command (the event with this id): the schedule takes over at `untilMs`.
public struct ModeEnd: Hashable, Sendable {
    public var id: EventID
    public var untilMs: Milliseconds
}

/// A `clearSchedule` command in the state: from `atMs` (a cycle boundary) the schedule no longer changes
/// the mode; `id` is its log index, which is also the id of the mode event holding the plan in force.
public struct ScheduleClear: Hashable, Sendable {
    public var atMs: Milliseconds
    public var id: EventID
}

/// A schedule in the state, and the command that set it (nil: the corridor file's).
public struct ScheduleRecord: Hashable, Sendable {
    public var inForce: ScheduleInForce
    public var source: Provenance?
}

extension CorridorMachine {
    /// How far past the clock (or the baseline) the compiled timeline holds scheduled changes.
    public static let timelineHorizonMs: Milliseconds = 8 * 86_400_000
    /// The longest override an operator may order with `until`.
    public static let overrideMaxMs: Milliseconds = 31 * 86_400_000

    /// Whether mode commands give way to a schedule: there is one and no `clearSchedule` is pending.
    public var followsSchedule: Bool { !schedules.isEmpty && scheduleClear == nil }

    /// The mode line of this state (`SignalTiming.ModeLine`).
    public var modeLine: ModeLine {
        let overrides: [ModeOverride] = events.compactMap { r in
            guard case .setPlan(let p) = r.event.action else { return nil }
            return ModeOverride(
                id: r.event.id, plan: p, effectiveAtMs: r.event.effectiveAtMs,
                untilMs: modeEnds.first { $0.id == r.event.id }?.untilMs)
        }
        return ModeLine(
            corridor: corridor, referenceEpochMs: referenceEpochMs, baseline: baseline, overrides: overrides,
            schedules: schedules.map(\.inForce))
    }

    /// The events a timeline through `throughMs` is compiled from: without a schedule the events as they
    /// are (as always); with one, the mode line's plan changes instead of the mode commands.
    func timelineEvents(through throughMs: Milliseconds) -> [ControlEvent] {
        guard !schedules.isEmpty else { return events.map(\.event) }
        return eventsBesidesModes + modeLine.planEvents(through: throughMs)
    }

    /// The events other than mode commands (with a schedule, the mode line's plan events stand for those).
    var eventsBesidesModes: [ControlEvent] {
        events.filter {
            if case .setPlan = $0.event.action { return false }
            return true
        }.map(\.event)
    }

    /// `timelineEvents(through:)`, with the mode line's plan events from `cachedPlanEvents`.
    mutating func timelineEventsCached(through throughMs: Milliseconds) -> [ControlEvent] {
        guard !schedules.isEmpty else { return events.map(\.event) }
        return eventsBesidesModes + cachedPlanEvents(modeLine, through: throughMs)
    }

    /// How far past what is asked the cached plan events reach, so that the cache outlives many commands.
    static let planEventsAheadMs: Milliseconds = 3_600_000

    /// `line.planEvents(through: throughMs)` (`line` is this state's `modeLine`), from a cache when it holds the
    /// same mode line through at least `throughMs`. Exact: the plan events through T are those through any
    /// T' ≥ T that take effect by T (the segments' starts are walked in order and each is decided by the mode at
    /// that instant, never by how far the walk goes: `ScheduleTests`, `PlanEventsCacheTests`). Without it every command walked the
    /// schedule from the baseline (issue 19).
    mutating func cachedPlanEvents(_ line: ModeLine, through throughMs: Milliseconds) -> [ControlEvent] {
        let key = PlanEventsKey(
            corridorVersion: corridorVersion, referenceEpochMs: referenceEpochMs, baseline: baseline,
            overrides: line.overrides, schedules: line.schedules)
        if let c = planEventsCache, c.key == key, c.throughMs >= throughMs {
            return c.events.filter { $0.effectiveAtMs <= throughMs }
        }
        let ahead =
            throughMs > Int64.max - Self.planEventsAheadMs ? Int64.max : throughMs + Self.planEventsAheadMs
        let all = line.planEvents(through: ahead)
        planEventsWalks += 1
        planEventsCache = PlanEventsCache(key: key, throughMs: ahead, events: all)
        return all.filter { $0.effectiveAtMs <= throughMs }
    }

    /// Where the machine's own timeline ends: a horizon past the clock.
    var defaultTimelineThroughMs: Milliseconds { max(clockMs, baseline.atMs) + Self.timelineHorizonMs }

    /// The compiled timeline through `throughMs` (for a controller whose clock has run past the machine's
    /// horizon: a pure function of the state, equal to `timeline` wherever both are defined). With `fromMs`
    /// (the caller's clock), a state that holds nothing but its schedule is first rebased to just before the
    /// last scheduled change at or before `fromMs` (`rebaseSchedule`), so that the cost does not grow with the
    /// time since the baseline; the result then answers from that new baseline on.
    public func timeline(through throughMs: Milliseconds, from fromMs: Milliseconds? = nil) throws -> CorridorTimeline {
        if schedules.isEmpty || throughMs <= timelineThroughMs { return timeline }
        var m = self
        if let f = fromMs, m.rebaseSchedule(at: min(f, throughMs)) {
            return try CorridorTimeline(
                corridor: corridor, referenceEpochMs: referenceEpochMs, baseline: m.baseline,
                events: m.timelineEvents(through: throughMs))
        }
        return try CorridorTimeline(
            corridor: corridor, referenceEpochMs: referenceEpochMs, baseline: baseline,
            events: timelineEvents(through: throughMs), reusing: timeline)
    }

    /// How far before the clock the rebase looks for the last two scheduled changes.
    static let rebaseWindowMs: Milliseconds = 8 * 86_400_000

    /// The schedule baseline: when the state holds nothing but one schedule (no event, override, flash,
    /// hold or preemption), moves the baseline to 1 ms before the last scheduled change at or before `now`,
    /// with the plan the change before it put in force, so that only changes after it are replayed (issue
    /// 21: the first command replayed every change since the reference epoch). Exact when that previous
    /// change, entered from steady coordination, has settled before the last one: a probe timeline of that
    /// one transition checks it (every signal in step, or flashing for a flash plan, before the last change),
    /// and the rebase is skipped otherwise. The state at that instant is then the closed form of the plan,
    /// which is what a baseline is. Deterministic: a function of the state and `now` (the clock). Returns
    /// whether it moved the baseline.
    @discardableResult
    mutating func rebaseSchedule(at now: Milliseconds) -> Bool {
        guard events.isEmpty, modeEnds.isEmpty, schedules.count == 1, corridorFlash == nil, signalFlashes.isEmpty,
            holds.isEmpty, preemptions.isEmpty
        else { return false }
        let record = schedules[0]
        let line = modeLine
        let from = max(baseline.atMs, record.inForce.sinceMs, now - Self.rebaseWindowMs)
        let changes = line.scheduledChanges(after: from, through: now)
        guard changes.count >= 2 else { return false }
        let previous = changes[changes.count - 2]
        let last = changes[changes.count - 1]
        let at = last.atMs - 1
        guard at > previous.atMs, previous.plan == last.previous else { return false }
        let m = line.mode(at: at)
        scheduleEventsCompiled += 1
        guard m.source == .schedule, m.plan == previous.plan,
            transitionSettles(from: previous.previous, to: previous.plan, at: previous.atMs, before: last.atMs)
        else { return false }
        baseline = Baseline(atMs: at, plan: previous.plan)
        baselineSource = record.source
        settleProbe = nil
        return true
    }

    /// Whether a change from steady `from` to `to` at `atMs` has every signal in step (a flash plan: flashing)
    /// before `endMs`, compiled alone.
    func transitionSettles(from: PlanID, to: PlanID, at atMs: Milliseconds, before endMs: Milliseconds) -> Bool {
        guard
            let probe = try? CorridorTimeline(
                corridor: corridor, referenceEpochMs: referenceEpochMs, baseline: Baseline(atMs: atMs, plan: from),
                events: [ControlEvent(id: EventID(0), effectiveAtMs: atMs, action: .setPlan(to))])
        else { return false }
        if corridor.plan(to)?.isFlash ?? true {
            return corridor.signals.allSatisfy { probe.state(of: $0.id, at: endMs - 1).mode == .flash }
        }
        return corridor.signals.allSatisfy { s in probe.settledAtMs(of: s.id).map { $0 < endMs } ?? false }
    }

    /// Compiles the machine's timeline (through its horizon), reusing unchanged signals.
    mutating func recompile(reusing: Bool = true) throws {
        let through = defaultTimelineThroughMs
        let all = timelineEventsCached(through: through)
        if !schedules.isEmpty { scheduleEventsCompiled += all.count }
        timeline = try CorridorTimeline(
            corridor: corridor, referenceEpochMs: referenceEpochMs, baseline: baseline,
            events: all, reusing: reusing ? timeline : nil)
        timelineThroughMs = schedules.isEmpty ? Int64.max : through
    }

    /// Keeps the scheduled changes a horizon ahead of the clock (a cache: no outcome depends on it).
    mutating func extendTimelineIfNeeded() {
        guard !schedules.isEmpty, clockMs + Self.timelineHorizonMs / 2 > timelineThroughMs else { return }
        try? recompile()
    }

    /// `setMode` with a schedule in force, or `setModeUntil`.
    mutating func executeMode(_ plan: PlanID, until: ModeUntil?, index: UInt64, operatorID: String) -> CommandResult {
        guard let p = corridor.plan(plan) else {
            return .rejected(
                .unknownPlan,
                reason: "unknown plan '\(plan)' (plans: \(corridor.plans.map(\.id.rawValue).joined(separator: ", ")))")
        }
        let soon = clockMs + settings.safetyMarginMs
        let line = modeLine
        let lastChange = line.overrides.last?.effectiveAtMs ?? baseline.atMs
        let earliest = max(soon, lastChange + 1)
        let current = line.mode(at: earliest).plan
        let cycle = corridor.plan(current)!.isFlash ? p.cycleMs : corridor.plan(current)!.cycleMs
        let at = ModeLine.boundary(atOrAfter: earliest, epochMs: referenceEpochMs, cycleMs: cycle)
        var end: Milliseconds?
        switch until ?? (followsSchedule ? .nextScheduledChange : nil) {
        case nil: end = nil
        case .time(let t)?:
            guard followsSchedule else {
                return .rejected(
                    .invalidCommand,
                    reason:
                        "the corridor has no schedule to return to: without one a mode stays until the next mode command (leave out 'until')"
                )
            }
            guard t > at, t <= at + Self.overrideMaxMs else {
                return .rejected(
                    .invalidCommand,
                    reason:
                        "until \(t) ms must be after the mode takes effect (\(at) ms) and at most \(Self.overrideMaxMs / 86_400_000) days later"
                )
            }
            let c = p.isFlash ? line.cycleMs(line.scheduledPlan(at: t) ?? plan) : p.cycleMs
            end = ModeLine.boundary(atOrAfter: t, epochMs: referenceEpochMs, cycleMs: c)
        case .nextScheduledChange?:
            guard followsSchedule else {
                return .rejected(
                    .invalidCommand, reason: "the corridor has no schedule, so there is no next scheduled change")
            }
            guard let next = line.nextScheduledChange(after: at) else {
                return .rejected(
                    .invalidCommand,
                    reason: "the schedule does not change within 400 days of \(at) ms: give 'until' a time")
            }
            end = next.atMs
        }
        return addModeEvent(plan, at: at, until: end, index: index, operatorID: operatorID)
    }

    /// `setSchedule`: the schedule takes over at the next cycle boundary after the safety margin.
    mutating func executeSetSchedule(_ s: TimeOfDaySchedule, index: UInt64, operatorID: String) -> CommandResult {
        do {
            try s.validate(planIDs: corridor.plans.map(\.id))
        } catch let e as TimingError {
            return .rejected(.unknownPlan, reason: "schedule: \(e.message)")
        } catch {
            return .rejected(.invalidCommand, reason: "invalid schedule")
        }
        let soon = clockMs + settings.safetyMarginMs
        let line = modeLine
        let earliest = max(
            soon, (schedules.last?.inForce.sinceMs ?? baseline.atMs) + 1,
            (line.overrides.last?.effectiveAtMs ?? baseline.atMs) + 1)
        let current = line.mode(at: earliest).plan
        let since = ModeLine.boundary(atOrAfter: earliest, epochMs: referenceEpochMs, cycleMs: line.cycleMs(current))
        guard schedules.count < 16 else {
            return .rejected(
                .tooManyEvents,
                reason: "\(schedules.count) schedules wait to be compacted; let the last one take over first")
        }
        let saved = (schedules, timeline, timelineThroughMs)
        let savedClear = scheduleClear
        scheduleClear = nil
        schedules.append(
            ScheduleRecord(
                inForce: ScheduleInForce(schedule: s, sinceMs: since, id: EventID(index)),
                source: Provenance(logIndex: index, operatorID: operatorID)))
        do {
            try recompile()
        } catch let e as TimingError {
            (schedules, timeline, timelineThroughMs) = saved
            scheduleClear = savedClear
            return .rejected(.invalidCommand, reason: e.message)
        } catch {
            (schedules, timeline, timelineThroughMs) = saved
            scheduleClear = savedClear
            return .rejected(.invalidCommand, reason: "refused by the timing model")
        }
        return .accepted(effectiveAtMs: since)
    }

    /// `clearSchedule`: at the next cycle boundary after the safety margin (and after the last schedule or
    /// mode change) the plan in force then stays, held by a mode event of this command with no end, and the
    /// schedule changes nothing more; compaction past it removes the schedules.
    mutating func executeClearSchedule(index: UInt64, operatorID: String) -> CommandResult {
        guard followsSchedule else {
            return .rejected(
                .invalidCommand,
                reason: schedules.isEmpty ? "the corridor has no schedule to clear" : "the schedule is already cleared")
        }
        let line = modeLine
        let earliest = max(
            clockMs + settings.safetyMarginMs, (schedules.last?.inForce.sinceMs ?? baseline.atMs) + 1,
            (line.overrides.last?.effectiveAtMs ?? baseline.atMs) + 1)
        let current = line.mode(at: earliest).plan
        let at = ModeLine.boundary(atOrAfter: earliest, epochMs: referenceEpochMs, cycleMs: line.cycleMs(current))
        // The plan in force at the boundary itself (a scheduled change there happens first).
        let plan = line.mode(at: at).plan
        scheduleClear = ScheduleClear(atMs: at, id: EventID(index))
        let r = addModeEvent(plan, at: at, until: nil, index: index, operatorID: operatorID)
        if case .rejected = r { scheduleClear = nil }
        return r
    }

    /// Adds a mode command's event (and its end) and recompiles.
    mutating func addModeEvent(
        _ plan: PlanID, at: Milliseconds, until: Milliseconds?, index: UInt64, operatorID: String
    ) -> CommandResult {
        guard events.count < settings.maxEvents else {
            return .rejected(
                .tooManyEvents,
                reason: "\(events.count) control events are in force, the limit is \(settings.maxEvents)")
        }
        let saved = (events, modeEnds, timeline, timelineThroughMs)
        events.append(
            EventRecord(
                event: ControlEvent(id: EventID(index), effectiveAtMs: at, action: .setPlan(plan)),
                operatorID: operatorID))
        if let u = until { modeEnds.append(ModeEnd(id: EventID(index), untilMs: u)) }
        do {
            try recompile()
        } catch let e as TimingError {
            (events, modeEnds, timeline, timelineThroughMs) = saved
            return .rejected(.invalidCommand, reason: e.message)
        } catch {
            (events, modeEnds, timeline, timelineThroughMs) = saved
            return .rejected(.invalidCommand, reason: "refused by the timing model")
        }
        return .accepted(effectiveAtMs: at)
    }

    /// Compaction with a schedule: once nothing is in force but modes, every mode change up to the clock
    /// has happened and every signal has settled after the last of them, history folds into a baseline at
    /// the latest of (settled, last override end, last schedule start), with the plan in force then.
    mutating func compactScheduled() {
        let now = clockMs
        guard corridorFlash == nil, signalFlashes.isEmpty, holds.isEmpty, preemptions.isEmpty else { return }
        let beforeRebase = (baseline, baselineSource, timeline, timelineThroughMs)
        if rebaseSchedule(at: now) {
            do { try recompile(reusing: false) } catch {
                (baseline, baselineSource, timeline, timelineThroughMs) = beforeRebase
            }
        }
        let line = modeLine
        // An override ends at its `until` or when the next one starts, whichever is first.
        var ends: [Milliseconds] = []
        for (k, o) in line.overrides.enumerated() {
            let next = k + 1 < line.overrides.count ? line.overrides[k + 1].effectiveAtMs : Int64.max
            if let u = o.untilMs { ends.append(min(u, next)) }
        }
        guard events.allSatisfy({ $0.event.effectiveAtMs <= now }), ends.allSatisfy({ $0 <= now }),
            let last = schedules.last, last.inForce.sinceMs <= now
        else { return }
        let planEvents = cachedPlanEvents(line, through: now)
        guard !events.isEmpty || schedules.count > 1 || !planEvents.isEmpty else { return }
        let key = SettleKey(
            baseline: baseline, count: events.count + planEvents.count,
            last: planEvents.last.map { UInt64(bitPattern: $0.effectiveAtMs) } ?? 0)
        var settled: Milliseconds?
        if let probe = settleProbe, probe.key == key {
            settled = probe.at
        } else {
            let others = eventsBesidesModes
            scheduleEventsCompiled += others.count + planEvents.count
            guard
                let probeTimeline = try? CorridorTimeline(
                    corridor: corridor, referenceEpochMs: referenceEpochMs, baseline: baseline,
                    events: others + planEvents)
            else { return }
            let target = line.mode(at: now).plan
            if corridor.plan(target)!.isFlash {
                settled =
                    corridor.signals.allSatisfy { probeTimeline.state(of: $0.id, at: now).mode == .flash } ? now : nil
            } else {
                settled = probeTimeline.allSettledAtMs
                settleProbe = (key, settled)
            }
        }
        guard let s = settled else { return }
        let at = max(s, ends.max() ?? s, last.inForce.sinceMs, planEvents.last?.effectiveAtMs ?? s)
        guard at <= now else { return }
        let mode = line.mode(at: at)
        let source: Provenance?
        switch mode.source {
        case .baseline: source = baselineSource
        case .override(let id): source = event(id)?.provenance
        case .schedule: source = last.source
        }
        let saved = (baseline, baselineSource, events, modeEnds, schedules, timeline, timelineThroughMs)
        baseline = Baseline(atMs: at, plan: mode.plan)
        baselineSource = source
        events = []
        eventsCleared &+= 1
        modeEnds = []
        // Past a clear, nothing scheduled remains: the machine is back to mode commands alone.
        let savedClear = scheduleClear
        schedules = scheduleClear == nil ? [last] : []
        scheduleClear = nil
        settleProbe = nil
        do { try recompile(reusing: false) } catch {
            (baseline, baselineSource, events, modeEnds, schedules, timeline, timelineThroughMs) = saved
            scheduleClear = savedClear
        }
    }

    /// The mode in force at `t` (≥ the baseline), since when, until when (nil: no change known within the
    /// timeline's horizon), where it comes from, and who ordered it.
    public func modeInForce(
        at t: Milliseconds
    ) -> (plan: PlanID, sinceMs: Milliseconds, untilMs: Milliseconds?, source: ModeSource, provenance: Provenance?) {
        let line = modeLine
        var (current, until) = line.modeAndEnd(at: t, horizonMs: Self.timelineHorizonMs)
        // A baseline that compaction or the schedule baseline put where the schedule runs its plan is the
        // schedule's: say so (display only; the timeline does not depend on it).
        if current.source == .baseline, schedule(at: current.startMs) != nil,
            line.scheduledPlan(at: current.startMs) == current.plan
        {
            current.source = .schedule
        }
        let provenance: Provenance?
        switch current.source {
        case .baseline: provenance = baselineSource
        case .override(let id): provenance = event(id)?.provenance
        case .schedule: provenance = schedules.last { $0.inForce.sinceMs <= t }?.source
        }
        return (current.plan, current.startMs, until, current.source, provenance)
    }

    /// The schedule in force at `t`, if any.
    public func schedule(at t: Milliseconds) -> ScheduleRecord? { schedules.last { $0.inForce.sinceMs <= t } }
}

// MARK: - Encoding

extension Codecs {
    static func schedule(_ w: inout ByteWriter, _ s: TimeOfDaySchedule) {
        w.int(s.utcOffsetMinutes)
        w.array(s.dayPlans) { w, d in
            w.string(d.name)
            w.array(d.actions) { w, a in
                w.int(a.minuteOfDay)
                w.string(a.plan.rawValue)
            }
        }
        w.array(s.week) { $0.string($1) }
        w.array(s.holidays) { w, h in
            w.int(h.date.year)
            w.int(h.date.month)
            w.int(h.date.day)
            w.string(h.dayPlan)
        }
    }

    /// Decodes a schedule in canonical order (day plans by name, holidays by date), refusing anything
    /// `TimeOfDaySchedule` refuses.
    static func schedule(_ r: inout ByteReader) throws -> TimeOfDaySchedule {
        let offset = try r.int("utc offset")
        let dayPlans = try r.array("day plans") { r in
            DayPlan(
                name: try r.string("day plan name"),
                actions: try r.array("actions") { r in
                    ScheduleAction(minuteOfDay: try r.int("minute"), plan: PlanID(try r.string("plan")))
                })
        }
        let week = try r.array("week") { try $0.string("day plan") }
        let holidays = try r.array("holidays") { r in
            let y = try r.int("year")
            let m = try r.int("month")
            let d = try r.int("day")
            guard let date = CivilDate(year: y, month: m, day: d) else {
                throw DecodeError.invalid(what: "holiday date \(y)-\(m)-\(d)")
            }
            return Holiday(date: date, dayPlan: try r.string("holiday day plan"))
        }
        let s: TimeOfDaySchedule
        do {
            s = try TimeOfDaySchedule(utcOffsetMinutes: offset, dayPlans: dayPlans, week: week, holidays: holidays)
        } catch let e as TimingError {
            throw DecodeError.invalid(what: "schedule: \(e.message)")
        }
        guard s.dayPlans == dayPlans, s.holidays == holidays else {
            throw DecodeError.invalid(what: "schedule (not in canonical order)")
        }
        return s
    }

    static func modeUntil(_ w: inout ByteWriter, _ u: ModeUntil) {
        switch u {
        case .time(let t):
            w.u8(1)
            w.i64(t)
        case .nextScheduledChange: w.u8(2)
        }
    }

    static func modeUntil(_ r: inout ByteReader) throws -> ModeUntil {
        switch try r.u8("until") {
        case 1: return .time(try r.i64("until time"))
        case 2: return .nextScheduledChange
        case let t: throw DecodeError.unknownTag(what: "until", tag: t)
        }
    }
}
