import RaftCore
import XCTest

@testable import Transport

final class WireCodecTests: XCTestCase {
    func testEveryMessageKindRoundTrips() throws {
        var rng = SplitMix64(seed: 1)
        for kind in MessageKind.allCases {
            for _ in 0..<50 {
                let m = Samples.message(kind, &rng)
                let bytes = try WireCodec.encode(.message(m))
                XCTAssertEqual(try WireCodec.decode(bytes), .message(m), "kind \(kind)")
            }
        }
    }

    func testEntriesOfEveryKindRoundTrip() throws {
        let members = Membership(voters: [1, 2, 3], learners: [9])
        let m = Message(
            kind: .append, from: 1, to: 2, term: 5, logTerm: 4, index: 10,
            entries: [
                Entry(term: 5, index: 11, kind: .noop),
                Entry(term: 5, index: 12, kind: .normal, data: Array("mode rush-hour".utf8)),
                Entry(term: 5, index: 13, kind: .config, data: members.encoded()),
                Entry(term: 5, index: 14, kind: .normal, data: [])
            ], commit: 9)
        let decoded = try WireCodec.decode(try WireCodec.encode(.message(m)))
        XCTAssertEqual(decoded, .message(m))
    }

    func testSnapshotChunkWithMembershipRoundTrips() throws {
        let data: [UInt8] = Array(0..<200).map { UInt8($0) }
        let chunk = SnapshotChunk(
            index: 900, term: 7, membership: Membership(voters: [1, 2, 3, 4, 5], learners: [6, 7]),
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
        XCTAssertEqual(bytes.count, 4 + 2 + WireCodec.messageFixedBytes + 4, "89 bytes")
        XCTAssertEqual(bytes.count, 89)
        XCTAssertEqual(Array(bytes[0..<4]), [0, 0, 0, UInt8(2 + WireCodec.messageFixedBytes + 4)])
        XCTAssertEqual(bytes[4], 3, "version")
        XCTAssertEqual(bytes[5], 2, "frame type: message")
        XCTAssertEqual(bytes[6], 3, "kind: heartbeat")
        XCTAssertEqual(Array(bytes[7..<15]), [0, 0, 0, 0, 0, 0, 0, 1], "from")
        XCTAssertEqual(bytes[bytes.count - 5], 0, "no snapshot")
        let crc = CRC32C.checksum(bytes[4..<bytes.count - 4])
        XCTAssertEqual(
            Array(bytes.suffix(4)),
            [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)],
            "CRC-32C of version, type and body, big-endian")
    }

    func testTimeFramesRoundTripWithTheirLayout() throws {
        let req = TimeExchange(kind: .request, from: 3, to: 5, transmitUs: 1_764_000_000_123_456)
        let reply = TimeExchange(
            kind: .reply, from: 5, to: 3, originUs: 1_764_000_000_123_456, receiveUs: 1_764_000_003_000_001,
            transmitUs: 1_764_000_003_000_050)
        for t in [req, reply] { XCTAssertEqual(try WireCodec.decode(try WireCodec.encode(.time(t))), .time(t)) }
        let bytes = try WireCodec.encode(.time(reply))
        XCTAssertEqual(bytes.count, 4 + 2 + WireCodec.timeBodyBytes + 4, "51 bytes")
        XCTAssertEqual(bytes[4], 3, "version")
        XCTAssertEqual(bytes[5], 3, "frame type: time")
        XCTAssertEqual(bytes[6], 2, "kind: reply")
        XCTAssertEqual(Array(bytes[23..<31]), [0, 0x06, 0x44, 0x59, 0x41, 0x64, 0x22, 0x40], "origin, big-endian")
    }

    func testHostileTimeFramesAreRefusedByName() throws {
        func code(_ t: TimeExchange) -> FrameError.Code? {
            do {
                _ = try WireCodec.encode(.time(t))
                return nil
            } catch { return error.code }
        }
        XCTAssertEqual(code(TimeExchange(kind: .request, from: 0, to: 5, transmitUs: 1)), .invalidField)
        XCTAssertEqual(code(TimeExchange(kind: .request, from: 1, to: 5, transmitUs: -1)), .outOfRange)
        XCTAssertEqual(
            code(TimeExchange(kind: .reply, from: 1, to: 5, originUs: WireCodec.maxTimestampUs + 1, transmitUs: 1)),
            .outOfRange)
        XCTAssertEqual(
            code(TimeExchange(kind: .request, from: 1, to: 5, originUs: 7, transmitUs: 1)), .invalidField,
            "a request carries only t1")
        XCTAssertNil(
            code(
                TimeExchange(
                    kind: .reply, from: 1, to: 5, originUs: WireCodec.maxTimestampUs, receiveUs: 0, transmitUs: 0)))
        // On the decoding side: the same checks behind a correct checksum.
        let good = try WireCodec.encode(
            .time(TimeExchange(kind: .reply, from: 1, to: 5, originUs: 10, receiveUs: 20, transmitUs: 30)))
        func decodeCode(_ b: [UInt8]) -> FrameError.Code? {
            do {
                _ = try WireCodec.decode(Samples.resealed(b))
                return nil
            } catch { return error.code }
        }
        var b = good
        b[23] = 0xFF // origin's top byte: 2^63 and above
        XCTAssertEqual(decodeCode(b), .outOfRange)
        b = good
        b[6] = 9
        XCTAssertEqual(decodeCode(b), .unknownKind)
        b = good
        b[4] = 2
        XCTAssertEqual(decodeCode(b), .wrongVersion)
        b = good
        b.removeLast(5)
        XCTAssertEqual(decodeCode(b), .truncated)
        b = good
        b.insert(0, at: b.count - 4)
        XCTAssertEqual(decodeCode(b), .trailingBytes)
    }

    func testCRC32CStandardCheckValue() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum("123456789".utf8), 0xE306_9283, "the non-contiguous path agrees")
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        XCTAssertEqual(
            CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA, "RFC 3720 B.4: 32 bytes of zeros")
        XCTAssertEqual(
            CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43, "RFC 3720 B.4: 32 bytes of 0xFF")
        XCTAssertEqual(
            CRC32C.checksum(Array("56789".utf8), continuing: CRC32C.checksum(Array("1234".utf8))), 0xE306_9283,
            "in pieces")
    }

    func testVersionOneFrameIsRefusedAsWrongVersion() {
        // A version-1 heartbeat as the previous build sent it: no checksum.
        var v1: [UInt8] = [0, 0, 0, UInt8(2 + WireCodec.messageFixedBytes), 1, 2, 3]
        v1 +=
            [0, 0, 0, 0, 0, 0, 0, 1] + [0, 0, 0, 0, 0, 0, 0, 2]
            + [UInt8](repeating: 0, count: WireCodec.messageFixedBytes - 17)
        XCTAssertThrowsError(try WireCodec.decode(v1)) { XCTAssertEqual(($0 as? FrameError)?.code, .wrongVersion) }
    }

    func testTermsAndIndexesAboveTwoToTheSixtyThreeAreRefusedByName() throws {
        let top = Message(
            kind: .append, from: 1, to: 2, term: maxTerm, logTerm: maxTerm, index: maxLogIndex - 1,
            entries: [Entry(term: maxTerm, index: maxLogIndex)], commit: maxLogIndex, rejectHint: maxLogIndex,
            hintTerm: maxTerm)
        XCTAssertEqual(try WireCodec.decode(try WireCodec.encode(.message(top))), .message(top), "2^63 − 1 is in range")

        let over = maxTerm + 1
        let cases: [(String, (inout Message) -> Void)] = [
            ("term", { $0.term = over }), ("logTerm", { $0.logTerm = over }), ("hintTerm", { $0.hintTerm = over }),
            ("index", { $0.index = over }), ("commit", { $0.commit = over }), ("rejectHint", { $0.rejectHint = .max }),
            ("entry term", { $0.entries[0].term = .max }), ("entry index", { $0.entries[0].index = over })
        ]
        for (field, mutate) in cases {
            var m = top
            mutate(&m)
            // The sender refuses it…
            XCTAssertThrowsError(try WireCodec.encode(.message(m)), field) { error in
                XCTAssertEqual((error as? FrameError)?.code, .outOfRange, field)
                XCTAssertTrue("\(error)".hasPrefix("outOfRange: \(field) "), "\(error)")
            }
            // …and so does the receiver, even with a correct checksum.
            let bytes = try forceEncode(m)
            XCTAssertThrowsError(try WireCodec.decode(bytes), field) { error in
                XCTAssertEqual((error as? FrameError)?.code, .outOfRange, field)
                XCTAssertTrue(
                    "\(error)".contains(
                        "\(field) \(field == "rejectHint" || field == "entry term" ? UInt64.max : over) exceeds"),
                    "\(error)")
            }
        }
        let chunk = SnapshotChunk(
            index: 9, term: 2, membership: Membership(voters: [1], learners: []), offset: 0, total: 0, checksum: 0,
            data: [])
        for (field, c) in [
            (
                "snapshot term",
                {
                    var c = chunk
                    c.term = over
                    return c
                }()
            ),
            (
                "snapshot index",
                {
                    var c = chunk
                    c.index = over
                    return c
                }()
            )
        ] {
            let m = Message(kind: .snapshot, from: 1, to: 2, term: 3, snapshot: c)
            XCTAssertThrowsError(try WireCodec.encode(.message(m))) {
                XCTAssertEqual(($0 as? FrameError)?.code, .outOfRange, field)
            }
            XCTAssertThrowsError(try WireCodec.decode(try forceEncode(m))) { error in
                XCTAssertEqual((error as? FrameError)?.code, .outOfRange, field)
                XCTAssertTrue("\(error)".contains(field), "\(error)")
            }
        }
    }

    func testAppendEntriesMustContinueTheLogAfterIndexWithinTheTerms() throws {
        let ok = Message(
            kind: .append, from: 1, to: 2, term: 7, logTerm: 5, index: 40,
            entries: [Entry(term: 5, index: 41), Entry(term: 7, index: 42)], commit: 40)
        XCTAssertEqual(try WireCodec.decode(try WireCodec.encode(.message(ok))), .message(ok))
        let bad: [(String, (inout Message) -> Void)] = [
            ("a gap", { $0.entries[1].index = 43 }),
            ("an index before", { $0.entries[0].index = 2 }),
            ("a huge index", { $0.entries[0].index = 1 << 40 }),
            ("a term above the message's", { $0.entries[1].term = 8 }),
            (
                "a decreasing term",
                {
                    $0.entries[0].term = 7
                    $0.entries[1].term = 6
                }
            ),
            ("a term before logTerm", { $0.entries[0].term = 4 })
        ]
        for (what, mutate) in bad {
            var m = ok
            mutate(&m)
            XCTAssertThrowsError(try WireCodec.encode(.message(m)), what) {
                XCTAssertEqual(($0 as? FrameError)?.code, .invalidField, what)
            }
            // A sender that skips the check (checksum recomputed): the receiver refuses it too.
            var b = Array(try WireCodec.encode(.message(ok)).dropLast(4))
            let first = 6 + WireCodec.messageFixedBytes - 1 // after the fixed part (the snapshot flag comes last)
            for (i, e) in m.entries.enumerated() {
                let at = first + i * WireCodec.entryFixedBytes
                withUnsafeBytes(of: e.term.bigEndian) { for k in 0..<8 { b[at + k] = $0[k] } }
                withUnsafeBytes(of: e.index.bigEndian) { for k in 0..<8 { b[at + 8 + k] = $0[k] } }
            }
            WireCodec.seal(&b)
            XCTAssertThrowsError(try WireCodec.decode(b), what) { error in
                XCTAssertEqual((error as? FrameError)?.code, .invalidField, "\(what): \(error)")
            }
        }
        var near = ok
        near.index = maxLogIndex - 1
        near.entries = [Entry(term: 5, index: maxLogIndex)]
        XCTAssertNoThrow(try WireCodec.encode(.message(near)), "the last index there is")
    }

    /// Encodes `m` whatever its ranges, as a buggy or hostile sender would: the in-range encoding with
    /// the out-of-range values patched in and the checksum recomputed.
    private func forceEncode(_ m: Message) throws -> [UInt8] {
        func clamp(_ v: UInt64) -> UInt64 { min(v, maxTerm) }
        var safe = m
        safe.term = clamp(m.term)
        safe.logTerm = clamp(m.logTerm)
        safe.hintTerm = clamp(m.hintTerm)
        safe.index = min(m.index, maxLogIndex - 1)
        safe.commit = clamp(m.commit)
        safe.rejectHint = clamp(m.rejectHint)
        safe.entries = m.entries.map {
            Entry(term: clamp($0.term), index: clamp($0.index), kind: $0.kind, data: $0.data)
        }
        if var s = m.snapshot {
            s.term = clamp(s.term)
            s.index = clamp(s.index)
            safe.snapshot = s
        }
        var b = Array(try WireCodec.encode(.message(safe)).dropLast(4))
        func patch(_ at: Int, _ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { for k in 0..<8 { b[at + k] = $0[k] } } }
        let base = 6 + 1 + 16 // after length, version, type, kind, from, to
        patch(base, m.term)
        patch(base + 8, m.logTerm)
        patch(base + 16, m.index)
        patch(base + 24, m.commit)
        patch(base + 33, m.rejectHint)
        patch(base + 41, m.hintTerm)
        var at = base + 57 + 4 // after context and the entry count
        for e in m.entries {
            patch(at, e.term)
            patch(at + 8, e.index)
            at += 8 + 8 + 1 + 4 + e.data.count
        }
        if let s = m.snapshot {
            patch(at + 1, s.index)
            patch(at + 9, s.term)
        }
        WireCodec.seal(&b)
        return b
    }

    /// Kind 9 (a forwarded proposal, removed in issue 17) is refused by name, with or without the
    /// entries an old proposal frame carried, and no kind the encoder knows has that number.
    func testRemovedProposeKindIsRefusedAsUnknown() throws {
        XCTAssertFalse(MessageKind.allCases.contains { $0.rawValue == 9 })
        let bare = try WireCodec.encode(.message(Message(kind: .readIndex, from: 2, to: 1, term: 0, context: 1)))
        let withEntries = try WireCodec.encode(
            .message(
                Message(
                    kind: .append, from: 2, to: 1, term: 1,
                    entries: [Entry(term: 1, index: 1, data: [5, 6])])))
        for var b in [bare, withEntries] {
            b[6] = 9
            do {
                _ = try WireCodec.decode(Samples.resealed(b))
                XCTFail("a frame of kind 9 decoded")
            } catch {
                XCTAssertEqual(error.code, .unknownKind)
            }
        }
    }

    func testDecoderRejectsWithNamedErrors() throws {
        let good = try WireCodec.encode(.message(Message(kind: .vote, from: 1, to: 2, term: 3)))
        func code(_ bytes: [UInt8], limits: WireLimits = WireLimits()) -> FrameError.Code? {
            do {
                _ = try WireCodec.decode(bytes, limits: limits)
                return nil
            } catch { return error.code }
        }
        // Every field mutation is resealed (checksum recomputed), so that the field check is what refuses it.
        func code(resealing bytes: [UInt8]) -> FrameError.Code? { code(Samples.resealed(bytes)) }
        var b = good
        b[4] = 1
        XCTAssertEqual(code(b), .wrongVersion)
        b = good
        b[4] = 4
        XCTAssertEqual(code(resealing: b), .wrongVersion)
        b = good
        b[4] = 2
        XCTAssertEqual(
            code(resealing: b), .wrongVersion, "version 2 (no time frame) is refused: one version, one encoding")
        b = good
        b[5] = 9
        XCTAssertEqual(code(b), .checksumMismatch)
        XCTAssertEqual(code(resealing: b), .unknownFrameType)
        b = good
        b[6] = 99
        XCTAssertEqual(code(resealing: b), .unknownKind)
        XCTAssertEqual(code(Array(good.dropLast())), .truncated)
        XCTAssertEqual(code(good + [0]), .trailingBytes)
        XCTAssertEqual(code([0xFF, 0xFF, 0xFF, 0xFF, 1, 2]), .oversized)
        XCTAssertEqual(code([0, 0, 0, 1, 1]), .truncated)
        XCTAssertEqual(code([0, 0, 0, 5, 2, 2, 0, 0, 0]), .truncated, "shorter than version, type and checksum")
        var small = WireLimits()
        small.maxFrameBytes = 16
        XCTAssertEqual(code(good, limits: small), .oversized)
        b = good
        b[6 + 1 + 16 + 32] = 2 // reject flag
        XCTAssertEqual(code(resealing: b), .invalidField)

        let withEntry = try WireCodec.encode(
            .message(
                Message(
                    kind: .append, from: 1, to: 2, term: 1,
                    entries: [Entry(term: 1, index: 1, kind: .noop)])))
        b = withEntry
        b[6 + 74 + 4 + 16] = 7 // the entry's kind: after 74 fixed bytes, the count, term and index
        XCTAssertEqual(code(resealing: b), .unknownEntryKind)
        b = withEntry
        b[6 + 74] = 0xFF // the entry count's high byte
        XCTAssertEqual(code(resealing: b), .countOverLimit)
        b = withEntry
        b[6 + 74 + 4] = 0x80 // the entry term's high bit: 2^63 + 1
        XCTAssertEqual(code(resealing: b), .outOfRange)
        XCTAssertEqual(code(b), .checksumMismatch)

        b = try WireCodec.encode(.hello(Hello(clusterID: "ab", nodeID: 1)))
        b[8] = 0xFF
        XCTAssertEqual(code(resealing: b), .invalidClusterID)
    }

    func testSenderRefusesWhatTheReceiverWouldRefuse() {
        var small = WireLimits()
        small.maxFrameBytes = 100
        let big = Message(
            kind: .append, from: 1, to: 2, term: 1,
            entries: [Entry(term: 1, index: 1, data: Array(repeating: 1, count: 200))])
        XCTAssertThrowsError(try WireCodec.encode(.message(big), limits: small)) {
            XCTAssertEqual(($0 as? FrameError)?.code, .oversized)
        }
        XCTAssertThrowsError(try WireCodec.encode(.message(Message(kind: .vote, from: 0, to: 2, term: 1))))
        XCTAssertThrowsError(try WireCodec.encode(.hello(Hello(clusterID: "", nodeID: 1))))
    }

    func testDefaultLimitsCarryWhatRaftCoreProduces() throws {
        try WireLimits().check(against: RaftLimits())
        var tiny = WireLimits()
        tiny.maxFrameBytes = 64 * 1024
        XCTAssertThrowsError(try tiny.check(against: RaftLimits()))
    }
}
