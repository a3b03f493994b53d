import XCTest

@testable import Sumo

/// Hex → bytes (whitespace ignored).
func hex(_ s: String) -> [UInt8] {
    let digits = Array(s.filter { !$0.isWhitespace })
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

/// Byte sequences recorded from a real session with Eclipse SUMO 1.28.0 (TraCI API 22), a 5-signal
/// network from corridors/demo-5.yaml; requests were written by hand from the protocol spec with
/// Python's struct module (independent of the Swift encoder), answers are SUMO's, byte for byte.
enum Recorded {
    // getVersion
    static let getVersionRequest = "00000006 02 00"
    static let getVersionAnswer = "00000020 07 00 00 00000000  15 00 00000016 0000000b 53554d4f20312e32382e30"
    // set S2 to "rGGGrrrrrrrrrrrr", then simulation step to 0.5 s, in one message
    static let setAndStepRequest = """
        0000002c 1e c2 20 00000002 5332 0c 00000010 72474747727272727272727272727272
        0a 02 3fe0000000000000
        """
    static let setAndStepAnswer = "00000016 07 c2 00 00000000  07 02 00 00000000  00000000"
    // get simulation variable minExpectedNumber (0x7d): 12 vehicles
    static let minExpectedRequest = "0000000b 07 ab 7d 00000000"
    static let minExpectedAnswer = "00000017 07 ab 00 00000000  0c bb 7d 00000000 09 0000000c"
    // get traffic-light variable 0x20 of S2 (before any set: netconvert's first phase)
    static let getStateRequest = "0000000d 09 a2 20 00000002 5332"
    static let getStateAnswer =
        "00000029 07 a2 00 00000000  1e b2 20 00000002 5332 0c 00000010 47474747677272724747474767727272"
    // set an unknown traffic light: error status
    static let unknownLightRequest = "00000017 13 c2 20 00000003 533939 0c 00000004 72727272"
    static let unknownLightAnswer =
        "0000002b 27 c2 ff 00000020 54726166666963206c69676874202753393927206973206e6f74206b6e6f776e"
    // close
    static let closeRequest = "00000006 02 7f"
    static let closeAnswer = "0000000b 07 7f 00 00000000"
}

final class TraCIEncodingTests: XCTestCase {
    func testGetVersionRequestMatchesRecording() {
        XCTAssertEqual(traciMessage([.getVersion()]), hex(Recorded.getVersionRequest))
    }

    func testSetStateAndStepRequestMatchesRecording() {
        let bytes = traciMessage([
            .setRedYellowGreenState(trafficLight: "S2", state: "rGGGrrrrrrrrrrrr"),
            .simulationStep(targetSeconds: 0.5)
        ])
        XCTAssertEqual(bytes, hex(Recorded.setAndStepRequest))
    }

    /// setRedYellowGreenState byte by byte against the spec: ubyte length (1 + 1 + content), 0xc2,
    /// variable 0x20, the light id as a string (int32 length + bytes), type 0x0c, the state string.
    func testSetStateLayoutPerSpec() {
        let c = TraCICommand.setRedYellowGreenState(trafficLight: "S12", state: "GGrry")
        let expected: [UInt8] = [
            20, 0xC2, 0x20, 0, 0, 0, 3, 0x53, 0x31, 0x32, 0x0C, 0, 0, 0, 5, 0x47, 0x47, 0x72, 0x72, 0x79
        ]
        XCTAssertEqual(c.encoded, expected) // the length (20) counts itself and the id
    }

    /// simulationStep: length 10, 0x02, IEEE-754 double seconds, big-endian (3600.5 = 0x40AC_2100_0000_0000).
    func testSimulationStepLayoutPerSpec() {
        XCTAssertEqual(
            TraCICommand.simulationStep(targetSeconds: 3600.5).encoded,
            [10, 0x02, 0x40, 0xAC, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00])
        XCTAssertEqual(
            traciMessage([.simulationStep(targetSeconds: 0)]), [0, 0, 0, 14, 10, 0x02, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    /// A command longer than 255 bytes uses the extended length: 0x00, then int32 length counting
    /// the 0x00, itself, the id and the content.
    func testLongCommandUsesExtendedLength() {
        let state = String(repeating: "G", count: 300)
        let c = TraCICommand.setRedYellowGreenState(trafficLight: "S1", state: state).encoded
        let content = 1 + (4 + 2) + 1 + (4 + 300)
        XCTAssertEqual(
            Array(c[0..<6]), [0x00, 0x00, 0x00, UInt8((6 + content) >> 8), UInt8((6 + content) & 0xFF), 0xC2])
        XCTAssertEqual(c.count, 6 + content)
        var r = TraCIReader(c)
        let (id, end) = try! r.commandHeader()
        XCTAssertEqual(id, 0xC2)
        XCTAssertEqual(end, c.count)
    }

    func testOtherRequestsMatchRecording() {
        XCTAssertEqual(
            traciMessage([.getSimulationVariable(TraCI.varMinExpectedNumber)]), hex(Recorded.minExpectedRequest))
        XCTAssertEqual(
            traciMessage([.getTrafficLightVariable(TraCI.varRedYellowGreenState, trafficLight: "S2")]),
            hex(Recorded.getStateRequest))
        XCTAssertEqual(
            traciMessage([.setRedYellowGreenState(trafficLight: "S99", state: "rrrr")]),
            hex(Recorded.unknownLightRequest))
        XCTAssertEqual(traciMessage([.close()]), hex(Recorded.closeRequest))
    }
}

final class TraCIDecodingTests: XCTestCase {
    /// The answer without its 4-byte length, as `exchange` returns it.
    func body(_ s: String) -> [UInt8] {
        let b = hex(s)
        XCTAssertEqual(
            Int(b[0]) << 24 | Int(b[1]) << 16 | Int(b[2]) << 8 | Int(b[3]), b.count, "recorded length prefix")
        return Array(b[4...])
    }

    func testVersionAnswer() throws {
        let v = try TraCIResponse.version(body(Recorded.getVersionAnswer))
        XCTAssertEqual(v, TraCIVersion(apiVersion: 22, identifier: "SUMO 1.28.0"))
    }

    func testSetAndStepAnswer() throws {
        XCTAssertNoThrow(
            try TraCIResponse.step(body(Recorded.setAndStepAnswer), setCommands: [TraCI.cmdSetTrafficLightVariable]))
        // The same bytes read as a step without the set command: the first status is for 0xc2, not 0x02.
        XCTAssertThrowsError(try TraCIResponse.step(body(Recorded.setAndStepAnswer), setCommands: []))
        // Two set commands expected but only one answered.
        XCTAssertThrowsError(
            try TraCIResponse.step(
                body(Recorded.setAndStepAnswer),
                setCommands: [TraCI.cmdSetTrafficLightVariable, TraCI.cmdSetTrafficLightVariable]))
    }

    func testIntVariableAnswer() throws {
        XCTAssertEqual(
            try TraCIResponse.simulationInt(body(Recorded.minExpectedAnswer), variable: TraCI.varMinExpectedNumber), 12)
    }

    func testStringVariableAnswer() throws {
        XCTAssertEqual(
            try TraCIResponse.trafficLightString(body(Recorded.getStateAnswer), variable: 0x20, trafficLight: "S2"),
            "GGGGgrrrGGGGgrrr")
    }

    func testErrorStatusCarriesSUMOsMessage() {
        var r = TraCIReader(body(Recorded.unknownLightAnswer))
        XCTAssertThrowsError(try r.status(for: TraCI.cmdSetTrafficLightVariable)) { e in
            XCTAssertTrue("\(e)".contains("Traffic light 'S99' is not known"), "\(e)")
            XCTAssertTrue("\(e)".contains("0xff"), "\(e)")
        }
    }

    func testCloseAnswer() throws {
        var r = TraCIReader(body(Recorded.closeAnswer))
        XCTAssertNoThrow(try r.status(for: TraCI.cmdClose))
        XCTAssertTrue(r.atEnd)
    }

    func testTruncatedAnswersAreRefused() {
        let b = body(Recorded.getVersionAnswer)
        for cut in [1, 7, 12, b.count - 1] {
            XCTAssertThrowsError(try TraCIResponse.version(Array(b[0..<cut])), "cut at \(cut)")
        }
    }

    func testDoubleAndIntRoundTrip() throws {
        var w = TraCIWriter()
        w.int32(-2)
        w.double(-0.1)
        w.string("Ünïcode")
        var r = TraCIReader(w.bytes)
        XCTAssertEqual(try r.int32(), -2)
        XCTAssertEqual(try r.double(), -0.1)
        XCTAssertEqual(try r.string(), "Ünïcode")
        XCTAssertEqual(Array(w.bytes[0..<4]), [0xFF, 0xFF, 0xFF, 0xFE])
    }

    /// Subscribe 0xD0 per the spec: begin and end (TraCI's invalid double, -2^30: now / for ever),
    /// the loop id, the variable count, the variables.
    func testSubscribeInductionLoopLayoutPerSpec() {
        XCTAssertEqual(
            TraCICommand.subscribeInductionLoop("L1", variables: [0x10, 0x13]).encoded,
            hex("1b d0 c1d0000000000000 c1d0000000000000 00000002 4c31 02 10 13"))
    }

    /// A step answer carrying one loop's subscription (0xE0): 1 vehicle, 50 % occupancy; another
    /// loop's failed variable, a wrong type and a truncated answer are refused.
    func testStepAnswerWithLoopSubscriptions() throws {
        let ok = hex("07 02 00 00000000  00000001  1b e0 00000002 4c31 02 10 00 09 00000001 13 00 0b 4049000000000000")
        let v = try TraCIResponse.stepWithLoops(ok, setCommands: [])
        XCTAssertEqual(v, ["L1": LoopValues(vehicles: 1, occupancyPercent: 50)])
        XCTAssertTrue(v["L1"]!.occupied)
        let empty = hex(
            "07 02 00 00000000  00000001  1b e0 00000002 4c31 02 10 00 09 00000000 13 00 0b 0000000000000000")
        XCTAssertFalse(try TraCIResponse.stepWithLoops(empty, setCommands: [])["L1"]!.occupied)
        let failed = hex("07 02 00 00000000  00000001  12 e0 00000002 4c31 01 10 ff 0c 00000002 6e6f")
        XCTAssertThrowsError(try TraCIResponse.stepWithLoops(failed, setCommands: []))
        let wrongType = hex(
            "07 02 00 00000000  00000001  1b e0 00000002 4c31 02 10 00 0b 00000001 13 00 09 4049000000000000")
        XCTAssertThrowsError(try TraCIResponse.stepWithLoops(wrongType, setCommands: []))
        XCTAssertThrowsError(try TraCIResponse.stepWithLoops(Array(ok.dropLast(3)), setCommands: []))
        let vehicleSubscription = hex(
            "07 02 00 00000000  00000001  1b e4 00000002 4c31 02 10 00 09 00000001 13 00 0b 4049000000000000")
        XCTAssertThrowsError(try TraCIResponse.stepWithLoops(vehicleSubscription, setCommands: []))
    }
}
