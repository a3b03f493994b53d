import Foundation
import GreenwaveTestSupport
import XCTest

/// `greenwave demo --sumo --actuated --headless` as an operator runs it: SUMO in real time, every light from
/// its controller's lamp stream over the demo's HTTPS API (APIClient, trusting the demo's corridor CA), and
/// every controller actuated, its detectors SUMO's loops (`PUT /v1/detectors` over the same HTTPS).
final class DemoSumoLiveTests: XCTestCase {
    func testSumoLiveFollowsEveryControllerOverHTTPS() async throws {
        try Repo.requireSumo()
        let repo = Repo.root
        let cluster = try LocalCluster()
        // As a new user runs it: no operators in the file; the demo adds its own engineer and api_tls.
        let yaml = try String(contentsOfFile: cluster.corridorPath, encoding: .utf8).components(
            separatedBy: "\nsecurity:")[0]
        try yaml.write(toFile: cluster.corridorPath, atomically: true, encoding: .utf8)
        let demoProcess = try DemoProcess(
            cluster,
            [
                "--headless", "--sumo", "--actuated", "--corridor", cluster.corridorPath,
                "--data", cluster.dir.appendingPathComponent("demo").path, "--operator", "sumo-test"
            ],
            directory: repo)
        let demo = demoProcess.process
        defer { withExtendedLifetime(demoProcess) {} } // stopped (SIGTERM) when the test ends, not before
        func output() -> String { demoProcess.output }
        let deadline = Date().addingTimeInterval(120)
        while !output().contains("controllers 5/5 connected") && Date() < deadline && demo.isRunning {
            try await Task.sleep(nanoseconds: 500_000_000)
        }
        let text = output()
        XCTAssertTrue(text.contains("api https://127.0.0.1:"), "the demo's API is HTTPS:\n\(text)")
        XCTAssertTrue(text.contains("controllers 5/5 connected"), "SUMO never followed all five lamp streams:\n\(text)")
        XCTAssertTrue(text.contains("the induction loops of the 5 actuated signals are their detectors"), text)
        let report = text.split(separator: "\n").first { $0.contains("controllers 5/5 connected") } ?? ""
        XCTAssertTrue(report.contains("detectors of 5 actuated:"), "the live report counts detector updates: \(report)")
        XCTAssertTrue(report.contains(" 0 failed"), "every detector update taken over HTTPS: \(report)")
        kill(demo.processIdentifier, SIGTERM)
        let until = Date().addingTimeInterval(20)
        while demo.isRunning && Date() < until { try await Task.sleep(nanoseconds: 100_000_000) }
        XCTAssertFalse(demo.isRunning, "the demo did not stop on SIGTERM")
    }
}
