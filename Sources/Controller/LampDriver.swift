import CorridorMachine
import Foundation
import GreenwaveAPI
import Logging
import SignalTiming
import Storage
import Transport

/// Drives this signal's lamps from the applied state: computes every change on the signal's own clock
/// (so a controller cut off from its peers keeps running the last committed plan), passes each change
/// through an independent conflict monitor (a trip latches flash and is logged), records it in the
/// lamp event log with Indiana hi-res event codes, and streams it to subscribers.
public actor LampDriver {
    let signal: Signal
    let driver: RaftDriver
    /// Corridor time (docs/corridor-time.md): what the schedule and `shownAtMs` are read on.
    let clock: ControllerClock
    let periodMs: Int
    let logger: Logger
    var monitor: ConflictMonitor
    var shown: SignalState?
    var shownAtMs: Int64 = 0
    private var lastCheckedMs: Int64 = 0
    var trip: String?
    var subscribers: [Int: AsyncStream<LampUpdate>.Continuation] = [:]
    private var nextSubscriber = 0
    private var streamsClosed = false
    /// The lamp event log's derivation (Indiana hi-res codes, `Storage.HiResEventLog`).
    var eventLog: HiResEventLog
    /// How long the start-up flash lasts on every start.
    let startupFlashMs: Int64
    /// Where the lamps stand against the schedule (start-up, entering it, in step).
    private var entry: SignalFollower.Status = .startup
    /// The lamp events, in the order shown, to the Raft driver's group commit (LampEventChannel.swift).
    nonisolated let events: LampEventChannel
    /// `stop()` was called: `run` ends at its next wake-up (or at once, if it has not started).
    var stopRequested = false
    var running = false
    /// At most one warning per 10 s about lamp events dropped because the channel was full.
    private var warnings = LogLimiter(windowNs: 10_000_000_000, maxKeys: 2)
    /// An actuated signal (`actuated:` in the corridor file): its dual ring and settings (nil: fixed-time).
    let actuated: (signal: ActuatedSignal, settings: ActuatedSettings)?
    /// An actuated signal's local detector inputs (`PUT /v1/detectors`).
    public nonisolated let detectors: DetectorPanel?
    /// What an actuated signal shows (its last update).
    var actuatedShown: LampUpdate?

    public init(
        signal: Signal, corridor: Corridor, driver: RaftDriver, clock: ControllerClock, periodMs: Int, logger: Logger,
        startupFlashMs: Int64 = Limits.startupFlashMsDefault, events: LampEventChannel = LampEventChannel(),
        actuated: ActuatedSignal? = nil, actuatedSettings: ActuatedSettings = ActuatedSettings(control: .actuated)
    ) {
        self.signal = signal
        self.actuated = actuated.map { ($0, actuatedSettings) }
        self.detectors = actuated.map { DetectorPanel(detectors: $0.detectors, pushButtons: $0.pushButtons) }
        self.events = events
        self.clock = clock
        self.startupFlashMs = startupFlashMs
        self.eventLog = HiResEventLog(signal: signal, corridor: corridor)
        self.driver = driver
        self.periodMs = periodMs
        self.logger = logger
        self.monitor = ConflictMonitor(signal: signal)
    }

    public func current() -> LampUpdate? { actuatedShown ?? shown.map { update(from: $0) } }

    public func subscribe() -> AsyncStream<LampUpdate> {
        let (stream, continuation) = AsyncStream.makeStream(of: LampUpdate.self, bufferingPolicy: .bufferingNewest(256))
        if streamsClosed {
            continuation.finish()
            return stream
        }
        let id = nextSubscriber
        nextSubscriber += 1
        subscribers[id] = continuation
        if let u = current() { continuation.yield(u) }
        continuation.onTermination = { [weak self] _ in
            Task { await self?.unsubscribe(id) }
        }
        return stream
    }

    private func unsubscribe(_ id: Int) { subscribers[id] = nil }

    /// Ends every lamp stream (on shutdown: an open stream would hold the HTTP server's graceful stop),
    /// and any stream asked for later.
    public func closeStreams() {
        streamsClosed = true
        for (_, c) in subscribers { c.finish() }
        subscribers = [:]
    }

    /// Runs until the task is cancelled: the start-up sequence (start-up flash, all-red, entry into the
    /// schedule at a safe point), then the schedule; whenever the applied timeline changes in a way the
    /// lamps disagree with (a command applied after its effective time, a snapshot installed), a safe
    /// late entry (`SignalFollower`).
    public func run() async {
        guard !stopRequested else { return events.finish() }
        running = true
        defer {
            // Whatever ends the loop (stop, cancellation), the events shown so far go on to the driver.
            running = false
            events.finish()
        }
        if let a = actuated, let panel = detectors {
            await runActuated(a.signal, settings: a.settings, panel: panel)
        } else {
            await runFixedTime()
        }
        for (_, c) in subscribers { c.finish() }
    }

    /// `run` for a fixed-time signal: the lamps follow the applied timeline (`SignalFollower`).
    private func runFixedTime() async {
        let start = clock.corridorMs()
        let applied = driver.appliedSignal
        var seen = applied.current
        var known = await driver.lampTimeline(nowMs: start)
        var follower = SignalFollower(
            signal: signal.id, timeline: known.timeline, startingAt: start, startupFlashMs: startupFlashMs)
        let first = follower.state(at: start)
        logger.info(
            "lamps: start-up sequence",
            metadata: [
                "signal.id": "\(signal.id)", "flash_ms": "\(startupFlashMs)",
                "all_red_ms": "\(known.timeline.corridor.safety.flashExitRedMs)"
            ])
        show(first, events: eventLog.startEvents(first, flash: .startup), entry: follower.status)
        var lateEntries = 0
        var wasInStep = follower.inStep
        while !Task.isCancelled && !stopRequested {
            // Corridor time, slewed and never going back (ControllerClock); the max guards the follower anyway.
            let now = max(clock.corridorMs(), follower.nowMs)
            // The driver is asked only when something was applied since it was last asked.
            let version = applied.current
            let latest =
                version == seen && !known.needsExtension(at: now) ? known : await driver.lampTimeline(nowMs: now)
            seen = version
            if latest.version != known.version {
                // Takes effect where the lamps are (the last instant shown), before this period's changes.
                follower.update(timeline: latest.timeline)
                known = latest
                if follower.lateEntries != lateEntries {
                    lateEntries = follower.lateEntries
                    logger.warning(
                        "lamps disagree with the schedule (a command applied after its effective time, or a snapshot): safe late entry",
                        metadata: [
                            "signal.id": "\(signal.id)", "at_ms": "\(follower.nowMs)",
                            "applied_index": "\(known.version.appliedIndex)"
                        ])
                }
            }
            let changes = follower.changes(through: now)
            for st in changes { observe(st, entry: follower.status) }
            if follower.inStep != wasInStep {
                wasInStep = follower.inStep
                if wasInStep {
                    logger.info(
                        "lamps in step with the schedule",
                        metadata: ["signal.id": "\(signal.id)", "since_ms": "\(follower.inStepSinceMs ?? now)"])
                }
            }
            if changes.isEmpty, let shown {
                // A plan or mode can change without a lamp change (a held signal when the corridor's plan
                // changes; the pattern after flash): log and stream it within one period.
                let cur = follower.state(at: now)
                if cur.lamps == shown.lamps && (cur.plan != shown.plan || cur.mode != shown.mode) {
                    observe(cur, entry: follower.status)
                }
            }
            // Sleep until the next change of the lamps, interval or mode, the next event taking effect (a plan
            // can change without either), an applied entry, or at most `periodMs`, whichever comes first.
            var sleepMs = Int64(periodMs)
            if let n = changes.last?.nextChangeMs ?? shown?.nextChangeMs { sleepMs = min(sleepMs, n - now) }
            if let e = Self.nextEffective(after: now, in: known.timeline) { sleepMs = min(sleepMs, e - now) }
            await applied.wait(seen: seen, timeoutNs: UInt64(max(1, sleepMs)) * 1_000_000)
        }
        // The last record of this run (182), whether a stop or the controller's cancellation ended it: it
        // goes through the channel like every other event, so the shutdown's drain is what stores it.
        record(eventLog.stopEvents(atMs: max(clock.corridorMs(), follower.nowMs)))
    }

    /// Ends `run` at its next wake-up (woken now) and with it the lamp event channel: the shutdown then
    /// waits for `events.drained()` so that every change shown is stored by the driver's last flush.
    public func stop() {
        stopRequested = true
        if running { driver.appliedSignal.notify() } else { events.finish() }
    }

    /// The first effective time of an event after `now` (events are few: compaction folds them away).
    static func nextEffective(after now: Int64, in timeline: CorridorTimeline) -> Int64? {
        var best: Int64?
        for e in timeline.events where e.effectiveAtMs > now { best = min(best ?? e.effectiveAtMs, e.effectiveAtMs) }
        return best
    }

    private func observe(_ st: SignalState, entry: SignalFollower.Status) {
        var state = st
        if trip == nil {
            let faults = monitor.observe(atMs: st.atMs, lamps: st.lamps)
            if let f = faults.first {
                trip = f.description
                logger.critical(
                    "conflict monitor tripped: flashing until reset",
                    metadata: [
                        "signal.id": "\(signal.id)", "fault": "\(f)", "faults": "\(faults.count)"
                    ])
            }
        }
        if trip != nil {
            state.lamps = signal.phases.map(\.flashLamp)
            state.interval = .flash
            state.mode = .flash
        }
        // Why it flashes, for event 173: the monitor's trip, the start-up flash, or an operator's order.
        let flash: HiResCode.FlashReason = trip != nil ? .mmu : (entry == .startup ? .startup : .automatic)
        show(state, events: eventLog.events(from: shown, to: state, flash: flash), entry: entry)
    }

    private func show(_ st: SignalState, events: [LampEvent], entry: SignalFollower.Status) {
        shown = st
        self.entry = entry
        shownAtMs = clock.corridorMs()
        record(events)
        let u = update(from: st)
        for (_, c) in subscribers { c.yield(u) }
    }

    /// Hands `batch` to the channel; a full channel drops it, counted and (rate-limited) logged.
    func record(_ batch: [LampEvent]) {
        guard !batch.isEmpty else { return }
        let instruments = driver.instruments
        switch events.send(batch) {
        case .sent:
            instruments.lampEventsRecorded.increment(by: Int64(batch.count))
        case .dropped(let n):
            instruments.lampEventsDropped.increment(by: Int64(n))
            if case .log(let suppressed) = warnings.admit(source: "lamps", reason: "channel-full", nowNs: monotonicNs())
            {
                logger.error(
                    "lamp events dropped: the driver is not taking them (the event log has a gap)",
                    metadata: [
                        "signal.id": "\(signal.id)", "dropped": "\(n)", "suppressed": "\(suppressed)"
                    ])
            }
        case .closed:
            // After stop(): the loop shows nothing more, so only a change racing the stop lands here.
            instruments.lampEventsDropped.increment(by: Int64(batch.count))
        }
    }

    private func update(from st: SignalState) -> LampUpdate {
        var lamps: [String: String] = [:]
        for (i, p) in signal.phases.enumerated() { lamps["\(p.id.rawValue)"] = lampName(st.lamps[i]) }
        return LampUpdate(
            signal: signal.id.rawValue, atMs: st.atMs, lamps: lamps, interval: st.interval.rawValue,
            mode: st.mode.rawValue, plan: st.plan.rawValue, timeLeftMs: st.timeLeftMs,
            causeIndex: st.cause?.rawValue, monitorFault: trip, shownAtMs: shownAtMs,
            entry: entry == .inStep ? nil : entry.rawValue)
    }
}
