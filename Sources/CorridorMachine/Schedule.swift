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
        let others = events.filter {
            if case .setPlan = $0.event.action { return false }
            return true
        }.map(\.event)
        return others + modeLine.planEvents(through: throughMs)
    }

    /// Where the machine's own timeline ends: a horizon past the clock.
    var defaultTimelineThroughMs: Milliseconds { max(clockMs, baseline.atMs) + Self.timelineHorizonMs }

    /// The compiled timeline through `throughMs` (for a controller whose clock has run past the machine's
    /// horizon: a pure function of the state, equal to `timeline` wherever both are defined).
    public func timeline(through throughMs: Milliseconds) throws -> CorridorTimeline {
        if schedules.isEmpty || throughMs <= timelineThroughMs { return timeline }
        return try CorridorTimeline(
            corridor: corridor, referenceEpochMs: referenceEpochMs, baseline: baseline,
            events: timelineEvents(through: throughMs), reusing: timeline)
    }

    /// Compiles the machine's timeline (through its horizon), reusing unchanged signals.
    mutating func recompile(reusing: Bool = true) throws {
        let through = defaultTimelineThroughMs
        timeline = try CorridorTimeline(
            corridor: corridor, referenceEpochMs: referenceEpochMs, baseline: baseline,
            events: timelineEvents(through: through), reusing: reusing ? timeline : nil)
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
        switch until ?? (schedules.isEmpty ? nil : .nextScheduledChange) {
        case nil: end = nil
        case .time(let t)?:
            guard !schedules.isEmpty else {
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
            guard !schedules.isEmpty else {
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
        schedules.append(
            ScheduleRecord(
                inForce: ScheduleInForce(schedule: s, sinceMs: since, id: EventID(index)),
                source: Provenance(logIndex: index, operatorID: operatorID)))
        do {
            try recompile()
        } catch let e as TimingError {
            (schedules, timeline, timelineThroughMs) = saved
            return .rejected(.invalidCommand, reason: e.message)
        } catch {
            (schedules, timeline, timelineThroughMs) = saved
            return .rejected(.invalidCommand, reason: "refused by the timing model")
        }
        return .accepted(effectiveAtMs: since)
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
        let planEvents = line.planEvents(through: now)
        guard !events.isEmpty || schedules.count > 1 || !planEvents.isEmpty else { return }
        let key = SettleKey(
            baseline: baseline, count: events.count + planEvents.count,
            last: planEvents.last.map { UInt64(bitPattern: $0.effectiveAtMs) } ?? 0)
        var settled: Milliseconds?
        if let probe = settleProbe, probe.key == key {
            settled = probe.at
        } else {
            let others = events.filter {
                if case .setPlan = $0.event.action { return false }
                return true
            }.map(\.event)
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
                var latest: Milliseconds? = baseline.atMs
                for s in corridor.signals {
                    guard let t = probeTimeline.settledAtMs(of: s.id), let l = latest else {
                        latest = nil
                        break
                    }
                    latest = max(l, t)
                }
                settled = latest
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
        modeEnds = []
        schedules = [last]
        settleProbe = nil
        do { try recompile(reusing: false) } catch {
            (baseline, baselineSource, events, modeEnds, schedules, timeline, timelineThroughMs) = saved
        }
    }

    /// The mode in force at `t` (≥ the baseline), since when, until when (nil: no change known within the
    /// timeline's horizon), where it comes from, and who ordered it.
    public func modeInForce(
        at t: Milliseconds
    ) -> (plan: PlanID, sinceMs: Milliseconds, untilMs: Milliseconds?, source: ModeSource, provenance: Provenance?) {
        let line = modeLine
        let segs = line.segments(through: t + Self.timelineHorizonMs)
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
