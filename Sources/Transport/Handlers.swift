import Logging
import NIOCore
import RaftCore

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

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
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
}

/// What an inbound connection reports to its owner. Called on the channel's event loop.
struct InboundEvents {
    var deliver: (Message) -> Void
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

    init(clusterID: String, localID: NodeID, members: Set<NodeID>, helloTimeout: TimeAmount, events: InboundEvents, logger: Logger) {
        self.machine = InboundStateMachine(clusterID: clusterID, localID: localID, members: members)
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
                handler.perform(handler.machine.fail("no hello within \(ms) ms"), context: context, key: "helloTimeout", frameError: false)
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        helloTimer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        perform(machine.received(unwrapInboundIn(data)), context: context, key: nil, frameError: false)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let frameError = error as? FrameError {
            perform(machine.fail("bad frame: \(frameError)"), context: context, key: "frame.\(frameError.code.rawValue)", frameError: true)
        } else {
            // I/O errors (a reset connection) are routine: the peer reconnects.
            logger.debug("inbound connection failed", metadata: ["peer.id": "\(acceptedPeer.map { "\($0)" } ?? "unknown")", "error": "\(error)"])
            _ = machine.fail("\(error)")
            context.close(promise: nil)
        }
    }

    /// - Parameter key: the rate-limit key of a close; nil takes the state machine's close code.
    private func perform(_ action: InboundStateMachine.Action, context: ChannelHandlerContext, key: String?, frameError: Bool) {
        switch action {
        case .accepted(let peer):
            helloTimer?.cancel()
            acceptedPeer = peer
            logger[metadataKey: "peer.id"] = "\(peer)"
            logger.debug("inbound connection from peer")
            events.accepted(peer)
        case .deliver(let message):
            events.deliver(message)
        case .close(let code, let reason):
            helloTimer?.cancel()
            events.rejected(InboundRejection(peer: acceptedPeer, reason: reason, key: key ?? code.rawValue, isFrameError: frameError))
            context.close(promise: nil)
        case .none:
            break
        }
    }

}

/// On an outbound connection: reports writability changes so the owner can move queued frames, and
/// ignores whatever the peer sends (peers never write on their inbound side).
final class OutboundHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let writable: () -> Void

    init(writable: @escaping () -> Void) { self.writable = writable }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writable() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
