import CorridorFile
import Foundation
import XCTest

@testable import SignalTiming

/// Corridor signal (stages) → dual ring (issue 20 wiring, step 1).
final class ActuatedCorridorTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func load(_ name: String) throws -> Corridor {
        try CorridorFile.load(path: Self.root.appendingPathComponent("corridors/\(name).yaml").path).corridor
    }

    /// Both shipped corridors map, every signal: cycle, offset and splits of every coordinated plan
    /// carried over on phases 1, 2, 5, 6 | 4, 8, coordinated 2 and 6, turns lagging as in the stage order.
    func testShippedCorridorsMapWithPlansPreserved() throws {
        for name in ["demo-5", "western-express-highway"] {
            let c = try load(name)
            for (i, s) in c.signals.enumerated() {
                let a = try ActuatedCorridor.signal(i, of: c, settings: ActuatedSettings(control: .actuated))
                XCTAssertEqual(a.ring.phases.map(\.id.rawValue), [1, 2, 4, 5, 6, 8])
                let coordinated = c.plans.filter { !$0.isFlash }
                XCTAssertEqual(a.plans.map(\.id), coordinated.map(\.id))
                for (dp, tp) in zip(a.plans, coordinated) {
                    let sp = tp.signals[i]
                    XCTAssertEqual(dp.cycleMs, tp.cycleMs)
                    XCTAssertEqual(dp.offsetMs, sp.offsetMs, "\(name) signal \(s.id) plan \(tp.id)")
                    XCTAssertEqual(dp.coordinatedPhases, [PhaseID(2), PhaseID(6)])
                    XCTAssertEqual(
                        dp.sequences, [[PhaseID(2), PhaseID(1), PhaseID(4)], [PhaseID(6), PhaseID(5), PhaseID(8)]])
                    for (k, st) in s.stages.enumerated() {
                        for p in st.phases { XCTAssertEqual(dp.splitsMs[p], sp.splitsMs[k]) }
                    }
                    // Local zero is the stage model's: the coordinated window starts at 0.
                    let lay = try DualRingLayout(plan: dp, ring: a.ring)
                    XCTAssertEqual(lay.windowStartMs[a.ring.index(of: PhaseID(2))!], 0)
                    XCTAssertEqual(lay.windowStartMs[a.ring.index(of: PhaseID(6))!], 0)
                }
                XCTAssertEqual(a.detectors.map(\.id), s.phases.map(\.id.rawValue))
                XCTAssertTrue(a.pushButtons.isEmpty, "no crossings configured: no push buttons")
            }
        }
    }

    /// Defaults (passage 3 s, recall min on 2/6, none elsewhere, dual entry on throughs, max green the
    /// longest green of any plan) and overrides of each.
    func testDefaultsAndOverrides() throws {
        let c = try load("demo-5")
        let a = try ActuatedCorridor.signal(0, of: c, settings: ActuatedSettings(control: .actuated))
        let p4 = a.ring.phases[a.ring.index(of: PhaseID(4))!]
        XCTAssertEqual(p4.passageMs, 3_000)
        XCTAssertEqual(p4.recall, .none)
        XCTAssertTrue(p4.dualEntry)
        XCTAssertEqual(p4.minGreenMs, 7_000)
        XCTAssertEqual(p4.maxGreenMs, 28_000 - 5_000, "rush-hour's 28 s side split less yellow and all-red")
        let p2 = a.ring.phases[a.ring.index(of: PhaseID(2))!]
        XCTAssertEqual(p2.recall, .minimum)
        XCTAssertFalse(a.ring.phases[a.ring.index(of: PhaseID(1))!].dualEntry)
        var s = ActuatedSettings(control: .actuated, passageMs: 2_500)
        s.phases[PhaseID(4)] = ActuatedPhaseSettings(
            minGreenMs: 8_000, passageMs: 4_000, maxGreenMs: 15_000, recall: .maximum, crossingMm: 4_000)
        s.detectors = [DetectorConfig(id: 10, phase: PhaseID(4)), DetectorConfig(id: 11, phase: PhaseID(8))]
        let b = try ActuatedCorridor.signal(0, of: c, settings: s)
        let q4 = b.ring.phases[b.ring.index(of: PhaseID(4))!]
        XCTAssertEqual(
            [q4.minGreenMs, q4.passageMs, q4.maxGreenMs], [8_000, 4_000, 15_000])
        XCTAssertEqual(q4.recall, .maximum)
        XCTAssertEqual(q4.ped, PedTiming(walkMs: 7_000, clearanceMs: 3_800), "4 m at 1.07 m/s = 3.739 s, up to 3.8")
        XCTAssertEqual(b.ring.phases[b.ring.index(of: PhaseID(8))!].passageMs, 2_500)
        XCTAssertEqual(b.detectors.map(\.id), [10, 11])
        XCTAssertEqual(b.pushButtons, [PedDetectorConfig(id: 4, phase: PhaseID(4))])
        XCTAssertEqual(b.pedestrianMinimumsMs.map(\.phase), [PhaseID(4)])
        XCTAssertEqual(
            b.pedestrianMinimumsMs.map(\.splitMs), [7_000 + 3_800 + 5_000], "night's 16 s side split holds it")
    }

    /// The 19.2 m crossing needs 7 + 18 (17.944 rounded up) + 3 + 2 = 30 s: the demo's normal
    /// (24 s) side split is refused with a message naming the signal, plan, phase and the sum.
    func testSplitTooShortForPedestriansIsRefused() throws {
        let c = try load("demo-5")
        var s = ActuatedSettings(control: .actuated)
        s.phases[PhaseID(4)] = ActuatedPhaseSettings(crossingMm: 19_200)
        XCTAssertThrowsError(try ActuatedCorridor.signal(1, of: c, settings: s)) { e in
            let m = (e as? TimingError)?.message ?? ""
            XCTAssertTrue(m.hasPrefix("signal 2 (Demo Bravo): plan 'normal': phase 4"), m)
            XCTAssertTrue(m.contains("split 24 s is too short for pedestrians"), m)
            XCTAssertTrue(m.contains("walk 7 + flashing don't-walk 18 (19.2 m at 1.07 m/s"), m)
            XCTAssertTrue(m.contains("= 30 s"), m)
        }
        // 12 m needs 7 + 11.3 + 5 = 23.3 s: every plan's side split (≥ 24 s, night 16 s) — night fails.
        s.phases[PhaseID(4)] = ActuatedPhaseSettings(crossingMm: 12_000)
        XCTAssertThrowsError(try ActuatedCorridor.signal(1, of: c, settings: s)) { e in
            XCTAssertTrue(((e as? TimingError)?.message ?? "").contains("plan 'night'"), "\(e)")
        }
        // A slower walking speed makes the clearance longer; a shorter crossing passes every plan.
        s.phases[PhaseID(4)] = ActuatedPhaseSettings(crossingMm: 4_000)
        XCTAssertNoThrow(try ActuatedCorridor.signal(1, of: c, settings: s))
        s.walkingSpeedMmPerS = 500
        XCTAssertThrowsError(try ActuatedCorridor.signal(1, of: c, settings: s))
    }

    /// Layouts a dual ring cannot run are refused, with the reason.
    func testUnmappableLayoutsAreRefused() throws {
        func corridor(
            phases: [Phase], stages: [Stage], conflicts: [(PhaseID, PhaseID)], splits: [Milliseconds]
        ) throws
            -> Corridor
        {
            let s = try Signal(
                id: SignalID(1), name: "X", positionMetres: 0, phases: phases, stages: stages, conflicts: conflicts)
            let plan = TimingPlan(
                id: PlanID("p"), cycleMs: splits.reduce(0, +),
                signals: [SignalPlan(offsetMs: 0, splitsMs: splits, coordinatedStage: 0)],
                progression: Progression(speedKmh: 40, favoured: .increasing, favouredBandPercent: 50))
            return try Corridor(name: "x", signals: [s], plans: [plan])
        }
        func refused(_ c: Corridor, _ needle: String, line: UInt = #line) {
            XCTAssertThrowsError(try ActuatedCorridor.signal(0, of: c, settings: ActuatedSettings()), line: line) { e in
                let m = (e as? TimingError)?.message ?? "\(e)"
                XCTAssertTrue(m.contains(needle), m, line: line)
            }
        }
        let ph = Fixture.phases()
        // A stage across the barrier.
        refused(
            try corridor(
                phases: ph,
                stages: [
                    Stage(name: "main", phases: [PhaseID(2), PhaseID(6)]),
                    Stage(name: "mixed", phases: [PhaseID(1), PhaseID(8)]),
                    Stage(name: "side", phases: [PhaseID(4), PhaseID(5)])
                ], conflicts: [], splits: [40_000, 20_000, 30_000]), "both sides of the barrier")
        // A declared conflict the dual ring runs together (2 with 5: different rings, same side).
        refused(
            try corridor(
                phases: ph, stages: Fixture.stages(), conflicts: Fixture.conflicts() + [(PhaseID(2), PhaseID(5))],
                splits: [50_000, 16_000, 24_000]), "phases 2 and 5 are listed as conflicting")
        // The coordinated stage is not 2 + 6.
        var stages = Fixture.stages()
        stages.swapAt(0, 1)
        refused(
            try corridor(phases: ph, stages: stages, conflicts: Fixture.conflicts(), splits: [16_000, 50_000, 24_000]),
            "must hold exactly phases 2 and 6")
        // A stage with only one ring's phase where the other ring has phases on that side.
        let seven = Phase(
            id: PhaseID(3), name: "t", minGreenMs: 5_000, yellowMs: 3_000, redClearanceMs: 2_000,
            flashLamp: .flashingRed)
        refused(
            try corridor(
                phases: ph + [seven],
                stages: Fixture.stages() + [Stage(name: "side-turn", phases: [PhaseID(3)])],
                conflicts: Fixture.conflicts(), splits: [40_000, 16_000, 24_000, 10_000]), "ring 2 has no phase")
    }

    /// A controller made from a mapped signal runs the plan: in saturation (every detector on) the
    /// coordinated green starts exactly at reference + offset every cycle, and the side street is served.
    func testMappedControllerRunsThePlanInStep() throws {
        let c = try load("demo-5")
        let a = try ActuatedCorridor.signal(2, of: c, settings: ActuatedSettings(control: .actuated))
        let reference: Milliseconds = 1_735_669_800_000
        let plan = a.plans[0]
        var run = DualRingRun(try a.controller(plan: plan.id, referenceMs: reference, startMs: reference))
        let all = ControllerInputs(detectors: a.detectors.map { _ in .on }, pedButtons: [])
        run.run(untilMs: reference + 10 * plan.cycleMs) { _ in all }
        XCTAssertFalse(run.monitor.tripped, "\(run.monitor.faults)")
        let starts = run.times(code: HiResEventCode.phaseBeginGreen, phase: 2).filter {
            $0 > reference + 3 * plan.cycleMs
        }
        XCTAssertFalse(starts.isEmpty)
        for t in starts { XCTAssertEqual(floorMod(t - reference - plan.offsetMs, plan.cycleMs), 0) }
        XCTAssertEqual(run.controller.coordination, .inStep)
        XCTAssertGreaterThanOrEqual(run.times(code: HiResEventCode.phaseBeginGreen, phase: 4).count, 8)
    }
}

/// The corridor file's `actuated:` section (docs/corridor-format.md).
final class ActuatedSectionTests: XCTestCase {
    func demo(_ extra: String) throws -> CorridorDocument {
        let path = ActuatedCorridorTests.root.appendingPathComponent("corridors/demo-5.yaml").path
        let yaml = try String(contentsOfFile: path, encoding: .utf8)
        return try CorridorFile.parse(yaml: yaml + "\n" + extra, file: "bad.yaml")
    }

    func testSectionDecodesDefaultsAndOverrides() throws {
        XCTAssertNil(try demo("").actuated, "no section: every signal fixed-time")
        let doc = try demo(
            """
            actuated:
              passage_s: 2.5
              walk_s: 6
              walking_speed_mps: 0.9
              phases: { 8: { crossing_m: 4 } }
              signals:
                3:
                  control: actuated
                  phases: { 4: { min_green_s: 8, max_green_s: 20.5, recall: maximum, crossing_m: 4.5 } }
                  detectors: [{ id: 4, phase: 4 }, { id: 14, phase: 4, calls: false, max_presence_s: 120 }]
                  push_buttons: [{ id: 4, phase: 4 }]
            """)
        let a = try XCTUnwrap(doc.actuated)
        XCTAssertEqual(a.control(of: SignalID(3)), .actuated)
        XCTAssertEqual(a.control(of: SignalID(2)), .fixed)
        XCTAssertEqual(Array(a.signals.keys), [SignalID(3)])
        let s3 = try XCTUnwrap(a.settings[SignalID(3)])
        XCTAssertEqual(s3.passageMs, 2_500)
        XCTAssertEqual(s3.walkMs, 6_000)
        XCTAssertEqual(s3.walkingSpeedMmPerS, 900)
        XCTAssertEqual(
            s3.phases[PhaseID(4)],
            ActuatedPhaseSettings(minGreenMs: 8_000, maxGreenMs: 20_500, recall: .maximum, crossingMm: 4_500))
        XCTAssertEqual(s3.phases[PhaseID(8)]?.crossingMm, 4_000, "the defaults' phases carry over")
        let m = try XCTUnwrap(a.signals[SignalID(3)])
        XCTAssertEqual(
            m.detectors,
            [
                DetectorConfig(id: 4, phase: PhaseID(4)),
                DetectorConfig(id: 14, phase: PhaseID(4), calls: false, maxPresenceMs: 120_000)
            ])
        XCTAssertEqual(m.pushButtons, [PedDetectorConfig(id: 4, phase: PhaseID(4))])
        // 4.5 m at 0.9 m/s = 5 s; with walk 6 s, yellow 3 and all-red 2 it fills night's 16 s side split.
        XCTAssertEqual(m.ring.phases[m.ring.index(of: PhaseID(4))!].ped, PedTiming(walkMs: 6_000, clearanceMs: 5_000))
    }

    func testRefusalsNameTheFileKeyAndProblem() throws {
        let cases: [(String, String, String)] = [
            (
                "actuated:\n  signals:\n    2: { control: actuated, phases: { 4: { crossing_m: 19.2 } } }",
                "actuated.signals.2",
                "plan 'normal': phase 4 (side street eastbound) split 24 s is too short for pedestrians: walk 7 + flashing don't-walk 18 (19.2 m at 1.07 m/s, rounded up to 0.1 s) + yellow 3 + all-red 2 = 30 s"
            ),
            (
                "actuated:\n  phases: { 4: { crossing_m: 19.2 } }", "actuated",
                "plan 'normal': stage 'side' split 24 s is too short for the pedestrians of phase 4"
            ),
            ("actuated:\n  control: sometimes", "actuated.control", "control must be 'fixed' or 'actuated'"),
            ("actuated:\n  passage_s: 2.55", "actuated.passage_s", "not a multiple of 0.1 s"),
            ("actuated:\n  walk_s: 3", "actuated.walk_s", "walk 3 s is outside 4...60 s"),
            ("actuated:\n  walking_speed_mps: 3", "actuated.walking_speed_mps", "walking speed"),
            ("actuated:\n  phases: { 3: { crossing_m: 5 } }", "actuated.phases.3", "unknown phase '3'"),
            ("actuated:\n  phases: { 4: { crossing_m: 0 } }", "actuated.phases.4.crossing_m", "crossing length"),
            ("actuated:\n  phases: { 4: { recall: always } }", "actuated.phases.4.recall", "recall must be one of"),
            ("actuated:\n  phases: { 4: { gap_s: 3 } }", "actuated.phases.4.gap_s", "unknown key 'gap_s'"),
            ("actuated:\n  signals: { 9: { control: actuated } }", "actuated.signals.9", "not a signal id"),
            (
                "actuated:\n  signals: { 1: { control: actuated, detectors: [{ id: 4, phase: 7 }] } }",
                "actuated.signals.1.detectors[0].phase", "unknown phase 7"
            ),
            (
                "actuated:\n  detectors: [{ id: 4, phase: 4 }, { id: 4, phase: 8 }]", "actuated.detectors[1].id",
                "detector 4 listed twice"
            ),
            ("actuated:\n  detectors: [{ id: 65, phase: 4 }]", "actuated.detectors[0].id", "outside 1...64")
        ]
        for (yaml, key, fragment) in cases {
            do {
                _ = try demo(yaml)
                XCTFail("accepted \(yaml)")
            } catch let e as CorridorFileError {
                XCTAssertEqual(e.keyPath, key, "\(e)")
                XCTAssertTrue("\(e)".hasPrefix("bad.yaml:"), "\(e)")
                XCTAssertTrue(e.message.contains(fragment), "\(yaml)\n→ \(e)")
            }
        }
    }
}
