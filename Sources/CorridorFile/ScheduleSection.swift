import SignalTiming
import Yams

/// The corridor file's `schedule:` section (docs/corridor-format.md, "Schedule"):
///
/// ```yaml
/// schedule:
///   utc_offset: "+05:30"
///   day_plans:
///     weekday: [{ at: "06:00", plan: normal }, { at: "08:00", plan: rush-hour }, ...]
///     sunday:  [{ at: "07:00", plan: normal }, { at: "23:00", plan: night }]
///   week: { monday: weekday, tuesday: weekday, ..., sunday: sunday }
///   holidays: [{ date: "2025-01-26", day_plan: sunday }]
/// ```
extension CorridorFile {
    /// A YAML document whose one key is `schedule:` (as in a corridor file), for `greenwave schedule set` and
    /// the `schedule` command. `plans`: the plans the actions may name (nil: not checked here; the state
    /// machine checks them against the corridor's plans when it applies the command).
    public static func parseSchedule(yaml: String, file: String, plans: [PlanID]? = nil) throws -> TimeOfDaySchedule {
        let r = Reader(file: file)
        let root: Node
        do {
            guard let n = try Yams.compose(yaml: yaml) else {
                throw CorridorFileError(
                    file: file, keyPath: "", line: nil, column: nil, problem: .yaml, message: "the file is empty")
            }
            root = n
        } catch let e as CorridorFileError {
            throw e
        } catch let e as YamlError {
            throw CorridorFileError(
                file: file, keyPath: "", line: r.yamlLine(e), column: nil, problem: .yaml,
                message: "not valid YAML: \(e)")
        }
        var top = try r.obj(Located(node: root, path: ""))
        let s = try r.schedule(try r.required(&top, "schedule"), plans: plans)
        try r.done(top)
        return s
    }
}

extension Reader {
    func schedule(_ at: Located, plans: [PlanID]?) throws -> TimeOfDaySchedule {
        var o = try obj(at)
        let offsetAt = try required(&o, "utc_offset")
        guard let offset = Self.utcOffsetMinutes(try string(offsetAt)) else {
            throw fail(
                offsetAt, .invalidValue,
                "expected a fixed UTC offset like \"+05:30\" (India) or \"+00:00\", -12:00...+14:00; time zones with daylight saving are not supported"
            )
        }
        var dayPlans: [DayPlan] = []
        var dayPlanAt: [String: Located] = [:]
        let dpAt = try required(&o, "day_plans")
        var dp = try obj(dpAt)
        guard !dp.pairs.isEmpty else { throw fail(dpAt, .invalidValue, "a schedule needs at least one day plan") }
        guard dp.pairs.count <= TimeOfDaySchedule.dayPlansMax else {
            throw fail(dpAt, .invalidValue, "\(dp.pairs.count) day plans exceed \(TimeOfDaySchedule.dayPlansMax)")
        }
        for (name, l) in dp.pairs {
            _ = optional(&dp, name)
            guard name.utf8.count <= TimeOfDaySchedule.nameBytesMax, !name.isEmpty else {
                throw fail(l, .invalidValue, "a day plan name must be 1...\(TimeOfDaySchedule.nameBytesMax) bytes")
            }
            dayPlanAt[name] = l
            dayPlans.append(try dayPlan(name, l, plans: plans))
        }
        try done(dp)
        var weekObj = try obj(try required(&o, "week"))
        var week: [String] = []
        for day in TimeOfDaySchedule.weekdayNames {
            let l = try required(&weekObj, day)
            let n = try string(l)
            guard dayPlanAt[n] != nil else {
                throw fail(
                    l, .invalidValue,
                    "unknown day plan '\(n)' (day plans: \(dayPlanAt.keys.sorted().joined(separator: ", ")))")
            }
            week.append(n)
        }
        try done(weekObj)
        var holidays: [Holiday] = []
        if let hl = optional(&o, "holidays") {
            let items = try list(hl)
            guard items.count <= TimeOfDaySchedule.holidaysMax else {
                throw fail(hl, .invalidValue, "\(items.count) holidays exceed \(TimeOfDaySchedule.holidaysMax)")
            }
            for item in items {
                var h = try obj(item)
                let dateAt = try required(&h, "date")
                guard let date = CivilDate(parsing: try string(dateAt)) else {
                    throw fail(dateAt, .invalidValue, "expected a date YYYY-MM-DD between 2000-01-01 and 2199-12-31")
                }
                if holidays.contains(where: { $0.date == date }) {
                    throw fail(dateAt, .duplicateID, "holiday \(date) is listed twice")
                }
                let dpl = try required(&h, "day_plan")
                let n = try string(dpl)
                guard dayPlanAt[n] != nil else { throw fail(dpl, .invalidValue, "unknown day plan '\(n)'") }
                try done(h)
                holidays.append(Holiday(date: date, dayPlan: n))
            }
        }
        try done(o)
        do {
            let s = try TimeOfDaySchedule(utcOffsetMinutes: offset, dayPlans: dayPlans, week: week, holidays: holidays)
            if let plans { try s.validate(planIDs: plans) }
            return s
        } catch let e as TimingError {
            throw fail(at, .invalidValue, e.message)
        }
    }

    func dayPlan(_ name: String, _ l: Located, plans: [PlanID]?) throws -> DayPlan {
        let items = try list(l)
        guard !items.isEmpty, items.count <= TimeOfDaySchedule.actionsPerDayMax else {
            throw fail(
                l, .invalidValue,
                "a day plan needs 1...\(TimeOfDaySchedule.actionsPerDayMax) actions, got \(items.count)")
        }
        var actions: [ScheduleAction] = []
        for item in items {
            var a = try obj(item)
            let timeAt = try required(&a, "at")
            guard let minute = ScheduleAction.parseTime(try string(timeAt)) else {
                throw fail(timeAt, .invalidValue, "expected a local time HH:MM (00:00...23:59), quoted: \"06:00\"")
            }
            if let prev = actions.last, minute - prev.minuteOfDay < TimeOfDaySchedule.actionSpacingMinutesMin {
                throw fail(
                    timeAt, .invalidValue,
                    "\(ScheduleAction.timeText(minute)) follows \(prev.timeText): actions must be in increasing order and at least \(TimeOfDaySchedule.actionSpacingMinutesMin) min apart"
                )
            }
            let planAt = try required(&a, "plan")
            let plan = PlanID(try string(planAt))
            if let plans, !plans.contains(plan) {
                throw fail(
                    planAt, .unknownPlan,
                    "unknown plan '\(plan)' (plans: \(plans.map(\.rawValue).joined(separator: ", ")))")
            }
            try done(a)
            actions.append(ScheduleAction(minuteOfDay: minute, plan: plan))
        }
        return DayPlan(name: name, actions: actions)
    }

    /// `+HH:MM` / `-HH:MM` (also `UTC`, `Z`) into minutes, or nil.
    static func utcOffsetMinutes(_ text: String) -> Int? {
        if text == "Z" || text == "UTC" { return 0 }
        let b = Array(text.utf8)
        guard b.count == 6, b[0] == 0x2B || b[0] == 0x2D,
            let hm = ScheduleAction.parseTime(String(decoding: b[1...], as: UTF8.self))
        else { return nil }
        let v = b[0] == 0x2D ? -hm : hm
        return (-720...840).contains(v) ? v : nil
    }
}

extension TimeOfDaySchedule {
    /// The schedule as a corridor file's `schedule:` section; `CorridorFile.parseSchedule` reads it back to
    /// an equal schedule.
    public var yaml: String {
        let sign = utcOffsetMinutes < 0 ? "-" : "+"
        var out =
            "schedule:\n  utc_offset: \"\(sign)\(ScheduleAction.timeText(abs(utcOffsetMinutes)))\"\n  day_plans:\n"
        for d in dayPlans {
            out += "    \(d.name):\n"
            for a in d.actions { out += "      - { at: \"\(a.timeText)\", plan: \(a.plan.rawValue) }\n" }
        }
        out += "  week:\n"
        for (i, n) in week.enumerated() { out += "    \(Self.weekdayNames[i]): \(n)\n" }
        if !holidays.isEmpty {
            out += "  holidays:\n"
            for h in holidays { out += "    - { date: \"\(h.date)\", day_plan: \(h.dayPlan) }\n" }
        }
        return out
    }
}
