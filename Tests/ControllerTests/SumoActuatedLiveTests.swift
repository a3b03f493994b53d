import Foundation
import GreenwaveTestSupport
import SignalTiming
import Storage
import XCTest

/// Issue 20 in the live demo: five real controllers, every signal actuated, and `greenwave sumo --live`
/// (what `greenwave demo --sumo` runs) reading SUMO's induction loops every step and sending them to each
/// controller's `PUT /v1/detectors`. The calls reach the controllers: their lamp logs hold the detector
/// events (82/81), and side-street phases are served on those calls and end by gap-out (4).
final class SumoActuatedLiveTests: XCTestCase {
    func testSumoLoopsDriveTheActuatedControllers() async throws {
        try Repo.requireSumo()
        let repo = Repo.root
        let c = try LocalCluster(extraYAML: "actuated:\n  control: actuated\n")
        // The night plan from the start, shortened to a 44 s cycle, so that the side street's turn comes soon.
        let yaml = try String(contentsOfFile: c.corridorPath, encoding: .utf8)
            .replacingOccurrences(of: "initial_plan: normal", with: "initial_plan: night")
            .replacingOccurrences(of: "cycle_s: 60", with: "cycle_s: 44")
            .replacingOccurrences(
                of: "splits_s: { main: 32, main-turn: 12, side: 16 }",
                with: "splits_s: { main: 18, main-turn: 10, side: 16 }")
        XCTAssertTrue(yaml.contains("cycle_s: 44"))
        try yaml.write(toFile: c.corridorPath, atomically: true, encoding: .utf8)
        try c.startAll()
        let leader = await c.waitForLeader(timeout: 30)
        XCTAssertNotNil(leader)
        let sumo = Process()
        sumo.executableURL = c.binary
        sumo.currentDirectoryURL = repo
        sumo.arguments = [
            "sumo", "--live", "--corridor", c.corridorPath, "--seconds", "150", "--work",
            c.dir.appendingPathComponent("sumo").path
        ]
        let outURL = c.dir.appendingPathComponent("sumo-live.out")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL)
        sumo.standardOutput = out
        sumo.standardError = out
        try sumo.run()
        defer { if sumo.isRunning { kill(sumo.processIdentifier, SIGKILL) } }
        func output() -> String { (try? String(contentsOf: outURL, encoding: .utf8)) ?? "" }

        // Side-street greens ending, seen on the controllers' lamps (each served on a call or by dual entry,
        // since nothing recalls phases 4 and 8), until one was shorter than its max green (11 s here): then
        // one ended by gap-out (or was forced off early), which the lamp logs tell apart below.
        var greenSince: [String: Date] = [:]
        var ends = 0
        var short = false
        let deadline = Date().addingTimeInterval(100)
        while !(ends >= 2 && short) && Date() < deadline && sumo.isRunning {
            for s in c.signals {
                guard let lamps = await c.status(s)?.lamps?.lamps else { continue }
                for p in ["4", "8"] {
                    let key = "\(s).\(p)"
                    if lamps[p] == "green" {
                        if greenSince[key] == nil { greenSince[key] = Date() }
                    } else if let since = greenSince.removeValue(forKey: key) {
                        ends += 1
                        if Date().timeIntervalSince(since) < 10 { short = true }
                    }
                }
            }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
        kill(sumo.processIdentifier, SIGINT)
        let until = Date().addingTimeInterval(15)
        while sumo.isRunning && Date() < until { try await Task.sleep(nanoseconds: 100_000_000) }
        for s in c.signals { if let p = c.processes[s] { kill(p.processIdentifier, SIGTERM) } }
        for s in c.signals { c.processes[s]?.waitUntilExit() }
        let text = output()
        XCTAssertGreaterThanOrEqual(ends, 2, "side-street greens ended on the controllers:\n\(text)")
        XCTAssertTrue(text.contains("the induction loops of the 5 actuated signals are their detectors"), text)
        XCTAssertTrue(text.contains("detectors of 5 actuated:"), "the live report counts the updates:\n\(text)")
        XCTAssertFalse(text.contains("detector inputs not taken"), "every update taken:\n\(text)")

        var gapOuts = 0
        var signalsCalled = 0
        for s in c.signals {
            let store = try RaftStore(directory: c.dir.appendingPathComponent("s\(s)").path)
            let events = try store.lampEvents(signalID: "\(s)", from: .min, to: .max)
            try store.close()
            func at(_ code: Int, _ param: Int) -> [Int64] {
                events.filter { $0.eventCode == Int64(code) && $0.parameter == Int64(param) }.map(\.timeMs)
            }
            let calls = [4, 8].flatMap { at(HiResEventCode.detectorOn, $0) }
            if !calls.isEmpty { signalsCalled += 1 }
            XCTAssertEqual(
                at(HiResEventCode.detectorFaultWatchdog, 4).count, at(HiResEventCode.detectorRestored, 4).count,
                "signal \(s): detector 4 absent only until SUMO's first reading")
            // A side-street green begun after a call on its own detector and ended by gap-out.
            for p in [4, 8] {
                for g in at(HiResEventCode.phaseBeginGreen, p) {
                    guard at(HiResEventCode.detectorOn, p).contains(where: { $0 <= g && $0 > g - 60_000 }) else {
                        continue
                    }
                    let end = at(HiResEventCode.phaseBeginYellow, p).first { $0 > g } ?? .max
                    if at(HiResEventCode.phaseGapOut, p).contains(where: { $0 > g && $0 <= end }) { gapOuts += 1 }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(signalsCalled, 3, "SUMO's side-street loops called phase 4 or 8 (82 logged)")
        XCTAssertGreaterThanOrEqual(gapOuts, 1, "a side-street phase served on a loop's call ended by gap-out (4)")
    }
}

/// `greenwave demo --actuated` on a corridor file that names its first engineer (run as it is, so the demo
/// cannot add the section) is refused before anything starts, saying what to do.
final class DemoActuatedFlagTests: XCTestCase {
    func testActuatedIsRefusedForAFileTheDemoRunsAsItIs() throws {
        let c = try LocalCluster()
        let (code, out) = try c.runCommand([
            "demo", "--actuated", "--headless", "--corridor", c.corridorPath, "--data",
            c.dir.appendingPathComponent("demo").path
        ])
        XCTAssertNotEqual(code, 0, out)
        XCTAssertTrue(out.contains("--actuated:") && out.contains("add an actuated: section"), out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: c.dir.appendingPathComponent("demo/logs").path))
    }
}
