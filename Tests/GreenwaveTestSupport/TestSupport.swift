import Foundation
import XCTest

// Helpers that the test targets used to copy from one another (issue 17, item 4): the repository's
// folders, scratch folders, free loopback ports, the built binaries, running a command, the demo
// corridor on free ports. Foundation and XCTest only, so that any test target may depend on it.

/// Where the repository and its corridors are, from this file's own path.
public enum Repo {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// corridors/demo-5.yaml: 5 signals, voters 1, 3, 5, learners 2, 4; peers on 127.0.0.1:720N, API on :820N.
    public static var demoCorridor: String { root.appendingPathComponent("corridors/demo-5.yaml").path }

    /// Skips the calling test unless SUMO is installed where `tools/sumo/setup` puts it.
    public static func requireSumo() throws {
        guard
            FileManager.default.isExecutableFile(atPath: root.appendingPathComponent("tools/sumo/.venv/bin/sumo").path)
        else {
            throw XCTSkip("SUMO is not installed in tools/sumo/.venv (tools/sumo/setup; .ci/run runs it)")
        }
    }
}

/// A new folder under the temporary directory, removed when `test` ends (or, without a test, by the caller).
public func temporaryFolder(_ test: XCTestCase?, _ name: String = "test") throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gw-\(name)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test?.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// Ports the kernel reports free right now on 127.0.0.1 (bound to port 0 together, then released).
public func freePorts(_ n: Int) throws -> [Int] {
    var out: [Int] = []
    var fds: [Int32] = []
    defer { for fd in fds { close(fd) } }
    while out.count < n {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else {
            close(fd)
            throw XCTSkip("no free port")
        }
        fds.append(fd)
        out.append(Int(UInt16(bigEndian: addr.sin_port)))
    }
    return out
}

/// An executable of this package built next to the tests (`swift build --build-tests` builds them all);
/// the test is skipped, saying where it looked, when it is not there.
public func builtBinary(_ name: String) throws -> URL {
    var candidates: [URL] = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
    for b in Bundle.allBundles where b.bundleURL.pathExtension == "xctest" {
        candidates.append(b.bundleURL.deletingLastPathComponent())
    }
    candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
    for c in candidates {
        let u = c.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: u.path) { return u }
    }
    throw XCTSkip(
        "\(name) is not built next to the tests (looked in \(candidates.map(\.path))); `swift build --build-tests` builds it"
    )
}

/// What a finished command printed and how it ended.
public struct CommandRun: Sendable {
    public var status: Int32
    /// Standard output, and standard error too when `mergeErrors`.
    public var output: String
}

/// Runs `binary` to its end (killed after `timeout` s). The output is read while it runs, so a long one
/// cannot fill the pipe and stall the process.
public func runCommand(
    _ binary: URL, _ args: [String], timeout: Double = 60, mergeErrors: Bool = true
) throws -> CommandRun {
    let p = Process()
    p.executableURL = binary
    p.arguments = args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = mergeErrors ? pipe : FileHandle.nullDevice
    try p.run()
    let watchdog = DispatchWorkItem { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
    let out = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    watchdog.cancel()
    return CommandRun(status: p.terminationStatus, output: String(decoding: out, as: UTF8.self))
}

/// A copy of corridors/demo-5.yaml in a scratch folder with every peer and API address moved to a free
/// port, `extra` YAML (a `security:` block) appended, and a data folder per signal. The folder is
/// removed when this is released.
public final class TestCorridor: @unchecked Sendable {
    public static let signals = [1, 2, 3, 4, 5]
    public static let voters = [1, 3, 5]
    public let dir: URL
    public let path: String
    public private(set) var peerPorts: [Int: Int] = [:]
    public private(set) var apiPorts: [Int: Int] = [:]

    public init(security extra: String, name: String = "cluster") throws {
        dir = try temporaryFolder(nil, name)
        var yaml = try String(contentsOfFile: Repo.demoCorridor, encoding: .utf8)
        let ports = try freePorts(2 * Self.signals.count)
        for (k, s) in Self.signals.enumerated() {
            peerPorts[s] = ports[2 * k]
            apiPorts[s] = ports[2 * k + 1]
            yaml = yaml.replacingOccurrences(of: "127.0.0.1:720\(s)", with: "127.0.0.1:\(ports[2 * k])")
            yaml = yaml.replacingOccurrences(of: "127.0.0.1:820\(s)", with: "127.0.0.1:\(ports[2 * k + 1])")
        }
        if !yaml.hasSuffix("\n") { yaml += "\n" }
        path = dir.appendingPathComponent("corridor.yaml").path
        try (yaml + extra).write(toFile: path, atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(at: dir) }

    /// Signal `s`'s data folder (not created: the controller creates it).
    public func dataFolder(_ s: Int) -> URL { dir.appendingPathComponent("s\(s)") }
}
