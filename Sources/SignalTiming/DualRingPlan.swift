// A dual-ring timing plan (pattern) and its coordination layout.
//
// Reference point (as in the stage model): NEMA TS2, the offset is the start of green of the first
// coordinated phase. Local cycle time 0 ("local zero") of cycle k falls at
// `reference + offset + k·cycle`. The layout lays each ring's splits out in sequence from the
// barrier before group A and shifts them so that the earlier-starting coordinated phase starts at
// local zero. Each phase then has a window [start, start + split) and a **force-off** point
// `start + split − yellow − red clearance`; the coordinated phase's force-off is its **yield
// point**, the earliest moment it may give way.
//
// Force-offs are fixed (not floating): a non-coordinated phase may use time an earlier phase of
// its ring gave up, but never runs past its own force-off, so every phase ends in its window and
// the coordinated phase starts no later than its window start (early return to green when others
// gap out).

/// A timing plan of a dual-ring controller: coordinated (cycle, offset, splits, coordinated phases)
/// or free (every phase actuated, no cycle).
public struct DualRingPlan: Hashable, Sendable {
    public var id: PlanID
    /// Cycle length, ms; 0 for free operation (pattern 254).
    public var cycleMs: Milliseconds
    /// Local zero at `reference + offsetMs + k·cycle`. Invariant: `0 <= offsetMs < cycleMs`.
    public var offsetMs: Milliseconds
    /// Split per phase (green + yellow + red clearance), ms, keyed by NEMA number.
    public var splitsMs: [PhaseID: Milliseconds]
    /// The coordinated phases, one per ring, on the same side of the barrier (usually 2 and 6).
    public var coordinatedPhases: [PhaseID]
    /// Ring sequences in cycle order (group A, then group B): the plan's lead/lag.
    public var sequences: [[PhaseID]]

    public var isFree: Bool { cycleMs == 0 }

    public init(
        id: PlanID, cycleMs: Milliseconds, offsetMs: Milliseconds, splitsMs: [PhaseID: Milliseconds],
        coordinatedPhases: [PhaseID] = [PhaseID(2), PhaseID(6)], sequences: [[PhaseID]]
    ) {
        self.id = id
        self.cycleMs = cycleMs
        self.offsetMs = offsetMs
        self.splitsMs = splitsMs
        self.coordinatedPhases = coordinatedPhases
        self.sequences = sequences
    }

    /// Free operation: every phase actuated, ended by gap-out or max-out, no force-offs.
    public static func free(id: PlanID, sequences: [[PhaseID]]) -> DualRingPlan {
        DualRingPlan(id: id, cycleMs: 0, offsetMs: 0, splitsMs: [:], coordinatedPhases: [], sequences: sequences)
    }
}

/// A plan checked against a dual ring and laid out. Times are relative to local zero.
public struct DualRingLayout: Hashable, Sendable {
    public let plan: DualRingPlan
    /// Ring sequences as phase indices (into `DualRing.phases`).
    public let sequence: [[Int]]
    /// Per phase index: window start (0..<cycle) and force-off, relative to local zero (coordinated
    /// mode only). For a non-coordinated phase the force-off is given in the frame that starts at
    /// its ring's yield point: `yieldMs[r] < forceOffMs[p] <= yieldMs[r] + cycle`.
    public let windowStartMs: [Milliseconds]
    public let forceOffMs: [Milliseconds]
    /// Per ring: the coordinated phase index and its yield point (its force-off), relative to
    /// local zero.
    public let coordinated: [Int]
    public let yieldMs: [Milliseconds]

    public var isFree: Bool { plan.isFree }

    /// Validates `plan` for `ring` and lays it out. Refuses (with a message naming the problem):
    /// bad sequences; for a coordinated plan a cycle outside 30–255 s, an offset outside the cycle,
    /// a missing split or one below min green (or walk + pedestrian clearance) + yellow + all-red,
    /// rings whose splits disagree at the barrier or do not sum to the cycle, coordinated phases not
    /// one per ring on the same side of the barrier.
    public init(plan: DualRingPlan, ring: DualRing) throws {
        let here = "plan \(plan.id)"
        do { try ring.validate(sequences: plan.sequences) } catch let e as TimingError {
            throw TimingError("\(here): \(e.message)")
        }
        self.plan = plan
        sequence = plan.sequences.map { $0.map { ring.index(of: $0)! } }
        let n = ring.phases.count
        if plan.isFree {
            windowStartMs = Array(repeating: 0, count: n)
            forceOffMs = Array(repeating: 0, count: n)
            coordinated = []
            yieldMs = []
            return
        }
        let cycle = plan.cycleMs
        guard (Limits.cycleMsMin...Limits.cycleMsMax).contains(cycle), cycle % ActuatedLimits.tickMs == 0 else {
            throw TimingError(
                "\(here): cycle \(cycle) ms outside \(Limits.cycleMsMin)...\(Limits.cycleMsMax) or not a multiple of 100 ms"
            )
        }
        guard (0..<cycle).contains(plan.offsetMs) else {
            throw TimingError("\(here): offset \(plan.offsetMs) ms outside 0..<\(cycle)")
        }
        let split = try Self.splits(plan, ring: ring, here: here)
        let groupTotal = try Self.groupTotals(sequence, splits: split, ring: ring, cycle: cycle, here: here)
        let coord = try Self.coordinatedPhases(plan, ring: ring)
        // Lay out from the barrier before group A; group B starts at group A's total.
        var layoutStart = [Milliseconds](repeating: 0, count: n)
        for r in 0..<2 {
            var t: Milliseconds = 0
            for (k, i) in sequence[r].enumerated() {
                let g = DualRing.group(of: ring.phases[i].id)
                if k == 0 || DualRing.group(of: ring.phases[sequence[r][k - 1]].id) != g {
                    t = g == 0 ? 0 : (groupTotal[0] ?? 0)
                }
                layoutStart[i] = t
                t += split[i]
            }
        }
        let shift = coord.map { layoutStart[$0] }.min()!
        let start = layoutStart.map { floorMod($0 - shift, cycle) }
        let yields = coord.map { start[$0] + split[$0] - ring.phases[$0].clearanceMs }
        var forceOff = [Milliseconds](repeating: 0, count: n)
        for r in 0..<2 {
            for i in sequence[r] {
                let fo = start[i] + split[i] - ring.phases[i].clearanceMs
                forceOff[i] = i == coord[r] ? fo : yields[r] + floorMod(fo - yields[r] - 1, cycle) + 1
            }
        }
        windowStartMs = start
        forceOffMs = forceOff
        coordinated = coord
        yieldMs = yields
    }

    /// Each phase's split (in the ring's phase order): given for every phase, none below its minimum, and
    /// none for a phase the intersection does not have.
    private static func splits(_ plan: DualRingPlan, ring: DualRing, here: String) throws -> [Milliseconds] {
        let n = ring.phases.count
        var split = [Milliseconds](repeating: 0, count: n)
        for (i, p) in ring.phases.enumerated() {
            guard let s = plan.splitsMs[p.id] else { throw TimingError("\(here): no split for phase \(p.id)") }
            guard s >= p.minSplitMs else {
                throw TimingError(
                    "\(here): phase \(p.id) split \(s) ms below min green/pedestrian service + yellow + all-red = \(p.minSplitMs) ms"
                )
            }
            split[i] = s
        }
        guard Set(plan.splitsMs.keys).isSubset(of: Set(ring.phases.map(\.id))) else {
            throw TimingError("\(here): splits name phases the intersection does not have")
        }
        return split
    }

    /// Per barrier group, the splits' total, which both rings must agree on; the two totals fill the cycle.
    private static func groupTotals(
        _ sequence: [[Int]], splits split: [Milliseconds], ring: DualRing, cycle: Milliseconds, here: String
    ) throws -> [Milliseconds?] {
        // Group totals per ring; rings with phases in a group must agree there (the barrier).
        var groupTotal: [Milliseconds?] = [nil, nil]
        for r in 0..<2 {
            for g in 0..<2 {
                let phasesHere = sequence[r].filter { DualRing.group(of: ring.phases[$0].id) == g }
                guard !phasesHere.isEmpty else { continue }
                let total = phasesHere.reduce(0) { $0 + split[$1] }
                if let t = groupTotal[g], t != total {
                    throw TimingError(
                        "\(here): the rings' splits disagree at the barrier: group \(g == 0 ? "1-2/5-6" : "3-4/7-8") is \(t) ms in ring 1 and \(total) ms in ring 2"
                    )
                }
                groupTotal[g] = total
            }
        }
        guard (groupTotal[0] ?? 0) + (groupTotal[1] ?? 0) == cycle else {
            throw TimingError(
                "\(here): splits sum to \((groupTotal[0] ?? 0) + (groupTotal[1] ?? 0)) ms per ring, cycle is \(cycle) ms"
            )
        }
        return groupTotal
    }

    private static func coordinatedPhases(_ plan: DualRingPlan, ring: DualRing) throws -> [Int] {
        let here = "plan \(plan.id)"
        guard plan.coordinatedPhases.count == 2 else {
            throw TimingError("\(here): needs one coordinated phase per ring")
        }
        var idx: [Int] = []
        for r in 0..<2 {
            guard let p = plan.coordinatedPhases.first(where: { DualRing.ring(of: $0) == r }), let i = ring.index(of: p)
            else {
                throw TimingError("\(here): no coordinated phase in ring \(r + 1) among \(plan.coordinatedPhases)")
            }
            idx.append(i)
        }
        guard DualRing.group(of: ring.phases[idx[0]].id) == DualRing.group(of: ring.phases[idx[1]].id) else {
            throw TimingError("\(here): the coordinated phases must be on the same side of the barrier")
        }
        return idx
    }

    /// Local zero of the cycle whose yield point (of ring r) is the latest at or before t: the
    /// cycle a non-coordinated phase started at t belongs to.
    func cycleZero(ring r: Int, at t: Milliseconds, referenceMs: Milliseconds) -> Milliseconds {
        let base = referenceMs + plan.offsetMs
        return base + floorDiv(t - base - yieldMs[r], plan.cycleMs) * plan.cycleMs
    }

    /// The first yield point of ring r at or after t.
    func nextYield(ring r: Int, atOrAfter t: Milliseconds, referenceMs: Milliseconds) -> Milliseconds {
        let base = referenceMs + plan.offsetMs + yieldMs[r]
        return base - floorDiv(base - t, plan.cycleMs) * plan.cycleMs
    }

    /// The first local zero at or after t.
    func nextZero(atOrAfter t: Milliseconds, referenceMs: Milliseconds) -> Milliseconds {
        let base = referenceMs + plan.offsetMs
        return base - floorDiv(base - t, plan.cycleMs) * plan.cycleMs
    }
}
