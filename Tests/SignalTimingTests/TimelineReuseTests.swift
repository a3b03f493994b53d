import RaftCore
import XCTest

@testable import SignalTiming

/// `CorridorTimeline.init(…reusing:)` (issue 19) keeps the compiled schedule of every signal an added
/// event does not concern. It must give exactly the timeline a full compile gives: the same schedule for
/// every signal after every added event of every kind, over corridors of 2–8 signals and random event
/// sequences.
final class TimelineReuseTests: XCTestCase {
    func testReusingSchedulesGivesTheTimelineAFullCompileGives() throws {
        var reused = 0
        var compiled = 0
        var steps = 0
        for i in 0..<300 {
            var rng = SplitMix64(seed: 0x7265_7573_6500 &+ UInt64(i))
            let corridor = Fixture.corridor(count: rng.int(2...8))
            let epoch: Milliseconds = rng.int(0...2_000_000_000_000)
            let baseline = Baseline(
                atMs: epoch + rng.int(0...1_000_000), plan: rng.pick(corridor.plans.filter { !$0.isFlash }).id)
            var timeline = try CorridorTimeline(
                corridor: corridor, referenceEpochMs: epoch, baseline: baseline, events: [])
            var events: [ControlEvent] = []
            var preempts: [EventID] = []
            var t = baseline.atMs
            for id in 1...UInt64(rng.int(1...16)) {
                t += rng.pick([0, rng.int(Int64(1)...5_000), rng.int(Int64(1_000)...90_000)])
                let s = rng.pick(corridor.signals)
                let action: ControlAction
                switch rng.int(0...9) {
                case 0: action = .setPlan(rng.pick(corridor.plans).id)
                case 1: action = .flash(rng.chance(30) ? nil : s.id)
                case 2: action = .unflash(rng.chance(30) ? nil : s.id)
                case 3, 4: action = .hold(s.id, stage: rng.chance(40) ? nil : rng.pick(s.stages).name)
                case 5, 6: action = .release(s.id)
                case 7, 8:
                    let n = corridor.signals.count
                    let a = rng.int(0...(n - 1))
                    let b = rng.int(0...(n - 1))
                    let ids = (a <= b ? Array(a...b) : Array((b...a).reversed())).map { corridor.signals[$0].id }
                    action = .preempt(
                        Preemption(
                            signals: ids, direction: a <= b ? .increasing : .decreasing, speedKmh: rng.int(20...80),
                            leadMs: rng.int(0...60_000), clearMs: rng.int(0...30_000)))
                    preempts.append(EventID(id))
                default:
                    action = preempts.isEmpty ? .release(s.id) : .cancelPreemption(rng.pick(preempts))
                }
                let next = events + [ControlEvent(id: EventID(id), effectiveAtMs: t, action: action)]
                let full = try CorridorTimeline(
                    corridor: corridor, referenceEpochMs: epoch, baseline: baseline, events: next)
                let incremental = try CorridorTimeline(
                    corridor: corridor, referenceEpochMs: epoch, baseline: baseline,
                    events: next, reusing: timeline)
                XCTAssertEqual(incremental.schedules, full.schedules, "case \(i), event \(id): \(action)")
                XCTAssertEqual(incremental.events, full.events)
                try assertBuildSkipsOtherSignals(full, "case \(i), event \(id)")
                for k in corridor.signals.indices {
                    if incremental.globalEvents == timeline.globalEvents,
                        incremental.scheduleInputs[k] == timeline.scheduleInputs[k]
                    {
                        reused += 1
                    } else {
                        compiled += 1
                    }
                }
                timeline = incremental
                events = next
                steps += 1
            }
            // The lamps agree too, at a few instants after the last event.
            let full = try CorridorTimeline(
                corridor: corridor, referenceEpochMs: epoch, baseline: baseline, events: events)
            for s in corridor.signals {
                for dt in [Int64(0), 1_000, 37_000, 400_000] {
                    XCTAssertEqual(timeline.state(of: s.id, at: t + dt), full.state(of: s.id, at: t + dt))
                }
            }
        }
        XCTAssertGreaterThan(steps, 1_000)
        // Both paths are taken, and reuse is the common one (most events concern one signal).
        XCTAssertGreaterThan(reused, compiled)
        XCTAssertGreaterThan(compiled, 100)
    }

    /// A schedule is compiled from the events that concern its signal only (`CorridorTimeline.eventsBySignal`):
    /// compiled from every event instead, it is the same.
    func assertBuildSkipsOtherSignals(_ t: CorridorTimeline, _ what: String) throws {
        let c = t.corridor
        let (preemptions, cancels) = try CorridorTimeline.checkEvents(
            t.events, corridor: c, baseline: t.baseline, indexByID: t.indexByID)
        let windows = CorridorTimeline.callWindows(
            corridor: c, preemptions: preemptions, cancels: cancels, indexByID: t.indexByID)
        for k in c.signals.indices {
            // The merged view is the events that concern signal k, in effect order.
            let id = c.signals[k].id
            let concerning = t.events.filter { e in
                switch e.action {
                case .setPlan, .flash(nil), .unflash(nil): return true
                case .flash(let s?), .unflash(let s?), .hold(let s, _), .release(let s): return s == id
                case .preempt, .cancelPreemption: return false
                }
            }
            XCTAssertEqual(t.scheduleInputs[k].events(merging: t.globalEvents), concerning, "\(what), signal \(k)")
            let w = windows[k].sorted { ($0.callMs, $0.source) < ($1.callMs, $1.source) }
            let fromAll = try SignalSchedule.build(
                corridor: c, signalIndex: k, baseline: c.planIndex(of: t.baseline.plan)!, events: t.events, windows: w)
            XCTAssertEqual(fromAll, t.schedules[k], "\(what), signal \(k)")
        }
    }
}
