import Audit
import Console
import Controller
import CorridorFile
import Foundation
import GreenwaveAPI
import GreenwaveTestSupport
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The audit on a record written by real controllers: five `greenwave controller` processes of the
/// demo corridor (on free ports), commands through their HTTP API, a SIGTERM, then every folder
/// verified and compared, and each signal's replayed lamps checked against its own lamp log.
final class LiveRecordTests: XCTestCase {
    func testRealControllersRecordsVerifyAgreeAndTheirLampsMatchTheReplay() async throws {
        let binary = try builtBinary("greenwave")
        let dir = try scratchFolder(self, "live")
        var yaml = try String(contentsOfFile: demoCorridor, encoding: .utf8)
        let ports = try freePorts(10)
        for s in 1...5 {
            yaml = yaml.replacingOccurrences(of: "127.0.0.1:720\(s)", with: "127.0.0.1:\(ports[2 * s - 2])")
            yaml = yaml.replacingOccurrences(of: "127.0.0.1:820\(s)", with: "127.0.0.1:\(ports[2 * s - 1])")
        }
        let live = testSigner("live-test")
        yaml +=
            "\nsecurity:\n  first_engineer:\n    name: live-test\n    public_key: \(Data(live.publicKey).base64EncodedString())\n"
        let corridor = (dir as NSString).appendingPathComponent("corridor.yaml")
        try yaml.write(toFile: corridor, atomically: true, encoding: .utf8)
        let doc = try CorridorFile.load(path: corridor)
        var processes: [Process] = []
        defer { for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        for s in 1...5 {
            let p = Process()
            p.executableURL = binary
            p.arguments = [
                "controller", "--corridor", corridor, "--signal", "\(s)", "--data",
                (dir as NSString).appendingPathComponent("s\(s)"),
                // Audit checkpoints through Raft after every 2 new rows, or 1 s with a new row.
                "--audit-checkpoint-rows", "2", "--audit-checkpoint-ms", "1000"
            ]
            p.standardError = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            processes.append(p)
        }
        let session = URLSession(configuration: .ephemeral)
        // Every start runs the start-up sequence (start-up flash, all-red, entry into the schedule at a
        // safe point), during which the lamps are deliberately not the replay's. Wait until every
        // controller reports its lamps in step (no `entry` in its status); compare from then on.
        var inStep = Set<Int>()
        let inStepBy = Date().addingTimeInterval(90)
        while inStep.count < 5 && Date() < inStepBy {
            for s in 1...5 where !inStep.contains(s) {
                var req = URLRequest(url: URL(string: "http://127.0.0.1:\(ports[2 * s - 1])/v1/status")!)
                req.timeoutInterval = 2
                if let (data, _) = try? await session.data(for: req),
                    let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                    let lamps = json["lamps"] as? [String: Any], lamps["entry"] == nil
                {
                    inStep.insert(s)
                }
            }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
        XCTAssertEqual(inStep.count, 5, "every controller's lamps in step after start-up")
        let inStepMs = Int64(Date().timeIntervalSince1970 * 1000)
        // A mode change, a hold and its release, a refused release, a preemption; retried (same
        // client and sequence) until a leader has committed each.
        let commands: [[String: Any]] = [
            ["type": "mode", "plan": "night"], ["type": "hold", "signal": 2], ["type": "release", "signal": 4],
            ["type": "preempt", "signals": [3, 4, 5], "direction": "increasing"], ["type": "release", "signal": 2]
        ]
        for (k, c) in commands.enumerated() {
            var body = c
            body["operator"] = "live-test"
            body["client_id"] = ConsoleClient.newClientID()
            body["sequence"] = 1
            let unsigned = try JSONDecoder().decode(
                CommandRequest.self, from: try JSONSerialization.data(withJSONObject: body))
            let data = try JSONEncoder().encode(try unsigned.signed(by: live, document: doc))
            var done = false
            for _ in 0..<100 where !done {
                var req = URLRequest(url: URL(string: "http://127.0.0.1:\(ports[1])/v1/commands")!)
                req.httpMethod = "POST"
                req.httpBody = data
                req.setValue("application/json", forHTTPHeaderField: "Content-Type")
                req.timeoutInterval = 6
                if let (_, resp) = try? await session.data(for: req), let code = (resp as? HTTPURLResponse)?.statusCode,
                    code == 200 || code == 422
                {
                    done = true
                } else {
                    try await Task.sleep(nanoseconds: 200_000_000)
                }
            }
            XCTAssertTrue(done, "command \(k) was not committed")
            try await Task.sleep(nanoseconds: 2_000_000_000)
        }
        try await Task.sleep(nanoseconds: 3_000_000_000)
        let stoppedMs = Int64(Date().timeIntervalSince1970 * 1000)
        for p in processes { kill(p.processIdentifier, SIGTERM) }
        for p in processes { p.waitUntilExit() }

        let folders = (1...5).map { (dir as NSString).appendingPathComponent("s\($0)") }
        let report = try Verifier.verify(folders: folders)
        XCTAssertTrue(report.ok, "\(report.folders.flatMap(\.findings)) \(report.crossFindings)")
        XCTAssertEqual(report.folders.map { $0.rowCount - $0.checkpoints.count }, Array(repeating: 5, count: 5))
        // Every controller recorded the leaders' checkpoints, and each found its own chain at the head.
        for f in report.folders {
            XCTAssertGreaterThanOrEqual(f.checkpoints.count, 2, "\(f.path)")
            let rows = try DataFolder(path: f.path).auditRows().compactMap(\.row)
            for (c, cp) in f.checkpoints {
                XCTAssertEqual(
                    rows.first { $0.record.index == c }.map { Evidence.resultText($0.record) },
                    "checkpoint: this replica's row \(cp.headIndex) has the leader's hash", "\(f.path)")
            }
        }
        let log = try CommandLog.entries(folder: try DataFolder(path: folders[0])).filter {
            !CommandLog.isCheckpoint($0)
        }
        XCTAssertEqual(
            log.map(\.command), ["mode night", "hold S2", "release S4", "preempt S3 S4 S5 increasing", "release S2"])
        XCTAssertEqual(log.map(\.accepted), [true, true, false, true, true])

        // Every signal, every 500 ms of the run: the lamps its controller logged are the replay's, and so
        // is the plan label — a label change without a lamp change is logged within one lamp period
        // (100 ms), so a label disagreement must be gone 200 ms later.
        for s in 1...5 {
            let folder = try DataFolder(path: folders[s - 1])
            let events = try folder.lampEvents()
            var t = max(try XCTUnwrap(events.first).timeMs, inStepMs)
            var checked = 0
            while t < stoppedMs {
                let r = try SignalAt.report(folder: folder, signal: s, at: t)
                XCTAssertEqual(r.disagreements.filter { $0.hasPrefix("phase") }, [], "S\(s) at \(AuditTime.iso(t))")
                XCTAssertNil(r.replayDivergence)
                let labels = r.disagreements.filter { !$0.hasPrefix("phase") }
                if !labels.isEmpty {
                    let later = try SignalAt.report(folder: folder, signal: s, at: t + 200)
                    XCTAssertEqual(later.disagreements, [], "S\(s) at \(AuditTime.iso(t)) and 200 ms later: \(labels)")
                }
                checked += 1
                t += 500
            }
            XCTAssertGreaterThan(checked, 10)
        }
    }
}
