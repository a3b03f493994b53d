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
        XCTAssertEqual(ev.filter { $0.eventCode == HiResCode.coordinationState }.map(\.parameter), [HiResCode.coordination(.preemptEntry)])
        XCTAssertEqual(ev.filter { [HiResCode.preemptCall, HiResCode.preemptEntry].contains($0.eventCode) }.map(\.eventCode),
                       [HiResCode.preemptCall, HiResCode.preemptEntry])
        var flash = base
        flash.mode = .flash
        flash.atMs += 2
        let fl = direct.events(from: base, to: flash)
        XCTAssertEqual(fl.filter { $0.eventCode == HiResCode.patternChange }.map(\.parameter), [255], "flash is pattern 255")
        XCTAssertEqual(fl.filter { $0.eventCode == HiResCode.flashStatus }.map(\.parameter), [1])
    }
}
