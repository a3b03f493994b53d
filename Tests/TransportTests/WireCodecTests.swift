import RaftCore
import XCTest
@testable import Transport

final class WireCodecTests: XCTestCase {
    func testEveryMessageKindRoundTrips() throws {
        var rng = SplitMix64(seed: 1)
        for kind in MessageKind.allCases {
            for _ in 0 ..< 50 {
                let m = Samples.message(kind, &rng)
                let bytes = try WireCodec.encode(.message(m))
                XCTAssertEqual(try WireCodec.decode(bytes), .message(m), "kind \(kind)")
            }
        }
    }

    func testEntriesOfEveryKindRoundTrip() throws {
        let members = Membership(voters: [1, 2, 3], learners: [9])
        let m = Message(kind: .append, from: 1, to: 2, term: 5, logTerm: 4, index: 10, entries: [
            Entry(term: 5, index: 11, kind: .noop),
            Entry(term: 5, index: 12, kind: .normal, data: Array("mode rush-hour".utf8)),
            Entry(term: 5, index: 13, kind: .config, data: members.encoded()),
            Entry(term: 5, index: 14, kind: .normal, data: []),
        ], commit: 9)
        let decoded = try WireCodec.decode(try WireCodec.encode(.message(m)))
        XCTAssertEqual(decoded, .message(m))
    }

    func testSnapshotChunkWithMembershipRoundTrips() throws {
        let data: [UInt8] = Array(0 ..< 200).map { UInt8($0) }
        let chunk = SnapshotChunk(index: 900, term: 7, membership: Membership(voters: [1, 2, 3, 4, 5], learners: [6, 7]),
                                  offset: 4096, total: 10_000, checksum: Checksum.of(data), data: data)
        let m = Message(kind: .snapshot, from: 1, to: 6, term: 7, snapshot: chunk)
        XCTAssertEqual(try WireCodec.decode(try WireCodec.encode(.message(m))), .message(m))
    }

    func testHelloRoundTripsWithNonASCIIClusterID() throws {
        let hello = Hello(clusterID: "western-express-हाईवे", nodeID: 42)
        XCTAssertEqual(try WireCodec.decode(try WireCodec.encode(.hello(hello))), .hello(hello))
    }

    func testLayoutOfAHeartbeatByteByByte() throws {
        let m = Message(kind: .heartbeat, from: 1, to: 2, term: 3, commit: 4, context: 5)
        let bytes = try WireCodec.encode(.message(m))
        XCTAssertEqual(bytes.count, 4 + 2 + WireCodec.messageFixedBytes)
        XCTAssertEqual(Array(bytes[0 ..< 4]), [0, 0, 0, UInt8(2 + WireCodec.messageFixedBytes)])
        XCTAssertEqual(bytes[4], 1, "version")
        XCTAssertEqual(bytes[5], 2, "frame type: message")
        XCTAssertEqual(bytes[6], 3, "kind: heartbeat")
        XCTAssertEqual(Array(bytes[7 ..< 15]), [0, 0, 0, 0, 0, 0, 0, 1], "from")
        XCTAssertEqual(bytes.last, 0, "no snapshot")
    }

    func testDecoderRejectsWithNamedErrors() throws {
        let good = try WireCodec.encode(.message(Message(kind: .vote, from: 1, to: 2, term: 3)))
        func code(_ bytes: [UInt8], limits: WireLimits = WireLimits()) -> FrameError.Code? {
            do { _ = try WireCodec.decode(bytes, limits: limits); return nil } catch { return error.code }
        }
        var b = good; b[4] = 2
        XCTAssertEqual(code(b), .wrongVersion)
        b = good; b[5] = 9
        XCTAssertEqual(code(b), .unknownFrameType)
        b = good; b[6] = 99
        XCTAssertEqual(code(b), .unknownKind)
        XCTAssertEqual(code(Array(good.dropLast())), .truncated)
        XCTAssertEqual(code(good + [0]), .trailingBytes)
        XCTAssertEqual(code([0xFF, 0xFF, 0xFF, 0xFF, 1, 2]), .oversized)
        XCTAssertEqual(code([0, 0, 0, 1, 1]), .truncated)
        var small = WireLimits(); small.maxFrameBytes = 16
        XCTAssertEqual(code(good, limits: small), .oversized)
        b = good; b[6 + 1 + 16 + 32] = 2 // reject flag
        XCTAssertEqual(code(b), .invalidField)

        let withEntry = try WireCodec.encode(.message(Message(kind: .append, from: 1, to: 2, term: 1,
                                                              entries: [Entry(term: 1, index: 1, kind: .noop)])))
        b = withEntry; b[6 + 74 + 4 + 16] = 7 // the entry's kind: after 74 fixed bytes, the count, term and index
        XCTAssertEqual(code(b), .unknownEntryKind)
        b = withEntry; b[6 + 74] = 0xFF // the entry count's high byte
        XCTAssertEqual(code(b), .countOverLimit)

        b = try WireCodec.encode(.hello(Hello(clusterID: "ab", nodeID: 1))); b[8] = 0xFF
        XCTAssertEqual(code(b), .invalidClusterID)
    }

    func testSenderRefusesWhatTheReceiverWouldRefuse() {
        var small = WireLimits(); small.maxFrameBytes = 100
        let big = Message(kind: .append, from: 1, to: 2, term: 1, entries: [Entry(term: 1, index: 1, data: Array(repeating: 1, count: 200))])
        XCTAssertThrowsError(try WireCodec.encode(.message(big), limits: small)) { XCTAssertEqual(($0 as? FrameError)?.code, .oversized) }
        XCTAssertThrowsError(try WireCodec.encode(.message(Message(kind: .vote, from: 0, to: 2, term: 1))))
        XCTAssertThrowsError(try WireCodec.encode(.hello(Hello(clusterID: "", nodeID: 1))))
    }

    func testDefaultLimitsCarryWhatRaftCoreProduces() throws {
        try WireLimits().check(against: RaftLimits())
        var tiny = WireLimits(); tiny.maxFrameBytes = 64 * 1024
        XCTAssertThrowsError(try tiny.check(against: RaftLimits()))
    }
}
