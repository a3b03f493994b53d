import ArgumentParser
import Console
import Controller
import CorridorFile
import CorridorMachine
import Dashboard
import Foundation
import GreenwaveAPI
import Logging
import SignalTiming
import Sumo

/// `greenwave demo`: the whole corridor on this machine, one controller process per signal.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run every controller of a corridor as its own process on loopback.",
        discussion: """
            Starts one 'greenwave controller' per signal (47 for the default corridor), waits until there is
            a leader, then opens the dashboard (see 'greenwave dashboard --help'; quitting it stops the demo).
            With --headless, or when not on a terminal, it prints the endpoints (and, not headless, a one-line
            summary every 2 s) and stays up.
            Ctrl-C or SIGTERM stops every controller cleanly; a second run on the same --data folder resumes.
            Logs: DATA/logs/sNN.log.
            Peers talk mutual TLS: the first run creates the corridor's CA and every controller's key and
            certificate in DATA/pki (as 'greenwave pki init' and 'greenwave pki issue --all' would).
            Commands are signed: the first run makes an engineer key for --operator in DATA/operators/NAME.key
            and runs the controllers from DATA/corridor.yaml, the corridor file with that key as its first
            engineer (a corridor file that names one is used as it is, with --key). The dashboard signs with it.
            """
    )

    @Option(help: "The corridor file.") var corridor: String = "corridors/western-express-highway.yaml"
    @Option(help: "Data folder: one sub-folder per controller.") var data: String = ".greenwave-demo"
    @Flag(help: "No live view: print the endpoints and stay up (for scripts).") var headless = false
    @Option(help: "Seconds to wait for a leader.") var leaderTimeout: Double = 60

    /// How many learners start together once the voters have a leader.
    static let learnerGroup = 4
    @Option(
        name: .customLong("operator"),
        help: "Who runs the demo: the first run makes an engineer key for this name (DATA/operators/NAME.key).")
    var operatorName: String =
        ProcessInfo.processInfo.environment["USER"].flatMap { OperatorRecord.nameProblem($0) == nil ? $0 : nil }
        ?? "operator"
    @Option(help: "An operator key file to sign with, for a corridor file that already names its first engineer.")
    var key: String?
    @Flag(
        help:
            "Also run SUMO in real time with every light taken from its controller's lamp stream (tools/sumo/setup installs SUMO; docs/sumo.md)."
    )
    var sumo = false
    @Flag(help: "Like --sumo, in sumo-gui, to watch the traffic (needs a display).") var sumoGui = false
    @Flag(
        help:
            ArgumentHelp(
                "Run every signal as a coordinated-actuated controller (the demo's corridor file gets "
                    + "'actuated: { control: actuated }'); with --sumo, SUMO's induction loops are their detectors. "
                    + "A corridor file with its own actuated: section runs as that section says, with or without it."
            )
    )
    var actuated = false
    @Option(
        help:
            "Raft timing of every controller: 'field' (heartbeat 100 ms, election timeout 1-2 s) or 'loopback' (50 ms, 300-600 ms). The demo runs every controller on this one machine, where scheduling delays reach hundreds of ms, so it uses 'field' (docs/operations.md, \"Raft timing\")."
    )
    var timing: String = "field"

    func run() async throws {
        var doc: CorridorDocument
        do { doc = try CorridorFile.load(path: corridor) } catch { throw ValidationError("\(error)") }
        guard RaftTiming.named(timing) != nil else {
            throw ValidationError("unknown --timing '\(timing)': 'loopback' or 'field'")
        }
        let (signer, runCorridor) = try demoSigner(&doc)
        let keyHint =
            OperatorKeyFile.locate(key)
            ?? URL(fileURLWithPath: data).appendingPathComponent("operators/\(signer.name).key").path
        if (sumo || sumoGui) && SumoInstallation.locate() == nil {
            throw ValidationError(
                "--sumo: SUMO not found; run tools/sumo/setup (it installs SUMO into tools/sumo/.venv)")
        }
        let logs = URL(fileURLWithPath: data).appendingPathComponent("logs")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let pkiDir = URL(fileURLWithPath: data).appendingPathComponent("pki").path
        do {
            let issued = try ensurePKI(dir: pkiDir, doc: doc)
            if issued > 0 {
                say("peer TLS: issued \(issued) controller certificates with the corridor's CA in \(pkiDir)")
            }
        } catch {
            throw ValidationError("peer TLS material in \(pkiDir): \(error)")
        }
        let children = ChildProcesses()
        let stop = stopSignals(children)
        let launcher = Launcher(
            exe: URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath(), corridor: runCorridor,
            data: data, pkiDir: pkiDir, logs: logs, timing: timing, children: children)
        var client: ConsoleClient
        do { client = try ConsoleClient(document: doc) } catch { throw ValidationError("\(error)") }
        client.reader = signer
        let firstLeader = try await startControllers(doc, launcher: launcher, client: client)
        say(
            "started \(doc.corridor.signals.count) controllers for \(doc.corridor.name) (data: \(data), logs: \(logs.path))"
        )
        // The leader now (the first one may have changed while the learners started).
        let current = await client.statusAll().compactMap { $0.status }.first { $0.role == "leader" }
        let l = current ?? firstLeader
        say("leader: S\(l.signal) (\(l.name)), term \(l.term)")
        if headless {
            for e in doc.endpoints {
                say("S\(e.signal.rawValue)  api \(doc.apiScheme)://\(e.api)  peer \(e.peer)")
            }
            say(
                "ready: try 'greenwave status --corridor \(runCorridor)' or 'greenwave mode rush-hour --corridor \(runCorridor) --key \(keyHint)'; Ctrl-C stops the corridor"
            )
        }
        let dashboard = !headless && isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1
        let sumoFailure = FailureNote()
        let sumoTask = startSumo(doc, dashboard: dashboard, failure: sumoFailure)
        if dashboard {
            try await runDashboard(doc, signer: signer, stop: stop, children: children)
        } else {
            await waitForStop(doc, client: client, stop: stop)
        }
        sumoTask?.cancel()
        await sumoTask?.value
        if let f = sumoFailure.get() { say("SUMO stopped early: \(f)") }
        await children.stopAll()
        say("stopped; a second run on \(data) resumes")
    }

    /// Who signs: the engineer key of the person running the demo, the corridor's first engineer. For a
    /// corridor file without one, the key is made (or found) in DATA/operators and the controllers run from
    /// DATA/corridor.yaml, which names it (and `doc` becomes that file); else --key signs. The signer and
    /// the corridor file the controllers run from.
    func demoSigner(_ doc: inout CorridorDocument) throws -> (OperatorSigner, String) {
        guard doc.firstEngineer == nil else {
            if actuated && doc.actuated == nil {
                throw ValidationError(
                    "--actuated: \(corridor) names its first engineer, so the demo runs it as it is: "
                        + "add an actuated: section to it (docs/corridor-format.md)"
                )
            }
            guard let path = OperatorKeyFile.locate(key) else {
                throw ValidationError(
                    "\(corridor) names its first engineer: give --key FILE (or \(OperatorKeyFile.environmentVariable)) to sign with"
                )
            }
            do { return (try OperatorKeyFile.load(path: path), corridor) } catch { throw ValidationError("\(error)") }
        }
        let signer: OperatorSigner
        let keyPath = URL(fileURLWithPath: data).appendingPathComponent("operators/\(operatorName).key").path
        do {
            signer =
                FileManager.default.fileExists(atPath: keyPath)
                ? try OperatorKeyFile.load(path: keyPath)
                : try OperatorKeyFile.create(name: operatorName, path: keyPath)
        } catch { throw ValidationError("operator key \(keyPath): \(error)") }
        let runCorridor = URL(fileURLWithPath: data).appendingPathComponent("corridor.yaml").path
        do {
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            var text = try String(contentsOfFile: corridor, encoding: .utf8)
            if !text.hasSuffix("\n") { text += "\n" }
            text +=
                "\n# Added by 'greenwave demo': the engineer whose key signs the demo's commands, and the CA whose\n"
                + "# certificates the controllers' HTTPS API presents (the demo's PKI, next to this file).\n"
                + OperatorKeyFile.corridorBlock(signer, apiCA: "pki/ca.pem")
            if actuated && doc.actuated == nil { text += Self.actuatedBlock }
            if (try? String(contentsOfFile: runCorridor, encoding: .utf8)) != text {
                try text.write(toFile: runCorridor, atomically: true, encoding: .utf8)
            }
            doc = try CorridorFile.load(path: runCorridor)
        } catch { throw ValidationError("\(runCorridor): \(error)") }
        say("operator: \(signer.name), engineer key \(keyPath) (the first engineer of \(runCorridor))")
        return (signer, runCorridor)
    }

    /// What --actuated adds to the demo's corridor file (when the file has no actuated: section of its own).
    static let actuatedBlock =
        "\n# Added by 'greenwave demo --actuated': every signal runs the coordinated-actuated dual-ring controller\n"
        + "# with its default detectors (one per phase, channel = phase number; docs/corridor-format.md).\n"
        + "actuated:\n  control: actuated\n"

    /// Ctrl-C and SIGTERM, as a stream (the process itself ignores them: the demo stops every child first).
    func stopSignals(_ children: ChildProcesses) -> AsyncStream<Int32> {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        return AsyncStream<Int32> { cont in
            for sig in [SIGINT, SIGTERM] {
                let src = DispatchSource.makeSignalSource(signal: sig, queue: .main)
                src.setEventHandler { cont.yield(sig) }
                src.resume()
                children.keep(src)
            }
        }
    }

    /// Starts one controller process per signal, its output appended to DATA/logs/sNN.log.
    struct Launcher {
        let exe: URL
        let corridor: String
        let data: String
        let pkiDir: String
        let logs: URL
        let timing: String
        let children: ChildProcesses

        func launch(_ s: SignalTiming.Signal) throws {
            let p = Process()
            p.executableURL = exe
            p.arguments = [
                "controller", "--exit-with-parent", "--corridor", corridor, "--signal", "\(s.id.rawValue)",
                "--data",
                URL(fileURLWithPath: data).appendingPathComponent(String(format: "s%02d", s.id.rawValue)).path,
                "--peer-tls-dir", pkiDir, "--timing", timing
            ]
            let logURL = logs.appendingPathComponent(String(format: "s%02d.log", s.id.rawValue))
            if !FileManager.default.fileExists(atPath: logURL.path) {
                FileManager.default.createFile(atPath: logURL.path, contents: nil)
            }
            let h = try FileHandle(forWritingTo: logURL)
            h.seekToEndOfFile()
            p.standardOutput = h
            p.standardError = h
            try p.run()
            children.add(p)
        }
    }

    /// The voters first, and the learners only once they have a leader, in groups, each group answering
    /// before the next starts: 47 processes starting at once on a small machine starve each other for
    /// seconds (TLS handshakes, databases, clock sampling), long enough for a first leader to lose its
    /// quorum and for lamps to switch late. A field corridor never starts that way; a demo on one machine
    /// would. The voters' first leader; exits (code 2) when none is elected within --leader-timeout.
    func startControllers(
        _ doc: CorridorDocument, launcher: Launcher, client: ConsoleClient
    ) async throws -> StatusResponse {
        let voterIDs = Set(doc.voters)
        for s in doc.corridor.signals where voterIDs.contains(s.id) { try launcher.launch(s) }
        let deadline = Date().addingTimeInterval(leaderTimeout)
        var leader: StatusResponse?
        while leader == nil && Date() < deadline {
            try? await Task.sleep(nanoseconds: 300_000_000)
            leader = await client.statusAll(only: voterIDs).compactMap { $0.status }.first { $0.role == "leader" }
        }
        guard let firstLeader = leader else {
            FileHandle.standardError.write(
                Data(
                    "greenwave demo: no leader within \(Int(leaderTimeout)) s; stopping (see \(launcher.logs.path))\n"
                        .utf8))
            await launcher.children.stopAll()
            throw ExitCode(2)
        }
        let learners = doc.corridor.signals.filter { !voterIDs.contains($0.id) }
        for first in stride(from: 0, to: learners.count, by: Self.learnerGroup) {
            let group = learners[first..<min(learners.count, first + Self.learnerGroup)]
            for s in group { try launcher.launch(s) }
            // Ready: caught up with the log and corridor time measured (which takes connections to a
            // majority of the voters, the handshakes that cost the voters most).
            let ids = Set(group.map(\.id))
            let groupDeadline = Date().addingTimeInterval(15)
            while Date() < groupDeadline {
                try? await Task.sleep(nanoseconds: 200_000_000)
                let ready = await client.statusAll(only: ids).filter { row in
                    guard let st = row.status else { return false }
                    return st.appliedIndex >= firstLeader.commitIndex && st.clock?.synced != false
                }
                if ready.count == ids.count { break }
            }
        }
        return firstLeader
    }

    /// SUMO in real time, driven by the controllers' own lamp streams (what the dashboard shows); nil
    /// without --sumo. A failure is noted in `failure`.
    func startSumo(_ doc: CorridorDocument, dashboard: Bool, failure sumoFailure: FailureNote) -> Task<Void, Never>? {
        guard sumo || sumoGui else {
            if !doc.actuatedDetectors.isEmpty {
                say(
                    "\(doc.actuatedDetectors.count) actuated signals and no --sumo: no detector card speaks, so "
                        + "every phase runs on max recall (logged) until PUT /v1/detectors sets its detectors"
                )
            }
            return nil
        }
        var options = LiveOptions(
            gui: sumoGui, workDirectory: URL(fileURLWithPath: data).appendingPathComponent("sumo").path)
        if dashboard { options.reportEverySeconds = nil }
        let logger =
            dashboard
            ? Logger(label: "greenwave.sumo", factory: { _ in SwiftLogNoOpLogHandler() })
            : Logger(label: "greenwave.sumo")
        say("SUMO: live, every light from its controller's lamp stream (files in \(options.workDirectory ?? ""))")
        let fed = doc.actuatedDetectors.count
        if fed > 0 {
            say(
                "SUMO: the induction loops of the \(fed) actuated signals are their detectors "
                    + "(PUT /v1/detectors, on change)"
            )
        }
        let runOptions = options
        return Task {
            do { try await runLive(document: doc, options: runOptions, logger: logger) } catch is CancellationError {
            } catch { sumoFailure.set("\(error)") }
        }
    }

    /// The dashboard until the operator quits it or a signal stops the demo.
    func runDashboard(
        _ doc: CorridorDocument, signer: OperatorSigner, stop: AsyncStream<Int32>, children: ChildProcesses
    ) async throws {
        let app: DashboardApp
        do { app = try DashboardApp(document: doc, signer: signer) } catch {
            await children.stopAll()
            throw ValidationError("\(error)")
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await app.run() }
            group.addTask { for await _ in stop { break } }
            await group.next()
            group.cancelAll()
        }
        say("stopping \(doc.corridor.signals.count) controllers…")
    }

    /// Without the dashboard: a summary line every 2 s (not headless) until a signal stops the demo.
    func waitForStop(_ doc: CorridorDocument, client: ConsoleClient, stop: AsyncStream<Int32>) async {
        let view = Task {
            guard !headless else { return }
            while !Task.isCancelled {
                let rows = await client.statusAll()
                say(liveSummary(rows))
                try? await Task.sleep(nanoseconds: 2_000_000_000)
            }
        }
        for await sig in stop {
            say("\nsignal \(sig): stopping \(doc.corridor.signals.count) controllers…")
            break
        }
        view.cancel()
    }
}

/// One line per refresh: leader, term, commit, how many agree, mode.
func liveSummary(_ rows: [(signal: SignalID, endpoint: Endpoint, status: StatusResponse?)]) -> String {
    let up = rows.compactMap { $0.status }
    let leader = up.first { $0.role == "leader" }
    let agree = leader.map { l in up.filter { $0.stateHash == l.stateHash }.count } ?? 0
    var mode = leader?.mode ?? "?"
    if let l = leader, let p = l.pendingMode, let at = l.pendingModeAtMs { mode += " → \(p) at \(isoTime(at))" }
    return
        "\(up.count)/\(rows.count) up · leader \(leader.map { "S\($0.signal)" } ?? "none") · term \(leader?.term ?? 0) · commit \(leader?.commitIndex ?? 0) · \(agree) agree with the leader's state · mode \(mode)"
}

/// The demo's children, stopped together.
final class ChildProcesses: @unchecked Sendable {
    private let lock = NSLock()
    private var processes: [Process] = []
    private var sources: [DispatchSourceSignal] = []

    func add(_ p: Process) { lock.withLock { processes.append(p) } }
    func keep(_ s: DispatchSourceSignal) { lock.withLock { sources.append(s) } }

    /// SIGTERM to every child (each leader hands over first), then SIGKILL whatever is left after 10 s.
    /// All at once: stopping learners first and voters after them took two controllers' stopping times,
    /// beyond what an operator's Ctrl-C should take (DashboardEndToEndTests allows 8 s).
    func stopAll() async {
        let ps = lock.withLock { processes }
        for p in ps where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(10)
        while ps.contains(where: \.isRunning) && Date() < deadline { try? await Task.sleep(nanoseconds: 100_000_000) }
        for p in ps where p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
}

/// Writes a line to standard output at once (unbuffered, also when piped into a script).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// The first failure of a background task, reported when the demo stops.
final class FailureNote: @unchecked Sendable {
    private let lock = NSLock()
    private var text: String?
    func set(_ s: String) { lock.withLock { if text == nil { text = s } } }
    func get() -> String? { lock.withLock { text } }
}
