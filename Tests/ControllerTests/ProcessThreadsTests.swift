import Console
import Controller
import Foundation
import GreenwaveAPI
import XCTest

/// Issue 19, "fewer threads per process": with `GREENWAVE_EVENT_LOOP=one` a `greenwave controller` process
/// runs its API, its peer transport and its tasks on one event loop (`ProcessThreads`, opt-in), and works
/// as before on it; without it, the default pools.
final class ProcessThreadsTests: XCTestCase {
    private func threads(_ p: Process) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(p.processIdentifier)/task").count) ?? 0
    }

    /// Elects a leader, commits one mode command through a learner and waits until all five applied it.
    private func commitOne(_ c: LocalCluster) async throws {
        guard await c.waitForLeader() != nil else { return XCTFail("no leader elected:\n\(c.log(1))") }
        let r = CommandRequest(
            operator: "test", clientID: ConsoleClient.newClientID(), sequence: 1, type: "mode", plan: "night")
        var answer = await c.command(2, r)
        let retryUntil = Date().addingTimeInterval(10)
        while (answer == nil || answer?.0 == 503) && Date() < retryUntil {
            try await Task.sleep(nanoseconds: 100_000_000)
            answer = await c.command(2, r)
        }
        guard let (code, body) = answer, code == 200, let index = body?.index else {
            return XCTFail("the command did not commit: \(String(describing: answer))\n\(c.log(2))")
        }
        let applied = await c.waitApplied(index, on: c.signals)
        XCTAssertNotNil(applied, "not applied on every replica")
        XCTAssertEqual(Set(applied?.values.map(\.stateHash) ?? []).count, 1, "replicas disagree")
    }

    func testAControllerRunsOnOneEventLoopAndFewerThreadsThanOnTheDefaultPools() async throws {
        // One cluster after the other: ten controllers at once on two cores are a load test, not this one.
        let one = try LocalCluster()
        for s in one.signals { try one.start(s, environment: [ProcessThreads.environmentVariable: "one"]) }
        try await commitOne(one)
        let oneThreads = one.signals.map { threads(one.processes[$0]!) }
        for s in one.signals { one.kill9(s) }
        let pools = try LocalCluster()
        try pools.startAll()
        try await commitOne(pools)
        let poolThreads = pools.signals.map { threads(pools.processes[$0]!) }
        XCTAssertTrue(one.log(1).contains("threads=one event loop"), one.log(1))
        XCTAssertTrue(pools.log(1).contains("threads=default pools"), pools.log(1))
        // Main, the loop, the writer queue and a few Dispatch workers (6 measured).
        XCTAssertLessThanOrEqual(oneThreads.max() ?? 99, 8, "\(oneThreads)")
        XCTAssertLessThan(
            oneThreads.max() ?? 99, poolThreads.min() ?? 0, "one loop \(oneThreads), pools \(poolThreads)")
    }
}
