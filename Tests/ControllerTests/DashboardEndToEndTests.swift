import Console
import Controller
import CorridorFile
import Foundation
import XCTest

/// The operator's path end to end: `greenwave demo --headless` runs five real controllers, the
/// dashboard runs inside tmux, a mode change is typed at its command line, and the screen is read back
/// (capture-pane) until every signal runs the new plan.
final class DashboardEndToEndTests: XCTestCase {
    func testAModeChangeTypedInTheDashboardReachesEverySignal() async throws {
        guard let tmux = Self.which("tmux") else { throw XCTSkip("tmux is not installed (.ci/run installs it)") }
        let cluster = try LocalCluster()
        // Short cycles so that the change is adopted within about a minute: normal 40 s, night 44 s.
        var yaml = try String(contentsOfFile: cluster.corridorPath, encoding: .utf8)
        for (old, new) in [
            ("cycle_s: 90", "cycle_s: 40"),
            ("{ main: 50, main-turn: 16, side: 24 }", "{ main: 18, main-turn: 10, side: 12 }"),
            ("cycle_s: 60", "cycle_s: 44"),
            ("{ main: 32, main-turn: 12, side: 16 }", "{ main: 20, main-turn: 11, side: 13 }")
        ] {
            XCTAssertTrue(yaml.contains(old), "demo-5.yaml changed: \(old) not found")
            yaml = yaml.replacingOccurrences(of: old, with: new)
        }
        // As a new user runs it: a corridor file without operators; the demo makes an engineer key for the
        // person running it and signs with it.
        yaml = yaml.components(separatedBy: "\nsecurity:")[0]
        try yaml.write(toFile: cluster.corridorPath, atomically: true, encoding: .utf8)

        // The demo, headless.
        let demoProcess = try DemoProcess(
            cluster,
            [
                "--headless", "--corridor", cluster.corridorPath,
                "--data", cluster.dir.appendingPathComponent("demo").path, "--operator", "e2e-test"
            ])
        let demo = demoProcess.process
        defer { withExtendedLifetime(demoProcess) {} } // stopped (SIGTERM) when the test ends, not before
        func demoOutput() -> String { demoProcess.output }
        try await waitUntil(60, "the demo is ready") { demoOutput().contains("ready:") }

        // The dashboard in its own tmux server, on a terminal big enough for the whole table.
        let socket = "gw-e2e-\(UUID().uuidString.prefix(8))"
        func tm(_ args: [String]) -> (Int32, String) { Self.run(tmux, ["-L", socket] + args) }
        defer { _ = tm(["kill-server"]) }
        let key = cluster.dir.appendingPathComponent("demo/operators/e2e-test.key").path
        XCTAssertTrue(demoOutput().contains("--key \(key)"), demoOutput())
        // The corridor file the demo runs from (its first engineer, and its API's CA: the API is HTTPS).
        let demoCorridor = cluster.dir.appendingPathComponent("demo/corridor.yaml").path
        XCTAssertTrue(demoOutput().contains("--corridor \(demoCorridor)"), demoOutput())
        XCTAssertTrue(demoOutput().contains("api https://127.0.0.1:"), demoOutput())
        let demoClient = try ConsoleClient(document: try CorridorFile.load(path: demoCorridor), timeoutSeconds: 5)
        let command = "\(cluster.binary.path) dashboard --corridor \(demoCorridor) --key \(key); sleep 30"
        XCTAssertEqual(tm(["new-session", "-d", "-s", "dash", "-x", "150", "-y", "45", command]).0, 0)
        func screen() -> String { tm(["capture-pane", "-p", "-t", "dash"]).1 }
        try await waitUntil(30, "the dashboard shows a leader") {
            screen().contains("leader S0") && screen().contains("5/5 up")
        }
        try await waitUntil(15, "the dashboard shows who is signed in") {
            screen().contains("signed in: e2e-test · engineer")
        }

        // A bad command is refused at the command line with a reason, and nothing is proposed.
        _ = tm(["send-keys", "-t", "dash", "-l", ":hold S99"])
        _ = tm(["send-keys", "-t", "dash", "Enter"])
        try await waitUntil(10, "the bad command is refused") {
            screen().contains("hold S99: 'S99' is not a signal of demo-5")
        }

        // The mode change.
        _ = tm(["send-keys", "-t", "dash", "-l", ":mode night"])
        _ = tm(["send-keys", "-t", "dash", "Enter"])
        try await waitUntil(20, "the mode change is accepted") {
            screen().range(of: #"#\d+ mode night: accepted"#, options: .regularExpression) != nil
        }
        var last = ""
        try await waitUntil(240, "every signal runs night") {
            last = screen()
            let rows = last.split(separator: "\n").filter {
                $0.range(of: #"^S0[1-5] "#, options: .regularExpression) != nil
            }
            // The cluster line comes from the status poll (every 500 ms), the rows from the lamp streams: wait
            // for both, or the screen may be caught between them.
            let cluster = last.split(separator: "\n").first { $0.hasPrefix("leader S") }.map(String.init) ?? ""
            return rows.count == 5 && rows.allSatisfy { $0.contains(" night ") }
                && last.contains("running on 5/5 signals")
                && cluster.contains("mode night")
        }
        // What the screen says agrees with the controllers themselves.
        let running = await demoClient.statusAll()
        for s in cluster.signals {
            let st = running.first { $0.signal.rawValue == s }?.status
            XCTAssertEqual(st?.mode, "night", "S\(s) status")
            XCTAssertEqual(st?.lamps?.plan, "night", "S\(s) lamps")
        }
        let leaderLine = last.split(separator: "\n").first { $0.hasPrefix("leader S") }.map(String.init) ?? ""
        XCTAssertTrue(leaderLine.contains("mode night"), leaderLine)

        // SIGTERM stops the demo and every controller cleanly, within the demo's 10 s before SIGKILL, even
        // with the dashboard's lamp streams open (they once held each controller's HTTP server up).
        let before = await demoClient.statusAll()
        XCTAssertEqual(
            before.compactMap(\.status).count, cluster.signals.count, "the demo's controllers answer over HTTPS")
        let stopAsked = Date()
        kill(demo.processIdentifier, SIGTERM)
        try await waitUntil(30, "the demo stops") { !demo.isRunning }
        XCTAssertLessThan(Date().timeIntervalSince(stopAsked), 8, "controllers did not stop on SIGTERM")
        XCTAssertEqual(demo.terminationStatus, 0, demoOutput())
        XCTAssertTrue(demoOutput().contains("stopped; a second run"), demoOutput())
        let after = await demoClient.statusAll()
        for s in cluster.signals {
            XCTAssertNil(
                after.first { $0.signal.rawValue == s }?.status, "S\(s) still answering after the demo stopped")
            let log =
                (try? String(
                    contentsOf: cluster.dir.appendingPathComponent(String(format: "demo/logs/s%02d.log", s)),
                    encoding: .utf8)) ?? ""
            XCTAssertTrue(log.contains("controller stopped"), "S\(s) did not stop cleanly")
        }

        // The dashboard shows the controllers as unreachable, plainly; q quits it and gives the terminal back.
        try await waitUntil(15, "the dashboard shows every controller unreachable") {
            let text = screen()
            return text.contains("0/5 up") && text.contains("NO LEADER")
                && (1...5).allSatisfy { text.contains(String(format: "S%02d UNREACHABLE", $0)) }
        }
        _ = tm(["send-keys", "-t", "dash", "q"])
        try await waitUntil(10, "the dashboard exits") { !screen().contains("GREENWAVE") }
    }

    func waitUntil(_ seconds: Double, _ what: String, _ cond: () async -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if await cond() { return }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
        XCTFail("timed out after \(Int(seconds)) s waiting until \(what)")
        throw CancellationError()
    }

    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Runs a command to completion with posix_spawn and waitpid. (Foundation's Process did not reap
    /// `tmux new-session -d`, whose server outlives it, so waitUntilExit never returned.)
    static func run(_ exe: String, _ args: [String]) -> (Int32, String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gw-e2e-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, file, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([exe] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, exe, &actions, nil, argv, environ) == 0 else { return (-1, "cannot start \(exe)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        return (exited ? (status >> 8) & 0xff : -1, output)
    }
}
