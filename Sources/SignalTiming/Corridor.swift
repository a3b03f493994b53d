/// What a lamp of one phase shows.
public enum Lamp: UInt8, Hashable, Sendable, CustomStringConvertible {
    case dark = 0
    case red
    case yellow
    case green
    case flashingRed
    case flashingYellow

    public var description: String {
        switch self {
        case .dark: return "dark"
        case .red: return "R"
        case .yellow: return "Y"
        case .green: return "G"
        case .flashingRed: return "r*"
        case .flashingYellow: return "y*"
        }
    }
}

/// A phase (movement) of a signal and the clearance times it needs.
/// Invariants (checked by `Signal.init`): `minGreenMs`, `yellowMs`, `redClearanceMs` within
/// `Limits`; `flashLamp` is `.flashingYellow` or `.flashingRed`.
public struct Phase: Hashable, Sendable {
    public var id: PhaseID
    public var name: String
    /// Shortest green, ms.
    public var minGreenMs: Milliseconds
    /// Yellow change interval, ms (≥ 3 s).
    public var yellowMs: Milliseconds
    /// Red clearance (all-red) after this phase's yellow, ms.
    public var redClearanceMs: Milliseconds
    /// What the phase shows in flash: arterial flashing yellow, side street flashing red.
    public var flashLamp: Lamp

    public init(
        id: PhaseID, name: String, minGreenMs: Milliseconds, yellowMs: Milliseconds,
        redClearanceMs: Milliseconds, flashLamp: Lamp
    ) {
        self.id = id
        self.name = name
        self.minGreenMs = minGreenMs
        self.yellowMs = yellowMs
        self.redClearanceMs = redClearanceMs
        self.flashLamp = flashLamp
    }
}

/// A stage: phases that are green together. Stages run one at a time, in ring order.
public struct Stage: Hashable, Sendable {
    public var name: String
    public var phases: [PhaseID]
    public init(name: String, phases: [PhaseID]) {
        self.name = name
        self.phases = phases
    }
}

/// One intersection of the corridor.
///
/// Invariants (checked by `init`): phase ids unique; stage phases known and mutually compatible;
/// conflict pairs name known phases; stage names unique. A stage's timing is the strictest of its
/// phases: min green, yellow and red clearance are the maxima over its phases, so every phase gets
/// at least what it is programmed for.
public struct Signal: Hashable, Sendable {
    public var id: SignalID
    public var name: String
    /// Distance along the corridor from its origin, metres.
    public var positionMetres: Int
    public var phases: [Phase]
    public var stages: [Stage]
    /// Pairs of phases that must never be green at the same time, normalised (smaller id first)
    /// and sorted.
    public private(set) var conflicts: [ConflictPair]

    /// `conflictMatrix[i][j]`: phases at indices i and j (in `phases`) conflict.
    public let conflictMatrix: [[Bool]]
    /// `stagePhaseIndices[k]`: indices (in `phases`) of the phases of stage k.
    public let stagePhaseIndices: [[Int]]
    /// Per stage: max over its phases of min green / yellow / red clearance, ms.
    public let stageMinGreenMs: [Milliseconds]
    public let stageYellowMs: [Milliseconds]
    public let stageRedClearanceMs: [Milliseconds]
    /// Per stage: the shortest split it can run: min green + yellow + red clearance, ms.
    public var stageMinSplitMs: [Milliseconds] {
        (0..<stages.count).map { stageMinGreenMs[$0] + stageYellowMs[$0] + stageRedClearanceMs[$0] }
    }

    public struct ConflictPair: Hashable, Sendable, Comparable {
        public var a: PhaseID
        public var b: PhaseID
        public init(_ x: PhaseID, _ y: PhaseID) {
            a = min(x, y)
            b = max(x, y)
        }
        public static func < (l: ConflictPair, r: ConflictPair) -> Bool { (l.a, l.b) < (r.a, r.b) }
    }

    public init(
        id: SignalID, name: String, positionMetres: Int, phases: [Phase], stages: [Stage],
        conflicts: [(PhaseID, PhaseID)]
    ) throws {
        let here = "signal \(id) (\(name))"
        guard !phases.isEmpty, phases.count <= Limits.phasesPerSignalMax else {
            throw TimingError("\(here): needs 1...\(Limits.phasesPerSignalMax) phases, has \(phases.count)")
        }
        guard stages.count >= 2, stages.count <= Limits.stagesPerSignalMax else {
            throw TimingError("\(here): needs 2...\(Limits.stagesPerSignalMax) stages, has \(stages.count)")
        }
        var index: [PhaseID: Int] = [:]
        for (i, p) in phases.enumerated() {
            guard (1...Limits.phaseNumberMax).contains(p.id.rawValue) else {
                throw TimingError("\(here): phase number \(p.id) outside 1...\(Limits.phaseNumberMax)")
            }
            guard index[p.id] == nil else { throw TimingError("\(here): duplicate phase \(p.id)") }
            index[p.id] = i
            guard (Limits.minGreenMsMin...Limits.minGreenMsMax).contains(p.minGreenMs) else {
                throw TimingError(
                    "\(here): phase \(p.id) min green \(p.minGreenMs) ms outside \(Limits.minGreenMsMin)...\(Limits.minGreenMsMax)"
                )
            }
            guard (Limits.yellowMsMin...Limits.yellowMsMax).contains(p.yellowMs) else {
                throw TimingError(
                    "\(here): phase \(p.id) yellow \(p.yellowMs) ms outside \(Limits.yellowMsMin)...\(Limits.yellowMsMax)"
                )
            }
            guard (Limits.redClearanceMsMin...Limits.redClearanceMsMax).contains(p.redClearanceMs) else {
                throw TimingError(
                    "\(here): phase \(p.id) red clearance \(p.redClearanceMs) ms outside \(Limits.redClearanceMsMin)...\(Limits.redClearanceMsMax)"
                )
            }
            guard p.flashLamp == .flashingYellow || p.flashLamp == .flashingRed else {
                throw TimingError("\(here): phase \(p.id) flash lamp must be flashing yellow or flashing red")
            }
        }
        var matrix = Array(repeating: Array(repeating: false, count: phases.count), count: phases.count)
        var pairs: Set<ConflictPair> = []
        for (x, y) in conflicts {
            guard let i = index[x] else { throw TimingError("\(here): conflict names unknown phase \(x)") }
            guard let j = index[y] else { throw TimingError("\(here): conflict names unknown phase \(y)") }
            guard i != j else { throw TimingError("\(here): phase \(x) cannot conflict with itself") }
            matrix[i][j] = true
            matrix[j][i] = true
            pairs.insert(ConflictPair(x, y))
        }
        var stageIdx: [[Int]] = []
        var names: Set<String> = []
        for s in stages {
            guard names.insert(s.name).inserted else { throw TimingError("\(here): duplicate stage '\(s.name)'") }
            guard !s.phases.isEmpty else { throw TimingError("\(here): stage '\(s.name)' has no phases") }
            var idx: [Int] = []
            for p in s.phases {
                guard let i = index[p] else { throw TimingError("\(here): stage '\(s.name)' names unknown phase \(p)") }
                guard !idx.contains(i) else { throw TimingError("\(here): stage '\(s.name)' lists phase \(p) twice") }
                for j in idx where matrix[i][j] {
                    throw TimingError("\(here): stage '\(s.name)' has conflicting phases \(phases[j].id) and \(p)")
                }
                idx.append(i)
            }
            stageIdx.append(idx)
        }
        self.id = id
        self.name = name
        self.positionMetres = positionMetres
        self.phases = phases
        self.stages = stages
        self.conflicts = pairs.sorted()
        self.conflictMatrix = matrix
        self.stagePhaseIndices = stageIdx
        self.stageMinGreenMs = stageIdx.map { $0.map { phases[$0].minGreenMs }.max()! }
        self.stageYellowMs = stageIdx.map { $0.map { phases[$0].yellowMs }.max()! }
        self.stageRedClearanceMs = stageIdx.map { $0.map { phases[$0].redClearanceMs }.max()! }
    }

    /// Index of the stage named `name`, if any.
    public func stageIndex(named name: String) -> Int? { stages.firstIndex { $0.name == name } }
}

/// How a plan's offsets were (or are to be) computed from positions.
public struct Progression: Hashable, Sendable {
    /// Design speed of the platoon, km/h.
    public var speedKmh: Int
    /// The favoured direction (the only one for one-way progression).
    public var favoured: Direction
    /// Share of the narrowest coordinated green guaranteed to the favoured direction's band, in
    /// percent. 100 is one-way progression; lower values leave slack to align the other direction.
    public var favouredBandPercent: Int

    public init(speedKmh: Int, favoured: Direction, favouredBandPercent: Int) {
        self.speedKmh = speedKmh
        self.favoured = favoured
        self.favouredBandPercent = favouredBandPercent
    }
}

/// One signal's part of a coordinated plan.
public struct SignalPlan: Hashable, Sendable {
    /// Offset: local cycle time 0 (start of green of the coordinated stage, NEMA TS2 reference
    /// point) falls at `referenceEpoch + offsetMs + n·cycle`. Invariant: `0 <= offsetMs < cycle`.
    public var offsetMs: Milliseconds
    /// Split per stage (stage order), ms, each including the stage's yellow and red clearance.
    /// Invariant: they sum to the cycle and each is at least the stage's min split.
    public var splitsMs: [Milliseconds]
    /// Index of the coordinated stage (the arterial through movement).
    public var coordinatedStage: Int

    public init(offsetMs: Milliseconds, splitsMs: [Milliseconds], coordinatedStage: Int) {
        self.offsetMs = offsetMs
        self.splitsMs = splitsMs
        self.coordinatedStage = coordinatedStage
    }
}

/// A timing plan (pattern): coordinated with a cycle, or flash.
public struct TimingPlan: Hashable, Sendable {
    public var id: PlanID
    /// True for the flash pattern (NTCIP pattern 255): no cycle, every signal flashes.
    public var isFlash: Bool
    /// Cycle length, ms (0 for flash).
    public var cycleMs: Milliseconds
    /// Per signal, in corridor order (empty for flash).
    public var signals: [SignalPlan]
    /// Progression used for offsets and the bandwidth report (nil for flash).
    public var progression: Progression?

    public init(id: PlanID, cycleMs: Milliseconds, signals: [SignalPlan], progression: Progression) {
        self.id = id
        self.isFlash = false
        self.cycleMs = cycleMs
        self.signals = signals
        self.progression = progression
    }

    public static func flash(_ id: PlanID) -> TimingPlan {
        TimingPlan(id: id, isFlash: true, cycleMs: 0, signals: [], progression: nil)
    }

    private init(id: PlanID, isFlash: Bool, cycleMs: Milliseconds, signals: [SignalPlan], progression: Progression?) {
        self.id = id
        self.isFlash = isFlash
        self.cycleMs = cycleMs
        self.signals = signals
        self.progression = progression
    }
}

/// Corridor-wide safety timings.
public struct SafetyTimings: Hashable, Sendable {
    /// All-red shown when leaving flash, before the first green, ms.
    public var flashExitRedMs: Milliseconds = Limits.flashExitRedMsDefault
    /// Shortest dwell on the preempted stage, ms (≥ 10 s).
    public var preemptDwellMs: Milliseconds = Limits.preemptDwellMsMin
    /// Longest a preemption call is honoured, ms.
    public var preemptMaxPresenceMs: Milliseconds = Limits.preemptMaxPresenceMsDefault
    public init() {}
}

/// A corridor: signals ordered by position, and its plans. Immutable once validated.
public struct Corridor: Hashable, Sendable {
    public let name: String
    /// Ordered by strictly increasing position.
    public let signals: [Signal]
    public let plans: [TimingPlan]
    public let safety: SafetyTimings

    /// Validates everything a running controller relies on; an invalid plan is refused, never run.
    public init(name: String, signals: [Signal], plans: [TimingPlan], safety: SafetyTimings = SafetyTimings()) throws {
        Limits.assertRelations()
        try Self.validate(signals: signals)
        guard !plans.isEmpty, plans.count <= Limits.plansMax else {
            throw TimingError("corridor needs 1...\(Limits.plansMax) plans, has \(plans.count)")
        }
        var planIDs: Set<PlanID> = []
        for plan in plans {
            guard planIDs.insert(plan.id).inserted else { throw TimingError("duplicate plan '\(plan.id)'") }
            if plan.isFlash { continue }
            try Self.validate(coordinated: plan, signals: signals)
        }
        try Self.validate(safety: safety)
        self.name = name
        self.signals = signals
        self.plans = plans
        self.safety = safety
    }

    /// 1...signalsMax signals with distinct ids, strictly increasing positions within the corridor's length.
    static func validate(signals: [Signal]) throws {
        guard (1...Limits.signalsMax).contains(signals.count) else {
            throw TimingError("corridor needs 1...\(Limits.signalsMax) signals, has \(signals.count)")
        }
        var ids: Set<SignalID> = []
        for (i, s) in signals.enumerated() {
            guard ids.insert(s.id).inserted else { throw TimingError("duplicate signal id \(s.id)") }
            if i > 0, s.positionMetres <= signals[i - 1].positionMetres {
                throw TimingError(
                    "signal \(s.id) (\(s.name)) at \(s.positionMetres) m is not after signal \(signals[i - 1].id) at \(signals[i - 1].positionMetres) m"
                )
            }
        }
        guard signals[0].positionMetres >= 0,
            signals[signals.count - 1].positionMetres <= Limits.corridorLengthMetresMax
        else {
            throw TimingError("signal positions must lie within 0...\(Limits.corridorLengthMetresMax) m")
        }
    }

    /// A coordinated plan: its cycle, its progression, and per signal splits that fill the cycle, none
    /// below its stage's minimum, a coordinated stage that exists and an offset within the cycle.
    static func validate(coordinated plan: TimingPlan, signals: [Signal]) throws {
        let here = "plan '\(plan.id)'"
        guard (Limits.cycleMsMin...Limits.cycleMsMax).contains(plan.cycleMs) else {
            throw TimingError(
                "\(here): cycle \(plan.cycleMs) ms outside \(Limits.cycleMsMin)...\(Limits.cycleMsMax)")
        }
        guard plan.signals.count == signals.count else {
            throw TimingError("\(here): has \(plan.signals.count) signal timings for \(signals.count) signals")
        }
        if let p = plan.progression {
            guard (Limits.progressionSpeedKmhMin...Limits.progressionSpeedKmhMax).contains(p.speedKmh) else {
                throw TimingError(
                    "\(here): progression speed \(p.speedKmh) km/h outside \(Limits.progressionSpeedKmhMin)...\(Limits.progressionSpeedKmhMax)"
                )
            }
            guard (1...100).contains(p.favouredBandPercent) else {
                throw TimingError("\(here): favoured band \(p.favouredBandPercent) % outside 1...100")
            }
        } else {
            throw TimingError("\(here): a coordinated plan needs a progression speed")
        }
        for (sp, s) in zip(plan.signals, signals) {
            let at = "\(here), signal \(s.id) (\(s.name))"
            guard sp.splitsMs.count == s.stages.count else {
                throw TimingError("\(at): \(sp.splitsMs.count) splits for \(s.stages.count) stages")
            }
            guard s.stages.indices.contains(sp.coordinatedStage) else {
                throw TimingError("\(at): coordinated stage \(sp.coordinatedStage) does not exist")
            }
            let total = sp.splitsMs.reduce(0, +)
            guard total == plan.cycleMs else {
                throw TimingError("\(at): splits sum to \(total) ms, cycle is \(plan.cycleMs) ms")
            }
            for (k, split) in sp.splitsMs.enumerated() where split < s.stageMinSplitMs[k] {
                throw TimingError(
                    "\(at): stage '\(s.stages[k].name)' split \(split) ms is below min green + yellow + red clearance = \(s.stageMinSplitMs[k]) ms"
                )
            }
            guard sp.offsetMs >= 0, sp.offsetMs < plan.cycleMs else {
                throw TimingError("\(at): offset \(sp.offsetMs) ms is not in 0..<cycle \(plan.cycleMs) ms")
            }
        }
    }

    static func validate(safety: SafetyTimings) throws {
        guard safety.flashExitRedMs >= Limits.redClearanceMsMin, safety.flashExitRedMs <= 60_000 else {
            throw TimingError("flash exit red \(safety.flashExitRedMs) ms outside \(Limits.redClearanceMsMin)...60000")
        }
        guard safety.preemptDwellMs >= Limits.preemptDwellMsMin else {
            throw TimingError("preemption dwell \(safety.preemptDwellMs) ms is below \(Limits.preemptDwellMsMin) ms")
        }
        guard safety.preemptMaxPresenceMs > safety.preemptDwellMs,
            safety.preemptMaxPresenceMs <= Limits.preemptMaxPresenceMsMax
        else {
            throw TimingError(
                "preemption max presence \(safety.preemptMaxPresenceMs) ms must exceed the dwell and be at most \(Limits.preemptMaxPresenceMsMax) ms"
            )
        }
    }

    public func signalIndex(of id: SignalID) -> Int? { signals.firstIndex { $0.id == id } }
    public func planIndex(of id: PlanID) -> Int? { plans.firstIndex { $0.id == id } }
    public func plan(_ id: PlanID) -> TimingPlan? { planIndex(of: id).map { plans[$0] } }
    /// Distance from the first to the last signal, metres.
    public var lengthMetres: Int { signals[signals.count - 1].positionMetres - signals[0].positionMetres }
}
