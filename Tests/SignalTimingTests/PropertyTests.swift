import Foundation
import RaftCore
import SignalTimingSimulation
import XCTest

@testable import SignalTiming

/// Random corridors, random valid plans, random sequences and timings of plan changes, holds,
/// flashes and preemptions — all from a seeded SplitMix64. Whatever happens, the conflict monitor
/// never trips, the pure query agrees with the incremental stream, preemption dwells last at least
/// the programmed minimum, and signals return to coordination within a bounded time.
///
/// Reproduce a failure with `GREENWAVE_SEED=<seed> swift test --filter PropertyTests`.
final class PropertyTests: XCTestCase {
    static let cases = 2_000

    func testRandomTimelinesNeverTripTheConflictMonitor() throws {
        var stats = Stats()
        if let env = getenvString("GREENWAVE_SEED"), let seed = UInt64(env) {
            try runCase(seed: seed, stats: &stats)
            return
        }
        for i in 0..<Self.cases {
            let seed = 0x6772_6565_6E77_6176 &+ UInt64(i) &* 0x9E37_79B9
            try runCase(seed: seed, stats: &stats)
        }
        print(
            "property cases: \(Self.cases), signals: \(stats.signals), events: \(stats.events), lamp changes checked: \(stats.changes), preemption dwells: \(stats.dwells), transitions: \(stats.transitions)"
        )
        // The generator must actually exercise the interesting paths.
        XCTAssertGreaterThan(stats.dwells, 100)
        XCTAssertGreaterThan(stats.transitions, 100)
        XCTAssertGreaterThan(stats.flashes, 100)
        XCTAssertGreaterThan(stats.holds, 100)
    }

    struct Stats {
        var signals = 0, events = 0, changes = 0, dwells = 0, transitions = 0, flashes = 0, holds = 0
    }

    func getenvString(_ name: String) -> String? {
        ProcessInfo.processInfo.environment[name]
    }

    func runCase(seed: UInt64, stats: inout Stats) throws {
        if getenvString("GREENWAVE_TRACE") != nil {
            FileHandle.standardError.write("seed \(seed)\n".data(using: .utf8)!)
        }
        var rng = SplitMix64(seed: seed)
        let corridor = try RandomCorridor.make(&rng, phasesInTwoStages: true)
        let epoch: Milliseconds = rng.int(0...2_000_000_000_000)
        let base = epoch + rng.int(-10_000_000...10_000_000)
        let coordinated = corridor.plans.filter { !$0.isFlash }
        let basePlan = rng.chance(10) ? corridor.plans[corridor.plans.count - 1] : rng.pick(coordinated)
        var events: [ControlEvent] = []
        var t = base
        var preempts: [EventID] = []
        let eventCount = rng.int(0...14)
        for id in 1...max(1, eventCount) where eventCount > 0 {
            // Sometimes at a corridor cycle boundary, sometimes at any millisecond, sometimes together.
            let gap: Milliseconds = rng.pick([
                0, rng.int(Int64(1)...5_000), rng.int(Int64(1_000)...90_000), rng.int(Int64(60_000)...400_000)
            ])
            t += gap
            if rng.chance(30), let c = coordinated.first?.cycleMs {
                t = epoch + (floorDiv(t - epoch, c) + 1) * c
            }
            let s = rng.pick(corridor.signals)
            let action: ControlAction
            switch rng.int(0...9) {
            case 0, 1: action = .setPlan(rng.pick(corridor.plans).id)
            case 2: action = .flash(rng.chance(50) ? nil : s.id)
            case 3: action = .unflash(rng.chance(50) ? nil : s.id)
            case 4: action = .hold(s.id, stage: rng.chance(40) ? nil : rng.pick(s.stages).name)
            case 5: action = .release(s.id)
            case 6, 7, 8:
                let n = corridor.signals.count
                let a = rng.int(0...(n - 1))
                let b = rng.int(0...(n - 1))
                let dir: Direction = a <= b ? .increasing : .decreasing
                let ids = (a <= b ? Array(a...b) : Array((b...a).reversed())).map { corridor.signals[$0].id }
                action = .preempt(
                    Preemption(
                        signals: ids, direction: dir, speedKmh: rng.int(20...80),
                        leadMs: rng.int(0...60_000), clearMs: rng.int(0...30_000)))
                preempts.append(EventID(UInt64(id)))
            default:
                action = preempts.isEmpty ? .release(s.id) : .cancelPreemption(rng.pick(preempts))
            }
            events.append(ControlEvent(id: EventID(UInt64(id)), effectiveAtMs: t, action: action))
        }
        if getenvString("GREENWAVE_TRACE") != nil {
            print("epoch \(epoch) base \(base) plan \(basePlan.id)")
            for e in events { print(e) }
            for s in corridor.signals { print(s.id, s.stageMinSplitMs, s.stageYellowMs, s.stageRedClearanceMs) }
            for pl in corridor.plans {
                print(pl.id, pl.cycleMs, pl.signals.map { ($0.offsetMs, $0.splitsMs, $0.coordinatedStage) })
            }
        }
        let timeline = try CorridorTimeline(
            corridor: corridor, referenceEpochMs: epoch,
            baseline: Baseline(atMs: base, plan: basePlan.id), events: events)
        let maxCycle = coordinated.map(\.cycleMs).max()!
        let end = t + corridor.safety.preemptMaxPresenceMs + 8 * maxCycle + 120_000
        stats.events += events.count
        for s in corridor.signals {
            stats.signals += 1
            let changes = timeline.changes(of: s.id, fromMs: base, throughMs: end)
            stats.changes += changes.count
            var monitor = ConflictMonitor(signal: s)
            for st in changes {
                let faults = monitor.observe(atMs: st.atMs, lamps: st.lamps)
                if !faults.isEmpty {
                    XCTFail(
                        "seed \(seed): signal \(s.id) faults \(faults)\nevents: \(events)\naround: \(changes.filter { abs($0.atMs - st.atMs) < 60_000 }.map { "\($0.atMs) \($0.lamps) \($0.interval) \($0.mode)" })"
                    )
                    return
                }
            }
            // Dwell: once a green is in preemption dwell, it lasts at least the programmed dwell.
            var dwellStart: Milliseconds?
            for st in changes {
                if st.mode == .flash { stats.flashes += 1 }
                if st.mode == .hold { stats.holds += 1 }
                if st.mode == .transitioning { stats.transitions += 1 }
                if st.mode == .preemptDwell, dwellStart == nil, st.lamps.contains(.green) {
                    dwellStart = st.atMs
                    stats.dwells += 1
                }
                if let d = dwellStart, !st.lamps.contains(.green) {
                    XCTAssertGreaterThanOrEqual(
                        st.atMs - d, corridor.safety.preemptDwellMs, "seed \(seed): signal \(s.id) dwell too short")
                    dwellStart = nil
                }
            }
            // The pure query agrees with the stream and with a cursor advanced in steps, at random
            // instants (purity, and the closed-form skip of steady cycles).
            var cursor = timeline.cursor(of: s.id, at: base)
            for q in (0..<3).map({ _ in rng.int(base...end) }).sorted() {
                let pure = timeline.state(of: s.id, at: q)
                XCTAssertEqual(cursor.state(at: q), pure, "seed \(seed): signal \(s.id) at \(q)")
                let last = changes.last { $0.atMs <= q }!
                XCTAssertEqual(pure.lamps, last.lamps, "seed \(seed): signal \(s.id) at \(q)")
                XCTAssertEqual(pure.interval, last.interval, "seed \(seed): signal \(s.id) at \(q)")
                XCTAssertEqual(pure.mode, last.mode, "seed \(seed): signal \(s.id) at \(q)")
                if let next = changes.first(where: { $0.atMs > q }) {
                    XCTAssertEqual(pure.nextChangeMs, next.atMs, "seed \(seed): signal \(s.id) at \(q)")
                }
            }
            // Return to coordination: if the final inputs are clean, the signal settles on a
            // reference point within a bounded time (5 cycles of correction plus entry and exit).
            let final = changes[changes.count - 1]
            if let settled = timeline.settledAtMs(of: s.id) {
                XCTAssertLessThanOrEqual(settled, end, "seed \(seed): signal \(s.id) settles late")
                XCTAssertEqual(final.mode, .coordinated, "seed \(seed): signal \(s.id)")
            } else {
                XCTAssertTrue(
                    [.flash, .hold].contains(final.mode),
                    "seed \(seed): signal \(s.id) never settles, ends in \(final.mode)")
            }
        }
    }
}
