import Foundation
import GreenwaveTestSupport
import XCTest

/// Issue 18: a corridor on a real network. Three `greenwave controller` processes, each in its own Linux
/// network namespace with its own address (10.77.0.1-3, all on peer port 7000 and API port 8000: the
/// field layout) named in the corridor file by a DNS name (resolved through each namespace's own
/// /etc/hosts), mutual TLS between them, the "field" link profile (20 ± 5 ms one way, 1 % loss) from
/// `tools/netns`. The check partitions the leader away (the majority must elect another and commit, the
/// cut-off one must not apply it), heals (it must catch up to the same applied index and state hash), and
/// drops one direction of a leader-follower link (commands must still commit, and all agree after healing).
///
/// It shells out to `tools/netns check`, which prints one line per step and keeps the state folder and the
/// controllers' logs of a failed run. Skipped, with the reason, where namespaces, veth pairs or the
/// iptables NFQUEUE target are not available (not root, no iproute2 or iptables; .ci/run installs both).
final class NetnsClusterTests: XCTestCase {
    func testPartitionedLeaderAndOneWayLinkOnNamespacedHosts() throws {
        let binary = try builtBinary("greenwave")
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let tool = repo.appendingPathComponent("tools/netns")
        // A prefix of this process's own, so that two test runs on one machine never share namespaces.
        let prefix = "gwt\(getpid() % 100_000)"
        // Whatever happens to the tool (even a kill -9), remove what carries the prefix.
        defer { _ = try? runTool(["python3", tool.path, "--prefix", prefix, "cleanup"], seconds: 60) }
        let (status, text) = try runTool(
            [
                "python3", tool.path, "--prefix", prefix, "check", "--binary", binary.path,
                "--corridor", repo.appendingPathComponent("corridors/demo-5.yaml").path
            ], seconds: 150)
        print(text)
        guard let status else { return XCTFail("tools/netns check did not finish within 150 s:\n\(text)") }
        if status == 3 {
            throw XCTSkip(text.split(separator: "\n").first { $0.contains("skipped") }.map(String.init) ?? "skipped")
        }
        XCTAssertEqual(status, 0, "tools/netns check failed:\n\(text)")
        // The steps that must have run and passed (a check that silently did nothing must not pass).
        for step in [
            "a leader among 3 hosts", "a command commits and is applied on all 3", "leads the majority",
            "commits on the majority while", "has not applied it", "catches up: one applied index and state hash",
            "a command still commits", "after healing the one-way partition, all 3 agree"
        ] {
            XCTAssertTrue(
                text.split(separator: "\n").contains { $0.hasPrefix("netns check: ok: ") && $0.contains(step) },
                "step '\(step)' did not pass:\n\(text)")
        }
        XCTAssertFalse(text.contains("FAILED"), text)
        // Nothing left behind.
        let (_, left) = try runTool(["ip", "netns", "list"], seconds: 30)
        XCTAssertFalse(left.contains("\(prefix)-"), "namespaces left behind:\n\(left)")
    }
}

/// Runs `args` (through /usr/bin/env) with output collected; nil status when it did not finish within
/// `seconds` (it is then sent SIGTERM, which the tools turn into their teardown, and waited for).
func runTool(_ args: [String], seconds: TimeInterval) throws -> (Int32?, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    // Read while it runs (a full pipe would block it), with a deadline that still fails on a hang.
    let collected = OutputCollector(out.fileHandleForReading)
    let deadline = Date().addingTimeInterval(seconds)
    while p.isRunning && Date() < deadline { usleep(100_000) }
    if p.isRunning {
        p.terminate()
        p.waitUntilExit()
        return (nil, collected.text())
    }
    p.waitUntilExit()
    return (p.terminationStatus, collected.text())
}

/// Collects a pipe's output on a background thread.
final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.withLock { data.append(chunk) }
            }
            done.signal()
        }
    }

    func text() -> String {
        _ = done.wait(timeout: .now() + 2)
        return lock.withLock { String(decoding: data, as: UTF8.self) }
    }
}
