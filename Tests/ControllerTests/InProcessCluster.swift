import Controller
import CorridorFile
import Foundation
import GreenwaveAPI
import GreenwaveTestSupport
import Logging
import SignalTiming
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Real controllers (`FieldController`: SQLite, the TCP peer transport, the HTTP API) run as tasks of the
/// test process instead of as processes: corridors/demo-5.yaml on free ports, a data folder each. Several
/// of them share one process, as nothing of a controller is global (its metrics registry included).
final class InProcessCluster {
    let corridor: TestCorridor
    let document: CorridorDocument
    private var tasks: [Int: Task<Void, Error>] = [:]
    /// Each controller's metrics, readable after it stopped.
    private(set) var metrics: [Int: ControllerMetrics] = [:]
    let session: URLSession
    var apiPorts: [Int: Int] { corridor.apiPorts }

    init() throws {
        corridor = try TestCorridor(security: TestOperators.securityBlock)
        document = try CorridorFile.load(path: corridor.path)
        let cfg = URLSessionConfiguration.ephemeral
        cfg.timeoutIntervalForRequest = 5
        session = URLSession(configuration: cfg)
    }

    deinit {
        for (_, t) in tasks { t.cancel() }
    }

    /// Starts controller `s` in this process; `configure` may change its options first.
    func start(_ s: Int, configure: (inout ControllerOptions) -> Void = { _ in }) throws {
        var options = try ControllerOptions(
            corridorPath: corridor.path, document: document, signal: SignalID(s),
            dataDirectory: corridor.dataFolder(s).path)
        options.faultInjection = true
        configure(&options)
        var logger = Logger(label: "greenwave.test.s\(s)")
        logger.logLevel = .error
        logger[metadataKey: "signal.id"] = "\(s)"
        let m = ControllerMetrics(signal: s)
        metrics[s] = m
        let controller = FieldController(options: options, logger: logger, metrics: m)
        tasks[s] = Task { try await controller.run(handleSignals: false) }
    }

    /// Starts the corridor's voters (1, 3, 5) and returns the leader they elect; nil (all stopped) if none.
    func startVoters() async throws -> Int? {
        for s in TestCorridor.voters { try start(s) }
        if let leader = await waitForLeader(among: TestCorridor.voters) { return leader }
        await stopAll()
        return nil
    }

    /// Cancels every controller and waits (at most `seconds`) for each to return.
    func stopAll(within seconds: Double = 15) async {
        for (_, t) in tasks { t.cancel() }
        let deadline = Date().addingTimeInterval(seconds)
        for (s, t) in tasks {
            let done = await withTaskGroup(of: Bool.self) { g in
                g.addTask {
                    _ = await t.result
                    return true
                }
                g.addTask {
                    try? await Task.sleep(nanoseconds: UInt64(max(0, deadline.timeIntervalSinceNow) * 1e9))
                    return false
                }
                let first = await g.next()!
                g.cancelAll()
                return first
            }
            XCTAssertTrue(done, "controller \(s) did not stop within \(seconds) s of its cancellation")
        }
        tasks = [:]
    }

    // MARK: - HTTP

    func text(_ s: Int, _ path: String) async -> String? {
        guard let port = apiPorts[s], let url = URL(string: "http://127.0.0.1:\(port)\(path)") else { return nil }
        guard let (data, resp) = try? await session.data(from: url), (resp as? HTTPURLResponse)?.statusCode == 200
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// A POST without a body (the fault-injection routes); the status code.
    func post(_ s: Int, _ path: String) async -> Int? {
        guard let port = apiPorts[s], let url = URL(string: "http://127.0.0.1:\(port)\(path)") else { return nil }
        var req = URLRequest(url: url)
        req.httpMethod = "POST"
        guard let (_, resp) = try? await session.data(for: req) else { return nil }
        return (resp as? HTTPURLResponse)?.statusCode
    }

    func status(_ s: Int) async -> StatusResponse? {
        guard let t = await text(s, "/v1/status") else { return nil }
        return try? JSONDecoder().decode(StatusResponse.self, from: Data(t.utf8))
    }

    func waitForLeader(among list: [Int], timeout: Double = 20) async -> Int? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            for s in list {
                if let st = await status(s), st.role == "leader" { return s }
            }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return nil
    }

    /// Posts a command, signed by the tests' engineer.
    func command(_ s: Int, _ r: CommandRequest) async -> (Int, CommandResponse?)? {
        guard let port = apiPorts[s] else { return nil }
        var req = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/commands")!)
        req.httpMethod = "POST"
        req.httpBody = try? JSONEncoder().encode(r.signedForTest(document))
        req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        guard let (data, resp) = try? await session.data(for: req), let http = resp as? HTTPURLResponse else {
            return nil
        }
        return (http.statusCode, try? JSONDecoder().decode(CommandResponse.self, from: data))
    }
}
