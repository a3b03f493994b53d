import XCTest

@testable import APIClient

final class EventStreamParserTests: XCTestCase {
    let stream = Array(
        ("event: lamps\ndata: {\"signal\":2,\"n\":1}\n\n"
            + ": a comment line, not data\n\n"
            + "event: lamps\r\ndata: {\"signal\":2,\r\ndata: \"n\":2}\r\n\r\n"
            + "data:no-space\n\n").utf8)

    /// The same events however the bytes are split across reads; CRLF ends lines as LF does; an event
    /// without data is skipped; several data lines join with a newline.
    func testEventsAcrossAnySplit() throws {
        var whole = EventStreamParser()
        let all = try XCTUnwrap(whole.feed(stream))
        XCTAssertEqual(all, ["{\"signal\":2,\"n\":1}", "{\"signal\":2,\n\"n\":2}", "no-space"])
        for size in [1, 2, 3, 5, 17, 64] {
            var p = EventStreamParser()
            var got: [String] = []
            var i = 0
            while i < stream.count {
                got += try XCTUnwrap(p.feed(stream[i..<min(i + size, stream.count)]))
                i += size
            }
            XCTAssertEqual(got, all, "reads of \(size) bytes")
        }
    }

    /// A peer that never ends an event is cut off at the bound, not buffered without limit.
    func testAnEndlessEventIsRefusedAtTheBound() {
        var p = EventStreamParser(maxEvent: 1000)
        XCTAssertNotNil(p.feed(Array(repeating: UInt8(ascii: "x"), count: 999)))
        XCTAssertNil(p.feed([UInt8(ascii: "x"), UInt8(ascii: "x")]))
    }

    func testURLsBracketIPv6Hosts() {
        XCTAssertEqual(
            APIConnection.plaintext.url(host: "127.0.0.1", port: 8101, path: "/v1/status"),
            "http://127.0.0.1:8101/v1/status")
        XCTAssertEqual(APIConnection.plaintext.url(host: "::1", port: 8101, path: "/x"), "http://[::1]:8101/x")
    }

    func testACAFileThatIsNotACertificateIsRefusedByName() throws {
        let path = NSTemporaryDirectory() + "not-a-ca-\(UInt32.random(in: 0 ... .max)).pem"
        try "hello".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try APIConnection(trustingCAFile: path)) { e in
            XCTAssertTrue("\(e)".hasPrefix(path), "\(e)")
        }
        XCTAssertThrowsError(try APIConnection(trustingCAFile: path + ".missing"))
    }
}
