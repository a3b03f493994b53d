import SignalTiming
import Yams

/// The intersection template every signal of the corridor shares, as the `intersection:` section gives it:
///
/// ```yaml
/// intersection:
///   phases: [{ id: 2, name: main-through, min_green_s: 10, yellow_s: 4, all_red_s: 2, flash: yellow }, ...]
///   conflicts: [[2, 4], ...]
///   stages: [{ name: main, phases: [2, 6] }, ...]
/// ```
struct IntersectionTemplate {
    /// The section itself, for errors about the template as a whole.
    var at: Located
    /// The phases and stages, as a signal (id 0) that the corridor's signals copy.
    var signal: Signal
    var conflicts: [(PhaseID, PhaseID)]
    var stageNames: [String]
}

extension Reader {
    func intersection(_ l: Located) throws -> IntersectionTemplate {
        var ix = try obj(l)
        var phases: [Phase] = []
        var phaseAt: [PhaseID: Located] = [:]
        for pl in try list(required(&ix, "phases")) {
            phases.append(try phase(pl, seen: &phaseAt))
        }
        var conflicts: [(PhaseID, PhaseID)] = []
        if let cl = optional(&ix, "conflicts") {
            conflicts = try self.conflicts(cl, phaseAt: phaseAt)
        }
        var stages: [Stage] = []
        var stageAt: [String: Located] = [:]
        for sl in try list(required(&ix, "stages")) {
            stages.append(try stage(sl, seen: &stageAt, phaseAt: phaseAt, conflicts: conflicts))
        }
        try done(ix)
        let templateAt = Located(node: ix.at.node, path: "intersection")
        let template: Signal
        do {
            template = try Signal(
                id: SignalID(0), name: "template", positionMetres: 0, phases: phases, stages: stages,
                conflicts: conflicts)
        } catch let e as TimingError {
            throw fail(templateAt, .invalidValue, e.message)
        }
        return IntersectionTemplate(
            at: templateAt, signal: template, conflicts: conflicts, stageNames: stages.map(\.name))
    }

    /// One entry of `phases`; `phaseAt` holds the ids seen so far (a repeated id is refused).
    func phase(_ pl: Located, seen phaseAt: inout [PhaseID: Located]) throws -> Phase {
        var po = try obj(pl)
        let idAt = try required(&po, "id")
        let pid = PhaseID(try int(idAt, in: 1...Limits.phaseNumberMax, "phase number"))
        if phaseAt[pid] != nil {
            throw fail(idAt, .duplicateID, "duplicate phase id \(pid) (also \(phaseAt[pid]!.path))")
        }
        phaseAt[pid] = idAt
        let pname = try string(required(&po, "name"))
        let minGreen = try seconds(
            required(&po, "min_green_s"), in: Limits.minGreenMsMin...Limits.minGreenMsMax, "min green")
        let yellow = try seconds(required(&po, "yellow_s"), in: Limits.yellowMsMin...Limits.yellowMsMax, "yellow")
        let allRed = try seconds(
            required(&po, "all_red_s"), in: Limits.redClearanceMsMin...Limits.redClearanceMsMax, "all-red")
        let flashAt = try required(&po, "flash")
        let flash: Lamp
        switch try string(flashAt) {
        case "yellow": flash = .flashingYellow
        case "red": flash = .flashingRed
        default: throw fail(flashAt, .invalidValue, "flash must be 'yellow' or 'red'")
        }
        try done(po)
        return Phase(
            id: pid, name: pname, minGreenMs: minGreen, yellowMs: yellow, redClearanceMs: allRed, flashLamp: flash)
    }

    /// A phase number that `phases` defines.
    func phaseRef(_ l: Located, phaseAt: [PhaseID: Located]) throws -> PhaseID {
        let p = PhaseID(try int(l))
        guard phaseAt[p] != nil else {
            throw fail(
                l, .unknownPhase,
                "unknown phase \(p) (phases: \(phaseAt.keys.sorted().map(\.description).joined(separator: ", ")))")
        }
        return p
    }

    /// `conflicts`: pairs of phases that must never be green together.
    func conflicts(_ cl: Located, phaseAt: [PhaseID: Located]) throws -> [(PhaseID, PhaseID)] {
        var conflicts: [(PhaseID, PhaseID)] = []
        for pair in try list(cl) {
            let two = try list(pair)
            guard two.count == 2 else {
                throw fail(pair, .wrongType, "a conflict is a pair of phases, e.g. [2, 5]")
            }
            conflicts.append((try phaseRef(two[0], phaseAt: phaseAt), try phaseRef(two[1], phaseAt: phaseAt)))
        }
        return conflicts
    }

    /// One entry of `stages`: a name not seen before (`stageAt`) and phases of which no two conflict.
    func stage(
        _ sl: Located, seen stageAt: inout [String: Located], phaseAt: [PhaseID: Located],
        conflicts: [(PhaseID, PhaseID)]
    ) throws -> Stage {
        func conflict(_ a: PhaseID, _ b: PhaseID) -> Bool {
            conflicts.contains { ($0.0 == a && $0.1 == b) || ($0.0 == b && $0.1 == a) }
        }
        var so = try obj(sl)
        let nameAt = try required(&so, "name")
        let sname = try string(nameAt)
        if stageAt[sname] != nil { throw fail(nameAt, .duplicateID, "duplicate stage '\(sname)'") }
        stageAt[sname] = nameAt
        var ids: [PhaseID] = []
        for pl in try list(required(&so, "phases")) {
            let p = try phaseRef(pl, phaseAt: phaseAt)
            if let q = ids.first(where: { conflict($0, p) }) {
                throw fail(pl, .conflictingPhasesInStage, "phase \(p) conflicts with phase \(q) in the same stage")
            }
            ids.append(p)
        }
        try done(so)
        return Stage(name: sname, phases: ids)
    }
}
