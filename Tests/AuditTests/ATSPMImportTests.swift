import Audit
import SignalTiming
import XCTest

/// `ATSPMExport.parse` / `DetectorCSV`: what `greenwave audit measures --atspm` reads.
final class ATSPMImportTests: XCTestCase {
    let s = EventScript.ms

    func rows(_ events: [HiResEvent], signal: String = "3") -> [ATSPMExport.Row] {
        events.map {
            ATSPMExport.Row(
                signalID: signal, timeMs: $0.atMs, eventCode: Int64($0.code), parameter: Int64($0.param),
                synthesized: false)
        }
    }

    func testRowsWrittenAreReadBackInBothTimestampStyles() throws {
        let written = rows(MeasuresTests.arrivalScript().sorted)
        for style in ATSPMExport.TimestampStyle.allCases {
            let text = ATSPMExport.csv(written, style: style)
            XCTAssertEqual(try ATSPMExport.parse(csv: text), written, "\(style)")
            // CRLF line ends (a file saved on Windows) read the same.
            XCTAssertEqual(try ATSPMExport.parse(csv: text.replacingOccurrences(of: "\n", with: "\r\n")), written)
        }
    }

    /// The measures of an export are those of the events it was written from: one code path.
    func testMeasuresOfAnExportEqualThoseOfItsEvents() throws {
        let e = MeasuresTests.arrivalScript().sorted
        let direct = MeasuresReport.phaseMeasures(
            e, window: s(0)..<s(700), phases: [(2, nil), (4, nil)], detectors: MeasuresTests.arrivalDetectors)
        let parsed = try ATSPMExport.parse(csv: ATSPMExport.csv(rows(e)))
        let dets = try DetectorCSV.parse(csv: DetectorCSV.csv([3: MeasuresTests.arrivalDetectors]))
        var o = MeasuresOptions(fromMs: s(0), toMs: s(700))
        o.phase = 2
        let viaCSV = try MeasuresReport.compute(rows: parsed, source: "t.csv", doc: nil, detectors: dets, options: o)
        XCTAssertEqual(viaCSV.count, 1)
        XCTAssertEqual(viaCSV[0].signal, 3)
        XCTAssertEqual(viaCSV[0].control, "actuated")
        let m = try XCTUnwrap(viaCSV[0].phases.first)
        XCTAssertEqual(m.cycles, direct[0].cycles)
        XCTAssertEqual(m.arrivals, direct[0].arrivals)
        XCTAssertEqual(m.arrivals?.onGreen, 30)
        XCTAssertEqual(m.splitFailures, direct[0].splitFailures)
        XCTAssertThrowsError(
            try MeasuresReport.compute(
                rows: parsed, source: "t.csv", doc: nil, detectors: dets,
                options: {
                    var x = o
                    x.signal = 9
                    return x
                }())
        ) { XCTAssertTrue("\($0)".contains("S9 has no rows in t.csv"), "\($0)") }
    }

    func testMalformedRowsAreRefusedNamingTheLine() {
        let h = ATSPMExport.header
        let good = "3,2025-01-07 18:30:00.1,1,2"
        let cases: [(String, String)] = [
            ("", "empty"),
            ("SignalID,Time,EventCode,EventParam\n\(good)", "line 1: expected the header"),
            ("\(h)\n\(good)\n3,2025-01-07 18:30:00.2,1", "line 3: expected 4 fields, got 3"),
            ("\(h)\n\(good)\n3,2025-01-07 18:30:00.2,1,2,9", "line 3: expected 4 fields, got 5"),
            ("\(h)\n3,yesterday,1,2", "line 2: Timestamp 'yesterday' is not a UTC date"),
            ("\(h)\n3,1736274600000,1,2", "line 2: Timestamp '1736274600000' is not a UTC date"),
            ("\(h)\n3,2025-02-30 18:30:00.1,1,2", "line 2: Timestamp"),
            ("\(h)\n\(good)\n\n3,2025-01-07 18:30:00.2,256,2", "line 4: EventCode '256' is not 0 to 255"),
            ("\(h)\n3,2025-01-07 18:30:00.2,x,2", "line 2: EventCode 'x'"),
            ("\(h)\n3,2025-01-07 18:30:00.2,1,-1", "line 2: EventParam '-1' is not 0 to 65535"),
            ("\(h)\n,2025-01-07 18:30:00.2,1,1", "line 2: SignalID '' is not a signal id"),
            ("\(h)\nS 3,2025-01-07 18:30:00.2,1,1", "line 2: SignalID 'S 3'"),
            ("\(h)\n" + String(repeating: "9", count: 300), "line 2: longer than 256 bytes")
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try ATSPMExport.parse(csv: text, source: "e.csv"), expected) {
                XCTAssertTrue("\($0)".contains("e.csv"), "\($0)")
                XCTAssertTrue("\($0)".contains(expected), "\(expected) not in: \($0)")
            }
        }
        XCTAssertEqual(try ATSPMExport.parse(csv: "\(h)\n").count, 0)
    }

    func testDetectorConfigurationRoundTripsAndRefusesBadRows() throws {
        let d: [Int: [DetectorConfig]] = [
            1: [DetectorConfig(id: 1, phase: PhaseID(2)), DetectorConfig(id: 2, phase: PhaseID(2), calls: false)],
            4: [DetectorConfig(id: 7, phase: PhaseID(8))]
        ]
        XCTAssertEqual(
            DetectorCSV.csv(d), "DeviceId,Phase,Parameter,Function\n1,2,1,Presence\n1,2,2,Advance\n4,8,7,Presence\n")
        XCTAssertEqual(try DetectorCSV.parse(csv: DetectorCSV.csv(d)), d)
        let h = DetectorCSV.header
        for (text, expected) in [
            ("\(h)\n1,2,1,Loop", "line 2: Function 'Loop' is neither Presence nor Advance"),
            ("\(h)\n1,17,1,Advance", "line 2: Phase '17' is not 1 to 16"),
            ("\(h)\n1,2,65,Advance", "line 2: Parameter '65' is not a channel 1 to 64"),
            ("\(h)\n1,2,3,Advance\n1,4,3,Presence", "line 3: S1 channel 3 twice"),
            ("\(h)\n1,2,3", "line 2: expected 4 fields, got 3"),
            ("DeviceId,Phase\n", "line 1: expected the header")
        ] {
            XCTAssertThrowsError(try DetectorCSV.parse(csv: text, source: "d.csv")) {
                XCTAssertTrue("\($0)".contains("d.csv \(expected)"), "\(expected) not in: \($0)")
            }
        }
    }

    func testAFileThatDoesNotExistIsNamed() {
        XCTAssertThrowsError(try ATSPMExport.read(path: "/nonexistent/e.csv")) {
            XCTAssertTrue("\($0)".contains("/nonexistent/e.csv: cannot be read"), "\($0)")
        }
    }
}
