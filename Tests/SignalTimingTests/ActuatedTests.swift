import RaftCore
import XCTest

@testable import SignalTiming

/// The actuated dual-ring controller, scenario by scenario: each termination reason with its hi-res
/// code, skipping, detector faults, coordination, pedestrians, preemption. Every run also goes
/// through a conflict monitor that knows the dual ring and the pedestrian heads.
final class ActuatedTests: XCTestCase {
    // swift-format-ignore: AlwaysUseLowerCamelCase
    let R = DualRingFixture.reference
    let free = DualRingPlan.free(id: PlanID("free"), sequences: DualRingFixture.ring().sequences())

    func controller(
        _ ring: DualRing = DualRingFixture.ring(), plans: [DualRingPlan]? = nil, plan: String = "normal",
        detectors: [DetectorConfig] = DualRingFixture.detectors
    ) -> DualRingController {
        try! DualRingController(
            ring: ring, plans: plans ?? [DualRingFixture.plan(ring: ring), free], plan: PlanID(plan),
            detectors: detectors, pedDetectors: DualRingFixture.buttons, referenceMs: R, startMs: R)
    }

    func assertClean(_ run: DualRingRun, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(run.monitor.faults, [], file: file, line: line)
        XCTAssertGreaterThan(run.changes, 4, "the run changed the lamps", file: file, line: line)
    }

    func testGapOutEndsThePhaseWithCode4() {
        var run = DualRingRun(controller(plan: "free"))
        // Side street 4: a 200 ms actuation every 2 s until 20 s (passage 3 s keeps it green); one
        // vehicle on 2 at 5 s.
        run.run(untilMs: R + 60_000) { t in
            let s = t - self.R
            let side = s >= 1_000 && s <= 20_000 && (s / 100) % 20 < 2
            return .with(on: Set((side ? [4] : []) + (s == 5_000 ? [2] : [])))
        }
        XCTAssertEqual(run.times(code: HiResEventCode.phaseBeginGreen, phase: 4), [R + 2_000])
        XCTAssertEqual(
            run.times(code: HiResEventCode.phaseGapOut, phase: 4), [R + 23_000], "3 s after the last actuation")
        XCTAssertEqual(run.terminations(phase: 4), [HiResEventCode.phaseGapOut])
        // 8 came up by dual entry with no vehicle: it gaps out at its min green once 2 is called.
        XCTAssertEqual(run.times(code: HiResEventCode.phaseGapOut, phase: 8), [R + 9_000])
        XCTAssertEqual(run.times(code: HiResEventCode.phaseBeginYellow, phase: 4), [R + 23_000])
        XCTAssertEqual(
            run.times(code: HiResEventCode.phaseBeginGreen, phase: 2), [R + 28_000], "after 4's yellow and all-red")
        assertClean(run)
    }

    func testMaxOutEndsThePhaseWithCode5() {
        var run = DualRingRun(controller(plan: "free"))
        // 4 occupied without a gap; the max timer starts when 2 is called at 5 s.
        run.run(untilMs: R + 60_000) { t in
            let s = t - self.R
            return .with(on: Set((s >= 1_000 ? [4] : []) + (s == 5_000 ? [2] : [])))
        }
        XCTAssertEqual(
            run.times(code: HiResEventCode.phaseMaxOut, phase: 4), [R + 35_000],
            "max green 30 s from the conflicting call")
        XCTAssertEqual(run.terminations(phase: 4), [HiResEventCode.phaseMaxOut])
        assertClean(run)
    }

    func testForceOffEndsThePhaseWithCode6AtItsForceOffPoint() {
        var phases = DualRingFixture.phases()
        phases[3].maxGreenMs = 60_000 // phase 4: longer than its 25 s of split green
        let ring = try! DualRing(phases: phases)
        var run = DualRingRun(controller(ring))
        run.run(untilMs: R + 17_300 + 300_000) { _ in .with(on: [4]) }
        let lay = run.controller.layout
        let forceOff4 = lay.forceOffMs[ring.index(of: PhaseID(4))!]
        XCTAssertEqual(forceOff4, 80_000)
        XCTAssertEqual(
            run.times(code: HiResEventCode.phaseForceOff, phase: 4),
            [0, 1, 2].map { R + 17_300 + $0 * 100_000 + 80_000 })
        XCTAssertEqual(run.terminations(phase: 4), [6, 6, 6])
        // The coordinated phases are ended by their yield point (force-off) too, and never gap out.
        XCTAssertEqual(Set(run.terminations(phase: 2)), [HiResEventCode.phaseForceOff])
        XCTAssertEqual(run.times(code: HiResEventCode.phaseForceOff, phase: 2).first, R + 17_300 + 39_000)
        assertClean(run)
    }

    func testCoordinatedGreenStartsAtReferencePlusOffsetEveryCycle() {
        // Every other phase on max recall: each runs to its force-off, so there is no early return
        // and the coordinated green begins exactly at local zero.
        var phases = DualRingFixture.phases(turnRecall: .maximum)
        for k in [3, 7] { phases[k].recall = .maximum }
        let ring = try! DualRing(phases: phases)
        var run = DualRingRun(controller(ring))
        run.run(untilMs: R + 17_300 + 1_000_000) { _ in .with() }
        let zeros = (0...10).map { R + 17_300 + Milliseconds($0) * 100_000 }
        XCTAssertEqual(run.times(code: HiResEventCode.phaseBeginGreen, phase: 2), zeros)
        XCTAssertEqual(run.times(code: HiResEventCode.phaseBeginGreen, phase: 6), zeros)
        XCTAssertEqual(
            run.events.filter { $0.code == HiResEventCode.coordState }.map(\.param), [CoordinationState.inStep.rawValue]
        )
        XCTAssertEqual(run.controller.coordination, .inStep)
        // The turns are served every cycle and end at their force-offs.
        XCTAssertEqual(Set(run.terminations(phase: 1)), [HiResEventCode.phaseForceOff])
        assertClean(run)
    }

    func testEarlyReturnStartsTheCoordinatedGreenBeforeLocalZeroWithoutLosingStep() {
        var rng = SplitMix64(seed: 7)
        var run = DualRingRun(controller())
        var occupied: [Int: Milliseconds] = [:]
        run.run(untilMs: R + 17_300 + 2_000_000) { t in
            for d in [2, 4, 6, 8] where occupied[d] == nil && rng.chance(3) {
                occupied[d] = t + rng.int(Int64(200)...1_200)
            }
            let on = Set(occupied.filter { $0.value > t }.map(\.key))
            occupied = occupied.filter { $0.value > t }
            return .with(on: on)
        }
        let starts = run.times(code: HiResEventCode.phaseBeginGreen, phase: 2)
        XCTAssertEqual(run.controller.coordination, .inStep)
        var early = 0
        for k in 1...19 {
            let zero = R + 17_300 + Milliseconds(k) * 100_000
            guard let s = starts.last(where: { $0 <= zero }) else {
                return XCTFail("no coordinated green before \(zero)")
            }
            let ended = run.times(code: HiResEventCode.phaseBeginYellow, phase: 2).contains { $0 > s && $0 <= zero }
            XCTAssertFalse(ended, "phase 2 is green at local zero \(zero)")
            if s < zero { early += 1 }
        }
        XCTAssertGreaterThan(early, 10, "side phases gap out and give their time back")
        XCTAssertEqual(
            run.events.filter { $0.code == HiResEventCode.coordState }.map(\.param), [1], "never out of step")
        assertClean(run)
    }

    func testTurnPhasesAreSkippedWithoutTurningDemand() {
        func run(turning: Bool, seed: UInt64) -> (cycles: Int, turnGreens: Int) {
            var rng = SplitMix64(seed: seed)
            var r = DualRingRun(controller())
            var occupied: [Int: Milliseconds] = [:]
            let detectors = turning ? [1, 2, 4, 5, 6, 8] : [2, 4, 6, 8]
            r.run(untilMs: R + 17_300 + 10_000_000) { t in
                for d in detectors where occupied[d] == nil && rng.chance(2) {
                    occupied[d] = t + rng.int(Int64(200)...1_500)
                }
                occupied = occupied.filter { $0.value > t }
                let peds: Set<Int> = rng.chance(1) ? [rng.pick([2, 4, 6, 8])] : []
                return .with(on: Set(occupied.keys), peds: peds)
            }
            XCTAssertEqual(r.monitor.faults, [])
            let cycles = r.times(code: HiResEventCode.phaseBeginGreen, phase: 2).count
            let turns = r.events.filter { $0.code == HiResEventCode.phaseBeginGreen && [1, 3, 5, 7].contains($0.param) }
                .count
            return (cycles, turns)
        }
        let none = run(turning: false, seed: 11)
        XCTAssertGreaterThanOrEqual(none.cycles, 99)
        let skippedShare = 1.0 - Double(none.turnGreens) / Double(none.cycles * 4)
        print(
            "turn phases without turning demand: \(none.turnGreens) greens in \(none.cycles) cycles, skipped \(skippedShare * 100) %"
        )
        XCTAssertGreaterThanOrEqual(skippedShare, 0.99)
        let some = run(turning: true, seed: 11)
        XCTAssertGreaterThan(
            some.turnGreens, some.cycles / 2, "with turning demand the turns are served (the count can fail)")
    }

    func testStuckDetectorGoesToMaxRecallAndIsLogged() {
        var d = DualRingFixture.detectors
        d[3].maxPresenceMs = 60_000
        var run = DualRingRun(controller(detectors: d))
        run.run(untilMs: R + 250_000) { t in .with(on: t >= self.R + 1_000 ? [4] : []) }
        XCTAssertEqual(run.times(code: HiResEventCode.detectorFaultOther, phase: 4), [R + 61_000])
        let k = run.controller.ring.index(of: PhaseID(4))!
        XCTAssertTrue(run.controller.onFaultRecall(k))
        run.run(untilMs: R + 600_000) { _ in .with() }
        XCTAssertEqual(run.times(code: HiResEventCode.detectorRestored, phase: 4), [R + 250_100])
        XCTAssertFalse(run.controller.onFaultRecall(k))
        assertClean(run)
    }

    func testAbsentDetectorPutsItsPhaseOnMaxRecall() {
        // Without calls, phase 4 is never served ...
        var quiet = DualRingRun(controller())
        quiet.run(untilMs: R + 500_000) { _ in .with() }
        XCTAssertEqual(quiet.times(code: HiResEventCode.phaseBeginGreen, phase: 4), [])
        // ... with its detector absent (the card reports nothing), it is served every cycle to its
        // max or its force-off, never gapping out.
        var run = DualRingRun(controller())
        run.run(untilMs: R + 17_300 + 500_000) { t in .with(readings: t >= self.R + 1_000 ? [4: .absent] : [:]) }
        XCTAssertEqual(run.times(code: HiResEventCode.detectorFaultWatchdog, phase: 4), [R + 1_000])
        let greens = run.times(code: HiResEventCode.phaseBeginGreen, phase: 4)
        XCTAssertEqual(greens.count, 5)
        XCTAssertFalse(run.terminations(phase: 4).contains(HiResEventCode.phaseGapOut))
        XCTAssertEqual(run.terminations(phase: 4).count, 5)
        // Open and shorted loops as the card reports them.
        var loops = DualRingRun(controller())
        loops.run(untilMs: R + 10_000) { t in
            .with(readings: [1: .openLoop, 3: t >= self.R + 5_000 ? .shortedLoop : .off])
        }
        XCTAssertEqual(loops.times(code: HiResEventCode.detectorFaultOpenLoop, phase: 1), [R + 100])
        XCTAssertEqual(loops.times(code: HiResEventCode.detectorFaultShortedLoop, phase: 3), [R + 5_000])
        assertClean(run)
    }

    func testPedestrianIntervalsRunInFullAndHoldTheGreen() {
        var run = DualRingRun(controller())
        run.run(untilMs: R + 200_000) { t in .with(peds: t == self.R + 30_000 ? [4] : []) }
        guard let walk = run.times(code: HiResEventCode.pedBeginWalk, phase: 4).first else { return XCTFail("no walk") }
        XCTAssertEqual(walk, R + 62_300, "with 4's green, after 2's yield at 56.3 s and its clearance")
        XCTAssertEqual(run.times(code: HiResEventCode.pedBeginClearance, phase: 4), [walk + 7_000])
        XCTAssertEqual(run.times(code: HiResEventCode.pedBeginDontWalk, phase: 4), [walk + 25_000])
        // No vehicle on 4: the green ends as soon as the pedestrian clearance has run (gap-out).
        XCTAssertEqual(run.times(code: HiResEventCode.phaseGapOut, phase: 4), [walk + 25_000])
        assertClean(run)
    }

    func testPreemptionNeverCutsFlashingDontWalk() {
        var run = DualRingRun(controller())
        run.run(untilMs: R + 300_000) { t in
            let preempt = t >= self.R + 65_300 && t < self.R + 160_000 // 3 s into the walk
            return .with(peds: t == self.R + 30_000 ? [4] : [], preempt: preempt)
        }
        let walk = R + 62_300
        XCTAssertEqual(run.times(code: HiResEventCode.pedBeginWalk, phase: 4), [walk])
        XCTAssertEqual(run.times(code: HiResEventCode.pedBeginClearance, phase: 4), [walk + 7_000])
        XCTAssertEqual(run.times(code: HiResEventCode.pedBeginDontWalk, phase: 4), [walk + 25_000])
        XCTAssertEqual(
            run.times(code: HiResEventCode.phaseForceOff, phase: 4).first, walk + 25_000,
            "ended by the preemption once clear")
        XCTAssertEqual(run.times(code: HiResEventCode.preemptCallInputOn, phase: 1), [R + 65_300])
        let dwell = run.times(code: HiResEventCode.preemptBeginDwell, phase: 1)
        XCTAssertEqual(dwell, [walk + 25_000 + 5_000], "2 and 6 green after 4's yellow and all-red")
        XCTAssertEqual(run.times(code: HiResEventCode.preemptBeginExit, phase: 1), [R + 160_000])
        // During the dwell nothing but 2 and 6 turns green.
        let during = run.events.filter {
            $0.code == HiResEventCode.phaseBeginGreen && $0.atMs > R + 65_300 && $0.atMs < R + 160_000
        }
        XCTAssertEqual(Set(during.map(\.param)), [2, 6])
        assertClean(run)
    }

    func testPlanChangeNeverCutsFlashingDontWalkAndComesBackInStep() throws {
        let plans = [DualRingFixture.plan(), DualRingFixture.plan(offsetMs: 61_000, id: "other")]
        var run = DualRingRun(controller(plans: plans))
        run.run(untilMs: R + 65_000) { t in .with(peds: t == self.R + 30_000 ? [4] : []) }
        XCTAssertEqual(run.controller.pedLamps[run.controller.ring.index(of: PhaseID(4))!], .walk)
        run.events += try run.controller.setPlan(PlanID("other"))
        XCTAssertEqual(run.controller.coordination, .transition)
        run.run(untilMs: R + 1_000_000) { _ in .with() }
        XCTAssertEqual(run.times(code: HiResEventCode.pedBeginDontWalk, phase: 4), [R + 62_300 + 25_000])
        XCTAssertGreaterThanOrEqual(
            run.times(code: HiResEventCode.phaseBeginYellow, phase: 4).first!, R + 62_300 + 25_000)
        XCTAssertEqual(run.controller.coordination, .inStep)
        let back = run.events.last { $0.code == HiResEventCode.coordState && $0.param == 1 }!.atMs
        XCTAssertLessThanOrEqual(back - (R + 65_000), 2 * 100_000, "back in step within two cycles")
        XCTAssertEqual(floorMod(back - R - 61_000, 100_000), 0, "on the new plan's local zero")
        assertClean(run)
    }

    func testTheControllerIsDeterministic() {
        func history(_ seed: UInt64) -> [HiResEvent] {
            var rng = SplitMix64(seed: seed)
            var run = DualRingRun(controller())
            run.run(untilMs: R + 600_000) { _ in
                .with(
                    on: Set((1...8).filter { _ in rng.chance(10) }),
                    peds: Set([2, 4, 6, 8].filter { _ in rng.chance(1) }))
            }
            return run.events
        }
        XCTAssertEqual(history(3), history(3))
        XCTAssertNotEqual(history(3), history(4))
    }
}
