import CorridorFile
import Foundation
import RaftCore
import XCTest

@testable import SignalTiming

/// The daemon's actuated signal as a pure unit (ActuatedUnit): start-up and late entry, flash, plan changes,
/// detector calls, the monitor, following the replicated timeline through the same SignalFollower.
final class ActuatedUnitTests: XCTestCase {
    static let reference: Milliseconds = 1_735_669_800_000

    struct Run {
        var unit: ActuatedUnit
        var follower: SignalFollower
        var events: [HiResEvent] = []
        var lampsAt: [(Milliseconds, [Lamp])] = []

        mutating func run(until t: Milliseconds, _ inputs: (Milliseconds) -> ControllerInputs) {
            while unit.nextStepMs <= t {
                let at = unit.nextStepMs
                let st = follower.state(at: max(at, follower.nowMs))
                let before = unit.lamps
                events += unit.step(following: st, inputs: inputs(at))
                if unit.lamps != before { lampsAt.append((at, unit.lamps)) }
            }
        }

        func times(_ code: Int, _ param: Int) -> [Milliseconds] {
            events.filter { $0.code == code && $0.param == param }.map(\.atMs)
        }
    }

    func corridor() throws -> Corridor {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try CorridorFile.load(path: root.appendingPathComponent("corridors/demo-5.yaml").path).corridor
    }

    func start(
        _ c: Corridor, signal k: Int = 2, at t0: Milliseconds, events: [ControlEvent] = [],
        flashMs: Milliseconds = 10_000
    ) throws -> Run {
        let timeline = try CorridorTimeline(
            corridor: c, referenceEpochMs: Self.reference,
            baseline: Baseline(atMs: Self.reference, plan: PlanID("normal")),
            events: events)
        let a = try ActuatedCorridor.signal(k, of: c, settings: ActuatedSettings(control: .actuated))
        let unit = ActuatedUnit(
            signal: a, corridorPlans: c.plans.map(\.id), referenceMs: Self.reference,
            flashExitRedMs: c.safety.flashExitRedMs, startMs: t0)
        let follower = SignalFollower(
            signal: c.signals[k].id, timeline: timeline, startingAt: t0, startupFlashMs: flashMs)
        return Run(unit: unit, follower: follower)
    }

    /// Started at 20 random instants of the cycle (a restart, a late entry): start-up flash, the flash-exit
    /// red, a start-up red, then the coordinated phases 2 and 6 first; in step (150, 1) within three cycles,
    /// and from then on 2 green at every local zero; the monitor clean throughout. With no detector card
    /// (every detector absent: 85, max recall) every phase is served every cycle.
    func testStartsMidCycleSafelyAndEntersCoordination() throws {
        let c = try corridor()
        let cycle = c.plan(PlanID("normal"))!.cycleMs
        let offset = c.plan(PlanID("normal"))!.signals[2].offsetMs
        var rng = SplitMix64(seed: 20)
        for _ in 0..<20 {
            let t0 = Self.reference + 100 * cycle + rng.int(0...(cycle - 1))
            var r = try start(c, at: t0)
            let absent = ControllerInputs(
                detectors: r.unit.signal.detectors.map { _ in .absent }, pedButtons: [])
            r.run(until: t0 + 8 * cycle) { _ in absent }
            XCTAssertFalse(r.unit.monitor.tripped, "\(r.unit.monitor.faults)")
            XCTAssertEqual(r.unit.flash, .none)
            let firstGreen = r.events.first { $0.code == HiResEventCode.phaseBeginGreen }!
            XCTAssertTrue([2, 6].contains(firstGreen.param), "enters with the coordinated phases: \(firstGreen)")
            XCTAssertGreaterThanOrEqual(firstGreen.atMs, t0 + 10_000 + c.safety.flashExitRedMs)
            let inStep = r.events.first { $0.code == HiResEventCode.coordState && $0.param == 1 }
            XCTAssertNotNil(inStep)
            XCTAssertLessThanOrEqual(inStep!.atMs, t0 + 10_000 + 3 * cycle + c.safety.flashExitRedMs)
            XCTAssertEqual(r.unit.controller?.coordination, .inStep)
            XCTAssertEqual(Set(r.times(HiResEventCode.detectorFaultWatchdog, 4)).count, 1)
            let side = r.times(HiResEventCode.phaseBeginGreen, 4).filter { $0 > inStep!.atMs }
            XCTAssertGreaterThanOrEqual(side.count, 3, "max recall: the side street every cycle")
            // In step: phase 2 green at each local zero.
            var z = Self.reference + offset + ((inStep!.atMs - Self.reference - offset) / cycle + 1) * cycle
            let greens2 = r.times(HiResEventCode.phaseBeginGreen, 2)
            let ends2 = r.times(HiResEventCode.phaseBeginYellow, 2)
            while z < t0 + 8 * cycle - cycle {
                let lastStart = greens2.last { $0 <= z }!
                XCTAssertFalse(ends2.contains { $0 > lastStart && $0 <= z }, "phase 2 green at local zero \(z)")
                z += cycle
            }
        }
    }

    /// A detector call is served; without calls the side street and the turns are skipped.
    func testDetectorCallsServeTheSideStreet() throws {
        let c = try corridor()
        let t0 = Self.reference + 50 * 90_000 + 12_300
        var r = try start(c, at: t0)
        let ids = r.unit.signal.detectors.map(\.id)
        let idle = ControllerInputs(detectors: ids.map { _ in .off }, pedButtons: [])
        r.run(until: t0 + 6 * 90_000) { _ in idle }
        XCTAssertTrue(r.times(HiResEventCode.phaseBeginGreen, 4).isEmpty, "no call: phase 4 skipped")
        XCTAssertTrue(r.times(HiResEventCode.phaseBeginGreen, 1).isEmpty)
        let callAt = r.unit.nowMs + 1_000
        let k4 = ids.firstIndex(of: 4)!
        r.run(until: t0 + 9 * 90_000) { t in
            var i = idle
            if t >= callAt && t < callAt + 2_000 { i.detectors[k4] = .on }
            return i
        }
        XCTAssertEqual(r.times(HiResEventCode.detectorOn, 4), [callAt])
        XCTAssertEqual(r.times(HiResEventCode.detectorOff, 4), [callAt + 2_000])
        let served = r.times(HiResEventCode.phaseBeginGreen, 4)
        XCTAssertEqual(served.count, 1)
        XCTAssertLessThan(served[0], callAt + 90_000, "served within a cycle")
        let ends = r.events.filter { HiResEventCode.terminations.contains($0.code) && $0.param == 4 }
        XCTAssertEqual(ends.map(\.code), [HiResEventCode.phaseGapOut], "gaps out after min green without traffic")
        XCTAssertFalse(r.unit.monitor.tripped, "\(r.unit.monitor.faults)")
    }

    /// An ordered flash stops the controller safely (greens end at their floor, full yellow and all-red)
    /// before flashing; unflash: flash-exit red, start-up, coordination again. A plan change reaches the
    /// controller at the replicated instant (event 131 with the corridor's pattern number).
    func testFlashAndPlanChangesFollowTheTimeline() throws {
        let c = try corridor()
        let t0 = Self.reference + 30 * 90_000
        let flashAt = t0 + 5 * 90_000 + 7_000
        let unflashAt = flashAt + 60_000
        let nightAt = unflashAt + 4 * 90_000
        let events = [
            ControlEvent(id: EventID(1), effectiveAtMs: flashAt, action: .flash(nil)),
            ControlEvent(id: EventID(2), effectiveAtMs: unflashAt, action: .unflash(nil)),
            ControlEvent(id: EventID(3), effectiveAtMs: nightAt, action: .setPlan(PlanID("night")))
        ]
        var r = try start(c, at: t0, events: events)
        let inputs = ControllerInputs(detectors: r.unit.signal.detectors.map { _ in .on }, pedButtons: [])
        r.run(until: nightAt + 6 * 90_000) { _ in inputs }
        XCTAssertFalse(r.unit.monitor.tripped, "\(r.unit.monitor.faults)")
        let flashes = r.events.filter { $0.code == HiResEventCode.unitFlashStatus }.map { ($0.atMs, $0.param) }
        XCTAssertEqual(flashes.map(\.1), [2, 3, 2], "start-up flash ends, ordered flash, flash ends")
        XCTAssertGreaterThanOrEqual(flashes[1].0, flashAt)
        // Nothing green or yellow at the flash entry: the lamps went flashing from all red.
        let entry = r.lampsAt.firstIndex { $0.0 == flashes[1].0 }!
        XCTAssertFalse(r.lampsAt[entry - 1].1.contains { $0 == .green || $0 == .yellow })
        let patterns = r.events.filter { $0.code == HiResEventCode.patternChange }.map(\.param)
        XCTAssertEqual(patterns, [1, 255, 1, 3], "normal, flash, normal, night (corridor pattern numbers)")
        XCTAssertEqual(r.unit.controller?.layout.plan.id, PlanID("night"))
        XCTAssertEqual(r.unit.controller?.coordination, .inStep)
        // Determinism: the same history gives the same events.
        var again = try start(c, at: t0, events: events)
        again.run(until: nightAt + 6 * 90_000) { _ in inputs }
        XCTAssertEqual(again.events, r.events)
    }
}
