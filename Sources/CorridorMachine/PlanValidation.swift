import SignalTiming

/// Turns a `PlanSpec` into a `TimingPlan` by the rules of a corridor file (docs/corridor-format.md):
/// every stage has a split, no unknown stage or signal, splits at least min green + yellow + all-red,
/// splits summing exactly to the cycle, cycle within bounds, explicit offsets for every signal and
/// below the cycle, offsets otherwise computed from the progression (integer, deterministic). The
/// caller then builds a `Corridor` with it, which checks everything again.
enum PlanValidation {
    static func resolve(_ spec: PlanSpec, corridor: Corridor) -> Result<TimingPlan, PlanError> {
        let here = "plan '\(spec.name)'"
        guard !spec.name.isEmpty else { return .failure(.invalid("a plan needs a name")) }
        if spec.isFlash { return .success(.flash(PlanID(spec.name))) }
        guard (Limits.cycleMsMin...Limits.cycleMsMax).contains(spec.cycleMs) else {
            return .failure(.invalid("\(here): cycle \(spec.cycleMs) ms outside \(Limits.cycleMsMin)...\(Limits.cycleMsMax) ms"))
        }
        let p = spec.progression
        guard (Limits.progressionSpeedKmhMin...Limits.progressionSpeedKmhMax).contains(p.speedKmh) else {
            return .failure(.invalid("\(here): progression speed \(p.speedKmh) km/h outside \(Limits.progressionSpeedKmhMin)...\(Limits.progressionSpeedKmhMax)"))
        }
        guard (1...100).contains(p.favouredBandPercent) else {
            return .failure(.invalid("\(here): favoured band \(p.favouredBandPercent) % outside 1...100"))
        }
        for id in spec.signalSplitsMs.keys.sorted() where corridor.signalIndex(of: SignalID(id)) == nil {
            return .failure(.unknownSignal("\(here): signal_splits names unknown signal \(id)"))
        }
        if let o = spec.offsetsMs {
            for id in o.keys.sorted() where corridor.signalIndex(of: SignalID(id)) == nil {
                return .failure(.unknownSignal("\(here): offsets name unknown signal \(id)"))
            }
        }
        var signalPlans: [SignalPlan] = []
        var greens: [Milliseconds] = []
        for s in corridor.signals {
            let names = s.stages.map(\.name)
            guard let coord = names.firstIndex(of: spec.coordinatedStage) else {
                return .failure(.unknownStage("\(here): unknown coordinated stage '\(spec.coordinatedStage)' (stages: \(names.joined(separator: ", ")))"))
            }
            let table = spec.signalSplitsMs[s.id.rawValue] ?? spec.splitsMs
            let what = spec.signalSplitsMs[s.id.rawValue] == nil ? "" : " at signal \(s.id)"
            for k in table.keys.sorted() where !names.contains(k) {
                return .failure(.unknownStage("\(here): unknown stage '\(k)'\(what) (stages: \(names.joined(separator: ", ")))"))
            }
            var splits: [Milliseconds] = []
            for (k, name) in names.enumerated() {
                guard let v = table[name] else {
                    return .failure(.invalid("\(here): missing split for stage '\(name)'\(what)"))
                }
                let minimum = s.stageMinSplitMs[k]
                guard v >= minimum else {
                    return .failure(.invalid("\(here): split \(v) ms of stage '\(name)'\(what) is below min green \(s.stageMinGreenMs[k]) ms + yellow \(s.stageYellowMs[k]) ms + all-red \(s.stageRedClearanceMs[k]) ms = \(minimum) ms"))
                }
                splits.append(v)
            }
            let total = splits.reduce(0, +)
            if total > spec.cycleMs {
                return .failure(.invalid("\(here): splits sum to \(total) ms, overrunning the cycle of \(spec.cycleMs) ms by \(total - spec.cycleMs) ms\(what)"))
            }
            if total < spec.cycleMs {
                return .failure(.invalid("\(here): splits sum to \(total) ms, \(spec.cycleMs - total) ms short of the cycle of \(spec.cycleMs) ms\(what)"))
            }
            greens.append(splits[coord] - s.stageYellowMs[coord] - s.stageRedClearanceMs[coord])
            signalPlans.append(SignalPlan(offsetMs: 0, splitsMs: splits, coordinatedStage: coord))
        }
        var offsets = ProgressionMath.offsetsMs(positionsMetres: corridor.signals.map(\.positionMetres), cycleMs: spec.cycleMs,
                                                coordinatedGreensMs: greens, progression: p)
        if let explicit = spec.offsetsMs {
            for (i, s) in corridor.signals.enumerated() {
                guard let o = explicit[s.id.rawValue] else {
                    return .failure(.invalid("\(here): explicit offsets must give every signal; signal \(s.id) is missing"))
                }
                guard o >= 0, o < spec.cycleMs else {
                    return .failure(.invalid("\(here): offset \(o) ms of signal \(s.id) is not in 0..<cycle \(spec.cycleMs) ms"))
                }
                offsets[i] = o
            }
        }
        for i in signalPlans.indices { signalPlans[i].offsetMs = offsets[i] }
        return .success(TimingPlan(id: PlanID(spec.name), cycleMs: spec.cycleMs, signals: signalPlans, progression: p))
    }

    enum PlanError: Error {
        case invalid(String)
        case unknownSignal(String)
        case unknownStage(String)
        var result: CommandResult {
            switch self {
            case .invalid(let m): return .rejected(.invalidPlan, reason: m)
            case .unknownSignal(let m): return .rejected(.unknownSignal, reason: m)
            case .unknownStage(let m): return .rejected(.unknownStage, reason: m)
            }
        }
    }
}
