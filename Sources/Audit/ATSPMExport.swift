import SignalTiming
import Storage

/// The lamp event log as Indiana hi-res controller event rows in the CSV layout ATSPM reads and
/// writes (`SignalID,Timestamp,EventCode,EventParam`, timestamps to 0.1 s, UTC).
///
/// When the window starts after the log does, the state at the window's start is written first, at
/// the window's start time, so that a reader does not begin mid-plan: event 131 (pattern), 150
/// (coordination state), 173 (why it flashes) when flashing, then 1 (begin green) for every green phase and
/// 8 (begin yellow) for every phase in yellow — the same set the controller writes at start-up.
public enum ATSPMExport {
    public enum TimestampStyle: String, Sendable, CaseIterable {
        /// `2026-11-26 23:40:12.3` (SQL Server datetime text, the classic ATSPM import).
        case space
        /// `2026-11-26T23:40:12.3` (ATSPM 5's data API default).
        case iso
    }

    public struct Row: Sendable, Equatable {
        public var signalID: String
        public var timeMs: Int64
        public var eventCode: Int64
        public var parameter: Int64
        /// Written to state the window's starting condition, not an event the controller logged then.
        public var synthesized: Bool

        public init(signalID: String, timeMs: Int64, eventCode: Int64, parameter: Int64, synthesized: Bool) {
            self.signalID = signalID
            self.timeMs = timeMs
            self.eventCode = eventCode
            self.parameter = parameter
            self.synthesized = synthesized
        }
    }

    /// Rows for [from, to) of every signal in the folder (or one), in time order.
    public static func rows(
        folder: DataFolder, corridor override: String? = nil, signal: Int? = nil,
        from: Int64? = nil, to: Int64? = nil
    ) throws -> [Row] {
        try export(folder: folder, corridor: override, signal: signal, from: from, to: to).rows
    }

    /// The rows, and where the replay disagrees with the lamp log about the state written at the
    /// window's start (that state comes from the log, so that the rows agree with each other; the
    /// warnings say where the log itself is at odds with the record — see `SignalAt`).
    public static func export(
        folder: DataFolder, corridor override: String? = nil, signal: Int? = nil,
        from: Int64? = nil, to: Int64? = nil
    ) throws -> (rows: [Row], warnings: [String]) {
        var warnings: [String] = []
        let signals = try signal.map { ["\($0)"] } ?? folder.lampSignals()
        var out: [Row] = []
        let lo = from ?? .min
        let hi = to ?? .max
        guard lo < hi else { throw AuditError("--from must be before --to") }
        var corridorSignals: [Signal]?
        for sid in signals {
            if let from {
                // The state at the window's start, from the log itself (what the controller showed).
                if corridorSignals == nil {
                    corridorSignals = try Replayer.origin(folder: folder, corridor: override, start: .automatic).machine
                        .corridor.signals
                }
                if let sig = corridorSignals?.first(where: { "\($0.id.rawValue)" == sid }),
                    let st = try LampLogState.at(from - 1, signal: sig, folder: folder)
                {
                    let check = try SignalAt.report(
                        folder: folder, signal: sig.id.rawValue, at: from - 1, corridor: override)
                    warnings += check.disagreements.map { "S\(sid) at the window start: \($0)" }
                    func add(_ code: Int64, _ p: Int64) {
                        out.append(Row(signalID: sid, timeMs: from, eventCode: code, parameter: p, synthesized: true))
                    }
                    // Stopped at the window's start (182, no start since): the window opens with the stop.
                    if st.stoppedAtMs != nil {
                        add(HiResCode.powerFailure, 0)
                    } else {
                        if let p = st.pattern { add(HiResCode.patternChange, p) }
                        if let c = st.coordination { add(HiResCode.coordinationState, c) }
                        if st.flashing {
                            add(HiResCode.flashStatus, st.flashStatus ?? HiResCode.FlashReason.automatic.rawValue)
                        }
                        for (i, p) in sig.phases.enumerated() where st.lamps[i] == .green {
                            add(HiResCode.phaseGreen, Int64(p.id.rawValue))
                        }
                        for (i, p) in sig.phases.enumerated() where st.lamps[i] == .yellow {
                            add(HiResCode.yellowBegin, Int64(p.id.rawValue))
                        }
                    }
                }
            }
            out += try folder.lampEvents(signalID: sid, from: lo, to: hi).map {
                Row(
                    signalID: $0.signalID, timeMs: $0.timeMs, eventCode: $0.eventCode, parameter: $0.parameter,
                    synthesized: false)
            }
        }
        // Stable: per signal the synthesized rows come first, then the log in its own order.
        return (
            out.enumerated().sorted { ($0.element.timeMs, $0.offset) < ($1.element.timeMs, $1.offset) }.map(\.element),
            warnings
        )
    }

    public static let header = "SignalID,Timestamp,EventCode,EventParam"

    public static func csvLine(_ r: Row, style: TimestampStyle = .space) -> String {
        "\(r.signalID),\(AuditTime.tenths(r.timeMs, separator: style == .space ? " " : "T")),\(r.eventCode),\(r.parameter)"
    }
}
