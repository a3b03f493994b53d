// A coordinated-actuated dual-ring controller (NEMA TS2 / NTCIP 1202 behaviour) as a pure value type.
//
// `step(_:)` advances the controller by one 100 ms step with that step's local inputs (detectors,
// push buttons, preemption) and returns the hi-res events of the step. Everything is integer ms
// and deterministic: the same configuration, start and inputs give the same lamps and events.
//
// Per ring, one phase at a time: green (min green, then extension while actuations come within
// the passage time, up to max green once a conflicting call waits), yellow, red clearance. The
// rings cross the barrier together: a ring that has finished its side waits in red. A green ends
// only when a conflicting call waits (otherwise it rests), and never before its min green or the
// end of its flashing don't-walk:
// - gap-out (4): the passage timer ran out;
// - max-out (5): the max timer (started by a conflicting call) ran out;
// - force-off (6): coordination ended it at its force-off point (a non-coordinated phase), or at
//   its yield point (a coordinated phase), or a preemption called the arterial.
// Coordination (a plan with a cycle): the coordinated phases are always called and never gap out;
// they yield at their yield point if a conflicting call can still be served in this cycle
// (permissive window), else they rest green. A non-coordinated phase starts only if its minimum
// service fits before its force-off; its walk only if walk + clearance fit as well (otherwise the
// pedestrian waits for the next cycle). So every phase ends inside its window and the coordinated
// green starts at (early return) or before local zero: in step, it is green at every local zero.
// After a plan change, a preemption or the start, the coordinated green runs to the first yield
// point at least its minimum after its start (a dwell of at most one cycle, or a shortened green):
// the controller is back in step at the first local zero its coordinated green spans.

/// A pedestrian signal head.
public enum PedLamp: UInt8, Hashable, Sendable, CustomStringConvertible {
    case dontWalk
    case walk
    case flashingDontWalk
    public var description: String {
        switch self {
        case .dontWalk: return "DW"
        case .walk: return "W"
        case .flashingDontWalk: return "FDW"
        }
    }
}

/// The coordination state, as event 150 reports it.
public enum CoordinationState: Int, Hashable, Sendable {
    case free = 0
    case inStep = 1
    case transition = 4
}

/// What one ring is timing.
public enum RingInterval: Hashable, Sendable {
    case green
    case yellow
    case redClear
    /// Red with no clearance pending: at the barrier waiting for the other ring, or resting.
    case red
}

struct RingState: Hashable, Sendable {
    /// Phase index being timed (nil: red at the barrier).
    var phase: Int?
    /// Phase indices (bits) this ring has served or skipped on this side of the barrier since it
    /// crossed: they wait for the next crossing. Phases, not sequence positions, so that a plan
    /// change with another lead/lag cannot make a ring serve a phase twice in one pass.
    var passedMask: UInt16 = 0
    var interval: RingInterval = .red
    var intervalStartMs: Milliseconds
    var greenStartMs: Milliseconds = 0
    /// The passage timer runs out at this time (extended by actuations).
    var gapEndMs: Milliseconds = 0
    /// When the max timer started (a conflicting call), if it has.
    var maxStartMs: Milliseconds?
    /// The fixed force-off of this green (non-coordinated phase under coordination).
    var forceOffAtMs: Milliseconds?
    var ped: PedLamp = .dontWalk
    var pedStartMs: Milliseconds = 0
    /// A walk was given in this green.
    var walkGiven = false
}

public struct DualRingController: Sendable {
    public let ring: DualRing
    public let detectors: [DetectorConfig]
    public let pedDetectors: [PedDetectorConfig]
    public internal(set) var layouts: [DualRingLayout]
    /// The system reference time of coordination (ms since the epoch).
    public let referenceMs: Milliseconds

    public internal(set) var nowMs: Milliseconds
    public internal(set) var planIndex: Int
    public internal(set) var coordination: CoordinationState
    /// Barrier side being served: 0 (1-2/5-6) or 1 (3-4/7-8).
    public internal(set) var group: Int
    var rings: [RingState]
    /// Latched calls per phase index.
    public internal(set) var vehicleCall: [Bool]
    public internal(set) var pedCall: [Bool]
    var tracks: [DetectorTrack]
    var buttons: [Bool]
    var transitionSinceMs: Milliseconds
    var preemptOnSinceMs: Milliseconds?
    var preemptInDwell = false
    /// A preemption call held longer than the max presence is dropped until the input goes low.
    var preemptDropped = false
    /// No green before the start-up red has run.
    let startupRedEndMs: Milliseconds
    /// This step's presence per phase index (a non-faulted extending detector on).
    var presence: [Bool]
    /// Per phase index: detector channels feeding it.
    let detectorsOf: [[Int]]
    /// Stopping (for flash): every green ends at its first safe point (min green and pedestrian intervals
    /// honoured, force-off 6), full yellow and red clearance, and nothing starts; `allRed` says when done.
    public var stopping = false

    /// - Parameters:
    ///   - plans: the plans it may run (coordinated or free); `plan` is the one it starts with.
    ///   - startMs: the first instant; must lie on the reference's 100 ms grid. The controller
    ///     starts all red (red clearance of the longest phase) before its first green.
    public init(
        ring: DualRing, plans: [DualRingPlan], plan: PlanID, detectors: [DetectorConfig],
        pedDetectors: [PedDetectorConfig] = [], referenceMs: Milliseconds, startMs: Milliseconds
    ) throws {
        guard !plans.isEmpty, let p = plans.firstIndex(where: { $0.id == plan }) else {
            throw TimingError("unknown plan \(plan)")
        }
        guard Set(plans.map(\.id)).count == plans.count else { throw TimingError("duplicate plan names") }
        guard detectors.count + pedDetectors.count <= ActuatedLimits.detectorsMax else {
            throw TimingError("more than \(ActuatedLimits.detectorsMax) detectors")
        }
        guard Set(detectors.map(\.id)).count == detectors.count, Set(pedDetectors.map(\.id)).count == pedDetectors.count
        else {
            throw TimingError("duplicate detector channel numbers")
        }
        for d in detectors {
            guard ring.index(of: d.phase) != nil else {
                throw TimingError("detector \(d.id) calls phase \(d.phase), which does not exist")
            }
            guard d.maxPresenceMs > 0 else { throw TimingError("detector \(d.id): max presence must be positive") }
        }
        for d in pedDetectors {
            guard let i = ring.index(of: d.phase), ring.phases[i].ped != nil else {
                throw TimingError("push button \(d.id) calls phase \(d.phase), which has no pedestrian intervals")
            }
        }
        guard floorMod(startMs - referenceMs, ActuatedLimits.tickMs) == 0 else {
            throw TimingError("start \(startMs) ms is not on the reference's \(ActuatedLimits.tickMs) ms grid")
        }
        self.ring = ring
        self.layouts = try plans.map { try DualRingLayout(plan: $0, ring: ring) }
        self.detectors = detectors
        self.pedDetectors = pedDetectors
        self.referenceMs = referenceMs
        nowMs = startMs
        planIndex = p
        group = 1
        startupRedEndMs = startMs + ring.phases.map(\.redClearanceMs).max()!
        rings = (0..<2).map { _ in RingState(phase: nil, interval: .red, intervalStartMs: startMs) }
        let n = ring.phases.count
        vehicleCall = Array(repeating: false, count: n)
        pedCall = Array(repeating: false, count: n)
        tracks = Array(repeating: DetectorTrack(), count: detectors.count)
        buttons = Array(repeating: false, count: pedDetectors.count)
        presence = Array(repeating: false, count: n)
        transitionSinceMs = startMs
        coordination = layouts[p].isFree ? .free : .transition
        detectorsOf = (0..<n).map { i in detectors.indices.filter { ring.index(of: detectors[$0].phase) == i } }
    }

    public var layout: DualRingLayout { layouts[planIndex] }
    var coordinated: Bool { !layout.isFree && preemptOnSinceMs == nil }

    // MARK: outputs

    /// One vehicle lamp per phase (in `ring.phases` order).
    public var lamps: [Lamp] {
        var out = Array(repeating: Lamp.red, count: ring.phases.count)
        for r in rings {
            guard let i = r.phase else { continue }
            if r.interval == .green { out[i] = .green } else if r.interval == .yellow { out[i] = .yellow }
        }
        return out
    }

    /// One pedestrian head per phase (`.dontWalk` where the phase has none).
    public var pedLamps: [PedLamp] {
        var out = Array(repeating: PedLamp.dontWalk, count: ring.phases.count)
        for r in rings { if let i = r.phase { out[i] = r.ped } }
        return out
    }

    /// Both rings red with no clearance running: nothing is green, yellow or timing red clearance.
    public var allRed: Bool { rings.allSatisfy { $0.phase == nil && $0.interval == .red } }

    /// The phase each ring is timing and its interval (nil phase: red at the barrier).
    public var ringStatus: [(phase: PhaseID?, interval: RingInterval)] {
        rings.map { r in (r.phase.map { ring.phases[$0].id }, r.interval) }
    }

    /// Whether a failed detector has put phase index i on max recall.
    public func onFaultRecall(_ i: Int) -> Bool { detectorsOf[i].contains { tracks[$0].fault != nil } }

    // MARK: commands

    /// Switches to another plan from the next decision on. Nothing running is cut short: the phase
    /// being timed keeps its force-off and floors; the coordinated green finds the new plan's
    /// yield points (a transition of at most one cycle).
    public mutating func setPlan(_ id: PlanID) throws -> [HiResEvent] {
        guard let p = layouts.firstIndex(where: { $0.plan.id == id }) else { throw TimingError("unknown plan \(id)") }
        guard p != planIndex else { return [] }
        planIndex = p
        transitionSinceMs = nowMs
        var out = [HiResEvent(atMs: nowMs, code: HiResEventCode.patternChange, param: p + 1)]
        setCoordination(layout.isFree ? .free : .transition, &out)
        return out
    }

    /// Replaces the plans (an engineer's edit of a running plan's cycle, offset or splits, replicated):
    /// from the next decision on, like `setPlan`; the plan in force keeps its name. Refused (nothing
    /// changes) when a plan does not lay out on this ring or the plan in force is missing.
    public mutating func updatePlans(_ plans: [DualRingPlan]) throws -> [HiResEvent] {
        let new = try plans.map { try DualRingLayout(plan: $0, ring: ring) }
        guard let p = new.firstIndex(where: { $0.plan.id == layout.plan.id }) else {
            throw TimingError("the new plans have no plan \(layout.plan.id)")
        }
        guard new.map(\.plan) != layouts.map(\.plan) else { return [] }
        layouts = new
        planIndex = p
        transitionSinceMs = nowMs
        var out: [HiResEvent] = []
        if !layout.isFree && coordination == .inStep { setCoordination(.transition, &out) }
        return out
    }

    mutating func setCoordination(_ s: CoordinationState, _ out: inout [HiResEvent]) {
        guard s != coordination else { return }
        coordination = s
        out.append(HiResEvent(atMs: nowMs, code: HiResEventCode.coordState, param: s.rawValue))
    }
}
