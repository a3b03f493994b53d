import Foundation
import SignalTiming

/// `greenwave audit measures` output: a text table per signal (and per cycle with `cycles`), or JSON.
public enum MeasuresText {
    /// `12.3` (tenths, rounded half up).
    static func secs(_ ms: Double) -> String {
        let t = Int64((ms / 100).rounded())
        return "\(t < 0 ? "-" : "")\(abs(t) / 10).\(abs(t) % 10)"
    }

    static func secs(_ ms: Milliseconds?) -> String { ms.map { secs(Double($0)) } ?? "-" }
    static func secs(_ ms: Double?) -> String { ms.map { secs($0) } ?? "-" }
    static func percent(_ r: Double?) -> String { r.map { secs($0 * 100_000) + " %" } ?? "-" }
    static func ratio(_ r: Double?) -> String { r.map { String(format: "%.2f", $0) } ?? "-" }

    static func row(_ cells: [(String, Int)]) -> String {
        "  "
            + cells.map { $0.0.count >= $0.1 ? $0.0 + " " : $0.0 + String(repeating: " ", count: $0.1 - $0.0.count) }
            .joined().trimmingCharacters(in: .whitespaces)
    }

    static func channels(_ c: [Int]) -> String { c.isEmpty ? "-" : c.map(String.init).joined(separator: ",") }

    /// The report of one signal, line by line (recorded names inside are escaped by the caller).
    public static func lines(
        _ s: SignalMeasures, cycles: Bool = false, arrivals: ArrivalDetectors = .advance
    )
        -> [String]
    {
        var out = [
            "S\(s.signal)\(s.name.map { " \($0)" } ?? ""): \(AuditTime.iso(s.fromMs, digits: 1)) to \(AuditTime.iso(s.toMs, digits: 1)), \(s.events) lamp events\(s.control.map { ", \($0)" } ?? "")",
            "split monitor (green + yellow + red clearance used, s; how each green ended)",
            row(
                [
                    ("phase", 6), ("name", 24), ("cycles", 7), ("mean", 7), ("p85", 7), ("max", 7), ("min", 7),
                    ("green", 7)
                ] + Termination.allCases.map { ($0.rawValue, $0.rawValue.count + 1) })
        ]
        for p in s.phases {
            let sp = p.split
            out.append(
                row(
                    [
                        ("\(p.phase)", 6), (String((p.name ?? "-").prefix(22)), 24), ("\(sp.cycles)", 7),
                        (secs(sp.meanSplitMs), 7), (secs(sp.p85SplitMs), 7), (secs(sp.maxSplitMs), 7),
                        (secs(sp.minSplitMs), 7), (secs(sp.meanGreenMs), 7)
                    ] + Termination.allCases.map { ("\(sp.terminations[$0] ?? 0)", $0.rawValue.count + 1) }))
        }
        out += arrivalLines(s, arrivals: arrivals) + failureLines(s)
        if cycles { for p in s.phases { out += cycleLines(p) } }
        return out
    }

    static func arrivalLines(_ s: SignalMeasures, arrivals: ArrivalDetectors) -> [String] {
        var out = [
            "arrivals on green (\(arrivals == .advance ? "advance" : "stop-bar") loops, arrival = detector on (82); red-to-red cycles)",
            row([
                ("phase", 6), ("loops", 8), ("cycles", 7), ("arrivals", 9), ("green", 7), ("yellow", 7), ("red", 7),
                ("on green", 10), ("green/cycle", 12), ("platoon ratio", 13)
            ])
        ]
        for p in s.phases {
            guard let a = p.arrivals else {
                out.append(row([("\(p.phase)", 6), (p.arrivalsNote ?? "-", 0)]))
                continue
            }
            out.append(
                row([
                    ("\(p.phase)", 6), (channels(p.arrivalChannels), 8), ("\(a.cycles)", 7), ("\(a.arrivals)", 9),
                    ("\(a.onGreen)", 7), ("\(a.onYellow)", 7), ("\(a.onRed)", 7), (percent(a.percentOnGreen), 10),
                    (percent(a.greenRatio), 12), (ratio(a.platoonRatio), 13)
                ]))
        }
        return out
    }

    static func failureLines(_ s: SignalMeasures) -> [String] {
        var out = [
            "split failures (stop-bar loops: green occupancy > 80 % and occupancy in the first 5 s of red > 80 %)",
            row([("phase", 6), ("loops", 8), ("cycles", 7), ("judged", 7), ("failures", 9), ("rate", 8)])
        ]
        for p in s.phases {
            guard let f = p.splitFailures else {
                out.append(row([("\(p.phase)", 6), (p.splitFailureNote ?? "-", 0)]))
                continue
            }
            out.append(
                row([
                    ("\(p.phase)", 6), (channels(p.stopBarChannels), 8), ("\(f.cycles)", 7), ("\(f.judged)", 7),
                    ("\(f.failures)", 9), (percent(f.failureRate), 8)
                ]))
            if f.judged < f.cycles {
                out.append("    \(f.cycles - f.judged) cycles not judged: a stop-bar loop was faulted (84–88)")
            }
        }
        return out
    }

    static func cycleLines(_ p: PhaseMeasures) -> [String] {
        var out = [
            "cycles of phase \(p.phase)",
            row([
                ("green start", 24), ("split", 7), ("green", 7), ("yellow", 7), ("red clr", 8), ("ended", 11),
                ("pattern", 8), ("GOR", 7), ("ROR5", 7), ("failure", 8), ("arrivals g/y/r", 14)
            ])
        ]
        let failures = Dictionary((p.splitFailureCycles ?? []).map { ($0.greenStartMs, $0) }) { a, _ in a }
        let arrivals = Dictionary((p.arrivalCycles ?? []).map { ($0.greenStartMs, $0) }) { a, _ in a }
        for c in p.cycles {
            let f = failures[c.greenStartMs]
            let a = arrivals[c.greenStartMs]
            out.append(
                row([
                    (AuditTime.iso(c.greenStartMs, digits: 1), 24), (secs(c.splitMs), 7), (secs(c.greenMs), 7),
                    (secs(c.yellowMs), 7), (secs(c.redClearanceMs), 8), (c.termination.rawValue, 11),
                    (c.pattern.map(String.init) ?? "-", 8), (percent(f?.gor), 7), (percent(f?.ror5), 7),
                    (f.map { $0.detectorFault ? "fault" : ($0.failed ? "YES" : "no") } ?? "-", 8),
                    (a.map { "\($0.onGreen)/\($0.onYellow)/\($0.onRed)" } ?? "-", 14)
                ]))
        }
        return out
    }

    // MARK: - JSON

    static func s(_ ms: Milliseconds) -> Double { Double(ms) / 1000 }
    static func opt<T>(_ v: T?) -> Any { v.map { $0 as Any } ?? NSNull() }

    /// The report of one signal as a JSON object (seconds as numbers, percentages 0–100, GOR and ROR5 0–1).
    public static func json(
        _ sm: SignalMeasures, arrivals: ArrivalDetectors = .advance, travelMs: Milliseconds = 0
    )
        -> [String: Any]
    {
        [
            "signal": sm.signal, "name": opt(sm.name), "from": AuditTime.iso(sm.fromMs), "from_ms": sm.fromMs,
            "to": AuditTime.iso(sm.toMs), "to_ms": sm.toMs, "control": opt(sm.control), "events": sm.events,
            "phases": sm.phases.map { phaseJSON($0, arrivals: arrivals, travelMs: travelMs) }
        ]
    }

    static func phaseJSON(_ p: PhaseMeasures, arrivals: ArrivalDetectors, travelMs: Milliseconds) -> [String: Any] {
        let sp = p.split
        var o: [String: Any] = [
            "phase": p.phase, "name": opt(p.name),
            "split_monitor": [
                "cycles": sp.cycles, "mean_split_s": opt(sp.meanSplitMs.map { $0 / 1000 }),
                "p85_split_s": opt(sp.p85SplitMs.map(s)), "max_split_s": opt(sp.maxSplitMs.map(s)),
                "min_split_s": opt(sp.minSplitMs.map(s)), "mean_green_s": opt(sp.meanGreenMs.map { $0 / 1000 }),
                "terminations": Dictionary(
                    uniqueKeysWithValues: Termination.allCases.map {
                        ($0.rawValue, sp.terminations[$0] ?? 0)
                    })
            ] as [String: Any]
        ]
        if let a = p.arrivals {
            o["arrivals_on_green"] =
                [
                    "detectors": p.arrivalChannels, "loops": arrivals.rawValue, "travel_s": s(travelMs),
                    "cycles": a.cycles, "arrivals": a.arrivals, "on_green": a.onGreen, "on_yellow": a.onYellow,
                    "on_red": a.onRed, "percent_on_green": opt(a.percentOnGreen.map { $0 * 100 }),
                    "percent_green": opt(a.greenRatio.map { $0 * 100 }), "platoon_ratio": opt(a.platoonRatio)
                ] as [String: Any]
        } else {
            o["arrivals_on_green"] = ["unavailable": p.arrivalsNote ?? "-"]
        }
        if let f = p.splitFailures {
            o["split_failures"] =
                [
                    "detectors": p.stopBarChannels, "cycles": f.cycles, "judged": f.judged, "failures": f.failures,
                    "percent": opt(f.failureRate.map { $0 * 100 })
                ] as [String: Any]
        } else {
            o["split_failures"] = ["unavailable": p.splitFailureNote ?? "-"]
        }
        o["cycles"] = cyclesJSON(p)
        return o
    }

    static func cyclesJSON(_ p: PhaseMeasures) -> [[String: Any]] {
        let failures = Dictionary((p.splitFailureCycles ?? []).map { ($0.greenStartMs, $0) }) { a, _ in a }
        let arrivals = Dictionary((p.arrivalCycles ?? []).map { ($0.greenStartMs, $0) }) { a, _ in a }
        return p.cycles.map { c in
            var o: [String: Any] = [
                "green_start": AuditTime.iso(c.greenStartMs), "green_start_ms": c.greenStartMs,
                "green_s": s(c.greenMs), "yellow_s": s(c.yellowMs), "red_clearance_s": s(c.redClearanceMs),
                "split_s": s(c.splitMs), "termination": c.termination.rawValue, "pattern": opt(c.pattern),
                "programmed_split_s": opt(c.programmedSplitMs.map(s))
            ]
            if let f = failures[c.greenStartMs] {
                o["gor"] = f.gor
                o["ror5"] = f.ror5
                o["split_failure"] = f.failed
                o["detector_fault"] = f.detectorFault
            }
            if let a = arrivals[c.greenStartMs] {
                o["arrivals"] = [
                    "cycle_start_ms": a.startMs, "cycle_s": s(a.cycleMs), "on_green": a.onGreen,
                    "on_yellow": a.onYellow, "on_red": a.onRed
                ]
            }
            return o
        }
    }
}
