import Foundation
import GreenwaveAPI
import GreenwaveTestSupport
import SignalTiming
import Storage
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Real processes (issue 20): the demo corridor with signal 3 actuated. Its detectors are driven through
/// `PUT /v1/detectors` on its own API; a call on phase 4 is served; the detector events, the green and its
/// end are in its lamp event log, and `greenwave audit at` explains the green from that log.
final class ActuatedClusterTests: XCTestCase {
    func put(_ c: LocalCluster, _ s: Int, _ body: String) async -> (Int, String)? {
        var req = URLRequest(url: URL(string: "http://127.0.0.1:\(c.apiPorts[s]!)/v1/detectors")!)
        req.httpMethod = "PUT"
        req.httpBody = Data(body.utf8)
        req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        guard let (data, resp) = try? await c.session.data(for: req), let http = resp as? HTTPURLResponse else {
            return nil
        }
        return (http.statusCode, String(decoding: data, as: UTF8.self))
    }

    func testActuatedSignalServesADetectorCallAndLogsIt() async throws {
        let c = try LocalCluster(extraYAML: "actuated:\n  signals:\n    3: { control: actuated }\n")
        try c.startAll()
        let leader = await c.waitForLeader(timeout: 30)
        XCTAssertNotNil(leader)
        // Its coordinated phases run (after the start-up flash and the flash-exit red).
        var running = false
        for _ in 0..<300 {
            if let l = await c.status(3)?.lamps, l.lamps["2"] == "green" {
                running = true
                break
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        XCTAssertTrue(running, "signal 3's dual ring shows phase 2 green")
        // The card: every detector off; a fixed-time signal has no detector inputs; hostile bodies refused.
        let off = #"{"detectors": {"1": "off", "2": "off", "4": "off", "5": "off", "6": "off", "8": "off"}}"#
        let set = await put(c, 3, off)
        XCTAssertEqual(set?.0, 200, set?.1 ?? "no answer")
        let fixed = await put(c, 2, off)
        XCTAssertEqual(fixed?.0, 404)
        let bad = await put(c, 3, #"{"detectors": {"3": "on"}}"#)
        XCTAssertEqual(bad?.0, 400)
        XCTAssertTrue(bad?.1.contains("no detector 3") == true, bad?.1 ?? "")
        let large = await put(c, 3, String(repeating: "x", count: 5_000))
        XCTAssertEqual(large?.0, 413)
        try await Task.sleep(nanoseconds: 2_000_000_000)
        // A vehicle on detector 4 for a second.
        let calledAt = Int64(Date().timeIntervalSince1970 * 1000)
        let onAnswer = await put(c, 3, #"{"detectors": {"4": "on"}}"#)
        XCTAssertEqual(onAnswer?.0, 200)
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let offAnswer = await put(c, 3, #"{"detectors": {"4": "off"}}"#)
        XCTAssertEqual(offAnswer?.0, 200)
        var served = false
        for _ in 0..<600 {
            if let l = await c.status(3)?.lamps, l.lamps["4"] == "green" {
                served = true
                break
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        XCTAssertTrue(served, "phase 4 served within a cycle of its call")
        try await Task.sleep(nanoseconds: 12_000_000_000) // its min green, gap-out, yellow
        for s in c.signals { if let p = c.processes[s] { kill(p.processIdentifier, SIGTERM) } }
        for s in c.signals { c.processes[s]?.waitUntilExit() }
        let data = c.dir.appendingPathComponent("s3").path
        let store = try RaftStore(directory: data)
        let events = try store.lampEvents(signalID: "3", from: .min, to: .max)
        try store.close()
        func at(_ code: Int, _ param: Int) -> [Int64] {
            events.filter { $0.eventCode == Int64(code) && $0.parameter == Int64(param) }.map(\.timeMs)
        }
        let on = try XCTUnwrap(at(HiResEventCode.detectorOn, 4).first, "82 for detector 4 in the lamp log")
        XCTAssertGreaterThanOrEqual(on, calledAt - 1_000)
        XCTAssertEqual(at(HiResEventCode.detectorOff, 4).count, 1)
        XCTAssertFalse(at(HiResEventCode.detectorFaultWatchdog, 4).isEmpty, "85: absent until the card spoke")
        XCTAssertFalse(at(HiResEventCode.detectorRestored, 4).isEmpty, "83: restored when it did")
        let green = try XCTUnwrap(at(HiResEventCode.phaseBeginGreen, 4).last { $0 > on })
        XCTAssertFalse(at(HiResEventCode.phaseGapOut, 4).filter { $0 > green }.isEmpty, "ended by gap-out (4)")
        // The audit explains it from the lamp log.
        let (code, out) = try c.runCommand([
            "audit", "at", "--data", data, "--signal", "3", "--time", "\(green + 1_000)"
        ])
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("actuated:"), out)
        XCTAssertTrue(out.contains("phase 4: last green from"), out)
        XCTAssertTrue(out.contains("detector 4: off since"), out)
    }
}
