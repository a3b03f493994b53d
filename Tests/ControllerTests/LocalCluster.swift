import Controller
import CorridorFile
import Foundation
import GreenwaveAPI
import GreenwaveTestSupport
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Real `greenwave controller` processes on loopback for the multi-process tests: a copy of
/// corridors/demo-5.yaml (3 voters: 1, 3, 5; learners 2, 4) on free ports, a data folder each.
final class LocalCluster {
    /// The corridor file on free ports and the data folders (GreenwaveTestSupport).
    let corridor: TestCorridor
    var dir: URL { corridor.dir }
    var corridorPath: String { corridor.path }
    let binary: URL
    var peerPorts: [Int: Int] { corridor.peerPorts }
    var apiPorts: [Int: Int] { corridor.apiPorts }
    var processes: [Int: Process] = [:]
    let signals = TestCorridor.signals
    let voters = TestCorridor.voters
    let session: URLSession

    /// `extraYAML`: more top-level sections for the corridor file (e.g. `actuated:`).
    init(extraYAML: String = "") throws {
        binary = try builtBinary("greenwave")
        corridor = try TestCorridor(security: TestOperators.securityBlock + extraYAML)
        let cfg = URLSessionConfiguration.ephemeral
        cfg.timeoutIntervalForRequest = 2
        session = URLSession(configuration: cfg)
    }

    deinit {
        for (_, p) in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }

    /// `environment`: variables added to this process's own (e.g. `GREENWAVE_EVENT_LOOP`).
    func start(_ s: Int, extra: [String] = [], environment: [String: String] = [:]) throws {
        let p = Process()
        p.executableURL = binary
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        p.arguments =
            [
                "controller", "--corridor", corridorPath, "--signal", "\(s)", "--data",
                dir.appendingPathComponent("s\(s)").path,
                "--fault-injection", "--log-level", "info"
            ] + extra
        let log = dir.appendingPathComponent("s\(s).log")
        if !FileManager.default.fileExists(atPath: log.path) {
            FileManager.default.createFile(atPath: log.path, contents: nil)
        }
        let h = try FileHandle(forWritingTo: log)
        h.seekToEndOfFile()
        p.standardError = h
        p.standardOutput = h
        try p.run()
        processes[s] = p
    }

    func startAll() throws { for s in signals { try start(s) } }

    /// Runs the greenwave binary to its end (killed after `timeout` s); returns its exit status and its
    /// standard output and error together. The output is read while it runs, so a long one cannot fill
    /// the pipe and stall the process.
    func runCommand(_ args: [String], timeout: Double = 20) throws -> (Int32, String) {
        let r = try GreenwaveTestSupport.runCommand(binary, args, timeout: timeout)
        return (r.status, r.output)
    }

    func kill9(_ s: Int) {
        guard let p = processes[s] else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    func log(_ s: Int) -> String {
        (try? String(contentsOf: dir.appendingPathComponent("s\(s).log"), encoding: .utf8)) ?? ""
    }

    // MARK: - HTTP

    func get<T: Decodable>(_ s: Int, _ path: String, as: T.Type = T.self) async -> T? {
        guard let port = apiPorts[s] else { return nil }
        let req = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        guard let (data, resp) = try? await session.data(for: req), (resp as? HTTPURLResponse)?.statusCode == 200 else {
            return nil
        }
        return try? JSONDecoder().decode(T.self, from: data)
    }

    func post(_ s: Int, _ path: String, body: Data) async -> (Int, Data)? {
        var req = URLRequest(url: URL(string: "http://127.0.0.1:\(apiPorts[s]!)\(path)")!)
        req.httpMethod = "POST"
        req.httpBody = body
        req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        req.timeoutInterval = 8
        guard let (data, resp) = try? await session.data(for: req), let http = resp as? HTTPURLResponse else {
            return nil
        }
        return (http.statusCode, data)
    }

    func status(_ s: Int) async -> StatusResponse? { await get(s, "/v1/status") }

    /// Waits until one of `among` reports itself leader; returns it.
    func waitForLeader(among: [Int]? = nil, timeout: Double = 15) async -> Int? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            for s in among ?? signals {
                if let st = await status(s), st.role == "leader" { return s }
            }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return nil
    }

    /// Submits a command to controller `s` (which forwards to the leader).
    /// The request is signed by the tests' engineer unless it carries a signature already.
    func command(_ s: Int, _ r: CommandRequest) async -> (Int, CommandResponse?)? {
        let signed = r.signature == nil ? r.signedForTest(try! CorridorFile.load(path: corridorPath)) : r
        guard let (code, data) = await post(s, "/v1/commands", body: try! JSONEncoder().encode(signed)) else {
            return nil
        }
        return (code, try? JSONDecoder().decode(CommandResponse.self, from: data))
    }

    /// Waits until every signal in `signals` has applied at least `index`; returns their statuses.
    func waitApplied(_ index: UInt64, on list: [Int], timeout: Double = 15) async -> [Int: StatusResponse]? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var all: [Int: StatusResponse] = [:]
            for s in list {
                if let st = await status(s), st.appliedIndex >= index { all[s] = st }
            }
            if all.count == list.count { return all }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return nil
    }
}

/// `greenwave demo` started as an operator starts it, its output in a file; `stop()` (also on deinit)
/// sends SIGTERM, so that the demo stops its controllers, and SIGKILL only if it hangs.
final class DemoProcess {
    let process = Process()
    let log: URL

    init(_ cluster: LocalCluster, _ arguments: [String], directory: URL? = nil) throws {
        log = cluster.dir.appendingPathComponent("demo.out")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = cluster.binary
        if let directory { process.currentDirectoryURL = directory }
        process.arguments = ["demo"] + arguments
        let out = try FileHandle(forWritingTo: log)
        process.standardOutput = out
        process.standardError = out
        try process.run()
    }

    deinit { stop(within: 20) }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func stop(within seconds: Double) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let until = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < until { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
