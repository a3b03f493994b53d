import CorridorFile
import CorridorMachine
import RaftCore
import SignalTiming
import Storage
import XCTest

/// The lamp event log's derivation (`Storage.HiResEventLog`, what the lamp driver writes) over a real
/// signal's timeline: every phase's green, yellow and red clearance are closed in the order the Indiana
/// hi-res specification gives, a mode change logs its coordination state, and preemption its call.
final class HiResEventLogTests: XCTestCase {
    func testEveryGreenIsFollowedByYellowThenRedClearanceThenInactiveInOrder() throws {
        let doc = try writeSignedCorridor(into: try scratchFolder(self, "hires"))
        let m = try CorridorMachine(genesisOf: doc)
        let sig = doc.corridor.signals[1]
        let t0 = doc.referenceEpochMs + 86_400_000
        var log = HiResEventLog(signal: sig, plans: doc.corridor.plans.map(\.id))
        var prev: SignalState?
        var events: [LampEvent] = []
        for st in m.timeline.changes(of: sig.id, fromMs: t0, throughMs: t0 + 600_000) {
            events += log.events(from: prev, to: st)
            prev = st
        }
        XCTAssertEqual(events.first?.eventCode, HiResCode.powerRestored, "the log starts with the start-up record")
        // Per phase, the sequence of interval events must cycle 1 → 8 → 9 → 10 → 11 → 12 → 1 …
        let order: [Int64] = [
            HiResCode.phaseGreen, HiResCode.yellowBegin, HiResCode.yellowEnd, HiResCode.redClearBegin,
            HiResCode.redClearEnd, HiResCode.phaseInactive
        ]
        var greens = 0
        for p in sig.phases {
            let seq = events.filter { $0.parameter == Int64(p.id.rawValue) && order.contains($0.eventCode) }.map(
                \.eventCode)
            guard let first = seq.firstIndex(of: HiResCode.phaseGreen) else { continue }
            for (k, code) in seq[first...].enumerated() {
                let want = order[k % order.count]
                XCTAssertEqual(
                    code, want, "phase \(p.id.rawValue): event \(k) after its first green is \(code), expected \(want)")
                if code != want { break }
            }
            greens += seq.filter { $0 == HiResCode.phaseGreen }.count
        }
        XCTAssertGreaterThan(greens, 20, "ten minutes of a plan show many greens")
        // A mode change, on the states directly: its coordination state, and for preemption the call.
        var direct = HiResEventLog(signal: sig, plans: doc.corridor.plans.map(\.id))
        guard let base = prev else { return XCTFail("no states") }
        var entry = base
        entry.mode = .preemptEntry
        entry.atMs += 1
        let ev = direct.events(from: base, to: entry)
        XCTAssertEqual(
            ev.filter { $0.eventCode == HiResCode.coordinationState }.map(\.parameter), [HiResCode.coordination(entry)])
        XCTAssertEqual(
            ev.filter { [HiResCode.preemptCall, HiResCode.preemptEntry].contains($0.eventCode) }.map(\.eventCode),
            [HiResCode.preemptCall, HiResCode.preemptEntry])
        var flash = base
        flash.mode = .flash
        flash.atMs += 2
        let fl = direct.events(from: base, to: flash)
        XCTAssertEqual(
            fl.filter { $0.eventCode == HiResCode.patternChange }.map(\.parameter), [255], "flash is pattern 255")
        XCTAssertEqual(
            fl.filter { $0.eventCode == HiResCode.flashStatus }.map(\.parameter),
            [HiResCode.FlashReason.automatic.rawValue])
        XCTAssertEqual(
            direct.events(from: base, to: flash, flash: .mmu).filter { $0.eventCode == HiResCode.flashStatus }.map(
                \.parameter), [6],
            "a monitor trip is the MMU's flash (NTCIP unitFlashStatus 6)")
        var back = base
        back.atMs += 3
        XCTAssertEqual(
            direct.events(from: flash, to: back).filter { $0.eventCode == HiResCode.flashStatus }.map(\.parameter), [2],
            "2: not flashing")
    }

    func testCoordinationStatesAreTheSpecificationsValues() throws {
        let doc = try writeSignedCorridor(into: try scratchFolder(self, "hires150"))
        let m = try CorridorMachine(genesisOf: doc)
        let sig = doc.corridor.signals[1]
        let t0 = doc.referenceEpochMs + 86_400_000
        let states = m.timeline.changes(of: sig.id, fromMs: t0, throughMs: t0 + 300_000)
        guard var st = states.last(where: { $0.mode == .coordinated }) else { return XCTFail("no coordinated state") }
        XCTAssertEqual(HiResCode.coordination(st), 1, "in step")
        st.mode = .transitioning
        st.cycleAdjustMs = 12_000
        XCTAssertEqual(HiResCode.coordination(st), 2, "a lengthened cycle adds")
        st.cycleAdjustMs = -9_000
        XCTAssertEqual(HiResCode.coordination(st), 3, "a shortened cycle subtracts")
        st.cycleAdjustMs = nil
        XCTAssertEqual(HiResCode.coordination(st), 4, "no cycle of its own yet: dwell")
        for mode in [SignalMode.hold, .preemptEntry, .preemptDwell, .preemptExit, .flash] {
            st.mode = mode
            XCTAssertEqual(HiResCode.coordination(st), 0, "\(mode) is not coordinating: free")
        }
    }

    func testAPreemptionCallThatFindsItsStageGreenIsLoggedAndSoIsItsEnd() throws {
        let doc = try writeSignedCorridor(into: try scratchFolder(self, "hires102"))
        let m = try CorridorMachine(genesisOf: doc)
        let sig = doc.corridor.signals[1]
        let t0 = doc.referenceEpochMs + 86_400_000
        guard
            let base = m.timeline.changes(of: sig.id, fromMs: t0, throughMs: t0 + 300_000).last(where: {
                $0.mode == .coordinated
            })
        else { return XCTFail("no coordinated state") }
        var log = HiResEventLog(signal: sig, plans: doc.corridor.plans.map(\.id))
        var dwell = base
        dwell.mode = .preemptDwell
        dwell.atMs += 1
        let codes = { (e: [LampEvent]) in e.map(\.eventCode).filter { (100...111).contains($0) } }
        XCTAssertEqual(codes(log.events(from: base, to: dwell)), [102, 105, 107], "call on, entry and dwell at once")
        var exit = dwell
        exit.mode = .preemptExit
        exit.atMs += 20_000
        XCTAssertEqual(codes(log.events(from: dwell, to: exit)), [104, 111], "call off, exit")
        var done = exit
        done.mode = .transitioning
        done.atMs += 5_000
        XCTAssertEqual(codes(log.events(from: exit, to: done)), [], "leaving the exit logs no further preemption event")
    }

    /// With the corridor's plans the log says why each green ended (151 for a coordinated phase at its yield
    /// point, 6 for the others' force-off, then 7, then 8), when each coordinated green began (152), each
    /// pattern's cycle, offset and splits (132, 133, 134–149), and a hold's phases (41, 42).
    func testTerminationsCoordinatedPhasesPatternTimingAndHolds() throws {
        let doc = try writeSignedCorridor(into: try scratchFolder(self, "hires-terms"))
        let m = try CorridorMachine(genesisOf: doc)
        let k = 1
        let sig = doc.corridor.signals[k]
        let t0 = doc.referenceEpochMs + 86_400_000
        var log = HiResEventLog(signal: sig, corridor: doc.corridor)
        var prev: SignalState?
        var events: [LampEvent] = []
        for st in m.timeline.changes(of: sig.id, fromMs: t0, throughMs: t0 + 900_000) {
            events += log.events(from: prev, to: st)
            prev = st
        }
        let normal = try XCTUnwrap(doc.corridor.plans.first { $0.id.rawValue == "normal" })
        let sp = normal.signals[k]
        let coordinated = Set(sig.stages[sp.coordinatedStage].phases.map { Int64($0.rawValue) })
        XCTAssertEqual(coordinated, [2, 6])
        // The start-up record carries the pattern's timing, in whole seconds.
        let start = events.prefix { $0.timeMs == events[0].timeMs }
        XCTAssertEqual(start.first { $0.eventCode == 132 }?.parameter, normal.cycleMs / 1000)
        XCTAssertEqual(start.first { $0.eventCode == 133 }?.parameter, (sp.offsetMs + 500) / 1000)
        for (si, stage) in sig.stages.enumerated() {
            for p in stage.phases {
                XCTAssertEqual(
                    start.first { $0.eventCode == 133 + Int64(p.rawValue) }?.parameter, (sp.splitsMs[si] + 500) / 1000,
                    "split of phase \(p.rawValue)")
            }
        }
        // Every begin of yellow is preceded, at the same instant, by the green's termination and its reason.
        var yellows = 0
        var yields: [Int64: Int] = [:]
        var begins: [Int64: Int] = [:]
        for (i, e) in events.enumerated() {
            if e.eventCode == HiResCode.coordPhaseBegin { begins[e.parameter, default: 0] += 1 }
            guard e.eventCode == HiResCode.yellowBegin else { continue }
            yellows += 1
            let before = events[..<i].filter { $0.timeMs == e.timeMs && $0.parameter == e.parameter }.map(\.eventCode)
            let reason: Int64 = coordinated.contains(e.parameter) ? HiResCode.coordYieldPoint : HiResCode.forceOff
            XCTAssertEqual(
                Array(before.suffix(2)), [reason, HiResCode.greenTermination], "phase \(e.parameter) at \(e.timeMs)")
            if reason == HiResCode.coordYieldPoint { yields[e.parameter, default: 0] += 1 }
        }
        let cycles = 900_000 / Int(normal.cycleMs)
        XCTAssertGreaterThanOrEqual(yellows, 5 * cycles)
        for p in coordinated {
            XCTAssertTrue(
                (cycles - 1...cycles + 1).contains(yields[p] ?? 0),
                "one yield point per cycle for phase \(p): \(yields)")
            XCTAssertTrue(
                (cycles - 1...cycles + 1).contains(begins[p] ?? 0),
                "one coordinated begin per cycle for phase \(p): \(begins)")
        }
        XCTAssertNil(events.first { $0.eventCode == HiResCode.coordPhaseBegin && !coordinated.contains($0.parameter) })
        // A hold on the coordinated stage: 41 for its phases when the signal rests there, 42 when released.
        guard
            let base = m.timeline.changes(of: sig.id, fromMs: t0, throughMs: t0 + 300_000)
                .last(where: { $0.mode == .coordinated && $0.interval == .greenRest })
        else { return XCTFail("no coordinated green") }
        var direct = HiResEventLog(signal: sig, corridor: doc.corridor)
        var hold = base
        hold.mode = .hold
        hold.atMs += 1
        let on = direct.events(from: base, to: hold)
        XCTAssertEqual(Set(on.filter { $0.eventCode == HiResCode.holdActive }.map(\.parameter)), coordinated)
        var released = hold
        released.mode = .transitioning
        released.atMs += 60_000
        let off = direct.events(from: hold, to: released)
        XCTAssertEqual(Set(off.filter { $0.eventCode == HiResCode.holdReleased }.map(\.parameter)), coordinated)
        XCTAssertEqual(
            direct.events(from: released, to: released).filter { $0.eventCode == HiResCode.holdReleased }, [],
            "released once")
        // A pattern change logs the new pattern's timing.
        let rush = try XCTUnwrap(doc.corridor.plans.first { $0.id.rawValue == "rush-hour" })
        var changed = released
        changed.plan = rush.id
        changed.atMs += 1
        let pc = direct.events(from: released, to: changed)
        XCTAssertEqual(pc.first { $0.eventCode == HiResCode.patternChange }?.parameter, 2)
        XCTAssertEqual(pc.first { $0.eventCode == 132 }?.parameter, rush.cycleMs / 1000)
        // Made from plan ids alone (no timings), the log writes none of these.
        var bare = HiResEventLog(signal: sig, plans: doc.corridor.plans.map(\.id))
        XCTAssertTrue(
            bare.events(from: released, to: changed).allSatisfy { ![132, 133, 151, 152, 6].contains($0.eventCode) })
    }
}
