import CorridorFile
import Foundation
import GreenwaveAPI
import GreenwaveTestSupport
import SignalTiming
import Storage
import XCTest

@testable import Controller

/// An actuated signal's lamp driver in-process (issue 20): the dual ring on the fake clock, a detector call
/// through its `DetectorPanel`, the phase served, every event in the driver's lamp event log, and the
/// `PUT /v1/detectors` body check.
final class ActuatedLampTests: XCTestCase {
    func testActuatedLampDriverServesACallAndLogsItsEvents() async throws {
        let c = try ShellCluster(voters: [1])
        let driver = c.drivers[1]!
        let signal = try XCTUnwrap(c.document.corridor.signals.first { $0.id == SignalID(1) })
        let mapped = try ActuatedCorridor.signal(
            0, of: c.document.corridor, settings: ActuatedSettings(control: .actuated))
        let lamps = LampDriver(
            signal: signal, corridor: c.document.corridor, driver: driver, clock: c.clocks[1]!,
            periodMs: 1_000, logger: c.logger, startupFlashMs: 3_000, actuated: mapped)
        let panel = try XCTUnwrap(lamps.detectors)
        // A card that reports: every detector off.
        try panel.set(
            detectors: Dictionary(uniqueKeysWithValues: mapped.detectors.map { ($0.id, .off) }), pushButtons: [:])
        let stream = await lamps.subscribe()
        let collected = Task {
            var out: [LampUpdate] = []
            for await u in stream { out.append(u) }
            return out
        }
        let consumer = Task { await lamps.events.deliver { await driver.recordLampEvents($0) } }
        let run = Task { await lamps.run() }
        func advance(_ seconds: Int) async throws {
            for _ in 0..<(seconds * 2) {
                c.time.advance(ms: 500)
                driver.appliedSignal.notify()
                try await Task.sleep(nanoseconds: 2_000_000)
            }
        }
        try await advance(100)
        try panel.set(detectors: [4: .on], pushButtons: [:])
        try await advance(1)
        try panel.set(detectors: [4: .off], pushButtons: [:])
        try await advance(100)
        await lamps.stop()
        await run.value
        await consumer.value
        await lamps.closeStreams()
        let updates = await collected.value
        XCTAssertTrue(updates.allSatisfy { $0.monitorFault == nil }, "the monitor never trips")
        let recorded = await driver.lampEventsPending()
        func at(_ code: Int, _ param: Int) -> [Int64] {
            recorded.filter { $0.eventCode == Int64(code) && $0.parameter == Int64(param) }.map(\.timeMs)
        }
        XCTAssertEqual(at(HiResEventCode.powerRestored, 0).count, 1)
        let on = try XCTUnwrap(at(HiResEventCode.detectorOn, 4).first, "82 for detector 4 in the lamp log")
        XCTAssertEqual(at(HiResEventCode.detectorOff, 4).count, 1)
        let greens4 = at(HiResEventCode.phaseBeginGreen, 4)
        XCTAssertEqual(greens4.filter { $0 < on }, [], "phase 4 not served before its call")
        XCTAssertEqual(greens4.count, 1, "served once for one call")
        XCTAssertLessThan(greens4[0] - on, 90_000, "within a cycle")
        XCTAssertEqual(at(HiResEventCode.phaseGapOut, 4).count, 1, "and gapped out (4)")
        XCTAssertFalse(at(HiResEventCode.phaseBeginGreen, 2).isEmpty)
        XCTAssertTrue(updates.contains { $0.lamps["4"] == "green" })
        XCTAssertEqual(recorded.map(\.timeMs), recorded.map(\.timeMs).sorted(), "in time order")
    }

    /// The body of `PUT /v1/detectors`: readings by channel, refusals with a reason, bounded.
    func testDetectorBodiesAreChecked() throws {
        func parse(_ s: String) -> Result<([Int: DetectorReading], [Int: Bool]), TimingError> {
            HTTPAPI.parseDetectors(Data(s.utf8))
        }
        guard
            case .success(let (d, b)) = parse(
                #"{"detectors": {"4": "on", "8": "open_loop"}, "push_buttons": {"4": true}}"#)
        else { return XCTFail("a good body") }
        XCTAssertEqual(d, [4: .on, 8: .openLoop])
        XCTAssertEqual(b, [4: true])
        let bad: [(String, String)] = [
            (#"{"detectors": {"65": "on"}}"#, "is not 1...64"),
            (#"{"detectors": {"0": "on"}}"#, "is not 1...64"),
            (#"{"detectors": {"-1": "on"}}"#, "is not 1...64"),
            (#"{"detectors": {"4": "green"}}"#, "reading 'green' is not one of"),
            (#"{"detectors": {"4": 1}}"#, "malformed detector JSON"),
            (#"[1, 2]"#, "malformed detector JSON"),
            ("not json", "malformed detector JSON"),
            (#"{"push_buttons": {"x": true}}"#, "push button channel 'x'")
        ]
        for (body, needle) in bad {
            guard case .failure(let e) = parse(body) else {
                XCTFail("accepted \(body)")
                continue
            }
            XCTAssertTrue(e.message.contains(needle), "\(body): \(e.message)")
        }
        let many = (1...129).map { "\"\($0)\": \"on\"" }.joined(separator: ", ")
        guard case .failure(let e) = parse("{\"detectors\": {\(many)}}") else { return XCTFail("129 entries") }
        XCTAssertTrue(e.message.contains("exceed 128"), e.message)
        // A panel refuses a channel it does not have, all or nothing.
        let panel = DetectorPanel(detectors: [DetectorConfig(id: 4, phase: PhaseID(4))], pushButtons: [])
        XCTAssertThrowsError(try panel.set(detectors: [4: .on, 5: .on], pushButtons: [:]))
        XCTAssertEqual(panel.current().detectors, [4: .absent], "nothing set by a refused request")
        // A pulse between two samples is seen once.
        try panel.set(detectors: [4: .on], pushButtons: [:])
        try panel.set(detectors: [4: .off], pushButtons: [:])
        XCTAssertEqual(panel.sample().detectors, [.on])
        XCTAssertEqual(panel.sample().detectors, [.off])
    }
}
