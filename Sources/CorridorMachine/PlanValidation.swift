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
            return .failure(
                .invalid("\(here): cycle \(spec.cycleMs) ms outside \(Limits.cycleMsMin)...\(Limits.cycleMsMax) ms"))
        }
        let p = spec.progression
        guard (Limits.progressionSpeedKmhMin...Limits.progressionSpeedKmhMax).contains(p.speedKmh) else {
            return .failure(
                .invalid(
                    "\(here): progression speed \(p.speedKmh) km/h outside \(Limits.progressionSpeedKmhMin)...\(Limits.progressionSpeedKmhMax)"
                ))
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
                return .failure(
                    .unknownStage(
                        "\(here): unknown coordinated stage '\(spec.coordinatedStage)' (stages: \(names.joined(separator: ", ")))"
                    ))
            }
            let table = spec.signalSplitsMs[s.id.rawValue] ?? spec.splitsMs
            let what = spec.signalSplitsMs[s.id.rawValue] == nil ? "" : " at signal \(s.id)"
            func said(_ p: PlanRules.Problem) -> String { "\(here): " + p.message(time: { "\($0) ms" }, context: what) }
            if let p = PlanRules.stages(table.keys, of: names) { return .failure(.unknownStage(said(p))) }
            var splits: [Milliseconds] = []
            for (k, name) in names.enumerated() {
                guard let v = table[name] else {
                    return .failure(.invalid("\(here): missing split for stage '\(name)'\(what)"))
                }
                if let p = PlanRules.split(v, stage: k, of: s) { return .failure(.invalid(said(p))) }
                splits.append(v)
            }
            if let p = PlanRules.splits(splits, fill: spec.cycleMs) { return .failure(.invalid(said(p))) }
            greens.append(splits[coord] - s.stageYellowMs[coord] - s.stageRedClearanceMs[coord])
            signalPlans.append(SignalPlan(offsetMs: 0, splitsMs: splits, coordinatedStage: coord))
        }
        var offsets = ProgressionMath.offsetsMs(
            positionsMetres: corridor.signals.map(\.positionMetres), cycleMs: spec.cycleMs,
            coordinatedGreensMs: greens, progression: p)
        if let explicit = spec.offsetsMs {
            for (i, s) in corridor.signals.enumerated() {
                guard let o = explicit[s.id.rawValue] else {
                    return .failure(
                        .invalid("\(here): explicit offsets must give every signal; signal \(s.id) is missing"))
                }
                if let p = PlanRules.offset(o, of: s.id, cycleMs: spec.cycleMs) {
                    return .failure(.invalid("\(here): " + p.message(time: { "\($0) ms" })))
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

/// The rules a plan's numbers obey, each written once with its one wording: the corridor file
/// (`CorridorFile`, in seconds, at the key that breaks it) and the state machine (`PlanValidation`, for an
/// `updatePlan` command, in ms) both ask these. The wording is the state machine's: a refusal's reason is
/// replicated (it is in the session table, so in the state hash, and in the audit chain), so changing it
/// would make the replay of an existing record disagree with its recorded hashes. The file's messages
/// follow it, with the file's unit.
public enum PlanRules {
    public enum Problem: Equatable, Sendable {
        case unknownStage(String, stages: [String])
        case splitBelowMinimum(
            splitMs: Milliseconds, stage: String, minGreenMs: Milliseconds, yellowMs: Milliseconds,
            redClearanceMs: Milliseconds)
        case splitsOverrunCycle(totalMs: Milliseconds, cycleMs: Milliseconds)
        case splitsUnderrunCycle(totalMs: Milliseconds, cycleMs: Milliseconds)
        case offsetOutsideCycle(offsetMs: Milliseconds, signal: SignalID, cycleMs: Milliseconds)

        /// The problem in words. `time` writes a duration with its unit ("9000 ms", "9 s"); `context`
        /// (" at signal 3") says where, when a plan has tables per signal.
        public func message(time t: (Milliseconds) -> String, context: String = "") -> String {
            switch self {
            case .unknownStage(let name, let stages):
                return "unknown stage '\(name)'\(context) (stages: \(stages.joined(separator: ", ")))"
            case .splitBelowMinimum(let v, let stage, let g, let y, let r):
                return
                    "split \(t(v)) of stage '\(stage)'\(context) is below min green \(t(g)) + yellow \(t(y)) + all-red \(t(r)) = \(t(g + y + r))"
            case .splitsOverrunCycle(let total, let cycle):
                return
                    "splits sum to \(t(total)), overrunning the cycle of \(t(cycle)) by \(t(total - cycle))\(context)"
            case .splitsUnderrunCycle(let total, let cycle):
                return "splits sum to \(t(total)), \(t(cycle - total)) short of the cycle of \(t(cycle))\(context)"
            case .offsetOutsideCycle(let o, let s, let cycle):
                return "offset \(t(o)) of signal \(s)\(context) is not in 0..<cycle \(t(cycle))"
            }
        }
    }

    /// Every stage a split table names is one of the signal's stages (`names`).
    public static func stages(_ table: some Sequence<String>, of names: [String]) -> Problem? {
        table.sorted().first { !names.contains($0) }.map { .unknownStage($0, stages: names) }
    }

    /// The split of stage `k` of `s` covers the stage's min green, yellow and all-red.
    public static func split(_ v: Milliseconds, stage k: Int, of s: Signal) -> Problem? {
        guard v < s.stageMinSplitMs[k] else { return nil }
        return .splitBelowMinimum(
            splitMs: v, stage: s.stages[k].name, minGreenMs: s.stageMinGreenMs[k], yellowMs: s.stageYellowMs[k],
            redClearanceMs: s.stageRedClearanceMs[k])
    }

    /// A signal's splits fill the cycle exactly. The splits are each at least 0 (`split` is asked first).
    public static func splits(_ splits: [Milliseconds], fill cycleMs: Milliseconds) -> Problem? {
        assert(splits.allSatisfy { $0 >= 0 }, "negative splits are refused by `split` first")
        // A hostile plan update may carry splits near Int64.max: their sum saturates instead of trapping on
        // every replica (it then overruns any cycle).
        var total: Milliseconds = 0
        for v in splits {
            let (sum, overflow) = total.addingReportingOverflow(v)
            if overflow {
                total = .max
                break
            }
            total = sum
        }
        if total > cycleMs { return .splitsOverrunCycle(totalMs: total, cycleMs: cycleMs) }
        if total < cycleMs { return .splitsUnderrunCycle(totalMs: total, cycleMs: cycleMs) }
        return nil
    }

    /// An offset lies in the cycle: 0 ..< cycle.
    public static func offset(_ o: Milliseconds, of signal: SignalID, cycleMs: Milliseconds) -> Problem? {
        (0..<cycleMs).contains(o) ? nil : .offsetOutsideCycle(offsetMs: o, signal: signal, cycleMs: cycleMs)
    }
}
