import Crypto
import RaftCore
import SignalTiming
import XCTest

@testable import CorridorMachine

/// The state machine keeps the mode line's plan events a horizon ahead (`cachedPlanEvents`, issue 19) instead
/// of walking the schedule from the baseline for every command. On the 47-signal corridor with its schedule,
/// over random commands spread across days (scheduled changes, overrides, holds, flashes, preemptions), the
/// timeline after every command is the one compiled from the uncached events, and the walks are far fewer
/// than the commands.
final class PlanEventsCacheTests: XCTestCase {
    func testCachedPlanEventsGiveTheTimelineTheUncachedOnesGive() throws {
        var d = Driver()
        d.m = try ScheduleCostTests.wehMachine()
        var rng = SplitMix64(seed: 0x504C_414E)
        let signals = d.m.corridor.signals.map(\.id)
        let plans = d.m.corridor.plans.map(\.id)
        var t = d.m.referenceEpochMs + 30 * 86_400_000 + 5 * 3_600_000
        var accepted = 0
        let commands = 400
        let walksBefore = d.m.planEventsWalks
        for k in 0..<commands {
            t += Int64(rng.below(k % 50 == 0 ? 14_400_000 : 120_000))
            let s = signals[Int(rng.below(signals.count))]
            let c: Command
            switch rng.below(10) {
            case 0: c = .setMode(plans[Int(rng.below(plans.count))])
            case 1, 2, 3: c = .hold(s, stage: nil)
            case 4, 5: c = .release(s)
            case 6: c = .flash(s)
            case 7: c = .unflash(s)
            default: c = .preempt(PreemptRequest(signals: [s], direction: .increasing))
            }
            // A client id is good for a while after it is created: a new one every 20 commands.
            let r = d.send(c, client: UInt64(k / 20 + 1), at: t)
            if case .accepted = r.result { accepted += 1 }
            let uncached = try CorridorTimeline(
                corridor: d.m.corridor, referenceEpochMs: d.m.referenceEpochMs, baseline: d.m.baseline,
                events: d.m.timelineEvents(through: d.m.timelineThroughMs))
            XCTAssertEqual(d.m.timeline.events, uncached.events, "command \(k): \(c)")
            // The state hash, with its cached event bytes, is SHA-256 of the whole encoding.
            XCTAssertEqual(d.m.stateHash, Array(SHA256.hash(data: d.m.encodedState())), "command \(k): \(c)")
            for q in [t, t + 61_000, t + 3_600_000] {
                XCTAssertEqual(d.m.timeline.state(of: s, at: q), uncached.state(of: s, at: q), "command \(k): \(c)")
            }
        }
        XCTAssertGreaterThan(accepted, commands / 4)
        XCTAssertGreaterThan(d.m.eventsCleared, 0, "history was compacted: the event bytes cache was reset")
        XCTAssertLessThan(d.m.planEventsWalks - walksBefore, commands / 2)
    }
}
