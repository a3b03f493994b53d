// From a corridor signal (stage-based: phases, stages, per-plan splits) to a coordinated-actuated
// dual-ring controller (issue 20): the same cycle, offset and splits on NEMA phases, plus actuated
// parameters with documented defaults, each overridable (the corridor file's `actuated:` section).
//
// The mapping. Every phase keeps its NEMA number (ring 1 holds 1-4, ring 2 5-8; 1, 2, 5, 6 left of
// the barrier), its min green, yellow, all-red and flash lamp. Every stage must lie on one side of
// the barrier with at most one phase per ring, every phase in exactly one stage, the stages of each
// side contiguous in the ring order, and every stage of a side must hold a phase of each ring that
// has phases on that side (so both rings reach the barrier together, as the stage model does). The
// coordinated stage holds the coordinated phases 2 and 6. Each ring's sequence is its phases in
// stage order (lead/lag follows: `main, main-turn, side` makes the turns 1 and 5 lag). A phase's split
// is its stage's split; local zero (the start of the coordinated green) is the stage model's, so the
// offset carries over unchanged. Every conflict the corridor file lists must be a NEMA conflict
// (same ring or across the barrier): the dual ring may never show a pair the file forbids.

/// How a signal is controlled: the stage-based fixed-time model, or the dual-ring controller.
public enum SignalControl: String, Hashable, Sendable, CaseIterable {
    case fixed
    case actuated
}

/// Overrides of one phase's actuated timing (nil: the default).
public struct ActuatedPhaseSettings: Hashable, Sendable {
    public var minGreenMs: Milliseconds?
    public var passageMs: Milliseconds?
    public var maxGreenMs: Milliseconds?
    public var recall: Recall?
    /// Length of the crosswalk served with this phase, mm; nil: no pedestrian intervals.
    public var crossingMm: Int?

    public init(
        minGreenMs: Milliseconds? = nil, passageMs: Milliseconds? = nil, maxGreenMs: Milliseconds? = nil,
        recall: Recall? = nil, crossingMm: Int? = nil
    ) {
        self.minGreenMs = minGreenMs
        self.passageMs = passageMs
        self.maxGreenMs = maxGreenMs
        self.recall = recall
        self.crossingMm = crossingMm
    }
}

/// The actuated settings of one signal (corridor-wide defaults with its own overrides applied).
public struct ActuatedSettings: Hashable, Sendable {
    public var control: SignalControl
    /// Passage (gap) time of every phase without its own.
    public var passageMs: Milliseconds
    public var walkMs: Milliseconds
    public var walkingSpeedMmPerS: Int
    public var phases: [PhaseID: ActuatedPhaseSettings]
    /// Vehicle detectors; nil: one stop-bar detector per phase, channel number = phase number.
    public var detectors: [DetectorConfig]?
    /// Push buttons; nil: one per phase with a crossing, channel number = phase number.
    public var pushButtons: [PedDetectorConfig]?

    /// The documented defaults: passage 3 s, walk 7 s, walking speed 1.07 m/s.
    public static let passageMsDefault: Milliseconds = 3_000

    public init(
        control: SignalControl = .fixed, passageMs: Milliseconds = passageMsDefault,
        walkMs: Milliseconds = PedDefaults.walkMs, walkingSpeedMmPerS: Int = PedDefaults.walkingSpeedMmPerS,
        phases: [PhaseID: ActuatedPhaseSettings] = [:], detectors: [DetectorConfig]? = nil,
        pushButtons: [PedDetectorConfig]? = nil
    ) {
        self.control = control
        self.passageMs = passageMs
        self.walkMs = walkMs
        self.walkingSpeedMmPerS = walkingSpeedMmPerS
        self.phases = phases
        self.detectors = detectors
        self.pushButtons = pushButtons
    }
}

/// One corridor signal as a dual-ring controller: its structure, one dual-ring plan per coordinated
/// corridor plan (same name, cycle, offset and splits), its detectors and push buttons.
public struct ActuatedSignal: Hashable, Sendable {
    public let signal: SignalID
    public let ring: DualRing
    /// Per coordinated corridor plan (flash plans have none: flash is the lamp driver's).
    public let plans: [DualRingPlan]
    public let detectors: [DetectorConfig]
    public let pushButtons: [PedDetectorConfig]

    /// A controller on plan `plan` (a coordinated corridor plan), starting at `startMs` (on the
    /// reference's 100 ms grid) in its start-up state (all red for the longest red clearance).
    public func controller(
        plan: PlanID, referenceMs: Milliseconds, startMs: Milliseconds
    ) throws
        -> DualRingController
    {
        try DualRingController(
            ring: ring, plans: plans, plan: plan, detectors: detectors, pedDetectors: pushButtons,
            referenceMs: referenceMs, startMs: startMs)
    }

    /// Per phase with pedestrian intervals: the shortest split that serves a pedestrian, walk +
    /// flashing don't-walk (crossing ÷ walking speed, rounded up to 0.1 s) + yellow + all-red (or min
    /// green + yellow + all-red if longer).
    public var pedestrianMinimumsMs: [(phase: PhaseID, splitMs: Milliseconds)] {
        ring.phases.compactMap { p in p.ped.map { _ in (p.id, p.minSplitMs) } }
    }
}

public enum ActuatedCorridor {
    /// The coordinated phases of every mapped plan.
    public static let coordinatedPhases = [PhaseID(2), PhaseID(6)]

    /// Maps signal `index` of `corridor` onto a dual ring with `settings`. Throws a `TimingError`
    /// naming the signal (and plan, phase) on a layout that does not map, a conflict the dual ring
    /// cannot honour, a timing outside the limits, or a split too short for its pedestrians.
    public static func signal(
        _ index: Int, of corridor: Corridor, settings: ActuatedSettings
    ) throws
        -> ActuatedSignal
    {
        let s = corridor.signals[index]
        let here = "signal \(s.id) (\(s.name))"
        do {
            try checkConflicts(s)
            let sequences = try ringSequences(s)
            let coordinatedPlans = corridor.plans.filter { !$0.isFlash }
            let phases = try s.phases.map { p in
                try actuatedPhase(p, signal: s, index: index, plans: coordinatedPlans, settings: settings)
            }
            let ring = try DualRing(phases: phases)
            var plans: [DualRingPlan] = []
            for plan in coordinatedPlans {
                let dp = try dualRingPlan(plan, signal: s, index: index, sequences: sequences)
                try checkPedestrians(dp, ring: ring, settings: settings)
                _ = try DualRingLayout(plan: dp, ring: ring)
                plans.append(dp)
            }
            let detectors = settings.detectors ?? s.phases.map { DetectorConfig(id: $0.id.rawValue, phase: $0.id) }
            let buttons =
                settings.pushButtons
                ?? ring.phases.filter { $0.ped != nil }.map {
                    PedDetectorConfig(id: $0.id.rawValue, phase: $0.id)
                }
            // The controller's own checks (channels, phases they call) before anything runs it.
            if let first = plans.first {
                _ = try DualRingController(
                    ring: ring, plans: plans, plan: first.id, detectors: detectors, pedDetectors: buttons,
                    referenceMs: 0, startMs: 0)
            }
            return ActuatedSignal(signal: s.id, ring: ring, plans: plans, detectors: detectors, pushButtons: buttons)
        } catch let e as TimingError {
            throw TimingError("\(here): \(e.message)")
        }
    }

    /// Every conflict the file lists must be one the dual ring enforces.
    static func checkConflicts(_ s: Signal) throws {
        for c in s.conflicts where !DualRing.conflict(c.a, c.b) {
            throw TimingError(
                "phases \(c.a) and \(c.b) are listed as conflicting, but a dual ring runs them together "
                    + "(different rings, same side of the barrier): renumber them or keep this signal fixed-time")
        }
    }

    /// Each ring's phases in stage order, starting with the first stage left of the barrier.
    static func ringSequences(_ s: Signal) throws -> [[PhaseID]] {
        var seen: Set<PhaseID> = []
        var stageGroup: [Int] = []
        for st in s.stages {
            let here = "stage '\(st.name)'"
            for p in st.phases where !(1...8).contains(p.rawValue) {
                throw TimingError("\(here): phase \(p) is not a NEMA phase 1...8")
            }
            let groups = Set(st.phases.map { DualRing.group(of: $0) })
            guard groups.count == 1, let g = groups.first else {
                throw TimingError("\(here) has phases on both sides of the barrier (1, 2, 5, 6 | 3, 4, 7, 8)")
            }
            for r in 0..<2 where st.phases.filter({ DualRing.ring(of: $0) == r }).count > 1 {
                throw TimingError("\(here) has two phases of ring \(r + 1)")
            }
            for p in st.phases where !seen.insert(p).inserted {
                throw TimingError("phase \(p) is in more than one stage")
            }
            stageGroup.append(g)
        }
        // Rotate to the first stage left of the barrier after a stage right of it (or the first).
        let n = s.stages.count
        let start = (0..<n).first { stageGroup[$0] == 0 && stageGroup[($0 + n - 1) % n] == 1 } ?? 0
        let order = (0..<n).map { (start + $0) % n }
        guard order.map({ stageGroup[$0] }) == order.map({ stageGroup[$0] }).sorted() else {
            throw TimingError("the stages of each side of the barrier must follow one another in the ring")
        }
        for g in 0..<2 {
            let stagesHere = order.filter { stageGroup[$0] == g }
            for r in 0..<2 {
                let with = stagesHere.filter { k in s.stages[k].phases.contains { DualRing.ring(of: $0) == r } }
                if !with.isEmpty && with.count != stagesHere.count {
                    throw TimingError(
                        "ring \(r + 1) has no phase in some stage of its side of the barrier: every stage there "
                            + "needs one phase of each ring that has phases there")
                }
            }
        }
        return (0..<2).map { r in order.flatMap { s.stages[$0].phases.filter { DualRing.ring(of: $0) == r } } }
    }

    static func actuatedPhase(
        _ p: Phase, signal s: Signal, index: Int, plans: [TimingPlan], settings: ActuatedSettings
    ) throws -> ActuatedPhase {
        let o = settings.phases[p.id] ?? ActuatedPhaseSettings()
        let minGreen = o.minGreenMs ?? p.minGreenMs
        let coordinated = coordinatedPhases.contains(p.id)
        let through = p.id.rawValue % 2 == 0
        var ped: PedTiming?
        if let mm = o.crossingMm {
            ped = try PedTiming(
                walkMs: settings.walkMs, crossingMm: mm, walkingSpeedMmPerS: settings.walkingSpeedMmPerS)
        }
        return ActuatedPhase(
            id: p.id, name: p.name, minGreenMs: minGreen, passageMs: o.passageMs ?? settings.passageMs,
            maxGreenMs: o.maxGreenMs
                ?? defaultMaxGreenMs(p, minGreenMs: minGreen, signal: s, index: index, plans: plans),
            yellowMs: p.yellowMs, redClearanceMs: p.redClearanceMs,
            recall: o.recall ?? (coordinated ? .minimum : .none), dualEntry: through, ped: ped, flashLamp: p.flashLamp)
    }

    /// Max green by default: the longest green any plan gives the phase (split − yellow − all-red),
    /// at least its min green (under coordination the force-off ends it anyway).
    static func defaultMaxGreenMs(
        _ p: Phase, minGreenMs: Milliseconds, signal s: Signal, index: Int, plans: [TimingPlan]
    ) -> Milliseconds {
        guard let k = s.stages.firstIndex(where: { $0.phases.contains(p.id) }) else { return minGreenMs }
        let greens = plans.map { $0.signals[index].splitsMs[k] - p.yellowMs - p.redClearanceMs }
        return min(ActuatedLimits.maxGreenMsMax, max(minGreenMs, greens.max() ?? minGreenMs))
    }

    /// The corridor plan's cycle, offset and splits for this signal on its NEMA phases.
    static func dualRingPlan(
        _ plan: TimingPlan, signal s: Signal, index: Int, sequences: [[PhaseID]]
    ) throws
        -> DualRingPlan
    {
        let sp = plan.signals[index]
        let coordinatedStage = s.stages[sp.coordinatedStage]
        guard Set(coordinatedStage.phases) == Set(coordinatedPhases) else {
            throw TimingError(
                "plan '\(plan.id)': coordinated stage '\(coordinatedStage.name)' must hold exactly phases 2 and 6 "
                    + "(the coordinated phases of the dual ring), holds \(coordinatedStage.phases)")
        }
        var splits: [PhaseID: Milliseconds] = [:]
        for (k, st) in s.stages.enumerated() { for p in st.phases { splits[p] = sp.splitsMs[k] } }
        return DualRingPlan(
            id: plan.id, cycleMs: plan.cycleMs, offsetMs: sp.offsetMs, splitsMs: splits,
            coordinatedPhases: coordinatedPhases, sequences: sequences)
    }

    /// Refuses a split too short for walk + crossing ÷ walking speed + yellow + all-red.
    static func checkPedestrians(_ plan: DualRingPlan, ring: DualRing, settings: ActuatedSettings) throws {
        for p in ring.phases {
            guard let ped = p.ped, let split = plan.splitsMs[p.id], split < ped.serviceMs + p.clearanceMs else {
                continue
            }
            let mm = settings.phases[p.id]?.crossingMm ?? 0
            throw TimingError(
                "plan '\(plan.id)': phase \(p.id) (\(p.name)) split \(fmtS(split)) s is too short for pedestrians: "
                    + "walk \(fmtS(ped.walkMs)) + flashing don't-walk \(fmtS(ped.clearanceMs)) "
                    + "(\(fmtS(Milliseconds(mm))) m at \(fmtS(Milliseconds(settings.walkingSpeedMmPerS))) m/s, "
                    + "rounded up to 0.1 s) + yellow \(fmtS(p.yellowMs)) + all-red \(fmtS(p.redClearanceMs)) "
                    + "= \(fmtS(ped.serviceMs + p.clearanceMs)) s")
        }
    }

    /// Per phase with a crossing in `settings`: the shortest split that serves its pedestrians (walk +
    /// flashing don't-walk rounded up to 0.1 s + yellow + all-red, or min green + yellow + all-red if longer).
    public static func pedestrianMinimumsMs(
        _ s: Signal, settings: ActuatedSettings
    ) throws
        -> [(phase: PhaseID, splitMs: Milliseconds)]
    {
        try s.phases.compactMap { p in
            guard let mm = settings.phases[p.id]?.crossingMm else { return nil }
            let ped = try PedTiming(
                walkMs: settings.walkMs, crossingMm: mm, walkingSpeedMmPerS: settings.walkingSpeedMmPerS)
            let minGreen = settings.phases[p.id]?.minGreenMs ?? p.minGreenMs
            return (p.id, max(minGreen, ped.serviceMs) + p.yellowMs + p.redClearanceMs)
        }
    }

    /// A fixed-time signal with crossings: the stage holding each crossing's phase must give it, in every
    /// plan, walk + crossing ÷ walking speed + yellow + all-red (the stage model shows no pedestrian heads,
    /// but the people crossing need the time all the same).
    public static func checkFixedPedestrians(_ index: Int, of corridor: Corridor, settings: ActuatedSettings) throws {
        let s = corridor.signals[index]
        for (phase, need) in try pedestrianMinimumsMs(s, settings: settings) {
            guard let k = s.stages.firstIndex(where: { $0.phases.contains(phase) }) else { continue }
            for plan in corridor.plans where !plan.isFlash && plan.signals[index].splitsMs[k] < need {
                throw TimingError(
                    "signal \(s.id) (\(s.name)): plan '\(plan.id)': stage '\(s.stages[k].name)' split "
                        + "\(fmtS(plan.signals[index].splitsMs[k])) s is too short for the pedestrians of phase \(phase): "
                        + "walk + crossing ÷ walking speed + yellow + all-red = \(fmtS(need)) s")
            }
        }
    }

    /// Milliseconds as seconds, exactly (4000 → "4", 17944 → "17.944").
    public static func fmtS(_ ms: Milliseconds) -> String {
        let whole = ms / 1_000
        var frac = String(ms % 1_000)
        guard frac != "0" else { return "\(whole)" }
        while frac.count < 3 { frac = "0" + frac }
        while frac.hasSuffix("0") { frac.removeLast() }
        return "\(whole).\(frac)"
    }
}
