/// An emergency green corridor: consecutive signals, called in turn as the vehicle travels.
///
/// The vehicle is taken to pass the first listed signal `leadMs` after the event takes effect and
/// to travel at `speedKmh`. Signal j is called at `effectiveAt + travel_j` (so every call leads the
/// vehicle by `leadMs`) and released `clearMs` after the vehicle's expected arrival, or at the
/// corridor's maximum presence after the call, whichever is first. A cancel releases every call.
public struct Preemption: Hashable, Sendable {
    /// Consecutive signals in the order the vehicle meets them.
    public var signals: [SignalID]
    public var direction: Direction
    public var speedKmh: Int
    /// How long before the vehicle's arrival each signal is called, ms.
    public var leadMs: Milliseconds
    /// How long after the vehicle's expected arrival the call stays, ms.
    public var clearMs: Milliseconds

    public init(
        signals: [SignalID], direction: Direction, speedKmh: Int = 40,
        leadMs: Milliseconds = 30_000, clearMs: Milliseconds = 10_000
    ) {
        self.signals = signals
        self.direction = direction
        self.speedKmh = speedKmh
        self.leadMs = leadMs
        self.clearMs = clearMs
    }
}

/// What a control event does.
public enum ControlAction: Hashable, Sendable {
    /// Run this plan from now on. Each signal adopts it at its next coordinated-green start (its
    /// own cycle boundary) and transitions to the new offsets; the flash plan flashes at the next
    /// safe point.
    case setPlan(PlanID)
    /// Flash one signal, or the whole corridor (nil), at the next safe point.
    case flash(SignalID?)
    /// Undo `flash` for one signal, or the corridor-wide flash (nil).
    case unflash(SignalID?)
    /// Hold a signal in a stage (by name; nil = the coordinated stage) until released. The signal
    /// reaches the stage at its next normal stage change, without cutting any green short.
    case hold(SignalID, stage: String?)
    case release(SignalID)
    /// Call an emergency green corridor.
    case preempt(Preemption)
    /// Cancel the preemption started by the event with this id.
    case cancelPreemption(EventID)
}

/// A control event and the millisecond at which it takes effect.
public struct ControlEvent: Hashable, Sendable {
    public var id: EventID
    public var effectiveAtMs: Milliseconds
    public var action: ControlAction
    public init(id: EventID, effectiveAtMs: Milliseconds, action: ControlAction) {
        self.id = id
        self.effectiveAtMs = effectiveAtMs
        self.action = action
    }
}

/// The point a timeline starts from: from `atMs` on (and as if since forever before it), every
/// signal runs `plan` in steady coordination (or flashes, for the flash plan), with no holds,
/// flashes or preemptions. A state machine can compact its history into a new baseline once
/// every signal has settled (see `CorridorTimeline.settledAtMs(of:)`).
public struct Baseline: Hashable, Sendable {
    public var atMs: Milliseconds
    public var plan: PlanID
    public init(atMs: Milliseconds, plan: PlanID) {
        self.atMs = atMs
        self.plan = plan
    }
}

/// The control inputs of one signal over a stretch of time, and the events they came from.
struct SignalInputs: Hashable, Sendable {
    enum Hold: Hashable, Sendable {
        case coordinated
        case stage(Int)
    }
    var plan: Int
    var planSource: EventID?
    /// Flash requested for this signal: corridor flash, signal flash or the flash plan.
    var flash: Bool
    var flashSource: EventID?
    var hold: Hold?
    var holdSource: EventID?
    var preempt: Bool
    var preemptSource: EventID?

    var isClean: Bool { !flash && hold == nil && !preempt }
}

/// Piecewise-constant inputs: `inputs[i]` holds from `startsMs[i]` until `startsMs[i + 1]`.
/// `startsMs[0] == Int64.min`; times strictly increase.
struct SignalSchedule: Hashable, Sendable {
    var startsMs: [Milliseconds]
    var inputs: [SignalInputs]

    /// Index of the segment holding at `t`.
    func index(at t: Milliseconds) -> Int {
        var lo = 0
        var hi = startsMs.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if startsMs[mid] <= t { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// Start of the segment after `index`, or `Int64.max`.
    func nextStart(after index: Int) -> Milliseconds {
        index + 1 < startsMs.count ? startsMs[index + 1] : Int64.max
    }

    /// One window of a preemption call at one signal.
    struct CallWindow {
        var callMs: Milliseconds
        var releaseMs: Milliseconds
        var source: EventID
    }

    static func build(
        corridor: Corridor, signalIndex: Int, baseline: Int, events: [ControlEvent],
        windows: [CallWindow]
    ) throws -> SignalSchedule {
        let me = corridor.signals[signalIndex]
        var current = SignalInputs(
            plan: baseline, planSource: nil, flash: corridor.plans[baseline].isFlash,
            flashSource: nil, hold: nil, holdSource: nil, preempt: false, preemptSource: nil)
        var starts: [Milliseconds] = [Int64.min]
        var inputs: [SignalInputs] = [current]
        var points: [Milliseconds] = []
        for e in events {
            switch e.action {
            case .setPlan, .flash(nil), .unflash(nil): points.append(e.effectiveAtMs)
            case .flash(let s?), .unflash(let s?), .hold(let s, _), .release(let s):
                if s == me.id { points.append(e.effectiveAtMs) }
            case .preempt, .cancelPreemption: break
            }
        }
        for w in windows {
            points.append(w.callMs)
            points.append(w.releaseMs)
        }
        points.sort()
        var corridorFlash: EventID?
        var signalFlash: EventID?
        var planSource: EventID?
        var plan = baseline
        var hold: SignalInputs.Hold?
        var holdSource: EventID?
        var nextEvent = 0
        var lastPoint: Milliseconds?
        for p in points where p != lastPoint {
            lastPoint = p
            while nextEvent < events.count && events[nextEvent].effectiveAtMs <= p {
                let e = events[nextEvent]
                nextEvent += 1
                switch e.action {
                case .setPlan(let id):
                    plan = corridor.planIndex(of: id)!
                    planSource = e.id
                case .flash(nil): corridorFlash = e.id
                case .unflash(nil): corridorFlash = nil
                case .flash(let s?) where s == me.id: signalFlash = e.id
                case .unflash(let s?) where s == me.id: signalFlash = nil
                case .hold(let s, let stage) where s == me.id:
                    if let stage {
                        guard let k = me.stageIndex(named: stage) else {
                            throw TimingError("event \(e.id): signal \(s) has no stage '\(stage)'")
                        }
                        hold = .stage(k)
                    } else {
                        hold = .coordinated
                    }
                    holdSource = e.id
                case .release(let s) where s == me.id:
                    hold = nil
                    holdSource = e.id
                default: break
                }
            }
            let active = windows.first { $0.callMs <= p && p < $0.releaseMs }
            let planFlash = corridor.plans[plan].isFlash
            current = SignalInputs(
                plan: plan, planSource: planSource,
                flash: corridorFlash != nil || signalFlash != nil || planFlash,
                flashSource: corridorFlash ?? signalFlash ?? (planFlash ? planSource : nil),
                hold: hold, holdSource: holdSource,
                preempt: active != nil, preemptSource: active?.source)
            if current != inputs[inputs.count - 1] {
                starts.append(p)
                inputs.append(current)
            }
        }
        return SignalSchedule(startsMs: starts, inputs: inputs)
    }
}
