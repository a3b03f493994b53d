import CorridorFile
import SignalTiming
import Storage

/// Which loops count arrivals for arrivals on green and the coordination diagram.
public enum ArrivalDetectors: String, Sendable, CaseIterable {
    /// The phase's advance loops (`calls: false` in the corridor file's `actuated` detectors), as ATSPM.
    case advance
    /// Its stop-bar loops: only where it has no advance loop. A queue standing on a stop-bar loop is one
    /// long activation, so arrivals in the red are undercounted and the share on green overstated.
    case stopBar = "stop-bar"
}

/// What `greenwave audit measures` is asked.
public struct MeasuresOptions: Sendable {
    public var signal: Int?
    public var phase: Int?
    public var fromMs: Int64?
    public var toMs: Int64?
    public var arrivals: ArrivalDetectors = .advance
    /// Added to each arrival: the travel time from the advance loop to the stop bar (ATSPM's distance ÷
    /// speed), so that an arrival is counted when the vehicle reaches the stop line.
    public var travelMs: Milliseconds = 0
    public var corridor: String?

    public init(signal: Int? = nil, phase: Int? = nil, fromMs: Int64? = nil, toMs: Int64? = nil) {
        self.signal = signal
        self.phase = phase
        self.fromMs = fromMs
        self.toMs = toMs
    }
}

/// The measures of one phase over the window (services whose green starts in it).
public struct PhaseMeasures: Sendable {
    public var phase: Int
    public var name: String?
    public var cycles: [PhaseCycle]
    public var split: SplitSummary
    /// The loops arrivals were counted on, and the red-to-red cycles (nil: not measurable, see the note).
    public var arrivalChannels: [Int] = []
    public var arrivalCycles: [ArrivalCycle]?
    public var arrivals: ArrivalsSummary?
    public var arrivalsNote: String?
    public var stopBarChannels: [Int] = []
    public var splitFailureCycles: [SplitFailureCycle]?
    public var splitFailures: SplitFailureSummary?
    public var splitFailureNote: String?
}

/// The measures of one signal.
public struct SignalMeasures: Sendable {
    public var signal: Int
    public var name: String?
    public var fromMs: Int64
    public var toMs: Int64
    /// `actuated`, `fixed`, or nil without a corridor file.
    public var control: String?
    /// Lamp events in the window.
    public var events: Int
    public var phases: [PhaseMeasures]
}

public enum MeasuresReport {
    /// Events are read this far before the window (the red start that opens the first red-to-red cycle, a
    /// detector already on) and after it (the end of the last service that starts in it).
    public static let marginMs: Int64 = 15 * 60_000

    /// The measures of every signal in the folder's lamp log (or `options.signal`), every phase (or one).
    public static func compute(folder: DataFolder, options o: MeasuresOptions) throws -> [SignalMeasures] {
        if let f = o.fromMs, let t = o.toMs, f >= t { throw AuditError("--from must be before --to") }
        guard o.travelMs >= 0, o.travelMs <= 60_000 else { throw AuditError("--travel-s must be 0 to 60 s") }
        let logged = try folder.lampSignals()
        let doc = try folder.corridor(override: o.corridor)?.document
        var ids = logged.compactMap(Int.init).sorted()
        if let s = o.signal {
            if let doc, !doc.corridor.signals.contains(where: { $0.id.rawValue == s }) {
                throw AuditError(
                    "--signal: unknown signal S\(s) (corridor signals: \(doc.corridor.signals.map { "S\($0.id)" }.joined(separator: ", ")))"
                )
            }
            guard ids.contains(s) else {
                throw AuditError(
                    "--signal: S\(s) has no lamp events in \(folder.path) (its lamp log holds \(ids.isEmpty ? "none" : ids.map { "S\($0)" }.joined(separator: ", "))): use that signal's own controller folder"
                )
            }
            ids = [s]
        }
        guard !ids.isEmpty else { throw AuditError("--data \(folder.path): the lamp event log is empty") }
        return try ids.map { try signalMeasures(folder: folder, doc: doc, signal: $0, options: o) }
    }

    static func signalMeasures(
        folder: DataFolder, doc: CorridorDocument?, signal sid: Int, options o: MeasuresOptions
    ) throws -> SignalMeasures {
        let read = try folder.lampEvents(
            signalID: "\(sid)", from: o.fromMs.map { $0 - marginMs } ?? .min, to: o.toMs.map { $0 + marginMs } ?? .max
        ).map { HiResEvent(atMs: $0.timeMs, code: Int($0.eventCode), param: Int($0.parameter)) }
        return try signalMeasures(
            read, source: folder.path, doc: doc, signal: sid, options: o,
            detectors: doc?.actuated?.signals[SignalID(sid)]?.detectors)
    }

    /// The measures of every signal of an ATSPM export (`ATSPMExport.parse`), or `options.signal`: the same
    /// code as for a folder. `detectors` (from `DetectorCSV`) maps each signal's channels to phases; without
    /// it the corridor file's `actuated` section does.
    public static func compute(
        rows: [ATSPMExport.Row], source: String, doc: CorridorDocument?, detectors: [Int: [DetectorConfig]]?,
        options o: MeasuresOptions
    ) throws -> [SignalMeasures] {
        if let f = o.fromMs, let t = o.toMs, f >= t { throw AuditError("--from must be before --to") }
        guard o.travelMs >= 0, o.travelMs <= 60_000 else { throw AuditError("--travel-s must be 0 to 60 s") }
        var bySignal: [Int: [HiResEvent]] = [:]
        for r in rows {
            guard let sid = Int(r.signalID) else {
                throw AuditError("\(source): SignalID '\(r.signalID)' is not a number")
            }
            bySignal[sid, default: []].append(
                HiResEvent(atMs: r.timeMs, code: Int(r.eventCode), param: Int(r.parameter)))
        }
        var ids = bySignal.keys.sorted()
        if let s = o.signal {
            guard ids.contains(s) else {
                throw AuditError(
                    "--signal: S\(s) has no rows in \(source) (it holds \(ids.map { "S\($0)" }.joined(separator: ", ")))"
                )
            }
            ids = [s]
        }
        guard !ids.isEmpty else { throw AuditError("\(source): no event rows") }
        return try ids.map { sid in
            // Stable by time (the export is in time order; a file that is not is put in order).
            let events = bySignal[sid]!.enumerated().sorted {
                ($0.element.atMs, $0.offset) < ($1.element.atMs, $1.offset)
            }
            .map(\.element)
            let lo = o.fromMs.map { $0 - marginMs } ?? .min
            let hi = o.toMs.map { $0 + marginMs } ?? .max
            let dets = detectors.map { $0[sid] ?? [] } ?? doc?.actuated?.signals[SignalID(sid)]?.detectors
            return try signalMeasures(
                events.filter { $0.atMs >= lo && $0.atMs < hi }, source: source, doc: doc, signal: sid, options: o,
                detectors: dets)
        }
    }

    static func signalMeasures(
        _ read: [HiResEvent], source: String, doc: CorridorDocument?, signal sid: Int, options o: MeasuresOptions,
        detectors: [DetectorConfig]?
    ) throws -> SignalMeasures {
        let from = o.fromMs ?? read.first?.atMs ?? 0
        let to = o.toMs ?? (read.last.map { $0.atMs + 1 } ?? 1)
        let inWindow = read.filter { $0.atMs >= from && $0.atMs < to }.count
        guard inWindow > 0 else {
            throw AuditError(
                "S\(sid) has no lamp events from \(AuditTime.iso(from, digits: 1)) to \(AuditTime.iso(to, digits: 1)) in \(source)"
            )
        }
        let sig = doc?.corridor.signals.first { $0.id.rawValue == sid }
        var phases: [(Int, String?)] =
            sig?.phases.map { ($0.id.rawValue, $0.name) }
            ?? Set(read.filter { $0.code == HiResEventCode.phaseBeginGreen }.map(\.param)).sorted().map {
                ($0, String?.none)
            }
        if let p = o.phase {
            guard let one = phases.first(where: { $0.0 == p }) else {
                throw AuditError(
                    "--phase: S\(sid) has no phase \(p) (phases: \(phases.map { "\($0.0)" }.joined(separator: ", ")))")
            }
            phases = [one]
        }
        var control: String?
        var why = "no corridor file: the detector-to-phase mapping is unknown (give --corridor)"
        if doc != nil || detectors != nil {
            control = detectors == nil ? "fixed" : "actuated"
            why = "a fixed-time signal: its controller logs no detector events"
        }
        let measured = phaseMeasures(
            read, window: from..<to, phases: phases, detectors: detectors, noDetectors: why, arrivals: o.arrivals,
            travelMs: o.travelMs)
        return SignalMeasures(
            signal: sid, name: sig?.name, fromMs: from, toMs: to, control: control, events: inWindow, phases: measured)
    }

    /// The pure core: the measures of `phases` over `window` from a signal's events (read with a margin
    /// around the window), with `detectors` its detector configuration (nil: none; `noDetectors` says why).
    public static func phaseMeasures(
        _ events: [HiResEvent], window: Range<Milliseconds>, phases: [(Int, String?)], detectors: [DetectorConfig]?,
        noDetectors: String = "no detectors", arrivals which: ArrivalDetectors = .advance, travelMs: Milliseconds = 0
    ) -> [PhaseMeasures] {
        let all = Measures.cycles(events)
        let activity = DetectorActivity(
            events, startMs: events.first?.atMs ?? window.lowerBound,
            endMs: (events.last?.atMs ?? window.upperBound) + 1)
        return phases.map { (p, name) in
            let cycles = (all[p] ?? []).filter { window.contains($0.greenStartMs) }
            var m = PhaseMeasures(phase: p, name: name, cycles: cycles, split: SplitSummary(phase: p, cycles: cycles))
            guard let detectors else {
                m.arrivalsNote = noDetectors
                m.splitFailureNote = noDetectors
                return m
            }
            let mine = detectors.filter { $0.phase.rawValue == p }
            let advance = mine.filter { !$0.calls }.map(\.id)
            m.stopBarChannels = mine.filter(\.calls).map(\.id)
            m.arrivalChannels = which == .advance ? advance : m.stopBarChannels
            if m.arrivalChannels.isEmpty {
                m.arrivalsNote =
                    which == .advance
                    ? "no advance loop on phase \(p) (detectors with calls: false; --arrivals stop-bar counts at the stop bar)"
                    : "no stop-bar loop on phase \(p)"
            } else {
                let times = activity.arrivals(m.arrivalChannels).map { $0 + travelMs }
                let ac = Measures.arrivalCycles(cycles, arrivals: times)
                m.arrivalCycles = ac
                m.arrivals = ArrivalsSummary(phase: p, cycles: ac)
            }
            if m.stopBarChannels.isEmpty {
                m.splitFailureNote = "no stop-bar loop on phase \(p)"
            } else {
                let sf = Measures.splitFailures(cycles, activity: activity, channels: m.stopBarChannels)
                m.splitFailureCycles = sf
                m.splitFailures = SplitFailureSummary(phase: p, cycles: sf)
            }
            return m
        }
    }
}
