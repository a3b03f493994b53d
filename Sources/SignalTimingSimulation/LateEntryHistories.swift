// Seeded random histories of a corridor's controllers being late: commands at random times, each
// controller cut off, restarted or caught up from a snapshot at random moments. Each controller's
// lamps are the real lamp logic (`SignalFollower`, as the controller's lamp driver runs it) fed the
// timeline that controller knows at each instant, and every lamp change goes through an independent
// conflict monitor. Deterministic: a seed fixes the history. Used by `SignalTimingTests` (a bounded
// number of histories) and by `tools/late-entry` (≥ 10^5).
import RaftCore
import SignalTiming

/// The outcome of one history (or of many, summed).
public struct LateEntryReport: Sendable {
    public var histories = 0
    public var signals = 0
    public var commands = 0
    public var lampChanges = 0
    public var isolations = 0
    public var restarts = 0
    public var snapshots = 0
    /// Timeline updates that disagreed with the lamps (a late entry began).
    public var lateEntries = 0
    /// Monitor trips, with the seed and a description of the first fault.
    public var trips: [(seed: UInt64, signal: SignalID, fault: String)] = []
    /// Signals not back on the schedule within the documented bound.
    public var late: [(seed: UInt64, signal: SignalID, detail: String)] = []
    /// Per signal that had to converge (it was not on the schedule at the later of its last update and
    /// its last input change): time to be back on the schedule, in ms and in thousandths of a cycle of
    /// the corridor's longest plan.
    public var convergenceMs: [Milliseconds] = []
    public var convergenceMilliCycles: [Milliseconds] = []
    /// Signals already on the schedule at that instant.
    public var alreadyOnSchedule = 0
    /// Start-ups on the final schedule (clean inputs) at a random instant: from the start to in step,
    /// and the start-up all-red (from the end of the flash to the first green or flash), ms.
    public var startupToInStepMs: [Milliseconds] = []
    public var startupAllRedMs: [Milliseconds] = []

    public init() {}

    public mutating func add(_ o: LateEntryReport) {
        histories += o.histories
        signals += o.signals
        commands += o.commands
        lampChanges += o.lampChanges
        isolations += o.isolations
        restarts += o.restarts
        snapshots += o.snapshots
        lateEntries += o.lateEntries
        trips += o.trips
        late += o.late
        convergenceMs += o.convergenceMs
        convergenceMilliCycles += o.convergenceMilliCycles
        alreadyOnSchedule += o.alreadyOnSchedule
        startupToInStepMs += o.startupToInStepMs
        startupAllRedMs += o.startupAllRedMs
    }
}

/// How the lamps follow the timeline a controller knows.
public enum LampLogic: Sendable {
    /// `SignalFollower`: start-up sequence and safe late entry (what the controller runs).
    case follower
    /// What the lamp driver did before late entry existed: show the schedule of whatever timeline is
    /// known, jumping to it when it changes, and start mid-interval. For showing that the property
    /// test catches an unsafe jump.
    case jumpToSchedule
}

public enum LateEntryHistories {
    /// The corridor's safety margin: a command takes effect this long after the leader stamped it.
    public static let marginMs: Milliseconds = 5_000

    /// Runs one history.
    public static func run(
        seed: UInt64, logic: LampLogic = .follower, startupFlashMs: Milliseconds? = nil,
        trace: ((String) -> Void)? = nil
    ) throws -> LateEntryReport {
        var rng = SplitMix64(seed: seed)
        let history = try History.draw(seed: seed, startupFlashMs: startupFlashMs, rng: &rng, trace: trace)
        var report = LateEntryReport()
        report.histories = 1
        report.commands = history.events.count
        for sig in history.corridor.signals {
            report.signals += 1
            let disturbances = Disturbances.draw(history, rng: &rng)
            report.isolations += disturbances.isolations.count
            report.restarts += disturbances.restarts.count
            var controller = try ControllerRun(
                history: history, signal: sig, logic: logic, disturbances: disturbances, report: report, trace: trace)
            try controller.follow()
            if case .follower = logic {
                try controller.checkConvergence(rng: &rng)
            } else {
                controller.run(to: history.checkEnd)
            }
            report = controller.report
        }
        return report
    }

    /// One drawn history: a random corridor, when its commands are committed and take effect, and the
    /// schedule they make.
    struct History {
        let seed: UInt64
        let corridor: Corridor
        let epoch: Milliseconds
        /// Where the history starts: the baseline's time.
        let base: Milliseconds
        let maxCycle: Milliseconds
        let basePlan: PlanID
        let flashMs: Milliseconds
        /// The end of the window in which things happen.
        let windowEnd: Milliseconds
        let events: [ControlEvent]
        /// Per event, when it was committed.
        let commits: [Milliseconds]
        let baseline: Baseline
        let schedule: CorridorTimeline
        /// Until when the lamps are checked.
        let checkEnd: Milliseconds

        var lastCommit: Milliseconds { commits.last ?? base }

        static func draw(
            seed: UInt64, startupFlashMs: Milliseconds?, rng: inout SplitMix64, trace: ((String) -> Void)?
        ) throws -> History {
            let corridor = try RandomCorridor.make(&rng)
            let epoch: Milliseconds = Limits.earliestTimeMs + rng.int(0...1_000_000_000_000)
            let base = epoch + rng.int(0...10_000_000)
            let coordinated = corridor.plans.filter { !$0.isFlash }
            let maxCycle = coordinated.map(\.cycleMs).max()!
            let basePlan = rng.chance(10) ? corridor.plans[corridor.plans.count - 1].id : rng.pick(coordinated).id
            let drawnFlashMs = rng.int(Int64(0)...20_000)
            let flashMs = startupFlashMs ?? drawnFlashMs
            let horizon = rng.int(3 * maxCycle...12 * maxCycle)
            let windowEnd = base + horizon
            var (events, commits, t) = drawCommands(
                corridor, epoch: epoch, base: base, windowEnd: windowEnd, rng: &rng)
            // Most histories end with everything released, so that there is a steady schedule to return
            // to; the rest end in whatever holds and flashes the commands left.
            if rng.chance(70) {
                t = max(t, base) + rng.int(1_000...60_000)
                appendReleaseAll(corridor, at: t, events: &events, commits: &commits, rng: &rng)
            }
            let lastCommit = commits.last ?? base
            if let trace {
                trace("seed \(seed) base \(base) epoch \(epoch) plan \(basePlan) startup flash \(flashMs)")
                for (e, c) in zip(events, commits) {
                    trace("  commit \(c - base) effective \(e.effectiveAtMs - base) \(e.action)")
                }
                for s in corridor.signals {
                    trace("  S\(s.id) minSplit \(s.stageMinSplitMs) minGreen \(s.stageMinGreenMs)")
                }
            }
            let baseline = Baseline(atMs: base, plan: basePlan)
            let schedule = try CorridorTimeline(
                corridor: corridor, referenceEpochMs: epoch, baseline: baseline, events: events)
            let checkEnd =
                max(windowEnd, lastCommit + marginMs) + (LateEntry.convergenceCyclesMax + 3) * maxCycle
                + corridor.safety.preemptMaxPresenceMs
            return History(
                seed: seed, corridor: corridor, epoch: epoch, base: base, maxCycle: maxCycle, basePlan: basePlan,
                flashMs: flashMs, windowEnd: windowEnd, events: events, commits: commits, baseline: baseline,
                schedule: schedule, checkEnd: checkEnd)
        }

        /// Up to 12 commands at random times in the window: (events, commit times, the last time drawn).
        /// Effective = commit + margin (the leader's stamp), sometimes pushed to a cycle boundary.
        static func drawCommands(
            _ corridor: Corridor, epoch: Milliseconds, base: Milliseconds, windowEnd: Milliseconds,
            rng: inout SplitMix64
        ) -> ([ControlEvent], [Milliseconds], Milliseconds) {
            let coordinated = corridor.plans.filter { !$0.isFlash }
            var events: [ControlEvent] = []
            var commits: [Milliseconds] = []
            var preempts: [EventID] = []
            var t = base
            let count = rng.int(0...12)
            for k in 0..<count {
                t += rng.pick([
                    0, rng.int(Int64(1)...5_000), rng.int(Int64(1_000)...90_000), rng.int(Int64(30_000)...300_000)
                ])
                if t > windowEnd { break }
                var eff = t + marginMs
                if rng.chance(25) {
                    eff = epoch + (floorDiv(eff - epoch, coordinated[0].cycleMs) + 1) * coordinated[0].cycleMs
                }
                let id = EventID(UInt64(k + 1))
                let action = randomAction(corridor, id: id, preempts: &preempts, rng: &rng)
                events.append(ControlEvent(id: id, effectiveAtMs: eff, action: action))
                commits.append(t)
            }
            return (events, commits, t)
        }

        /// A random command at a random signal; a preemption's id joins `preempts` (for later cancels).
        static func randomAction(
            _ corridor: Corridor, id: EventID, preempts: inout [EventID], rng: inout SplitMix64
        ) -> ControlAction {
            let s = rng.pick(corridor.signals)
            switch rng.int(0...11) {
            case 0, 1, 2, 3: return .setPlan(rng.pick(corridor.plans).id)
            case 4: return .flash(rng.chance(50) ? nil : s.id)
            case 5: return .unflash(rng.chance(50) ? nil : s.id)
            case 6: return .hold(s.id, stage: rng.chance(40) ? nil : rng.pick(s.stages).name)
            case 7, 8: return .release(s.id)
            case 9, 10:
                let n = corridor.signals.count
                let a = rng.int(0...(n - 1))
                let b = rng.int(0...(n - 1))
                let ids = (a <= b ? Array(a...b) : Array((b...a).reversed())).map { corridor.signals[$0].id }
                preempts.append(id)
                return .preempt(
                    Preemption(
                        signals: ids, direction: a <= b ? .increasing : .decreasing, speedKmh: rng.int(20...80),
                        leadMs: rng.int(0...60_000), clearMs: rng.int(0...30_000)))
            default:
                return preempts.isEmpty ? .unflash(nil) : .cancelPreemption(rng.pick(preempts))
            }
        }

        /// Commands at `t` that release and unflash every signal and the corridor, and half the time a
        /// last plan change.
        static func appendReleaseAll(
            _ corridor: Corridor, at t: Milliseconds, events: inout [ControlEvent], commits: inout [Milliseconds],
            rng: inout SplitMix64
        ) {
            let coordinated = corridor.plans.filter { !$0.isFlash }
            var k = events.count
            func append(_ action: ControlAction) {
                k += 1
                events.append(ControlEvent(id: EventID(UInt64(k)), effectiveAtMs: t + marginMs, action: action))
                commits.append(t)
            }
            for s in corridor.signals {
                append(.release(s.id))
                append(.unflash(s.id))
            }
            append(.unflash(nil))
            if rng.chance(50) { append(.setPlan(rng.pick(coordinated).id)) }
        }

        /// The timeline a controller holds when it knows the first `n` commands at `u`: compacted into
        /// a new baseline when the corridor machine would have (nothing in force, every signal settled).
        func known(_ n: Int, at u: Milliseconds, compact: Bool) throws -> CorridorTimeline {
            let evs = Array(events.prefix(n))
            let full = try CorridorTimeline(
                corridor: corridor, referenceEpochMs: epoch, baseline: baseline, events: evs)
            guard compact, !evs.isEmpty, evs.allSatisfy({ $0.effectiveAtMs <= u }) else { return full }
            // The plan in force at the end: the setPlan that takes effect last (stable for equal times).
            var target = basePlan
            var targetAt = Int64.min
            for e in evs {
                if case .setPlan(let p) = e.action, e.effectiveAtMs >= targetAt {
                    target = p
                    targetAt = e.effectiveAtMs
                }
            }
            guard !corridor.plan(target)!.isFlash else { return full }
            var latest = base
            for s in corridor.signals {
                guard let at = full.settledAtMs(of: s.id) else { return full }
                latest = max(latest, at)
            }
            guard latest <= u else { return full }
            return try CorridorTimeline(
                corridor: corridor, referenceEpochMs: epoch, baseline: Baseline(atMs: latest, plan: target), events: [])
        }

        func knownCount(at u: Milliseconds) -> Int { commits.lastIndex { $0 <= u }.map { $0 + 1 } ?? 0 }
    }

    /// One controller's disturbances: isolations (released by log or by snapshot) and restarts, all inside
    /// the window; it is connected from the window's end on.
    struct Disturbances {
        /// (from, until, released by a snapshot), in order of their start.
        var isolations: [(Milliseconds, Milliseconds, Bool)] = []
        var restarts: [(at: Milliseconds, lag: Milliseconds, catchUp: Milliseconds)] = []
        /// The instants its knowledge can change: commits while connected, ends of cuts, catch-ups after
        /// restarts. Each with whether the update comes as a snapshot.
        var updates: [(Milliseconds, Bool)] = []

        static func draw(_ h: History, rng: inout SplitMix64) -> Disturbances {
            enum Happening {
                case isolate(until: Milliseconds, snapshot: Bool)
                case restart(lagMs: Milliseconds, catchUpMs: Milliseconds)
            }
            var happenings: [(Milliseconds, Happening)] = []
            for _ in 0..<rng.int(0...3) {
                let a = rng.int(h.base...h.windowEnd)
                let b = min(h.windowEnd, a + rng.int(1_000...(4 * h.maxCycle)))
                happenings.append((a, .isolate(until: b, snapshot: rng.chance(50))))
            }
            for _ in 0..<rng.int(0...2) {
                happenings.append(
                    (
                        rng.int(h.base...h.windowEnd),
                        .restart(lagMs: rng.pick([0, rng.int(Int64(0)...30_000)]), catchUpMs: rng.int(0...5_000))
                    ))
            }
            happenings.sort { $0.0 < $1.0 }
            var d = Disturbances()
            for (a, h) in happenings { if case .isolate(let b, let snap) = h { d.isolations.append((a, b, snap)) } }
            d.updates = h.commits.map { ($0, false) }
            for (_, b, snap) in d.isolations { d.updates.append((b, snap)) }
            for (a, h) in happenings {
                if case .restart(let lag, let c) = h {
                    d.restarts.append((a, lag, c))
                    d.updates.append((a + c, false))
                }
            }
            d.updates.sort { ($0.0, $0.1 ? 1 : 0) < ($1.0, $1.1 ? 1 : 0) }
            return d
        }
    }

    /// One controller through a history: what it knows at each instant, and its lamps (the lamp logic fed
    /// that knowledge) through a conflict monitor.
    struct ControllerRun {
        let h: History
        let sig: Signal
        let logic: LampLogic
        let disturbances: Disturbances
        let trace: ((String) -> Void)?
        var report: LateEntryReport
        var monitor: ConflictMonitor
        var follower: SignalFollower
        var jump: CorridorTimeline
        var jumpAt: Milliseconds
        var lastShown: [Lamp]?
        var lastKnown = 0
        var lastUpdate: Milliseconds
        var clock: Milliseconds
        var tripped = false

        /// Boots at the baseline (the start-up sequence), knowing nothing but the baseline.
        init(
            history h: History, signal sig: Signal, logic: LampLogic, disturbances: Disturbances,
            report: LateEntryReport, trace: ((String) -> Void)?
        ) throws {
            self.h = h
            self.sig = sig
            self.logic = logic
            self.disturbances = disturbances
            self.trace = trace
            self.report = report
            monitor = ConflictMonitor(signal: sig)
            let initial = try h.known(0, at: h.base, compact: false)
            follower = SignalFollower(signal: sig.id, timeline: initial, startingAt: h.base, startupFlashMs: h.flashMs)
            jump = initial
            jumpAt = h.base
            lastUpdate = h.base
            clock = h.base
            if case .follower = logic {
                show(follower.state(at: h.base))
            } else {
                show(jump.state(of: sig.id, at: h.base))
            }
        }

        func isolatedAt(_ u: Milliseconds) -> Milliseconds? {
            var start: Milliseconds?
            for (a, b, _) in disturbances.isolations where a <= u && u < b { start = min(start ?? a, a) }
            return start
        }

        /// What the controller knows at u: everything committed by u, or by the start of the cut.
        func knowledge(at u: Milliseconds) -> Int { h.knownCount(at: isolatedAt(u) ?? u) }

        /// A lamp change: counted, traced and observed by the monitor (until it trips).
        mutating func show(_ st: SignalState) {
            report.lampChanges += 1
            trace?("S\(sig.id) \(st.atMs - h.base) \(st.lamps) \(st.interval) \(st.mode) status \(follower.status)")
            guard !tripped else { return }
            if let f = monitor.observe(atMs: st.atMs, lamps: st.lamps).first {
                tripped = true
                report.trips.append((h.seed, sig.id, "history \(h.seed) signal \(sig.id): \(f)"))
            }
            lastShown = st.lamps
        }

        /// Shows every change up to `u`.
        mutating func run(to u: Milliseconds) {
            clock = max(clock, u)
            switch logic {
            case .follower:
                for st in follower.changes(through: u) { show(st) }
            case .jumpToSchedule:
                for st in jump.changes(of: sig.id, fromMs: jumpAt, throughMs: u).dropFirst() { show(st) }
                jumpAt = u
            }
        }

        mutating func learn(_ tl: CorridorTimeline, at u: Milliseconds) {
            trace?("S\(sig.id) learn at \(u - h.base): baseline \(tl.baseline.atMs - h.base) events \(tl.events.count)")
            switch logic {
            case .follower:
                follower.update(timeline: tl)
            case .jumpToSchedule:
                jump = tl
                let st = tl.state(of: sig.id, at: u)
                if st.lamps != lastShown { show(st) }
            }
        }

        /// The controller restarts at `r.at` from what it had stored `r.lag` earlier, with a fresh monitor.
        mutating func restart(_ r: (at: Milliseconds, lag: Milliseconds, catchUp: Milliseconds)) throws {
            trace?("S\(sig.id) restart at \(r.at - h.base)")
            run(to: r.at)
            let stored = try h.known(min(lastKnown, knowledge(at: r.at - r.lag)), at: r.at, compact: true)
            monitor = ConflictMonitor(signal: sig) // the cabinet's monitor powers up with it
            tripped = false
            lastShown = nil
            switch logic {
            case .follower:
                report.lateEntries += follower.lateEntries
                follower = SignalFollower(signal: sig.id, timeline: stored, startingAt: r.at, startupFlashMs: h.flashMs)
                show(follower.state(at: r.at))
            case .jumpToSchedule:
                jump = stored
                jumpAt = r.at
                show(stored.state(of: sig.id, at: r.at))
            }
            lastKnown = min(lastKnown, knowledge(at: r.at - r.lag))
            lastUpdate = r.at
        }

        /// Every update and restart through `checkEnd`, then the catch-up to everything.
        mutating func follow() throws {
            var ri = 0
            let restarts = disturbances.restarts
            for (u, snapshot) in disturbances.updates where u <= h.checkEnd {
                // Restarts due before this update.
                while ri < restarts.count && restarts[ri].at <= u {
                    let r = restarts[ri]
                    ri += 1
                    try restart(r)
                }
                run(to: u)
                let n = knowledge(at: u)
                if n == lastKnown && !snapshot { continue }
                lastUpdate = u
                if snapshot {
                    // One snapshot: the leader's state, compacted if it could be.
                    report.snapshots += 1
                    learn(try h.known(n, at: u, compact: true), at: u)
                } else {
                    // Log catch-up: the entries apply one after another at this instant.
                    for m in stride(from: n > lastKnown ? lastKnown + 1 : n, through: n, by: 1) {
                        learn(try h.known(m, at: u, compact: true), at: u)
                    }
                }
                lastKnown = n
            }
            // From here on the controller is connected and knows everything.
            let allKnown = h.knownCount(at: h.checkEnd)
            if lastKnown != allKnown {
                let u = max(clock, h.lastCommit)
                run(to: u)
                lastUpdate = u
                learn(try h.known(allKnown, at: u, compact: true), at: u)
                lastKnown = allKnown
            }
        }

        /// Convergence: from the later of the last update and the signal's last input change, how long
        /// until its lamps are the schedule's for good (and, with clean final inputs, until the follower
        /// is in step). Then a start-up on the final schedule.
        mutating func checkConvergence(rng: inout SplitMix64) throws {
            report.lateEntries += follower.lateEntries
            let from = max(clock, lastUpdate, h.schedule.inputChangesMs(of: sig.id).last ?? h.base)
            run(to: from)
            var mine = follower
            let onScheduleSince = probeSchedule(&mine, from: from)
            guard var back = onScheduleSince else {
                late("lamps differ from the schedule at \(h.checkEnd) (from \(from))")
                return
            }
            if h.schedule.finalInputsAreClean(of: sig.id) {
                guard mine.inStep, let since = mine.inStepSinceMs else {
                    late("not in step by \(h.checkEnd) (from \(from))")
                    return
                }
                back = max(back, since)
            }
            if h.schedule.finalInputsAreClean(of: sig.id) { checkStartup(rng: &rng) }
            if back <= from {
                report.alreadyOnSchedule += 1
                return
            }
            let ms = back - from
            report.convergenceMs.append(ms)
            report.convergenceMilliCycles.append(ms * 1_000 / h.maxCycle)
            if ms > LateEntry.convergenceCyclesMax * h.maxCycle {
                late(
                    "back on the schedule \(ms) ms after \(from), bound \(LateEntry.convergenceCyclesMax) × \(h.maxCycle) ms"
                )
            }
        }

        mutating func late(_ detail: String) {
            report.late.append((h.seed, sig.id, "history \(h.seed) signal \(sig.id): \(detail)"))
        }

        /// Runs `mine` beside the schedule from `from` to `checkEnd` (its lamps still through the monitor);
        /// since when the two agree for good, or nil if they differ at the end.
        mutating func probeSchedule(_ mine: inout SignalFollower, from: Milliseconds) -> Milliseconds? {
            var theirs = h.schedule.cursor(of: sig.id, at: from)
            var onScheduleSince: Milliseconds?
            var probe = from
            while true {
                let a = mine.state(at: probe)
                let b = theirs.state(at: probe)
                // The lamps keep going through the monitor while they converge.
                if a.lamps != lastShown { show(a) }
                if a.lamps != b.lamps || a.mode != b.mode || a.stage != b.stage {
                    onScheduleSince = nil
                } else if onScheduleSince == nil {
                    onScheduleSince = probe
                }
                let next = min(a.nextChangeMs ?? .max, b.nextChangeMs ?? .max)
                if next > h.checkEnd { break }
                probe = next
            }
            mine.advance(to: h.checkEnd)
            return onScheduleSince
        }

        /// A start-up at a random instant of the final schedule: flash, all-red, entry; checked by a fresh
        /// monitor, timed to in step.
        mutating func checkStartup(rng: inout SplitMix64) {
            let (seed, maxCycle, flashMs) = (h.seed, h.maxCycle, h.flashMs)
            let boot = h.checkEnd + rng.int(0...maxCycle)
            var f = SignalFollower(signal: sig.id, timeline: h.schedule, startingAt: boot, startupFlashMs: flashMs)
            var m = ConflictMonitor(signal: sig)
            var redFrom: Milliseconds?
            var entered: Milliseconds?
            for st in [f.state(at: boot)] + f.changes(through: boot + flashMs + 4 * maxCycle) {
                if let fault = m.observe(atMs: st.atMs, lamps: st.lamps).first {
                    report.trips.append(
                        (seed, sig.id, "history \(seed) signal \(sig.id) start-up at \(boot): \(fault)"))
                    break
                }
                if st.interval == .redRest && redFrom == nil { redFrom = st.atMs }
                if redFrom != nil && entered == nil && st.interval != .redRest { entered = st.atMs }
            }
            if f.inStep, let since = f.inStepSinceMs, let r = redFrom, let e = entered {
                report.startupToInStepMs.append(since - boot)
                report.startupAllRedMs.append(e - r)
            } else {
                late("not in step \(4 * maxCycle) ms after a start-up at \(boot)")
            }
        }
    }
}

extension SplitMix64 {
    mutating func int(_ r: ClosedRange<Int64>) -> Int64 {
        r.lowerBound + Int64(next() % UInt64(r.upperBound - r.lowerBound + 1))
    }
    mutating func int(_ r: ClosedRange<Int>) -> Int {
        r.lowerBound + Int(next() % UInt64(r.upperBound - r.lowerBound + 1))
    }
    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }
    mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }
}

func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && a < 0) ? q - 1 : q
}
