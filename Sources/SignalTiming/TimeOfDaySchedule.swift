// A time-of-day schedule (NTCIP 1201 time base / 1202 pattern scheduling concepts): day plans of
// (local time → plan) actions, a week table (day of week → day plan) and holidays (date → day plan),
// in local time at a fixed UTC offset. Pure integer arithmetic on ms since the Unix epoch, no
// Foundation, no time-zone database: a fixed offset is exact (India: +05:30, no daylight saving).
//
// The plan an action selects stays in force across midnight until the next action of a later day
// (NTCIP's day plan rule): a day plan whose first action is 06:00 keeps the previous day's last plan
// until then.

/// A Gregorian calendar date within `Limits.earliestTimeMs...latestTimeMs` (2000-01-01 ... 2199-12-31).
public struct CivilDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    public init?(year: Int, month: Int, day: Int) {
        guard (2000...2199).contains(year), (1...12).contains(month), day >= 1,
            day <= CivilDate.daysIn(month: month, year: year)
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// `YYYY-MM-DD`, exactly (four, two and two digits).
    public init?(parsing text: String) {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == 0x2D, b[7] == 0x2D else { return nil }
        func number(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard let y = number(0..<4), let m = number(5..<7), let d = number(8..<10) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }
    static func daysIn(month m: Int, year y: Int) -> Int {
        switch m {
        case 2: return isLeap(y) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's days_from_civil; exact for the proleptic Gregorian calendar).
    public var daysSinceUnixEpoch: Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01 (civil_from_days); nil outside 2000...2199.
    public init?(daysSinceUnixEpoch days: Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        guard y >= 2000, y <= 2199 else { return nil }
        self.init(year: Int(y), month: Int(m), day: Int(d))
    }

    /// ISO day of the week: 0 Monday ... 6 Sunday (1970-01-01 was a Thursday).
    public var weekday: Int { Int(floorMod(daysSinceUnixEpoch + 3, 7)) }

    public static func < (a: CivilDate, b: CivilDate) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }
    public var description: String {
        func pad(_ v: Int, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }
}

/// One action of a day plan: from `minuteOfDay` (local time, 0 = 00:00) the corridor runs `plan`.
public struct ScheduleAction: Hashable, Sendable {
    public var minuteOfDay: Int
    public var plan: PlanID
    public init(minuteOfDay: Int, plan: PlanID) {
        self.minuteOfDay = minuteOfDay
        self.plan = plan
    }
    /// `HH:MM`.
    public var timeText: String { Self.timeText(minuteOfDay) }
    public static func timeText(_ minute: Int) -> String {
        let h = minute / 60
        let m = minute % 60
        return (h < 10 ? "0" : "") + "\(h):" + (m < 10 ? "0" : "") + "\(m)"
    }
    /// Parses `HH:MM` (00:00 ... 23:59) into minutes of the day.
    public static func parseTime(_ text: String) -> Int? {
        let b = Array(text.utf8)
        guard b.count == 5, b[2] == 0x3A, b.indices.allSatisfy({ $0 == 2 || (b[$0] >= 0x30 && b[$0] <= 0x39) }) else {
            return nil
        }
        let h = Int(b[0] - 0x30) * 10 + Int(b[1] - 0x30)
        let m = Int(b[3] - 0x30) * 10 + Int(b[4] - 0x30)
        guard h < 24, m < 60 else { return nil }
        return h * 60 + m
    }
}

public struct DayPlan: Hashable, Sendable {
    public var name: String
    /// Strictly increasing times, at least one.
    public var actions: [ScheduleAction]
    public init(name: String, actions: [ScheduleAction]) {
        self.name = name
        self.actions = actions
    }
}

public struct Holiday: Hashable, Sendable {
    public var date: CivilDate
    public var dayPlan: String
    public init(date: CivilDate, dayPlan: String) {
        self.date = date
        self.dayPlan = dayPlan
    }
}

/// A validated time-of-day schedule. Build it with `init(…)`, which refuses anything it cannot
/// evaluate exactly; then `validate(planIDs:)` against the corridor's plans.
public struct TimeOfDaySchedule: Hashable, Sendable {
    /// Local time = UTC + this many minutes (−12:00 ... +14:00). India is +330.
    public let utcOffsetMinutes: Int
    /// Sorted by name, unique.
    public let dayPlans: [DayPlan]
    /// The day plan of each day of the week, Monday first (7 names).
    public let week: [String]
    /// Sorted by date, one per date.
    public let holidays: [Holiday]

    public static let dayPlansMax = 16
    public static let actionsPerDayMax = 24
    public static let holidaysMax = 400
    public static let nameBytesMax = 64
    /// Scheduled changes are at least this far apart, also across midnight whatever day plans meet
    /// there: longer than a transition into step takes (at most 5 cycles of `Limits.cycleMsMax`), so each
    /// scheduled change has settled before the next, and aligning a change to a cycle boundary (less than
    /// one cycle later) never reorders two changes.
    public static let actionSpacingMinutesMin = 30
    public static let weekdayNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    static let minuteMs: Milliseconds = 60_000
    static let dayMs: Milliseconds = 86_400_000

    public init(utcOffsetMinutes: Int, dayPlans: [DayPlan], week: [String], holidays: [Holiday]) throws {
        guard (-720...840).contains(utcOffsetMinutes) else {
            throw TimingError("UTC offset \(utcOffsetMinutes) min is outside -12:00...+14:00")
        }
        guard !dayPlans.isEmpty, dayPlans.count <= Self.dayPlansMax else {
            throw TimingError("a schedule needs 1...\(Self.dayPlansMax) day plans, got \(dayPlans.count)")
        }
        let sorted = dayPlans.sorted { $0.name < $1.name }
        for (i, d) in sorted.enumerated() {
            guard !d.name.isEmpty, d.name.utf8.count <= Self.nameBytesMax else {
                throw TimingError("day plan names must be 1...\(Self.nameBytesMax) bytes")
            }
            if i > 0, sorted[i - 1].name == d.name { throw TimingError("day plan '\(d.name)' is defined twice") }
            try Self.check(d)
        }
        for a in sorted {
            for b in sorted {
                let gap = 1_440 - a.actions[a.actions.count - 1].minuteOfDay + b.actions[0].minuteOfDay
                if gap < Self.actionSpacingMinutesMin {
                    throw TimingError(
                        "day plan '\(a.name)' ends with an action at \(a.actions[a.actions.count - 1].timeText) and '\(b.name)' starts at \(b.actions[0].timeText): across midnight they are \(gap) min apart, at least \(Self.actionSpacingMinutesMin) min needed"
                    )
                }
            }
        }
        guard week.count == 7 else {
            throw TimingError("the week table needs 7 days (monday ... sunday), got \(week.count)")
        }
        for (i, w) in week.enumerated() where !sorted.contains(where: { $0.name == w }) {
            throw TimingError("\(Self.weekdayNames[i]): unknown day plan '\(w)'")
        }
        guard holidays.count <= Self.holidaysMax else {
            throw TimingError("\(holidays.count) holidays exceed \(Self.holidaysMax)")
        }
        let hs = holidays.sorted { $0.date < $1.date }
        for (i, h) in hs.enumerated() {
            if i > 0, hs[i - 1].date == h.date { throw TimingError("holiday \(h.date) is listed twice") }
            guard sorted.contains(where: { $0.name == h.dayPlan }) else {
                throw TimingError("holiday \(h.date): unknown day plan '\(h.dayPlan)'")
            }
        }
        self.utcOffsetMinutes = utcOffsetMinutes
        self.dayPlans = sorted
        self.week = week
        self.holidays = hs
    }

    static func check(_ d: DayPlan) throws {
        guard !d.actions.isEmpty, d.actions.count <= actionsPerDayMax else {
            throw TimingError("day plan '\(d.name)' needs 1...\(actionsPerDayMax) actions, got \(d.actions.count)")
        }
        for (i, a) in d.actions.enumerated() {
            guard (0..<1_440).contains(a.minuteOfDay) else {
                throw TimingError("day plan '\(d.name)': time \(a.minuteOfDay) min is outside 00:00...23:59")
            }
            guard !a.plan.rawValue.isEmpty, a.plan.rawValue.utf8.count <= nameBytesMax else {
                throw TimingError("day plan '\(d.name)': plan names must be 1...\(nameBytesMax) bytes")
            }
            if i > 0 {
                let gap = a.minuteOfDay - d.actions[i - 1].minuteOfDay
                guard gap >= actionSpacingMinutesMin else {
                    throw TimingError(
                        "day plan '\(d.name)': actions at \(d.actions[i - 1].timeText) and \(a.timeText) are \(gap) min apart; they must be in increasing order and at least \(actionSpacingMinutesMin) min apart"
                    )
                }
            }
        }
    }

    /// Refuses an action that names a plan not in `planIDs`.
    public func validate(planIDs: [PlanID]) throws {
        for d in dayPlans {
            for a in d.actions where !planIDs.contains(a.plan) {
                throw TimingError(
                    "day plan '\(d.name)' at \(a.timeText): unknown plan '\(a.plan)' (plans: \(planIDs.map(\.rawValue).joined(separator: ", ")))"
                )
            }
        }
    }

    /// Every plan an action names, sorted, once.
    public var plansUsed: [PlanID] {
        var out: [PlanID] = []
        for d in dayPlans { for a in d.actions where !out.contains(a.plan) { out.append(a.plan) } }
        return out.sorted()
    }

    // MARK: - Evaluation

    func dayPlan(named n: String) -> DayPlan { dayPlans.first { $0.name == n }! }

    /// The day plan of local day `day` (days since 1970-01-01 in local time): its holiday's, else the week's.
    public func dayPlan(forLocalDay day: Int64) -> DayPlan {
        if let date = CivilDate(daysSinceUnixEpoch: day) {
            var lo = 0
            var hi = holidays.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if holidays[mid].date < date { lo = mid + 1 } else { hi = mid }
            }
            if lo < holidays.count, holidays[lo].date == date { return dayPlan(named: holidays[lo].dayPlan) }
        }
        return dayPlan(named: week[Int(floorMod(day + 3, 7))])
    }

    /// The local day holding UTC instant `t`, and the UTC instant at which that day starts.
    func localDay(of t: Milliseconds) -> (day: Int64, startMs: Milliseconds) {
        let offset = Int64(utcOffsetMinutes) * Self.minuteMs
        let day = floorDiv(t + offset, Self.dayMs)
        return (day, day * Self.dayMs - offset)
    }

    /// The actions of local day `day` as UTC instants, in order.
    func actionsMs(ofLocalDay day: Int64) -> [(atMs: Milliseconds, plan: PlanID)] {
        let start = day * Self.dayMs - Int64(utcOffsetMinutes) * Self.minuteMs
        return dayPlan(forLocalDay: day).actions.map { (start + Int64($0.minuteOfDay) * Self.minuteMs, $0.plan) }
    }

    /// The plan the schedule selects at `t` (the last action at or before `t`, carried across midnight).
    /// `t` within `Limits.earliestTimeMs...latestTimeMs`.
    public func nominalPlan(at t: Milliseconds) -> PlanID {
        let (day, _) = localDay(of: t)
        var best: PlanID?
        for a in actionsMs(ofLocalDay: day) where a.atMs <= t { best = a.plan }
        if let best { return best }
        let previous = actionsMs(ofLocalDay: day - 1)
        return previous[previous.count - 1].plan
    }

    /// Every instant in `(afterMs, throughMs]` at which the selected plan changes, with the plan from then
    /// on and the plan before; actions that select the plan already in force are no change.
    public func nominalChanges(
        after afterMs: Milliseconds, through throughMs: Milliseconds
    )
        -> [(atMs: Milliseconds, plan: PlanID, previous: PlanID)]
    {
        guard throughMs > afterMs else { return [] }
        var current = nominalPlan(at: afterMs)
        var out: [(Milliseconds, PlanID, PlanID)] = []
        var day = localDay(of: afterMs).day
        let lastDay = localDay(of: throughMs).day
        while day <= lastDay {
            for a in actionsMs(ofLocalDay: day) where a.atMs > afterMs && a.atMs <= throughMs && a.plan != current {
                out.append((a.atMs, a.plan, current))
                current = a.plan
            }
            day += 1
        }
        return out
    }

    /// The first change after `t` within `days` days (a year and a bit covers every holiday), or nil.
    public func nextNominalChange(
        after t: Milliseconds, withinDays days: Int64 = 400
    ) -> (atMs: Milliseconds, plan: PlanID, previous: PlanID)? {
        var from = t
        let end = t + days * Self.dayMs
        while from < end {
            let to = min(end, from + 8 * Self.dayMs)
            if let c = nominalChanges(after: from, through: to).first { return c }
            from = to
        }
        return nil
    }
}
