import Console
import Controller
import CorridorFile
import CorridorMachine
import Foundation
import GreenwaveAPI
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Signed commands and roles through real controllers and the real console (issue 13, items 2–4).
final class SecurityClusterTests: XCTestCase {
    func post(
        _ c: LocalCluster, _ s: Int, _ body: Data, headers: [String: String] = ["Content-Type": "application/json"]
    ) async -> (Int, String)? {
        var req = URLRequest(url: URL(string: "http://127.0.0.1:\(c.apiPorts[s]!)/v1/commands")!)
        req.httpMethod = "POST"
        req.httpBody = body
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        req.timeoutInterval = 8
        guard let (data, resp) = try? await c.session.data(for: req), let http = resp as? HTTPURLResponse else {
            return nil
        }
        return (http.statusCode, String(decoding: data, as: UTF8.self))
    }

    /// Posts to the leader until it answers something other than 503 (no leader yet).
    func submit(
        _ c: LocalCluster, _ leader: Int, _ r: CommandRequest,
        headers: [String: String] = ["Content-Type": "application/json"]
    ) async -> (Int, String)? {
        let body = try! JSONEncoder().encode(r)
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let a = await post(c, leader, body, headers: headers), a.0 != 503 { return a }
            try? await Task.sleep(nanoseconds: 200_000_000)
        }
        return nil
    }

    func testUnsignedForgedAndWrongRoleCommandsAreRefusedAndSignedOnesApplyOnce() async throws {
        let c = try LocalCluster()
        // No audit checkpoints during the test (a day apart, none by rows): they are log entries of their own,
        // and the test counts entries to show that refused commands cost none.
        for s in c.signals {
            try c.start(s, extra: ["--audit-checkpoint-ms", "86400000", "--audit-checkpoint-rows", "0"])
        }
        guard let leader = await c.waitForLeader(timeout: 20) else { return XCTFail("no leader:\n\(c.log(1))") }
        let doc = try CorridorFile.load(path: c.corridorPath)
        func request(_ type: String, plan: String? = nil, signal: Int? = nil) -> CommandRequest {
            CommandRequest(
                operator: "asha", clientID: ConsoleClient.newClientID(), sequence: 1, type: type, plan: plan,
                signal: signal)
        }
        let before = await c.status(leader)!.commitIndex

        let unsigned = await submit(c, leader, request("flash"))
        XCTAssertEqual(unsigned?.0, 401, unsigned?.1 ?? "")
        XCTAssertTrue(unsigned?.1.contains("unsigned command") == true, unsigned?.1 ?? "")

        var forged = request("flash").signedForTest(doc, by: OperatorSigner(name: "asha", seed: "not asha"))
        let f = await submit(c, leader, forged)
        XCTAssertEqual(f?.0, 401, f?.1 ?? "")
        // Asha's own signature on a hold, presented with a flash of the corridor.
        forged = request("hold", signal: 2).signedForTest(doc)
        forged.type = "flash"
        forged.signal = nil
        let altered = await submit(c, leader, forged)
        XCTAssertEqual(altered?.0, 401, altered?.1 ?? "")
        XCTAssertTrue(altered?.1.contains("does not verify") == true, altered?.1 ?? "")

        let viewer = await submit(c, leader, request("hold", signal: 2).signedForTest(doc, by: TestOperators.viewer))
        XCTAssertEqual(viewer?.0, 403, viewer?.1 ?? "")
        let op = await submit(c, leader, request("flash").signedForTest(doc, by: TestOperators.operatorKey))
        XCTAssertEqual(op?.0, 403, "an operator cannot flash the corridor: \(op?.1 ?? "")")
        let stranger = await submit(
            c, leader, request("hold", signal: 2).signedForTest(doc, by: TestOperators.stranger))
        XCTAssertEqual(stranger?.0, 401, stranger?.1 ?? "")

        // Browsers and non-JSON bodies are refused before anything else.
        let good = request("hold", signal: 3).signedForTest(doc, by: TestOperators.operatorKey)
        let text = await submit(c, leader, good, headers: ["Content-Type": "text/plain"])
        XCTAssertEqual(text?.0, 415, text?.1 ?? "")
        let cors = await submit(
            c, leader, good, headers: ["Content-Type": "application/json", "Origin": "http://evil.example"])
        XCTAssertEqual(cors?.0, 403, cors?.1 ?? "")

        // None of that cost a log entry.
        let after = await c.status(leader)!.commitIndex
        XCTAssertEqual(after, before, "refused commands were appended")

        // The operator's signed hold applies, once, also when retried through a learner.
        let first = await submit(c, leader, good)
        XCTAssertEqual(first?.0, 200, first?.1 ?? "")
        var retry = await c.command(2, good)
        let until = Date().addingTimeInterval(10)
        while (retry == nil || retry?.0 == 503) && Date() < until { // 2 may not know the leader yet
            try? await Task.sleep(nanoseconds: 200_000_000)
            retry = await c.command(2, good)
        }
        XCTAssertEqual(retry?.0, 200)
        XCTAssertEqual(retry?.1?.duplicate, true)
        let supervisor = await submit(c, leader, request("flash").signedForTest(doc, by: TestOperators.supervisor))
        XCTAssertEqual(supervisor?.0, 200, "a supervisor may flash the corridor: \(supervisor?.1 ?? "")")
    }

    func testTheConsoleSignsAndOperatorManagementWorksEndToEnd() async throws {
        let c = try LocalCluster()
        try c.startAll()
        guard await c.waitForLeader(timeout: 20) != nil else { return XCTFail("no leader:\n\(c.log(1))") }
        // The tests' engineer, as a key file.
        let keys = c.dir.appendingPathComponent("keys").path
        let ashaKey = (keys as NSString).appendingPathComponent("asha.key")
        try OperatorKeyFile.write(TestOperators.engineer, to: ashaKey)
        // A new operator makes a key; the file is the owner's alone.
        let raviKey = (keys as NSString).appendingPathComponent("ravi.key")
        var (code, out) = try c.runCommand(["operator", "keygen", "--name", "ravi", "--out", raviKey])
        XCTAssertEqual(code, 0, out)
        var st = stat()
        XCTAssertEqual(stat(raviKey, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        // Not registered yet: refused, exit 77.
        (code, out) = try c.runCommand(["hold", "S2", "--corridor", c.corridorPath, "--key", raviKey])
        XCTAssertEqual(code, 77, out)
        XCTAssertTrue(out.contains("not in the operator registry"), out)
        // The engineer adds ravi as an operator; ravi's hold is then accepted.
        (code, out) = try c.runCommand([
            "operator", "add", "ravi", "--public-key-file", raviKey, "--role", "operator", "--corridor", c.corridorPath,
            "--key", ashaKey
        ])
        XCTAssertEqual(code, 0, out)
        (code, out) = try c.runCommand(["hold", "S2", "--corridor", c.corridorPath, "--key", raviKey])
        XCTAssertEqual(code, 0, out)
        (code, out) = try c.runCommand(["flash", "--corridor", c.corridorPath, "--key", raviKey])
        XCTAssertEqual(code, 77, "an operator cannot flash the corridor: \(out)")
        (code, out) = try c.runCommand(["operator", "list", "--corridor", c.corridorPath])
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("operator    ravi"), out)
        // Revoked: refused from then on, on every controller.
        let raviID = OperatorKeys.keyIDText(try OperatorKeyFile.load(path: raviKey).keyID)
        (code, out) = try c.runCommand(["operator", "revoke", raviID, "--corridor", c.corridorPath, "--key", ashaKey])
        XCTAssertEqual(code, 0, out)
        (code, out) = try c.runCommand(["release", "S2", "--corridor", c.corridorPath, "--key", raviKey])
        XCTAssertEqual(code, 77, out)
        XCTAssertTrue(out.contains("revoked by command"), out)
        // A key file others can read is refused with a clear error.
        chmod(raviKey, 0o644)
        (code, out) = try c.runCommand(["hold", "S3", "--corridor", c.corridorPath, "--key", raviKey])
        XCTAssertNotEqual(code, 0)
        XCTAssertTrue(out.contains("readable or writable by others"), out)
        // Every replica holds the same registry.
        let leader = await c.waitForLeader(timeout: 10)!
        let index = await c.status(leader)!.commitIndex
        let applied = await c.waitApplied(index, on: c.signals)
        XCTAssertEqual(Set(applied?.values.map(\.stateHash) ?? []).count, 1)
    }

    func get(_ c: LocalCluster, _ s: Int, _ path: String, credential: String?) async -> Int? {
        var req = URLRequest(url: URL(string: "http://127.0.0.1:\(c.apiPorts[s]!)\(path)")!)
        if let credential { req.setValue(credential, forHTTPHeaderField: ReadCredential.headerName) }
        guard let (_, resp) = try? await c.session.data(for: req) else { return nil }
        return (resp as? HTTPURLResponse)?.statusCode
    }

    func testReadsNeedAnOperatorsCredentialWhenTheControllerSaysSo() async throws {
        let c = try LocalCluster()
        for s in c.signals { try c.start(s, extra: s == 2 ? ["--read-access", "signed"] : []) }
        guard await c.waitForLeader(among: c.voters, timeout: 20) != nil else {
            return XCTFail("no leader:\n\(c.log(1))")
        }
        let doc = try CorridorFile.load(path: c.corridorPath)
        func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
        func cred(_ s: OperatorSigner, _ path: String, at t: Int64? = nil) -> String {
            ReadCredential.header(s, corridorID: doc.id, path: path, nowMs: t ?? now())
        }
        // Wait until 2 answers at all (it may still be starting).
        let until = Date().addingTimeInterval(10)
        while await get(c, 2, "/healthz", credential: nil) != 200 && Date() < until {
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        for path in ["/v1/status", "/v1/state", "/metrics", "/v1/operators"] {
            let none = await get(c, 2, path, credential: nil)
            XCTAssertEqual(none, 401, path)
            let viewer = await get(c, 2, path, credential: cred(TestOperators.viewer, path))
            XCTAssertEqual(viewer, path == "/v1/state" ? viewer : 200, path)
            XCTAssertNotEqual(viewer, 401, "a viewer may read \(path)")
            let stranger = await get(c, 2, path, credential: cred(TestOperators.stranger, path))
            XCTAssertEqual(stranger, 401, "an unregistered key may not read \(path)")
        }
        let stale = await get(
            c, 2, "/v1/status", credential: cred(TestOperators.viewer, "/v1/status", at: now() - 600_000))
        XCTAssertEqual(stale, 401, "a credential ten minutes old")
        let elsewhere = await get(c, 2, "/v1/status", credential: cred(TestOperators.viewer, "/metrics"))
        XCTAssertEqual(elsewhere, 401, "a credential for another path")
        let health = await get(c, 2, "/healthz", credential: nil)
        XCTAssertEqual(health, 200, "health stays open for monitoring")
        let open = await get(c, 1, "/v1/status", credential: nil)
        XCTAssertEqual(open, 200, "a loopback API is open by default")
        // The console with a key reads it; without one it cannot.
        let keyFile = c.dir.appendingPathComponent("vic.key").path
        try OperatorKeyFile.write(TestOperators.viewer, to: keyFile)
        var (code, out) = try c.runCommand(["status", "--corridor", c.corridorPath, "--json", "--key", keyFile])
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("\"signal\" : 2") && !out.contains("UNREACHABLE"), out)
        (code, out) = try c.runCommand(["status", "--corridor", c.corridorPath])
        XCTAssertTrue(out.contains("S2      UNREACHABLE"), out)
    }

    func testAControllerRefusesACorridorWithoutAFirstEngineer() throws {
        let c = try LocalCluster()
        let yaml = try String(contentsOfFile: c.corridorPath, encoding: .utf8).components(separatedBy: "\nsecurity:")[0]
        let plain = c.dir.appendingPathComponent("plain.yaml").path
        try yaml.write(toFile: plain, atomically: true, encoding: .utf8)
        let (code, out) = try c.runCommand([
            "controller", "--corridor", plain, "--signal", "1", "--data", c.dir.appendingPathComponent("p1").path
        ])
        XCTAssertNotEqual(code, 0)
        XCTAssertTrue(out.contains("security.first_engineer: missing"), out)
    }
}
