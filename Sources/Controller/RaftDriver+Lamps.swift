import SignalTiming

/// What the lamp driver follows: the applied timeline, and what identifies it (a change of either
/// part means the timeline may have changed: a command applied, a compaction, a snapshot installed).
struct LampTimeline: Sendable {
    struct Version: Equatable, Sendable {
        var appliedIndex: UInt64
        var baseline: Baseline
        var events: Int
    }
    var version: Version
    var timeline: CorridorTimeline
}

extension RaftDriver {
    /// The applied timeline, for the lamp driver's `SignalFollower`.
    func lampTimeline() -> LampTimeline {
        let t = machine.timeline
        return LampTimeline(version: .init(appliedIndex: machine.appliedIndex, baseline: t.baseline, events: t.events.count), timeline: t)
    }
}
