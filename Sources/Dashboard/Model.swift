import CorridorFile
import GreenwaveAPI
import SignalTiming

/// Everything the dashboard knows, as plain values: the corridor, what each controller last reported
/// (its status and its lamp stream), and the operator's command line. The shell feeds it; the renderer
/// turns it into a screen without looking anywhere else, so that a fixed model gives a fixed screen.
public struct DashboardModel: Sendable, Equatable {
    public struct PhaseInfo: Sendable, Equatable {
        public var id: Int
        public var name: String
        public init(id: Int, name: String) {
            self.id = id
            self.name = name
        }
    }

    /// One controller as the dashboard sees it.
    public struct Controller: Sendable, Equatable {
        public var signal: Int
        public var name: String
        public var api: String
        /// Last `/v1/status` answer, and when it came (dashboard clock, ms).
        public var status: StatusResponse?
        public var statusAtMs: Int64?
        /// Whether the last status poll failed.
        public var unreachable: Bool = false
        /// Since when the controller has failed to answer (dashboard clock, ms).
        public var unreachableSinceMs: Int64?
        /// Last lamp update from the controller's stream.
        public var lamps: LampUpdate?
        /// Whether the lamp stream is connected.
        public var streamUp: Bool = false
        /// Switch delay of the last lamp change seen on the stream: when the controller switched minus when
        /// its schedule said to, ms (its own timer and scheduling delay).
        public var switchDelayMs: Int64?
        /// Phase skew against the expected schedule, from the corridor file alone: at the last start of
        /// coordinated green seen while coordinated, how far it fell from `reference + offset + n·cycle`
        /// of the plan it runs (wrapped to ±cycle/2), ms.
        public var phaseSkewMs: Int64?
        /// When the signal began running the plan it shows (the first lamp change seen under it).
        public var planSinceMs: Int64?
        /// Whether this controller's state hash equals the leader's at the same applied index: nil when no
        /// leader hash is known for that index (for instance, while it catches up).
        public var agrees: Bool?

        public init(signal: Int, name: String, api: String) {
            self.signal = signal
            self.name = name
            self.api = api
        }
    }

    /// One line of the console's history.
    public struct Message: Sendable, Equatable {
        public enum Kind: Sendable, Equatable { case info, ok, error }
        public var kind: Kind
        public var text: String
        public init(_ kind: Kind, _ text: String) {
            self.kind = kind
            self.text = text
        }
    }

    /// A committed mode change being followed until every signal runs the new plan.
    public struct ModeWatch: Sendable, Equatable {
        public var plan: String
        public var index: UInt64
        public var effectiveAtMs: Int64
        public init(plan: String, index: UInt64, effectiveAtMs: Int64) {
            self.plan = plan
            self.index = index
            self.effectiveAtMs = effectiveAtMs
        }
    }

    public var corridorID: String
    public var corridorName: String
    public var phases: [PhaseInfo]
    /// Phase ids of the main road's through movements in each direction and of the side street, for the
    /// corridor strip and the lamp columns.
    public var increasingPhase: Int?
    public var decreasingPhase: Int?
    public var sidePhase: Int?
    public var increasingName: String
    public var decreasingName: String
    public var controllers: [Controller]
    /// The dashboard's clock, ms since the epoch.
    public var nowMs: Int64 = 0
    /// The corridor-wide synchronization figure: checks made on the lamp streams, and how many passed.
    /// Every lamp change is checked for its switch delay (within `syncToleranceMs` of its scheduled
    /// instant), and every start of coordinated green in coordinated mode for its phase skew against the
    /// corridor file's schedule (within `syncToleranceMs`).
    public var switchesSeen: Int = 0
    public var switchesInSync: Int = 0
    public var syncToleranceMs: Int64 = 100
    /// The expected schedule, from the corridor file: reference epoch, and per plan and signal the
    /// offset, the cycle and the coordinated stage's phases.
    public struct Schedule: Sendable, Equatable {
        public var offsetMs: Int64
        public var cycleMs: Int64
        public var coordinatedPhases: [Int]
    }
    public var referenceEpochMs: Int64
    public var schedules: [String: [Int: Schedule]] = [:]
    /// Who is signed in: the key's operator and the role the registry gives it ("asha · engineer"), or why
    /// commands cannot be sent ("view only: no operator key"). Shown on the cluster line.
    public var signedIn: String?
    /// The command line: nil when closed, else what has been typed after ':'.
    public var input: String?
    public var messages: [Message] = []
    public var watch: ModeWatch?
    /// Page of the signal table (when it does not fit).
    public var page: Int = 0
    /// The leader's state hash by applied index, for the agreement column (bounded).
    public var leaderHashes: [UInt64: String] = [:]

    public init(document: CorridorDocument) {
        corridorID = document.id
        corridorName = document.corridor.name
        let sig = document.corridor.signals.first
        phases = sig?.phases.map { PhaseInfo(id: $0.id.rawValue, name: $0.name) } ?? []
        increasingName = document.increasingName
        decreasingName = document.decreasingName
        // The main-road through phases are the coordinated stage's phases, in phase order: NEMA puts the
        // increasing direction's through movement on phase 2 and the decreasing one on 6 by convention,
        // which the corridor files follow; fall back to the first two phases otherwise.
        let ids = phases.map(\.id)
        increasingPhase = ids.contains(2) ? 2 : ids.first
        decreasingPhase = ids.contains(6) ? 6 : (ids.count > 1 ? ids[1] : nil)
        sidePhase = ids.contains(4) ? 4 : ids.last
        referenceEpochMs = Int64(document.referenceEpochMs)
        for plan in document.corridor.plans where !plan.isFlash {
            var bySignal: [Int: Schedule] = [:]
            for (i, sig) in document.corridor.signals.enumerated() where i < plan.signals.count {
                let sp = plan.signals[i]
                guard sp.coordinatedStage < sig.stages.count else { continue }
                bySignal[sig.id.rawValue] = Schedule(
                    offsetMs: Int64(sp.offsetMs), cycleMs: Int64(plan.cycleMs),
                    coordinatedPhases: sig.stages[sp.coordinatedStage].phases.map(\.rawValue))
            }
            schedules[plan.id.rawValue] = bySignal
        }
        controllers = document.endpoints.map { e in
            let name = document.corridor.signals.first { $0.id == e.signal }?.name ?? ""
            return Controller(signal: e.signal.rawValue, name: name, api: "\(e.api)")
        }
    }

    // MARK: - Derived figures

    /// The controller that says it leads with the highest term.
    public var leader: Controller? {
        controllers.filter { !$0.unreachable && $0.status?.role == "leader" }.max {
            ($0.status?.term ?? 0) < ($1.status?.term ?? 0)
        }
    }

    public var reachableCount: Int { controllers.filter { !$0.unreachable && $0.status != nil }.count }

    /// Share of observed lamp changes that switched within tolerance of their scheduled instant.
    public var syncAccuracy: Double? {
        switchesSeen == 0 ? nil : Double(switchesInSync) / Double(switchesSeen)
    }

    /// How many entries a controller's applied index trails the leader's commit index.
    public func lag(of c: Controller) -> UInt64? {
        guard let s = c.status, let l = leader?.status else { return nil }
        return l.commitIndex > s.appliedIndex ? l.commitIndex - s.appliedIndex : 0
    }

    /// Milliseconds left in the current interval, counted down on the dashboard's clock.
    public func timeLeftMs(of c: Controller) -> Int64? {
        guard let l = c.lamps, let left = l.timeLeftMs else { return nil }
        return max(0, l.atMs + left - nowMs)
    }

    /// How many signals run the watched plan (for a mode change being followed), and the first and last
    /// instants at which they were seen to adopt it.
    public var watchProgress: (done: Int, total: Int, firstMs: Int64?, lastMs: Int64?)? {
        guard let w = watch else { return nil }
        let running = controllers.filter { $0.lamps?.plan == w.plan }
        let times = running.compactMap(\.planSinceMs).filter { $0 >= w.effectiveAtMs }
        return (running.count, controllers.count, times.min(), times.max())
    }

    // MARK: - Updates

    /// A status poll's answers (nil where the controller did not answer), in controller order.
    public mutating func applyStatuses(_ answers: [StatusResponse?], atMs now: Int64) {
        nowMs = now
        for (i, a) in answers.enumerated() where i < controllers.count {
            if let a {
                controllers[i].status = a
                controllers[i].statusAtMs = now
                controllers[i].unreachable = false
                controllers[i].unreachableSinceMs = nil
                if controllers[i].lamps == nil || !controllers[i].streamUp, let l = a.lamps { controllers[i].lamps = l }
            } else {
                if !controllers[i].unreachable { controllers[i].unreachableSinceMs = now }
                controllers[i].unreachable = true
            }
        }
        if let l = leader?.status {
            leaderHashes[l.appliedIndex] = l.stateHash
            if leaderHashes.count > 512, let oldest = leaderHashes.keys.min() { leaderHashes[oldest] = nil }
        }
        for i in controllers.indices {
            guard let s = controllers[i].status, !controllers[i].unreachable else {
                controllers[i].agrees = nil
                continue
            }
            controllers[i].agrees = leaderHashes[s.appliedIndex].map { $0 == s.stateHash }
        }
    }

    /// One update from a controller's lamp stream. `first` marks the state sent on (re)connecting, which
    /// is not a change and so says nothing about skew.
    public mutating func applyLamps(_ u: LampUpdate, first: Bool) {
        guard let i = controllers.firstIndex(where: { $0.signal == u.signal }) else { return }
        let previous = controllers[i].lamps
        if let old = previous, old.plan != u.plan { controllers[i].planSinceMs = u.atMs }
        controllers[i].lamps = u
        controllers[i].streamUp = true
        guard !first else { return }
        if let shown = u.shownAtMs {
            let delay = shown - u.atMs
            controllers[i].switchDelayMs = delay
            switchesSeen += 1
            if abs(delay) <= syncToleranceMs { switchesInSync += 1 }
        }
        // A start of coordinated green while coordinated and in step: where the corridor file says it must
        // fall. A green the signal starts while it enters the schedule (after its start-up sequence or a late
        // command: `entry` set on this update or the one before, the update that joins the schedule) is not
        // one: the entry joins the schedule's green part-way through, so that green's start is the entry's,
        // not the schedule's. The entry's own lamp changes still count for their switch delay above.
        if let old = previous, u.mode == "coordinated", u.entry == nil, old.entry == nil,
            let sch = schedules[u.plan]?[u.signal], sch.cycleMs > 0,
            !sch.coordinatedPhases.isEmpty,
            sch.coordinatedPhases.allSatisfy({ u.lamps["\($0)"] == lampName(.green) }),
            !sch.coordinatedPhases.allSatisfy({ old.lamps["\($0)"] == lampName(.green) })
        {
            var e = (u.atMs - referenceEpochMs - sch.offsetMs) % sch.cycleMs
            if e < 0 { e += sch.cycleMs }
            if e > sch.cycleMs / 2 { e -= sch.cycleMs }
            controllers[i].phaseSkewMs = e
            switchesSeen += 1
            if abs(e) <= syncToleranceMs { switchesInSync += 1 }
        }
    }

    public mutating func streamDown(signal: Int) {
        guard let i = controllers.firstIndex(where: { $0.signal == signal }) else { return }
        controllers[i].streamUp = false
    }

    public mutating func say(_ kind: Message.Kind, _ text: String) {
        messages.append(Message(kind, text))
        if messages.count > 50 { messages.removeFirst(messages.count - 50) }
    }
}
