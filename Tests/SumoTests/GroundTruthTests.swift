import Foundation
import SignalTiming
import XCTest

@testable import Sumo

/// The ground-truth file's format and the pieces of `GroundTruthProbe` that need no SUMO.
final class GroundTruthTests: XCTestCase {
    func testInstantLoopsStandBesideTheAdvanceLoops() {
        let l = LoopSpec(
            id: "L3.in3_1.adv", signal: SignalID(3), lane: "in3_1", phase: PhaseID(2), kind: .advance,
            metresBeforeStopLine: 45, vTypes: "car")
        XCTAssertEqual(
            GroundTruthProbe.instantLoopsXML([l], output: "/w/gt.xml"),
            "<additional>\n  <instantInductionLoop id=\"GT.L3.in3_1.adv\" lane=\"in3_1\" pos=\"-45\" friendlyPos=\"true\" file=\"/w/gt.xml\" vTypes=\"car\"/>\n</additional>\n"
        )
    }

    func testAPhasesLampFromItsLinks() {
        XCTAssertEqual(GroundTruthProbe.lamp("GGg"), "green")
        XCTAssertEqual(GroundTruthProbe.lamp("rg"), "green")
        XCTAssertEqual(GroundTruthProbe.lamp("yy"), "yellow")
        XCTAssertEqual(GroundTruthProbe.lamp("rr"), "red")
        XCTAssertEqual(GroundTruthProbe.lamp(""), "red")
        XCTAssertEqual(GroundTruthProbe.lamp("OO"), "O")
    }

    func testTheRecordsJSONKeys() throws {
        let r = GroundTruthRecord(
            referenceEpochMs: 1_735_669_800_000, stepMs: 500,
            arrivals: [
                GroundTruthArrival(
                    signal: 1, phase: 2, loop: "L1.x.adv", vehicle: "inc.7", sumoTimeS: 12.25,
                    epochMs: 1_735_669_812_250, lamp: "green")
            ],
            lampChanges: [GroundTruthLampChange(signal: 1, phase: 2, epochMs: 1_735_669_810_000, lamp: "green")])
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        XCTAssertEqual(
            String(decoding: try enc.encode(r), as: UTF8.self),
            #"{"arrivals":[{"epoch_ms":1735669812250,"lamp":"green","loop":"L1.x.adv","phase":2,"signal":1,"#
                + #""sumo_time_s":12.25,"vehicle":"inc.7"}],"format":"greenwave-sumo-ground-truth\/1","#
                + #""lamp_changes":[{"epoch_ms":1735669810000,"lamp":"green","phase":2,"signal":1}],"#
                + #""reference_epoch_ms":1735669800000,"step_ms":500}"#)
        XCTAssertEqual(try JSONDecoder().decode(GroundTruthRecord.self, from: try enc.encode(r)), r)
    }
}
