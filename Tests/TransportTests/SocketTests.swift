import Foundation
import Logging
import NIOCore
import NIOPosix
import RaftCore
import XCTest

@testable import Transport

/// Real sockets on 127.0.0.1 with ephemeral ports. Every wait has a timeout; every transport is shut down.
final class SocketTests: XCTestCase {
    static let cluster = "test-corridor"

    /// A transport on an ephemeral port; by default nodes 1 ... 16 may connect to it.
    func makeTransport(
        _ id: NodeID, port: Int = 0, peers: [NodeID: PeerAddress] = [:], members: Set<NodeID> = Set(1...16),
        configure: (inout TransportConfiguration) -> Void = { _ in }
    ) async throws -> PeerTransport {
        var config = TransportConfiguration(
            clusterID: Self.cluster, nodeID: id, listenHost: "127.0.0.1", listenPort: port, peers: peers,
            members: members)
        config.jitterSeed = id
        configure(&config)
        var logger = Logger(label: "test.transport")
        logger.logLevel = .critical
        let t = PeerTransport(configuration: config, logger: logger)
        try await t.start()
        return t
    }

    func address(_ t: PeerTransport) -> PeerAddress { PeerAddress(host: "127.0.0.1", port: t.localAddress!.port!) }

    /// The next `count` messages, or a failure after `timeout`.
    func receive(
        _ t: PeerTransport, count: Int, timeout: Duration = .seconds(10), file: StaticString = #filePath,
        line: UInt = #line
    ) async throws -> [Message] {
        let result = try await withThrowingTaskGroup(of: [Message]?.self) { group in
            group.addTask {
                var out: [Message] = []
                for await m in t.messages {
                    out.append(m)
                    if out.count == count { break }
                }
                return out
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        guard let result else {
            XCTFail("timed out waiting for \(count) messages", file: file, line: line)
            return []
        }
        return result
    }

    func heartbeat(_ from: NodeID, _ to: NodeID, _ seq: UInt64) -> Message {
        Message(kind: .heartbeat, from: from, to: to, term: 1, context: seq)
    }

    /// With a receiver set (`deliverDirectly`), every message goes to it in order, none to `messages`, and one
    /// the receiver reports dropping an older one for is counted as a receive drop.
    func testAReceiverGetsTheMessagesInsteadOfTheStream() async throws {
        final class Box: @unchecked Sendable {
            let lock = NSLock()
            var got: [Message] = []
        }
        let box = Box()
        var config = TransportConfiguration(
            clusterID: Self.cluster, nodeID: 2, listenHost: "127.0.0.1", listenPort: 0, peers: [:], members: [1, 2])
        config.jitterSeed = 2
        var logger = Logger(label: "test.transport")
        logger.logLevel = .critical
        let b = PeerTransport(configuration: config, logger: logger)
        b.deliverDirectly { m in
            box.lock.withLock {
                box.got.append(m)
                return box.got.count <= 25 // the 26th and later: "dropped an older one"
            }
        }
        try await b.start()
        let a = try await makeTransport(1, peers: [2: address(b)], members: [1, 2])
        a.send((0..<30).map { heartbeat(1, 2, $0) })
        let deadline = ContinuousClock.now + .seconds(10)
        while box.lock.withLock({ box.got.count }) < 30, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertEqual(box.lock.withLock { box.got.map(\.context) }, Array(0..<30))
        XCTAssertEqual(b.metrics().messagesReceived, 30)
        XCTAssertEqual(b.metrics().messagesReceiveDropped, 5)
        await a.shutdown()
        await b.shutdown()
        var streamed = 0
        for await _ in b.messages { streamed += 1 } // finished by the shutdown
        XCTAssertEqual(streamed, 0, "nothing went to the stream")
    }

    func testThreeTransportsExchangeMessages() async throws {
        let ts = [try await makeTransport(1), try await makeTransport(2), try await makeTransport(3)]
        let addresses = Dictionary(
            uniqueKeysWithValues: ts.enumerated().map { (NodeID($0.offset + 1), address($0.element)) })
        for t in ts { t.updatePeers(addresses, members: Set(addresses.keys)) }
        for (i, t) in ts.enumerated() {
            let from = NodeID(i + 1)
            for to in 1...3 where to != from {
                t.send((0..<20).map { heartbeat(from, NodeID(to), $0) })
            }
        }
        for (i, t) in ts.enumerated() {
            let got = try await receive(t, count: 40)
            XCTAssertTrue(got.allSatisfy { $0.to == NodeID(i + 1) })
            for from in 1...3 where from != i + 1 {
                XCTAssertEqual(
                    got.filter { $0.from == NodeID(from) }.map(\.context), Array(0..<20), "in order per peer")
            }
        }
        XCTAssertEqual(ts[0].metrics().messagesSent, 40)
        XCTAssertEqual(ts[0].metrics().messagesReceived, 40)
        for t in ts { await t.shutdown() }
    }

    /// The evidence an election's log line quotes: when a peer's messages last reached the process, when a
    /// frame to it was last written, and how late the event loop ran; "never" before anything happened.
    func testEvidenceSaysWhenPeersWereLastHeardAndWritten() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var config = TransportConfiguration(
            clusterID: Self.cluster, nodeID: 1, listenHost: "127.0.0.1", listenPort: 0, peers: [:],
            members: Set(1...16))
        config.jitterSeed = 1
        var logger = Logger(label: "test.transport")
        logger.logLevel = .critical
        let a = PeerTransport(configuration: config, group: group, logger: logger)
        try await a.start()
        let b = try await makeTransport(2)
        let addresses: [NodeID: PeerAddress] = [1: address(a), 2: address(b)]
        a.updatePeers(addresses)
        b.updatePeers(addresses)
        XCTAssertTrue(
            a.evidence(for: [2]).hasPrefix("transport [2: received never, written never"), a.evidence(for: [2]))
        a.send([heartbeat(1, 2, 1)])
        _ = try await receive(b, count: 1)
        b.send([heartbeat(2, 1, 1)])
        _ = try await receive(a, count: 1)
        let seen = a.evidence(for: [2, 3])
        XCTAssertTrue(seen.hasPrefix("transport [2: received "), seen)
        XCTAssertFalse(seen.contains("2: received never"), seen)
        XCTAssertFalse(seen.contains("written never;"), seen)
        XCTAssertTrue(seen.contains("3: received never, written never (not connected)"), seen)
        // Hold the event loop for 600 ms: the probe (every 250 ms) reports it late by at least 300 ms.
        try await Task.sleep(for: .milliseconds(300))
        try await group.next().submit { usleep(600_000) }.get()
        try await Task.sleep(for: .milliseconds(300))
        let late = try XCTUnwrap(Int(a.evidence(for: []).split(separator: " ").dropLast().last ?? ""))
        XCTAssertGreaterThanOrEqual(late, 300, a.evidence(for: []))
        await a.shutdown()
        await b.shutdown()
        try await group.shutdownGracefully()
    }

    func testTimeExchangesMeasureAPeersClockOverRealSockets() async throws {
        // Node 2's clock reads 2.5 s ahead; node 1 asks, node 2 answers on its own connection.
        let a = try await makeTransport(1)
        let b = try await makeTransport(2) {
            $0.clockUs = { realTimeClockUs() + 2_500_000 }
            $0.timeReplyMinIntervalMs = 0
        }
        a.updatePeers([2: address(b)], members: [2])
        b.updatePeers([1: address(a)], members: [1])
        var samples: [TimeExchangeSample] = []
        let deadline = Date().addingTimeInterval(10)
        var it = a.timeSamples.makeAsyncIterator()
        while samples.count < 3 && Date() < deadline {
            a.sendTimeRequests(to: [2])
            if let s = await it.next() { samples.append(s) }
        }
        XCTAssertEqual(samples.count, 3)
        for s in samples {
            XCTAssertEqual(s.peer, 2)
            let offset = ((s.t2 - s.t1) + (s.t3 - s.t4)) / 2
            let rtt = (s.t4 - s.t1) - (s.t3 - s.t2)
            XCTAssertGreaterThanOrEqual(rtt, 0)
            XCTAssertLessThanOrEqual(abs(offset - 2_500_000), rtt / 2 + 1, "offset \(offset) µs, round trip \(rtt) µs")
        }
        XCTAssertGreaterThanOrEqual(a.metrics().timeRequestsSent, 3)
        XCTAssertGreaterThanOrEqual(b.metrics().timeRepliesSent, 3)
        await a.shutdown()
        await b.shutdown()
    }

    /// A member that sends answers nobody asked for, and requests faster than one per 50 ms: the answers
    /// are ignored (no sample), the extra requests unanswered, both counted, and the connection stays.
    func testUnsolicitedTimeAnswersAndRequestFloodsAreIgnored() async throws {
        let receiver = try await makeTransport(2, members: [1])
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let client = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: address(receiver).port)
            .get()
        var bytes = try WireCodec.encode(.hello(Hello(clusterID: Self.cluster, nodeID: 1)))
        bytes += try WireCodec.encode(
            .time(TimeExchange(kind: .reply, from: 1, to: 2, originUs: 123, receiveUs: 456, transmitUs: 789)))
        for i in 0..<3 {
            bytes += try WireCodec.encode(
                .time(TimeExchange(kind: .request, from: 1, to: 2, transmitUs: 1_000 + Int64(i))))
        }
        try await client.writeAndFlush(ByteBuffer(bytes: bytes))
        let deadline = Date().addingTimeInterval(5)
        while receiver.metrics().timeFramesIgnored < 3 && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let m = receiver.metrics()
        XCTAssertEqual(m.timeFramesIgnored, 3, "one unsolicited answer, two requests within 50 ms of the first")
        XCTAssertEqual(m.timeRepliesSent, 1)
        XCTAssertEqual(m.timeSamples, 0)
        XCTAssertEqual(m.decodeErrors + m.protocolErrors, 0, "well-formed frames do not cost the connection")
        XCTAssertTrue(client.isActive)
        try await client.close()
        try await group.shutdownGracefully()
        await receiver.shutdown()
    }

    func testPeerDownThenUpReceivesAfterReconnect() async throws {
        let first = try await makeTransport(2)
        let port = first.localAddress!.port!
        await first.shutdown()

        let sender = try await makeTransport(1, peers: [2: PeerAddress(host: "127.0.0.1", port: port)])
        sender.send([heartbeat(1, 2, 0)])
        try await Task.sleep(for: .milliseconds(400))
        XCTAssertGreaterThanOrEqual(sender.metrics().reconnects, 2, "connect attempts repeat while the peer is down")
        XCTAssertEqual(sender.metrics().messagesSent, 0)

        let second = try await makeTransport(2, port: port)
        // Sends continue while the peer is down and after it comes up; the queue delivers once connected.
        let pump = Task {
            for seq in UInt64(1)...200 {
                sender.send([Message(kind: .heartbeat, from: 1, to: 2, term: 1, context: seq)])
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let got = try await receive(second, count: 3, timeout: .seconds(5))
        pump.cancel()
        XCTAssertEqual(got.count, 3)
        XCTAssertEqual(got.first?.from, 1)
        XCTAssertGreaterThanOrEqual(sender.metrics().connects, 1)
        await sender.shutdown()
        await second.shutdown()
    }

    func testPeerThatNeverReadsDoesNotBlockOthersAndTheQueueBoundHolds() async throws {
        // A listener that accepts and never reads: its TCP window fills, then the sender's queue.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let stuck = try await ServerBootstrap(group: group)
            .childChannelOption(.autoRead, value: false)
            .bind(host: "127.0.0.1", port: 0).get()

        let receiver = try await makeTransport(3)
        let queueBytes = 256 * 1024
        let sender = try await makeTransport(
            1, peers: [9: PeerAddress(host: "127.0.0.1", port: stuck.localAddress!.port!), 3: address(receiver)]
        ) {
            $0.limits.maxFrameBytes = queueBytes
            $0.sendQueueMaxBytes = queueBytes
            $0.sendQueueMaxMessages = 64
            $0.writeBufferHighBytes = 64 * 1024
        }
        // Connect to the healthy peer first: while a connection is being set up its queue fills too, and a
        // busy machine could drop the first heartbeats before the flood even starts.
        sender.send([Message(kind: .heartbeat, from: 1, to: 3, term: 1, context: .max)])
        let warmup = try await receive(receiver, count: 1)
        XCTAssertEqual(warmup.first?.context, .max)

        let payload = [UInt8](repeating: 0xAB, count: 8 * 1024)
        let rounds = 1500 // 12 MB to the stuck peer: more than loopback socket buffers hold
        for seq in 0..<UInt64(rounds) {
            let big = Message(
                kind: .append, from: 1, to: 9, term: 1, index: seq,
                entries: [Entry(term: 1, index: seq + 1, data: payload)])
            sender.send([big, heartbeat(1, 3, seq)])
            if seq % 100 == 0 { try await Task.sleep(for: .milliseconds(5)) }
        }
        let got = try await receive(receiver, count: rounds, timeout: .seconds(15))
        XCTAssertEqual(
            got.map(\.context), (0..<UInt64(rounds)).map { $0 }, "the healthy peer gets everything, in order")

        try await Task.sleep(for: .milliseconds(200))
        let m = sender.metrics()
        let stuckPeer = try XCTUnwrap(m.peers[9])
        XCTAssertGreaterThan(stuckPeer.dropped, 0, "drops are counted")
        XCTAssertLessThanOrEqual(stuckPeer.queuedMessages, 64)
        XCTAssertLessThanOrEqual(stuckPeer.queuedBytes, queueBytes)
        XCTAssertEqual(stuckPeer.sent + stuckPeer.dropped + stuckPeer.queuedMessages, rounds)
        XCTAssertEqual(m.peers[3]?.dropped, 0)

        await sender.shutdown()
        await receiver.shutdown()
        try await stuck.close()
        try await group.shutdownGracefully()
    }

    func testGarbageClientIsDisconnectedAndTheTransportKeepsServing() async throws {
        let receiver = try await makeTransport(2)
        let sender = try await makeTransport(1, peers: [2: address(receiver)])

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        for garbage: [UInt8] in [
            Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), // a wrong version byte, or an oversized length
            [0, 0, 0, 6, 1, 1, 0, 2, 0x41, 0x41], // a hello with a truncated body
            [0xFF, 0xFF, 0xFF, 0xFF] // a huge declared length
        ] {
            let client = try await ClientBootstrap(group: group).connect(
                host: "127.0.0.1", port: address(receiver).port
            ).get()
            try await client.writeAndFlush(ByteBuffer(bytes: garbage))
            let closed = try await withThrowingTaskGroup(of: Bool.self) { g in
                g.addTask {
                    try await client.closeFuture.get()
                    return true
                }
                g.addTask {
                    try await Task.sleep(for: .seconds(5))
                    return false
                }
                let r = try await g.next()!
                g.cancelAll()
                return r
            }
            XCTAssertTrue(closed, "the listener closes a connection that sends \(garbage.prefix(8))")
        }
        try await group.shutdownGracefully()

        sender.send((0..<5).map { heartbeat(1, 2, $0) })
        let got = try await receive(receiver, count: 5)
        XCTAssertEqual(got.map(\.context), [0, 1, 2, 3, 4])
        XCTAssertEqual(receiver.metrics().decodeErrors, 3)
        await sender.shutdown()
        await receiver.shutdown()
    }

    /// Idle sockets, hello-only sockets from a non-member and hello-only sockets impersonating a member,
    /// hundreds of each and a flood going on meanwhile: members' messages still get through, and the
    /// open inbound connections stay within the pending pool plus each member's budget.
    func testIdleAndHelloOnlySocketsCannotKeepAMemberOut() async throws {
        // idle sockets stay pending
        let receiver = try await makeTransport(2, members: [1, 3]) { $0.helloTimeoutMs = 20_000 }
        let port = address(receiver).port
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        func open(_ hello: NodeID?) async throws -> Channel {
            let c = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()
            if let id = hello {
                // The listener may already have closed it (then the write fails; the socket still counted).
                try? await c.writeAndFlush(
                    ByteBuffer(bytes: try WireCodec.encode(.hello(Hello(clusterID: Self.cluster, nodeID: id)))))
            }
            return c
        }
        var clients: [Channel] = []
        for _ in 0..<300 { clients.append(try await open(nil)) } // idle
        for _ in 0..<100 { clients.append(try await open(77)) } // hello-only, not a member
        for _ in 0..<100 { clients.append(try await open(3)) } // hello-only, impersonating member 3
        try await Task.sleep(for: .milliseconds(300))
        var m = receiver.metrics()
        print(
            "after 500 hostile sockets: pending \(m.inboundPending), accepted \(m.inboundAccepted), evicted \(m.pendingEvicted), replaced \(m.memberConnectionsReplaced), protocol errors \(m.protocolErrors), log lines suppressed \(m.logLinesSuppressed)"
        )
        XCTAssertLessThanOrEqual(m.inboundPending, 32)
        XCTAssertLessThanOrEqual(m.inboundAccepted, 2)
        XCTAssertEqual(m.protocolErrors, 100, "every non-member hello is refused")
        XCTAssertGreaterThan(m.logLinesSuppressed, 300, "the warnings about them are rate-limited")

        // While a flood of idle connections goes on, member 1 and (the real) member 3 connect and send.
        let flood = Task { [group] in
            var n = 0
            while !Task.isCancelled, n < 5000 {
                guard (try? await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()) != nil
                else { break }
                n += 1
            }
            return n
        }
        try await Task.sleep(for: .milliseconds(300))
        let one = try await makeTransport(1, peers: [2: address(receiver)])
        let three = try await makeTransport(3, peers: [2: address(receiver)])
        one.send((0..<5).map { heartbeat(1, 2, $0) })
        three.send((0..<5).map { heartbeat(3, 2, $0) })
        let got = try await receive(receiver, count: 10, timeout: .seconds(10))
        flood.cancel()
        let flooded = await flood.value
        XCTAssertEqual(got.filter { $0.from == 1 }.map(\.context), [0, 1, 2, 3, 4], "member 1 gets through")
        XCTAssertEqual(
            got.filter { $0.from == 3 }.map(\.context), [0, 1, 2, 3, 4], "member 3 gets through its impersonators")
        m = receiver.metrics()
        print(
            "during a flood of \(flooded) connections: members delivered \(got.count) messages; pending \(m.inboundPending), accepted \(m.inboundAccepted), evicted \(m.pendingEvicted), replaced \(m.memberConnectionsReplaced)"
        )
        XCTAssertLessThanOrEqual(m.inboundPending, 32)
        XCTAssertLessThanOrEqual(m.inboundAccepted, 4)
        XCTAssertGreaterThanOrEqual(m.memberConnectionsReplaced, 98)

        for c in clients { c.close(promise: nil) }
        await one.shutdown()
        await three.shutdown()
        await receiver.shutdown()
        try await group.shutdownGracefully()
    }

    func testHelloFromAnotherCorridorIsRefused() async throws {
        let receiver = try await makeTransport(2)
        var config = TransportConfiguration(
            clusterID: "another-corridor", nodeID: 1, listenHost: "127.0.0.1", listenPort: 0,
            peers: [2: address(receiver)])
        config.reconnectDelayMinMs = 20
        let stranger = PeerTransport(configuration: config)
        try await stranger.start()
        stranger.send([heartbeat(1, 2, 0)])
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertGreaterThanOrEqual(receiver.metrics().protocolErrors, 1)
        XCTAssertEqual(receiver.metrics().messagesReceived, 0)
        await stranger.shutdown()
        await receiver.shutdown()
    }
}
