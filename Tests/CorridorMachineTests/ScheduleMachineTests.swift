import CorridorFile
import Foundation
import SignalTiming
import XCTest

@testable import CorridorMachine

/// The replicated time-of-day schedule: genesis from the corridor file, `setSchedule` (engineer only),
/// overrides with `until`, compaction, encoding, and a replica that applies nothing (cut off) computing
/// the same lamps and, once it catches up, the same state hash.
final class ScheduleMachineTests: XCTestCase {
    /// demo-5 plans (normal 90 s, rush-hour 120 s, night 60 s, flash) on a Mumbai week.
    static let scheduleYAML = """
        schedule:
          utc_offset: "+05:30"
          day_plans:
            weekday:
              - { at: "06:00", plan: normal }
              - { at: "08:00", plan: rush-hour }
              - { at: "11:30", plan: normal }
              - { at: "23:00", plan: night }
            sunday:
              - { at: "07:00", plan: normal }
              - { at: "23:00", plan: night }
          week: { monday: weekday, tuesday: weekday, wednesday: weekday, thursday: weekday, friday: weekday, saturday: weekday, sunday: sunday }
          holidays:
            - { date: "2025-01-26", day_plan: sunday }
        """

    static func document(schedule: String = scheduleYAML) throws -> CorridorDocument {
        let text = try String(contentsOfFile: Fixture.repoRoot + "/corridors/demo-5.yaml", encoding: .utf8)
        return try CorridorFile.parse(yaml: text + "\n" + schedule + "\n", file: "demo-5+schedule.yaml")
    }

    static func machine() throws -> CorridorMachine {
        let doc = try document()
        return try CorridorMachine(
            corridor: doc.corridor, referenceEpochMs: doc.referenceEpochMs, initialPlan: doc.initialPlan,
            corridorID: Fixture.corridorID,
            operators: Fixture.operatorNames.map {
                OperatorRecord(name: $0, publicKey: Fixture.signer($0).publicKey, role: .engineer)
            },
            schedule: doc.schedule)
    }

    /// UTC ms of a local IST date and time.
    static func ist(_ date: String, _ time: String) -> Int64 {
        CivilDate(parsing: date)!.daysSinceUnixEpoch * 86_400_000 + Int64(ScheduleAction.parseTime(time)!) * 60_000
            - 330 * 60_000
    }

    func testCorridorFileScheduleIsValidatedWithFileAndKey() throws {
        XCTAssertNotNil(try Self.document().schedule)
        func problem(_ yaml: String) -> String {
            do {
                _ = try Self.document(schedule: yaml)
                return ""
            } catch { return "\(error)" }
        }
        let unknownPlan = Self.scheduleYAML.replacingOccurrences(of: "plan: rush-hour", with: "plan: evening")
        XCTAssertTrue(problem(unknownPlan).contains("demo-5+schedule.yaml"), problem(unknownPlan))
        XCTAssertTrue(
            problem(unknownPlan).contains("schedule.day_plans.weekday[1].plan: unknown plan 'evening'"),
            problem(unknownPlan))
        let dst = Self.scheduleYAML.replacingOccurrences(of: "\"+05:30\"", with: "Asia/Kolkata")
        XCTAssertTrue(problem(dst).contains("schedule.utc_offset: expected a fixed UTC offset"), problem(dst))
        let close = Self.scheduleYAML.replacingOccurrences(of: "\"08:00\"", with: "\"06:10\"")
        XCTAssertTrue(problem(close).contains("schedule.day_plans.weekday[1].at: 06:10 follows 06:00"), problem(close))
        let badDate = Self.scheduleYAML.replacingOccurrences(of: "2025-01-26", with: "2025-02-30")
        XCTAssertTrue(problem(badDate).contains("schedule.holidays[0].date"), problem(badDate))
        let noSunday = Self.scheduleYAML.replacingOccurrences(of: ", sunday: sunday }", with: " }")
        XCTAssertTrue(problem(noSunday).contains("schedule.week.sunday: missing field"), problem(noSunday))
        let badTime = Self.scheduleYAML.replacingOccurrences(
            of: "\"23:00\", plan: night }\n    sunday", with: "\"24:00\", plan: night }\n    sunday")
        XCTAssertTrue(problem(badTime).contains("expected a local time HH:MM"), problem(badTime))
    }

    func testTheModeFollowsTheScheduleAtCycleBoundaries() throws {
        let m = try Self.machine()
        let eight = Self.ist("2025-01-02", "08:00") // a Thursday
        // normal runs 90 s cycles from the epoch: 08:00 IST is a boundary only if 90 s divides the offset.
        let boundary = ModeLine.boundary(atOrAfter: eight, epochMs: m.referenceEpochMs, cycleMs: 90_000)
        XCTAssertEqual(m.mode(at: boundary - 1).plan, PlanID("normal"))
        XCTAssertEqual(m.mode(at: boundary).plan, PlanID("rush-hour"))
        // Republic Day: the holiday plan
        XCTAssertEqual(m.mode(at: Self.ist("2025-01-26", "09:00")).plan, PlanID("normal"))
        XCTAssertEqual(m.mode(at: Self.ist("2025-01-27", "09:00")).plan, PlanID("rush-hour"))
        XCTAssertEqual(m.mode(at: Self.ist("2025-01-27", "03:00")).plan, PlanID("night"))
        let f = m.modeInForce(at: boundary + 1)
        XCTAssertEqual(f.source, .schedule)
        XCTAssertEqual(f.sinceMs, boundary)
        XCTAssertEqual(
            f.untilMs,
            ModeLine.boundary(atOrAfter: Self.ist("2025-01-02", "11:30"), epochMs: m.referenceEpochMs, cycleMs: 120_000)
        )
    }

    func testOverrideLastsUntilTheNextScheduledChangeOrAGivenTime() throws {
        var d = Driver()
        d.m = try Self.machine()
        let t = Self.ist("2025-01-02", "07:00")
        let r = d.send(.setMode(PlanID("flash")), at: t)
        guard case .accepted(let at)? = r.result else { return XCTFail("\(String(describing: r.result))") }
        let eight = ModeLine.boundary(
            atOrAfter: Self.ist("2025-01-02", "08:00"), epochMs: d.m.referenceEpochMs, cycleMs: 90_000)
        let f = d.m.modeInForce(at: at + 1)
        XCTAssertEqual(f.plan, PlanID("flash"))
        XCTAssertEqual(f.source, .override(EventID(1)))
        XCTAssertEqual(f.untilMs, eight)
        XCTAssertEqual(f.provenance?.operatorID, "asha")
        XCTAssertEqual(d.m.mode(at: eight).plan, PlanID("rush-hour"))
        // Pending at the clock: the override, then the schedule's change that ends it.
        XCTAssertEqual(d.m.pendingModes.map(\.plan), [PlanID("flash"), PlanID("rush-hour")])
        XCTAssertEqual(d.m.pendingModes.map(\.effectiveAtMs), [at, eight])
        // Until a given time: night from 07:10 until 07:30 (on a night cycle boundary), then the schedule's normal.
        let r2 = d.send(
            .setModeUntil(PlanID("night"), until: .time(Self.ist("2025-01-02", "07:30") + 1)), at: t + 600_000)
        XCTAssertTrue(r2.result!.isAccepted, "\(r2.result!)")
        let end = ModeLine.boundary(
            atOrAfter: Self.ist("2025-01-02", "07:30") + 1, epochMs: d.m.referenceEpochMs, cycleMs: 60_000)
        XCTAssertEqual(d.m.mode(at: end - 1).plan, PlanID("night"))
        XCTAssertEqual(d.m.modeInForce(at: end).source, .schedule)
        XCTAssertEqual(d.m.mode(at: end).plan, PlanID("normal"))
        // Hostile or senseless untils are refused with a reason.
        XCTAssertEqual(
            d.send(.setModeUntil(PlanID("night"), until: .time(t)), at: t + 700_000).result?.code, .invalidCommand)
        XCTAssertEqual(
            d.send(.setModeUntil(PlanID("night"), until: .time(Int64.max)), at: t + 800_000).result?.code,
            .invalidCommand)
        XCTAssertEqual(
            d.send(.setModeUntil(PlanID("night"), until: .time(Int64.min)), at: t + 900_000).result?.code,
            .invalidCommand)
        // Without a schedule there is nothing to return to.
        var plain = Driver()
        XCTAssertEqual(
            plain.send(.setModeUntil(PlanID("night"), until: .nextScheduledChange), at: Fixture.t0).result?.code,
            .invalidCommand)
        XCTAssertEqual(
            plain.send(.setModeUntil(PlanID("night"), until: .time(Fixture.t0 + 3_600_000)), at: Fixture.t0 + 1).result?
                .code, .invalidCommand)
    }

    func testSetScheduleNeedsAnEngineerAndTakesOverAtACycleBoundary() throws {
        var d = Driver()
        let t = Fixture.t0
        let otto = Fixture.signer("otto")
        XCTAssertTrue(
            d.send(.addOperator(name: "otto", publicKey: otto.publicKey, role: .supervisor), at: t).result!.isAccepted)
        let s = try XCTUnwrap(Self.document().schedule)
        XCTAssertEqual(d.send(.setSchedule(s), client: 2, at: t + 1_000, op: "otto").result?.code, .forbidden)
        XCTAssertTrue(d.m.schedules.isEmpty)
        // A plan the corridor does not have is refused.
        let bogus = try TimeOfDaySchedule(
            utcOffsetMinutes: 330,
            dayPlans: [DayPlan(name: "d", actions: [ScheduleAction(minuteOfDay: 0, plan: PlanID("evening"))])],
            week: Array(repeating: "d", count: 7), holidays: [])
        XCTAssertEqual(d.send(.setSchedule(bogus), at: t + 2_000).result?.code, .unknownPlan)
        let r = d.send(.setSchedule(s), at: t + 3_000)
        guard case .accepted(let since)? = r.result else { return XCTFail("\(String(describing: r.result))") }
        XCTAssertEqual((since - d.m.referenceEpochMs) % 90_000, 0)
        XCTAssertGreaterThanOrEqual(since, t + 3_000 + d.m.settings.safetyMarginMs)
        XCTAssertEqual(d.m.modeInForce(at: since).source, .schedule)
        XCTAssertEqual(d.m.modeInForce(at: since - 1).source, .baseline)
        // The state round-trips through its encoding with the same hash and the same modes.
        let copy = try CorridorMachine(encodedState: d.m.encodedState())
        XCTAssertEqual(copy.stateHash, d.m.stateHash)
        XCTAssertEqual(copy.encodedState(), d.m.encodedState())
        for k in 0..<50 {
            let q = since + Int64(k) * 3_600_000
            XCTAssertEqual(copy.mode(at: q).plan, d.m.mode(at: q).plan)
        }
        // The command round-trips through its codec.
        var w = ByteWriter()
        Codecs.command(&w, .setSchedule(s))
        var rd = ByteReader(w.bytes)
        XCTAssertEqual(try Codecs.command(&rd), .setSchedule(s))
    }

    /// Replica A applies commands through a week (rejected no-ops that move its clock, so it compacts);
    /// replica B applies none after genesis (a controller cut off from the others). B's timeline, extended
    /// by `timeline(through:)`, shows the same lamps as A's at every change of A; when B applies the
    /// entries it missed, its state hash is A's.
    func testACutOffReplicaFollowsTheScheduleAndRejoinsWithTheSameHash() throws {
        var a = Driver()
        a.m = try Self.machine()
        let cutOff = a.m
        let start = Self.ist("2025-01-06", "00:00") // a Monday
        var entries: [[UInt8]] = []
        var baselines = Set<Int64>()
        for hour in stride(from: 0, to: 7 * 24, by: 1) {
            let t = start + Int64(hour) * 3_600_000
            a.seq += 1
            // Alternate clients so that the session window never expires a live client.
            let client = ClientID.timed(createdAtMs: t, random: UInt64(100 + hour))
            let bytes = signed(.release(SignalID(1)), clientID: client, seq: a.seq, at: t)
            entries.append(bytes)
            XCTAssertEqual(a.raw(bytes).result?.code, .notHeld)
            baselines.insert(a.m.baseline.atMs)
        }
        XCTAssertGreaterThan(baselines.count, 20, "history compacts as the scheduled changes settle")
        let b = cutOff
        let end = start + 7 * 86_400_000
        let bt = try b.timeline(through: end + 86_400_000)
        let at = try a.m.timeline(through: end + 86_400_000)
        for s in b.corridor.signals {
            var checked = 0
            var cursor = bt.cursor(of: s.id, at: a.m.baseline.atMs)
            for st in at.changes(of: s.id, fromMs: a.m.baseline.atMs, throughMs: end + 12 * 3_600_000) {
                let other = cursor.state(at: st.atMs)
                XCTAssertEqual(other.lamps, st.lamps, "signal \(s.id) at \(st.atMs)")
                XCTAssertEqual(other.plan, st.plan, "signal \(s.id) at \(st.atMs)")
                checked += 1
            }
            XCTAssertGreaterThan(checked, 100)
        }
        // Rejoin: apply what was missed.
        var rejoined = b
        for (i, bytes) in entries.enumerated() {
            _ = rejoined.apply(index: UInt64(i + 1), term: 1, kind: .normal, payload: bytes)
        }
        XCTAssertEqual(rejoined.stateHash, a.m.stateHash)
        XCTAssertEqual(rejoined.encodedState(), a.m.encodedState())
    }
}
