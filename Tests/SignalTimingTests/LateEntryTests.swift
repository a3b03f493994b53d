import Foundation
import SignalTimingSimulation
import XCTest

@testable import SignalTiming

/// Safe late entry and the start-up sequence (`SignalFollower`): a controller that learns of commands
/// late, restarts, or is caught up from a snapshot never trips its own conflict monitor and is back on
/// the corridor's schedule within `LateEntry.convergenceCyclesMax` cycles.
///
/// Reproduce a history with `GREENWAVE_SEED=<seed> swift test --filter LateEntryTests`.
final class LateEntryTests: XCTestCase {
    /// Histories in the suite (`tools/late-entry` runs ≥ 10^5 of them in a release build).
    static let histories: UInt64 = 150

    /// History i's seed, as `greenwave-late-entry` maps it.
    static func seed(_ i: UInt64) -> UInt64 { 0x6C61_7465_656E_7472 &+ i &* 0x9E37_79B9_7F4A_7C15 }

    func testRandomHistoriesNeverTripTheMonitorAndConvergeWithinTheBound() throws {
        if let env = ProcessInfo.processInfo.environment["GREENWAVE_SEED"], let s = UInt64(env) {
            let trace = ProcessInfo.processInfo.environment["GREENWAVE_TRACE"] != nil
            let r = try LateEntryHistories.run(seed: s, trace: trace ? { print($0) } : nil)
            XCTAssertEqual(r.trips.map(\.fault), [])
            XCTAssertEqual(r.late.map(\.detail), [])
            return
        }
        var total = LateEntryReport()
        for i in 0..<Self.histories { total.add(try LateEntryHistories.run(seed: Self.seed(i))) }
        print(
            "late-entry histories: \(total.histories), signals: \(total.signals), commands: \(total.commands), lamp changes: \(total.lampChanges), isolations: \(total.isolations), restarts: \(total.restarts), snapshots: \(total.snapshots), late entries: \(total.lateEntries), converged: \(total.convergenceMs.count) (max \(total.convergenceMilliCycles.max() ?? 0)/1000 cycles), already on schedule: \(total.alreadyOnSchedule)"
        )
        XCTAssertEqual(total.trips.map(\.fault), [], "monitor trips")
        XCTAssertEqual(total.late.map(\.detail), [], "signals not back on the schedule within the bound")
        // The generator must exercise the interesting paths.
        XCTAssertGreaterThan(total.isolations, 100)
        XCTAssertGreaterThan(total.restarts, 100)
        XCTAssertGreaterThan(total.snapshots, 50)
        XCTAssertGreaterThan(total.lateEntries, 50)
        XCTAssertGreaterThan(total.convergenceMs.count, 100)
    }

    /// The same histories with the lamp logic the controller had before late entry (show the schedule
    /// of whatever timeline is known, jump when it changes): the monitor trips. This is what makes the
    /// test above able to fail.
    func testJumpingToTheScheduleTripsTheMonitor() throws {
        var total = LateEntryReport()
        for i in 0..<Self.histories / 3 {
            total.add(try LateEntryHistories.run(seed: Self.seed(i), logic: .jumpToSchedule))
        }
        print("jump-to-schedule histories: \(total.histories), monitor trips: \(total.trips.count)")
        XCTAssertGreaterThan(total.trips.count, 10, "an unsafe jump must be caught")
    }

    // MARK: - One controller, by hand

    let corridor = Fixture.corridor()
    let epoch: Milliseconds = 1_700_000_000_000
    var base: Milliseconds { epoch }
    let s1 = SignalID(1)

    func timeline(_ events: [ControlEvent]) throws -> CorridorTimeline {
        try CorridorTimeline(
            corridor: corridor, referenceEpochMs: epoch, baseline: Baseline(atMs: base, plan: PlanID("normal")),
            events: events)
    }

    /// Runs `follower` through `throughMs`, feeding `monitor`; returns the changes.
    @discardableResult
    func run(
        _ follower: inout SignalFollower, _ monitor: inout ConflictMonitor, through t: Milliseconds
    ) -> [SignalState] {
        let ch = follower.changes(through: t)
        for st in ch {
            XCTAssertEqual(
                monitor.observe(atMs: st.atMs, lamps: st.lamps), [], "at \(st.atMs): \(st.lamps) \(st.interval)")
        }
        return ch
    }

    /// A plan change learnt 30 s after it took effect, mid-green: the follower finishes the green
    /// (never below min green), yellow and all-red in full, and transitions; the old logic cuts the
    /// green (monitor trip).
    func testALatePlanChangeIsEnteredSafelyAndTheJumpIsNot() throws {
        let t0 = try timeline([])
        let change = ControlEvent(
            id: EventID(1), effectiveAtMs: base + 10 * 90_000 + 20_000, action: .setPlan(PlanID("long")))
        let t1 = try timeline([change])
        var found = false
        // Try learning it at every second for two cycles: the jump trips at some of them, the follower never.
        for lateS in stride(from: Int64(0), through: 240, by: 1) {
            let learnt = change.effectiveAtMs + lateS * 1000
            var f = SignalFollower(signal: s1, inStepWith: t0, at: base + 9 * 90_000)
            var m = ConflictMonitor(signal: corridor.signals[0])
            _ = m.observe(atMs: f.nowMs, lamps: f.state(at: f.nowMs).lamps)
            run(&f, &m, through: learnt)
            f.update(timeline: t1)
            run(&f, &m, through: learnt + LateEntry.convergenceCyclesMax * 120_000)
            XCTAssertTrue(f.inStep, "learnt \(lateS) s late: in step")
            XCTAssertFalse(m.tripped)
            // The jump: the old timeline's lamps until `learnt`, then the new one's.
            var jm = ConflictMonitor(signal: corridor.signals[0])
            for st in t0.changes(of: s1, fromMs: base + 9 * 90_000, throughMs: learnt) {
                jm.observe(atMs: st.atMs, lamps: st.lamps)
            }
            jm.observe(atMs: learnt, lamps: t1.state(of: s1, at: learnt).lamps)
            for st in t1.changes(of: s1, fromMs: learnt, throughMs: learnt + 600_000).dropFirst() {
                jm.observe(atMs: st.atMs, lamps: st.lamps)
            }
            if jm.tripped { found = true }
        }
        XCTAssertTrue(found, "some lateness makes the jump trip")
    }

    /// The start-up sequence: flash for the start-up time, all red for at least the corridor's
    /// flash-exit red, then the schedule at a safe point — in step within one cycle.
    func testStartUpFlashesThenAllRedThenEntersTheSchedule() throws {
        let tl = try timeline([])
        for startS in stride(from: Int64(0), to: 90, by: 3) {
            let start = base + 5 * 90_000 + startS * 1000
            var f = SignalFollower(signal: s1, timeline: tl, startingAt: start, startupFlashMs: 10_000)
            var m = ConflictMonitor(signal: corridor.signals[0])
            let first = f.state(at: start)
            XCTAssertEqual(first.interval, .flash)
            XCTAssertEqual(f.status, .startup)
            m.observe(atMs: start, lamps: first.lamps)
            let ch = run(&f, &m, through: start + 3 * 90_000)
            XCTAssertFalse(m.tripped)
            let red = try XCTUnwrap(ch.first)
            XCTAssertEqual(red.atMs, start + 10_000, "flash lasts the start-up time")
            XCTAssertEqual(red.lamps, Array(repeating: .red, count: red.lamps.count))
            let entry = try XCTUnwrap(ch.dropFirst().first)
            XCTAssertGreaterThanOrEqual(
                entry.atMs - red.atMs, corridor.safety.flashExitRedMs, "all-red at least the flash-exit red")
            XCTAssertTrue(f.inStep)
            let since = try XCTUnwrap(f.inStepSinceMs)
            XCTAssertLessThanOrEqual(
                since - start, 10_000 + corridor.safety.flashExitRedMs + 90_000,
                "in step within a cycle of the start-up")
            // And from there it is the schedule.
            let mine = f.changes(through: start + 6 * 90_000)
            let theirs = tl.changes(of: s1, fromMs: start + 3 * 90_000, throughMs: start + 6 * 90_000).dropFirst()
            XCTAssertEqual(mine.map(\.lamps), theirs.map(\.lamps))
            XCTAssertEqual(mine.map(\.atMs), theirs.map(\.atMs))
        }
    }

    /// A compaction (same schedule from a new baseline) or a command for the future does not disturb a
    /// follower in step.
    func testAnEquivalentTimelineOrAFutureCommandKeepsTheFollowerInStep() throws {
        let tl = try timeline([])
        var f = SignalFollower(signal: s1, inStepWith: tl, at: base + 1_000)
        var m = ConflictMonitor(signal: corridor.signals[0])
        run(&f, &m, through: base + 20 * 90_000 + 12_345)
        let compacted = try CorridorTimeline(
            corridor: corridor, referenceEpochMs: epoch,
            baseline: Baseline(atMs: base + 18 * 90_000, plan: PlanID("normal")), events: [])
        f.update(timeline: compacted)
        XCTAssertTrue(f.inStep)
        let future = try CorridorTimeline(
            corridor: corridor, referenceEpochMs: epoch,
            baseline: Baseline(atMs: base + 18 * 90_000, plan: PlanID("normal")),
            events: [ControlEvent(id: EventID(7), effectiveAtMs: f.nowMs + 5_000, action: .setPlan(PlanID("long")))])
        f.update(timeline: future)
        XCTAssertTrue(f.inStep)
        XCTAssertEqual(f.lateEntries, 0)
        let mine = run(&f, &m, through: f.nowMs + 10 * 120_000)
        let theirs = future.changes(
            of: s1, fromMs: base + 20 * 90_000 + 12_345, throughMs: base + 20 * 90_000 + 12_345 + 10 * 120_000
        ).dropFirst()
        XCTAssertEqual(mine.map(\.lamps), theirs.map(\.lamps))
        XCTAssertFalse(m.tripped)
    }
}
