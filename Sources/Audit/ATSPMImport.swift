import Foundation
import SignalTiming

// Reading back what `ATSPMExport` writes: hi-res event rows (`SignalID,Timestamp,EventCode,EventParam`) and
// the `atspm` package's detector configuration (`DeviceId,Phase,Parameter,Function`), so that
// `greenwave audit measures --atspm FILE` runs the same measures on an export (e.g. from a SUMO run) as on a
// data folder. Bounded: a file over `maxBytes`, a line over `maxLineBytes` or more than `maxRows` rows is
// refused, and so is any malformed row, with its line number.
extension ATSPMExport {
    public static let maxBytes = 512 * 1024 * 1024
    public static let maxLineBytes = 256
    public static let maxRows = 5_000_000

    /// The rows of an ATSPM CSV (header first; timestamps UTC, `space` or `iso` style, any fraction).
    /// `source` names the input in errors.
    public static func parse(csv text: String, source: String = "input") throws -> [Row] {
        guard text.utf8.count <= maxBytes else { throw AuditError("\(source): larger than \(maxBytes) bytes") }
        var rows: [Row] = []
        try forEachRow(csv: text, source: source, header: header, maxRows: maxRows, noun: "rows") { f, refuse in
            let sid = String(f[0])
            guard !sid.isEmpty, sid.utf8.count <= 32, sid.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
            else { throw refuse("SignalID '\(sid)' is not a signal id") }
            guard let t = try? AuditTime.parse(String(f[1]), option: "Timestamp"), f[1].contains("-") else {
                throw refuse("Timestamp '\(f[1])' is not a UTC date and time (2026-11-26 23:40:12.3)")
            }
            guard let code = Int64(f[2]), (0...255).contains(code) else {
                throw refuse("EventCode '\(f[2])' is not 0 to 255")
            }
            guard let param = Int64(f[3]), (0...65_535).contains(param) else {
                throw refuse("EventParam '\(f[3])' is not 0 to 65535")
            }
            rows.append(Row(signalID: sid, timeMs: t, eventCode: code, parameter: param, synthesized: false))
        }
        return rows
    }

    /// The shared line loop of the two CSV readers: lines split on any newline (a trailing CR dropped, empty
    /// lines skipped), each at most `maxLineBytes`; `header` first; then at most `maxRows` rows of exactly 4
    /// fields, each given to `row` with a function that makes an error naming the line.
    static func forEachRow(
        csv text: String, source: String, header: String, maxRows: Int, noun: String,
        _ row: ([Substring], (String) -> AuditError) throws -> Void
    ) throws {
        var lineNumber = 0
        var rows = 0
        var sawHeader = false
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.isEmpty { continue }
            let number = lineNumber
            let refuse = { (why: String) in AuditError("\(source) line \(number): \(why)") }
            guard line.utf8.count <= maxLineBytes else { throw refuse("longer than \(maxLineBytes) bytes") }
            if !sawHeader {
                guard line == header else { throw refuse("expected the header '\(header)'") }
                sawHeader = true
                continue
            }
            rows += 1
            guard rows <= maxRows else { throw refuse("more than \(maxRows) \(noun)") }
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count == 4 else { throw refuse("expected 4 fields, got \(f.count)") }
            try row(f, refuse)
        }
        guard sawHeader else { throw AuditError("\(source): empty (no header '\(header)')") }
    }

    /// The whole CSV text for `rows` (header and one line per row): what `audit export` and `greenwave sumo
    /// --atspm-out` write.
    public static func csv(_ rows: [Row], style: TimestampStyle = .space) -> String {
        var text = header + "\n"
        for r in rows { text += csvLine(r, style: style) + "\n" }
        return text
    }

    /// Reads and parses an ATSPM CSV file.
    public static func read(path: String) throws -> [Row] {
        try parse(csv: readBounded(path), source: path)
    }

    public static func readBounded(_ path: String) throws -> String {
        let attrs: [FileAttributeKey: Any]
        do { attrs = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw AuditError("\(path): cannot be read (\(error.localizedDescription))")
        }
        if let size = attrs[.size] as? NSNumber, size.intValue > maxBytes {
            throw AuditError("\(path): larger than \(maxBytes) bytes")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw AuditError("\(path): cannot be read") }
        guard let text = String(data: data, encoding: .utf8) else { throw AuditError("\(path): not UTF-8 text") }
        return text
    }
}

/// The `atspm` package's detector configuration as CSV (`DeviceId,Phase,Parameter,Function`): per signal,
/// its detector channels, their phase, and `Advance` (an advance loop: `calls: false`) or `Presence` (a
/// stop-bar loop).
public enum DetectorCSV {
    public static let header = "DeviceId,Phase,Parameter,Function"
    public static let maxRows = 10_000

    public static func csv(_ detectors: [Int: [DetectorConfig]]) -> String {
        var text = header + "\n"
        for sid in detectors.keys.sorted() {
            for d in detectors[sid]! {
                text += "\(sid),\(d.phase.rawValue),\(d.id),\(d.calls ? "Presence" : "Advance")\n"
            }
        }
        return text
    }

    /// Per signal, its detectors in file order. Malformed rows are refused with their line.
    public static func parse(csv text: String, source: String = "input") throws -> [Int: [DetectorConfig]] {
        var out: [Int: [DetectorConfig]] = [:]
        try ATSPMExport.forEachRow(csv: text, source: source, header: header, maxRows: maxRows, noun: "detectors") {
            f, refuse in
            guard let sid = Int(f[0]), (0...65_535).contains(sid) else {
                throw refuse("DeviceId '\(f[0])' is not a signal id")
            }
            guard let phase = Int(f[1]), (1...16).contains(phase) else {
                throw refuse("Phase '\(f[1])' is not 1 to 16")
            }
            guard let ch = Int(f[2]), (1...64).contains(ch) else {
                throw refuse("Parameter '\(f[2])' is not a channel 1 to 64")
            }
            let calls: Bool
            switch f[3] {
            case "Presence": calls = true
            case "Advance": calls = false
            default: throw refuse("Function '\(f[3])' is neither Presence nor Advance")
            }
            guard !(out[sid]?.contains { $0.id == ch } ?? false) else { throw refuse("S\(sid) channel \(ch) twice") }
            out[sid, default: []].append(DetectorConfig(id: ch, phase: PhaseID(phase), calls: calls))
        }
        return out
    }
}
