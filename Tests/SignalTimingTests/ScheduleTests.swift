import RaftCore
import XCTest

@testable import SignalTiming

/// The time-of-day schedule (`TimeOfDaySchedule`) and the mode line (`ModeLine`): calendar arithmetic,
/// validation, evaluation against a minute-by-minute reference, and properties over random schedules.
final class ScheduleTests: XCTestCase {
    static let ist = 330
    /// 2025-01-01T00:00 IST (the corridor files' reference epoch).
    static let epoch: Milliseconds = 1_735_669_800_000

    static func action(_ t: String, _ p: String) -> ScheduleAction {
        ScheduleAction(minuteOfDay: ScheduleAction.parseTime(t)!, plan: PlanID(p))
    }

    /// Weekdays: normal 06:00, long (morning peak) 08:00-11:30, normal, flash (night) 23:00;
    /// Sundays and holidays: normal 07:00, flash 23:00.
    static func weekSchedule() throws -> TimeOfDaySchedule {
        let weekday = DayPlan(
            name: "weekday",
            actions: [
                action("06:00", "normal"), action("08:00", "long"),
                action("11:30", "normal"), action("23:00", "flash")
            ])
        let sunday = DayPlan(name: "sunday", actions: [action("07:00", "normal"), action("23:00", "flash")])
        return try TimeOfDaySchedule(
            utcOffsetMinutes: ist, dayPlans: [weekday, sunday],
            week: Array(repeating: "weekday", count: 6) + ["sunday"],
            holidays: [Holiday(date: CivilDate(parsing: "2025-01-01")!, dayPlan: "sunday")])
    }

    func testCivilDatesRoundTripAndWeekdays() {
        let first = CivilDate(year: 2000, month: 1, day: 1)!.daysSinceUnixEpoch
        let last = CivilDate(year: 2199, month: 12, day: 31)!.daysSinceUnixEpoch
        var previous: CivilDate?
        for d in first...last {
            let date = CivilDate(daysSinceUnixEpoch: d)!
            XCTAssertEqual(date.daysSinceUnixEpoch, d)
            XCTAssertEqual(CivilDate(parsing: date.description), date)
            if let p = previous { XCTAssertLessThan(p, date) }
            previous = date
        }
        XCTAssertEqual(last - first + 1, 73_049) // 200 years, 49 leap days (2100 is not one)
        XCTAssertNil(CivilDate(daysSinceUnixEpoch: first - 1))
        XCTAssertNil(CivilDate(daysSinceUnixEpoch: last + 1))
        XCTAssertEqual(CivilDate(parsing: "2025-01-01")!.daysSinceUnixEpoch * 86_400_000, 1_735_689_600_000)
        XCTAssertEqual(CivilDate(parsing: "2025-01-01")!.weekday, 2) // a Wednesday
        XCTAssertEqual(CivilDate(parsing: "2026-12-01")!.weekday, 1) // a Tuesday
        for bad in [
            "2025-02-29", "2100-02-29", "2025-13-01", "2025-00-10", "2025-1-01", "1999-12-31", "2200-01-01",
            "2025-01-32", "２025-01-01"
        ] {
            XCTAssertNil(CivilDate(parsing: bad), bad)
        }
        XCTAssertNotNil(CivilDate(parsing: "2024-02-29"))
        XCTAssertNotNil(CivilDate(parsing: "2000-02-29"))
    }

    func testTimesParse() {
        XCTAssertEqual(ScheduleAction.parseTime("00:00"), 0)
        XCTAssertEqual(ScheduleAction.parseTime("23:59"), 1_439)
        for bad in ["24:00", "7:00", "07:60", "07-00", "0700", "07:00:00", ""] {
            XCTAssertNil(ScheduleAction.parseTime(bad), bad)
        }
        XCTAssertEqual(ScheduleAction.timeText(ScheduleAction.parseTime("08:05")!), "08:05")
    }

    func testValidationNamesTheProblem() throws {
        let d = DayPlan(name: "d", actions: [Self.action("06:00", "normal")])
        func refusal(_ make: () throws -> TimeOfDaySchedule) -> String {
            do {
                _ = try make()
                return ""
            } catch let e as TimingError { return e.message } catch { return "\(error)" }
        }
        XCTAssertTrue(
            refusal {
                try TimeOfDaySchedule(
                    utcOffsetMinutes: 900, dayPlans: [d], week: Array(repeating: "d", count: 7), holidays: [])
            }.contains("UTC offset"))
        XCTAssertTrue(
            refusal {
                try TimeOfDaySchedule(
                    utcOffsetMinutes: 0, dayPlans: [d], week: Array(repeating: "d", count: 6), holidays: [])
            }.contains("7 days"))
        XCTAssertTrue(
            refusal {
                try TimeOfDaySchedule(
                    utcOffsetMinutes: 0, dayPlans: [d], week: Array(repeating: "d", count: 6) + ["x"], holidays: [])
            }.contains("sunday: unknown day plan 'x'"))
        let close = DayPlan(name: "c", actions: [Self.action("06:00", "normal"), Self.action("06:20", "long")])
        XCTAssertTrue(
            refusal {
                try TimeOfDaySchedule(
                    utcOffsetMinutes: 0, dayPlans: [close], week: Array(repeating: "c", count: 7), holidays: [])
            }.contains("20 min apart"))
        let backwards = DayPlan(name: "b", actions: [Self.action("09:00", "normal"), Self.action("06:00", "long")])
        XCTAssertTrue(
            refusal {
                try TimeOfDaySchedule(
                    utcOffsetMinutes: 0, dayPlans: [backwards], week: Array(repeating: "b", count: 7), holidays: [])
            }.contains("increasing order"))
        let late = DayPlan(name: "late", actions: [Self.action("23:50", "normal")])
        let early = DayPlan(name: "early", actions: [Self.action("00:10", "long")])
        XCTAssertTrue(
            refusal {
                try TimeOfDaySchedule(
                    utcOffsetMinutes: 0, dayPlans: [late, early], week: Array(repeating: "late", count: 7), holidays: []
                )
            }.contains("across midnight"))
        let date = CivilDate(parsing: "2025-08-15")!
        XCTAssertTrue(
            refusal {
                try TimeOfDaySchedule(
                    utcOffsetMinutes: 0, dayPlans: [d], week: Array(repeating: "d", count: 7),
                    holidays: [Holiday(date: date, dayPlan: "d"), Holiday(date: date, dayPlan: "d")])
            }.contains("listed twice"))
        XCTAssertTrue(
            refusal {
                try TimeOfDaySchedule(
                    utcOffsetMinutes: 0, dayPlans: [d, d], week: Array(repeating: "d", count: 7), holidays: [])
            }.contains("defined twice"))
        let s = try Self.weekSchedule()
        XCTAssertThrowsError(try s.validate(planIDs: [PlanID("normal"), PlanID("flash")])) { e in
            XCTAssertTrue((e as! TimingError).message.contains("unknown plan 'long'"))
        }
        XCTAssertNoThrow(try s.validate(planIDs: [PlanID("normal"), PlanID("long"), PlanID("flash")]))
    }

    func testIndianStandardTimeWeekAndHoliday() throws {
        let s = try Self.weekSchedule()
        func at(_ date: String, _ time: String) -> Milliseconds {
            CivilDate(parsing: date)!.daysSinceUnixEpoch * 86_400_000 + Int64(ScheduleAction.parseTime(time)!) * 60_000
                - 330 * 60_000
        }
        XCTAssertEqual(s.nominalPlan(at: at("2025-01-02", "08:30")), PlanID("long")) // a Thursday
        XCTAssertEqual(s.nominalPlan(at: at("2025-01-02", "07:59")), PlanID("normal"))
        XCTAssertEqual(s.nominalPlan(at: at("2025-01-02", "05:00")), PlanID("flash")) // carried from Wednesday 23:00
        XCTAssertEqual(s.nominalPlan(at: at("2025-01-01", "08:30")), PlanID("normal")) // New Year: the holiday plan
        XCTAssertEqual(s.nominalPlan(at: at("2025-01-05", "08:30")), PlanID("normal")) // a Sunday
        XCTAssertEqual(s.nominalPlan(at: at("2025-01-05", "06:30")), PlanID("flash"))
        // 08:00 IST on Thursday is 02:30 UTC.
        let c = s.nextNominalChange(after: at("2025-01-02", "07:00"))!
        XCTAssertEqual(c.atMs, 1_735_785_000_000)
        XCTAssertEqual(c.plan, PlanID("long"))
        XCTAssertEqual(c.previous, PlanID("normal"))
        // A week has 6 × 4 + 2 changes, minus the ones the holiday removes or that select the plan in force.
        let week = s.nominalChanges(after: at("2025-01-06", "00:00"), through: at("2025-01-13", "00:00"))
        XCTAssertEqual(week.count, 6 * 4 + 2)
        XCTAssertTrue(zip(week, week.dropFirst()).allSatisfy { $0.atMs < $1.atMs && $0.plan == $1.previous })
    }

    /// The schedule's plan agrees with a minute-by-minute reference (walk back to the last action minute of
    /// the day plan of that local date) at random instants of random schedules.
    func testNominalPlanMatchesAMinuteByMinuteReference() throws {
        var rng = SplitMix64(seed: 0x5CED_0001)
        for _ in 0..<300 {
            let s = randomSchedule(&rng)
            for _ in 0..<20 {
                let t = rng.int(Limits.earliestTimeMs + 3 * 86_400_000...Limits.latestTimeMs - 3 * 86_400_000)
                XCTAssertEqual(s.nominalPlan(at: t), reference(s, t))
            }
        }
    }

    func reference(_ s: TimeOfDaySchedule, _ t: Milliseconds) -> PlanID {
        var localMinute = (t + Int64(s.utcOffsetMinutes) * 60_000)
        localMinute = localMinute >= 0 ? localMinute / 60_000 : (localMinute - 59_999) / 60_000
        for back in 0..<(3 * 1_440) {
            let m = localMinute - Int64(back)
            let day = m >= 0 ? m / 1_440 : (m - 1_439) / 1_440
            let minute = Int(m - day * 1_440)
            let date = CivilDate(daysSinceUnixEpoch: day)!
            let name = s.holidays.first { $0.date == date }?.dayPlan ?? s.week[date.weekday]
            if let a = s.dayPlans.first(where: { $0.name == name })!.actions.first(where: { $0.minuteOfDay == minute })
            {
                return a.plan
            }
        }
        XCTFail("no action within 3 days")
        return PlanID("")
    }

    func randomSchedule(_ rng: inout SplitMix64, plans: [String] = ["normal", "long", "flash"]) -> TimeOfDaySchedule {
        while true {
            var dayPlans: [DayPlan] = []
            for i in 0..<rng.int(1...4) {
                var actions: [ScheduleAction] = []
                var minute = rng.int(0...300)
                while minute < 1_440, actions.count < 8 {
                    actions.append(ScheduleAction(minuteOfDay: minute, plan: PlanID(rng.pick(plans))))
                    minute += rng.int(30...400)
                }
                dayPlans.append(DayPlan(name: "d\(i)", actions: actions))
            }
            let week = (0..<7).map { _ in rng.pick(dayPlans).name }
            var holidays: [Holiday] = []
            for _ in 0..<rng.int(0...5) {
                let date = CivilDate(
                    daysSinceUnixEpoch: rng.int(
                        CivilDate(parsing: "2025-01-01")!
                            .daysSinceUnixEpoch...CivilDate(parsing: "2025-03-01")!.daysSinceUnixEpoch))!
                if !holidays.contains(where: { $0.date == date }) {
                    holidays.append(Holiday(date: date, dayPlan: rng.pick(dayPlans).name))
                }
            }
            let offset = rng.pick([330, 0, -300, 345, 840, -720, rng.int(-720...840)])
            if let s = try? TimeOfDaySchedule(
                utcOffsetMinutes: offset, dayPlans: dayPlans, week: week, holidays: holidays)
            {
                return s
            }
        }
    }

    /// Over random schedules and overrides: the mode is piecewise constant, scheduled changes fall on cycle
    /// boundaries of the plan left, consecutive changes keep their order, `mode(at:)` agrees with the
    /// segments, and evaluating twice gives the same answer.
    func testModeLineIsPiecewiseConstantOnCycleBoundaries() throws {
        let corridor = Fixture.corridor(count: 2)
        var rng = SplitMix64(seed: 0x5CED_0002)
        var scheduledChanges = 0
        var overrideEnds = 0
        for _ in 0..<200 {
            let sched = randomSchedule(&rng)
            let from = Self.epoch + rng.int(0...(40 * 86_400_000))
            let since = ModeLine.boundary(
                atOrAfter: from + rng.int(0...86_400_000), epochMs: Self.epoch, cycleMs: 90_000)
            var overrides: [ModeOverride] = []
            var t = from
            for k in 0..<rng.int(0...3) {
                t += rng.int(60_000...(2 * 86_400_000))
                let until: Milliseconds? = rng.chance(80) ? t + rng.int(60_000...(12 * 3_600_000)) : nil
                overrides.append(
                    ModeOverride(
                        id: EventID(UInt64(10 + k)), plan: PlanID(rng.pick(["normal", "long", "flash"])),
                        effectiveAtMs: t, untilMs: until))
            }
            let line = ModeLine(
                corridor: corridor, referenceEpochMs: Self.epoch,
                baseline: Baseline(atMs: from, plan: PlanID("normal")),
                overrides: overrides, schedule: ScheduleInForce(schedule: sched, sinceMs: since, id: EventID(3)))
            let through = from + 6 * 86_400_000
            let segs = line.segments(through: through)
            XCTAssertEqual(segs, line.segments(through: through))
            XCTAssertEqual(segs[0].startMs, from)
            for (a, b) in zip(segs, segs.dropFirst()) {
                XCTAssertLessThan(a.startMs, b.startMs)
                if b.source == .schedule, a.source == .schedule {
                    // A scheduled change: on a boundary of the cycle of the plan left (or entered, from flash).
                    let cycle = line.cycleMs(a.plan) > 0 ? line.cycleMs(a.plan) : line.cycleMs(b.plan)
                    if cycle > 0 { XCTAssertEqual(floorMod(b.startMs - Self.epoch, cycle), 0) }
                    XCTAssertNotEqual(a.plan, b.plan)
                    scheduledChanges += 1
                }
                if case .override = a.source, b.source == .schedule { overrideEnds += 1 }
            }
            // mode(at:) holds constant inside each segment, at random instants.
            for _ in 0..<30 {
                let q = rng.int(from...through - 1)
                let seg = segs.last { $0.startMs <= q }!
                let m = line.mode(at: q)
                XCTAssertEqual(m.plan, seg.plan, "at \(q)")
                XCTAssertEqual(m.source, seg.source, "at \(q)")
                if m.source == .schedule { XCTAssertEqual(m.plan, line.scheduledPlan(at: q)) }
            }
            // Plan events are exactly the segment starts where the plan changes or an override starts.
            for e in line.planEvents(through: through) {
                XCTAssertTrue(
                    segs.contains { $0.startMs == e.effectiveAtMs && ControlAction.setPlan($0.plan) == e.action })
            }
        }
        XCTAssertGreaterThan(scheduledChanges, 1_000)
        XCTAssertGreaterThan(overrideEnds, 50)
    }

    /// The queries about one instant (`segment(at:)`, `segments(from:through:)`, `modeAndEnd`), which look
    /// back only to the last change, give exactly what the walk from the baseline gives, over random lines
    /// whose baseline lies up to 70 days back: schedules that start before or after the baseline, a second
    /// schedule, overrides with and without an end, and schedules that never change the plan.
    func testQueriesAtOneInstantMatchTheWalkFromTheBaseline() throws {
        let corridor = Fixture.corridor(count: 2)
        var rng = SplitMix64(seed: 0x5CED_0003)
        var lookedBack = 0
        var stayedBaseline = 0
        for round in 0..<120 {
            let b = Self.epoch + rng.int(0...(10 * 86_400_000))
            let plans = round % 6 == 0 ? ["normal"] : ["normal", "long", "flash"]
            var schedules: [ScheduleInForce] = []
            // Every twelfth line: a schedule that never changes the plan, in force since before the baseline.
            let unchanging = round % 12 == 0
            var since = b + (unchanging ? -86_400_000 : rng.int(-(3 * 86_400_000)...(5 * 86_400_000)))
            for k in 0..<(unchanging ? 1 : rng.int(1...2)) {
                since = ModeLine.boundary(atOrAfter: since, epochMs: Self.epoch, cycleMs: 90_000)
                schedules.append(
                    ScheduleInForce(
                        schedule: randomSchedule(&rng, plans: plans), sinceMs: since, id: EventID(UInt64(2 + k))))
                since += rng.int(3_600_000...(30 * 86_400_000))
            }
            var overrides: [ModeOverride] = []
            var t = b
            for k in 0..<(unchanging ? 0 : rng.int(0...3)) {
                t += rng.int(60_000...(20 * 86_400_000))
                let until: Milliseconds? = rng.chance(70) ? t + rng.int(60_000...(2 * 86_400_000)) : nil
                overrides.append(
                    ModeOverride(
                        id: EventID(UInt64(10 + k)), plan: PlanID(rng.pick(plans)), effectiveAtMs: t, untilMs: until))
            }
            let line = ModeLine(
                corridor: corridor, referenceEpochMs: Self.epoch, baseline: Baseline(atMs: b, plan: PlanID("normal")),
                overrides: overrides, schedules: schedules)
            for _ in 0..<4 {
                let q = b + rng.int(0...(70 * 86_400_000))
                let horizon: Milliseconds = rng.int(0...(3 * 86_400_000))
                let full = line.segments(through: q + horizon)
                let expected = full.last { $0.startMs <= q }!
                XCTAssertEqual(line.segment(at: q), expected, "round \(round) at \(q)")
                XCTAssertEqual(
                    line.segments(from: q, through: q + horizon), [expected] + full.filter { $0.startMs > q },
                    "round \(round) at \(q)")
                let (m, until) = line.modeAndEnd(at: q, horizonMs: horizon)
                XCTAssertEqual(m, expected)
                XCTAssertEqual(until, full.first { $0.startMs > q }?.startMs)
                // The plan events through q are those through any later instant that take effect by q (what
                // lets the state machine cache them a horizon ahead).
                XCTAssertEqual(
                    line.planEvents(through: q), line.planEvents(through: q + horizon).filter { $0.effectiveAtMs <= q },
                    "round \(round) at \(q)")
                if q - b > ModeLine.lookBackMs { lookedBack += 1 }
                if expected.source == .baseline && q - b > ModeLine.lookBackMs { stayedBaseline += 1 }
            }
        }
        XCTAssertGreaterThan(lookedBack, 300)
        XCTAssertGreaterThan(stayedBaseline, 10)
    }

    /// What a query about now costs on a corridor that has run its schedule for two years without a command
    /// (its baseline still at the reference epoch): one 8-day window, not the 730 days since the baseline
    /// (issue 21's schedule made every status request walk them, and 47 controllers saturated both cores).
    func testAQueryAboutNowLooksBackOneWindowNotToTheBaseline() throws {
        let line = ModeLine(
            corridor: Fixture.corridor(count: 2), referenceEpochMs: Self.epoch,
            baseline: Baseline(atMs: Self.epoch, plan: PlanID("normal")), overrides: [],
            schedule: ScheduleInForce(schedule: try Self.weekSchedule(), sinceMs: Self.epoch, id: EventID(0)))
        for hours in stride(from: 0, to: 24 * 7, by: 5) {
            let now = Self.epoch + 730 * 86_400_000 + Milliseconds(hours) * 3_600_000
            let (segment, walkedFrom) = line.segmentAndWalk(at: now)
            XCTAssertGreaterThanOrEqual(walkedFrom, now - ModeLine.lookBackMs, "at +\(hours) h")
            XCTAssertEqual(segment.source, .schedule)
            XCTAssertEqual(segment.plan, line.mode(at: now).plan)
            XCTAssertLessThanOrEqual(segment.startMs, now)
            XCTAssertGreaterThan(segment.startMs, now - 2 * 86_400_000, "the week schedule changes every day")
        }
        // The same answer as the walk from the baseline, once.
        let now = Self.epoch + 730 * 86_400_000 + 13 * 3_600_000
        XCTAssertEqual(line.segment(at: now), line.segments(through: now).last)
    }

    func testOverrideUntilAndScheduleSupersession() throws {
        let corridor = Fixture.corridor(count: 2)
        let s = try Self.weekSchedule()
        // Thursday 2025-01-02 07:00 IST.
        let thu0700: Milliseconds = 1_735_781_400_000
        let eightAM = ModeLine.boundary(atOrAfter: thu0700 + 3_600_000, epochMs: Self.epoch, cycleMs: 90_000)
        let base = Baseline(atMs: Self.epoch, plan: PlanID("normal"))
        let sched = ScheduleInForce(schedule: s, sinceMs: Self.epoch, id: EventID(0))
        var line = ModeLine(
            corridor: corridor, referenceEpochMs: Self.epoch, baseline: base, overrides: [], schedule: sched)
        XCTAssertEqual(line.mode(at: thu0700).plan, PlanID("normal"))
        XCTAssertEqual(line.nextScheduledChange(after: thu0700)?.atMs, eightAM)
        XCTAssertEqual(line.mode(at: eightAM - 1).plan, PlanID("normal"))
        XCTAssertEqual(line.mode(at: eightAM).plan, PlanID("long"))
        // An operator's flash from 07:00 until the next scheduled change.
        let o = ModeOverride(id: EventID(7), plan: PlanID("flash"), effectiveAtMs: thu0700, untilMs: eightAM)
        line = ModeLine(
            corridor: corridor, referenceEpochMs: Self.epoch, baseline: base, overrides: [o], schedule: sched)
        XCTAssertEqual(line.mode(at: thu0700 + 1).plan, PlanID("flash"))
        XCTAssertEqual(line.mode(at: thu0700 + 1).source, .override(EventID(7)))
        let (m, until) = line.modeAndEnd(at: thu0700 + 1)
        XCTAssertEqual(m.source, .override(EventID(7)))
        XCTAssertEqual(until, eightAM)
        XCTAssertEqual(line.mode(at: eightAM).source, .schedule)
        XCTAssertEqual(line.mode(at: eightAM).plan, PlanID("long"))
        // A schedule set after an indefinite override takes over from its start.
        let forever = ModeOverride(id: EventID(7), plan: PlanID("flash"), effectiveAtMs: thu0700, untilMs: nil)
        let later = ScheduleInForce(schedule: s, sinceMs: eightAM + 90_000, id: EventID(9))
        line = ModeLine(
            corridor: corridor, referenceEpochMs: Self.epoch, baseline: base, overrides: [forever], schedule: later)
        XCTAssertEqual(line.mode(at: eightAM).plan, PlanID("flash"))
        XCTAssertEqual(line.mode(at: eightAM + 90_000).plan, PlanID("long"))
        XCTAssertEqual(line.mode(at: eightAM + 90_000).eventID, EventID(9))
        // Without a schedule the mode line is the overrides alone, as mode commands always were.
        line = ModeLine(
            corridor: corridor, referenceEpochMs: Self.epoch, baseline: base, overrides: [forever], schedule: nil)
        XCTAssertEqual(line.mode(at: thu0700 - 1).source, .baseline)
        XCTAssertEqual(line.mode(at: thu0700 + 400 * 86_400_000).plan, PlanID("flash"))
        XCTAssertEqual(
            line.planEvents(through: thu0700 + 86_400_000),
            [ControlEvent(id: EventID(7), effectiveAtMs: thu0700, action: .setPlan(PlanID("flash")))])
    }
}
