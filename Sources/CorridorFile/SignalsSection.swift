import SignalTiming
import Yams

/// The corridor's signals as the `signals:` section lists them, in order along the road, each with the
/// intersection template's phases and stages and its two addresses (`peer`, `api`).
struct SignalRoster {
    var signals: [Signal] = []
    var endpoints: [SignalEndpoints] = []
    /// Where each signal's id was given, for duplicate and reference checks.
    var idAt: [SignalID: Located] = [:]
    /// Every controller may run on its own host with the same ports (the field layout): what must be
    /// unique is the socket, host and port together, across all peer and API addresses. Key: socket key;
    /// value: the key path that used it.
    var socketsSeen: [String: String] = [:]
}

extension Reader {
    func signals(_ l: Located, intersection: IntersectionTemplate) throws -> SignalRoster {
        let signalList = try list(l)
        guard (1...Limits.signalsMax).contains(signalList.count) else {
            throw fail(
                intersection.at, .invalidValue,
                "a corridor has 1...\(Limits.signalsMax) signals, not \(signalList.count)", path: "signals")
        }
        var roster = SignalRoster()
        for sl in signalList {
            try signal(sl, into: &roster, intersection: intersection)
        }
        return roster
    }

    /// One entry of `signals`, appended to `roster` after checking it against the signals before it.
    func signal(_ sl: Located, into roster: inout SignalRoster, intersection: IntersectionTemplate) throws {
        var so = try obj(sl)
        let idAt = try required(&so, "id")
        let sid = SignalID(try int(idAt, in: 1...1_000_000, "signal id"))
        if let other = roster.idAt[sid] {
            throw fail(idAt, .duplicateID, "duplicate signal id \(sid) (also at \(other.path))")
        }
        roster.idAt[sid] = idAt
        let sname = try string(required(&so, "name"))
        let posAt = try required(&so, "position_m")
        let pos = try int(posAt, in: 0...Limits.corridorLengthMetresMax, "position")
        if let prev = roster.signals.last, pos <= prev.positionMetres {
            throw fail(
                posAt, .positionsNotIncreasing,
                "position \(pos) m is not after the previous signal's \(prev.positionMetres) m (list signals in order along the road)"
            )
        }
        var eps: [Endpoint] = []
        for key in ["peer", "api"] {
            let at = try required(&so, key)
            let e = try endpoint(at)
            if let other = roster.socketsSeen[e.socketKey] {
                throw fail(at, .duplicateID, "address \(e) is already used by \(other)")
            }
            roster.socketsSeen[e.socketKey] = at.path
            eps.append(e)
        }
        try done(so)
        let template = intersection.signal
        roster.signals.append(
            try Signal(
                id: sid, name: sname, positionMetres: pos, phases: template.phases, stages: template.stages,
                conflicts: intersection.conflicts))
        roster.endpoints.append(SignalEndpoints(signal: sid, peer: eps[0], api: eps[1]))
    }

    /// A signal id that `signals` defines; `problem` picks the refusal's kind and wording.
    func signalRef(
        _ l: Located, roster: SignalRoster, problem: CorridorFileError.Problem = .unknownSignal
    ) throws -> SignalID {
        let s = SignalID(try int(l))
        guard roster.idAt[s] != nil else {
            throw fail(
                l, problem,
                problem == .voterNotASignal ? "voter \(s) is not a signal of this corridor" : "unknown signal \(s)")
        }
        return s
    }

    /// `voters`: the Raft voters, at least one, each a signal of the corridor, none twice.
    func voters(_ l: Located, roster: SignalRoster) throws -> [SignalID] {
        var voters: [SignalID] = []
        for vl in try list(l) {
            let v = try signalRef(vl, roster: roster, problem: .voterNotASignal)
            if voters.contains(v) { throw fail(vl, .duplicateID, "voter \(v) is listed twice") }
            voters.append(v)
        }
        if voters.isEmpty { throw fail(nil, .invalidValue, "at least one voter is needed", path: "voters") }
        return voters
    }
}
