import APIClient
import ArgumentParser
import Audit
import CorridorFile
import Foundation
import Logging
import SignalTiming
import Sumo

/// `greenwave sumo --corridor FILE --plan NAME [--seed N]`: drive Eclipse SUMO over TraCI.
struct SumoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sumo",
        abstract: "Drive the SUMO traffic simulator from the corridor's signal timing and measure the trips.",
        discussion: """
            Offline (default): builds a SUMO network and one hour of demand from the corridor (docs/sumo.md), \
            runs SUMO as fast as it goes, sets every traffic light from SignalTiming each simulated step over \
            TraCI, and prints for main-road through trips in each direction the mean travel time, stops and \
            waiting time, and the side streets' mean waiting time. Needs SUMO: run tools/sumo/setup.
            --control: fixed (default: the stage plan's fixed-time lamps), actuated (one coordinated-actuated \
            dual-ring controller per signal, fed from induction loops on every approach lane, within the plan's \
            cycle, offset and splits, mapped as the controllers map it, with the file's actuated: settings if it \
            has them), sumo-actuated (SUMO's own isolated actuated control, no coordination).
            --live: runs SUMO in real time with the lights taken from the running controllers' lamp streams; \
            the loops of the signals the file's actuated: section makes actuated are their detectors.
            """
    )

    @Option(help: "The corridor YAML file.")
    var corridor: String

    @Option(help: "Timing plan to run (default: the corridor's initial plan).")
    var plan: String?

    @Option(help: "Seed: SUMO's random seed, and with --uncoordinated the random offsets.")
    var seed: Int = 1

    @Flag(help: "Same cycle and splits, but random offsets drawn from --seed (the uncoordinated baseline).")
    var uncoordinated = false

    @Option(help: "Light control: fixed, actuated (Greenwave's coordinated-actuated) or sumo-actuated (SUMO's own).")
    var control: String = "fixed"

    @Option(help: "Percent of the main-road volume that turns across the oncoming flow at every signal, per approach.")
    var mainTurnPercent: Int = 0

    @Option(help: "Only the section of signals FIRST-LAST (ids), e.g. 1-10.")
    var signals: String?

    @Option(help: "Minutes of demand.")
    var minutes: Int = 60

    @Option(
        help: "Trips departing in the first SECONDS are not counted (default: 300, or a quarter of a shorter demand).")
    var warmupSeconds: Int?

    @Option(help: "Main-road vehicles per hour per direction.")
    var mainVph: Int = 1200

    @Option(help: "Side-street vehicles per hour per approach.")
    var sideVph: Int = 150

    @Option(help: "Main-road speed limit in km/h (SUMO's cars drive around it).")
    var mainSpeedKmh: Int = 50

    @Option(help: "SUMO step length in ms.")
    var stepMs: Int = 500

    @Option(help: "Keep SUMO's files (network, demand, logs) in this folder instead of a temporary one.")
    var work: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Flag(help: "Live mode: lights from the running controllers' lamp streams, SUMO in real time.")
    var live = false

    @Option(help: "Live mode: seconds to run (default: until Ctrl-C).")
    var seconds: Double?

    @Flag(help: "Live mode: open sumo-gui instead of headless sumo.")
    var gui = false

    @Option(
        help:
            "With --control actuated: write the controllers' hi-res events to this ATSPM CSV (as `audit export --format atspm`)."
    )
    var atspmOut: String?

    @Option(
        help:
            "With --control actuated: write the loops as the atspm package's detector configuration (DeviceId,Phase,Parameter,Function)."
    )
    var detectorsOut: String?

    @Option(
        help:
            "With --control actuated: write SUMO's ground truth at the advance loops (each arrival and its phase's lamp in SUMO; JSON, docs/sumo.md)."
    )
    var groundTruthOut: String?

    func run() async throws {
        let doc = try loadCorridorOrExit(corridor)
        guard let sumo = SumoInstallation.locate() else {
            FileHandle.standardError.write(
                "error: SUMO not found; run tools/sumo/setup (or install the Debian package sumo)\n".data(using: .utf8)!
            )
            throw ExitCode(1)
        }
        var c = doc.corridor
        if let signals {
            let parts = signals.split(separator: "-").compactMap { Int($0) }
            guard parts.count == 2 else { throw ValidationError("--signals must be FIRST-LAST, e.g. 1-10") }
            c = try c.section(from: SignalID(parts[0]), through: SignalID(parts[1]))
        }
        var net = try networkOptions()
        if live {
            try await runLiveMode(doc, corridor: c, network: net, sumo: sumo)
            return
        }

        let dir = work ?? (NSTemporaryDirectory() + "greenwave-sumo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { if work == nil { try? FileManager.default.removeItem(atPath: dir) } }

        let planID = PlanID(plan ?? doc.initialPlan.rawValue)
        guard let p = c.plan(planID), !p.isFlash else {
            throw ValidationError("plan '\(planID)' is not a coordinated plan of this corridor")
        }
        let scenario = try Scenario.build(
            corridor: c, options: net, directory: dir, sumo: sumo,
            tlsType: control == "sumo-actuated" ? "actuated" : "static")
        let timing = uncoordinated ? try c.withRandomOffsets(plan: planID, seed: UInt64(seed)) : c
        var options = RunOptions()
        options.seed = seed
        options.stepMs = Int64(stepMs)
        options.warmupSeconds = warmupSeconds ?? min(300, net.demandSeconds / 4)
        let lights: LightControl
        switch control {
        case "actuated":
            lights = .actuated(
                timings: try ActuatedTiming.corridor(timing, settings: doc.actuated?.settings ?? [:]), plan: planID)
        case "sumo-actuated": lights = .sumo
        default: lights = .fixed(timing: timing, plan: planID)
        }
        let r: RunResult
        if case .actuated(let timings, _) = lights, atspmOut != nil || detectorsOut != nil || groundTruthOut != nil {
            let (result, record) = try OfflineRun.runActuated(
                scenario: scenario, timings: timings, plan: planID, referenceEpochMs: doc.referenceEpochMs, sumo: sumo,
                options: options, recordEvents: atspmOut != nil, groundTruth: groundTruthOut != nil)
            r = result
            try writeRecord(record)
        } else {
            r = try OfflineRun.run(
                scenario: scenario, control: lights, referenceEpochMs: doc.referenceEpochMs, sumo: sumo,
                options: options)
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(r), as: UTF8.self))
            return
        }
        printReport(r, doc: doc, corridor: c, plan: planID)
    }

    /// Live mode: SUMO in real time with every light taken from its controller's lamp stream, until
    /// --seconds or Ctrl-C.
    func runLiveMode(
        _ doc: CorridorDocument, corridor c: Corridor, network: NetworkOptions, sumo: SumoInstallation
    ) async throws {
        var net = network
        let endpoints = doc.endpoints.filter { e in c.signals.contains { $0.id == e.signal } }
        net.demandSeconds = 0 // runLive sets the demand's length
        FileHandle.standardOutput.write(
            Data("sumo live: \(endpoints.count) controllers of \(doc.id), SUMO in real time; Ctrl-C stops\n".utf8))
        let connection: APIConnection
        do { connection = try APIConnection.forCorridor(caPath: doc.apiCertificateAuthority) } catch {
            throw ValidationError("the corridor's API CA: \(error)")
        }
        let detectors = doc.actuatedDetectors
        if !detectors.isEmpty {
            FileHandle.standardOutput.write(
                Data(
                    "sumo live: the induction loops of the \(detectors.count) actuated signals are their detectors\n"
                        .utf8))
        }
        let task = Task {
            try await runLive(
                corridor: c,
                endpoints: endpoints.map { LiveEndpoint(signal: $0.signal, host: $0.api.host, port: $0.api.port) },
                options: LiveOptions(
                    network: net, seed: seed, gui: gui, durationSeconds: seconds, workDirectory: work),
                sumo: sumo, connection: connection, detectors: detectors, logger: Logger(label: "greenwave.sumo"))
        }
        let sigint = DispatchSource.makeSignalSource(signal: SIGINT, queue: .main)
        signal(SIGINT, SIG_IGN)
        sigint.setEventHandler { task.cancel() }
        sigint.resume()
        try await task.value
    }

    /// The files --atspm-out, --detectors-out and --ground-truth-out ask for.
    func writeRecord(_ record: ActuatedRecord) throws {
        func write(_ text: String, _ path: String, _ what: String) throws {
            do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
                throw ValidationError("\(path): \(error.localizedDescription)")
            }
            FileHandle.standardError.write(Data("wrote \(what) to \(path)\n".utf8))
        }
        if let atspmOut {
            var rows: [ATSPMExport.Row] = []
            for sid in record.events.keys.sorted() {
                rows += record.events[sid]!.map {
                    ATSPMExport.Row(
                        signalID: "\(sid.rawValue)", timeMs: $0.atMs, eventCode: Int64($0.code),
                        parameter: Int64($0.param), synthesized: false)
                }
            }
            let ordered = rows.enumerated().sorted { ($0.element.timeMs, $0.offset) < ($1.element.timeMs, $1.offset) }
            try write(ATSPMExport.csv(ordered.map(\.element)), atspmOut, "\(rows.count) hi-res events")
        }
        if let detectorsOut {
            var byID: [Int: [DetectorConfig]] = [:]
            for (s, d) in record.detectors { byID[s.rawValue] = d }
            try write(DetectorCSV.csv(byID), detectorsOut, "the detector configuration")
        }
        if let groundTruthOut, let gt = record.groundTruth {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            try write(
                String(decoding: try enc.encode(gt), as: UTF8.self) + "\n", groundTruthOut,
                "\(gt.arrivals.count) ground-truth arrivals")
        }
    }

    /// The demand options, checked (with --control and --uncoordinated).
    func networkOptions() throws -> NetworkOptions {
        var net = NetworkOptions()
        net.demandSeconds = minutes * 60
        net.mainVehPerHour = mainVph
        net.sideVehPerHour = sideVph
        net.mainSpeedKmh = mainSpeedKmh
        guard (0...100).contains(mainTurnPercent) else { throw ValidationError("--main-turn-percent must be 0...100") }
        net.mainTurnPercent = mainTurnPercent
        guard ["fixed", "actuated", "sumo-actuated"].contains(control) else {
            throw ValidationError("--control must be fixed, actuated or sumo-actuated")
        }
        guard control == "actuated" || (atspmOut == nil && detectorsOut == nil && groundTruthOut == nil) else {
            throw ValidationError("--atspm-out, --detectors-out and --ground-truth-out need --control actuated")
        }
        guard !(uncoordinated && control == "sumo-actuated") else {
            throw ValidationError("--uncoordinated has no meaning with --control sumo-actuated (it has no offsets)")
        }
        return net
    }

    /// The offline run's trips per direction and side streets, in a table.
    func printReport(_ r: RunResult, doc: CorridorDocument, corridor c: Corridor, plan planID: PlanID) {
        let label =
            "\(planID)\(uncoordinated ? " with random offsets (seed \(seed))" : ""), control \(control), \(c.signals.count) signals, seed \(seed)"
        print("\(doc.id): \(label); \(r.sumoVersion), TraCI API \(r.traciAPI)")
        func row(_ name: String, _ g: TripGroup) {
            let padded = name.padding(toLength: max(24, name.count), withPad: " ", startingAt: 0)
            print(
                padded
                    + String(
                        format: " trips %5d  travel %7.1f s  stops %5.2f  waiting %6.1f s (p95 %6.1f)  delay %6.1f s",
                        g.trips, g.meanTravelTimeS, g.meanStops, g.meanWaitingTimeS, g.p95WaitingTimeS, g.meanTimeLossS)
            )
        }
        row("\(doc.increasingName) through", r.increasing)
        row("\(doc.decreasingName) through", r.decreasing)
        row("side streets", r.side)
        row("side streets from the west", r.sideFromWest)
        row("side streets from the east", r.sideFromEast)
        if r.turning.trips > 0 { row("main-road turns", r.turning) }
        if control == "actuated" {
            print(
                "  greens per phase: \(r.greensByPhase.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")); loop-steps on: \(r.loopOnSteps)"
            )
        }
        print(
            String(
                format: "  simulated %.0f s in %.1f s wall; teleports %d, unfinished %d", r.simulatedSeconds,
                r.wallSeconds,
                r.teleports, r.unfinished))
    }
}
