import XCTest

@testable import SignalTiming

final class SignalTimingTests: XCTestCase {
    let epoch: Milliseconds = 1_700_000_000_000

    func timeline(_ events: [ControlEvent] = [], plan: String = "normal", count: Int = 3) throws -> CorridorTimeline {
        try CorridorTimeline(
            corridor: Fixture.corridor(count: count), referenceEpochMs: epoch,
            baseline: Baseline(atMs: epoch, plan: PlanID(plan)), events: events)
    }

    func ev(_ id: UInt64, _ at: Milliseconds, _ a: ControlAction) -> ControlEvent {
        ControlEvent(id: EventID(id), effectiveAtMs: at, action: a)
    }

    /// Offsets reference the start of the coordinated green (NEMA TS2): at epoch + offset + n·C the
    /// main through turns green; the steady cycle is main 44 s green, 4 s yellow, 2 s all-red, then
    /// main-turn and side.
    func testSteadyCycleFollowsReferencePointAndSplits() throws {
        let t = try timeline()
        let c = t.corridor
        let s2 = c.signals[1]
        let offset = c.plans[0].signals[1].offsetMs
        XCTAssertEqual(offset, travelMs(metres: 500, speedKmh: 40)) // 45 000 ms
        let start = epoch + offset + 90_000 * 10
        let a = t.state(of: s2.id, at: start)
        XCTAssertEqual(a.interval, .minGreen)
        XCTAssertEqual(a.stage, Fixture.main)
        XCTAssertEqual(a.lamps, [.green, .green, .red, .red, .red, .red])
        XCTAssertEqual(a.intervalStartMs, start)
        XCTAssertEqual(a.cycleStartMs, start)
        XCTAssertEqual(a.mode, .coordinated)
        XCTAssertEqual(a.nextChangeMs, start + 10_000) // min green ends: code changes to greenRest
        let b = t.state(of: s2.id, at: start + 20_000)
        XCTAssertEqual(b.interval, .greenRest)
        XCTAssertEqual(b.timeLeftMs, 24_000)
        XCTAssertEqual(t.state(of: s2.id, at: start + 44_000).interval, .yellow)
        XCTAssertEqual(t.state(of: s2.id, at: start + 47_999).interval, .yellow)
        XCTAssertEqual(t.state(of: s2.id, at: start + 48_000).interval, .redClear)
        let turn = t.state(of: s2.id, at: start + 50_000)
        XCTAssertEqual(turn.stage, Fixture.turn)
        XCTAssertEqual(turn.lamps, [.red, .red, .green, .green, .red, .red])
        let side = t.state(of: s2.id, at: start + 66_000 + 7_000)
        XCTAssertEqual(side.stage, Fixture.side)
        XCTAssertEqual(side.interval, .extension)
        XCTAssertEqual(t.state(of: s2.id, at: start + 90_000).cycleStartMs, start + 90_000)
        // Times before the reference epoch work too (floor arithmetic).
        let early = try CorridorTimeline(
            corridor: c, referenceEpochMs: epoch,
            baseline: Baseline(atMs: epoch - 1_000_000, plan: PlanID("normal")), events: [])
        XCTAssertEqual(early.state(of: s2.id, at: start - 90_000 * 20).cycleStartMs, start - 90_000 * 20)
    }

    func testCursorAgreesWithPureQueriesAndChangesAreOrdered() throws {
        let t = try timeline([
            ev(1, epoch + 100_000, .setPlan(PlanID("long"))),
            ev(2, epoch + 400_000, .hold(SignalID(2), stage: "side")),
            ev(3, epoch + 500_000, .release(SignalID(2)))
        ])
        for s in t.corridor.signals {
            var c = t.cursor(of: s.id, at: epoch)
            var time = epoch
            while time < epoch + 1_200_000 {
                XCTAssertEqual(c.state(at: time), t.state(of: s.id, at: time))
                time += 7_300
            }
            let ch = t.changes(of: s.id, fromMs: epoch, throughMs: epoch + 1_200_000)
            XCTAssertEqual(zip(ch, ch.dropFirst()).filter { $0.0.atMs >= $0.1.atMs }.count, 0)
        }
    }

    /// A plan change at a corridor cycle boundary: each signal adopts the new plan at its own
    /// next coordinated green, transitions visibly, and is back in step within 5 cycles.
    func testPlanChangeTransitionsWithinFiveCycles() throws {
        let at = epoch + 90_000 * 5
        let t = try timeline([ev(1, at, .setPlan(PlanID("long")))])
        XCTAssertTrue(monitorFaults(t, fromMs: epoch, throughMs: at + 1_200_000).isEmpty)
        var transitioned = 0
        defer { XCTAssertGreaterThan(transitioned, 0, "a transition is visible") }
        for s in t.corridor.signals {
            let settled = try XCTUnwrap(t.settledAtMs(of: s.id))
            XCTAssertLessThanOrEqual(settled, at + 90_000 + 5 * 120_000, "signal \(s.id)")
            let st = t.state(of: s.id, at: settled)
            XCTAssertEqual(st.plan, PlanID("long"))
            XCTAssertEqual(st.mode, .coordinated)
            let offset = t.corridor.plans[1].signals[t.corridor.signalIndex(of: s.id)!].offsetMs
            XCTAssertEqual(floorMod(settled - epoch - offset, 120_000), 0, "settles on a reference point")
            let modes = Set(t.changes(of: s.id, fromMs: at, throughMs: settled).map(\.mode))
            XCTAssertTrue(modes.isSubset(of: [.coordinated, .transitioning]), "\(modes)")
            if modes.contains(.transitioning) { transitioned += 1 }
            // Every transition cycle stays within ±20 % of the new cycle.
            let starts = Array(
                Set(t.changes(of: s.id, fromMs: at + 90_000, throughMs: settled).compactMap(\.cycleStartMs))
            ).sorted()
            for (a, b) in zip(starts, starts.dropFirst()) {
                XCTAssertTrue((96_000...144_000).contains(b - a), "cycle of \(b - a) ms at signal \(s.id)")
            }
        }
    }

    func testPlanChangeMidIntervalNeverCutsAnything() throws {
        // Deliberately at odd instants: inside yellow, inside all-red, inside min green.
        for at in [epoch + 44_500, epoch + 48_700, epoch + 50_300, epoch + 3_000] {
            let t = try timeline([ev(1, at, .setPlan(PlanID("long"))), ev(2, at + 300_000, .setPlan(PlanID("normal")))])
            XCTAssertTrue(monitorFaults(t, fromMs: epoch, throughMs: at + 1_500_000).isEmpty)
        }
    }

    func testHoldRestsInStageAndReturnsToCoordination() throws {
        let s = SignalID(2)
        let t = try timeline([ev(1, epoch + 60_000, .hold(s, stage: "side")), ev(2, epoch + 400_000, .release(s))])
        let held = t.state(of: s, at: epoch + 300_000)
        XCTAssertEqual(held.mode, .hold)
        XCTAssertEqual(held.stage, Fixture.side)
        XCTAssertEqual(held.interval, .greenRest)
        XCTAssertNil(held.intervalEndMs)
        XCTAssertEqual(held.cause, EventID(1))
        XCTAssertEqual(
            held.nextChangeMs, epoch + 400_000, "release ends the side green at once (min green long served)")
        XCTAssertEqual(t.state(of: s, at: epoch + 400_000).interval, .yellow)
        XCTAssertTrue(monitorFaults(t, fromMs: epoch, throughMs: epoch + 1_500_000).isEmpty)
        XCTAssertLessThanOrEqual(try XCTUnwrap(t.settledAtMs(of: s)), epoch + 400_000 + 6 * 90_000)
        // The other signals never noticed.
        XCTAssertEqual(t.state(of: SignalID(1), at: epoch + 300_000).mode, .coordinated)
    }

    func testFlashEntryIsSafeAndExitShowsRedBeforeGreen() throws {
        let at = epoch + 20_000 // inside the main min green of signal 1 (offset 0)
        let t = try timeline([ev(1, at, .flash(nil)), ev(2, epoch + 300_000, .unflash(nil))])
        let s1 = SignalID(1)
        // Min green of main (10 s) was already served at +20 s: yellow now.
        XCTAssertEqual(t.state(of: s1, at: at).interval, .yellow)
        let f = t.state(of: s1, at: epoch + 100_000)
        XCTAssertEqual(f.interval, .flash)
        XCTAssertEqual(
            f.lamps, [.flashingYellow, .flashingYellow, .flashingRed, .flashingRed, .flashingRed, .flashingRed])
        XCTAssertEqual(f.mode, .flash)
        let exit = t.state(of: s1, at: epoch + 300_000)
        XCTAssertEqual(exit.interval, .redRest)
        XCTAssertEqual(exit.lamps, Array(repeating: .red, count: 6))
        XCTAssertEqual(t.state(of: s1, at: epoch + 306_000).stage, Fixture.main)
        XCTAssertTrue(monitorFaults(t, fromMs: epoch, throughMs: epoch + 1_000_000).isEmpty)
    }

    func testFlashPlanAndPerSignalFlash() throws {
        let t = try timeline([
            ev(1, epoch + 90_000, .setPlan(PlanID("flash"))),
            ev(2, epoch + 400_000, .setPlan(PlanID("normal"))),
            ev(3, epoch + 600_000, .flash(SignalID(3)))
        ])
        XCTAssertEqual(t.state(of: SignalID(2), at: epoch + 300_000).interval, .flash)
        XCTAssertEqual(t.state(of: SignalID(2), at: epoch + 900_000).interval == .flash, false)
        XCTAssertEqual(t.state(of: SignalID(3), at: epoch + 900_000).interval, .flash)
        XCTAssertEqual(t.state(of: SignalID(3), at: epoch + 900_000).cause, EventID(3))
        XCTAssertTrue(monitorFaults(t, fromMs: epoch, throughMs: epoch + 1_000_000).isEmpty)
    }

    /// Emergency green corridor over all three signals northbound: each enters its main green safely
    /// in turn, dwells at least 10 s, and returns to coordination.
    func testPreemptionAlongConsecutiveSignals() throws {
        let at = epoch + 60_000 // signal 1 is in main-turn/side territory at cycle time 60 s
        let p = Preemption(
            signals: [SignalID(1), SignalID(2), SignalID(3)], direction: .increasing, speedKmh: 36,
            leadMs: 20_000, clearMs: 10_000)
        let t = try timeline([ev(7, at, .preempt(p))])
        XCTAssertTrue(monitorFaults(t, fromMs: epoch, throughMs: epoch + 1_500_000).isEmpty)
        for (j, s) in t.corridor.signals.enumerated() {
            let call = at + Milliseconds(j) * 50_000 // 500 m at 36 km/h
            let ch = t.changes(of: s.id, fromMs: call, throughMs: call + 200_000)
            let dwell = try XCTUnwrap(ch.first { $0.mode == .preemptDwell }, "signal \(s.id) dwells")
            XCTAssertEqual(dwell.stage, Fixture.main)
            XCTAssertEqual(dwell.cause, EventID(7))
            let end = try XCTUnwrap(ch.first { $0.atMs > dwell.atMs && $0.interval == .yellow })
            XCTAssertGreaterThanOrEqual(end.atMs - dwell.atMs, 10_000)
            // The vehicle (arriving 20 s after the call) meets green.
            let arrival = t.state(of: s.id, at: call + 20_000)
            XCTAssertEqual(arrival.lamps[0], .green, "signal \(s.id) green for the vehicle")
            XCTAssertNotNil(t.settledAtMs(of: s.id))
        }
    }

    func testPreemptionMaxPresenceEndsAStuckCall() throws {
        let p = Preemption(signals: [SignalID(2)], direction: .increasing, speedKmh: 40, leadMs: 500_000, clearMs: 0)
        let at = epoch + 1_000
        let t = try timeline([ev(1, at, .preempt(p))])
        XCTAssertEqual(t.state(of: SignalID(2), at: at + 170_000).mode, .preemptDwell)
        XCTAssertNotEqual(t.state(of: SignalID(2), at: at + 180_000 + 1_000).mode, .preemptDwell)
        XCTAssertTrue(monitorFaults(t, fromMs: epoch, throughMs: epoch + 800_000).isEmpty)
    }

    func testCancelledPreemptionStillDwellsTenSeconds() throws {
        let p = Preemption(signals: [SignalID(1)], direction: .increasing)
        let at = epoch + 95_000 // signal 1 is in main green (cycle time 5 s, min green not yet served)
        let t = try timeline([ev(1, at, .preempt(p)), ev(2, at + 2_000, .cancelPreemption(EventID(1)))])
        let st = t.state(of: SignalID(1), at: at + 9_000)
        XCTAssertEqual(st.lamps[0], .green, "dwell floor holds the green for 10 s after the call")
        XCTAssertTrue(monitorFaults(t, fromMs: epoch, throughMs: epoch + 800_000).isEmpty)
    }

    func testTimelineRefusesBadEvents() throws {
        XCTAssertThrowsError(try timeline([ev(1, epoch + 1, .setPlan(PlanID("nope")))]))
        XCTAssertThrowsError(try timeline([ev(1, epoch + 1, .hold(SignalID(99), stage: nil))]))
        XCTAssertThrowsError(try timeline([ev(1, epoch + 1, .hold(SignalID(1), stage: "nope"))]))
        XCTAssertThrowsError(try timeline([ev(1, epoch - 1, .flash(nil))]))
        let gap = Preemption(signals: [SignalID(1), SignalID(3)], direction: .increasing)
        XCTAssertThrowsError(try timeline([ev(1, epoch + 1, .preempt(gap))])) { e in
            XCTAssertTrue("\(e)".contains("consecutive"), "\(e)")
        }
        let backwards = Preemption(signals: [SignalID(1), SignalID(2)], direction: .decreasing)
        XCTAssertThrowsError(try timeline([ev(1, epoch + 1, .preempt(backwards))]))
    }

    func testCorridorRefusesInvalidPlans() {
        let s = [Fixture.signal(1, at: 0)]
        let prog = Progression(speedKmh: 40, favoured: .increasing, favouredBandPercent: 100)
        func plan(_ cycle: Milliseconds, _ splits: [Milliseconds], offset: Milliseconds = 0) -> TimingPlan {
            TimingPlan(
                id: PlanID("p"), cycleMs: cycle,
                signals: [SignalPlan(offsetMs: offset, splitsMs: splits, coordinatedStage: 0)], progression: prog)
        }
        XCTAssertNoThrow(try Corridor(name: "c", signals: s, plans: [plan(90_000, [50_000, 16_000, 24_000])]))
        XCTAssertThrowsError(try Corridor(name: "c", signals: s, plans: [plan(90_000, [60_000, 16_000, 24_000])]))
        XCTAssertThrowsError(
            try Corridor(name: "c", signals: s, plans: [plan(90_000, [50_000, 16_000, 24_000], offset: 90_000)]))
        XCTAssertThrowsError(try Corridor(name: "c", signals: s, plans: [plan(90_000, [64_000, 9_000, 17_000])])) { e in
            XCTAssertTrue("\(e)".contains("below min green"), "\(e)")
        }
        XCTAssertThrowsError(
            try Signal(
                id: SignalID(1), name: "x", positionMetres: 0, phases: Fixture.phases(),
                stages: [Stage(name: "bad", phases: [PhaseID(2), PhaseID(1)]), Stage(name: "b", phases: [PhaseID(4)])],
                conflicts: Fixture.conflicts())
        ) { e in
            XCTAssertTrue("\(e)".contains("conflicting"), "\(e)")
        }
    }

    func testOneWayOffsetsGiveFullBandAndTwoWayKeepsFavouredBand() throws {
        let positions = [0, 450, 1_000, 1_700, 2_100, 2_800]
        let greens: [Milliseconds] = [40_000, 38_000, 44_000, 40_000, 36_000, 42_000]
        let cycle: Milliseconds = 100_000
        let one = Progression(speedKmh: 40, favoured: .increasing, favouredBandPercent: 100)
        let offs = ProgressionMath.offsetsMs(
            positionsMetres: positions, cycleMs: cycle, coordinatedGreensMs: greens, progression: one)
        let up = ProgressionMath.travelTimesMs(positionsMetres: positions, speedKmh: 40, direction: .increasing)
        XCTAssertEqual(offs[2], 90_000) // 1000 m at 40 km/h
        XCTAssertEqual(
            ProgressionMath.band(offsetsMs: offs, cycleMs: cycle, greensMs: greens, travelMs: up).widthMs, 36_000)
        let two = Progression(speedKmh: 40, favoured: .decreasing, favouredBandPercent: 60)
        let offs2 = ProgressionMath.offsetsMs(
            positionsMetres: positions, cycleMs: cycle, coordinatedGreensMs: greens, progression: two)
        let down = ProgressionMath.travelTimesMs(positionsMetres: positions, speedKmh: 40, direction: .decreasing)
        let fav = ProgressionMath.band(offsetsMs: offs2, cycleMs: cycle, greensMs: greens, travelMs: down).widthMs
        let other = ProgressionMath.band(offsetsMs: offs2, cycleMs: cycle, greensMs: greens, travelMs: up).widthMs
        XCTAssertGreaterThanOrEqual(fav, 36_000 * 60 / 100)
        let otherOneWay = ProgressionMath.band(
            offsetsMs: ProgressionMath.offsetsMs(
                positionsMetres: positions, cycleMs: cycle, coordinatedGreensMs: greens,
                progression: Progression(speedKmh: 40, favoured: .decreasing, favouredBandPercent: 100)),
            cycleMs: cycle, greensMs: greens, travelMs: up
        ).widthMs
        XCTAssertGreaterThanOrEqual(other, otherOneWay, "two-way does no worse for the other direction than one-way")
    }

    func testBandIntersectionWrapsAroundTheCycle() {
        // Arcs [90, 110) and [95, 125) on a 100-long circle: common [95, 110) = 15, wrapping.
        let b = ProgressionMath.band(offsetsMs: [90, 95], cycleMs: 100, greensMs: [20, 30], travelMs: [0, 0])
        XCTAssertEqual(b.widthMs, 15)
        XCTAssertEqual(b.startMs, 95)
        XCTAssertEqual(
            ProgressionMath.band(offsetsMs: [0, 50], cycleMs: 100, greensMs: [20, 20], travelMs: [0, 0]).widthMs, 0)
    }

    func testDistributeKeepsMinimumsAndTotals() {
        XCTAssertEqual(distribute(totalMs: 100, nominalMs: [50, 30, 20], minimumMs: [10, 10, 10]), [50, 30, 20])
        let short = distribute(totalMs: 80, nominalMs: [50, 30, 20], minimumMs: [10, 10, 10])
        XCTAssertEqual(short.reduce(0, +), 80)
        XCTAssertTrue(zip(short, [10, 10, 10]).allSatisfy { $0 >= $1 })
        let long = distribute(totalMs: 120, nominalMs: [50, 30, 20], minimumMs: [10, 10, 10])
        XCTAssertEqual(long, [60, 36, 24])
        XCTAssertEqual(distribute(totalMs: 60, nominalMs: [20, 30], minimumMs: [40, 10]), [40, 20])
    }
}
