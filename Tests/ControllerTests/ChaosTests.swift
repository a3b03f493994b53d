import Foundation
import GreenwaveTestSupport
import XCTest

/// Issue 18, item 3 in CI: a few rounds of `tools/chaos` (concurrent clients, a seeded nemesis, the four
/// checkers: no acknowledged command lost, linearizable reads, convergence, no controller exiting by itself)
/// on loopback and on namespaced hosts with the field profile. Longer runs and the planted defects that
/// make each checker fail: `tools/chaos --rounds 100`, `--plant …` (docs/operations.md, "Chaos harness").
final class ChaosTests: XCTestCase {
    private func chaos(_ extra: [String]) throws -> String {
        let binary = try builtBinary("greenwave")
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let tool = repo.appendingPathComponent("tools/chaos").path
        let prefix = "gwc\(getpid() % 100_000)"
        defer {
            _ = try? runTool(
                ["python3", repo.appendingPathComponent("tools/netns").path, "--prefix", prefix, "cleanup"], seconds: 60
            )
        }
        let (status, text) = try runTool(
            [
                "python3", tool, "--binary", binary.path, "--rounds", "4", "--seed", "18", "--prefix", prefix,
                "--corridor", repo.appendingPathComponent("corridors/demo-5.yaml").path
            ] + extra, seconds: 200)
        print(text)
        guard let status else {
            XCTFail("tools/chaos did not finish within 200 s:\n\(text)")
            return text
        }
        if status == 3 {
            throw XCTSkip(text.split(separator: "\n").first { $0.contains("skipped") }.map(String.init) ?? "skipped")
        }
        XCTAssertEqual(status, 0, "tools/chaos failed:\n\(text)")
        for check in ["lost", "linearizable", "converge", "crash"] {
            XCTAssertTrue(text.contains("chaos: check \(check): ok"), "checker \(check) did not pass:\n\(text)")
        }
        // The run must have done something worth checking: acknowledged writes and successful reads.
        let acked = firstNumber(after: "acknowledged ", in: text) ?? 0
        let reads = firstNumber(after: "; reads ", in: text) ?? 0
        XCTAssertGreaterThan(acked, 10, text)
        XCTAssertGreaterThan(reads, 10, text)
        return text
    }

    private func firstNumber(after marker: String, in text: String) -> Int? {
        guard let r = text.range(of: marker) else { return nil }
        return Int(text[r.upperBound...].prefix { $0.isNumber })
    }

    func testChaosRoundsOnLoopback() throws {
        _ = try chaos(["--network", "loopback"])
    }

    func testChaosRoundsOnNamespacedHostsWithFieldLinks() throws {
        _ = try chaos(["--network", "netns", "--profile", "field"])
    }
}
