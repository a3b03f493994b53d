import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PKI
import RaftCore

/// Where a peer listens.
public struct PeerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}

/// How a `PeerTransport` behaves. Every queue has a bound here; `validate()` checks how they relate.
public struct TransportConfiguration: Sendable {
    /// The corridor's id; hellos from another corridor are refused.
    public var clusterID: String
    public var nodeID: NodeID
    public var listenHost: String
    /// 0 picks an ephemeral port (see `PeerTransport.localAddress`).
    public var listenPort: Int
    public var peers: [NodeID: PeerAddress]
    /// The node ids allowed to connect: the corridor's other controllers. A hello naming any other id
    /// closes the connection (`notMember`). Defaults to the keys of `peers`.
    public var members: Set<NodeID>
    public var limits = WireLimits()
    /// Most frames waiting for one peer.
    public var sendQueueMaxMessages = 1024
    /// Most bytes waiting for one peer. Invariant: `>= limits.maxFrameBytes`, so that any frame fits.
    public var sendQueueMaxBytes = 8 * 1024 * 1024
    public var dropPolicy = DropPolicy.dropOldest
    /// Most received messages buffered for the consumer of `messages`; beyond it the oldest are dropped.
    public var receiveBufferMessages = 4096
    /// Reconnect delays grow from `reconnectDelayMinMs` to `reconnectDelayMaxMs` (with jitter).
    public var reconnectDelayMinMs: Int64 = 50
    public var reconnectDelayMaxMs: Int64 = 2000
    public var connectTimeoutMs: Int64 = 1000
    /// An inbound connection that sends no hello within this time is closed. A peer sends its hello as
    /// soon as it is connected, so this is short: it bounds how long a silent socket holds a pending slot.
    public var helloTimeoutMs: Int64 = 1000
    /// With mutual TLS, the same bound for the handshake and the hello together (inbound), and for the
    /// handshake alone (outbound: a server that accepts and never answers is given up on). Longer than
    /// `helloTimeoutMs`: a handshake takes two round trips and some public-key work on both sides, and on a
    /// saturated machine (47 debug-build controllers on 2 cores) 1 s was regularly exceeded, closing members'
    /// connections and costing elections. A slow handshake still holds only a slot of the pending pool.
    public var tlsHandshakeTimeoutMs: Int64 = 5000
    /// Most inbound connections without an accepted hello yet (the pending pool). A new connection
    /// beyond it closes the *oldest* pending one, so that silent or slow sockets cannot keep a member
    /// (who sends its hello at once) from reaching the hello.
    public var maxPendingInbound = 32
    /// Most inbound connections with an accepted hello per member. A newer one from the same member
    /// beyond it closes that member's oldest (a reconnecting peer replaces its stale socket), so
    /// every member always has room, whatever others do. At most
    /// `maxPendingInbound + maxConnectionsPerMember × members.count` inbound connections are open.
    public var maxConnectionsPerMember = 2
    /// Log lines about refused connections and bad frames: at most one per remote host per reason per
    /// this many milliseconds; the next line says how many were held back.
    public var logRateLimitMs: Int64 = 10_000
    /// Bytes the socket layer may hold for one peer before the channel reports itself unwritable and frames
    /// wait in the (bounded) send queue instead.
    public var writeBufferHighBytes = 1024 * 1024
    /// Seeds the reconnect jitter; nil uses the system generator.
    public var jitterSeed: UInt64? = nil
    /// Mutual TLS on every peer connection: this node's certificate and key, and the corridor CA as the only
    /// trust root. nil: plaintext (no authentication; tests and setups without a PKI). See docs/protocol.md, "TLS".
    public var tls: PeerTLSMaterial? = nil
    /// The clock that stamps time frames (µs since the epoch): the controller's own clock, fault injection
    /// included (docs/corridor-time.md). Default: the system's real-time clock.
    public var clockUs: @Sendable () -> Int64 = { realTimeClockUs() }
    /// Time requests answered per peer at most once per this many ms (a peer sends one per 500 ms; more
    /// is a fault or a flood and costs nothing but the dropped request).
    public var timeReplyMinIntervalMs: Int64 = 50

    /// - Parameter members: the node ids allowed to connect; nil takes the keys of `peers`.
    public init(
        clusterID: String, nodeID: NodeID, listenHost: String, listenPort: Int, peers: [NodeID: PeerAddress],
        members: Set<NodeID>? = nil
    ) {
        self.clusterID = clusterID
        self.nodeID = nodeID
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.peers = peers
        self.members = members ?? Set(peers.keys)
    }

    public func validate() throws(WireLimitsError) {
        guard nodeID != noNode else { throw WireLimitsError("nodeID must not be 0") }
        let id = clusterID.utf8.count
        guard id > 0, id <= limits.maxClusterIDBytes else {
            throw WireLimitsError("clusterID must have 1...\(limits.maxClusterIDBytes) bytes")
        }
        guard sendQueueMaxMessages > 0, receiveBufferMessages > 0, maxPendingInbound > 0, maxConnectionsPerMember > 0,
            writeBufferHighBytes > 0
        else {
            throw WireLimitsError("queue bounds must be positive")
        }
        guard sendQueueMaxBytes >= limits.maxFrameBytes else {
            throw WireLimitsError(
                "sendQueueMaxBytes (\(sendQueueMaxBytes)) must be at least maxFrameBytes (\(limits.maxFrameBytes))")
        }
        guard reconnectDelayMinMs > 0, reconnectDelayMaxMs >= reconnectDelayMinMs, connectTimeoutMs > 0,
            helloTimeoutMs > 0, tlsHandshakeTimeoutMs > 0,
            logRateLimitMs >= 0
        else {
            throw WireLimitsError("delays must be positive and reconnectDelayMaxMs >= reconnectDelayMinMs")
        }
    }
}

/// Counters since start, and the current state of each peer's queue.
public struct TransportMetrics: Sendable, Equatable {
    /// Messages written to a peer's connection.
    public var messagesSent = 0
    /// Messages dropped before sending: queue full, no address for the peer, or shut down.
    public var messagesDropped = 0
    /// Messages the encoder refused (too large, too many entries); they would have cost the connection.
    public var messagesUnencodable = 0
    /// Messages handed to the `messages` stream.
    public var messagesReceived = 0
    /// Received messages dropped because the consumer of `messages` fell behind.
    public var messagesReceiveDropped = 0
    /// Inbound connections closed because of a bad frame (oversized, wrong version, malformed).
    public var decodeErrors = 0
    /// Inbound connections closed for a protocol violation (no hello, another corridor, wrong sender).
    public var protocolErrors = 0
    /// Mutual TLS: handshakes that failed, inbound or outbound (no certificate, one not issued by the corridor
    /// CA, an expired one, a plaintext peer, a reset mid-handshake).
    public var tlsHandshakeFailures = 0
    /// Mutual TLS: connections closed after the handshake because the certificate's identity did not fit:
    /// another corridor, a non-member, a hello naming another node than the certificate, or (outbound) a
    /// server that is not the intended peer.
    public var certificateRefusals = 0
    /// Connections closed, by reason key (`helloNotCertificate`, `tls.handshake`, `frame.checksumMismatch`, …;
    /// the keys of the log lines, a small fixed set).
    public var refusals: [String: Int] = [:]
    public var connectionsAccepted = 0
    /// Pending inbound connections (no hello yet) closed because newer ones needed the pool.
    public var pendingEvicted = 0
    /// Accepted inbound connections closed because a newer one from the same member exceeded its budget.
    public var memberConnectionsReplaced = 0
    /// Log lines about bad input held back by the rate limit.
    public var logLinesSuppressed = 0
    /// Inbound connections open now: without an accepted hello, and with one.
    public var inboundPending = 0
    public var inboundAccepted = 0
    /// Outbound connections established.
    public var connects = 0
    /// Reconnect attempts scheduled after a failed connect or a lost connection.
    public var reconnects = 0
    public var peers: [NodeID: PeerMetrics] = [:]
    /// Time exchanges (docs/corridor-time.md): requests sent, answers sent, complete samples delivered, and
    /// answers dropped (no matching request, or a request answered too soon after the last).
    public var timeRequestsSent = 0
    public var timeRepliesSent = 0
    public var timeSamples = 0
    public var timeFramesIgnored = 0

    public init() {}
}

/// One complete time exchange with `peer`, NTP's four timestamps (µs): t1 and t4 on this node's clock,
/// t2 and t3 on the peer's.
public struct TimeExchangeSample: Sendable, Equatable {
    public var peer: NodeID
    public var t1: Int64
    public var t2: Int64
    public var t3: Int64
    public var t4: Int64
}

/// The system's real-time clock in µs since the epoch.
public func realTimeClockUs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
}

public struct PeerMetrics: Sendable, Equatable {
    public var connected = false
    public var queuedMessages = 0
    public var queuedBytes = 0
    public var sent = 0
    public var dropped = 0
    /// When (monotonic ns) a frame was last written to this peer's connection, and a message from it last
    /// handed to `messages`: evidence for a log line that explains an election (was the leader's heartbeat
    /// written, did the answers reach this process at all).
    public var lastWrittenNs: UInt64?
    public var lastReceivedNs: UInt64?

    public init() {}
}

/// Sends Raft messages to peers and receives theirs, over TCP.
///
/// All sockets and state live on one event loop, so no state is shared between threads except the
/// metrics (behind a lock) and the `messages` stream. `send` encodes on the caller's thread and hands the
/// frames to the loop: it never blocks and never waits for a peer.
public final class PeerTransport: @unchecked Sendable {
    /// Messages received from peers, in order per peer. Finishes on `shutdown()`. Empty once a receiver
    /// is set (`deliverDirectly(to:)`).
    public let messages: AsyncStream<Message>
    private let continuation: AsyncStream<Message>.Continuation
    /// Completed time exchanges (answers to `sendTimeRequests`). Finishes on `shutdown()`.
    public let timeSamples: AsyncStream<TimeExchangeSample>
    private let timeContinuation: AsyncStream<TimeExchangeSample>.Continuation
    private let configuration: TransportConfiguration
    private let logger: Logger
    private let group: EventLoopGroup
    private let ownsGroup: Bool
    private let loop: EventLoop
    /// Mutual TLS contexts (server side for inbound, client side for outbound), or why they could not be made.
    private let tlsContexts: Result<TLSContexts, Error>?

    private struct TLSContexts {
        var server: NIOSSLContext
        var client: NIOSSLContext

        init(_ material: PeerTLSMaterial) throws {
            let ca = try NIOSSLCertificate.fromPEMBytes(Array(material.caCertificatePEM.utf8))
            let chain = try NIOSSLCertificate.fromPEMBytes(Array(material.certificatePEM.utf8)).map {
                NIOSSLCertificateSource.certificate($0)
            }
            let key = try NIOSSLPrivateKey(bytes: Array(material.privateKeyPEM.utf8), format: .pem)
            // Inbound: the client must present a certificate chaining to the corridor CA (and to nothing else:
            // `trustRoots` replaces the system roots). Its identity is checked after the handshake.
            var server = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            server.minimumTLSVersion = .tlsv13
            server.trustRoots = .certificates(ca)
            server.certificateVerification = .noHostnameVerification
            // Outbound: the server's certificate must chain to the corridor CA and name the address dialled
            // (SAN IP or DNS); that it names the intended signal is checked after the handshake.
            var client = TLSConfiguration.makeClientConfiguration()
            client.minimumTLSVersion = .tlsv13
            client.trustRoots = .certificates(ca)
            client.certificateChain = chain
            client.privateKey = .privateKey(key)
            client.certificateVerification = .fullVerification
            self.server = try NIOSSLContext(configuration: server)
            self.client = try NIOSSLContext(configuration: client)
        }
    }

    // Confined to `loop`.
    private var peers: [NodeID: Peer] = [:]
    private var addresses: [NodeID: PeerAddress]
    private var serverChannel: Channel?
    /// Every open inbound connection.
    private var inboundChannels: [ObjectIdentifier: Channel] = [:]
    /// Inbound connections without an accepted hello, oldest first; at most `maxPendingInbound`.
    private var pendingInbound: [ObjectIdentifier] = []
    /// Inbound connections with an accepted hello, per member, oldest first; at most `maxConnectionsPerMember` each.
    private var memberInbound: [NodeID: [ObjectIdentifier]] = [:]
    private var inboundPeer: [ObjectIdentifier: NodeID] = [:]
    private var members: Set<NodeID>
    private var logLimiter: LogLimiter
    private var isShutdown = false
    private var rng: any RandomNumberGenerator
    /// The transmit time of the last time request sent to each peer, until its answer arrives.
    private var timeOutstanding: [NodeID: Int64] = [:]
    /// When (monotonic ns) each peer's last time request was answered.
    private var timeAnsweredNs: [NodeID: UInt64] = [:]
    /// The event-loop punctuality probe and when it last ran (monotonic ns).
    private var loopProbe: RepeatedTask?
    private var loopProbeLastNs: UInt64 = 0

    // Behind `lock`.
    private let lock = NSLock()
    private var counters = TransportMetrics()
    /// Set by `deliverDirectly(to:)`: received messages go to it on the event loop instead of `messages`.
    private var receiver: (@Sendable (Message) -> Bool)?
    /// How late the event loop ran a probe scheduled every `loopProbeMs` (the longest in the last 2–4 s):
    /// a loop busy with something else, or a thread not scheduled, delays every socket read and write.
    private var loopLate = WindowedPeak()
    /// Set once `shutdown()` stops the event loops: work handed over after that is dropped, not scheduled
    /// on a loop that has shut down.
    private var loopStopped = false
    private static let loopProbeMs: Int64 = 250
    private static let evidenceWindowNs: UInt64 = 2_000_000_000
    private var boundAddress: SocketAddress?

    /// One outbound connection and its queue. Confined to `loop`.
    private final class Peer {
        enum State {
            case idle
            case connecting
            /// Mutual TLS: connected, the handshake and the server's identity not yet checked; nothing is sent.
            case handshaking(Channel)
            case connected(Channel, since: NIODeadline)
            case waiting(Scheduled<Void>)
        }

        var address: PeerAddress?
        var state = State.idle
        var queue: SendQueue
        var backoff: Backoff

        init(address: PeerAddress?, queue: SendQueue, backoff: Backoff) {
            self.address = address
            self.queue = queue
            self.backoff = backoff
        }
    }

    /// - Parameters:
    ///   - configuration: addresses, limits and delays; checked by `start()`.
    ///   - group: the event loops to use; nil creates (and on shutdown stops) a one-thread group.
    ///   - logger: log lines carry `peer.id` and `error` metadata.
    public init(
        configuration: TransportConfiguration, group: EventLoopGroup? = nil,
        logger: Logger = Logger(label: "greenwave.transport")
    ) {
        self.configuration = configuration
        self.addresses = configuration.peers
        self.members = configuration.members
        self.logLimiter = LogLimiter(windowNs: UInt64(max(0, configuration.logRateLimitMs)) * 1_000_000)
        self.ownsGroup = group == nil
        self.group = group ?? MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.loop = self.group.next()
        var logger = logger
        logger[metadataKey: "node.id"] = "\(configuration.nodeID)"
        self.logger = logger
        self.rng = configuration.jitterSeed.map { SplitMix64(seed: $0) } ?? SystemRandomNumberGenerator()
        self.tlsContexts = configuration.tls.map { material in Result { try TLSContexts(material) } }
        (messages, continuation) = AsyncStream.makeStream(
            of: Message.self, bufferingPolicy: .bufferingNewest(configuration.receiveBufferMessages))
        (timeSamples, timeContinuation) = AsyncStream.makeStream(
            of: TimeExchangeSample.self, bufferingPolicy: .bufferingNewest(1024))
    }

    /// From now on every received message is handed to `receiver` on the transport's event loop, instead of
    /// being yielded to `messages` (one task wake-up less per message: the controller's driver takes its
    /// messages from an inbox, `PeerInbox`, which the receiver fills). `receiver` must not block; it returns
    /// false when it dropped an older message to make room (counted as a receive drop). Call before `start()`.
    public func deliverDirectly(to receiver: @escaping @Sendable (Message) -> Bool) {
        lock.withLock { self.receiver = receiver }
    }

    /// The address the listener is bound to, once `start()` returned.
    public var localAddress: SocketAddress? { lock.withLock { boundAddress } }

    /// Validates the configuration and starts listening. Outbound connections open lazily on first send.
    public func start() async throws {
        try configuration.validate()
        if case .failure(let error) = tlsContexts { throw error }
        let config = configuration
        let channel = try await ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try self.acceptInbound(channel, config)
                }
            }
            .bind(host: config.listenHost, port: config.listenPort).get()
        try await loop.submit {
            self.serverChannel = channel
            self.loopProbeLastNs = NIODeadline.now().uptimeNanoseconds
            let period = Self.loopProbeMs
            self.loopProbe = self.loop.scheduleRepeatedTask(
                initialDelay: .milliseconds(period), delay: .milliseconds(period)
            ) { _ in
                self.probeLoop()
            }
        }.get()
        lock.withLock { boundAddress = channel.localAddress }
        logger.info(
            "transport listening",
            metadata: [
                "address": "\(channel.localAddress.map { "\($0)" } ?? "?")",
                "tls": "\(config.tls.map { "mutual TLS 1.3 as \($0.identity)" } ?? "off (plaintext, unauthenticated)")"
            ])
    }

    /// Queues `messages` for their peers (`to`). Never blocks: a message for a slow or unknown peer, or one
    /// that does not fit a frame, is dropped and counted.
    public func send(_ messages: [Message]) {
        var frames: [(NodeID, [UInt8])] = []
        frames.reserveCapacity(messages.count)
        var unencodable = 0
        for m in messages {
            do {
                frames.append((m.to, try WireCodec.encode(.message(m), limits: configuration.limits)))
            } catch {
                unencodable += 1
                logger.warning("message not sent", metadata: ["peer.id": "\(m.to)", "error": "\(error)"])
            }
        }
        if unencodable > 0 { lock.withLock { counters.messagesUnencodable += unencodable } }
        guard !frames.isEmpty else { return }
        let batch = frames
        onLoop { for (to, frame) in batch { self.enqueue(frame, to: to) } }
    }

    /// Sends a time request to each of `peers` (stamped on the event loop as it is queued); their answers
    /// arrive on `timeSamples`. A request still unanswered is replaced.
    public func sendTimeRequests(to peers: [NodeID]) {
        onLoop {
            for id in peers where id != self.configuration.nodeID && id != noNode {
                let t1 = self.configuration.clockUs()
                guard
                    let frame = try? WireCodec.encode(
                        .time(TimeExchange(kind: .request, from: self.configuration.nodeID, to: id, transmitUs: t1)),
                        limits: self.configuration.limits)
                else { continue }
                self.timeOutstanding[id] = t1
                self.lock.withLock { self.counters.timeRequestsSent += 1 }
                self.enqueue(frame, to: id)
            }
        }
    }

    /// A time frame arrived from its peer (on `loop`): a request is answered, an answer to the outstanding
    /// request becomes a sample.
    private func received(_ t: TimeExchange) {
        let now = configuration.clockUs()
        switch t.kind {
        case .request:
            let mono = NIODeadline.now().uptimeNanoseconds
            if let last = timeAnsweredNs[t.from],
                mono &- last < UInt64(max(0, configuration.timeReplyMinIntervalMs)) * 1_000_000
            {
                lock.withLock { counters.timeFramesIgnored += 1 }
                return
            }
            timeAnsweredNs[t.from] = mono
            let reply = TimeExchange(
                kind: .reply, from: configuration.nodeID, to: t.from, originUs: t.transmitUs, receiveUs: now,
                transmitUs: max(now, configuration.clockUs()))
            guard let frame = try? WireCodec.encode(.time(reply), limits: configuration.limits) else { return }
            lock.withLock { counters.timeRepliesSent += 1 }
            enqueue(frame, to: t.from)
        case .reply:
            guard let t1 = timeOutstanding[t.from], t1 == t.originUs else {
                lock.withLock { counters.timeFramesIgnored += 1 }
                return
            }
            timeOutstanding[t.from] = nil
            lock.withLock { counters.timeSamples += 1 }
            timeContinuation.yield(TimeExchangeSample(peer: t.from, t1: t1, t2: t.receiveUs, t3: t.transmitUs, t4: now))
        }
    }

    /// Replaces the peer addresses and the members allowed to connect (nil: the keys of `addresses`).
    /// A changed address takes effect at the next connect; inbound connections of a node that is no
    /// longer a member are closed.
    public func updatePeers(_ addresses: [NodeID: PeerAddress], members: Set<NodeID>? = nil) {
        let members = members ?? Set(addresses.keys)
        onLoop {
            self.members = members
            for (id, keys) in self.memberInbound where !members.contains(id) {
                for key in keys { self.inboundChannels[key]?.close(promise: nil) }
            }
            for (id, peer) in self.peers {
                let new = addresses[id]
                if peer.address != new {
                    switch peer.state {
                    case .connected(let channel, _), .handshaking(let channel): channel.close(promise: nil)
                    case .idle, .connecting, .waiting: break
                    }
                }
                peer.address = new
            }
        }
        onLoop { self.addresses = addresses }
    }

    public func metrics() -> TransportMetrics { lock.withLock { counters } }

    /// Runs `body` on the event loop, unless `shutdown()` has stopped it (a driver still sending while the
    /// controller stops): then it is dropped, as a queued message is at shutdown.
    private func onLoop(_ body: @escaping @Sendable () -> Void) {
        lock.withLock {
            guard !loopStopped else { return }
            loop.execute(body)
        }
    }

    /// One probe of the event loop's punctuality (on `loop`): how much later than its period it ran.
    private func probeLoop() {
        let now = NIODeadline.now().uptimeNanoseconds
        let due = loopProbeLastNs &+ UInt64(Self.loopProbeMs) * 1_000_000
        loopProbeLastNs = now
        let late = now > due ? now - due : 0
        lock.withLock { loopLate.note(late, now: now, windowNs: Self.evidenceWindowNs) }
    }

    /// What the transport saw of `peers`, for a log line that explains an election: for each, how long ago
    /// (ms) a message from it reached this process and a frame to it was written to its connection, and how
    /// late the event loop ran in the last 2–4 s. `now` is monotonic ns (`NIODeadline.now().uptimeNanoseconds`).
    public func evidence(for peers: [NodeID]) -> String {
        evidence(for: peers, now: NIODeadline.now().uptimeNanoseconds)
    }

    public func evidence(for peers: [NodeID], now: UInt64) -> String {
        let (perPeer, late) = lock.withLock {
            (counters.peers, loopLate.value(now: now, windowNs: Self.evidenceWindowNs))
        }
        let ago = { (t: UInt64?) in t.map { "\(now > $0 ? (now - $0) / 1_000_000 : 0) ms" } ?? "never" }
        let each = peers.map { id in
            let p = perPeer[id]
            return
                "\(id): received \(ago(p?.lastReceivedNs)), written \(ago(p?.lastWrittenNs))\(p?.connected == true ? "" : " (not connected)")"
        }
        return "transport [\(each.joined(separator: "; "))], event loop late up to \(late / 1_000_000) ms"
    }

    /// Closes the listener and every connection, finishes `messages`, and stops the group if it owns it.
    /// Queued messages are dropped (Raft retransmits after a restart).
    public func shutdown() async {
        let closed: EventLoopFuture<Void> = loop.flatSubmit {
            self.isShutdown = true
            self.loopProbe?.cancel()
            self.loopProbe = nil
            var futures: [EventLoopFuture<Void>] = []
            if let server = self.serverChannel { futures.append(server.close().recover { _ in }) }
            for channel in self.inboundChannels.values { futures.append(channel.close().recover { _ in }) }
            for (id, peer) in self.peers {
                switch peer.state {
                case .connected(let channel, _), .handshaking(let channel):
                    futures.append(channel.close().recover { _ in })
                case .waiting(let timer): timer.cancel()
                case .idle, .connecting: break
                }
                peer.state = .idle
                let dropped = peer.queue.removeAll()
                self.count(peer: id) {
                    $0.dropped += dropped
                    $0.connected = false
                }
                self.lock.withLock { self.counters.messagesDropped += dropped }
                self.updateQueueGauge(id, peer)
            }
            return EventLoopFuture.andAllComplete(futures, on: self.loop)
        }
        try? await closed.get()
        continuation.finish()
        timeContinuation.finish()
        lock.withLock { loopStopped = true }
        if ownsGroup { try? await group.shutdownGracefully() }
        logger.info("transport stopped")
    }

    // MARK: Inbound (on `loop`)

    private func acceptInbound(_ channel: Channel, _ config: TransportConfiguration) throws {
        loop.preconditionInEventLoop()
        guard !isShutdown else { throw ChannelError.ioOnClosedChannel }
        let key = ObjectIdentifier(channel)
        let source = channel.remoteAddress?.ipAddress ?? "unknown"
        // The pending pool is full: the oldest pending connection makes room. A member sends its hello
        // as soon as it is connected, so only a flood faster than one hello can keep it out.
        while pendingInbound.count >= config.maxPendingInbound {
            let oldest = pendingInbound.removeFirst()
            guard let victim = inboundChannels[oldest] else { continue }
            lock.withLock { counters.pendingEvicted += 1 }
            logRefusal(
                "closing inbound connection", source: victim.remoteAddress?.ipAddress ?? "unknown",
                key: "pendingPoolFull",
                metadata: [
                    "remote.address": "\(victim.remoteAddress.map { "\($0)" } ?? "unknown")",
                    "error": "no hello yet and \(config.maxPendingInbound) newer connections are waiting for theirs"
                ])
            victim.close(promise: nil)
        }
        inboundChannels[key] = channel
        pendingInbound.append(key)
        channel.closeFuture.whenComplete { _ in self.inboundClosed(key) }
        lock.withLock { counters.connectionsAccepted += 1 }
        updateInboundGauges()
        let remote = "\(channel.remoteAddress.map { "\($0)" } ?? "unknown")"
        var events = InboundEvents(
            deliver: { message in
                // Count before yielding, so that a consumer who has the message also sees it counted.
                let now = NIODeadline.now().uptimeNanoseconds
                let receiver = self.lock.withLock {
                    self.counters.messagesReceived += 1
                    self.counters.peers[message.from, default: PeerMetrics()].lastReceivedNs = now
                    return self.receiver
                }
                if let receiver {
                    if !receiver(message) { self.lock.withLock { self.counters.messagesReceiveDropped += 1 } }
                    return
                }
                switch self.continuation.yield(message) {
                case .enqueued: break
                case .dropped: self.lock.withLock { self.counters.messagesReceiveDropped += 1 }
                case .terminated: self.lock.withLock { self.counters.messagesReceived -= 1 }
                @unknown default: break
                }
            },
            rejected: { rejection in
                self.lock.withLock {
                    self.counters.refusals[rejection.key, default: 0] += 1
                    switch rejection.tls {
                    case .handshake: self.counters.tlsHandshakeFailures += 1
                    case .identity: self.counters.certificateRefusals += 1
                    case nil:
                        if rejection.isFrameError {
                            self.counters.decodeErrors += 1
                        } else {
                            self.counters.protocolErrors += 1
                        }
                    }
                }
                self.logRefusal(
                    "closing inbound connection", source: source, key: rejection.key,
                    metadata: [
                        "peer.id": "\(rejection.peer.map { "\($0)" } ?? "unknown")", "remote.address": "\(remote)",
                        "error": "\(rejection.reason)"
                    ])
            },
            accepted: { peer in self.inboundAccepted(key, peer: peer, config) }
        )
        events.time = { t in self.received(t) }
        let tls = try tlsContexts?.get()
        if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.server)) }
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(limits: config.limits)))
        try channel.pipeline.syncOperations.addHandler(
            InboundHandler(
                clusterID: config.clusterID, localID: config.nodeID, members: members,
                helloTimeout: .milliseconds(tls == nil ? config.helloTimeoutMs : config.tlsHandshakeTimeoutMs),
                tls: tls != nil, events: events, logger: logger
            ))
    }

    /// A member's hello was accepted on `key`: it leaves the pending pool for the member's own budget,
    /// closing the member's oldest connection when the budget is exceeded.
    private func inboundAccepted(_ key: ObjectIdentifier, peer: NodeID, _ config: TransportConfiguration) {
        guard inboundChannels[key] != nil else { return }
        pendingInbound.removeAll { $0 == key }
        inboundPeer[key] = peer
        var list = memberInbound[peer, default: []]
        list.append(key)
        while list.count > config.maxConnectionsPerMember {
            let oldest = list.removeFirst()
            inboundPeer[oldest] = nil
            lock.withLock { counters.memberConnectionsReplaced += 1 }
            logger.debug("closing an older inbound connection of the peer", metadata: ["peer.id": "\(peer)"])
            inboundChannels[oldest]?.close(promise: nil)
        }
        memberInbound[peer] = list
        updateInboundGauges()
    }

    private func inboundClosed(_ key: ObjectIdentifier) {
        inboundChannels[key] = nil
        pendingInbound.removeAll { $0 == key }
        if let peer = inboundPeer.removeValue(forKey: key) {
            memberInbound[peer]?.removeAll { $0 == key }
            if memberInbound[peer]?.isEmpty == true { memberInbound[peer] = nil }
        }
        updateInboundGauges()
    }

    private func updateInboundGauges() {
        let pending = pendingInbound.count
        let accepted = memberInbound.values.reduce(0) { $0 + $1.count }
        lock.withLock {
            counters.inboundPending = pending
            counters.inboundAccepted = accepted
        }
    }

    /// A warning about refused input, at most one per `source` and `key` per `logRateLimitMs`; the next
    /// line that passes carries `suppressed`, the count of lines held back before it.
    private func logRefusal(_ message: Logger.Message, source: String, key: String, metadata: Logger.Metadata) {
        let now = NIODeadline.now().uptimeNanoseconds
        var evictedLines: [(LogLimiter.Key, Int)] = []
        let decision = logLimiter.admit(source: source, reason: key, nowNs: now) { evictedLines.append(($0, $1)) }
        for (k, n) in evictedLines {
            logger.warning(
                "log lines suppressed",
                metadata: ["remote.host": "\(k.source)", "reason": "\(k.reason)", "suppressed": "\(n)"])
        }
        switch decision {
        case .suppress:
            lock.withLock { counters.logLinesSuppressed += 1 }
        case .log(let suppressed):
            var metadata = metadata
            metadata["reason"] = "\(key)"
            if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
            logger.warning(message, metadata: metadata)
        }
    }

    // MARK: Outbound (on `loop`)

    private func enqueue(_ frame: [UInt8], to id: NodeID) {
        loop.preconditionInEventLoop()
        guard !isShutdown else {
            lock.withLock { counters.messagesDropped += 1 }
            return
        }
        let peer =
            peers[id]
            ?? {
                let p = Peer(
                    address: addresses[id],
                    queue: SendQueue(
                        maxMessages: configuration.sendQueueMaxMessages, maxBytes: configuration.sendQueueMaxBytes,
                        policy: configuration.dropPolicy),
                    backoff: Backoff(minMs: configuration.reconnectDelayMinMs, maxMs: configuration.reconnectDelayMaxMs)
                )
                peers[id] = p
                return p
            }()
        if peer.address == nil { peer.address = addresses[id] }
        guard peer.address != nil else {
            count(peer: id) { $0.dropped += 1 }
            lock.withLock { counters.messagesDropped += 1 }
            logger.debug("message dropped", metadata: ["peer.id": "\(id)", "error": "no address for peer"])
            return
        }
        let dropped = peer.queue.enqueue(frame)
        if dropped > 0 {
            count(peer: id) { $0.dropped += dropped }
            lock.withLock { counters.messagesDropped += dropped }
        }
        switch peer.state {
        case .idle: connect(id)
        case .connected: flush(id)
        case .connecting, .handshaking, .waiting: break
        }
        updateQueueGauge(id, peer)
    }

    private func connect(_ id: NodeID) {
        guard !isShutdown, let peer = peers[id], let address = peer.address else { return }
        peer.state = .connecting
        let highWater = configuration.writeBufferHighBytes
        let tls: TLSContexts?
        do { tls = try tlsContexts?.get() } catch {
            // start() refuses such a configuration; never fall back to plaintext.
            scheduleReconnect(id)
            return
        }
        ClientBootstrap(group: loop)
            .connectTimeout(.milliseconds(configuration.connectTimeoutMs))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: highWater / 2, high: highWater))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let tls else {
                        try channel.pipeline.syncOperations.addHandler(OutboundHandler { self.flush(id) })
                        return
                    }
                    // SNI takes a host name only; an IP address is checked against the certificate's SAN IPs.
                    let hostname = ipAddressBytes(address.host) == nil ? address.host : nil
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: tls.client, serverHostname: hostname))
                    let key = ObjectIdentifier(channel)
                    try channel.pipeline.syncOperations.addHandler(
                        OutboundHandler(
                            writable: { self.flush(id) },
                            handshake: { self.outboundHandshakeCompleted(id, key, $0) },
                            failed: { self.outboundFailed(id, key, $0) }))
                }
            }
            .connect(host: address.host, port: address.port)
            .whenComplete { result in self.connectCompleted(id, result) }
    }

    private func connectCompleted(_ id: NodeID, _ result: Result<Channel, Error>) {
        guard let peer = peers[id], case .connecting = peer.state, !isShutdown else {
            if case .success(let channel) = result { channel.close(promise: nil) }
            return
        }
        switch result {
        case .success(let channel):
            if tlsContexts != nil {
                // Nothing is written until the handshake completed and the server proved to be the peer.
                peer.state = .handshaking(channel)
                channel.closeFuture.whenComplete { _ in self.connectionClosed(id, channel) }
                let timeout = configuration.tlsHandshakeTimeoutMs
                loop.scheduleTask(in: .milliseconds(timeout)) {
                    guard case .handshaking(let current) = peer.state, current === channel else { return }
                    self.lock.withLock {
                        self.counters.tlsHandshakeFailures += 1
                        self.counters.refusals["tls.handshakeTimeout", default: 0] += 1
                    }
                    self.logRefusal(
                        "TLS handshake with peer failed", source: "\(peer.address.map { "\($0)" } ?? "peer \(id)")",
                        key: "tls.handshakeTimeout",
                        metadata: ["peer.id": "\(id)", "error": "no handshake within \(timeout) ms"])
                    channel.close(promise: nil)
                }
            } else {
                opened(id, peer, channel)
            }
        case .failure(let error):
            if let e = error as? NIOConnectionError, e.connectionErrors.isEmpty,
                e.dnsAError != nil || e.dnsAAAAError != nil
            {
                // A peer named by a DNS name that does not resolve (now): say so plainly, rate-limited, and
                // keep retrying: the name is resolved again at every attempt.
                logRefusal(
                    "cannot resolve peer host name", source: e.host, key: "dns.unresolvable",
                    metadata: [
                        "peer.id": "\(id)", "peer.address": "\(e.host):\(e.port)",
                        "error": "\(e.dnsAError.map { "\($0)" } ?? "\(e.dnsAAAAError.map { "\($0)" } ?? "")")"
                    ])
            } else {
                logger.debug("connect to peer failed", metadata: ["peer.id": "\(id)", "error": "\(error)"])
            }
            scheduleReconnect(id)
        }
    }

    /// The connection to `id` is ready for frames: the hello, then the queue.
    private func opened(_ id: NodeID, _ peer: Peer, _ channel: Channel) {
        peer.state = .connected(channel, since: .now())
        lock.withLock { counters.connects += 1 }
        count(peer: id) { $0.connected = true }
        logger.debug("connected to peer", metadata: ["peer.id": "\(id)"])
        if tlsContexts == nil { channel.closeFuture.whenComplete { _ in self.connectionClosed(id, channel) } }
        // The hello always fits: the configuration was validated against the limits.
        let hello = try! WireCodec.encode(
            .hello(Hello(clusterID: configuration.clusterID, nodeID: configuration.nodeID)),
            limits: configuration.limits)
        channel.write(channel.allocator.buffer(bytes: hello), promise: nil)
        flush(id)
    }

    /// Mutual TLS: the handshake with `id` completed (its certificate chains to the corridor CA and names the
    /// address dialled). It must also name this corridor and signal `id`, or it is some other member.
    private func outboundHandshakeCompleted(
        _ id: NodeID, _ key: ObjectIdentifier, _ identity: Result<PeerIdentity, PKIError>
    ) {
        guard let peer = peers[id], case .handshaking(let channel) = peer.state, ObjectIdentifier(channel) == key else {
            return
        }
        let expected = PeerIdentity(corridor: configuration.clusterID, signal: id)
        let problem: String? =
            switch identity {
            case .failure(let error): "\(error)"
            case .success(let got) where got != expected: "the server's certificate names \(got), not \(expected)"
            case .success: nil
            }
        guard let problem else { return opened(id, peer, channel) }
        lock.withLock {
            counters.certificateRefusals += 1
            counters.refusals["tls.wrongPeer", default: 0] += 1
        }
        logRefusal(
            "closing outbound connection", source: "\(peer.address.map { "\($0)" } ?? "peer \(id)")",
            key: "tls.wrongPeer",
            metadata: [
                "peer.id": "\(id)", "error": "\(problem)"
            ])
        channel.close(promise: nil)
    }

    /// An error on the outbound connection to `id`; before the handshake completed, a refused handshake.
    private func outboundFailed(_ id: NodeID, _ key: ObjectIdentifier, _ error: Error) {
        guard let peer = peers[id], case .handshaking(let channel) = peer.state, ObjectIdentifier(channel) == key else {
            return
        }
        lock.withLock {
            counters.tlsHandshakeFailures += 1
            counters.refusals["tls.handshake", default: 0] += 1
        }
        logRefusal(
            "TLS handshake with peer failed", source: "\(peer.address.map { "\($0)" } ?? "peer \(id)")",
            key: "tls.handshake",
            metadata: [
                "peer.id": "\(id)", "error": "\(error)"
            ])
    }

    private func connectionClosed(_ id: NodeID, _ channel: Channel) {
        guard let peer = peers[id] else { return }
        if case .handshaking(let current) = peer.state, current === channel {
            // The handshake failed or the server was not the peer: retry with backoff (never reset here).
            if !isShutdown { scheduleReconnect(id) }
            return
        }
        guard case .connected(let current, let since) = peer.state, current === channel else { return }
        count(peer: id) { $0.connected = false }
        if isShutdown { return }
        // Only a connection that stayed up resets the backoff, so that a peer that accepts and at once
        // closes (another corridor, a restart loop) is not hammered every `reconnectDelayMinMs`.
        if NIODeadline.now() - since >= .milliseconds(configuration.reconnectDelayMaxMs) { peer.backoff.reset() }
        logger.info("connection to peer lost", metadata: ["peer.id": "\(id)"])
        scheduleReconnect(id)
    }

    private func scheduleReconnect(_ id: NodeID) {
        guard let peer = peers[id], !isShutdown else { return }
        let delayMs = peer.backoff.nextDelayMs(using: &rng)
        lock.withLock { counters.reconnects += 1 }
        peer.state = .waiting(loop.scheduleTask(in: .milliseconds(delayMs)) { self.connect(id) })
    }

    /// Moves queued frames into the connection while the socket layer accepts more.
    private func flush(_ id: NodeID) {
        guard let peer = peers[id], case .connected(let channel, _) = peer.state else { return }
        var sent = 0
        while channel.isWritable, let frame = peer.queue.dequeue() {
            channel.write(channel.allocator.buffer(bytes: frame), promise: nil)
            sent += 1
        }
        guard sent > 0 else { return }
        // Count before flushing, so that a reader who saw the message arrive also sees it counted.
        let now = NIODeadline.now().uptimeNanoseconds
        count(peer: id) {
            $0.sent += sent
            $0.lastWrittenNs = now
        }
        lock.withLock { counters.messagesSent += sent }
        updateQueueGauge(id, peer)
        channel.flush()
    }

    private func updateQueueGauge(_ id: NodeID, _ peer: Peer) {
        let (n, bytes) = (peer.queue.count, peer.queue.bytes)
        count(peer: id) {
            $0.queuedMessages = n
            $0.queuedBytes = bytes
        }
    }

    private func count(peer id: NodeID, _ update: (inout PeerMetrics) -> Void) {
        lock.withLock { update(&counters.peers[id, default: PeerMetrics()]) }
    }
}
