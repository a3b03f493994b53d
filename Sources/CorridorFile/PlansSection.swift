import CorridorMachine
import SignalTiming
import Yams

/// What a plan's decoder needs from the sections before `plans:`.
struct PlanContext {
    var intersection: IntersectionTemplate
    var roster: SignalRoster
    var directions: DirectionNames
}

/// The `plans:` section: timing plans by name, each a flash plan or a coordinated one (cycle, coordinated
/// stage, splits with per-signal overrides, progression, and optionally explicit offsets). The rules are
/// PlanRules' (shared with the state machine's plan updates), in seconds here.
extension Reader {
    func plans(_ l: Located, context: PlanContext) throws -> [TimingPlan] {
        var plans: [TimingPlan] = []
        var planAt: [PlanID: Located] = [:]
        for pl in try list(l) {
            var po = try obj(pl)
            let nameAt = try required(&po, "name")
            let pid = PlanID(try string(nameAt))
            if let other = planAt[pid] {
                throw fail(nameAt, .duplicateID, "duplicate plan '\(pid)' (also at \(other.path))")
            }
            planAt[pid] = nameAt
            plans.append(try plan(pid, &po, context: context))
        }
        return plans
    }

    /// The rest of one plan's mapping, after its name.
    func plan(_ pid: PlanID, _ po: inout Obj, context: PlanContext) throws -> TimingPlan {
        if let fl = optional(&po, "flash"), try bool(fl) {
            try done(po)
            return .flash(pid)
        }
        let template = context.intersection.signal
        let signals = context.roster.signals
        let cycle = try seconds(required(&po, "cycle_s"), in: Limits.cycleMsMin...Limits.cycleMsMax, "cycle")
        let coord = try coordinatedStage(required(&po, "coordinated_stage"), context: context)
        let splits = try splitTable(try required(&po, "splits_s"), what: "", cycle: cycle, context: context)
        var perSignal = Array(repeating: splits, count: signals.count)
        if let ol = optional(&po, "signal_splits_s") {
            try signalSplits(ol, into: &perSignal, cycle: cycle, context: context)
        }
        let progression = try self.progression(required(&po, "progression"), directions: context.directions)
        let greens = perSignal.map {
            $0[coord] - template.stageYellowMs[coord] - template.stageRedClearanceMs[coord]
        }
        var offsets = ProgressionMath.offsetsMs(
            positionsMetres: signals.map(\.positionMetres), cycleMs: cycle,
            coordinatedGreensMs: greens, progression: progression)
        if let ol = optional(&po, "offsets_s") {
            offsets = try explicitOffsets(ol, cycle: cycle, signals: signals)
        }
        try done(po)
        return TimingPlan(
            id: pid, cycleMs: cycle,
            signals: (0..<signals.count).map {
                SignalPlan(offsetMs: offsets[$0], splitsMs: perSignal[$0], coordinatedStage: coord)
            },
            progression: progression)
    }

    /// `coordinated_stage`: the index of a stage the intersection names.
    func coordinatedStage(_ coordAt: Located, context: PlanContext) throws -> Int {
        let stageNames = context.intersection.stageNames
        let coordName = try string(coordAt)
        guard let coord = stageNames.firstIndex(of: coordName) else {
            throw fail(
                coordAt, .unknownStage,
                "unknown stage '\(coordName)' (stages: \(stageNames.joined(separator: ", ")))")
        }
        return coord
    }

    /// A refusal for a broken plan rule, in seconds.
    func broken(_ at: Located, _ p: PlanRules.Problem, _ what: String = "") -> CorridorFileError {
        fail(at, p.fileProblem, p.message(time: { "\(fmt($0)) s" }, context: what))
    }

    /// A split per stage (every stage named, no other key), each at least its stage's minimum, filling `cycle`.
    func splitTable(_ l: Located, what: String, cycle: Milliseconds, context: PlanContext) throws -> [Milliseconds] {
        let stageNames = context.intersection.stageNames
        var so = try obj(l)
        for (k, v) in so.pairs {
            if let p = PlanRules.stages([k], of: stageNames) { throw broken(v, p) }
        }
        var out: [Milliseconds] = []
        for (k, sn) in stageNames.enumerated() {
            let at = try required(&so, sn)
            let v = try seconds(at)
            if let p = PlanRules.split(v, stage: k, of: context.intersection.signal) { throw broken(at, p, what) }
            out.append(v)
        }
        if let p = PlanRules.splits(out, fill: cycle) { throw broken(l, p, what) }
        try done(so)
        return out
    }

    /// `signal_splits_s`: split tables for some signals (by id), replacing the plan's in `perSignal`.
    func signalSplits(
        _ ol: Located, into perSignal: inout [[Milliseconds]], cycle: Milliseconds, context: PlanContext
    ) throws {
        let signals = context.roster.signals
        let oo = try obj(ol)
        for (k, v) in oo.pairs {
            let keyAt = Located(node: v.node, path: v.path)
            guard let n = Int(k), let i = signals.firstIndex(where: { $0.id == SignalID(n) }) else {
                throw fail(keyAt, .unknownSignal, "unknown signal '\(k)'")
            }
            perSignal[i] = try splitTable(
                v, what: " at signal \(k) (\(signals[i].name))", cycle: cycle, context: context)
        }
    }

    /// `progression`: the design speed, the favoured direction and its share of the band.
    func progression(_ progAt: Located, directions: DirectionNames) throws -> Progression {
        var pr = try obj(progAt)
        let speed = try int(
            required(&pr, "speed_kmh"), in: Limits.progressionSpeedKmhMin...Limits.progressionSpeedKmhMax,
            "progression speed (km/h)")
        let favour = try direction(required(&pr, "favour"), names: directions)
        let percent =
            try optional(&pr, "favour_band_percent").map { try int($0, in: 1...100, "favoured band percent") }
            ?? 100
        try done(pr)
        return Progression(speedKmh: speed, favoured: favour, favouredBandPercent: percent)
    }

    /// `offsets_s`: explicit offsets that replace the computed ones; every signal must be given, no other key.
    func explicitOffsets(_ ol: Located, cycle: Milliseconds, signals: [Signal]) throws -> [Milliseconds] {
        var oo = try obj(ol)
        for (k, v) in oo.pairs where Int(k).flatMap({ n in signals.first { $0.id == SignalID(n) } }) == nil {
            throw fail(v, .unknownSignal, "unknown signal '\(k)'")
        }
        var offsets: [Milliseconds] = []
        for s in signals {
            let at = try required(&oo, "\(s.id)")
            let o = try seconds(at)
            if let p = PlanRules.offset(o, of: s.id, cycleMs: cycle) { throw broken(at, p) }
            offsets.append(o)
        }
        try done(oo)
        return offsets
    }
}
