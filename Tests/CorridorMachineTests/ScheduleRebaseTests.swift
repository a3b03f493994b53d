import CorridorFile
import Foundation
import SignalTiming
import XCTest

@testable import CorridorMachine

/// The schedule baseline is exact: a machine that rebases at every command, and a replica cut off since
/// genesis that rebases locally (`timeline(through:from:)`), show the same lamps as the full replay of the
/// schedule from the reference epoch, at every change and at sampled instants over ten days (weekdays, a
/// Sunday and their nights).
final class ScheduleRebaseTests: XCTestCase {
    func testRebasedTimelinesShowTheLampsOfTheFullReplay() throws {
        let genesis = try ScheduleMachineTests.machine()
        let start = ScheduleMachineTests.ist("2025-01-08", "04:00")
        let end = start + 10 * 86_400_000
        // The full replay from the epoch, as before the rebase.
        let full = try CorridorTimeline(
            corridor: genesis.corridor, referenceEpochMs: genesis.referenceEpochMs, baseline: genesis.baseline,
            events: genesis.modeLine.planEvents(through: end + 86_400_000))
        var a = Driver()
        a.m = genesis
        var b = Driver()
        b.m = genesis
        var fullCursors = genesis.corridor.signals.map { full.cursor(of: $0.id, at: start) }
        var rebases = 0
        var compared = 0
        var t = start
        var k: UInt64 = 0
        while t < end {
            k += 1
            let baselineBefore = a.m.baseline
            XCTAssertEqual(a.send(.release(SignalID(1)), client: k, at: t).result?.code, .notHeld)
            XCTAssertEqual(b.send(.release(SignalID(1)), client: k, at: t).stateHash, a.m.stateHash)
            if a.m.baseline != baselineBefore { rebases += 1 }
            let local = try genesis.timeline(through: t + CorridorMachine.timelineHorizonMs, from: t)
            XCTAssertGreaterThan(local.baseline.atMs, genesis.baseline.atMs)
            for (i, s) in genesis.corridor.signals.enumerated() {
                for k in Int64(0)..<40 {
                    let q = t + k * 9_700
                    let want = fullCursors[i].state(at: q)
                    let got = a.m.timeline.state(of: s.id, at: q)
                    let cut = local.state(of: s.id, at: q)
                    XCTAssertEqual(got.lamps, want.lamps, "signal \(s.id) at \(q)")
                    XCTAssertEqual(got.mode, want.mode, "signal \(s.id) at \(q)")
                    XCTAssertEqual(got.plan, want.plan, "signal \(s.id) at \(q)")
                    XCTAssertEqual(cut.lamps, want.lamps, "cut-off signal \(s.id) at \(q)")
                    XCTAssertEqual(cut.mode, want.mode, "cut-off signal \(s.id) at \(q)")
                    compared += 1
                }
            }
            t += 2 * 3_600_000 + 13 * 60_000
        }
        XCTAssertGreaterThan(rebases, 20)
        XCTAssertGreaterThan(a.m.baseline.atMs, end - 86_400_000, "the history stays rebased near the clock")
        print("schedule rebase: \(rebases) rebases, \(compared) states compared with the full replay")
    }
}
