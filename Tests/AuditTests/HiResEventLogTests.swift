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
        let order: [Int64] = [HiResCode.phaseGreen, HiResCode.yellowBegin, HiResCode.yellowEnd, HiResCode.redClearBegin,
                              HiResCode.redClearEnd, HiResCode.phaseInactive]
        var greens = 0
        for p in sig.phases {
            let seq = events.filter { $0.parameter == Int64(p.id.rawValue) && order.contains($0.eventCode) }.map(\.eventCode)
            guard let first = seq.firstIndex(of: HiResCode.phaseGreen) else { continue }
            for (k, code) in seq[first...].enumerated() {
                let want = order[k % order.count]
                XCTAssertEqual(code, want, "phase \(p.id.rawValue): event \(k) after its first green is \(code), expected \(want)")
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
        XCTAssertEqual(ev.filter { $0.eventCode == HiResCode.coordinationState }.map(\.parameter), [HiResCode.coordination(entry)])
        XCTAssertEqual(ev.filter { [HiResCode.preemptCall, HiResCode.preemptEntry].contains($0.eventCode) }.map(\.eventCode),
                       [HiResCode.preemptCall, HiResCode.preemptEntry])
        var flash = base
        flash.mode = .flash
        flash.atMs += 2
        let fl = direct.events(from: base, to: flash)
        XCTAssertEqual(fl.filter { $0.eventCode == HiResCode.patternChange }.map(\.parameter), [255], "flash is pattern 255")
        XCTAssertEqual(fl.filter { $0.eventCode == HiResCode.flashStatus }.map(\.parameter), [HiResCode.FlashReason.automatic.rawValue])
        XCTAssertEqual(direct.events(from: base, to: flash, flash: .mmu).filter { $0.eventCode == HiResCode.flashStatus }.map(\.parameter), [6],
                       "a monitor trip is the MMU's flash (NTCIP unitFlashStatus 6)")
        var back = base
        back.atMs += 3
        XCTAssertEqual(direct.events(from: flash, to: back).filter { $0.eventCode == HiResCode.flashStatus }.map(\.parameter), [2], "2: not flashing")
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
        guard let base = m.timeline.changes(of: sig.id, fromMs: t0, throughMs: t0 + 300_000).last(where: { $0.mode == .coordinated })
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
}
