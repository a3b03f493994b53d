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
    public init() {}
}

public struct RunResult: Sendable, Codable, Equatable {
    public var increasing = TripGroup()
    public var decreasing = TripGroup()
    public var side = TripGroup()
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

public enum OfflineRun {
    /// Runs one scenario with `timing` (the corridor whose plans drive the lights — the scenario's
    /// own, or one with random offsets) in `plan`, and summarises the trips.
    public static func run(
        scenario: Scenario, timing: Corridor, plan: PlanID, referenceEpochMs: Milliseconds,
        sumo: SumoInstallation, options: RunOptions = RunOptions(), logger: Logger? = nil
    ) throws -> RunResult {
        let started = Date()
        let dir = scenario.directory
        let tag = "\(plan.rawValue)-\(options.seed)-\(UInt32.random(in: 0...UInt32.max))"
        let tripFile = "\(dir)/trips-\(tag).xml"
        let statsFile = "\(dir)/stats-\(tag).xml"
        // The simulation starts at a whole multiple of every cycle after the reference, so that
        // simulated second 0 is a reference instant (any instant would do: steady coordination).
        let startMs = referenceEpochMs
        let timeline = try CorridorTimeline(
            corridor: timing, referenceEpochMs: referenceEpochMs,
            baseline: Baseline(atMs: startMs, plan: plan), events: [])
        var lamps = TimelineLamps(timeline: timeline, programs: scenario.programs(), startMs: startMs)

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
            ], logPath: "\(dir)/sumo-\(tag).log")
        defer { if process.isRunning { process.terminate() } }
        let traci = try TraCIConnection(port: port)
        let version = try traci.version()
        logger?.info("connected", metadata: ["sumo": "\(version.identifier)", "api": "\(version.apiVersion)"])

        let demandEnd = Double(scenario.options.demandSeconds)
        var step = 0
        var t = 0.0
        while true {
            let changes = lamps.changes(at: startMs + Int64(step) * options.stepMs)
            step += 1
            t = Double(step) * stepSeconds
            try traci.step(to: t, states: changes)
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
        var sums: [String: (n: Int, tt: Double, stops: Double, wait: Double, loss: Double)] = [:]
        var unfinished = 0
        for line in tripInfo.split(separator: "\n") where line.contains("<tripinfo ") {
            let a = xmlAttributes(line)
            guard let id = a["id"], let depart = a["depart"].flatMap(Double.init) else { continue }
            guard depart >= warmupSeconds, depart < demandSeconds else { continue }
            let group: String
            if id.hasPrefix("inc.") {
                group = "inc"
            } else if id.hasPrefix("dec.") {
                group = "dec"
            } else if id.hasPrefix("side_") {
                group = "side"
            } else {
                continue
            }
            if (a["arrival"].flatMap(Double.init) ?? -1) < 0 { unfinished += 1 }
            var s = sums[group] ?? (0, 0, 0, 0, 0)
            s.n += 1
            s.tt += Double(a["duration"] ?? "") ?? 0
            s.stops += Double(a["waitingCount"] ?? "") ?? 0
            s.wait += Double(a["waitingTime"] ?? "") ?? 0
            s.loss += Double(a["timeLoss"] ?? "") ?? 0
            sums[group] = s
        }
        func group(_ k: String) -> TripGroup {
            var g = TripGroup()
            guard let s = sums[k], s.n > 0 else { return g }
            let n = Double(s.n)
            g.trips = s.n
            g.meanTravelTimeS = s.tt / n
            g.meanStops = s.stops / n
            g.meanWaitingTimeS = s.wait / n
            g.meanTimeLossS = s.loss / n
            return g
        }
        var r = RunResult()
        r.increasing = group("inc")
        r.decreasing = group("dec")
        r.side = group("side")
        r.unfinished = unfinished
        return r
    }
}
