import CorridorFile
import SignalTiming
import XCTest
@testable import Sumo

/// The first bytes of a controller's `GET /v1/lamps/stream` answer (Hummingbird, chunked), recorded
/// from a running demo-5 controller (signal 2).
let recordedLampStream: [UInt8] = Array((
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nDate: Thu, 26 Nov 2026 23:40:09 GMT\r\n"
    + "Server: greenwave\r\ntransfer-encoding: chunked\r\n\r\n"
    + "f9\r\nevent: lamps\ndata: {\"atMs\":1795736406400,\"causeIndex\":4,\"interval\":\"yellow\",\"lamps\":{\"1\":\"red\",\"2\":\"yellow\",\"4\":\"red\",\"5\":\"red\",\"6\":\"yellow\",\"8\":\"red\"},\"mode\":\"coordinated\",\"plan\":\"rush-hour\",\"shownAtMs\":1795736406402,\"signal\":2,\"timeLeftMs\":4000}\n\n\r\n"
    + "f5\r\nevent: lamps\ndata: {\"atMs\":1795736410400,\"causeIndex\":4,\"interval\":\"redClear\",\"lamps\":{\"1\":\"red\",\"2\":\"red\",\"4\":\"red\",\"5\":\"red\",\"6\":\"red\",\"8\":\"red\"},\"mode\":\"coordinated\",\"plan\":\"rush-hour\",\"shownAtMs\":1795736410401,\"signal\":2,\"timeLeftMs\":2000}\n\n\r\n"
).utf8)

final class LiveTests: XCTestCase {
    func demo() throws -> Corridor { try CorridorFile.load(path: corridorPath("demo-5.yaml")).corridor }

    /// The same two events however the bytes are split across reads (chunk sizes are hex byte counts).
    func testSSEParserAcrossAnySplit() throws {
        var reference = SSEParser()
        let whole = try reference.feed(recordedLampStream)
        XCTAssertEqual(whole.count, 2)
        XCTAssertTrue(whole[0].hasPrefix("{\"atMs\":1795736406400"))
        XCTAssertTrue(whole[1].hasSuffix("\"timeLeftMs\":2000}"))
        for size in [1, 2, 3, 7, 64, 249, 250] {
            var p = SSEParser()
            var got: [String] = []
            var i = 0
            while i < recordedLampStream.count {
                got += try p.feed(recordedLampStream[i..<min(i + size, recordedLampStream.count)])
                i += size
            }
            XCTAssertEqual(got, whole, "reads of \(size) bytes")
        }
    }

    func testSSEParserRefusesAnErrorResponse() {
        var p = SSEParser()
        XCTAssertThrowsError(try p.feed(Array("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".utf8)))
    }

    func testDecodedLampsFollowThePhaseOrder() throws {
        let c = try demo()
        let f = LampFollower(endpoint: LiveEndpoint(signal: SignalID(2), host: "127.0.0.1", port: 1), signal: c.signals[1],
                             board: LampBoard(corridor: c))
        var p = SSEParser()
        let events = try p.feed(recordedLampStream)
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
        guard case .lamps(let l1) = board.snapshot(nowMs: 12_999, graceMs: 3_000)[s1] else { return XCTFail("no lamps") }
        XCTAssertEqual(l1, green, "within the grace: last lamps")
        guard case .lamps(let l2) = board.snapshot(nowMs: 13_000, graceMs: 3_000)[s1] else { return XCTFail("no lamps") }
        XCTAssertEqual(l2, [.flashingYellow, .flashingYellow, .flashingRed, .flashingRed, .flashingRed, .flashingRed])
        XCTAssertEqual(board.summary(nowMs: 13_000, graceMs: 3_000), "0/5 connected; flash (unreachable): 1; never seen (all-way stop): 2,3,4,5")
        board.setConnected(s1, true, nowMs: 20_000)
        guard case .lamps(let l3) = board.snapshot(nowMs: 20_000, graceMs: 3_000)[s1] else { return XCTFail("no lamps") }
        XCTAssertEqual(l3, green, "back: its lamps again (until it reports new ones)")
        board.setConnected(SignalID(2), false, nowMs: 0)
        guard case .neverSeen = board.snapshot(nowMs: 99_000, graceMs: 3_000)[SignalID(2)] else { return XCTFail("seen?") }
    }
}
