import Controller
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Follows one controller's `GET /v1/lamps/stream` (server-sent events) and hands each lamp update over
/// as it arrives; reconnects after a second when the connection fails or ends.
struct LampStreamFollower: Sendable {
    let host: String
    let port: Int
    /// (update, first after connecting)
    let onUpdate: @Sendable (LampUpdate, Bool) -> Void
    let onDown: @Sendable () -> Void
    /// The `X-Greenwave-Auth` value for each connection (controllers whose reads need a credential).
    var credential: @Sendable () -> String? = { nil }

    func run() async {
        while !Task.isCancelled {
            await followOnce()
            onDown()
            try? await Task.sleep(nanoseconds: 1_000_000_000)
        }
    }

    private func followOnce() async {
        let onUpdate = self.onUpdate
        let host = self.host
        let port = self.port
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(1))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(SSEHandler(onUpdate: onUpdate))
                }
            }
        guard let channel = try? await bootstrap.connect(host: host, port: port).get() else { return }
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v1/lamps/stream")
        head.headers.add(name: "Host", value: "\(host):\(port)")
        head.headers.add(name: "Accept", value: "text/event-stream")
        if let c = credential() { head.headers.add(name: ReadCredential.headerName, value: c) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        await withTaskCancellationHandler {
            try? await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}

/// Splits the event stream into `data:` payloads and decodes each as a `LampUpdate`.
final class SSEHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private var pending = ""
    private var first = true
    private let onUpdate: @Sendable (LampUpdate, Bool) -> Void
    private let decoder = JSONDecoder()

    init(onUpdate: @escaping @Sendable (LampUpdate, Bool) -> Void) { self.onUpdate = onUpdate }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            if h.status != .ok { context.close(promise: nil) }
        case .body(var buf):
            pending += buf.readString(length: buf.readableBytes) ?? ""
            while let r = pending.range(of: "\n\n") {
                let event = String(pending[..<r.lowerBound])
                pending.removeSubrange(..<r.upperBound)
                for line in event.split(separator: "\n") where line.hasPrefix("data:") {
                    let json = line.dropFirst(5).drop { $0 == " " }
                    if let u = try? decoder.decode(LampUpdate.self, from: Data(json.utf8)) {
                        onUpdate(u, first)
                        first = false
                    }
                }
            }
            if pending.utf8.count > 1 << 20 { context.close(promise: nil) }  // not an event stream
        case .end:
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
