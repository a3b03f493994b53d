import RaftCore
import SignalTiming

/// Random corridors for the property tests and `tools/late-entry`: one generator, so that both explore
/// the same space.
public enum RandomCorridor {
    /// 2–5 signals 300–800 m apart; each with 2–6 phases of random timings in 2–4 stages and a
    /// random conflict matrix (phases of one stage never conflict); 1–3 coordinated plans with
    /// random cycles, splits and offsets; and the flash plan. With `phasesInTwoStages`, sometimes a
    /// phase also runs in a second, compatible stage (it then goes green-yellow-red-green between them).
    public static func make(_ rng: inout SplitMix64, phasesInTwoStages: Bool = false) throws -> Corridor {
        let n = rng.int(2...5)
        var position: Int = rng.int(0...1_000)
        var signals: [Signal] = []
        for i in 0..<n {
            let stageCount = rng.int(2...4)
            let phaseCount = rng.int(stageCount...6)
            var numbers = Array(1...8)
            var phases: [Phase] = []
            var stageOf: [Int] = []
            for j in 0..<phaseCount {
                let k = rng.int(0...(numbers.count - 1))
                let number = numbers.remove(at: k)
                phases.append(
                    Phase(
                        id: PhaseID(number), name: "p\(number)",
                        minGreenMs: rng.int(Limits.minGreenMsMin...15_000),
                        yellowMs: rng.int(Limits.yellowMsMin...6_000),
                        redClearanceMs: rng.int(Limits.redClearanceMsMin...3_000),
                        flashLamp: rng.chance(50) ? .flashingYellow : .flashingRed))
                stageOf.append(j < stageCount ? j : rng.int(0...(stageCount - 1)))
            }
            var conflicts: [(PhaseID, PhaseID)] = []
            for a in 0..<phaseCount {
                for b in (a + 1)..<phaseCount where stageOf[a] != stageOf[b] && rng.chance(70) {
                    conflicts.append((phases[a].id, phases[b].id))
                }
            }
            var stages = (0..<stageCount).map { k in
                Stage(name: "st\(k)", phases: (0..<phaseCount).filter { stageOf[$0] == k }.map { phases[$0].id })
            }
            if phasesInTwoStages && rng.chance(30) {
                let p = rng.int(0...(phaseCount - 1))
                let k = rng.int(0...(stageCount - 1))
                let compatible = stages[k].phases.allSatisfy { q in
                    !conflicts.contains { ($0.0 == q && $0.1 == phases[p].id) || ($0.1 == q && $0.0 == phases[p].id) }
                        && q != phases[p].id
                }
                if compatible { stages[k].phases.append(phases[p].id) }
            }
            signals.append(
                try Signal(
                    id: SignalID(100 + i * 3), name: "R\(i)", positionMetres: position,
                    phases: phases, stages: stages, conflicts: conflicts))
            position += rng.int(300...800)
        }
        var plans: [TimingPlan] = []
        let minCycle = signals.map { $0.stageMinSplitMs.reduce(0, +) }.max()!
        for p in 0..<rng.int(1...3) {
            let cycle = min(Limits.cycleMsMax, max(Limits.cycleMsMin, minCycle + rng.int(0...70_000)))
            let sps = signals.map { s -> SignalPlan in
                var splits = s.stageMinSplitMs
                var extra = cycle - splits.reduce(0, +)
                while extra > 0 {
                    let k = rng.int(0...(splits.count - 1))
                    let add = min(extra, rng.int(1...max(1, extra)))
                    splits[k] += add
                    extra -= add
                }
                return SignalPlan(
                    offsetMs: rng.int(0...(cycle - 1)), splitsMs: splits,
                    coordinatedStage: rng.int(0...(s.stages.count - 1)))
            }
            plans.append(
                TimingPlan(
                    id: PlanID("plan\(p)"), cycleMs: cycle, signals: sps,
                    progression: Progression(
                        speedKmh: rng.int(20...60), favoured: .increasing, favouredBandPercent: 100)))
        }
        plans.append(.flash(PlanID("flash")))
        var safety = SafetyTimings()
        safety.flashExitRedMs = rng.int(2_000...8_000)
        safety.preemptDwellMs = rng.int(10_000...20_000)
        safety.preemptMaxPresenceMs = rng.int(60_000...180_000)
        return try Corridor(name: "random", signals: signals, plans: plans, safety: safety)
    }
}
