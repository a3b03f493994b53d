// Greenwave's coordinated-actuated control in SUMO: one `DualRingController` per signal, fed from
// the signal's induction loops (read over TraCI each SUMO step), its lamps mapped through
// `LightProgram` to SUMO's state strings. docs/sumo.md ("Coordinated-actuated control").
//
// Time: the controllers time in 100 ms steps; SUMO steps `stepMs` (a multiple of 100 ms, 500 ms by
// default, as the fixed-time runs) and each controller is stepped stepMs / 100 times per SUMO step
// with that step's loop readings (a loop reads on if a vehicle was over it at any moment of the
// step). Lamps are sent at the start of the next SUMO step.
import SignalTiming

/// One signal's dual ring and plans, from the corridor (the stage plan's cycle, offset and splits on
/// NEMA phases).
public struct ActuatedTiming: Sendable {
    public var ring: DualRing
    public var plans: [DualRingPlan]
}

public struct ActuatedLights {
    public private(set) var controllers: [DualRingController]
    let programs: [LightProgram]
    /// Per signal, its loops in detector-channel order.
    let loopIDs: [[String]]
    /// Per signal: for each phase of `signal.phases` (the order `LightProgram` expects), its index in
    /// the controller's `ring.phases`.
    let lampIndex: [[Int?]]
    var shown: [String?]
    /// Per signal and ring phase index: greens started.
    public private(set) var greens: [[Int]]
    /// Loop readings that were on (loop-steps), all signals.
    public private(set) var loopOnSteps = 0
    let ticksPerStep: Int
    /// Keep every controller's hi-res events (`events`) — for `greenwave sumo --atspm-out`.
    public var recordEvents = false
    /// Per signal (corridor order): the events its controller logged, in order, when `recordEvents`.
    public private(set) var events: [[HiResEvent]]
    /// Per signal (corridor order): its loops as its controller is configured with them.
    public let detectors: [[DetectorConfig]]

    /// - Parameters:
    ///   - timings: per signal of `scenario.corridor`, in corridor order.
    public init(
        scenario: Scenario, timings: [ActuatedTiming], plan: PlanID, referenceMs: Milliseconds, stepMs: Int64
    ) throws {
        guard stepMs > 0, stepMs % ActuatedLimits.tickMs == 0 else {
            throw SumoError("the SUMO step (\(stepMs) ms) must be a multiple of the controller's 100 ms")
        }
        guard timings.count == scenario.corridor.signals.count else { throw SumoError("one timing per signal") }
        ticksPerStep = Int(stepMs / ActuatedLimits.tickMs)
        programs = scenario.programs()
        var controllers: [DualRingController] = []
        var loopIDs: [[String]] = []
        var lampIndex: [[Int?]] = []
        var configs: [[DetectorConfig]] = []
        for (k, s) in scenario.corridor.signals.enumerated() {
            let loops = scenario.loops[s.id] ?? []
            let detectors = loops.enumerated().map { $0.element.config(channel: $0.offset + 1) }
            let t = timings[k]
            controllers.append(
                try DualRingController(
                    ring: t.ring, plans: t.plans, plan: plan, detectors: detectors, referenceMs: referenceMs,
                    startMs: referenceMs))
            loopIDs.append(loops.map(\.id))
            configs.append(detectors)
            lampIndex.append(s.phases.map { t.ring.index(of: $0.id) })
        }
        self.controllers = controllers
        self.loopIDs = loopIDs
        self.lampIndex = lampIndex
        self.detectors = configs
        events = controllers.map { _ in [] }
        shown = Array(repeating: nil, count: controllers.count)
        greens = controllers.map { Array(repeating: 0, count: $0.ring.phases.count) }
    }

    public var allLoopIDs: [String] { loopIDs.flatMap { $0 } }

    /// Advances every controller by one SUMO step with the step's loop values.
    public mutating func step(loops: [String: LoopValues]) throws {
        for k in controllers.indices {
            let readings = try loopIDs[k].map { id -> DetectorReading in
                guard let v = loops[id] else { throw SumoError("no reading from loop \(id)") }
                return v.occupied ? .on : .off
            }
            loopOnSteps += readings.filter { $0 == .on }.count
            let inputs = ControllerInputs(detectors: readings, pedButtons: [])
            for _ in 0..<ticksPerStep {
                let before = controllers[k].lamps
                let logged = controllers[k].step(inputs)
                if recordEvents { events[k] += logged }
                let after = controllers[k].lamps
                for i in after.indices where after[i] == .green && before[i] != .green { greens[k][i] += 1 }
            }
        }
    }

    /// The state strings that differ from what was last sent. Refuses (throws) lamps with two
    /// conflicting phases green or yellow at once: that would be a controller bug, and SUMO must
    /// never be shown it.
    public mutating func changes() throws -> [(trafficLight: String, state: String)] {
        var out: [(String, String)] = []
        for k in controllers.indices {
            let c = controllers[k]
            let lamps = c.lamps
            for i in lamps.indices where lamps[i] != .red {
                for j in lamps.indices where j > i && lamps[j] != .red && c.ring.conflictMatrix[i][j] {
                    throw SumoError(
                        "signal \(programs[k].signal): conflicting phases \(c.ring.phases[i].id) and \(c.ring.phases[j].id) not red together"
                    )
                }
            }
            let str = programs[k].state(lamps: lampIndex[k].map { $0.map { lamps[$0] } ?? .red })
            if str != shown[k] {
                shown[k] = str
                out.append((programs[k].trafficLight, str))
            }
        }
        return out
    }

    /// Greens started per NEMA phase, all signals together.
    public var greensByPhase: [String: Int] {
        var out: [String: Int] = [:]
        for (k, c) in controllers.enumerated() {
            for (i, p) in c.ring.phases.enumerated() { out["\(p.id.rawValue)", default: 0] += greens[k][i] }
        }
        return out
    }
}

extension ActuatedTiming {
    /// The corridor's signals as dual rings, in corridor order, mapped by `ActuatedCorridor.signal`
    /// (SignalTiming) — the mapping the controllers themselves run, docs/signal-timing.md — with the
    /// documented defaults (`ActuatedSettings(control: .actuated)`: passage 3 s, max green the longest
    /// green any plan gives the phase, dual entry on 2, 4, 6, 8, minimum recall on the coordinated 2 and
    /// 6, which coordination calls anyway; no pedestrians: the SUMO network has none), or the settings of
    /// `settings` for the signals it names. The detectors come from SUMO's loops (`LoopSpec.config`), not
    /// from the settings.
    public static func corridor(
        _ c: Corridor, settings: [SignalID: ActuatedSettings] = [:]
    ) throws -> [ActuatedTiming] {
        try c.signals.indices.map { i in
            var st = settings[c.signals[i].id] ?? ActuatedSettings()
            st.control = .actuated
            do {
                let mapped = try ActuatedCorridor.signal(i, of: c, settings: st)
                return ActuatedTiming(ring: mapped.ring, plans: mapped.plans)
            } catch let e as TimingError { throw SumoError(e.message) }
        }
    }
}
