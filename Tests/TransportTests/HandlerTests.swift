import Logging
import NIOCore
import NIOEmbedded
import RaftCore
import XCTest
@testable import Transport

/// The inbound pipeline (frame decoder + hello state machine) on an EmbeddedChannel: no sockets, no threads.
final class HandlerTests: XCTestCase {
    final class Sink {
        var delivered: [Message] = []
        var rejected: [(NodeID?, String, Bool)] = []
    }

    func makeChannel(_ sink: Sink, limits: WireLimits = WireLimits()) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let events = InboundEvents(
            deliver: { sink.delivered.append($0) },
            rejected: { sink.rejected.append(($0, $1, $2)) }
        )
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(limits: limits)))
        try channel.pipeline.syncOperations.addHandler(InboundHandler(
            clusterID: "weh", localID: 2, helloTimeout: .seconds(5), events: events, logger: Logger(label: "test")
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
        for split in 0 ... bytes.count {
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
        XCTAssertEqual(sink.rejected.first?.0, 1, "the log names the peer")
        XCTAssertEqual(sink.rejected.first?.2, true, "counted as a decode error")
    }

    func testHugeDeclaredLengthClosesAtOnce() throws {
        let sink = Sink()
        let channel = try makeChannel(sink)
        try channel.writeInbound(ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF]))
        XCTAssertFalse(channel.isActive)
        XCTAssertTrue(sink.rejected.first?.1.contains("oversized") ?? false)
    }

    func testWrongVersionClosesTheChannel() throws {
        let sink = Sink()
        let channel = try makeChannel(sink)
        var bytes = try stream([])
        bytes[4] = 9
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        XCTAssertFalse(channel.isActive)
        XCTAssertTrue(sink.rejected.first?.1.contains("wrongVersion") ?? false)
    }

    func testHelloFromAnotherCorridorIsRefused() throws {
        let sink = Sink()
        let channel = try makeChannel(sink)
        try channel.writeInbound(ByteBuffer(bytes: try stream(sampleMessages(), cluster: "other")))
        XCTAssertFalse(channel.isActive)
        XCTAssertTrue(sink.delivered.isEmpty)
        XCTAssertEqual(sink.rejected.first?.2, false, "a protocol error, not a decode error")
    }

    func testMessageBeforeHelloOrFromAnotherSenderIsRefused() throws {
        var sink = Sink()
        var channel = try makeChannel(sink)
        try channel.writeInbound(ByteBuffer(bytes: try WireCodec.encode(.message(Message(kind: .vote, from: 1, to: 2, term: 1)))))
        XCTAssertFalse(channel.isActive)

        sink = Sink()
        channel = try makeChannel(sink)
        try channel.writeInbound(ByteBuffer(bytes: try stream([Message(kind: .vote, from: 3, to: 2, term: 1)], from: 1)))
        XCTAssertFalse(channel.isActive)
        XCTAssertTrue(sink.delivered.isEmpty)
    }

    func testNoHelloWithinTheTimeoutCloses() throws {
        let sink = Sink()
        let channel = try makeChannel(sink)
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        XCTAssertFalse(channel.isActive)
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
        _ = q.enqueue([1]); _ = q.enqueue([2])
        XCTAssertEqual(q.enqueue([3]), 1)
        XCTAssertEqual(q.dequeue(), [1])
    }

    func testBackoffGrowsToTheMaximumWithJitter() {
        var b = Backoff(minMs: 50, maxMs: 2000)
        var rng = SplitMix64(seed: 9)
        var delays: [Int64] = []
        for _ in 0 ..< 100 { delays.append(b.nextDelayMs(using: &rng)) }
        XCTAssertTrue((25 ... 50).contains(delays[0]))
        XCTAssertTrue((50 ... 100).contains(delays[1]))
        XCTAssertTrue(delays[10...].allSatisfy { (1000 ... 2000).contains($0) }, "bounded at the maximum")
        XCTAssertGreaterThan(Set(delays[10...]).count, 10, "jittered")
        b.reset()
        XCTAssertLessThanOrEqual(b.nextDelayMs(using: &rng), 50)
    }
}
