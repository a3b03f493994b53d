import RaftCore
import XCTest

@testable import SignalTiming

/// Property-test helpers on RaftCore's seeded SplitMix64, so that every case is reproducible from its
/// seed (printed on failure).
extension SplitMix64 {
    mutating func int(_ r: ClosedRange<Int64>) -> Int64 {
        r.lowerBound + Int64(next() % UInt64(r.upperBound - r.lowerBound + 1))
    }
    mutating func int(_ r: ClosedRange<Int>) -> Int {
        r.lowerBound + Int(next() % UInt64(r.upperBound - r.lowerBound + 1))
    }
    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }
    mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }
}

/// The standard WEH-style intersection: main through (2+6, coordinated), main right turn (1+5:
/// Mumbai drives on the left), side street (4+8).
enum Fixture {
    static let main = 0, turn = 1, side = 2

    static func phases() -> [Phase] {
        [
            Phase(
                id: PhaseID(2), name: "NB through", minGreenMs: 10_000, yellowMs: 4_000, redClearanceMs: 2_000,
                flashLamp: .flashingYellow),
            Phase(
                id: PhaseID(6), name: "SB through", minGreenMs: 10_000, yellowMs: 4_000, redClearanceMs: 2_000,
                flashLamp: .flashingYellow),
            Phase(
                id: PhaseID(1), name: "SB right turn", minGreenMs: 5_000, yellowMs: 3_000, redClearanceMs: 2_000,
                flashLamp: .flashingRed),
            Phase(
                id: PhaseID(5), name: "NB right turn", minGreenMs: 5_000, yellowMs: 3_000, redClearanceMs: 2_000,
                flashLamp: .flashingRed),
            Phase(
                id: PhaseID(4), name: "side EB", minGreenMs: 7_000, yellowMs: 3_000, redClearanceMs: 2_000,
                flashLamp: .flashingRed),
            Phase(
                id: PhaseID(8), name: "side WB", minGreenMs: 7_000, yellowMs: 3_000, redClearanceMs: 2_000,
                flashLamp: .flashingRed)
        ]
    }

    static func conflicts() -> [(PhaseID, PhaseID)] {
        // NEMA: each turn conflicts with the through of its own ring (1 with 2, 5 with 6).
        var c: [(PhaseID, PhaseID)] = [(PhaseID(1), PhaseID(2)), (PhaseID(5), PhaseID(6))]
        for s in [4, 8] { for m in [1, 2, 5, 6] { c.append((PhaseID(s), PhaseID(m))) } }
        return c
    }

    static func stages() -> [Stage] {
        [
            Stage(name: "main", phases: [PhaseID(2), PhaseID(6)]),
            Stage(name: "main-turn", phases: [PhaseID(1), PhaseID(5)]),
            Stage(name: "side", phases: [PhaseID(4), PhaseID(8)])
        ]
    }

    static func signal(_ id: Int, at metres: Int) -> Signal {
        try! Signal(
            id: SignalID(id), name: "S\(id)", positionMetres: metres, phases: phases(), stages: stages(),
            conflicts: conflicts())
    }

    /// `count` signals 500 m apart; plans "normal" (90 s: 50/16/24), "long" (120 s: 70/20/30)
    /// with one-way offsets at 40 km/h, and "flash".
    static func corridor(count: Int = 3) -> Corridor {
        let signals = (0..<count).map { signal($0 + 1, at: $0 * 500) }
        func plan(_ name: String, _ cycle: Milliseconds, _ splits: [Milliseconds], favour: Direction) -> TimingPlan {
            let prog = Progression(speedKmh: 40, favoured: favour, favouredBandPercent: 100)
            let greens = signals.map { splits[0] - $0.stageYellowMs[0] - $0.stageRedClearanceMs[0] }
            let offsets = ProgressionMath.offsetsMs(
                positionsMetres: signals.map(\.positionMetres), cycleMs: cycle,
                coordinatedGreensMs: greens, progression: prog)
            return TimingPlan(
                id: PlanID(name), cycleMs: cycle,
                signals: offsets.map { SignalPlan(offsetMs: $0, splitsMs: splits, coordinatedStage: 0) },
                progression: prog)
        }
        return try! Corridor(
            name: "test", signals: signals,
            plans: [
                plan("normal", 90_000, [50_000, 16_000, 24_000], favour: .increasing),
                plan("long", 120_000, [70_000, 20_000, 30_000], favour: .decreasing),
                .flash(PlanID("flash"))
            ])
    }
}

/// Runs every signal's lamp stream over `fromMs...throughMs` through a fresh conflict monitor and
/// returns the faults (empty when safe).
func monitorFaults(
    _ timeline: CorridorTimeline, fromMs: Milliseconds, throughMs: Milliseconds
) -> [(SignalID, ConflictMonitor.Fault)] {
    var out: [(SignalID, ConflictMonitor.Fault)] = []
    for s in timeline.corridor.signals {
        var monitor = ConflictMonitor(signal: s)
        for st in timeline.changes(of: s.id, fromMs: fromMs, throughMs: throughMs) {
            for f in monitor.observe(atMs: st.atMs, lamps: st.lamps) { out.append((s.id, f)) }
        }
    }
    return out
}
