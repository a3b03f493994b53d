import Audit
import CorridorFile
import Foundation
import RaftCore
import SignalTiming
import Storage
import XCTest

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Hand-built hi-res event sequences with known answers.
struct EventScript {
    static let t0: Milliseconds = 1_764_000_000_000
    var events: [HiResEvent] = []

    static func ms(_ s: Double) -> Milliseconds { t0 + Milliseconds((s * 1000).rounded()) }

    mutating func at(_ s: Double, _ code: Int, _ param: Int) {
        events.append(HiResEvent(atMs: Self.ms(s), code: code, param: param))
    }

    /// One service of phase `p`: green at `g` for `green` s, then yellow and red clearance, ended by `term`.
    mutating func service(
        _ p: Int, greenAt g: Double, green: Double, yellow: Double = 3, redClear: Double = 2, term: Int? = nil
    ) {
        at(g, HiResEventCode.phaseBeginGreen, p)
        if let term { at(g + green, term, p) }
        at(g + green, HiResEventCode.phaseGreenTermination, p)
        at(g + green, HiResEventCode.phaseBeginYellow, p)
        at(g + green + yellow, HiResEventCode.phaseEndYellow, p)
        at(g + green + yellow, HiResEventCode.phaseBeginRedClearance, p)
        at(g + green + yellow + redClear, HiResEventCode.phaseEndRedClearance, p)
        at(g + green + yellow + redClear, HiResEventCode.phaseInactive, p)
    }

    mutating func detector(_ ch: Int, on: Double, off: Double) {
        at(on, HiResEventCode.detectorOn, ch)
        at(off, HiResEventCode.detectorOff, ch)
    }

    /// In time order, ties in the order written (as the controller logs them).
    var sorted: [HiResEvent] {
        events.enumerated().sorted { ($0.element.atMs, $0.offset) < ($1.element.atMs, $1.offset) }.map(\.element)
    }
}

final class MeasuresTests: XCTestCase {
    let s = EventScript.ms

    /// Splits served, how each green ended, and services cut by a restart or a flash left out.
    func testSplitMonitorOfKnownServices() throws {
        var e = EventScript()
        e.service(4, greenAt: 0, green: 10, term: HiResEventCode.phaseGapOut) // 15
        e.service(4, greenAt: 90, green: 20, term: HiResEventCode.phaseMaxOut) // 25
        e.service(4, greenAt: 180, green: 30, term: HiResEventCode.phaseForceOff) // 35
        e.service(4, greenAt: 270, green: 12, term: HiResEventCode.phaseGapOut) // 17
        e.service(4, greenAt: 360, green: 18) // 23, nothing logged
        e.at(450, HiResEventCode.phaseBeginGreen, 4)
        e.at(460, HiResEventCode.powerRestored, 0) // a restart cuts this one
        e.service(4, greenAt: 540, green: 14, term: HiResEventCode.phaseGapOut) // 19
        e.at(630, HiResEventCode.phaseBeginGreen, 4)
        e.at(640, HiResEventCode.unitFlashStatus, 3) // flash cuts this one
        e.at(700, HiResEventCode.unitFlashStatus, 2) // not flashing: cuts nothing
        e.service(4, greenAt: 720, green: 10, term: HiResEventCode.phaseGapOut) // 15
        e.service(8, greenAt: 0, green: 40, term: HiResEventCode.phaseForceOff)
        let cycles = Measures.cycles(e.sorted)
        let four = try XCTUnwrap(cycles[4])
        XCTAssertEqual(four.map(\.splitMs), [15_000, 25_000, 35_000, 17_000, 23_000, 19_000, 15_000])
        XCTAssertEqual(four.map(\.greenMs), [10_000, 20_000, 30_000, 12_000, 18_000, 14_000, 10_000])
        XCTAssertEqual(four.map(\.yellowMs), Array(repeating: 3_000, count: 7))
        XCTAssertEqual(four.map(\.redClearanceMs), Array(repeating: 2_000, count: 7))
        XCTAssertEqual(cycles[8]?.map(\.splitMs), [45_000])
        // Red-to-red links: the service after the restart has no previous red.
        XCTAssertEqual(four[1].previousRedStartMs, s(13))
        XCTAssertEqual(four[0].nextGreenStartMs, s(90))
        XCTAssertNil(four[5].previousRedStartMs, "after the restart")
        XCTAssertNil(four[6].previousRedStartMs, "after the flash")

        let sm = SplitSummary(phase: 4, cycles: four)
        XCTAssertEqual(sm.cycles, 7)
        XCTAssertEqual(sm.meanSplitMs!, 149_000.0 / 7, accuracy: 0.001)
        XCTAssertEqual(sm.p85SplitMs, 25_000, "nearest rank: the 6th of 7 sorted")
        XCTAssertEqual(sm.maxSplitMs, 35_000)
        XCTAssertEqual(sm.minSplitMs, 15_000)
        XCTAssertEqual(sm.terminations, [.gapOut: 4, .maxOut: 1, .forceOff: 1, .notLogged: 1])

        // The window selects services by their green start.
        let m = MeasuresReport.phaseMeasures(
            e.sorted, window: s(90)..<s(400), phases: [(4, nil), (8, nil)], detectors: nil)
        XCTAssertEqual(m[0].cycles.map(\.greenStartMs), [s(90), s(180), s(270), s(360)])
        XCTAssertEqual(m[1].cycles.count, 0)
        XCTAssertEqual(m[0].arrivalsNote, "no detectors")
    }

    func testPercentileIsNearestRank() {
        XCTAssertNil(Measures.percentile([], 0.85))
        XCTAssertEqual(Measures.percentile([7], 0.85), 7)
        XCTAssertEqual(Measures.percentile(Array(1...20), 0.85), 17)
        XCTAssertEqual(Measures.percentile(Array(1...100).reversed(), 0.85), 85)
    }

    /// Ten 90 s cycles of phase 4 (green 20 s, yellow 3, red clearance 2); exactly cycles 1, 4 and 7 fail,
    /// the others miss one test or sit on the 80 % boundary (not above it).
    func testTenCyclesWithExactlyThreeSplitFailures() throws {
        var e = EventScript()
        for k in 0..<10 {
            let g = Double(90 * k)
            let r = g + 23
            e.service(4, greenAt: g, green: 20, term: HiResEventCode.phaseMaxOut)
            switch k {
            case 1, 4, 7: // two loops whose activations overlap: combined once, 97.5 % and 96 %
                e.detector(4, on: g + 0.5, off: g + 12)
                e.detector(24, on: g + 10, off: r + 4.8)
            case 0: e.detector(4, on: g + 2, off: g + 2.5)
            case 2: e.detector(4, on: g, off: r + 3) // GOR 100 %, ROR5 60 %
            case 3: // GOR exactly 80 %, ROR5 100 %
                e.detector(4, on: g + 4, off: g + 20)
                e.detector(4, on: r, off: r + 5)
            case 5: // GOR 85 %, ROR5 exactly 80 %
                e.detector(4, on: g + 3, off: g + 20)
                e.detector(24, on: r, off: r + 4)
            case 8: e.detector(4, on: g - 10, off: g + 1) // a queue from the red into the green: 5 %
            case 9: // GOR 90 %, ROR5 78 %
                e.detector(4, on: g + 2, off: g + 20)
                e.detector(4, on: r, off: r + 3.9)
            default: break
            }
        }
        let detectors = [DetectorConfig(id: 4, phase: PhaseID(4)), DetectorConfig(id: 24, phase: PhaseID(4))]
        let m = MeasuresReport.phaseMeasures(
            e.sorted, window: s(0)..<s(900), phases: [(4, "side")], detectors: detectors)[0]
        let sf = try XCTUnwrap(m.splitFailureCycles)
        XCTAssertEqual(sf.count, 10)
        XCTAssertEqual(sf.indices.filter { sf[$0].failed }, [1, 4, 7])
        XCTAssertEqual(m.splitFailures, SplitFailureSummary(phase: 4, cycles: sf))
        XCTAssertEqual(m.splitFailures?.failures, 3)
        XCTAssertEqual(m.splitFailures?.judged, 10)
        XCTAssertEqual(sf[1].gor, 0.975, accuracy: 1e-9)
        XCTAssertEqual(sf[1].ror5, 0.96, accuracy: 1e-9)
        XCTAssertEqual(sf[2].gor, 1.0)
        XCTAssertEqual(sf[2].ror5, 0.6, accuracy: 1e-9)
        XCTAssertEqual(sf[3].gor, 0.8, accuracy: 1e-9)
        XCTAssertEqual(sf[5].ror5, 0.8, accuracy: 1e-9)
        XCTAssertEqual(sf[8].gor, 0.05, accuracy: 1e-9)
        XCTAssertEqual(sf[9].ror5, 0.78, accuracy: 1e-9)
        XCTAssertEqual(sf[0].redWindowEndMs, s(28))
        XCTAssertEqual(m.stopBarChannels, [4, 24])
        XCTAssertEqual(m.splitFailures?.failureRate ?? 0, 0.3, accuracy: 1e-12)
    }

    /// A faulted stop-bar loop (84 stuck) reads 100 %: its cycle is not judged, the others are.
    func testAFaultedLoopsCyclesAreNotJudged() throws {
        var e = EventScript()
        for k in 0..<4 {
            let g = Double(90 * k)
            e.service(4, greenAt: g, green: 20)
        }
        e.detector(4, on: 95, off: 120) // on through cycle 1's green and red window
        e.at(100, HiResEventCode.detectorFaultOther, 4)
        e.at(120, HiResEventCode.detectorRestored, 4)
        e.detector(4, on: 180, off: 210) // a real failure in cycle 2
        let m = MeasuresReport.phaseMeasures(
            e.sorted, window: s(0)..<s(400), phases: [(4, nil)], detectors: [DetectorConfig(id: 4, phase: PhaseID(4))]
        )[0]
        let sf = try XCTUnwrap(m.splitFailureCycles)
        XCTAssertEqual(sf.map(\.detectorFault), [false, true, false, false])
        XCTAssertEqual(sf.map(\.failed), [false, false, true, false])
        XCTAssertEqual(m.splitFailures?.judged, 3)
        XCTAssertEqual(m.splitFailures?.failures, 1)
    }

    /// Phase 2: services 100 s apart (green 50 s from 40 + 100k, yellow 4, red clearance 2), so every
    /// red-to-red cycle is 100 s with 50 s of green; per cycle 3 arrivals in red, 6 in green, 1 in yellow on
    /// the advance loop: 60 % on green, platoon ratio 0.6 / 0.5 = 1.2. Stop-bar activity does not count.
    static func arrivalScript() -> EventScript {
        var e = EventScript()
        for k in 0..<6 { e.service(2, greenAt: 40 + 100 * Double(k), green: 50, yellow: 4, redClear: 2) }
        e.detector(12, on: 10, off: 10.3) // before the first red-to-red cycle
        for k in 1...5 {
            let start = 94 + 100 * Double(k - 1)
            for d in [1, 10, 30, 46, 50, 60, 70, 80, 95.9, 97] { e.detector(12, on: start + d, off: start + d + 0.3) }
            e.detector(2, on: start + 20, off: start + 48)
        }
        return e
    }

    static let arrivalDetectors = [
        DetectorConfig(id: 2, phase: PhaseID(2)), DetectorConfig(id: 12, phase: PhaseID(2), calls: false),
        DetectorConfig(id: 4, phase: PhaseID(4))
    ]

    func testArrivalsOnGreenWithKnownPercentAndPlatoonRatio() throws {
        let e = Self.arrivalScript()
        let m = MeasuresReport.phaseMeasures(
            e.sorted, window: s(0)..<s(700), phases: [(2, nil), (4, nil)], detectors: Self.arrivalDetectors)
        XCTAssertEqual(m[0].arrivalChannels, [12])
        let a = try XCTUnwrap(m[0].arrivals)
        XCTAssertEqual(a.cycles, 5)
        XCTAssertEqual(a.arrivals, 50)
        XCTAssertEqual(a.onGreen, 30)
        XCTAssertEqual(a.onYellow, 5)
        XCTAssertEqual(a.onRed, 15)
        XCTAssertEqual(a.percentOnGreen!, 0.6, accuracy: 1e-12)
        XCTAssertEqual(a.greenRatio!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(a.platoonRatio!, 1.2, accuracy: 1e-12)
        XCTAssertEqual(m[0].arrivalCycles?.first?.startMs, s(94))
        XCTAssertEqual(m[0].arrivalCycles?.last?.endMs, s(594))
        XCTAssertNil(m[1].arrivals)
        XCTAssertEqual(
            m[1].arrivalsNote,
            "no advance loop on phase 4 (detectors with calls: false; --arrivals stop-bar counts at the stop bar)")

        // 5 s of travel to the stop bar: the two latest arrivals of each cycle reach it in the next red, the
        // last cycle's two after the window of complete cycles.
        let shifted = MeasuresReport.phaseMeasures(
            e.sorted, window: s(0)..<s(700), phases: [(2, nil)], detectors: Self.arrivalDetectors, travelMs: 5_000)
        let b = try XCTUnwrap(shifted[0].arrivals)
        XCTAssertEqual(b.arrivals, 48)
        XCTAssertEqual(b.onGreen, 25)
        XCTAssertEqual(b.onYellow, 0)
        XCTAssertEqual(b.onRed, 23)

        // At the stop bar: one activation per cycle, in the red.
        let stopBar = MeasuresReport.phaseMeasures(
            e.sorted, window: s(0)..<s(700), phases: [(2, nil)], detectors: Self.arrivalDetectors,
            arrivals: .stopBar)
        XCTAssertEqual(stopBar[0].arrivalChannels, [2])
        XCTAssertEqual(stopBar[0].arrivals?.arrivals, 5)
        XCTAssertEqual(stopBar[0].arrivals?.onRed, 5)
    }

    /// The corridor file's `actuated` detectors give the mapping: `calls: false` is an advance loop.
    func testDetectorMappingComesFromTheCorridorFile() throws {
        let yaml = try String(contentsOfFile: demoCorridor, encoding: .utf8)
        let doc = try CorridorFile.parse(
            yaml: yaml
                + "\nactuated:\n  signals:\n    3:\n      control: actuated\n      detectors: [{ id: 2, phase: 2 }, { id: 12, phase: 2, calls: false }, { id: 4, phase: 4 }]\n",
            file: "measures.yaml")
        let detectors = try XCTUnwrap(doc.actuated?.signals[SignalID(3)]?.detectors)
        XCTAssertNil(doc.actuated?.signals[SignalID(2)], "signal 2 stays fixed-time")
        let m = MeasuresReport.phaseMeasures(
            Self.arrivalScript().sorted, window: s(0)..<s(700), phases: [(2, nil), (4, nil)], detectors: detectors)
        XCTAssertEqual(m[0].arrivalChannels, [12])
        XCTAssertEqual(m[0].stopBarChannels, [2])
        XCTAssertEqual(m[0].arrivals?.percentOnGreen ?? 0, 0.6, accuracy: 1e-12)
        XCTAssertEqual(m[1].arrivalChannels, [])
        XCTAssertEqual(m[1].stopBarChannels, [4])
    }

    /// The diagram is well-formed XML, one band of each colour per cycle, one dot per arrival, the title
    /// escaped.
    func testCoordinationDiagramIsWellFormedWithOneBandSetPerCycle() throws {
        let m = MeasuresReport.phaseMeasures(
            Self.arrivalScript().sorted, window: s(0)..<s(700), phases: [(2, nil)],
            detectors: Self.arrivalDetectors)[0]
        let cycles = try XCTUnwrap(m.arrivalCycles)
        let svg = CoordinationDiagram.svg(
            title: "S3 <Charlie & \"Co\"> phase 2", note: "test", cycles: cycles, fromMs: s(0), toMs: s(700))
        for band in ["red", "green", "yellow"] {
            XCTAssertEqual(svg.components(separatedBy: #"<rect class="\#(band)""#).count - 1, 5, band)
        }
        XCTAssertEqual(svg.components(separatedBy: "<circle ").count - 1, 50)
        XCTAssertTrue(svg.contains("S3 &lt;Charlie &amp; &quot;Co&quot;&gt; phase 2"))
        let parser = XMLParser(data: Data(svg.utf8))
        XCTAssertTrue(parser.parse(), "\(String(describing: parser.parserError))")
    }

    /// A fixed-time signal's data folder written the way its controller writes it (`KnownRecord`): every
    /// service used exactly its programmed split (134–149) — the stage's split — the coordinated phases ended
    /// at their yield point (151) and the others at their force-off (6); no detector measures.
    func testAFixedTimeDataFolderGivesTheProgrammedSplits() throws {
        let rec = try KnownRecord(self, commands: [], lampSignal: 3, lampThroughS: 900)
        let folder = try DataFolder(path: rec.dir)
        let r = try MeasuresReport.compute(folder: folder, options: MeasuresOptions())
        XCTAssertEqual(r.map(\.signal), [3])
        XCTAssertEqual(r[0].control, "fixed")
        let expected = [2: 50_000, 6: 50_000, 1: 16_000, 5: 16_000, 4: 24_000, 8: 24_000] as [Int: Milliseconds]
        XCTAssertEqual(Set(r[0].phases.map(\.phase)), Set(expected.keys))
        for p in r[0].phases {
            XCTAssertGreaterThanOrEqual(p.cycles.count, 8, "phase \(p.phase)")
            for c in p.cycles {
                XCTAssertEqual(c.splitMs, expected[p.phase], "phase \(p.phase) at \(c.greenStartMs)")
                XCTAssertEqual(c.programmedSplitMs, expected[p.phase])
                XCTAssertEqual(c.termination, [2, 6].contains(p.phase) ? .yieldPoint : .forceOff)
                XCTAssertEqual(c.pattern, 1)
            }
            XCTAssertEqual(p.split.p85SplitMs, expected[p.phase])
            XCTAssertNil(p.arrivals)
            XCTAssertEqual(p.arrivalsNote, "a fixed-time signal: its controller logs no detector events")
        }
        let text = MeasuresText.lines(r[0], cycles: true).joined(separator: "\n")
        XCTAssertTrue(text.contains("northbound through"), text)
        let json = try JSONSerialization.data(withJSONObject: r.map { MeasuresText.json($0) })
        XCTAssertGreaterThan(json.count, 1_000)
    }

    func testBadInputIsNamed() throws {
        let rec = try KnownRecord(self, commands: [], lampSignal: 3, lampThroughS: 200)
        let folder = try DataFolder(path: rec.dir)
        func message(_ o: MeasuresOptions) -> String {
            do {
                _ = try MeasuresReport.compute(folder: folder, options: o)
                return "no error"
            } catch let e as AuditError {
                XCTAssertTrue(e.isBadInput)
                return e.message
            } catch { return "\(error)" }
        }
        XCTAssertTrue(message(MeasuresOptions(signal: 9)).contains("unknown signal S9"))
        XCTAssertTrue(message(MeasuresOptions(signal: 2)).contains("S2 has no lamp events in"))
        XCTAssertTrue(
            message(MeasuresOptions(signal: 3, phase: 3)).contains("S3 has no phase 3 (phases: 2, 6, 1, 5, 4, 8)"))
        let later = rec.t0 + 86_400_000
        XCTAssertTrue(
            message(MeasuresOptions(fromMs: later, toMs: later + 3_600_000)).contains("S3 has no lamp events from"))
        XCTAssertTrue(message(MeasuresOptions(fromMs: later, toMs: later)).contains("--from must be before --to"))
        XCTAssertThrowsError(try DataFolder(path: rec.dir + "-missing")) {
            XCTAssertTrue(($0 as? AuditError)?.message.contains("no such folder") ?? false, "\($0)")
        }
    }
}
