import CorridorFile
import Foundation
import SignalTiming
import XCTest

/// `greenwave corridor optimize` as an engineer runs it: bands printed, offsets written into a copy of the
/// corridor file that loads back with exactly those offsets and the bands the optimiser promised.
final class CorridorOptimizeCLITests: XCTestCase {
    func testOptimizeWritesOffsetsThatLoadBackAndMeasureTheBands() throws {
        let c = try LocalCluster()
        let out = c.dir.appendingPathComponent("optimized.yaml").path
        let (code, text) = try c.runCommand([
            "corridor", "optimize", c.corridorPath, "--plan", "normal", "--json", "--write", out
        ])
        XCTAssertEqual(code, 0, text)
        let json = try XCTUnwrap(
            text.split(separator: "\n").drop { !$0.hasPrefix("{") }.joined(separator: "\n").data(using: .utf8))
        struct Out: Decodable {
            struct Section: Decodable {
                var increasingBandS: Double
                var decreasingBandS: Double
            }
            var sections: [Section]
        }
        let result = try JSONDecoder().decode(Out.self, from: json)
        XCTAssertEqual(result.sections.count, 1)
        let promised = try XCTUnwrap(result.sections.first)
        XCTAssertGreaterThan(promised.increasingBandS, 0)
        XCTAssertEqual(promised.increasingBandS, promised.decreasingBandS, "50 % each way")
        // The written file: valid, the plan's offsets replaced, the bands measured at the plan's speed.
        let doc = try CorridorFile.load(path: out)
        let plan = try XCTUnwrap(doc.corridor.plans.first { $0.id.rawValue == "normal" })
        let inc = try XCTUnwrap(doc.corridor.bandwidth(plan: plan, direction: .increasing))
        let dec = try XCTUnwrap(doc.corridor.bandwidth(plan: plan, direction: .decreasing))
        XCTAssertGreaterThanOrEqual(Double(inc.widthMs) / 1000, promised.increasingBandS)
        XCTAssertGreaterThanOrEqual(Double(dec.widthMs) / 1000, promised.decreasingBandS)
        XCTAssertTrue(try String(contentsOfFile: out, encoding: .utf8).contains("offsets_s: { 1: 0,"))
        // Bad input: an unknown plan and a speed range out of bounds are refused with a reason.
        let (badPlan, badText) = try c.runCommand(["corridor", "optimize", c.corridorPath, "--plan", "nope"])
        XCTAssertNotEqual(badPlan, 0)
        XCTAssertTrue(badText.contains("no plan 'nope'"), badText)
        let (badRange, rangeText) = try c.runCommand(["corridor", "optimize", c.corridorPath, "--speed-range", "90"])
        XCTAssertNotEqual(badRange, 0)
        XCTAssertTrue(rangeText.contains("--speed-range"), rangeText)
    }
}
