import CorridorFile
import CorridorMachine
import Foundation
import GreenwaveAPI
import RaftCore
import SignalTiming
import Storage

/// What one signal showed at one instant: computed by replaying the record, then checked against the
/// lamp event log the signal's own controller wrote.
public struct SignalAtReport: Sendable {
    public struct PhaseLamp: Sendable, Equatable {
        public var phase: Int
        public var name: String
        /// By replay.
        public var lamp: Lamp
        /// By the lamp event log (nil: the log does not say; `logNotGreen` then tells whether it
        /// at least says "not green").
        public var logLamp: Lamp?
        public var logNotGreen: Bool
    }

    public struct CommandRef: Sendable, Equatable {
        public var index: LogIndex
        public var operatorName: String
        public var command: String
        public var leaderTimeMs: Int64
        public var effectiveAtMs: Int64?
    }

    public var signal: Int
    public var signalName: String
    public var timeMs: Int64
    public var replayOrigin: String
    /// Commands replayed (those the leader proposed at or before the instant).
    public var commandsReplayed: Int
    public var lastCommandIndex: LogIndex
    /// Set when a replayed state hash differed from the recorded one (the answer is then suspect).
    public var replayDivergence: LogIndex?

    public var phases: [PhaseLamp]
    public var interval: IntervalCode
    public var stageName: String?
    public var intervalStartMs: Int64
    public var intervalEndMs: Int64?
    public var mode: SignalMode
    public var plan: String
    public var cycleStartMs: Int64?
    public var cycleMs: Int64?
    /// The command that decided what the signal shows (nil: the corridor's initial plan).
    public var cause: CommandRef?
    /// The corridor's mode at the instant, since when and by which command.
    public var corridorPlan: String
    public var corridorPlanSinceMs: Int64
    public var corridorPlanSource: CommandRef?
    /// Mode changes already ordered but not yet in force at the instant.
    public var pendingModes: [(plan: String, effectiveAtMs: Int64, source: CommandRef)]
    /// Preemptions covering this signal ordered by then and not yet ended.
    public var preemptions: [(source: CommandRef, direction: String, effectiveAtMs: Int64, endsAtMs: Int64)]

    /// The lamp event log's view (nil: no start-up record at or before the instant).
    public var lampLog: LampLogState?
    public var logPatternName: String?
    /// Every way the replay and the lamp log differ, in words.
    public var disagreements: [String]
    /// An actuated signal (the corridor file's `actuated:`): why it showed what it showed, from its lamp log
    /// (`ActuatedAt`); the replay then gives the replicated mode and plan only, and is not compared lamp by lamp.
    public var actuated: [String]? = nil
}

public enum SignalAt {
    public static func report(
        folder: DataFolder, signal id: Int, at t: Int64, corridor override: String? = nil,
        start: ReplayStart = .automatic
    ) throws -> SignalAtReport {
        let origin = try Replayer.origin(folder: folder, corridor: override, start: start)
        var machine = origin.machine
        guard let si = machine.corridor.signalIndex(of: SignalID(id)) else {
            throw AuditError(
                "--signal \(id): no such signal in the corridor (signals: \(machine.corridor.signals.map { "\($0.id.rawValue)" }.joined(separator: ", ")))"
            )
        }
        let signal = machine.corridor.signals[si]
        guard t >= machine.baseline.atMs else {
            throw AuditError(
                "--time \(AuditTime.iso(t)): the replay starts from \(origin.description), whose history begins at \(AuditTime.iso(machine.baseline.atMs)); pick a later instant or an older snapshot"
            )
        }
        let replay = Replay.run(
            &machine, rows: try folder.auditRows().compactMap(\.row), after: origin.index, through: t)
        func ref(_ p: Provenance?) -> SignalAtReport.CommandRef? { replay.ref(p) }
        let st = machine.timeline.state(of: signal.id, at: t)
        let mode = machine.mode(at: t)
        let pending = machine.events.compactMap { e -> (String, Int64, SignalAtReport.CommandRef)? in
            guard case .setPlan(let p) = e.event.action, e.event.effectiveAtMs > t, let r = ref(e.provenance) else {
                return nil
            }
            return (p.rawValue, e.event.effectiveAtMs, r)
        }
        let preempts = machine.preemptions.compactMap { p -> (SignalAtReport.CommandRef, String, Int64, Int64)? in
            guard p.preemption.signals.contains(signal.id), p.endsAtMs > t, let r = ref(p.source) else { return nil }
            return (r, p.preemption.direction.rawValue, p.effectiveAtMs, p.endsAtMs)
        }
        let plan = machine.corridor.plan(st.plan)

        // The controller's own record.
        let log = try LampLogState.at(t, signal: signal, folder: folder)
        let (phases, phaseDisagreements) = phaseLamps(signal, replayed: st, log: log)
        var disagreements = phaseDisagreements
        var logPatternName: String?
        if let log, log.stoppedAtMs == nil {
            logPatternName = patternName(log, plans: machine.corridor.plans.map(\.id))
            disagreements += modeDisagreements(log, replayed: st, plans: machine.corridor.plans.map(\.id))
        }
        var report = SignalAtReport(
            signal: id, signalName: signal.name, timeMs: t, replayOrigin: origin.description,
            commandsReplayed: replay.replayed,
            lastCommandIndex: replay.last, replayDivergence: replay.divergence, phases: phases, interval: st.interval,
            stageName: st.stage.map { signal.stages[$0].name }, intervalStartMs: st.intervalStartMs,
            intervalEndMs: st.intervalEndMs,
            mode: st.mode, plan: st.plan.rawValue, cycleStartMs: st.cycleStartMs, cycleMs: plan.map(\.cycleMs),
            cause: st.cause.map { id in
                ref(machine.event(id)?.provenance ?? Provenance(logIndex: id.rawValue, operatorID: "?"))
            }
                ?? ref(machine.cause(of: signal.id, at: t)),
            corridorPlan: mode.plan.rawValue, corridorPlanSinceMs: mode.sinceMs, corridorPlanSource: ref(mode.source),
            pendingModes: pending, preemptions: preempts, lampLog: log, logPatternName: logPatternName,
            disagreements: disagreements)
        report.actuated = try actuatedExplanation(folder: folder, override: override, signal: signal, log: log, at: t)
        if report.actuated != nil { report.disagreements = [] }
        return report
    }

    /// An actuated signal's own account of `t` from its lamp log (`ActuatedAt`); nil for a fixed-time signal.
    static func actuatedExplanation(
        folder: DataFolder, override: String?, signal: Signal, log: LampLogState?, at t: Int64
    ) throws -> [String]? {
        guard try folder.corridor(override: override)?.document.actuated?.control(of: signal.id) == .actuated else {
            return nil
        }
        let id = "\(signal.id.rawValue)"
        let events = try log.map { try folder.lampEvents(signalID: id, from: $0.sinceStartMs, to: t + 1) } ?? []
        return ActuatedAt.explain(events, at: t)
    }

    /// The replay up to an instant, and the folder's rows by index for naming the commands it cites.
    struct Replay {
        var byIndex: [LogIndex: AuditRecord] = [:]
        var replayed = 0
        var last: LogIndex
        var divergence: LogIndex?

        /// Replays what the leader had proposed by `t`; a command proposed later cannot have changed what
        /// was shown at `t` (it takes effect at least the safety margin after its leader time), and leaving
        /// it out keeps the history at `t` from being folded away by compaction.
        static func run(
            _ machine: inout CorridorMachine, rows: [ChainRow], after origin: LogIndex, through t: Int64
        ) -> Replay {
            var replay = Replay(last: origin)
            for row in rows where row.record.index > origin {
                let r = row.record
                replay.byIndex[r.index] = r
                if r.leaderTimeMs > t { break }
                let a = machine.apply(index: r.index, term: r.term, kind: .normal, payload: r.command)
                replay.replayed += 1
                replay.last = r.index
                if a.stateHash != r.stateHash, replay.divergence == nil { replay.divergence = r.index }
            }
            for row in rows where replay.byIndex[row.record.index] == nil {
                replay.byIndex[row.record.index] = row.record
            }
            return replay
        }

        func ref(_ index: UInt64) -> SignalAtReport.CommandRef? {
            guard let r = byIndex[index] else { return nil }
            return SignalAtReport.CommandRef(
                index: index, operatorName: r.operatorName, command: CommandLog.describe(r.command),
                leaderTimeMs: r.leaderTimeMs, effectiveAtMs: Evidence.acceptance(r).effectiveAtMs)
        }

        func ref(_ p: Provenance?) -> SignalAtReport.CommandRef? {
            guard let p else { return nil }
            return ref(p.logIndex)
                ?? SignalAtReport.CommandRef(
                    index: p.logIndex, operatorName: p.operatorID, command: "(row not in this folder)",
                    leaderTimeMs: 0, effectiveAtMs: nil)
        }
    }

    /// Each phase's lamp by the replay and by the lamp log, and every phase on which they differ, in words.
    static func phaseLamps(
        _ signal: Signal, replayed st: SignalState, log: LampLogState?
    ) -> ([SignalAtReport.PhaseLamp], [String]) {
        var disagreements: [String] = []
        var phases: [SignalAtReport.PhaseLamp] = []
        for (i, p) in signal.phases.enumerated() {
            let logLamp = log?.lamps[i]
            phases.append(
                .init(
                    phase: p.id.rawValue, name: p.name, lamp: st.lamps[i], logLamp: logLamp,
                    logNotGreen: log != nil && logLamp == nil))
            guard let log, log.stoppedAtMs == nil else { continue }
            if let l = logLamp, l != st.lamps[i] {
                let since = log.lampSinceMs[i].map { " since \(AuditTime.iso($0, digits: 1))" } ?? ""
                disagreements.append(
                    "phase \(p.id.rawValue) (\(p.name)): replay gives \(lampWord(st.lamps[i])), the lamp log gives \(lampWord(l))\(since)"
                )
            } else if logLamp == nil, st.lamps[i] == .green {
                disagreements.append(
                    "phase \(p.id.rawValue) (\(p.name)): replay gives green, the lamp log has it not green since the controller started at \(AuditTime.iso(log.sinceStartMs, digits: 1))"
                )
            }
        }
        return (phases, disagreements)
    }

    /// The lamp log's pattern in the corridor's words: a plan name, flash, or the bare number.
    static func patternName(_ log: LampLogState, plans: [PlanID]) -> String? {
        guard let pat = log.pattern else { return nil }
        return pat == 255
            ? "flash" : (pat >= 1 && Int(pat) <= plans.count ? plans[Int(pat) - 1].rawValue : "pattern \(pat)")
    }

    /// Where the lamp log's pattern, coordination and flash differ from the replay's plan and mode.
    static func modeDisagreements(_ log: LampLogState, replayed st: SignalState, plans: [PlanID]) -> [String] {
        var disagreements: [String] = []
        if let pat = log.pattern {
            let want = HiResCode.pattern(plan: st.plan, mode: st.mode, plans: plans)
            if pat != want {
                disagreements.append(
                    "plan: replay gives \(st.mode == .flash ? "flash" : st.plan.rawValue) (pattern \(want)), the lamp log gives pattern \(pat) (\(patternName(log, plans: plans)!))"
                )
            }
        }
        if let c = log.coordination, c != HiResCode.coordination(st) {
            disagreements.append(
                "mode: replay gives \(st.mode.rawValue) (\(HiResCode.coordinationName(HiResCode.coordination(st)))), the lamp log gives \(HiResCode.coordinationName(c)) (event 150 parameter \(c))"
            )
        }
        if log.flashing != (st.mode == .flash) {
            disagreements.append(
                "flash: replay gives \(st.mode == .flash ? "flashing" : "not flashing"), the lamp log gives \(log.flashing ? "flashing" : "not flashing")"
            )
        }
        return disagreements
    }
}

/// A lamp in the audit's words: its wire name (`lampName`) with spaces ("flashing red").
public func lampWord(_ l: Lamp) -> String {
    lampName(l).replacingOccurrences(of: "-", with: " ")
}
