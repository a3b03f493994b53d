import Logging
import NIOCore
import NIOEmbedded
import PKI
import RaftCore
import XCTest

@testable import Transport

/// The inbound pipeline (frame decoder + hello state machine) on an EmbeddedChannel: no sockets, no threads.
final class HandlerTests: XCTestCase {
    final class Sink {
        var delivered: [Message] = []
        var rejected: [InboundRejection] = []
        var accepted: [NodeID] = []
    }

    func makeChannel(_ sink: Sink, limits: WireLimits = WireLimits()) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let events = InboundEvents(
            deliver: { sink.delivered.append($0) },
            rejected: { sink.rejected.append($0) },
            accepted: { sink.accepted.append($0) }
        )
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(limits: limits)))
        try channel.pipeline.syncOperations.addHandler(
            InboundHandler(
                clusterID: "weh", localID: 2, members: [1, 3], helloTimeout: .seconds(5), events: events,
                logger: Logger(label: "test")
            ))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    func stream(_ messages: [Message], cluster: String = "weh", from: NodeID = 1) throws -> [UInt8] {
        var bytes = try WireCodec.encode(.hello(Hello(clusterID: cluster, nodeID: from)))
        for m in messages { bytes += try WireCodec.encode(.message(m)) }
        return bytes
    }

    func sampleMessages() -> [Message] {
        var rng = SplitMix64(seed: 3)
        return MessageKind.allCases.map { kind in
            var m = Samples.message(kind, &rng)
            m.from = 1
            m.to = 2
            return m
        }
    }

    func testStreamSplitAtEveryByteBoundaryDecodes() throws {
        let messages = sampleMessages()
        let bytes = try stream(messages)
        for split in 0...bytes.count {
            let sink = Sink()
            let channel = try makeChannel(sink)
            try channel.writeInbound(ByteBuffer(bytes: bytes[..<split]))
            try channel.writeInbound(ByteBuffer(bytes: bytes[split...]))
            XCTAssertEqual(sink.delivered, messages, "split at \(split)")
            XCTAssertTrue(sink.rejected.isEmpty)
            XCTAssertTrue(channel.isActive)
            _ = try channel.finish()
        }
    }

    func testStreamFedOneByteAtATimeDecodes() throws {
        let messages = sampleMessages()
        let sink = Sink()
        let channel = try makeChannel(sink)
        for b in try stream(messages) { try channel.writeInbound(ByteBuffer(bytes: [b])) }
        XCTAssertEqual(sink.delivered, messages)
        _ = try channel.finish()
    }

    func testGarbageFrameClosesTheChannel() throws {
        let sink = Sink()
        let channel = try makeChannel(sink)
        try channel.writeInbound(ByteBuffer(bytes: try stream([])))
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 8, 1, 2, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE]))
        XCTAssertFalse(channel.isActive)
        XCTAssertEqual(sink.rejected.count, 1)
        XCTAssertEqual(sink.rejected.first?.peer, 1, "the log names the peer")
        XCTAssertEqual(sink.rejected.first?.isFrameError, true, "counted as a decode error")
        XCTAssertEqual(sink.rejected.first?.key, "frame.wrongVersion")
    }

    /// Kind 9 was a proposal forwarded to the leader; issue 17 removed Raft-level forwarding. A frame of
    /// that kind, correctly sealed, is now an unknown kind: it closes the connection, is counted as a
    /// decode error, and neither it nor the valid message behind it is delivered.
    func testFrameOfTheRemovedProposeKindClosesTheChannel() throws {
        XCTAssertNil(MessageKind(rawValue: 9))
        var old = try WireCodec.encode(.message(Message(kind: .readIndex, from: 1, to: 2, term: 0, context: 7)))
        old[6] = 9 // the kind byte, right after length, version and type
        let after = try WireCodec.encode(.message(Message(kind: .heartbeat, from: 1, to: 2, term: 3)))
        let sink = Sink()
        let channel = try makeChannel(sink)
        try channel.writeInbound(ByteBuffer(bytes: try stream([]) + Samples.resealed(old) + after))
        XCTAssertEqual(sink.accepted, [1])
        XCTAssertFalse(channel.isActive)
        XCTAssertTrue(sink.delivered.isEmpty)
        XCTAssertEqual(sink.rejected.count, 1)
        XCTAssertEqual(sink.rejected.first?.key, "frame.unknownKind")
        XCTAssertEqual(sink.rejected.first?.isFrameError, true)
    }

    func testHugeDeclaredLengthClosesAtOnce() throws {
        let sink = Sink()
        let channel = try makeChannel(sink)
        try channel.writeInbound(ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF]))
        XCTAssertFalse(channel.isActive)
        XCTAssertTrue(sink.rejected.first?.reason.contains("oversized") ?? false)
    }

    func testWrongVersionClosesTheChannel() throws {
        let sink = Sink()
        let channel = try makeChannel(sink)
        var bytes = try stream([])
        bytes[4] = 9
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        XCTAssertFalse(channel.isActive)
        XCTAssertTrue(sink.rejected.first?.reason.contains("wrongVersion") ?? false)
    }

    func testHelloFromAnotherCorridorIsRefused() throws {
        let sink = Sink()
        let channel = try makeChannel(sink)
        try channel.writeInbound(ByteBuffer(bytes: try stream(sampleMessages(), cluster: "other")))
        XCTAssertFalse(channel.isActive)
        XCTAssertTrue(sink.delivered.isEmpty)
        XCTAssertEqual(sink.rejected.first?.isFrameError, false, "a protocol error, not a decode error")
        XCTAssertEqual(sink.rejected.first?.key, "otherCorridor")
    }

    func testHelloFromANodeOutsideTheMembersIsRefused() throws {
        let sink = Sink()
        let channel = try makeChannel(sink)
        var m = Message(kind: .heartbeat, from: 7, to: 2, term: 1)
        m.commit = 0
        try channel.writeInbound(ByteBuffer(bytes: try stream([m], from: 7)))
        XCTAssertFalse(channel.isActive)
        XCTAssertTrue(sink.delivered.isEmpty)
        XCTAssertTrue(sink.accepted.isEmpty)
        XCTAssertEqual(sink.rejected.first?.key, "notMember")
        XCTAssertEqual(sink.rejected.first?.isFrameError, false)
        XCTAssertTrue(sink.rejected.first?.reason.contains("node 7") ?? false, sink.rejected.first?.reason ?? "")

        // A member (3) is accepted on the same kind of pipeline.
        let ok = Sink()
        let other = try makeChannel(ok)
        try other.writeInbound(
            ByteBuffer(bytes: try stream([Message(kind: .heartbeat, from: 3, to: 2, term: 1)], from: 3)))
        XCTAssertEqual(ok.accepted, [3])
        XCTAssertEqual(ok.delivered.count, 1)
        XCTAssertTrue(other.isActive)
        _ = try other.finish()
    }

    func testBitFlippedMessageClosesTheChannelAndDeliversNothing() throws {
        let m = Message(
            kind: .append, from: 1, to: 2, term: 4, logTerm: 4, index: 9, entries: [Entry(term: 4, index: 10)],
            commit: 9)
        let good = try stream([m])
        let helloBytes = try WireCodec.encode(.hello(Hello(clusterID: "weh", nodeID: 1))).count
        // The term's top byte: without the checksum this would be a term of about 2^62.
        var b = good
        b[helloBytes + 6 + 1 + 16] ^= 0x40
        let sink = Sink()
        let channel = try makeChannel(sink)
        try channel.writeInbound(ByteBuffer(bytes: b))
        XCTAssertFalse(channel.isActive)
        XCTAssertTrue(sink.delivered.isEmpty)
        XCTAssertEqual(sink.rejected.first?.key, "frame.checksumMismatch")
    }

    func testMessageBeforeHelloOrFromAnotherSenderIsRefused() throws {
        var sink = Sink()
        var channel = try makeChannel(sink)
        try channel.writeInbound(
            ByteBuffer(bytes: try WireCodec.encode(.message(Message(kind: .vote, from: 1, to: 2, term: 1)))))
        XCTAssertFalse(channel.isActive)

        sink = Sink()
        channel = try makeChannel(sink)
        try channel.writeInbound(
            ByteBuffer(bytes: try stream([Message(kind: .vote, from: 3, to: 2, term: 1)], from: 1)))
        XCTAssertFalse(channel.isActive)
        XCTAssertTrue(sink.delivered.isEmpty)
    }

    func testNoHelloWithinTheTimeoutCloses() throws {
        let sink = Sink()
        let channel = try makeChannel(sink)
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        XCTAssertFalse(channel.isActive)
        XCTAssertEqual(sink.rejected.first?.key, "helloTimeout")
    }
}

final class LogLimiterTests: XCTestCase {
    let second: UInt64 = 1_000_000_000

    func testOneLinePerSourceAndReasonPerWindowWithTheSuppressedCount() {
        var l = LogLimiter(windowNs: 10 * second)
        XCTAssertEqual(l.admit(source: "10.0.0.1", reason: "frame.checksumMismatch", nowNs: 0), .log(suppressed: 0))
        for t in 1...500 {
            XCTAssertEqual(
                l.admit(source: "10.0.0.1", reason: "frame.checksumMismatch", nowNs: UInt64(t) * second / 100),
                .suppress)
        }
        XCTAssertEqual(
            l.admit(source: "10.0.0.1", reason: "notMember", nowNs: second), .log(suppressed: 0),
            "another reason has its own budget")
        XCTAssertEqual(
            l.admit(source: "10.0.0.2", reason: "frame.checksumMismatch", nowNs: second), .log(suppressed: 0),
            "another source too")
        XCTAssertEqual(
            l.admit(source: "10.0.0.1", reason: "frame.checksumMismatch", nowNs: 10 * second), .log(suppressed: 500))
        XCTAssertEqual(
            l.admit(source: "10.0.0.1", reason: "frame.checksumMismatch", nowNs: 21 * second), .log(suppressed: 0))
    }

    func testKeysAreBoundedAndExpiredOnesReportTheirCount() {
        var l = LogLimiter(windowNs: 10 * second, maxKeys: 4)
        for i in 0..<4 { _ = l.admit(source: "h\(i)", reason: "r", nowNs: 0) }
        _ = l.admit(source: "h0", reason: "r", nowNs: 1)
        XCTAssertEqual(
            l.admit(source: "h9", reason: "r", nowNs: 2), .log(suppressed: 0),
            "a new source while full shares the overflow key")
        XCTAssertEqual(l.admit(source: "h10", reason: "r", nowNs: 3), .suppress)
        XCTAssertLessThanOrEqual(l.keyCount, 5)
        var evicted: [String: Int] = [:]
        _ = l.admit(source: "h11", reason: "r", nowNs: 11 * second) { evicted[$0.source] = $1 }
        XCTAssertEqual(evicted["h0"], 1, "a forgotten key hands over what it held back")
        XCTAssertLessThanOrEqual(l.keyCount, 4)
    }
}

final class QueueAndBackoffTests: XCTestCase {
    func testQueueDropsOldestWithinCountAndBytes() {
        var q = SendQueue(maxMessages: 3, maxBytes: 10, policy: .dropOldest)
        XCTAssertEqual(q.enqueue([1, 1]), 0)
        XCTAssertEqual(q.enqueue([2, 2]), 0)
        XCTAssertEqual(q.enqueue([3, 3]), 0)
        XCTAssertEqual(q.enqueue([4, 4]), 1, "count bound")
        XCTAssertEqual(q.dequeue(), [2, 2])
        XCTAssertEqual(q.enqueue(Array(repeating: 5, count: 9)), 2, "byte bound drops until it fits")
        XCTAssertEqual(q.count, 1)
        XCTAssertEqual(q.bytes, 9)
        XCTAssertEqual(q.enqueue(Array(repeating: 6, count: 11)), 1, "a frame larger than the queue is refused")
        XCTAssertEqual(q.count, 1)
    }

    func testQueueDropNewestKeepsTheOldest() {
        var q = SendQueue(maxMessages: 2, maxBytes: 100, policy: .dropNewest)
        _ = q.enqueue([1])
        _ = q.enqueue([2])
        XCTAssertEqual(q.enqueue([3]), 1)
        XCTAssertEqual(q.dequeue(), [1])
    }

    func testBackoffGrowsToTheMaximumWithJitter() {
        var b = Backoff(minMs: 50, maxMs: 2000)
        var rng = SplitMix64(seed: 9)
        var delays: [Int64] = []
        for _ in 0..<100 { delays.append(b.nextDelayMs(using: &rng)) }
        XCTAssertTrue((25...50).contains(delays[0]))
        XCTAssertTrue((50...100).contains(delays[1]))
        XCTAssertTrue(delays[10...].allSatisfy { (1000...2000).contains($0) }, "bounded at the maximum")
        XCTAssertGreaterThan(Set(delays[10...]).count, 10, "jittered")
        b.reset()
        XCTAssertLessThanOrEqual(b.nextDelayMs(using: &rng), 50)
    }
}

/// The pure TLS rules of `InboundStateMachine`: certificate first, then a hello from exactly that member.
final class InboundTLSStateMachineTests: XCTestCase {
    func machine() -> InboundStateMachine {
        InboundStateMachine(clusterID: "c", localID: 1, members: [2, 3], requireCertificate: true)
    }

    func hello(_ id: NodeID, cluster: String = "c") -> Frame { .hello(Hello(clusterID: cluster, nodeID: id)) }

    func code(_ a: InboundStateMachine.Action) -> InboundStateMachine.CloseCode? {
        if case .close(let c, _) = a { return c }
        return nil
    }

    func testAMemberWithItsOwnCertificateIsAccepted() {
        var m = machine()
        XCTAssertEqual(m.handshakeCompleted(.success(PeerIdentity(corridor: "c", signal: 2))), .none)
        XCTAssertEqual(m.received(hello(2)), .accepted(peer: 2))
        let msg = Message(kind: .heartbeat, from: 2, to: 1, term: 1)
        XCTAssertEqual(m.received(.message(msg)), .deliver(msg))
    }

    func testEachIdentityProblemClosesWithItsOwnCode() {
        var m = machine()
        XCTAssertEqual(code(m.received(hello(2))), .helloBeforeHandshake)
        m = machine()
        XCTAssertEqual(code(m.handshakeCompleted(.failure(.identity("none")))), .certificateNoIdentity)
        m = machine()
        XCTAssertEqual(
            code(m.handshakeCompleted(.success(PeerIdentity(corridor: "other", signal: 2)))), .certificateOtherCorridor)
        m = machine()
        XCTAssertEqual(code(m.handshakeCompleted(.success(PeerIdentity(corridor: "c", signal: 1)))), .certificateOwnID)
        m = machine()
        XCTAssertEqual(
            code(m.handshakeCompleted(.success(PeerIdentity(corridor: "c", signal: 9)))), .certificateNotMember)
        m = machine()
        _ = m.handshakeCompleted(.success(PeerIdentity(corridor: "c", signal: 2)))
        XCTAssertEqual(
            code(m.received(hello(3))), .helloNotCertificate, "a certificate of 2 cannot say hello as member 3")
        XCTAssertEqual(m.received(hello(2)), .none, "closed for good")
    }

    func testWithoutTLSTheCertificateIsNotRequired() {
        var m = InboundStateMachine(clusterID: "c", localID: 1, members: [2, 3])
        XCTAssertEqual(m.received(hello(3)), .accepted(peer: 3))
    }
}
