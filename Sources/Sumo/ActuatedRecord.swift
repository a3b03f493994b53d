// What an actuated SUMO run can keep besides its trips: every controller's hi-res events and
// detector configuration (for `greenwave sumo --atspm-out`, `--detectors-out`), and SUMO's ground truth
// at the advance loops (`--ground-truth-out`, `GroundTruthProbe`).
import Logging
import SignalTiming

public struct ActuatedRecord: Sendable {
    /// Per signal of the run: the events its controller logged (epoch ms), in order, starting with a 184
    /// (power restored: the controller's start) and a 131 (the plan's pattern number) at the run's start.
    public var events: [SignalID: [HiResEvent]] = [:]
    /// Per signal: its loops as channels (stop-bar loops call, advance loops do not).
    public var detectors: [SignalID: [DetectorConfig]] = [:]
    /// SUMO's own arrivals at the advance loops and lamps (nil unless asked for).
    public var groundTruth: GroundTruthRecord?
}

extension OfflineRun {
    /// An actuated run (as `run(control: .actuated…)`) that also keeps the controllers' events and, with
    /// `groundTruth`, SUMO's view at the advance loops.
    public static func runActuated(
        scenario: Scenario, timings: [ActuatedTiming], plan: PlanID, referenceEpochMs: Milliseconds,
        sumo: SumoInstallation, options: RunOptions = RunOptions(), recordEvents: Bool = false,
        groundTruth: Bool = false, logger: Logger? = nil
    ) throws -> (RunResult, ActuatedRecord) {
        var lights = try ActuatedLights(
            scenario: scenario, timings: timings, plan: plan, referenceMs: referenceEpochMs, stepMs: options.stepMs)
        lights.recordEvents = recordEvents
        let probe =
            groundTruth
            ? try GroundTruthProbe(
                scenario: scenario, referenceEpochMs: referenceEpochMs, stepMs: options.stepMs,
                tag: "\(plan.rawValue)-\(options.seed)") : nil
        var result = try drive(
            scenario: scenario, tag: "act-\(plan.rawValue)", sumo: sumo, options: options,
            loops: lights.allLoopIDs, probe: probe, logger: logger
        ) { step, loops in
            if step > 0 { try lights.step(loops: loops) }
            return try lights.changes()
        }
        result.greensByPhase = lights.greensByPhase
        result.loopOnSteps = lights.loopOnSteps
        var record = ActuatedRecord()
        let patternNumber = (timings.first?.plans.firstIndex { $0.id == plan } ?? 0) + 1
        for (k, s) in scenario.corridor.signals.enumerated() {
            record.detectors[s.id] = lights.detectors[k]
            if recordEvents {
                record.events[s.id] =
                    [
                        HiResEvent(atMs: referenceEpochMs, code: HiResEventCode.powerRestored, param: 0),
                        HiResEvent(atMs: referenceEpochMs, code: HiResEventCode.patternChange, param: patternNumber)
                    ] + lights.events[k]
            }
        }
        record.groundTruth = try probe?.record()
        return (result, record)
    }
}
