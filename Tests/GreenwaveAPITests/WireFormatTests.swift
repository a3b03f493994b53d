import CorridorFile
import CorridorMachine
import Foundation
import GreenwaveAPI
import GreenwaveTestSupport
import SignalTiming
import XCTest

/// The JSON of the API, byte for byte: moving the types into this module (issue 17) changed none of it, and
/// a change to it shows here first.
final class WireFormatTests: XCTestCase {
    let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys] // what the controller's API writes
        return e
    }()

    func text<T: Encodable>(_ v: T) throws -> String { String(decoding: try encoder.encode(v), as: UTF8.self) }

    /// A lamp-stream event as a controller sent it before the move (the payload SumoTests replays).
    func testALampUpdateReadsAndWritesTheStreamsBytes() throws {
        let wire =
            #"{"atMs":1795736406400,"causeIndex":4,"interval":"yellow","lamps":{"1":"red","2":"yellow","4":"red","5":"red","6":"yellow","8":"red"},"mode":"coordinated","plan":"rush-hour","shownAtMs":1795736406402,"signal":2,"timeLeftMs":4000}"#
        let u = try JSONDecoder().decode(LampUpdate.self, from: Data(wire.utf8))
        XCTAssertEqual(u.signal, 2)
        XCTAssertEqual(u.lamps["2"].flatMap(lamp(named:)), .yellow)
        XCTAssertNil(u.monitorFault)
        XCTAssertEqual(try text(u), wire)
        var entering = u
        entering.entry = "entering"
        entering.monitorFault = "conflicting greens 2 and 6"
        XCTAssertTrue(try text(entering).contains(#""entry":"entering","interval""#))
        XCTAssertTrue(try text(entering).contains(#""monitorFault":"conflicting greens 2 and 6","plan""#))
    }

    func testACommandRequestKeepsItsSnakeCaseKeys() throws {
        var r = CommandRequest(
            operator: "asha", clientID: "7", sequence: 3, type: "preempt", signals: [5, 4], direction: "southbound",
            speedKmh: 40)
        XCTAssertEqual(
            try text(r),
            #"{"client_id":"7","direction":"southbound","operator":"asha","sequence":3,"signals":[5,4],"speed_kmh":40,"type":"preempt"}"#
        )
        r = CommandRequest(
            operator: "asha", clientID: "7", sequence: 4, type: "operator_revoke", keyID: "00000000000000ff")
        XCTAssertEqual(
            try text(r),
            #"{"client_id":"7","key_id":"00000000000000ff","operator":"asha","sequence":4,"type":"operator_revoke"}"#)
        let back = try JSONDecoder().decode(CommandRequest.self, from: try encoder.encode(r))
        XCTAssertEqual(back, r)
    }

    func testAStatusFromAControllerBeforeTheHealthFieldReadsAsHealthy() throws {
        let old =
            #"{"signal":3,"name":"S03","role":"follower","voter":true,"term":4,"leader":1,"commit_index":9,"applied_index":9,"last_index":9,"state_hash":"ab","mode":"normal","mode_since_ms":0,"pid":77,"time_ms":5}"#
        let s = try JSONDecoder().decode(StatusResponse.self, from: Data(old.utf8))
        XCTAssertEqual(s.health, "ok")
        XCTAssertNil(s.clock)
        let halted = old.replacingOccurrences(of: #""time_ms":5"#, with: #""time_ms":5,"halted":"term overflow""#)
        XCTAssertEqual(try JSONDecoder().decode(StatusResponse.self, from: Data(halted.utf8)).health, "failed")
    }

    func testACommandResponseKeepsItsKeys() throws {
        let r = CommandResponse(
            index: 12, term: 3, result: "accepted", effectiveAtMs: 1_800_000_000_000,
            effectiveAt: isoTime(1_800_000_000_000), reason: nil, code: nil, duplicate: false, leader: 1)
        XCTAssertEqual(
            try text(r),
            #"{"duplicate":false,"effective_at":"2027-01-15T08:00:00.000Z","effective_at_ms":1800000000000,"index":12,"leader":1,"result":"accepted","term":3}"#
        )
    }

    func testIsoTimeIsUTCWithMilliseconds() {
        XCTAssertEqual(isoTime(0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(isoTime(1_795_736_406_401), "2026-11-26T23:40:06.401Z")
    }

    /// A hold for an actuated signal is refused with its reason (its dual-ring controller would ignore it);
    /// the same hold for a fixed-time signal of the same file, and a release, are commands.
    func testAHoldForAnActuatedSignalIsRefused() throws {
        let text = try String(contentsOfFile: Repo.demoCorridor, encoding: .utf8)
        let d = try CorridorFile.parse(
            yaml: text + "\nactuated:\n  signals:\n    3: { control: actuated }\n", file: "demo-5+actuated")
        var r = CommandRequest(operator: "asha", clientID: "1", sequence: 1, type: "hold")
        r.signal = 3
        XCTAssertThrowsError(try r.command(document: d)) {
            XCTAssertTrue("\($0)".contains("signal 3 runs coordinated-actuated control"), "\($0)")
        }
        XCTAssertEqual(try r.command(document: Fixture.document), .hold(SignalID(3), stage: nil))
        r.signal = 2
        XCTAssertEqual(try r.command(document: d), .hold(SignalID(2), stage: nil))
        r.signal = 3
        r.type = "release"
        XCTAssertEqual(try r.command(document: d), .release(SignalID(3)))
    }

    /// The request's own checks, before a command costs a log entry on every replica.
    func testHostileRequestsAreBadRequestsWithAReason() {
        let d = Fixture.document
        func problem(_ r: CommandRequest) -> String? {
            do {
                _ = try r.command(document: d)
                return nil
            } catch { return "\(error)" }
        }
        let base = CommandRequest(operator: "asha", clientID: "1", sequence: 1, type: "mode")
        XCTAssertEqual(problem(base), "command 'mode' needs the field 'plan'")
        var r = base
        r.plan = String(repeating: "p", count: CommandRequest.maxNameBytes + 1)
        XCTAssertEqual(problem(r), "'plan' of 65 bytes is longer than 64")
        r = base
        r.type = "preempt"
        r.signals = Array(1...(Limits.signalsMax + 1))
        r.direction = "northbound"
        XCTAssertNotNil(problem(r)?.range(of: "a corridor has at most \(Limits.signalsMax)"))
        r.signals = [1, 2]
        r.direction = "eastbound"
        XCTAssertEqual(
            problem(r), "unknown direction 'eastbound': use northbound, southbound, increasing or decreasing")
        r.direction = "Northbound"
        XCTAssertNil(problem(r))
        r = base
        r.type = "shutdown"
        XCTAssertNotNil(problem(r)?.range(of: "unknown command type 'shutdown'"))
        r = base
        r.clientID = "not-a-number"
        XCTAssertThrowsError(try r.validatedClientID())
        r = base
        r.signedBy = "00000000000000ff"
        r.signature = "AAAA"
        XCTAssertThrowsError(try r.validatedSignature())
    }
}
