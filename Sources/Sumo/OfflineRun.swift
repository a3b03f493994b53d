// Offline mode: SUMO as fast as it goes, every traffic light set from SignalTiming each simulated
// step, then the trip output summarised.
import Foundation
import Logging
import SignalTiming

public struct RunOptions: Sendable {
    /// SUMO step length, ms. Lamps are sampled at the start of each step.
    public var stepMs: Int64 = 500
    /// SUMO's random seed (arrivals, driver imperfection).
    public var seed: Int = 1
    /// Trips that depart before this are not counted (the network fills up first).
    public var warmupSeconds = 300
    /// Give up waiting for the last vehicles this long after the demand ends (an end-to-end trip on
    /// the 23.5 km corridor takes about 50 min at 30 km/h).
    public var drainSeconds = 7200
    /// SUMO teleports a vehicle stuck this long (SUMO's default, 300 s); reported.
    public var timeToTeleportSeconds = 300
    public init() {}
}

/// Means over a group of trips.
public struct TripGroup: Sendable, Codable, Equatable {
    public var trips = 0
    public var meanTravelTimeS = 0.0
    public var meanStops = 0.0
    public var meanWaitingTimeS = 0.0
    public var meanTimeLossS = 0.0
    /// 95th percentile of the trips' waiting times (nearest rank).
    public var p95WaitingTimeS = 0.0
    public init() {}
}

public struct RunResult: Sendable, Codable, Equatable {
    public var increasing = TripGroup()
    public var decreasing = TripGroup()
    public var side = TripGroup()
    /// The side streets per approach: from the west (phase 4) and from the east (phase 8).
    public var sideFromWest = TripGroup()
    public var sideFromEast = TripGroup()
    /// Main-road vehicles turning across the oncoming flow (`--main-turn-percent`).
    public var turning = TripGroup()
    /// Actuated control: greens started per NEMA phase (all signals), and loop readings that were on.
    public var greensByPhase: [String: Int] = [:]
    public var loopOnSteps = 0
    /// Vehicles SUMO teleported (stuck longer than time-to-teleport), all groups.
    public var teleports = 0
    /// Counted vehicles that had not arrived when the run stopped (written as unfinished trips).
    public var unfinished = 0
    public var simulatedSeconds = 0.0
    public var wallSeconds = 0.0
    public var traciAPI = 0
    public var sumoVersion = ""
}

/// The lamps of every signal at simulated time t, from a timeline: per signal a cursor, asked only
/// when its next change is due.
struct TimelineLamps {
    let timeline: CorridorTimeline
    let programs: [LightProgram]
    var cursors: [SignalCursor]
    var nextChange: [Milliseconds?]
    var shown: [String?]

    init(timeline: CorridorTimeline, programs: [LightProgram], startMs: Milliseconds) {
        self.timeline = timeline
        self.programs = programs
        cursors = programs.map { timeline.cursor(of: $0.signal, at: startMs) }
        nextChange = Array(repeating: startMs, count: programs.count)
        shown = Array(repeating: nil, count: programs.count)
    }

    /// The state strings that differ from what was last sent, at epoch time `t`.
    mutating func changes(at t: Milliseconds) -> [(trafficLight: String, state: String)] {
        var out: [(String, String)] = []
        for i in programs.indices {
            guard let due = nextChange[i], t >= due else { continue }
            let s = cursors[i].state(at: t)
            nextChange[i] = s.nextChangeMs
            let str = programs[i].state(lamps: s.lamps)
            if str != shown[i] {
                shown[i] = str
                out.append((programs[i].trafficLight, str))
            }
        }
        return out
    }
}

/// How the lights are driven in an offline run.
public enum LightControl {
    /// Fixed time: every light from the timeline of `timing` (the scenario's own corridor, or one
    /// with random offsets) in `plan`.
    case fixed(timing: Corridor, plan: PlanID)
    /// Greenwave's coordinated-actuated controllers, one per signal, fed from the loops.
    case actuated(timings: [ActuatedTiming], plan: PlanID)
    /// SUMO's own programs (the scenario must be built with tlsType "actuated"): nothing is set.
    case sumo
}

public enum OfflineRun {
    /// Runs one scenario with `timing` (the corridor whose plans drive the lights — the scenario's
    /// own, or one with random offsets) in `plan`, and summarises the trips.
    public static func run(
        scenario: Scenario, timing: Corridor, plan: PlanID, referenceEpochMs: Milliseconds,
        sumo: SumoInstallation, options: RunOptions = RunOptions(), logger: Logger? = nil
    ) throws -> RunResult {
        try run(
            scenario: scenario, control: .fixed(timing: timing, plan: plan), referenceEpochMs: referenceEpochMs,
            sumo: sumo, options: options, logger: logger)
    }

    /// Runs one scenario under `control` and summarises the trips. Simulated second 0 is
    /// `referenceEpochMs`.
    public static func run(
        scenario: Scenario, control: LightControl, referenceEpochMs: Milliseconds,
        sumo: SumoInstallation, options: RunOptions = RunOptions(), logger: Logger? = nil
    ) throws -> RunResult {
        let startMs = referenceEpochMs
        switch control {
        case .fixed(let timing, let plan):
            let timeline = try CorridorTimeline(
                corridor: timing, referenceEpochMs: referenceEpochMs,
                baseline: Baseline(atMs: startMs, plan: plan), events: [])
            var lamps = TimelineLamps(timeline: timeline, programs: scenario.programs(), startMs: startMs)
            return try drive(scenario: scenario, tag: plan.rawValue, sumo: sumo, options: options, logger: logger) {
                step, _ in lamps.changes(at: startMs + Int64(step) * options.stepMs)
            }
        case .actuated(let timings, let plan):
            return try runActuated(
                scenario: scenario, timings: timings, plan: plan, referenceEpochMs: referenceEpochMs, sumo: sumo,
                options: options, logger: logger
            ).0
        case .sumo:
            guard scenario.tlsType == "actuated" else {
                throw SumoError("SUMO's own control needs an actuated network")
            }
            return try drive(scenario: scenario, tag: "sumo-act", sumo: sumo, options: options, logger: logger) {
                _, _ in []
            }
        }
    }

    /// Starts SUMO on the scenario, and each step sends what `lights(step, loops)` returns (the
    /// state strings to change before step `step`, given the loop values of the step before) and
    /// steps; after the demand runs on until every vehicle has arrived, then summarises the trips.
    static func drive(
        scenario: Scenario, tag name: String, sumo: SumoInstallation, options: RunOptions, loops: [String] = [],
        probe: GroundTruthProbe? = nil, logger: Logger?,
        lights: (Int, [String: LoopValues]) throws -> [(trafficLight: String, state: String)]
    ) throws -> RunResult {
        let started = Date()
        let dir = scenario.directory
        let tag = "\(name)-\(options.seed)-\(UInt32.random(in: 0...UInt32.max))"
        let tripFile = "\(dir)/trips-\(tag).xml"
        let statsFile = "\(dir)/stats-\(tag).xml"
        let port = try freeLoopbackPort()
        let stepSeconds = Double(options.stepMs) / 1000
        let process = try sumo.start(
            [
                "--net-file", scenario.netFile, "--route-files", scenario.routesFile,
                "--remote-port", "\(port)", "--seed", "\(options.seed)",
                "--step-length", String(format: "%.3f", stepSeconds),
                "--time-to-teleport", "\(options.timeToTeleportSeconds)",
                "--tripinfo-output", tripFile, "--tripinfo-output.write-unfinished", "true",
                "--statistic-output", statsFile,
                "--no-step-log", "true", "--no-warnings", "true"
            ]
                + (loops.isEmpty
                    ? []
                    : [
                        "--additional-files",
                        ([scenario.loopsFile] + (probe.map { [$0.additionalFile] } ?? [])).joined(separator: ",")
                    ]),
            logPath: "\(dir)/sumo-\(tag).log")
        defer { if process.isRunning { process.terminate() } }
        let traci = try TraCIConnection(port: port)
        let version = try traci.version()
        logger?.info("connected", metadata: ["sumo": "\(version.identifier)", "api": "\(version.apiVersion)"])
        if !loops.isEmpty { try traci.subscribeLoops(loops) }

        let demandEnd = Double(scenario.options.demandSeconds)
        var step = 0
        var t = 0.0
        var values: [String: LoopValues] = [:]
        while true {
            let changes = try lights(step, values)
            step += 1
            t = Double(step) * stepSeconds
            if loops.isEmpty {
                try traci.step(to: t, states: changes)
            } else {
                values = try traci.stepReadingLoops(to: t, states: changes)
            }
            try probe?.afterStep(stepStartS: t - stepSeconds, traci: traci)
            // After the demand: stop once everyone has arrived (checked each simulated minute).
            if t >= demandEnd, step % Int(60_000 / options.stepMs) == 0 {
                if try traci.minExpectedNumber() == 0 { break }
                if t >= demandEnd + Double(options.drainSeconds) { break }
            }
        }
        try traci.closeSimulation()
        process.waitUntilExit()
        var result = try summarise(
            tripInfo: String(contentsOfFile: tripFile, encoding: .utf8), warmupSeconds: Double(options.warmupSeconds),
            demandSeconds: demandEnd)
        let stats = (try? String(contentsOfFile: statsFile, encoding: .utf8)) ?? ""
        if let line = stats.split(separator: "\n").first(where: { $0.contains("<teleports ") }) {
            result.teleports = Int(xmlAttributes(line)["total"] ?? "") ?? 0
        }
        result.simulatedSeconds = t
        result.wallSeconds = Date().timeIntervalSince(started)
        result.traciAPI = version.apiVersion
        result.sumoVersion = version.identifier
        try? FileManager.default.removeItem(atPath: tripFile)
        return result
    }

    /// Means per group over the trips that departed in [warmup, demand end). Vehicle ids: "inc.N",
    /// "dec.N", "side_…". Stops are SUMO's waitingCount (times the vehicle came to a halt, speed
    /// < 0.1 m/s); waiting time is time spent halted.
    public static func summarise(tripInfo: String, warmupSeconds: Double, demandSeconds: Double) throws -> RunResult {
        var trips: [String: [(tt: Double, stops: Double, wait: Double, loss: Double)]] = [:]
        var unfinished = 0
        for line in tripInfo.split(separator: "\n") where line.contains("<tripinfo ") {
            let a = xmlAttributes(line)
            guard let id = a["id"], let depart = a["depart"].flatMap(Double.init) else { continue }
            guard depart >= warmupSeconds, depart < demandSeconds else { continue }
            let groups: [String]
            if id.hasPrefix("inc.") {
                groups = ["inc"]
            } else if id.hasPrefix("dec.") {
                groups = ["dec"]
            } else if id.hasPrefix("side_w") {
                groups = ["side", "west"]
            } else if id.hasPrefix("side_e") {
                groups = ["side", "east"]
            } else if id.hasPrefix("turn_") {
                groups = ["turn"]
            } else {
                continue
            }
            if (a["arrival"].flatMap(Double.init) ?? -1) < 0 { unfinished += 1 }
            let trip = (
                tt: Double(a["duration"] ?? "") ?? 0, stops: Double(a["waitingCount"] ?? "") ?? 0,
                wait: Double(a["waitingTime"] ?? "") ?? 0, loss: Double(a["timeLoss"] ?? "") ?? 0
            )
            for g in groups { trips[g, default: []].append(trip) }
        }
        func group(_ k: String) -> TripGroup {
            var g = TripGroup()
            guard let t = trips[k], !t.isEmpty else { return g }
            let n = Double(t.count)
            g.trips = t.count
            g.meanTravelTimeS = t.reduce(0) { $0 + $1.tt } / n
            g.meanStops = t.reduce(0) { $0 + $1.stops } / n
            g.meanWaitingTimeS = t.reduce(0) { $0 + $1.wait } / n
            g.meanTimeLossS = t.reduce(0) { $0 + $1.loss } / n
            let waits = t.map(\.wait).sorted()
            g.p95WaitingTimeS = waits[max(0, Int((0.95 * n).rounded(.up)) - 1)]
            return g
        }
        var r = RunResult()
        r.increasing = group("inc")
        r.decreasing = group("dec")
        r.side = group("side")
        r.sideFromWest = group("west")
        r.sideFromEast = group("east")
        r.turning = group("turn")
        r.unfinished = unfinished
        return r
    }
}
