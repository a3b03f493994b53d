import CorridorMachine
import Foundation
import GreenwaveAPI
import Logging
import SignalTiming
import Storage

/// An actuated signal's lamps (issue 20): the dual-ring controller (`ActuatedUnit`) stepped every 100 ms on
/// the replicated mode and plan (this signal's state on the applied timeline, through the same
/// `SignalFollower` a fixed-time signal follows: start-up flash, flash, plan changes at their replicated
/// instant, preemption), with its local detector inputs (`DetectorPanel`), its own dual-ring conflict
/// monitor (a trip latches flash), and every event of the controller (detectors 81/82, faults 83–87,
/// terminations 4/5/6, pedestrian intervals 21–23, …) in the lamp event log.
struct ActuatedLamps: Sendable {
    var settings: ActuatedSettings
    var panel: DetectorPanel
    var unit: ActuatedUnit
}

extension LampDriver {
    /// The loop of an actuated signal (what `run` does for a fixed-time one).
    func runActuated(_ mapped: ActuatedSignal, settings: ActuatedSettings, panel: DetectorPanel) async {
        let applied = driver.appliedSignal
        var seen = applied.current
        let start = clock.corridorMs()
        var known = await driver.lampTimeline(nowMs: start)
        var corridor = known.timeline.corridor
        var a = ActuatedLamps(
            settings: settings, panel: panel,
            unit: ActuatedUnit(
                signal: mapped, corridorPlans: corridor.plans.map(\.id), referenceMs: known.timeline.referenceEpochMs,
                flashExitRedMs: corridor.safety.flashExitRedMs, startMs: start))
        var follower = SignalFollower(
            signal: signal.id, timeline: known.timeline, startingAt: start, startupFlashMs: startupFlashMs)
        logger.info(
            "lamps: actuated (dual-ring controller), start-up sequence",
            metadata: [
                "signal.id": "\(signal.id)", "flash_ms": "\(startupFlashMs)",
                "detectors": "\(a.panel.detectors.count)", "push_buttons": "\(a.panel.pushButtons.count)"
            ])
        record(lampEvents(a.unit.startEvents()))
        publish(a.unit)
        while !Task.isCancelled && !stopRequested {
            let now = clock.corridorMs()
            let version = applied.current
            if version != seen || known.needsExtension(at: now) {
                seen = version
                let latest = await driver.lampTimeline(nowMs: now)
                if latest.version != known.version {
                    follower.update(timeline: latest.timeline)
                    known = latest
                    if latest.timeline.corridor != corridor {
                        corridor = latest.timeline.corridor
                        remap(&a, corridor: corridor)
                    }
                }
            }
            var stepped = 0
            while a.unit.nextStepMs <= now && stepped < 6_000 {
                let t = a.unit.nextStepMs
                let st = follower.state(at: max(t, follower.nowMs))
                let before = (a.unit.lamps, a.unit.peds, a.unit.flash)
                let events = a.unit.step(following: st, inputs: a.panel.sample())
                stepped += 1
                record(lampEvents(events))
                if case .monitor(let why) = a.unit.flash, trip == nil {
                    trip = why
                    logger.critical(
                        "conflict monitor tripped: flashing until reset",
                        metadata: ["signal.id": "\(signal.id)", "fault": "\(why)"])
                }
                if before.0 != a.unit.lamps || before.1 != a.unit.peds || before.2 != a.unit.flash { publish(a.unit) }
            }
            let sleepMs = max(1, min(Int64(ActuatedLimits.tickMs), a.unit.nextStepMs - clock.corridorMs()))
            await applied.wait(seen: seen, timeoutNs: UInt64(sleepMs) * 1_000_000)
        }
        // The last record of this run (182), as for a fixed-time signal.
        record(eventLog.stopEvents(atMs: max(clock.corridorMs(), a.unit.nowMs)))
    }

    /// The replicated plans changed (an `update-plan` applied): the controller takes the new cycle, offset and
    /// splits if they map; if they do not (a split too short for this signal's pedestrians), it keeps the
    /// plans it runs and says so loudly.
    func remap(_ a: inout ActuatedLamps, corridor: Corridor) {
        do {
            guard let i = corridor.signalIndex(of: signal.id) else { return }
            let mapped = try ActuatedCorridor.signal(i, of: corridor, settings: a.settings)
            record(lampEvents(try a.unit.update(signal: mapped)))
        } catch {
            logger.critical(
                "actuated signal cannot take the replicated plans: it keeps running the plans it had",
                metadata: ["signal.id": "\(signal.id)", "error": "\(error)"])
        }
    }

    func lampEvents(_ events: [HiResEvent]) -> [LampEvent] {
        events.map {
            LampEvent(
                signalID: "\(signal.id.rawValue)", timeMs: $0.atMs, eventCode: Int64($0.code),
                parameter: Int64($0.param))
        }
    }

    /// Streams the unit's lamps (and keeps them for `current()`).
    func publish(_ unit: ActuatedUnit) {
        var lamps: [String: String] = [:]
        for (i, p) in unit.signal.ring.phases.enumerated() { lamps["\(p.id.rawValue)"] = lampName(unit.lamps[i]) }
        for (i, p) in unit.signal.ring.phases.enumerated() where p.ped != nil {
            lamps["ped\(p.id.rawValue)"] = "\(unit.peds[i])"
        }
        let c = unit.controller
        let interval: IntervalCode
        if unit.isFlashing {
            interval = .flash
        } else if unit.lamps.contains(.green) {
            interval = .extension
        } else if unit.lamps.contains(.yellow) {
            interval = .yellow
        } else {
            interval = .redRest
        }
        let mode: SignalMode =
            unit.isFlashing ? .flash : (c?.coordination == .inStep ? .coordinated : .transitioning)
        let u = LampUpdate(
            signal: signal.id.rawValue, atMs: unit.nowMs, lamps: lamps, interval: interval.rawValue,
            mode: mode.rawValue, plan: c?.layout.plan.id.rawValue ?? "flash", timeLeftMs: nil, causeIndex: nil,
            monitorFault: trip, shownAtMs: clock.corridorMs(), entry: c?.coordination == .inStep ? nil : "actuated")
        actuatedShown = u
        for (_, s) in subscribers { s.yield(u) }
    }
}
