// The NEMA dual ring: eight phases in two rings, split by a barrier into two concurrency groups.
//
//   ring 1:  1  2  ‖  3  4
//   ring 2:  5  6  ‖  7  8
//            group A   group B      (‖ is the barrier)
//
// Even phases are through movements, odd phases the turns across them; 2 and 6 are the arterial
// (coordinated) throughs, 4 and 8 the side street. By the NEMA convention phase 5 is the turn on
// phase 2's approach (it runs with 2 and crosses 6's traffic) and phase 1 the turn on phase 6's
// approach. Each ring times one phase at a time; phases of different rings may run together only
// on the same side of the barrier, and both rings cross the barrier together. So two phases
// conflict exactly when they are in the same ring or in different groups: this is the whole
// conflict matrix of a dual-ring controller, derived, not configured.
//
// This model sits beside the stage-based `Signal`/`SignalEngine` (the fixed-time coordinator)
// and does not change it. Pure and deterministic: integer milliseconds, no clock, no randomness.

/// A phase's recall: what calls it without a detector.
public enum Recall: String, Hashable, Sendable, CaseIterable {
    /// Served only on a vehicle or pedestrian call.
    case none
    /// A constant vehicle call: served every cycle for at least its min green.
    case minimum
    /// A constant call and a constant extension: served every cycle to its max green (or its
    /// force-off). Also what a failed detector's phase is put on.
    case maximum
    /// A constant pedestrian call: walk and flashing don't-walk every cycle.
    case pedestrian
    /// A call only while no other phase has one: the controller returns to (and rests in) this
    /// phase when nothing else is waiting. Usual on the arterial throughs in free operation.
    case soft
}

/// The pedestrian intervals of a phase: walk, then flashing don't-walk (pedestrian clearance),
/// then steady don't-walk. Both run inside the phase's vehicle green.
public struct PedTiming: Hashable, Sendable {
    /// Walk, ms (MUTCD: at least 7 s; 4 s where few pedestrians cross).
    public var walkMs: Milliseconds
    /// Flashing don't-walk, ms: the crossing length divided by the walking speed.
    public var clearanceMs: Milliseconds

    public init(walkMs: Milliseconds, clearanceMs: Milliseconds) {
        self.walkMs = walkMs
        self.clearanceMs = clearanceMs
    }

    /// Walk plus a clearance computed from the crossing: `ceil(length / speed)`.
    public init(
        walkMs: Milliseconds = PedDefaults.walkMs, crossingMm: Int,
        walkingSpeedMmPerS: Int = PedDefaults.walkingSpeedMmPerS
    ) throws {
        self.walkMs = walkMs
        // Rounded up to the controller's 100 ms step: never shorter than the crossing needs.
        let exact = try PedDefaults.clearanceMs(crossingMm: crossingMm, walkingSpeedMmPerS: walkingSpeedMmPerS)
        self.clearanceMs = ceilDiv(exact, ActuatedLimits.tickMs) * ActuatedLimits.tickMs
    }

    /// Walk and flashing don't-walk together: the shortest green that can serve a pedestrian.
    public var serviceMs: Milliseconds { walkMs + clearanceMs }
}

/// The documented pedestrian defaults and the split check of `corridor check`.
public enum PedDefaults {
    /// Walk: 7 s (MUTCD 4E.06 minimum where pedestrians are usual).
    public static let walkMs: Milliseconds = 7_000
    /// Walking speed for the clearance: 1.07 m/s (3.5 ft/s, MUTCD 4E.06). Slower (0.9 m/s) where
    /// many elderly people or children cross.
    public static let walkingSpeedMmPerS = 1_070
    public static let walkingSpeedMmPerSRange = 500...2_000
    public static let crossingMmMax = 100_000

    /// Flashing don't-walk for a crossing: `ceil(crossing / speed)` in ms (19.2 m at 1.07 m/s:
    /// 17 944 ms).
    public static func clearanceMs(crossingMm: Int, walkingSpeedMmPerS: Int) throws -> Milliseconds {
        guard (1...crossingMmMax).contains(crossingMm) else {
            throw TimingError("crossing length \(crossingMm) mm outside 1...\(crossingMmMax)")
        }
        guard walkingSpeedMmPerSRange.contains(walkingSpeedMmPerS) else {
            throw TimingError("walking speed \(walkingSpeedMmPerS) mm/s outside \(walkingSpeedMmPerSRange)")
        }
        return ceilDiv(Int64(crossingMm) * 1_000, Int64(walkingSpeedMmPerS))
    }

    /// The split check: a split (green + yellow + all-red) must hold walk + crossing ÷ walking speed
    /// + yellow + all-red to serve a pedestrian. Throws a message naming what is missing.
    /// - Parameters:
    ///   - splitMs: the phase's split, including its yellow and all-red.
    ///   - crossingMm: the crossing length the phase's pedestrians walk.
    public static func checkSplit(
        splitMs: Milliseconds, walkMs: Milliseconds = walkMs, crossingMm: Int,
        walkingSpeedMmPerS: Int = walkingSpeedMmPerS,
        yellowMs: Milliseconds, redClearanceMs: Milliseconds
    ) throws {
        let clearance = try clearanceMs(crossingMm: crossingMm, walkingSpeedMmPerS: walkingSpeedMmPerS)
        let needed = walkMs + clearance + yellowMs + redClearanceMs
        guard splitMs >= needed else {
            throw TimingError(
                "split \(splitMs) ms is too short for pedestrians: walk \(walkMs) + clearance \(clearance) "
                    + "(\(crossingMm) mm at \(walkingSpeedMmPerS) mm/s) + yellow \(yellowMs) + all-red \(redClearanceMs) = \(needed) ms"
            )
        }
    }
}

/// One phase of a dual-ring controller and its actuated timing.
public struct ActuatedPhase: Hashable, Sendable {
    /// NEMA number 1...8: ring 1 holds 1–4, ring 2 holds 5–8; 1, 2, 5, 6 are left of the barrier.
    public var id: PhaseID
    public var name: String
    /// Shortest green, ms.
    public var minGreenMs: Milliseconds
    /// Passage (gap, vehicle extension) time: the green extends while actuations come within it.
    public var passageMs: Milliseconds
    /// Longest green once a conflicting call is waiting (the max timer starts with that call).
    public var maxGreenMs: Milliseconds
    public var yellowMs: Milliseconds
    public var redClearanceMs: Milliseconds
    public var recall: Recall
    /// Dual entry: served when the other ring serves its side of the barrier and this ring has no
    /// call there (usual on the throughs, so that a lone turn never leaves a ring idle in red).
    public var dualEntry: Bool
    /// Pedestrian intervals, if a crosswalk runs with this phase.
    public var ped: PedTiming?
    public var flashLamp: Lamp

    public init(
        id: PhaseID, name: String, minGreenMs: Milliseconds, passageMs: Milliseconds, maxGreenMs: Milliseconds,
        yellowMs: Milliseconds, redClearanceMs: Milliseconds, recall: Recall = .none, dualEntry: Bool = false,
        ped: PedTiming? = nil, flashLamp: Lamp = .flashingRed
    ) {
        self.id = id
        self.name = name
        self.minGreenMs = minGreenMs
        self.passageMs = passageMs
        self.maxGreenMs = maxGreenMs
        self.yellowMs = yellowMs
        self.redClearanceMs = redClearanceMs
        self.recall = recall
        self.dualEntry = dualEntry
        self.ped = ped
        self.flashLamp = flashLamp
    }

    /// Yellow plus red clearance.
    public var clearanceMs: Milliseconds { yellowMs + redClearanceMs }
    /// The shortest split that serves this phase: min green (or walk + clearance, if longer) +
    /// yellow + red clearance.
    public var minSplitMs: Milliseconds { max(minGreenMs, ped?.serviceMs ?? 0) + clearanceMs }

    /// As a `Phase` of the stage model, for the conflict monitor.
    public var monitorPhase: Phase {
        Phase(
            id: id, name: name, minGreenMs: minGreenMs, yellowMs: yellowMs, redClearanceMs: redClearanceMs,
            flashLamp: flashLamp)
    }
}

/// The dual-ring structure of one intersection: which of the eight NEMA phases exist and their
/// timing. Invariants (checked by `init`): phase numbers 1...8 and unique; each ring has at least
/// one phase; every timing within `Limits` and `ActuatedLimits`.
public struct DualRing: Hashable, Sendable {
    /// The phases present, sorted by NEMA number. Indices into this array are "phase indices".
    public let phases: [ActuatedPhase]
    /// `conflictMatrix[i][j]`: phases i and j may never be green together.
    public let conflictMatrix: [[Bool]]
    /// `indexOf[n]`: index of phase n (0...8; nil when absent).
    public let indexOf: [Int?]
    /// Phase indices of each ring, in NEMA order.
    public let ringPhases: [[Int]]

    /// Ring of a NEMA phase: 0 for 1–4, 1 for 5–8.
    public static func ring(of p: PhaseID) -> Int { (p.rawValue - 1) / 4 }
    /// Concurrency group of a NEMA phase: 0 (left of the barrier) for 1, 2, 5, 6; 1 for 3, 4, 7, 8.
    public static func group(of p: PhaseID) -> Int { ((p.rawValue - 1) % 4) / 2 }
    /// The NEMA rule: same ring, or opposite sides of the barrier.
    public static func conflict(_ a: PhaseID, _ b: PhaseID) -> Bool {
        a != b && (ring(of: a) == ring(of: b) || group(of: a) != group(of: b))
    }

    public init(phases unsorted: [ActuatedPhase]) throws {
        let phases = unsorted.sorted { $0.id < $1.id }
        var indexOf = [Int?](repeating: nil, count: 9)
        for (i, p) in phases.enumerated() {
            let here = "phase \(p.id) (\(p.name))"
            guard (1...8).contains(p.id.rawValue) else { throw TimingError("\(here): a dual ring has phases 1...8") }
            guard indexOf[p.id.rawValue] == nil else { throw TimingError("\(here): listed twice") }
            indexOf[p.id.rawValue] = i
            try ActuatedLimits.check(p)
        }
        var rings: [[Int]] = [[], []]
        for (i, p) in phases.enumerated() { rings[Self.ring(of: p.id)].append(i) }
        guard !rings[0].isEmpty, !rings[1].isEmpty else {
            throw TimingError("a dual ring needs at least one phase in each ring (1-4 and 5-8)")
        }
        self.phases = phases
        self.indexOf = indexOf
        self.ringPhases = rings
        self.conflictMatrix = phases.map { a in phases.map { b in Self.conflict(a.id, b.id) } }
    }

    public func index(of p: PhaseID) -> Int? { (1...8).contains(p.rawValue) ? indexOf[p.rawValue] : nil }

    /// The phases in the stage model's form and their conflict pairs (for the conflict monitor).
    public var monitorPhases: [Phase] { phases.map(\.monitorPhase) }
}

/// Where the turn phase of a ring's half runs relative to its through phase.
public enum LeadLag: String, Hashable, Sendable {
    /// Turn before through (1 before 2, 5 before 6, 3 before 4, 7 before 8): the NEMA default.
    case lead
    /// Turn after through.
    case lag
}

extension DualRing {
    /// The ring sequences (cycle order, group A then group B) for lead/lag choices per ring and
    /// group: `leadLag[ring][group]`. Absent phases are left out.
    public func sequences(leadLag: [[LeadLag]] = [[.lead, .lead], [.lead, .lead]]) -> [[PhaseID]] {
        (0..<2).map { r in
            (0..<2).flatMap { g -> [PhaseID] in
                let turn = PhaseID(r * 4 + g * 2 + 1)
                let through = PhaseID(r * 4 + g * 2 + 2)
                let order = leadLag[r][g] == .lead ? [turn, through] : [through, turn]
                return order.filter { index(of: $0) != nil }
            }
        }
    }

    /// Checks ring sequences against the structure: each ring lists exactly its phases, group A
    /// before group B.
    func validate(sequences: [[PhaseID]]) throws {
        guard sequences.count == 2 else {
            throw TimingError("a dual-ring plan needs two ring sequences, has \(sequences.count)")
        }
        for r in 0..<2 {
            let seq = sequences[r]
            guard Set(seq).count == seq.count, Set(seq) == Set(ringPhases[r].map { phases[$0].id }) else {
                throw TimingError(
                    "ring \(r + 1) sequence \(seq) must list each of its phases \(ringPhases[r].map { phases[$0].id }) once"
                )
            }
            let groups = seq.map { Self.group(of: $0) }
            guard groups == groups.sorted() else {
                throw TimingError(
                    "ring \(r + 1) sequence \(seq): the phases left of the barrier (1, 2, 5, 6) come first")
            }
        }
    }
}

/// Bounds of the actuated model (beside `Limits`, which bounds what it shares with the stage model).
public enum ActuatedLimits {
    public static let passageMsMax: Milliseconds = 10_000
    public static let maxGreenMsMax: Milliseconds = 255_000
    public static let walkMsMin: Milliseconds = 4_000
    public static let walkMsMax: Milliseconds = 60_000
    public static let pedClearanceMsMax: Milliseconds = 120_000
    /// Detectors at one intersection.
    public static let detectorsMax = 64
    /// A detector continuously on for longer than this is stuck (NTCIP `detectorMaxPresence`);
    /// long enough that a vehicle queued on a stop-bar loop through a long red is not a fault.
    public static let maxPresenceMsDefault: Milliseconds = 300_000
    /// The controller's time step (NEMA controllers time in tenths of a second).
    public static let tickMs: Milliseconds = 100

    static func check(_ p: ActuatedPhase) throws {
        let here = "phase \(p.id) (\(p.name))"
        func within(_ v: Milliseconds, _ lo: Milliseconds, _ hi: Milliseconds, _ what: String) throws {
            guard (lo...hi).contains(v) else { throw TimingError("\(here): \(what) \(v) ms outside \(lo)...\(hi)") }
            guard v % tickMs == 0 else {
                throw TimingError("\(here): \(what) \(v) ms is not a multiple of \(tickMs) ms")
            }
        }
        try within(p.minGreenMs, Limits.minGreenMsMin, Limits.minGreenMsMax, "min green")
        try within(p.passageMs, 0, passageMsMax, "passage")
        try within(p.maxGreenMs, p.minGreenMs, maxGreenMsMax, "max green (at least min green)")
        try within(p.yellowMs, Limits.yellowMsMin, Limits.yellowMsMax, "yellow")
        try within(p.redClearanceMs, Limits.redClearanceMsMin, Limits.redClearanceMsMax, "red clearance")
        if let ped = p.ped {
            try within(ped.walkMs, walkMsMin, walkMsMax, "walk")
            try within(ped.clearanceMs, tickMs, pedClearanceMsMax, "pedestrian clearance")
        }
        guard p.flashLamp == .flashingYellow || p.flashLamp == .flashingRed else {
            throw TimingError("\(here): flash lamp must be flashing yellow or flashing red")
        }
    }
}
