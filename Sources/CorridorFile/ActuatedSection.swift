import SignalTiming
import Yams

/// The corridor file's optional `actuated:` section (docs/corridor-format.md, "actuated"): which signals run
/// the coordinated-actuated dual-ring controller, and its parameters. Corridor-wide defaults, then
/// per-signal overrides:
///
/// ```yaml
/// actuated:
///   control: fixed                 # every signal's default: fixed (the stage model) or actuated
///   passage_s: 3
///   walk_s: 7
///   walking_speed_mps: 1.07
///   phases: { 4: { crossing_m: 19.2 }, 8: { crossing_m: 19.2, recall: pedestrian } }
///   signals:
///     3: { control: actuated, phases: { 4: { max_green_s: 25 } }, detectors: [{ id: 4, phase: 4 }] }
/// ```
///
/// Not part of the replicated state (the plan is; detectors and actuation are each controller's own).
public struct ActuatedSection: Hashable, Sendable {
    /// Per signal, in corridor order: its settings (defaults with its overrides applied).
    public var settings: [SignalID: ActuatedSettings]
    /// The mapped dual rings of the signals whose control is `actuated`.
    public var signals: [SignalID: ActuatedSignal]

    public init(settings: [SignalID: ActuatedSettings], signals: [SignalID: ActuatedSignal]) {
        self.settings = settings
        self.signals = signals
    }

    /// How signal `id` is controlled (fixed without a section or an entry).
    public func control(of id: SignalID) -> SignalControl { settings[id]?.control ?? .fixed }
}

extension Reader {
    static let walkingSpeedMmPerSRange =
        Int64(
            PedDefaults.walkingSpeedMmPerSRange.lowerBound)...Int64(
            PedDefaults.walkingSpeedMmPerSRange.upperBound)

    /// Decodes `actuated:` against the corridor (its signals, phases and plans) and maps every actuated
    /// signal onto its dual ring; a signal the mapping refuses (a layout the dual ring cannot run, a split too
    /// short for its pedestrians) is an error at the key that made it actuated or gave it the crossing.
    func actuatedSection(_ at: Located, corridor: Corridor) throws -> ActuatedSection {
        var o = try obj(at)
        var defaults = ActuatedSettings()
        try actuatedSettings(&o, into: &defaults, phases: corridor.signals[0].phases.map(\.id))
        var perSignal: [SignalID: (ActuatedSettings, Located)] = [:]
        if let sl = optional(&o, "signals") {
            var so = try obj(sl)
            for (key, l) in so.pairs {
                _ = optional(&so, key)
                guard let n = Int(key), let s = corridor.signals.first(where: { $0.id.rawValue == n }) else {
                    throw fail(
                        l, .unknownSignal,
                        "'\(key)' is not a signal id of this corridor (\(corridor.signals.map(\.id.description).joined(separator: ", ")))"
                    )
                }
                var settings = defaults
                var one = try obj(l)
                try actuatedSettings(&one, into: &settings, phases: s.phases.map(\.id))
                try done(one)
                perSignal[s.id] = (settings, l)
            }
            try done(so)
        }
        try done(o)
        var settings: [SignalID: ActuatedSettings] = [:]
        var mapped: [SignalID: ActuatedSignal] = [:]
        for (i, s) in corridor.signals.enumerated() {
            let (st, where_) = perSignal[s.id] ?? (defaults, at)
            settings[s.id] = st
            do {
                if st.control == .actuated {
                    mapped[s.id] = try ActuatedCorridor.signal(i, of: corridor, settings: st)
                } else {
                    try ActuatedCorridor.checkFixedPedestrians(i, of: corridor, settings: st)
                }
            } catch let e as TimingError {
                throw fail(where_, .invalidValue, e.message)
            }
        }
        return ActuatedSection(settings: settings, signals: mapped)
    }

    /// The keys a defaults block and a signal's block share, applied over `s`.
    func actuatedSettings(_ o: inout Obj, into s: inout ActuatedSettings, phases: [PhaseID]) throws {
        if let l = optional(&o, "control") {
            guard let c = SignalControl(rawValue: try string(l)) else {
                throw fail(l, .invalidValue, "control must be 'fixed' or 'actuated'")
            }
            s.control = c
        }
        if let l = optional(&o, "passage_s") { s.passageMs = try tenths(l, 0...ActuatedLimits.passageMsMax, "passage") }
        if let l = optional(&o, "walk_s") {
            s.walkMs = try tenths(l, ActuatedLimits.walkMsMin...ActuatedLimits.walkMsMax, "walk")
        }
        if let l = optional(&o, "walking_speed_mps") {
            // Thousandths of a metre per second are mm/s: read exactly like seconds.
            s.walkingSpeedMmPerS = Int(try thousandths(l, Self.walkingSpeedMmPerSRange, "walking speed", unit: "m/s"))
        }
        if let l = optional(&o, "phases") {
            var po = try obj(l)
            for (key, pl) in po.pairs {
                _ = optional(&po, key)
                guard let n = Int(key), let p = phases.first(where: { $0.rawValue == n }) else {
                    throw fail(
                        pl, .unknownPhase,
                        "unknown phase '\(key)' (phases: \(phases.map(\.description).joined(separator: ", ")))")
                }
                var ps = s.phases[p] ?? ActuatedPhaseSettings()
                try phaseSettings(pl, into: &ps)
                s.phases[p] = ps
            }
            try done(po)
        }
        if let l = optional(&o, "detectors") { s.detectors = try detectors(l, phases: phases) }
        if let l = optional(&o, "push_buttons") { s.pushButtons = try pushButtons(l, phases: phases) }
    }

    func phaseSettings(_ at: Located, into ps: inout ActuatedPhaseSettings) throws {
        var o = try obj(at)
        if let l = optional(&o, "min_green_s") {
            ps.minGreenMs = try tenths(l, Limits.minGreenMsMin...Limits.minGreenMsMax, "min green")
        }
        if let l = optional(&o, "passage_s") {
            ps.passageMs = try tenths(l, 0...ActuatedLimits.passageMsMax, "passage")
        }
        if let l = optional(&o, "max_green_s") {
            ps.maxGreenMs = try tenths(l, Limits.minGreenMsMin...ActuatedLimits.maxGreenMsMax, "max green")
        }
        if let l = optional(&o, "recall") {
            guard let r = Recall(rawValue: try string(l)) else {
                throw fail(
                    l, .invalidValue,
                    "recall must be one of \(Recall.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            ps.recall = r
        }
        if let l = optional(&o, "crossing_m") {
            // Metres with up to 3 decimals are millimetres, read exactly like seconds.
            ps.crossingMm = Int(try thousandths(l, 1...Int64(PedDefaults.crossingMmMax), "crossing length", unit: "m"))
        }
        try done(o)
    }

    /// A decimal with up to 3 places in thousandths (metres as mm, m/s as mm/s), within `range`.
    func thousandths(_ l: Located, _ range: ClosedRange<Int64>, _ what: String, unit: String) throws -> Int64 {
        let v = try seconds(l)
        guard range.contains(v) else {
            throw fail(
                l, .invalidValue,
                "\(what) \(fmt(v)) \(unit) is outside \(fmt(range.lowerBound))...\(fmt(range.upperBound)) \(unit)")
        }
        return v
    }

    /// Seconds on the controller's 0.1 s step, within `range`.
    func tenths(_ l: Located, _ range: ClosedRange<Milliseconds>, _ what: String) throws -> Milliseconds {
        let v = try seconds(l, in: range, what)
        guard v % ActuatedLimits.tickMs == 0 else {
            throw fail(l, .invalidValue, "\(what) \(fmt(v)) s is not a multiple of 0.1 s (the controller's step)")
        }
        return v
    }

    func detectors(_ at: Located, phases: [PhaseID]) throws -> [DetectorConfig] {
        let items = try list(at)
        guard items.count <= ActuatedLimits.detectorsMax else {
            throw fail(at, .invalidValue, "\(items.count) detectors exceed \(ActuatedLimits.detectorsMax)")
        }
        var out: [DetectorConfig] = []
        for l in items {
            var o = try obj(l)
            let idAt = try required(&o, "id")
            let id = try int(idAt, in: 1...ActuatedLimits.detectorsMax, "detector channel")
            if out.contains(where: { $0.id == id }) { throw fail(idAt, .duplicateID, "detector \(id) listed twice") }
            var d = DetectorConfig(id: id, phase: try phase(try required(&o, "phase"), phases))
            if let v = optional(&o, "calls") { d.calls = try bool(v) }
            if let v = optional(&o, "extends") { d.extends = try bool(v) }
            if let v = optional(&o, "max_presence_s") {
                d.maxPresenceMs = try tenths(v, 1_000...3_600_000, "max presence")
            }
            try done(o)
            out.append(d)
        }
        return out
    }

    func pushButtons(_ at: Located, phases: [PhaseID]) throws -> [PedDetectorConfig] {
        let items = try list(at)
        guard items.count <= ActuatedLimits.detectorsMax else {
            throw fail(at, .invalidValue, "\(items.count) push buttons exceed \(ActuatedLimits.detectorsMax)")
        }
        var out: [PedDetectorConfig] = []
        for l in items {
            var o = try obj(l)
            let idAt = try required(&o, "id")
            let id = try int(idAt, in: 1...ActuatedLimits.detectorsMax, "push button channel")
            if out.contains(where: { $0.id == id }) { throw fail(idAt, .duplicateID, "push button \(id) listed twice") }
            out.append(PedDetectorConfig(id: id, phase: try phase(try required(&o, "phase"), phases)))
            try done(o)
        }
        return out
    }

    func phase(_ l: Located, _ phases: [PhaseID]) throws -> PhaseID {
        let n = try int(l)
        guard let p = phases.first(where: { $0.rawValue == n }) else {
            throw fail(
                l, .unknownPhase, "unknown phase \(n) (phases: \(phases.map(\.description).joined(separator: ", ")))")
        }
        return p
    }
}
