import APIClient
import CorridorFile
import SignalTiming
import XCTest

@testable import Sumo

/// Two events of a controller's `GET /v1/lamps/stream` body (demo-5, signal 2), as the HTTP client hands
/// them over once it has removed the chunked framing.
let recordedLampEvents: [UInt8] = Array(
    ("event: lamps\ndata: {\"atMs\":1795736406400,\"causeIndex\":4,\"interval\":\"yellow\",\"lamps\":{\"1\":\"red\",\"2\":\"yellow\",\"4\":\"red\",\"5\":\"red\",\"6\":\"yellow\",\"8\":\"red\"},\"mode\":\"coordinated\",\"plan\":\"rush-hour\",\"shownAtMs\":1795736406402,\"signal\":2,\"timeLeftMs\":4000}\n\n"
        + "event: lamps\ndata: {\"atMs\":1795736410400,\"causeIndex\":4,\"interval\":\"redClear\",\"lamps\":{\"1\":\"red\",\"2\":\"red\",\"4\":\"red\",\"5\":\"red\",\"6\":\"red\",\"8\":\"red\"},\"mode\":\"coordinated\",\"plan\":\"rush-hour\",\"shownAtMs\":1795736410401,\"signal\":2,\"timeLeftMs\":2000}\n\n")
        .utf8)

final class LiveTests: XCTestCase {
    func demo() throws -> Corridor { try CorridorFile.load(path: corridorPath("demo-5.yaml")).corridor }

    func testDecodedLampsFollowThePhaseOrder() throws {
        let c = try demo()
        let f = LampFollower(
            endpoint: LiveEndpoint(signal: SignalID(2), host: "127.0.0.1", port: 1), signal: c.signals[1],
            board: LampBoard(corridor: c))
        var p = EventStreamParser()
        let events = try XCTUnwrap(p.feed(recordedLampEvents))
        XCTAssertEqual(events.count, 2)
        // Phases in the file's order: 2, 6, 1, 5, 4, 8.
        XCTAssertEqual(f.decodeLamps(events[0]), [.yellow, .yellow, .red, .red, .red, .red])
        XCTAssertEqual(f.decodeLamps(events[1]), [.red, .red, .red, .red, .red, .red])
        // An update for another signal is ignored.
        XCTAssertNil(f.decodeLamps(events[0].replacingOccurrences(of: "\"signal\":2", with: "\"signal\":3")))
    }

    /// Reported lamps while connected and for the grace period after the stream is lost; then the
    /// signal's flash lamps (arterial flashing yellow, the rest flashing red); never seen: no lamps.
    func testUnreachableControllerGoesToFlashAfterTheGrace() throws {
        let c = try demo()
        let board = LampBoard(corridor: c)
        let s1 = SignalID(1)
        let green: [Lamp] = [.green, .green, .red, .red, .red, .red]
        board.setConnected(s1, true, nowMs: 1_000)
        board.report(s1, lamps: green)
        guard case .lamps(let l0) = board.snapshot(nowMs: 2_000, graceMs: 3_000)[s1] else { return XCTFail("no lamps") }
        XCTAssertEqual(l0, green)
        board.setConnected(s1, false, nowMs: 10_000)
        guard case .lamps(let l1) = board.snapshot(nowMs: 12_999, graceMs: 3_000)[s1] else {
            return XCTFail("no lamps")
        }
        XCTAssertEqual(l1, green, "within the grace: last lamps")
        guard case .lamps(let l2) = board.snapshot(nowMs: 13_000, graceMs: 3_000)[s1] else {
            return XCTFail("no lamps")
        }
        XCTAssertEqual(l2, [.flashingYellow, .flashingYellow, .flashingRed, .flashingRed, .flashingRed, .flashingRed])
        XCTAssertEqual(
            board.summary(nowMs: 13_000, graceMs: 3_000),
            "0/5 connected; flash (unreachable): 1; never seen (all-way stop): 2,3,4,5")
        board.setConnected(s1, true, nowMs: 20_000)
        guard case .lamps(let l3) = board.snapshot(nowMs: 20_000, graceMs: 3_000)[s1] else {
            return XCTFail("no lamps")
        }
        XCTAssertEqual(l3, green, "back: its lamps again (until it reports new ones)")
        board.setConnected(SignalID(2), false, nowMs: 0)
        guard case .neverSeen = board.snapshot(nowMs: 99_000, graceMs: 3_000)[SignalID(2)] else {
            return XCTFail("seen?")
        }
    }
}
