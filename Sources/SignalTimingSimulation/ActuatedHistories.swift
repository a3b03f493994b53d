import RaftCore
import SignalTiming

// Seeded random histories of one coordinated-actuated dual-ring controller: a random junction
// (which of the eight phases exist, their timings, recalls, dual entry, pedestrians), random
// coordinated plans (splits, offsets, lead/lag) and a free plan, and random local inputs —
// vehicle actuations per detector (some approaches with none), push buttons, stuck, absent, open
// and shorted detectors, preemption calls (some longer than the max presence) and plan changes at
// random moments. Every lamp change goes through a conflict monitor that knows the dual ring and
// the pedestrian heads; the event log is checked for what the monitor cannot see.
// Used by `ActuatedPropertyTests` (a `tools/` runner for more histories is not written yet).

public struct ActuatedHistoryResult: Sendable {
    public var seed: UInt64
    public var monitorFaults: [ConflictMonitor.Fault] = []
    /// Broken rules the monitor cannot see (termination codes, coordination, fault recall).
    public var violations: [String] = []
    public var steps = 0
    public var lampChanges = 0
    /// Events by code.
    public var counts: [Int: Int] = [:]
    /// Local zeros passed in step, and those where the coordinated phase was green.
    public var zerosInStep = 0
    public var planChanges = 0
    /// FNV-1a over the event log: equal for equal histories (the determinism check).
    public var digest: UInt64 = 0xcbf2_9ce4_8422_2325
    public var ok: Bool { monitorFaults.isEmpty && violations.isEmpty }

    public init(seed: UInt64) { self.seed = seed }
}

public enum ActuatedHistories {
    public static let referenceMs: Milliseconds = 1_764_000_000_000

    /// Runs the history of `seed` for `durationMs` of controller time.
    public static func run(seed: UInt64, durationMs: Milliseconds = 900_000) throws -> ActuatedHistoryResult {
        var rng = SplitMix64(seed: seed)
        let ring = try randomRing(&rng)
        var plans: [DualRingPlan] = []
        for name in ["a", "b"] {
            if let p = randomPlan(&rng, ring: ring, id: name) { plans.append(p) }
        }
        plans.append(.free(id: PlanID("free"), sequences: ring.sequences()))
        let detectors = randomDetectors(&rng, ring: ring)
        let buttons = ring.phases.filter { $0.ped != nil }.enumerated().map {
            PedDetectorConfig(id: 40 + $0.offset, phase: $0.element.id)
        }
        let start = referenceMs + ActuatedLimits.tickMs * rng.int(Int64(0)...10_000)
        let first = rng.chance(85) ? plans[0].id : rng.pick(plans).id
        var c = try DualRingController(
            ring: ring, plans: plans, plan: first, detectors: detectors, pedDetectors: buttons,
            referenceMs: referenceMs, startMs: start)
        var inputs = RandomInputs(
            &rng, detectors: detectors.count, buttons: buttons.count, startMs: start, durationMs: durationMs)
        var planChangeAt = (0..<rng.int(0...3)).map { _ in
            start + ActuatedLimits.tickMs * rng.int(Int64(1)...durationMs / 100)
        }.sorted()
        var result = ActuatedHistoryResult(seed: seed)
        var check = LogCheck(ring: ring, detectors: detectors)
        var monitor = ConflictMonitor(dualRing: ring)
        var lamps = c.lamps
        var peds = c.pedLamps
        monitor.observe(atMs: c.nowMs, lamps: lamps, peds: peds)
        while c.nowMs < start + durationMs {
            var events: [HiResEvent] = []
            if let at = planChangeAt.first, at <= c.nowMs {
                planChangeAt.removeFirst()
                events += try c.setPlan(rng.pick(plans).id)
                result.planChanges += 1
            }
            events += c.step(inputs.next(&rng, at: c.nowMs + ActuatedLimits.tickMs))
            result.steps += 1
            let l = c.lamps
            let p = c.pedLamps
            if l != lamps || p != peds {
                monitor.observe(atMs: c.nowMs, lamps: l, peds: p)
                lamps = l
                peds = p
                result.lampChanges += 1
            }
            check.take(events, controller: c, into: &result)
        }
        result.monitorFaults = monitor.faults
        return result
    }

    static func randomRing(_ rng: inout SplitMix64) throws -> DualRing {
        var numbers = [2, 4, 6]
        if rng.chance(85) { numbers.append(8) }
        for n in [1, 5] where rng.chance(60) { numbers.append(n) }
        if rng.chance(40) { numbers.append(3) }
        if numbers.contains(8), rng.chance(40) { numbers.append(7) }
        func s(_ r: ClosedRange<Int64>) -> Milliseconds { rng.int(r) * 100 }
        let phases = numbers.map { n -> ActuatedPhase in
            let minGreen = s(40...120)
            var p = ActuatedPhase(
                id: PhaseID(n), name: "p\(n)", minGreenMs: minGreen, passageMs: s(0...50),
                maxGreenMs: minGreen + s(50...400), yellowMs: s(30...50), redClearanceMs: s(10...30))
            let roll = rng.int(0...99)
            p.recall = roll < 80 ? .none : roll < 86 ? .minimum : roll < 90 ? .maximum : roll < 95 ? .soft : .pedestrian
            p.dualEntry = rng.chance(n % 2 == 0 ? 80 : 10)
            if n % 2 == 0, rng.chance(70) { p.ped = PedTiming(walkMs: s(40...100), clearanceMs: s(50...250)) }
            if p.recall == .pedestrian && p.ped == nil { p.recall = .none }
            return p
        }
        return try DualRing(phases: phases)
    }

    /// A coordinated plan with random splits (each at least its phase's minimum), the barrier
    /// honoured, random lead/lag and offset; nil if the cycle would exceed 255 s.
    static func randomPlan(_ rng: inout SplitMix64, ring: DualRing, id: String) -> DualRingPlan? {
        let leadLag: [[LeadLag]] = (0..<2).map { _ in (0..<2).map { _ in rng.chance(50) ? .lead : .lag } }
        let sequences = ring.sequences(leadLag: leadLag)
        var split: [PhaseID: Milliseconds] = [:]
        for p in ring.phases { split[p.id] = p.minSplitMs + 100 * rng.int(Int64(0)...150) }
        var total: Milliseconds = 0
        for g in 0..<2 {
            let parts = sequences.map { $0.filter { DualRing.group(of: $0) == g } }
            let sums = parts.map { $0.reduce(0) { $0 + split[$1]! } }
            let t = sums.max()!
            for r in 0..<2 where !parts[r].isEmpty {
                let pad = parts[r].first { $0.rawValue % 2 == 0 } ?? parts[r][0]
                split[pad]! += t - sums[r]
            }
            total += t
        }
        if total < Limits.cycleMsMin {
            for p in [PhaseID(2), PhaseID(6)] { split[p]! += Limits.cycleMsMin - total }
            total = Limits.cycleMsMin
        }
        guard total <= Limits.cycleMsMax else { return nil }
        return DualRingPlan(
            id: PlanID(id), cycleMs: total, offsetMs: 100 * rng.int(Int64(0)...(total / 100 - 1)),
            splitsMs: split, sequences: sequences)
    }

    static func randomDetectors(_ rng: inout SplitMix64, ring: DualRing) -> [DetectorConfig] {
        var out: [DetectorConfig] = []
        for p in ring.phases {
            let maxPresence = rng.chance(50) ? ActuatedLimits.maxPresenceMsDefault : 100 * rng.int(Int64(150)...1_200)
            out.append(DetectorConfig(id: p.id.rawValue, phase: p.id, maxPresenceMs: maxPresence))
            if rng.chance(30) {
                out.append(DetectorConfig(id: 8 + p.id.rawValue, phase: p.id, calls: false, extends: true))
            }
        }
        return out
    }
}

/// The local inputs of a history: per detector a random arrival rate (zero on some approaches)
/// and occupancy, some detectors stuck or failed for a while, push buttons, preemption windows.
struct RandomInputs {
    var ratePerMille: [Int]
    var occupiedUntil: [Milliseconds]
    /// Per detector: a fault reading over an interval, if any.
    var fault: [(reading: DetectorReading, fromMs: Milliseconds, toMs: Milliseconds)?]
    var pedPerMille: [Int]
    var preempt: [(fromMs: Milliseconds, toMs: Milliseconds)]

    init(_ rng: inout SplitMix64, detectors: Int, buttons: Int, startMs: Milliseconds, durationMs: Milliseconds) {
        func instant() -> Milliseconds { startMs + 100 * rng.int(Int64(0)...durationMs / 100) }
        ratePerMille = (0..<detectors).map { _ in rng.chance(25) ? 0 : rng.int(1...50) }
        occupiedUntil = Array(repeating: 0, count: detectors)
        fault = (0..<detectors).map { _ in
            guard rng.chance(10) else { return nil }
            let from = instant()
            return (rng.pick([.on, .absent, .openLoop, .shortedLoop]), from, from + 100 * rng.int(Int64(10)...6_000))
        }
        pedPerMille = (0..<buttons).map { _ in rng.chance(20) ? 0 : rng.int(1...8) }
        preempt = (0..<(rng.chance(20) ? rng.int(1...2) : 0)).map { _ in
            let from = instant()
            return (from, from + 100 * rng.int(Int64(50)...2_000))
        }
    }

    mutating func next(_ rng: inout SplitMix64, at t: Milliseconds) -> ControllerInputs {
        var readings: [DetectorReading] = []
        for k in ratePerMille.indices {
            if let f = fault[k], f.fromMs <= t, t < f.toMs {
                readings.append(f.reading)
                continue
            }
            if occupiedUntil[k] <= t, rng.int(0...999) < ratePerMille[k] {
                occupiedUntil[k] = t + 100 * rng.int(Int64(1)...20)
            }
            readings.append(occupiedUntil[k] > t ? .on : .off)
        }
        let peds = pedPerMille.map { rng.int(0...999) < $0 }
        return ControllerInputs(
            detectors: readings, pedButtons: peds, preempt: preempt.contains { $0.fromMs <= t && t < $0.toMs })
    }
}

/// Checks of the event log: every end of green has exactly one reason (4, 5 or 6) at the yellow's
/// instant; a phase whose detector has failed never gaps out; coordination leaves "in step" only at
/// a plan change or a preemption; in step, the earlier coordinated phase is green at every local
/// zero.
struct LogCheck {
    let ring: DualRing
    let detectors: [DetectorConfig]
    var faulted: Set<Int> = []

    init(ring: DualRing, detectors: [DetectorConfig]) {
        self.ring = ring
        self.detectors = detectors
    }

    mutating func take(_ events: [HiResEvent], controller c: DualRingController, into r: inout ActuatedHistoryResult) {
        var reasons: [Int: [Int]] = [:]
        let excused = events.contains {
            [HiResEventCode.patternChange, HiResEventCode.preemptEntryStarted, HiResEventCode.preemptBeginExit]
                .contains($0.code)
        }
        for e in events {
            r.counts[e.code, default: 0] += 1
            for v in [UInt64(bitPattern: e.atMs), UInt64(e.code), UInt64(e.param)] {
                r.digest = (r.digest ^ v) &* 0x100_0000_01b3
            }
            switch e.code {
            case HiResEventCode.phaseGapOut, HiResEventCode.phaseMaxOut, HiResEventCode.phaseForceOff:
                reasons[e.param, default: []].append(e.code)
                if e.code == HiResEventCode.phaseGapOut, faultedPhases.contains(e.param) {
                    r.violations.append(
                        "at \(e.atMs): phase \(e.param) gapped out although a detector of it has failed")
                }
            case HiResEventCode.phaseBeginYellow:
                if reasons[e.param]?.count != 1 {
                    r.violations.append("at \(e.atMs): phase \(e.param) yellow with reasons \(reasons[e.param] ?? [])")
                }
            case HiResEventCode.detectorFaultOther...HiResEventCode.detectorFaultExcessiveChange:
                faulted.insert(e.param)
            case HiResEventCode.detectorRestored:
                faulted.remove(e.param)
            case HiResEventCode.coordState where e.param == CoordinationState.transition.rawValue && !excused:
                r.violations.append("at \(e.atMs): fell out of step without a plan change or a preemption")
            default:
                break
            }
        }
        checkLocalZero(c, &r)
    }

    var faultedPhases: Set<Int> { Set(detectors.filter { faulted.contains($0.id) }.map(\.phase.rawValue)) }

    func checkLocalZero(_ c: DualRingController, _ r: inout ActuatedHistoryResult) {
        let lay = c.layout
        guard !lay.isFree, c.coordination == .inStep else { return }
        let t = c.nowMs
        guard floorMod(t - c.referenceMs - lay.plan.offsetMs, lay.plan.cycleMs) == 0 else { return }
        r.zerosInStep += 1
        let first =
            lay.windowStartMs[lay.coordinated[0]] <= lay.windowStartMs[lay.coordinated[1]]
            ? lay.coordinated[0] : lay.coordinated[1]
        if c.lamps[first] != .green {
            r.violations.append(
                "at \(t): in step but coordinated phase \(ring.phases[first].id) is \(c.lamps[first]) at local zero")
        }
    }
}

func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
    let r = a % b
    return r < 0 ? r + b : r
}
