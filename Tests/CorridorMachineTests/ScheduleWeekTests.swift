import CorridorFile
import Foundation
import SignalTiming
import Storage
import XCTest

@testable import CorridorMachine

/// A simulated week on a fast clock: the real state machine (genesis with the corridor file's Mumbai
/// schedule on demo-5, a leader's command every 15 minutes that moves its clock, so history compacts),
/// each signal's lamps driven by `SignalFollower` exactly as `Controller.LampDriver` drives them (timeline
/// updates after every applied entry, extended past the horizon when nothing is applied), every lamp change
/// through the conflict monitor and the hi-res event log.
///
/// Checked: the pattern changes at each scheduled cycle boundary; every signal logs event 131 with the new
/// pattern within one cycle of it and finishes its transition (coordinated in the new plan, or flashing)
/// within 5 cycles of the new plan; the monitor never trips; and a controller cut off for the whole week
/// (it applies nothing) shows exactly the lamps of a connected one and, once it applies the week's entries,
/// has the same state hash.
final class ScheduleWeekTests: XCTestCase {
    struct Lamps {
        var follower: SignalFollower
        var monitor: ConflictMonitor
        var log: HiResEventLog
        var shown: SignalState?
        var changes: [SignalState] = []
        var patternEvents: [LampEvent] = []
        var faults: [ConflictMonitor.Fault] = []
        var throughMs: Milliseconds

        mutating func run(through t: Milliseconds) {
            for st in follower.changes(through: t) {
                faults += monitor.observe(atMs: st.atMs, lamps: st.lamps)
                patternEvents += log.events(from: shown, to: st).filter { $0.eventCode == HiResCode.patternChange }
                shown = st
                changes.append(st)
            }
        }
    }

    func testASimulatedWeekOfScheduledChanges() throws {
        let doc = try ScheduleMachineTests.document()
        var leader = Driver()
        leader.m = try ScheduleMachineTests.machine()
        let genesis = leader.m
        let start = ScheduleMachineTests.ist("2025-01-06", "00:00") // a Monday
        let end = start + 7 * 86_400_000
        let bootAt = start - 3_600_000
        let plans = doc.corridor.plans.map(\.id)
        func lamps(_ m: CorridorMachine, _ s: Signal) throws -> Lamps {
            let t = try m.timeline(through: bootAt + CorridorMachine.timelineHorizonMs)
            return Lamps(
                follower: SignalFollower(signal: s.id, timeline: t, startingAt: bootAt),
                monitor: ConflictMonitor(signal: s),
                log: HiResEventLog(signal: s, plans: plans), throughMs: bootAt + CorridorMachine.timelineHorizonMs)
        }
        var connected = try doc.corridor.signals.map { try lamps(genesis, $0) }
        var cutOff = try doc.corridor.signals.map { try lamps(genesis, $0) }
        var entries: [[UInt8]] = []
        var t = bootAt
        var k: UInt64 = 0
        while t < end {
            t += 15 * 60_000
            k += 1
            // The leader's command (a release of a signal nobody holds: refused, but it moves the clock).
            let bytes = signed(
                .release(SignalID(1)), clientID: ClientID.timed(createdAtMs: t, random: 1_000 + k), seq: 1, at: t)
            entries.append(bytes)
            XCTAssertEqual(leader.raw(bytes).result?.code, .notHeld)
            for i in connected.indices {
                connected[i].run(through: t)
                connected[i].follower.update(
                    timeline: try leader.m.timeline(through: t + CorridorMachine.timelineHorizonMs))
                // The cut-off controller: nothing applied; its timeline is extended as the lamp driver does.
                cutOff[i].run(through: t)
                if t > cutOff[i].throughMs - CorridorMachine.timelineHorizonMs / 2 {
                    cutOff[i].throughMs = t + CorridorMachine.timelineHorizonMs
                    cutOff[i].follower.update(timeline: try genesis.timeline(through: cutOff[i].throughMs))
                }
            }
        }
        let line = leader.m.modeLine
        let scheduled = ModeLine(
            corridor: doc.corridor, referenceEpochMs: doc.referenceEpochMs, baseline: genesis.baseline,
            overrides: [], schedules: genesis.schedules.map(\.inForce)
        ).scheduledChanges(after: start, through: end - 1)
        XCTAssertEqual(scheduled.count, 6 * 4 + 2, "a week: six weekdays of 4 changes, a Sunday of 2")
        var worstCycles = 0.0
        for (i, s) in doc.corridor.signals.enumerated() {
            let c = connected[i]
            XCTAssertEqual(c.faults, [], "signal \(s.id): the conflict monitor tripped")
            XCTAssertEqual(cutOff[i].faults, [], "signal \(s.id) (cut off): the conflict monitor tripped")
            let weekPatterns = c.patternEvents.filter { $0.timeMs >= start }
            XCTAssertEqual(weekPatterns.count, scheduled.count, "signal \(s.id): one event 131 per scheduled change")
            for (n, change) in scheduled.enumerated() {
                XCTAssertEqual(line.mode(at: change.atMs).plan, change.plan)
                XCTAssertEqual(line.mode(at: change.atMs - 1).plan, change.previous)
                let newPlan = doc.corridor.plan(change.plan)!
                let oldPlan = doc.corridor.plan(change.previous)!
                let oldCycle = oldPlan.isFlash ? newPlan.cycleMs : oldPlan.cycleMs
                let cycle = newPlan.isFlash ? oldPlan.cycleMs : newPlan.cycleMs
                guard n < weekPatterns.count else { break }
                let e = weekPatterns[n]
                XCTAssertEqual(
                    e.parameter,
                    HiResCode.pattern(plan: change.plan, mode: newPlan.isFlash ? .flash : .coordinated, plans: plans))
                XCTAssertGreaterThanOrEqual(e.timeMs, change.atMs)
                XCTAssertLessThanOrEqual(
                    e.timeMs, change.atMs + oldCycle,
                    "signal \(s.id): the pattern changes within a cycle of the boundary")
                // Transition done: coordinated in the new plan (or flashing) and staying so until the next change.
                let next = n + 1 < scheduled.count ? scheduled[n + 1].atMs : end
                let window = c.changes.filter { $0.atMs >= change.atMs && $0.atMs < next }
                let settledMode: SignalMode = newPlan.isFlash ? .flash : .coordinated
                let lastOff = window.lastIndex { $0.plan != change.plan || $0.mode != settledMode }
                let settledIndex = lastOff.map { $0 + 1 } ?? 0
                guard settledIndex < window.count else {
                    XCTFail("signal \(s.id): the change at \(change.atMs) to \(change.plan) never settled")
                    continue
                }
                let d = window[settledIndex]
                let cycles = Double(d.atMs - change.atMs) / Double(cycle)
                worstCycles = max(worstCycles, cycles)
                XCTAssertLessThanOrEqual(
                    d.atMs - change.atMs, 5 * cycle,
                    "signal \(s.id): transition to \(change.plan) took \(cycles) cycles")
            }
            // The cut-off controller shows exactly what the connected one shows.
            let a = c.changes.filter { $0.atMs >= start }.map { "\($0.atMs) \($0.lamps)" }
            let b = cutOff[i].changes.filter { $0.atMs >= start }.map { "\($0.atMs) \($0.lamps)" }
            XCTAssertEqual(a.count, b.count, "signal \(s.id)")
            XCTAssertTrue(a == b, "signal \(s.id): the cut-off controller's lamps differ from the connected one's")
        }
        print(
            "simulated week: \(scheduled.count) scheduled changes, \(doc.corridor.signals.count) signals, \(connected.map(\.changes.count).reduce(0, +)) lamp changes, worst transition \(String(format: "%.2f", worstCycles)) cycles, late entries connected \(connected.map(\.follower.lateEntries).reduce(0, +)) cut off \(cutOff.map(\.follower.lateEntries).reduce(0, +)), baseline moved to \(leader.m.baseline.atMs - start) ms after the week's start"
        )
        // Rejoin: the cut-off replica applies the week's entries and agrees.
        var rejoined = genesis
        for (i, bytes) in entries.enumerated() {
            _ = rejoined.apply(index: UInt64(i + 1), term: 1, kind: .normal, payload: bytes)
        }
        XCTAssertEqual(rejoined.stateHash, leader.m.stateHash)
    }
}
