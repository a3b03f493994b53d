/// What one signal's `SignalSchedule` is compiled from, besides the corridor and the baseline: the
/// events that concern the signal — mode changes and corridor flashes concern every signal, a signal's
/// own flash, hold and release only it — in the order they take effect, and its preemption call windows.
/// The corridor-wide events are kept once per timeline (`CorridorTimeline.globalEvents`); a signal keeps its
/// own, each with the number of corridor-wide events before it, which fixes where it falls among them. With
/// equal corridor-wide events, two equal values compile to equal schedules (`SignalSchedule.build` ignores
/// every other event), which is what lets `CorridorTimeline.init(…reusing:)` keep a schedule when an event for
/// another signal is added.
struct SignalScheduleInputs: Equatable, Sendable {
    /// An event of the signal's own, and how many corridor-wide events take effect before it.
    struct Ranked: Equatable, Sendable {
        var event: ControlEvent
        var globalsBefore: Int
    }
    var own: [Ranked]
    var windows: [SignalSchedule.CallWindow]

    /// The events that concern the signal, in effect order: `globals` with the signal's own in their places.
    func events(merging globals: [ControlEvent]) -> [ControlEvent] {
        var out: [ControlEvent] = []
        out.reserveCapacity(globals.count + own.count)
        var g = 0
        for r in own {
            let upTo = min(r.globalsBefore, globals.count)
            if g < upTo {
                out.append(contentsOf: globals[g..<upTo])
                g = upTo
            }
            out.append(r.event)
        }
        if g < globals.count { out.append(contentsOf: globals[g...]) }
        return out
    }
}

extension SignalSchedule.CallWindow: Equatable {
    static func == (a: Self, b: Self) -> Bool {
        a.callMs == b.callMs && a.releaseMs == b.releaseMs && a.source == b.source
    }
}
