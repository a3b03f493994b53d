/// What one signal's `SignalSchedule` is compiled from, besides the corridor and the baseline: the
/// events that concern the signal — mode changes and corridor flashes concern every signal, a signal's
/// own flash, hold and release only it — in the order they take effect, and its preemption call windows.
/// Two equal values compile to equal schedules (`SignalSchedule.build` ignores every other event), which
/// is what lets `CorridorTimeline.init(…reusing:)` keep a schedule when an event for another signal is
/// added.
struct SignalScheduleInputs: Equatable, Sendable {
    var events: [ControlEvent]
    var windows: [SignalSchedule.CallWindow]

    init(signal: SignalID, events all: [ControlEvent], windows: [SignalSchedule.CallWindow]) {
        events = all.filter { e in
            switch e.action {
            case .setPlan, .flash(nil), .unflash(nil): return true
            case .flash(let s?), .unflash(let s?), .hold(let s, _), .release(let s): return s == signal
            case .preempt, .cancelPreemption: return false // they reach the signal as call windows
            }
        }
        self.windows = windows
    }
}

extension SignalSchedule.CallWindow: Equatable {
    static func == (a: Self, b: Self) -> Bool {
        a.callMs == b.callMs && a.releaseMs == b.releaseMs && a.source == b.source
    }
}
