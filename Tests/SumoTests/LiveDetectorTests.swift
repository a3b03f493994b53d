import CorridorFile
import Foundation
import SignalTiming
import XCTest

@testable import Sumo

/// Live mode's detector inputs (LiveDetectors.swift): which of SUMO's loops feed which detector channel,
/// and what is sent each step (only changes; every channel on the first step).
final class LiveDetectorTests: XCTestCase {
    func loop(_ id: String, _ phase: Int, _ kind: LoopKind) -> LoopSpec {
        LoopSpec(
            id: id, signal: SignalID(3), lane: "x_0", phase: PhaseID(phase), kind: kind,
            metresBeforeStopLine: kind == .stopBar ? 3 : 45, vTypes: nil)
    }

    /// The default detectors (one per phase, channel = phase number, calling and extending) read every loop
    /// of their phase; a phase with no loops has its channel left out (never sent: it stays absent).
    func testDefaultDetectorsReadEveryLoopOfTheirPhase() throws {
        let doc = try CorridorFile.parse(
            yaml: try String(contentsOfFile: corridorPath("demo-5.yaml"), encoding: .utf8)
                + "actuated:\n  control: actuated\n", file: "demo-5.yaml")
        let detectors = try XCTUnwrap(doc.actuatedDetectors[SignalID(3)])
        XCTAssertEqual(doc.actuatedDetectors.count, 5)
        XCTAssertEqual(detectors.map(\.id), [2, 6, 1, 5, 4, 8])
        let loops = [
            loop("a.stop", 2, .stopBar), loop("a.adv", 2, .advance), loop("b.stop", 2, .stopBar),
            loop("w.stop", 4, .stopBar), loop("w.adv", 4, .advance), loop("t.stop", 5, .stopBar)
        ]
        let fed = LoopFeed.channels(loops: loops, detectors: detectors)
        XCTAssertEqual(fed.map(\.channel), [2, 4, 5])
        XCTAssertEqual(fed[0].loops, ["a.stop", "a.adv", "b.stop"])
        XCTAssertEqual(fed[1].loops, ["w.stop", "w.adv"])
        XCTAssertEqual(fed[2].loops, ["t.stop"])
    }

    /// Detectors with roles: stop-bar loops feed the calling ones, advance loops the extend-only ones.
    func testStopBarAndAdvanceLoopsFeedTheirRoles() {
        let detectors = [
            DetectorConfig(id: 10, phase: PhaseID(4), calls: true, extends: true),
            DetectorConfig(id: 11, phase: PhaseID(4), calls: false, extends: true),
            DetectorConfig(id: 12, phase: PhaseID(8), calls: true, extends: false)
        ]
        let loops = [
            loop("w.stop", 4, .stopBar), loop("w.adv", 4, .advance), loop("e.stop", 8, .stopBar),
            loop("e.adv", 8, .advance)
        ]
        let fed = LoopFeed.channels(loops: loops, detectors: detectors)
        XCTAssertEqual(fed.map(\.channel), [10, 11, 12])
        XCTAssertEqual(fed[0].loops, ["w.stop"])
        XCTAssertEqual(fed[1].loops, ["w.adv"])
        // Phase 8 has no extending detector: its advance loop falls back to its only one.
        XCTAssertEqual(fed[2].loops, ["e.stop", "e.adv"])
    }

    /// Every channel on the first step, then only the channels that changed; a signal whose channels did not
    /// change sends nothing; a channel is on while any of its loops was occupied during the step.
    func testOnlyChangesAreSent() {
        let detectors: [SignalID: [DetectorConfig]] = [
            SignalID(3): [DetectorConfig(id: 2, phase: PhaseID(2)), DetectorConfig(id: 4, phase: PhaseID(4))]
        ]
        var feed = DetectorFeed(
            detectors: detectors,
            loops: [
                SignalID(3): [loop("a.stop", 2, .stopBar), loop("a.adv", 2, .advance), loop("w.stop", 4, .stopBar)]
            ])
        XCTAssertEqual(feed.loopIDs, ["a.stop", "a.adv", "w.stop"])
        let off = LoopValues(vehicles: 0, occupancyPercent: 0)
        let on = LoopValues(vehicles: 1, occupancyPercent: 40)
        let s = SignalID(3)
        var r = feed.step(["a.stop": off, "a.adv": off, "w.stop": off])
        XCTAssertEqual(r.changes[s], [2: false, 4: false], "first step: every channel")
        r = feed.step(["a.stop": off, "a.adv": off, "w.stop": off])
        XCTAssertNil(r.changes[s])
        XCTAssertEqual(r.readings[s], [2: false, 4: false])
        r = feed.step(["a.stop": off, "a.adv": on, "w.stop": off])
        XCTAssertEqual(r.changes[s], [2: true])
        r = feed.step(["a.stop": on, "a.adv": off, "w.stop": off])
        XCTAssertNil(r.changes[s], "still on: another loop of the channel")
        r = feed.step(["w.stop": on])
        XCTAssertEqual(r.changes[s], [2: false, 4: true], "a loop without a reading reads off")
        XCTAssertEqual(
            String(decoding: DetectorFeed.body([4: true, 2: false]), as: UTF8.self),
            #"{"detectors": {"2": "off", "4": "on"}}"#)
    }
}
