import Console
import Controller
import Foundation
import GreenwaveAPI
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Five real controllers with mutual TLS between peers, the PKI made by `greenwave pki`.
final class TLSClusterTests: XCTestCase {
    private func run(_ c: LocalCluster, _ args: [String]) throws -> (Int32, String) { try c.runCommand(args) }

    func testAFiveControllerCorridorOnMutualTLSElectsALeaderAndCommits() async throws {
        let c = try LocalCluster()
        let pki = c.dir.appendingPathComponent("pki").path
        var (code, out) = try run(c, ["pki", "init", "--dir", pki, "--corridor", c.corridorPath])
        XCTAssertEqual(code, 0, out)
        (code, out) = try run(c, ["pki", "issue", "--dir", pki, "--corridor", c.corridorPath, "--all"])
        XCTAssertEqual(code, 0, out)
        (code, out) = try run(c, ["pki", "issue", "--dir", pki, "--corridor", c.corridorPath, "--signal", "2"])
        XCTAssertNotEqual(code, 0, "an existing certificate is not replaced without --force")
        XCTAssertTrue(out.contains("--force"), out)

        for s in c.signals { try c.start(s, extra: ["--peer-tls-dir", pki]) }
        guard let leader = await c.waitForLeader(timeout: 20) else { return XCTFail("no leader elected:\n\(c.log(1))") }
        let request = CommandRequest(
            operator: "test", clientID: ConsoleClient.newClientID(), sequence: 1, type: "mode", plan: "night")
        // Sent to learner 2, which forwards it to the leader; retried (same client id and sequence: applied
        // once) while 2's API is still starting.
        var answer: (Int, CommandResponse?)?
        let deadline = Date().addingTimeInterval(10)
        // A 503 (2 does not know the leader yet, or the leader not its peers) is retried too.
        while (answer == nil || answer?.0 == 503) && Date() < deadline {
            answer = await c.command(2, request)
            if answer == nil || answer?.0 == 503 { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        guard let (status, response) = answer, let r = response else {
            return XCTFail("no answer (\(String(describing: answer?.0))):\n\(c.log(2))")
        }
        XCTAssertEqual(status, 200)
        XCTAssertEqual(r.result, "accepted")
        XCTAssertEqual(r.leader, leader)
        let leaderStatus = await c.status(leader)
        let index = try XCTUnwrap(leaderStatus).commitIndex
        let applied = await c.waitApplied(index, on: c.signals)
        XCTAssertNotNil(applied, "the command is applied on all five")
        XCTAssertEqual(Set(applied?.values.map(\.stateHash) ?? []).count, 1)
        for s in c.signals {
            XCTAssertTrue(c.log(s).contains("peer connections: mutual TLS"), "S\(s) runs with TLS:\n\(c.log(s))")
            guard let metrics = await c.text(s, "/metrics") else {
                XCTFail("no /metrics from S\(s)")
                continue
            }
            XCTAssertTrue(
                metrics.contains("greenwave_transport_tls_handshake_failures_total{signal=\"\(s)\"}"), metrics)
            XCTAssertTrue(
                metrics.contains("greenwave_transport_certificate_refusals_total{signal=\"\(s)\"} 0\n"),
                "no member was refused:\n\(metrics)")
        }
    }
}

extension LocalCluster {
    /// A GET whose body is text (`/metrics`).
    func text(_ s: Int, _ path: String) async -> String? {
        guard let port = apiPorts[s] else { return nil }
        let req = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        guard let (data, resp) = try? await session.data(for: req), (resp as? HTTPURLResponse)?.statusCode == 200 else {
            return nil
        }
        return String(decoding: data, as: UTF8.self)
    }
}
