import CorridorFile
import Foundation
import SignalTiming
import XCTest

@testable import Sumo

/// Runs real SUMO (tools/sumo/setup installs it; .ci/run does). Skipped only when SUMO is not installed.
final class SumoIntegrationTests: XCTestCase {
    func installation() throws -> SumoInstallation {
        guard let s = SumoInstallation.locate() else {
            throw XCTSkip(
                "SUMO is not installed: run tools/sumo/setup (tools/sumo/.venv) or install the Debian package sumo")
        }
        return s
    }

    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "greenwave-sumo-test-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    /// netconvert's links, read back: every light has the same 16 links — per main approach a
    /// nearside left, three throughs (one per lane) and a right; per side approach left, through, right.
    func testNetworkHasTheExpectedLinksAtEverySignal() throws {
        let sumo = try installation()
        let doc = try CorridorFile.load(path: corridorPath("demo-5.yaml"))
        let scenario = try Scenario.build(corridor: doc.corridor, directory: tempDir(), sumo: sumo)
        XCTAssertEqual(scenario.linkMap.links.count, 5)
        for (tl, links) in scenario.linkMap.links {
            XCTAssertEqual(links.count, 16, tl)
            for a in [Approach.mainIncreasing, .mainDecreasing] {
                let turns = links.filter { $0.approach == a }.map(\.turn)
                XCTAssertEqual(turns.filter { $0 == .straight }.count, 3, "\(tl) \(a)")
                XCTAssertEqual(turns.filter { $0 == .left }.count, 1, "\(tl) \(a)")
                XCTAssertEqual(turns.filter { $0 == .right }.count, 1, "\(tl) \(a)")
            }
            for a in [Approach.sideFromWest, .sideFromEast] {
                XCTAssertEqual(
                    Set(links.filter { $0.approach == a }.map(\.turn)), [.left, .straight, .right], "\(tl) \(a)")
            }
        }
    }

    /// Drives three signals for a few simulated minutes over TraCI and checks, every 5 s, that SUMO
    /// shows exactly the state derived from SignalTiming; then a short offline run yields trips.
    func testShortScenarioFollowsSignalTiming() throws {
        let sumo = try installation()
        let doc = try CorridorFile.load(path: corridorPath("demo-5.yaml"))
        let c = try doc.corridor.section(from: SignalID(1), through: SignalID(3))
        var net = NetworkOptions()
        net.demandSeconds = 240
        let scenario = try Scenario.build(corridor: c, options: net, directory: tempDir(), sumo: sumo)
        let timeline = try CorridorTimeline(
            corridor: c, referenceEpochMs: doc.referenceEpochMs,
            baseline: Baseline(atMs: doc.referenceEpochMs, plan: PlanID("normal")), events: [])
        let programs = scenario.programs()
        var lamps = TimelineLamps(timeline: timeline, programs: programs, startMs: doc.referenceEpochMs)
        let port = try freeLoopbackPort()
        let process = try sumo.start(
            [
                "--net-file", scenario.netFile, "--route-files", scenario.routesFile, "--remote-port", "\(port)",
                "--step-length", "0.5", "--no-step-log", "true", "--no-warnings", "true"
            ],
            logPath: scenario.directory + "/sumo.log")
        defer { if process.isRunning { process.terminate() } }
        let traci = try TraCIConnection(port: port)
        XCTAssertGreaterThanOrEqual(try traci.version().apiVersion, 20)
        var checks = 0
        var statesSeen = Set<String>()
        for step in 0..<360 { // 3 simulated minutes, two full 90 s cycles
            let t = doc.referenceEpochMs + Int64(step) * 500
            try traci.step(to: Double(step + 1) * 0.5, states: lamps.changes(at: t))
            if step % 10 == 0 {
                for p in programs {
                    let expected = p.state(lamps: timeline.state(of: p.signal, at: t).lamps)
                    XCTAssertEqual(
                        try traci.redYellowGreenState(of: p.trafficLight), expected, "\(p.trafficLight) at step \(step)"
                    )
                    statesSeen.insert(expected)
                    checks += 1
                }
            }
        }
        XCTAssertEqual(checks, 108)
        XCTAssertGreaterThanOrEqual(statesSeen.count, 4, "main, main-turn, side and all-red seen: \(statesSeen)")
        try traci.closeSimulation()
        process.waitUntilExit()

        var options = RunOptions()
        options.warmupSeconds = 0
        let r = try OfflineRun.run(
            scenario: scenario, timing: c, plan: PlanID("normal"), referenceEpochMs: doc.referenceEpochMs,
            sumo: sumo, options: options)
        XCTAssertGreaterThanOrEqual(r.traciAPI, 20)
        XCTAssertGreaterThan(r.increasing.trips, 30) // 1,200 veh/h for 4 minutes ≈ 80
        XCTAssertGreaterThan(r.decreasing.trips, 30)
        XCTAssertGreaterThan(r.side.trips, 20) // 6 approaches × 150 veh/h × 4 min ≈ 60
        XCTAssertEqual(r.unfinished, 0)
        XCTAssertEqual(r.teleports, 0)
        // Free flow over 1,000 m between the first and last signal plus two 300 m lead edges at
        // 50 km/h is ≈ 115 s; signals can only add to it, and some vehicles must have stopped.
        XCTAssertGreaterThan(r.increasing.meanTravelTimeS, 100)
        XCTAssertGreaterThan(r.increasing.meanStops + r.decreasing.meanStops, 0)
        XCTAssertGreaterThan(r.side.meanWaitingTimeS, 0)
    }

    /// The green links' phases of a SUMO state string must be pairwise non-conflicting (NEMA rule).
    func assertNoConflictingGreen(_ state: String, _ program: LightProgram, _ links: [Link], _ what: String) {
        let greens = zip(state, links).compactMap { ch, link -> PhaseID? in
            ch == "G" || ch == "g" ? PhaseAssignment().phase(of: link)?.phase : nil
        }
        for a in greens {
            for b in greens where DualRing.conflict(a, b) {
                XCTFail("\(what): phases \(a) and \(b) green together in \(state)")
                return
            }
        }
    }

    /// Coordinated-actuated control on three signals, driven by hand over TraCI for 4 simulated
    /// minutes: the loops report vehicles, SUMO shows exactly what the controllers' lamps map to,
    /// and no two conflicting phases are ever green in what SUMO shows (checked every step).
    func testActuatedControlReadsLoopsAndNeverShowsConflictingGreens() throws {
        let sumo = try installation()
        let doc = try CorridorFile.load(path: corridorPath("demo-5.yaml"))
        let c = try doc.corridor.section(from: SignalID(1), through: SignalID(3))
        var net = NetworkOptions()
        net.demandSeconds = 240
        net.mainTurnPercent = 10
        let scenario = try Scenario.build(corridor: c, options: net, directory: tempDir(), sumo: sumo)
        XCTAssertEqual(scenario.loops.values.map(\.count), [20, 20, 20], "per signal 8 lanes x 2 + 2 turn lanes x 2")
        var lights = try ActuatedLights(
            scenario: scenario, timings: try ActuatedTiming.corridor(c), plan: PlanID("normal"),
            referenceMs: doc.referenceEpochMs, stepMs: 500)
        let port = try freeLoopbackPort()
        let process = try sumo.start(
            [
                "--net-file", scenario.netFile, "--route-files", scenario.routesFile, "--remote-port", "\(port)",
                "--additional-files", scenario.loopsFile, "--step-length", "0.5", "--no-step-log", "true",
                "--no-warnings", "true"
            ],
            logPath: scenario.directory + "/sumo.log")
        defer { if process.isRunning { process.terminate() } }
        let traci = try TraCIConnection(port: port)
        try traci.subscribeLoops(lights.allLoopIDs)
        let programs = scenario.programs()
        var sent: [String: String] = [:]
        var occupied: [String: Int] = [:]
        for step in 0..<480 {
            let changes = try lights.changes()
            for ch in changes { sent[ch.trafficLight] = ch.state }
            let loops = try traci.stepReadingLoops(to: Double(step + 1) * 0.5, states: changes)
            XCTAssertEqual(loops.count, 60)
            for (id, v) in loops where v.occupied { occupied[id, default: 0] += 1 }
            try lights.step(loops: loops)
            guard step % 4 == 0 else { continue }
            for p in programs {
                let shown = try traci.redYellowGreenState(of: p.trafficLight)
                XCTAssertEqual(shown, sent[p.trafficLight], "\(p.trafficLight) at step \(step)")
                assertNoConflictingGreen(
                    shown, p, scenario.linkMap.links[p.trafficLight]!, "\(p.trafficLight) at step \(step)")
            }
        }
        try traci.closeSimulation()
        process.waitUntilExit()
        // Every main-road through stop-bar loop and the side streets' loops saw cars; the turn loops
        // count only turners, the through loops only through cars.
        for s in c.signals {
            for l in scenario.loops[s.id]! where l.kind == .stopBar {
                XCTAssertGreaterThan(occupied[l.id] ?? 0, 0, "loop \(l.id) never saw a vehicle")
            }
        }
        let greens = lights.greensByPhase
        for p in ["2", "6", "4", "8", "1", "5"] { XCTAssertGreaterThan(greens[p] ?? 0, 0, "phase \(p) never green") }
    }

    /// With no side-street and no turning demand the actuated controllers skip phases 4, 8, 1 and 5
    /// (no call: the arterial rests green); with side-street demand the side phases are served.
    func testActuatedControlSkipsPhasesWithoutDemand() throws {
        let sumo = try installation()
        let doc = try CorridorFile.load(path: corridorPath("demo-5.yaml"))
        let c = try doc.corridor.section(from: SignalID(1), through: SignalID(2))
        var options = RunOptions()
        options.warmupSeconds = 0
        func run(sideVph: Int) throws -> RunResult {
            var net = NetworkOptions()
            net.demandSeconds = 300
            net.sideVehPerHour = sideVph
            let scenario = try Scenario.build(corridor: c, options: net, directory: tempDir(), sumo: sumo)
            return try OfflineRun.run(
                scenario: scenario, control: .actuated(timings: try ActuatedTiming.corridor(c), plan: PlanID("normal")),
                referenceEpochMs: doc.referenceEpochMs, sumo: sumo, options: options)
        }
        let quiet = try run(sideVph: 0)
        XCTAssertGreaterThan(quiet.loopOnSteps, 0, "the main-road loops saw the main-road cars")
        XCTAssertGreaterThan(quiet.increasing.trips, 50)
        for p in ["1", "4", "5", "8"] {
            XCTAssertEqual(quiet.greensByPhase[p] ?? 0, 0, "phase \(p) served without a call")
        }
        XCTAssertEqual(
            quiet.increasing.meanStops + quiet.decreasing.meanStops, 0, accuracy: 0.2, "the arterial rests green")
        let busy = try run(sideVph: 300)
        XCTAssertGreaterThan(busy.greensByPhase["4"] ?? 0, 4)
        XCTAssertGreaterThan(busy.greensByPhase["8"] ?? 0, 4)
        XCTAssertEqual(busy.greensByPhase["1"] ?? 0, 0, "no turning demand: the turn phases are skipped")
        XCTAssertEqual(busy.teleports, 0)
        XCTAssertGreaterThan(busy.sideFromWest.trips, 10)
    }

    /// `--atspm-out` / `--ground-truth-out`: the controllers' events are kept (opened by 184 and 131), and
    /// SUMO's view agrees with them: every green SUMO showed was logged (event 1) by its controller at most
    /// one step before, and the instant loops count about as many arrivals as the controllers' advance loops.
    func testActuatedRunRecordsEventsAndGroundTruth() throws {
        let sumo = try installation()
        let doc = try CorridorFile.load(path: corridorPath("demo-5.yaml"))
        let c = try doc.corridor.section(from: SignalID(1), through: SignalID(2))
        var net = NetworkOptions()
        net.demandSeconds = 300
        net.sideVehPerHour = 300
        let scenario = try Scenario.build(corridor: c, options: net, directory: tempDir(), sumo: sumo)
        var options = RunOptions()
        options.warmupSeconds = 0
        let (_, record) = try OfflineRun.runActuated(
            scenario: scenario, timings: try ActuatedTiming.corridor(c), plan: PlanID("normal"),
            referenceEpochMs: doc.referenceEpochMs, sumo: sumo, options: options, recordEvents: true,
            groundTruth: true)
        let gt = try XCTUnwrap(record.groundTruth)
        XCTAssertEqual(Set(record.events.keys), [SignalID(1), SignalID(2)])
        for (sid, events) in record.events {
            XCTAssertEqual(events.prefix(2).map(\.code), [HiResEventCode.powerRestored, HiResEventCode.patternChange])
            let advance = Set((record.detectors[sid] ?? []).filter { !$0.calls }.map(\.id))
            for phase in Set((record.detectors[sid] ?? []).filter { !$0.calls }.map(\.phase.rawValue)) {
                let channels = Set(
                    (record.detectors[sid] ?? []).filter { !$0.calls && $0.phase.rawValue == phase }.map(\.id))
                let logged = events.filter { $0.code == HiResEventCode.detectorOn && channels.contains($0.param) }.count
                let seen = gt.arrivals.filter { $0.signal == sid.rawValue && $0.phase == phase }.count
                XCTAssertEqual(
                    Double(logged), Double(seen), accuracy: max(3, 0.1 * Double(seen)), "S\(sid) phase \(phase)")
            }
            XCTAssertFalse(advance.isEmpty)
            let greens = events.filter { $0.code == HiResEventCode.phaseBeginGreen }
            for change in gt.lampChanges where change.signal == sid.rawValue && change.lamp == "green" {
                XCTAssertTrue(
                    greens.contains { $0.param == change.phase && (0...500).contains(change.epochMs - $0.atMs) },
                    "S\(sid) phase \(change.phase) green in SUMO at \(change.epochMs) without its controller's 1")
            }
        }
        XCTAssertGreaterThan(gt.arrivals.count, 100)
        XCTAssertTrue(gt.arrivals.allSatisfy { ["green", "yellow", "red"].contains($0.lamp) })
        XCTAssertGreaterThan(gt.lampChanges.filter { $0.lamp == "green" }.count, 10)
    }

    /// SUMO's own actuated programs run with nothing set over TraCI and produce trips.
    func testSumoActuatedRuns() throws {
        let sumo = try installation()
        let doc = try CorridorFile.load(path: corridorPath("demo-5.yaml"))
        let c = try doc.corridor.section(from: SignalID(1), through: SignalID(2))
        var net = NetworkOptions()
        net.demandSeconds = 180
        let scenario = try Scenario.build(
            corridor: c, options: net, directory: tempDir(), sumo: sumo, tlsType: "actuated")
        XCTAssertTrue(try String(contentsOfFile: scenario.netFile, encoding: .utf8).contains("type=\"actuated\""))
        var options = RunOptions()
        options.warmupSeconds = 0
        let r = try OfflineRun.run(
            scenario: scenario, control: .sumo, referenceEpochMs: doc.referenceEpochMs, sumo: sumo, options: options)
        XCTAssertGreaterThan(r.increasing.trips, 20)
        XCTAssertGreaterThan(r.side.trips, 5)
        XCTAssertEqual(r.unfinished, 0)
    }
}
