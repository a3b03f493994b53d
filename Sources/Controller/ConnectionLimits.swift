import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Transport

/// Open HTTP connections per client address, shared by every connection of one server. A client that
/// opens more than `perAddress` has its new connections closed at once, so that one address cannot use
/// up the server's connections (the total is capped by Hummingbird's `MaximumAvailableConnections`).
final class ConnectionsByAddress: Sendable {
    let perAddress: Int
    private let counts = NIOLockedValueBox<[String: Int]>([:])
    private let refusals = NIOLockedValueBox(LogLimiter(windowNs: 10_000_000_000, maxKeys: 1))
    let logger: Logger

    init(perAddress: Int, logger: Logger) {
        self.perAddress = perAddress
        self.logger = logger
    }

    /// Counts a new connection; false when its address is over the limit (the caller closes it).
    func open(_ address: String) -> Bool {
        counts.withLockedValue { c in
            let n = (c[address] ?? 0) + 1
            guard n <= perAddress else { return false }
            c[address] = n
            return true
        }
    }

    func close(_ address: String) {
        counts.withLockedValue { c in
            if let n = c[address] { c[address] = n > 1 ? n - 1 : nil }
        }
    }

    /// One log line per 10 s at most, with the number of refusals it stands for.
    func noteRefused(_ address: String) {
        let decision = refusals.withLockedValue {
            $0.admit(source: "http", reason: "per-address limit", nowNs: monotonicNs())
        }
        guard case .log(let suppressed) = decision else { return }
        logger.warning(
            "HTTP connection refused: too many from one address",
            metadata: [
                "client": "\(address)", "limit": "\(perAddress)", "suppressed": "\(suppressed)"
            ])
    }
}

/// Added to every HTTP connection's pipeline: counts it against its address and closes it when over.
final class PerAddressLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Never
    let limits: ConnectionsByAddress

    init(limits: ConnectionsByAddress) { self.limits = limits }

    func handlerAdded(context: ChannelHandlerContext) {
        let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        guard limits.open(address) else {
            limits.noteRefused(address)
            context.close(promise: nil)
            return
        }
        let limits = self.limits
        context.channel.closeFuture.whenComplete { _ in limits.close(address) }
    }
}
