import SignalTiming

/// Canonical encodings of the values commands and state are made of.
enum Codecs {
    // MARK: Small values

    static func direction(_ w: inout ByteWriter, _ d: Direction) { w.u8(d == .increasing ? 0 : 1) }
    static func direction(_ r: inout ByteReader) throws -> Direction {
        switch try r.u8("direction") {
        case 0: return .increasing
        case 1: return .decreasing
        case let t: throw DecodeError.unknownTag(what: "direction", tag: t)
        }
    }

    static func signal(_ w: inout ByteWriter, _ s: SignalID) { w.int(s.rawValue) }
    static func signal(_ r: inout ByteReader) throws -> SignalID { SignalID(try r.int("signal id")) }

    /// A map with sorted, unique keys; the decoder refuses any other order.
    static func map<K: Comparable, V>(
        _ w: inout ByteWriter, _ m: [K: V], key: (inout ByteWriter, K) -> Void,
        value: (inout ByteWriter, V) -> Void
    ) {
        let keys = m.keys.sorted()
        w.count(keys.count)
        for k in keys {
            key(&w, k)
            value(&w, m[k]!)
        }
    }
    static func map<K: Comparable & Hashable, V>(
        _ r: inout ByteReader, _ what: String, key: (inout ByteReader) throws -> K,
        value: (inout ByteReader) throws -> V
    ) throws -> [K: V] {
        let n = try r.count(what)
        var out: [K: V] = [:]
        var previous: K?
        for _ in 0..<n {
            let k = try key(&r)
            if let p = previous, !(p < k) { throw DecodeError.invalid(what: "\(what) (keys not strictly increasing)") }
            previous = k
            out[k] = try value(&r)
        }
        return out
    }

    static func splits(_ w: inout ByteWriter, _ m: [String: Milliseconds]) {
        map(&w, m, key: { $0.string($1) }, value: { $0.i64($1) })
    }
    static func splits(_ r: inout ByteReader) throws -> [String: Milliseconds] {
        try map(&r, "splits", key: { try $0.string("stage name") }, value: { try $0.i64("split") })
    }

    static func progression(_ w: inout ByteWriter, _ p: Progression) {
        w.int(p.speedKmh)
        direction(&w, p.favoured)
        w.int(p.favouredBandPercent)
    }
    static func progression(_ r: inout ByteReader) throws -> Progression {
        let s = try r.int("progression speed")
        let d = try direction(&r)
        let p = try r.int("favoured band percent")
        return Progression(speedKmh: s, favoured: d, favouredBandPercent: p)
    }

    static func preemption(_ w: inout ByteWriter, _ p: Preemption) {
        w.array(p.signals, signal)
        direction(&w, p.direction)
        w.int(p.speedKmh)
        w.i64(p.leadMs)
        w.i64(p.clearMs)
    }
    static func preemption(_ r: inout ByteReader) throws -> Preemption {
        let s = try r.array("preemption signals", signal)
        let d = try direction(&r)
        return Preemption(
            signals: s, direction: d, speedKmh: try r.int("speed"), leadMs: try r.i64("lead"),
            clearMs: try r.i64("clear"))
    }

    // MARK: Commands

    static func planSpec(_ w: inout ByteWriter, _ p: PlanSpec) {
        w.string(p.name)
        w.bool(p.isFlash)
        if p.isFlash { return }
        w.i64(p.cycleMs)
        w.string(p.coordinatedStage)
        splits(&w, p.splitsMs)
        map(&w, p.signalSplitsMs, key: { $0.int($1) }, value: { splits(&$0, $1) })
        progression(&w, p.progression)
        w.optional(p.offsetsMs) { w, o in map(&w, o, key: { $0.int($1) }, value: { $0.i64($1) }) }
    }
    static func planSpec(_ r: inout ByteReader) throws -> PlanSpec {
        let name = try r.string("plan name")
        if try r.bool("flash") { return .flash(name) }
        let cycle = try r.i64("cycle")
        let coord = try r.string("coordinated stage")
        let sp = try splits(&r)
        let sig = try map(&r, "signal splits", key: { try $0.int("signal id") }, value: { try splits(&$0) })
        let prog = try progression(&r)
        let off = try r.optional("offsets") { r in
            try map(&r, "offsets", key: { try $0.int("signal id") }, value: { try $0.i64("offset") })
        }
        return PlanSpec(
            name: name, cycleMs: cycle, coordinatedStage: coord, splitsMs: sp, signalSplitsMs: sig,
            progression: prog, offsetsMs: off)
    }

    static func command(_ w: inout ByteWriter, _ c: Command) {
        switch c {
        case .setMode(let p):
            w.u8(1)
            w.string(p.rawValue)
        case .hold(let s, let stage):
            w.u8(2)
            signal(&w, s)
            w.optional(stage) { $0.string($1) }
        case .release(let s):
            w.u8(3)
            signal(&w, s)
        case .flash(let s):
            w.u8(4)
            w.optional(s, signal)
        case .unflash(let s):
            w.u8(5)
            w.optional(s, signal)
        case .preempt(let p):
            w.u8(6)
            w.array(p.signals, signal)
            direction(&w, p.direction)
            w.optional(p.speedKmh) { $0.int($1) }
            w.optional(p.leadMs) { $0.i64($1) }
            w.optional(p.clearMs) { $0.i64($1) }
        case .cancelPreemption(let i):
            w.u8(7)
            w.u64(i)
        case .updatePlan(let p):
            w.u8(8)
            planSpec(&w, p)
        case .addOperator(let name, let key, let role):
            w.u8(9)
            w.string(name)
            w.data(key)
            w.u8(role.rawValue)
        case .setRole(let name, let role):
            w.u8(10)
            w.string(name)
            w.u8(role.rawValue)
        case .revokeKey(let id):
            w.u8(11)
            w.u64(id)
        case .setModeUntil(let p, let until):
            w.u8(12)
            w.string(p.rawValue)
            modeUntil(&w, until)
        case .setSchedule(let s):
            w.u8(13)
            schedule(&w, s)
        case .clearSchedule:
            w.u8(14)
        }
    }
    static func role(_ r: inout ByteReader) throws -> OperatorRole {
        let v = try r.u8("role")
        guard let role = OperatorRole(rawValue: v) else { throw DecodeError.unknownTag(what: "role", tag: v) }
        return role
    }
    static func command(_ r: inout ByteReader) throws -> Command {
        let tag = try r.u8("command tag")
        switch tag {
        case 1: return .setMode(PlanID(try r.string("plan")))
        case 2: return .hold(try signal(&r), stage: try r.optional("stage") { try $0.string("stage") })
        case 3: return .release(try signal(&r))
        case 4: return .flash(try r.optional("signal", signal))
        case 5: return .unflash(try r.optional("signal", signal))
        case 6:
            let s = try r.array("preemption signals", signal)
            let d = try direction(&r)
            let speed = try r.optional("speed") { try $0.int("speed") }
            let lead = try r.optional("lead") { try $0.i64("lead") }
            let clear = try r.optional("clear") { try $0.i64("clear") }
            return .preempt(PreemptRequest(signals: s, direction: d, speedKmh: speed, leadMs: lead, clearMs: clear))
        case 7: return .cancelPreemption(logIndex: try r.u64("preemption index"))
        case 8: return .updatePlan(try planSpec(&r))
        case 9:
            let name = try r.string("operator name")
            let key = try r.data("public key")
            return .addOperator(name: name, publicKey: key, role: try role(&r))
        case 10: return .setRole(name: try r.string("operator name"), role: try role(&r))
        case 11: return .revokeKey(keyID: try r.u64("key id"))
        case 12: return .setModeUntil(PlanID(try r.string("plan")), until: try modeUntil(&r))
        case 13: return .setSchedule(try schedule(&r))
        case 14: return .clearSchedule
        default: throw DecodeError.unknownTag(what: "command", tag: tag)
        }
    }

    static func result(_ w: inout ByteWriter, _ res: CommandResult) {
        switch res {
        case .accepted(let t):
            w.u8(0)
            w.i64(t)
        case .rejected(let c, let reason):
            w.u8(c.rawValue)
            w.string(reason)
        }
    }
    static func result(_ r: inout ByteReader) throws -> CommandResult {
        let tag = try r.u8("result")
        if tag == 0 { return .accepted(effectiveAtMs: try r.i64("effective time")) }
        guard let code = RejectCode(rawValue: tag) else { throw DecodeError.unknownTag(what: "result", tag: tag) }
        return .rejected(code, reason: try r.string("reason"))
    }

    // MARK: Control actions (timeline events)

    static func action(_ w: inout ByteWriter, _ a: ControlAction) {
        switch a {
        case .setPlan(let p):
            w.u8(1)
            w.string(p.rawValue)
        case .flash(let s):
            w.u8(2)
            w.optional(s, signal)
        case .unflash(let s):
            w.u8(3)
            w.optional(s, signal)
        case .hold(let s, let stage):
            w.u8(4)
            signal(&w, s)
            w.optional(stage) { $0.string($1) }
        case .release(let s):
            w.u8(5)
            signal(&w, s)
        case .preempt(let p):
            w.u8(6)
            preemption(&w, p)
        case .cancelPreemption(let e):
            w.u8(7)
            w.u64(e.rawValue)
        }
    }
    static func action(_ r: inout ByteReader) throws -> ControlAction {
        let tag = try r.u8("action tag")
        switch tag {
        case 1: return .setPlan(PlanID(try r.string("plan")))
        case 2: return .flash(try r.optional("signal", signal))
        case 3: return .unflash(try r.optional("signal", signal))
        case 4: return .hold(try signal(&r), stage: try r.optional("stage") { try $0.string("stage") })
        case 5: return .release(try signal(&r))
        case 6: return .preempt(try preemption(&r))
        case 7: return .cancelPreemption(EventID(try r.u64("event id")))
        default: throw DecodeError.unknownTag(what: "action", tag: tag)
        }
    }

    // MARK: Corridor

    static func lamp(_ r: inout ByteReader) throws -> Lamp {
        let v = try r.u8("lamp")
        guard let l = Lamp(rawValue: v) else { throw DecodeError.unknownTag(what: "lamp", tag: v) }
        return l
    }

    static func corridor(_ w: inout ByteWriter, _ c: Corridor) {
        w.string(c.name)
        w.array(c.signals) { w, s in
            signal(&w, s.id)
            w.string(s.name)
            w.int(s.positionMetres)
            w.array(s.phases) { w, p in
                w.int(p.id.rawValue)
                w.string(p.name)
                w.i64(p.minGreenMs)
                w.i64(p.yellowMs)
                w.i64(p.redClearanceMs)
                w.u8(p.flashLamp.rawValue)
            }
            w.array(s.stages) { w, st in
                w.string(st.name)
                w.array(st.phases) { $0.int($1.rawValue) }
            }
            w.array(s.conflicts) { w, pair in
                w.int(pair.a.rawValue)
                w.int(pair.b.rawValue)
            }
        }
        w.array(c.plans) { w, p in
            w.string(p.id.rawValue)
            w.bool(p.isFlash)
            if p.isFlash { return }
            w.i64(p.cycleMs)
            w.array(p.signals) { w, sp in
                w.i64(sp.offsetMs)
                w.array(sp.splitsMs) { $0.i64($1) }
                w.int(sp.coordinatedStage)
            }
            w.optional(p.progression, progression)
        }
        w.i64(c.safety.flashExitRedMs)
        w.i64(c.safety.preemptDwellMs)
        w.i64(c.safety.preemptMaxPresenceMs)
    }

    static func corridor(_ r: inout ByteReader) throws -> Corridor {
        let name = try r.string("corridor name")
        do {
            let signals = try r.array("signals") { r -> Signal in
                let id = try signal(&r)
                let sname = try r.string("signal name")
                let pos = try r.int("position")
                let phases = try r.array("phases") { r in
                    Phase(
                        id: PhaseID(try r.int("phase id")), name: try r.string("phase name"),
                        minGreenMs: try r.i64("min green"), yellowMs: try r.i64("yellow"),
                        redClearanceMs: try r.i64("red clearance"), flashLamp: try lamp(&r))
                }
                let stages = try r.array("stages") { r in
                    Stage(
                        name: try r.string("stage name"),
                        phases: try r.array("stage phases") { PhaseID(try $0.int("phase")) })
                }
                let conflicts = try r.array("conflicts") { r in
                    (PhaseID(try r.int("phase")), PhaseID(try r.int("phase")))
                }
                let s = try Signal(
                    id: id, name: sname, positionMetres: pos, phases: phases, stages: stages, conflicts: conflicts)
                guard s.conflicts.map({ ($0.a, $0.b) }).elementsEqual(conflicts, by: { $0 == $1 }) else {
                    throw DecodeError.invalid(what: "conflicts of signal \(id) (not sorted)")
                }
                return s
            }
            let plans = try r.array("plans") { r -> TimingPlan in
                let id = PlanID(try r.string("plan id"))
                if try r.bool("flash") { return .flash(id) }
                let cycle = try r.i64("cycle")
                let sps = try r.array("signal plans") { r in
                    SignalPlan(
                        offsetMs: try r.i64("offset"), splitsMs: try r.array("splits") { try $0.i64("split") },
                        coordinatedStage: try r.int("coordinated stage"))
                }
                guard let prog = try r.optional("progression", progression) else {
                    throw DecodeError.invalid(what: "plan '\(id)' (a coordinated plan needs a progression)")
                }
                return TimingPlan(id: id, cycleMs: cycle, signals: sps, progression: prog)
            }
            var safety = SafetyTimings()
            safety.flashExitRedMs = try r.i64("flash exit red")
            safety.preemptDwellMs = try r.i64("preempt dwell")
            safety.preemptMaxPresenceMs = try r.i64("preempt max presence")
            return try Corridor(name: name, signals: signals, plans: plans, safety: safety)
        } catch let e as TimingError {
            throw DecodeError.invalid(what: "corridor: \(e.message)")
        }
    }
}
