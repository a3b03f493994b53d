import APIClient
import Foundation
import GreenwaveAPI

/// Follows one controller's `GET /v1/lamps/stream` (server-sent events, over HTTPS when the corridor's
/// API is TLS) and hands each lamp update over as it arrives; reconnects after a second when the
/// connection fails or ends.
struct LampStreamFollower: Sendable {
    let connection: APIConnection
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
        let headers = credential().map { [(ReadCredential.headerName, $0)] } ?? []
        let first = FirstFlag()
        await connection.followEvents(host: host, port: port, path: "/v1/lamps/stream", headers: headers) { data, _ in
            // An event that is not a lamp update is skipped; "first" is the first decoded update.
            guard let u = try? JSONDecoder().decode(LampUpdate.self, from: Data(data.utf8)) else { return }
            onUpdate(u, first.take())
        }
    }
}

/// True once, then false.
private final class FirstFlag: @unchecked Sendable {
    private var first = true
    private let lock = NSLock()
    func take() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let f = first
        first = false
        return f
    }
}
