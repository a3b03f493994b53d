import Foundation
import SignalTimingSimulation
import XCTest

@testable import SignalTiming

/// Seeded random junctions, plans and call patterns with pedestrians, detector faults, preemptions
/// and plan changes (`ActuatedHistories`): the conflict monitor (dual ring and pedestrian heads)
/// never trips, every end of green carries one reason, a failed detector's phase never gaps out,
/// and coordination never loses step by itself.
///
/// Reproduce a failure with `GREENWAVE_SEED=<seed> swift test --filter ActuatedPropertyTests`.
final class ActuatedPropertyTests: XCTestCase {
    static let cases = 2_000
    static let durationMs: Milliseconds = 300_000

    func testRandomCallPatternsNeverTripTheMonitor() throws {
        if let env = ProcessInfo.processInfo.environment["GREENWAVE_SEED"], let seed = UInt64(env) {
            let r = try ActuatedHistories.run(seed: seed, durationMs: Self.durationMs)
            XCTAssertEqual(r.monitorFaults, [], "seed \(seed)")
            XCTAssertEqual(r.violations, [], "seed \(seed)")
            return
        }
        var total = ActuatedHistoryResult(seed: 0)
        for i in 0..<Self.cases {
            let seed = 0x6163_7475_6174_6564 &+ UInt64(i) &* 0x9E37_79B9
            let r = try ActuatedHistories.run(seed: seed, durationMs: Self.durationMs)
            XCTAssertEqual(r.monitorFaults, [], "seed \(seed)")
            XCTAssertEqual(r.violations, [], "seed \(seed)")
            if !r.ok { break }
            total.steps += r.steps
            total.lampChanges += r.lampChanges
            total.zerosInStep += r.zerosInStep
            total.planChanges += r.planChanges
            for (k, v) in r.counts { total.counts[k, default: 0] += v }
        }
        let c = total.counts
        print(
            "actuated histories: \(Self.cases), steps \(total.steps), lamp changes \(total.lampChanges), gap-outs \(c[4] ?? 0), max-outs \(c[5] ?? 0), force-offs \(c[6] ?? 0), walks \(c[21] ?? 0), detector faults \((84...88).reduce(0) { $0 + (c[$1] ?? 0) }), preemptions \(c[105] ?? 0), plan changes \(total.planChanges), local zeros in step \(total.zerosInStep)"
        )
        // The generator must reach every path it claims to test.
        for (code, what) in [
            (4, "gap-outs"), (5, "max-outs"), (6, "force-offs"), (21, "walks"), (22, "pedestrian clearances"),
            (84, "stuck detectors"), (85, "absent detectors"), (105, "preemptions"), (107, "preemption dwells"),
            (131, "plan changes")
        ] {
            XCTAssertGreaterThan(c[code] ?? 0, 50, what)
        }
        XCTAssertGreaterThan(total.zerosInStep, 2_000)
    }

    func testHistoriesAreDeterministic() throws {
        for i in 0..<20 {
            let seed = UInt64(1_000 + i)
            let a = try ActuatedHistories.run(seed: seed, durationMs: 300_000)
            let b = try ActuatedHistories.run(seed: seed, durationMs: 300_000)
            XCTAssertEqual(a.digest, b.digest, "seed \(seed)")
            XCTAssertEqual(a.lampChanges, b.lampChanges)
        }
        let x = try ActuatedHistories.run(seed: 1, durationMs: 300_000)
        let y = try ActuatedHistories.run(seed: 2, durationMs: 300_000)
        XCTAssertNotEqual(x.digest, y.digest)
    }
}
