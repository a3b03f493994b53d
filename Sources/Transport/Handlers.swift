import Logging
import NIOCore
import NIOSSL
import NIOTLS
import PKI
import RaftCore
import X509

/// Splits the byte stream into frames. The declared length is checked before the frame's bytes are
/// buffered, so a huge declared length closes the connection at once instead of costing memory.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame
    let limits: WireLimits

    public init(limits: WireLimits = WireLimits()) { self.limits = limits }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        let n = try WireCodec.checkDeclaredLength(length, limits: limits)
        guard buffer.readableBytes >= WireCodec.lengthFieldBytes + n else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: WireCodec.lengthFieldBytes)
        let payload = buffer.readBytes(length: n)!
        context.fireChannelRead(wrapInboundOut(try WireCodec.decodePayload(payload[...], limits: limits)))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // A partial frame at end of stream is dropped with the connection; it is not an error worth a log.
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}

/// Why an inbound connection was closed, for the owner's (rate-limited) log line and counters.
struct InboundRejection: Equatable {
    /// The peer named by the accepted hello, nil before it.
    var peer: NodeID?
    /// A sentence naming the values involved.
    var reason: String
    /// A stable key for the kind of problem (`notMember`, `helloTimeout`, `frame.checksumMismatch`, …).
    var key: String
    /// A bad frame (counted in `decodeErrors`) rather than a protocol violation (`protocolErrors`).
    var isFrameError: Bool
    /// A failed TLS handshake (`tlsHandshakeFailures`) or a certificate whose identity does not fit
    /// (`certificateRefusals`).
    var tls: TLSRefusal? = nil

    enum TLSRefusal: Equatable { case handshake, identity }
}

/// The identity in the certificate the peer presented on `context`'s channel (after the handshake).
func peerIdentity(_ context: ChannelHandlerContext) -> Result<PeerIdentity, PKIError> {
    let der: [UInt8]
    do {
        guard let cert = try context.pipeline.syncOperations.nioSSL_peerCertificate() else {
            return .failure(.identity("the peer presented no certificate"))
        }
        der = try cert.toDERBytes()
    } catch {
        return .failure(.identity("cannot read the peer certificate: \(error)"))
    }
    let certificate: Certificate
    do { certificate = try Certificate(derEncoded: der) } catch {
        return .failure(.identity("the peer certificate does not parse: \(error)"))
    }
    do { return .success(try PeerIdentity(certificate: certificate)) } catch { return .failure(error) }
}

/// What an inbound connection reports to its owner. Called on the channel's event loop.
struct InboundEvents {
    var deliver: (Message) -> Void
    /// A time frame from the connection's peer (stamp its arrival at once).
    var time: (TimeExchange) -> Void = { _ in }
    /// A bad frame or protocol violation closed the connection. The handler does not log it: the owner
    /// rate-limits those lines across connections.
    var rejected: (InboundRejection) -> Void
    /// A hello from a member was accepted on this connection.
    var accepted: (_ peer: NodeID) -> Void = { _ in }
}

/// The thin shell around `InboundStateMachine`: it performs the returned actions.
final class InboundHandler: ChannelInboundHandler {
    typealias InboundIn = Frame

    private var machine: InboundStateMachine
    private let events: InboundEvents
    private var logger: Logger
    private let helloTimeout: TimeAmount
    private var helloTimer: Scheduled<Void>?
    /// The peer named by the accepted hello, kept for the log line after the machine has closed.
    private var acceptedPeer: NodeID?

    /// Mutual TLS: whether a handshake has completed yet (errors before it are TLS refusals).
    private let tls: Bool
    private var handshakeDone = false

    /// - Parameter tls: the handler sits behind a `NIOSSLServerHandler`: the peer's certificate must name a
    ///   member, and the hello that member.
    init(
        clusterID: String, localID: NodeID, members: Set<NodeID>, helloTimeout: TimeAmount, tls: Bool = false,
        events: InboundEvents,
        logger: Logger
    ) {
        self.machine = InboundStateMachine(
            clusterID: clusterID, localID: localID, members: members, requireCertificate: tls)
        self.tls = tls
        self.events = events
        self.logger = logger
        self.helloTimeout = helloTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if let remote = context.channel.remoteAddress { logger[metadataKey: "remote.address"] = "\(remote)" }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        helloTimer = context.eventLoop.scheduleTask(in: helloTimeout) {
            let (handler, context) = loopBound.value
            if handler.machine.peer == nil {
                let ms = handler.helloTimeout.nanoseconds / 1_000_000
                let what = handler.tls && !handler.handshakeDone ? "TLS handshake" : "hello"
                handler.perform(
                    handler.machine.fail("no \(what) within \(ms) ms"), context: context, key: "helloTimeout",
                    frameError: false)
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        helloTimer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        perform(machine.received(unwrapInboundIn(data)), context: context, key: nil, frameError: false)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if tls, let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            handshakeDone = true
            perform(
                machine.handshakeCompleted(peerIdentity(context)), context: context, key: nil, frameError: false,
                tls: .identity)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let frameError = error as? FrameError {
            perform(
                machine.fail("bad frame: \(frameError)"), context: context, key: "frame.\(frameError.code.rawValue)",
                frameError: true)
        } else if tls && !handshakeDone {
            // No certificate, one from another CA, an expired one, TLS < 1.3, or no TLS at all (plaintext).
            perform(
                machine.fail("TLS handshake failed: \(error)"), context: context, key: "tls.handshake",
                frameError: false, tls: .handshake)
        } else {
            // I/O errors (a reset connection) are routine: the peer reconnects.
            logger.debug(
                "inbound connection failed",
                metadata: ["peer.id": "\(acceptedPeer.map { "\($0)" } ?? "unknown")", "error": "\(error)"])
            _ = machine.fail("\(error)")
            context.close(promise: nil)
        }
    }

    /// - Parameter key: the rate-limit key of a close; nil takes the state machine's close code.
    /// - Parameter tls: what kind of TLS refusal a close is (nil: not a TLS one).
    private func perform(
        _ action: InboundStateMachine.Action, context: ChannelHandlerContext, key: String?, frameError: Bool,
        tls: InboundRejection.TLSRefusal? = nil
    ) {
        switch action {
        case .accepted(let peer):
            helloTimer?.cancel()
            acceptedPeer = peer
            logger[metadataKey: "peer.id"] = "\(peer)"
            logger.debug("inbound connection from peer")
            events.accepted(peer)
        case .deliver(let message):
            events.deliver(message)
        case .deliverTime(let t):
            events.time(t)
        case .close(let code, let reason):
            helloTimer?.cancel()
            // A hello that does not match the certificate is an identity refusal too.
            let tls = tls ?? (code == .helloBeforeHandshake || code == .helloNotCertificate ? .identity : nil)
            events.rejected(
                InboundRejection(
                    peer: acceptedPeer, reason: reason, key: key ?? code.rawValue, isFrameError: frameError, tls: tls))
            context.close(promise: nil)
        case .none:
            break
        }
    }

}

/// On an outbound connection: reports writability changes so the owner can move queued frames, and
/// ignores whatever the peer sends (peers never write on their inbound side). Behind a `NIOSSLClientHandler`,
/// reports the completed handshake with the server certificate's identity, and TLS errors.
final class OutboundHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let writable: () -> Void
    private let handshake: (Result<PeerIdentity, PKIError>) -> Void
    private let failed: (Error) -> Void

    init(
        writable: @escaping () -> Void, handshake: @escaping (Result<PeerIdentity, PKIError>) -> Void = { _ in },
        failed: @escaping (Error) -> Void = { _ in }
    ) {
        self.writable = writable
        self.handshake = handshake
        self.failed = failed
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { handshake(peerIdentity(context)) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writable() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failed(error)
        context.close(promise: nil)
    }
}
