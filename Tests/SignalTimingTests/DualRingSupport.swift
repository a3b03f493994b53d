import XCTest

@testable import SignalTiming

/// An eight-phase WEH-style junction: 2/6 the arterial throughs (coordinated), 1/5 their turns
/// (5 on 2's approach), 4/8 the side street, 3/7 its turns. Pedestrians cross with 2, 4, 6, 8.
enum DualRingFixture {
    static func phases(turnRecall: Recall = .none) -> [ActuatedPhase] {
        let mainPed = PedTiming(walkMs: 7_000, clearanceMs: 12_000)
        let sidePed = PedTiming(walkMs: 7_000, clearanceMs: 18_000) // 19.2 m at 1.07 m/s
        func turn(_ n: Int) -> ActuatedPhase {
            ActuatedPhase(
                id: PhaseID(n), name: "turn \(n)", minGreenMs: 5_000, passageMs: 2_000, maxGreenMs: 15_000,
                yellowMs: 3_000, redClearanceMs: 2_000, recall: turnRecall)
        }
        func main(_ n: Int) -> ActuatedPhase {
            ActuatedPhase(
                id: PhaseID(n), name: "main \(n)", minGreenMs: 10_000, passageMs: 3_000, maxGreenMs: 40_000,
                yellowMs: 4_000, redClearanceMs: 2_000, dualEntry: true, ped: mainPed, flashLamp: .flashingYellow)
        }
        func side(_ n: Int) -> ActuatedPhase {
            ActuatedPhase(
                id: PhaseID(n), name: "side \(n)", minGreenMs: 7_000, passageMs: 3_000, maxGreenMs: 30_000,
                yellowMs: 3_000, redClearanceMs: 2_000, dualEntry: true, ped: sidePed)
        }
        return [turn(1), main(2), turn(3), side(4), turn(5), main(6), turn(7), side(8)]
    }

    static func ring(turnRecall: Recall = .none) -> DualRing { try! DualRing(phases: phases(turnRecall: turnRecall)) }

    /// Cycle 100 s: 1/5 15 s, 2/6 45 s, 3/7 10 s, 4/8 30 s, lead-lead.
    static func plan(
        offsetMs: Milliseconds = 17_300, id: String = "normal", ring: DualRing = ring(),
        leadLag: [[LeadLag]] = [[.lead, .lead], [.lead, .lead]]
    ) -> DualRingPlan {
        var splits: [PhaseID: Milliseconds] = [:]
        for (n, s) in [
            (1, 15_000), (2, 45_000), (3, 10_000), (4, 30_000), (5, 15_000), (6, 45_000), (7, 10_000), (8, 30_000)
        ] as [(Int, Milliseconds)] {
            splits[PhaseID(n)] = s
        }
        return DualRingPlan(
            id: PlanID(id), cycleMs: 100_000, offsetMs: offsetMs, splitsMs: splits,
            sequences: ring.sequences(leadLag: leadLag))
    }

    /// One stop-bar detector per phase (channel = phase number), a push button on 2, 4, 6, 8.
    static var detectors: [DetectorConfig] { (1...8).map { DetectorConfig(id: $0, phase: PhaseID($0)) } }
    static var buttons: [PedDetectorConfig] { [2, 4, 6, 8].map { PedDetectorConfig(id: $0, phase: PhaseID($0)) } }

    static let reference: Milliseconds = 1_764_000_000_000
}

/// Drives a controller step by step, checks every step's lamps with a conflict monitor that knows
/// the dual ring and its pedestrian heads, and keeps the events.
struct DualRingRun {
    var controller: DualRingController
    var monitor: ConflictMonitor
    var events: [HiResEvent] = []
    /// (time, lamps, peds) at every change.
    var changes = 0

    init(_ c: DualRingController) {
        controller = c
        monitor = ConflictMonitor(dualRing: c.ring)
        monitor.observe(atMs: c.nowMs, lamps: c.lamps, peds: c.pedLamps)
    }

    /// Steps until `untilMs`; `inputs(t)` gives the inputs of the step that ends at t.
    mutating func run(untilMs: Milliseconds, _ inputs: (Milliseconds) -> ControllerInputs) {
        var lamps = controller.lamps
        var peds = controller.pedLamps
        while controller.nowMs < untilMs {
            let t = controller.nowMs + ActuatedLimits.tickMs
            events += controller.step(inputs(t))
            let l = controller.lamps
            let p = controller.pedLamps
            if l != lamps || p != peds {
                monitor.observe(atMs: controller.nowMs, lamps: l, peds: p)
                lamps = l
                peds = p
                changes += 1
            }
        }
    }

    func times(code: Int, phase: Int) -> [Milliseconds] {
        events.filter { $0.code == code && $0.param == phase }.map(\.atMs)
    }

    /// The reason (4/5/6) logged for each end of green of `phase`, in order.
    func terminations(phase: Int) -> [Int] {
        events.filter { HiResEventCode.terminations.contains($0.code) && $0.param == phase }.map(\.code)
    }
}

extension ControllerInputs {
    /// All detectors off except `on` (channel numbers), push buttons pressed for `peds` (phases).
    static func with(
        on: Set<Int> = [], peds: Set<Int> = [], preempt: Bool = false, count: Int = 8,
        readings: [Int: DetectorReading] = [:]
    ) -> ControllerInputs {
        ControllerInputs(
            detectors: (1...count).map { readings[$0] ?? (on.contains($0) ? .on : .off) },
            pedButtons: [2, 4, 6, 8].map { peds.contains($0) }, preempt: preempt)
    }
}
