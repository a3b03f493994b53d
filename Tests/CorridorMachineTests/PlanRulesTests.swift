import CorridorFile
import CorridorMachine
import Foundation
import SignalTiming
import XCTest

/// One owner per plan rule (`PlanRules`): the corridor file and the state machine's plan updates refuse a
/// broken plan by the same rule in the same words, the file in seconds and the machine in ms.
final class PlanRulesTests: XCTestCase {
    static let demoText: String = {
        (try? String(contentsOfFile: Fixture.repoRoot + "/corridors/demo-5.yaml", encoding: .utf8)) ?? ""
    }()
    let progression = Progression(speedKmh: 40, favoured: .increasing, favouredBandPercent: 50)

    /// The corridor file's message for the demo corridor with `old` replaced by `new`.
    func fileMessage(_ old: String, _ new: String) -> String? {
        XCTAssertTrue(Self.demoText.contains(old), "the demo corridor changed: \(old)")
        do {
            _ = try CorridorFile.parse(yaml: Self.demoText.replacingOccurrences(of: old, with: new), file: "demo.yaml")
            return nil
        } catch let e as CorridorFileError {
            return e.message
        } catch {
            return "\(error)"
        }
    }

    /// The state machine's refusal of `spec` as a plan update.
    func machineReason(_ spec: PlanSpec) -> String? {
        var d = Driver()
        return d.send(.updatePlan(spec), at: Fixture.t0).result?.reason
    }

    func spec(splits: [String: Int64], cycleMs: Int64 = 90_000, offsets: [Int: Int64]? = nil) -> PlanSpec {
        var s = PlanSpec(
            name: "normal2", cycleMs: cycleMs, coordinatedStage: "main", splitsMs: splits, progression: progression)
        s.offsetsMs = offsets
        return s
    }

    func ms(_ v: Int64) -> String { "\(v) ms" }
    func s(_ v: Int64) -> String { "\(fmt(v)) s" }

    func testSplitsThatDoNotFillTheCycleAreRefusedInOneWording() {
        let p = PlanRules.splits([55_000, 16_000, 24_000], fill: 90_000)
        XCTAssertEqual(p, .splitsOverrunCycle(totalMs: 95_000, cycleMs: 90_000))
        XCTAssertEqual(
            machineReason(spec(splits: ["main": 55_000, "main-turn": 16_000, "side": 24_000])),
            "plan 'normal2': " + p!.message(time: ms))
        XCTAssertEqual(
            fileMessage(
                "splits_s: { main: 50, main-turn: 16, side: 24 }", "splits_s: { main: 55, main-turn: 16, side: 24 }"),
            p!.message(time: s))
        XCTAssertEqual(p!.message(time: s), "splits sum to 95 s, overrunning the cycle of 90 s by 5 s")
        let under = PlanRules.splits([45_000, 16_000, 24_000], fill: 90_000)
        XCTAssertEqual(under?.message(time: s), "splits sum to 85 s, 5 s short of the cycle of 90 s")
        XCTAssertNil(PlanRules.splits([50_000, 16_000, 24_000], fill: 90_000))
    }

    func testASplitBelowItsStagesMinimumIsRefusedInOneWording() throws {
        let signal = Fixture.corridor.signals[0]
        let k = try XCTUnwrap(signal.stages.firstIndex { $0.name == "main-turn" })
        let p = try XCTUnwrap(PlanRules.split(signal.stageMinSplitMs[k] - 1, stage: k, of: signal))
        XCTAssertNil(PlanRules.split(signal.stageMinSplitMs[k], stage: k, of: signal))
        let short = fmt(signal.stageMinSplitMs[k] - 1)
        let rest = fmt(90_000 - 50_000 - signal.stageMinSplitMs[k] + 1)
        XCTAssertEqual(
            fileMessage(
                "splits_s: { main: 50, main-turn: 16, side: 24 }",
                "splits_s: { main: 50, main-turn: \(short), side: \(rest) }"),
            p.message(time: s))
        XCTAssertEqual(
            machineReason(
                spec(splits: [
                    "main": 50_000, "main-turn": signal.stageMinSplitMs[k] - 1,
                    "side": 90_000 - 50_000 - signal.stageMinSplitMs[k] + 1
                ])),
            "plan 'normal2': " + p.message(time: ms))
        XCTAssertTrue(
            p.message(time: s).hasPrefix("split \(short) s of stage 'main-turn' is below min green"), p.message(time: s)
        )
    }

    func testAnOffsetOutsideTheCycleIsRefusedInOneWording() {
        XCTAssertNil(PlanRules.offset(0, of: SignalID(3), cycleMs: 90_000))
        XCTAssertNil(PlanRules.offset(89_999, of: SignalID(3), cycleMs: 90_000))
        XCTAssertNotNil(PlanRules.offset(-1, of: SignalID(3), cycleMs: 90_000))
        let p = PlanRules.offset(90_000, of: SignalID(3), cycleMs: 90_000)!
        XCTAssertEqual(p.message(time: s), "offset 90 s of signal 3 is not in 0..<cycle 90 s")
        XCTAssertEqual(
            machineReason(
                spec(
                    splits: ["main": 50_000, "main-turn": 16_000, "side": 24_000],
                    offsets: [1: 0, 2: 0, 3: 90_000, 4: 0, 5: 0])),
            "plan 'normal2': " + p.message(time: ms))
        XCTAssertEqual(
            fileMessage(
                "    progression: { speed_kmh: 40, favour: northbound, favour_band_percent: 50 }\n  - name: rush-hour",
                "    progression: { speed_kmh: 40, favour: northbound, favour_band_percent: 50 }\n    offsets_s: { 1: 0, 2: 0, 3: 90, 4: 0, 5: 0 }\n  - name: rush-hour"
            ),
            p.message(time: s))
    }

    /// Splits near Int64.max in a signed plan update: refused as overrunning the cycle, not a trap on every
    /// replica (their sum used to overflow).
    func testHugeSplitsAreRefusedNotTrapped() {
        let huge = Int64.max - 1
        XCTAssertEqual(
            PlanRules.splits([huge, huge, huge], fill: 90_000), .splitsOverrunCycle(totalMs: .max, cycleMs: 90_000))
        let reason = machineReason(spec(splits: ["main": huge, "main-turn": huge, "side": huge]))
        XCTAssertEqual(
            reason,
            "plan 'normal2': splits sum to \(Int64.max) ms, overrunning the cycle of 90000 ms by \(Int64.max - 90_000) ms"
        )
    }

    func testAnUnknownStageIsRefusedInOneWording() {
        let names = ["main", "main-turn", "side"]
        XCTAssertNil(PlanRules.stages(["side", "main"], of: names))
        let p = PlanRules.stages(["main", "bus", "tram"], of: names)
        XCTAssertEqual(p, .unknownStage("bus", stages: names))
        XCTAssertEqual(
            machineReason(spec(splits: ["main": 50_000, "main-turn": 16_000, "side": 24_000, "bus": 0])),
            "plan 'normal2': " + p!.message(time: ms))
        XCTAssertEqual(
            fileMessage(
                "splits_s: { main: 50, main-turn: 16, side: 24 }",
                "splits_s: { main: 50, main-turn: 16, side: 24, bus: 0 }"),
            p!.message(time: s))
    }
}
