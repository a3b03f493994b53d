import APIClient
import Console
import Controller
import CorridorFile
import Foundation
import GreenwaveAPI
import SignalTiming
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The HTTP API over TLS (issue 13, item 4): five real controllers whose corridor says `security.api_tls`,
/// reached by the real console client trusting the corridor CA; plain HTTP, a client that trusts another CA,
/// and a controller that would serve plain HTTP on a field address are refused.
final class APITLSTests: XCTestCase {
    /// `yaml` with `security.api_tls.ca` naming `ca` (inside the existing security block).
    static func withAPITLS(_ yaml: String, ca: String) -> String {
        yaml.replacingOccurrences(of: "\nsecurity:\n", with: "\nsecurity:\n  api_tls:\n    ca: \(ca)\n")
    }

    func makePKI(_ c: LocalCluster, _ name: String) throws -> String {
        let pki = c.dir.appendingPathComponent(name).path
        var (code, out) = try c.runCommand(["pki", "init", "--dir", pki, "--corridor", c.corridorPath])
        XCTAssertEqual(code, 0, out)
        (code, out) = try c.runCommand(["pki", "issue", "--dir", pki, "--corridor", c.corridorPath, "--all"])
        XCTAssertEqual(code, 0, out)
        return pki
    }

    func testTheAPIIsServedOverTLSAndOnlyClientsTrustingTheCorridorCAGetAnAnswer() async throws {
        let c = try LocalCluster()
        let pki = try makePKI(c, "pki")
        let other = try makePKI(c, "other-pki") // another corridor CA with the same corridor id
        let plain = try String(contentsOfFile: c.corridorPath, encoding: .utf8)
        try Self.withAPITLS(plain, ca: "pki/ca.pem").write(toFile: c.corridorPath, atomically: true, encoding: .utf8)
        let doc = try CorridorFile.load(path: c.corridorPath)
        XCTAssertEqual(doc.apiCertificateAuthority, c.dir.appendingPathComponent("pki/ca.pem").standardizedFileURL.path)
        XCTAssertEqual(doc.apiScheme, "https")

        for s in c.signals { try c.start(s, extra: ["--peer-tls-dir", pki]) }
        var client = try ConsoleClient(document: doc, timeoutSeconds: 20)
        client.reader = TestOperators.engineer
        var leader: StatusResponse?
        let deadline = Date().addingTimeInterval(25)
        while leader == nil && Date() < deadline {
            leader = await client.statusAll().compactMap(\.status).first { $0.role == "leader" }
            if leader == nil { try await Task.sleep(nanoseconds: 200_000_000) }
        }
        guard let l = leader else { return XCTFail("no leader seen over HTTPS:\n\(c.log(1))") }
        for s in c.signals { XCTAssertTrue(c.log(s).contains("API: HTTPS"), "S\(s):\n\(c.log(s))") }

        // A signed command through the console; it may reach a follower, which forwards it over HTTPS.
        let request = CommandRequest(
            operator: TestOperators.engineer.name, clientID: ConsoleClient.newClientID(), sequence: 1,
            type: "mode", plan: "night"
        ).signedForTest(doc)
        let (status, response) = try await client.submit(request)
        XCTAssertEqual(status, 200)
        XCTAssertEqual(response.result, "accepted")
        // The same through learner 2 alone (a follower forwarding to its leader over HTTPS).
        let learnerOnly = try ConsoleClient(
            document: {
                var d = doc
                d.endpoints = d.endpoints.filter { $0.signal.rawValue == 2 }
                return d
            }(), timeoutSeconds: 20)
        let hold = CommandRequest(
            operator: TestOperators.engineer.name, clientID: ConsoleClient.newClientID(), sequence: 1,
            type: "hold", signal: 3
        ).signedForTest(doc)
        let forwarded = try await learnerOnly.submit(hold)
        XCTAssertEqual(forwarded.status, 200, "learner 2 forwarded the command to the leader over HTTPS")
        XCTAssertEqual(forwarded.response.result, "accepted")

        // Plain HTTP at a TLS port gets no answer.
        let cfg = URLSessionConfiguration.ephemeral
        cfg.timeoutIntervalForRequest = 3
        let plainAnswer = try? await URLSession(configuration: cfg).data(
            from: URL(string: "http://127.0.0.1:\(c.apiPorts[l.signal]!)/v1/status")!)
        XCTAssertNil(
            plainAnswer.flatMap { ($0.1 as? HTTPURLResponse)?.statusCode == 200 ? $0 : nil }, "plain HTTP was answered")

        // A client that trusts another CA (a look-alike corridor) refuses every controller's certificate.
        var impostorDoc = doc
        impostorDoc.apiCertificateAuthority = other + "/ca.pem"
        let wrong = try ConsoleClient(document: impostorDoc, timeoutSeconds: 3)
        let statuses = await wrong.statusAll()
        XCTAssertTrue(statuses.allSatisfy { $0.status == nil }, "a controller answered a client that trusts another CA")
        do {
            _ = try await wrong.submit(
                CommandRequest(
                    operator: TestOperators.engineer.name, clientID: ConsoleClient.newClientID(),
                    sequence: 1, type: "release", signal: 3
                ).signedForTest(doc))
            XCTFail("a command went through a client that trusts another CA")
        } catch let e as ConsoleError {
            guard case .noQuorum = e else { return XCTFail("\(e)") }
            XCTAssertTrue(
                "\(e)".lowercased().contains("ssl") || "\(e)".lowercased().contains("certificate")
                    || "\(e)".lowercased().contains("tls"), "the reason names the TLS failure: \(e)")
        }

        // The lamp stream over HTTPS (what the dashboard and SUMO's live mode follow).
        let got = EventBox()
        let connection = client.connection
        let port2 = c.apiPorts[2]!
        let follow = Task {
            await connection.followEvents(host: "127.0.0.1", port: port2, path: "/v1/lamps/stream") { data, _ in
                got.add(data)
            }
        }
        let until = Date().addingTimeInterval(10)
        while got.count == 0 && Date() < until { try await Task.sleep(nanoseconds: 100_000_000) }
        follow.cancel()
        XCTAssertGreaterThan(got.count, 0, "no lamp update over HTTPS")
        XCTAssertTrue(got.first?.contains("\"signal\":2") == true, got.first ?? "")

        // The command-line console with the corridor file that names the CA.
        let (code, out) = try c.runCommand(["status", "--corridor", c.corridorPath, "--json"])
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("\"role\" : \"leader\""), out)
        // With the shipped-style corridor (no api_tls) and --ca instead.
        let bare = c.dir.appendingPathComponent("bare.yaml").path
        try plain.write(toFile: bare, atomically: true, encoding: .utf8)
        let (code2, out2) = try c.runCommand(["status", "--corridor", bare, "--ca", pki + "/ca.pem", "--json"])
        XCTAssertEqual(code2, 0, out2)
        XCTAssertTrue(out2.contains("\"role\" : \"leader\""), out2)
        let (_, out3) = try c.runCommand(["status", "--corridor", bare, "--json"])
        XCTAssertFalse(out3.contains("\"role\" : \"leader\""), "plain HTTP reached a TLS controller: \(out3)")
    }

    /// A controller refuses to start when its corridor's API is TLS but it has no certificate, or when the
    /// CA the corridor tells clients to trust is not the one that issued its certificate.
    func testAControllerWithoutTheRightCertificateRefusesToServeATLSAPI() throws {
        let c = try LocalCluster()
        let pki = try makePKI(c, "pki")
        _ = try makePKI(c, "other-pki")
        let plain = try String(contentsOfFile: c.corridorPath, encoding: .utf8)
        try Self.withAPITLS(plain, ca: "pki/ca.pem").write(toFile: c.corridorPath, atomically: true, encoding: .utf8)
        var (code, out) = try c.runCommand(
            [
                "controller", "--corridor", c.corridorPath, "--signal", "1",
                "--data", c.dir.appendingPathComponent("s1").path
            ], timeout: 20)
        XCTAssertNotEqual(code, 0, out)
        XCTAssertTrue(out.contains("--peer-tls-dir"), out)
        try Self.withAPITLS(plain, ca: "other-pki/ca.pem").write(
            toFile: c.corridorPath, atomically: true, encoding: .utf8)
        (code, out) = try c.runCommand(
            [
                "controller", "--corridor", c.corridorPath, "--signal", "1",
                "--data", c.dir.appendingPathComponent("s1b").path, "--peer-tls-dir", pki
            ], timeout: 20)
        XCTAssertNotEqual(code, 0, out)
        XCTAssertTrue(out.contains("is not the CA in --peer-tls-dir"), out)
    }

    /// Plain HTTP is for loopback only: a corridor that puts an API on a field address without api_tls is
    /// refused, naming the fix; with api_tls it is accepted.
    func testPlainHTTPOnAFieldAddressIsRefused() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        var yaml = try String(contentsOf: repo.appendingPathComponent("corridors/demo-5.yaml"), encoding: .utf8)
        yaml = TestOperators.secured(yaml.replacingOccurrences(of: "127.0.0.1:8201", with: "10.77.0.1:8201"))
        let doc = try CorridorFile.parse(yaml: yaml, file: "field.yaml")
        XCTAssertThrowsError(
            try ControllerOptions(
                corridorPath: "field.yaml", document: doc, signal: SignalID(1), dataDirectory: "/tmp/x")
        ) { e in
            XCTAssertTrue("\(e)".contains("not a loopback address") && "\(e)".contains("api_tls"), "\(e)")
        }
        // Another signal of the same corridor is on loopback: allowed.
        XCTAssertNoThrow(
            try ControllerOptions(
                corridorPath: "field.yaml", document: doc, signal: SignalID(2), dataDirectory: "/tmp/x"))
        let tls = try CorridorFile.parse(yaml: Self.withAPITLS(yaml, ca: "/etc/greenwave/ca.pem"), file: "field.yaml")
        XCTAssertEqual(tls.apiCertificateAuthority, "/etc/greenwave/ca.pem")
        XCTAssertNoThrow(
            try ControllerOptions(
                corridorPath: "field.yaml", document: tls, signal: SignalID(1), dataDirectory: "/tmp/x"))
        // A malformed api_tls block names its key.
        XCTAssertThrowsError(
            try CorridorFile.parse(
                yaml: yaml.replacingOccurrences(of: "\nsecurity:\n", with: "\nsecurity:\n  api_tls:\n    cert: x\n"),
                file: "field.yaml")
        ) { e in
            XCTAssertTrue("\(e)".contains("security.api_tls"), "\(e)")
        }
    }
}

private final class EventBox: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [String] = []
    func add(_ e: String) { lock.withLock { events.append(e) } }
    var count: Int { lock.withLock { events.count } }
    var first: String? { lock.withLock { events.first } }
}
