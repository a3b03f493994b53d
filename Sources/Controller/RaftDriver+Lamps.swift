import CorridorMachine
import SignalTiming

/// What the lamp driver follows: the applied timeline, and what identifies it (a change of either
/// part means the timeline may have changed: a command applied, a compaction, a snapshot installed, or
/// the scheduled changes extended past the machine's horizon).
struct LampTimeline: Sendable {
    struct Version: Equatable, Sendable {
        var appliedIndex: UInt64
        var baseline: Baseline
        var events: Int
    }
    var version: Version
    var timeline: CorridorTimeline
    /// The last instant whose scheduled changes the timeline holds (`Int64.max` without a schedule).
    var throughMs: Int64

    /// Whether the lamps at `nowMs` need a timeline that reaches further (a controller that applies
    /// nothing, cut off from the others, follows its schedule on: the extension is the same pure function
    /// of the applied state every replica computes).
    func needsExtension(at nowMs: Int64) -> Bool {
        throughMs != Int64.max && nowMs > throughMs - CorridorMachine.timelineHorizonMs / 2
    }
}

extension RaftDriver {
    /// The applied timeline, for the lamp driver's `SignalFollower`, reaching at least a horizon past `nowMs`.
    func lampTimeline(nowMs: Int64) -> LampTimeline {
        var t = machine.timeline
        var through = machine.timelineThroughMs
        if through != Int64.max, nowMs > through - CorridorMachine.timelineHorizonMs / 2 {
            let target = nowMs + CorridorMachine.timelineHorizonMs
            if let extended = try? machine.timeline(through: target, from: nowMs) {
                t = extended
                through = target
            }
        }
        return LampTimeline(
            version: .init(appliedIndex: machine.appliedIndex, baseline: t.baseline, events: t.events.count),
            timeline: t, throughMs: through)
    }
}
