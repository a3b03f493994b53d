import APIClient
import CorridorFile
import CorridorMachine
import Foundation
import GreenwaveAPI
import SignalTiming

/// Why a console command did not get an answer.
public enum ConsoleError: Error, CustomStringConvertible {
    case noQuorum(seconds: Double, tried: [String])
    case badAnswer(String)
    /// The leader refused the signature (401) or the signer's role (403).
    case refused(String)

    public var description: String {
        switch self {
        case .noQuorum(let s, let tried):
            return
                "no controller could commit the command within \(String(format: "%.1f", s)) s: the corridor has no quorum or no controller is reachable (tried \(tried.joined(separator: ", ")))"
        case .badAnswer(let s), .refused(let s): return s
        }
    }
}

/// Talks to a corridor's controllers over their HTTP APIs: submits commands to whichever controller
/// answers (followers forward to the leader), retrying with the same client id and sequence so that a
/// command applies exactly once, and collects every controller's status.
public struct ConsoleClient: Sendable {
    public let document: CorridorDocument
    public var timeoutSeconds: Double
    /// HTTPS trusting the corridor CA when the corridor's API is TLS (`security.api_tls`), else HTTP.
    public let connection: APIConnection
    /// Signs reads (`ReadCredential`) for controllers whose API needs one; nil: reads go without.
    public var reader: OperatorSigner?

    /// The headers of a read of `path`: a read credential when the client has a key.
    func readHeaders(_ path: String) -> [(String, String)] {
        guard let r = reader else { return [] }
        let bare = String(path.split(separator: "?", maxSplits: 1).first ?? "")
        return [
            (
                ReadCredential.headerName,
                ReadCredential.header(r, corridorID: document.id, path: bare, nowMs: wallClockMs())
            )
        ]
    }

    /// A read of `path` on `ep`: the body when the controller answered 200, else nil.
    public func read(_ ep: Endpoint, _ path: String, timeoutSeconds: Double = 2) async -> Data? {
        guard
            let a = try? await connection.send(
                host: ep.host, port: ep.port, path: path, headers: readHeaders(path),
                timeoutSeconds: timeoutSeconds), a.status == 200
        else { return nil }
        return a.body
    }

    /// A client of `document`'s controllers. Throws when the corridor's API is TLS and its CA certificate
    /// cannot be read.
    public init(document: CorridorDocument, timeoutSeconds: Double = 10) throws {
        self.document = document
        self.timeoutSeconds = timeoutSeconds
        self.connection = try APIConnection.forCorridor(caPath: document.apiCertificateAuthority)
    }

    /// API addresses, voters first (the leader is one of them), then learners, in road order.
    var apis: [(signal: SignalID, endpoint: Endpoint)] {
        let voters = Set(document.voters)
        let all = document.endpoints.map { ($0.signal, $0.api) }
        return all.filter { voters.contains($0.0) } + all.filter { !voters.contains($0.0) }
    }

    /// Submits a command; returns the committed answer (accepted or rejected by the state machine).
    public func submit(_ request: CommandRequest) async throws -> (status: Int, response: CommandResponse) {
        let body = try JSONEncoder().encode(request)
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        var tried: [String] = []
        var preferred: SignalID?
        var round = 0
        while Date() < deadline {
            var order = apis
            if let p = preferred, let i = order.firstIndex(where: { $0.signal == p }) {
                order.insert(order.remove(at: i), at: 0)
            }
            for (signal, ep) in order.prefix(8) where Date() < deadline {
                let a: APIAnswer
                do {
                    a = try await connection.send(
                        method: .POST, host: ep.host, port: ep.port, path: "/v1/commands",
                        headers: [("Content-Type", "application/json")], body: body,
                        timeoutSeconds: max(1, min(7, deadline.timeIntervalSinceNow)))
                    if let i = tried.firstIndex(where: { $0.hasPrefix("\(ep)") }) {
                        tried[i] = "\(ep)"
                    } else {
                        tried.append("\(ep)")
                    }
                } catch {
                    // Unreachable: try the next controller; the reason goes into the final message (a TLS
                    // failure — wrong CA, plain HTTP at a TLS port — looks like this too).
                    let entry = "\(ep) (\(String(describing: error).prefix(160)))"
                    if let i = tried.firstIndex(where: { $0.hasPrefix("\(ep)") }) {
                        tried[i] = entry
                    } else {
                        tried.append(entry)
                    }
                    continue
                }
                let data = a.body
                if a.status == 200 || a.status == 422 {
                    guard let r = try? JSONDecoder().decode(CommandResponse.self, from: data) else {
                        throw ConsoleError.badAnswer(
                            "controller \(signal) answered \(a.status) with an unreadable body")
                    }
                    return (a.status, r)
                }
                if a.status == 401 || a.status == 403 {
                    throw ConsoleError.refused(
                        (try? JSONDecoder().decode(ErrorResponse.self, from: data))?.error ?? "refused (\(a.status))")
                }
                if a.status == 400 || a.status == 413 || a.status == 415 {
                    let e = (try? JSONDecoder().decode(ErrorResponse.self, from: data))?.error ?? "bad request"
                    throw ConsoleError.badAnswer(e)
                }
                // 503: no leader, or not committed in time. Follow a leader hint, else move on.
                if let e = try? JSONDecoder().decode(ErrorResponse.self, from: data), let l = e.leader, l > 0 {
                    preferred = SignalID(l)
                    break
                }
            }
            round += 1
            try? await Task.sleep(nanoseconds: UInt64(min(500, 100 * round)) * 1_000_000)
        }
        if connection.tls == nil && !tried.isEmpty && tried.allSatisfy({ $0.contains("remoteConnectionClosed") }) {
            // Every controller closed the connection at once: what a TLS port does to plain HTTP.
            tried.append(
                "every controller closed the connection unanswered — if the corridor's API is HTTPS, give the corridor CA with --ca FILE or $GREENWAVE_CA"
            )
        }
        throw ConsoleError.noQuorum(seconds: timeoutSeconds, tried: tried)
    }

    /// Every controller's `/v1/status` (or only those of `only`), nil where unreachable, in road order.
    public func statusAll(
        only: Set<SignalID>? = nil, timeoutSeconds: Double = 1.5
    ) async -> [(signal: SignalID, endpoint: Endpoint, status: StatusResponse?)] {
        let targets = document.endpoints.filter { only?.contains($0.signal) ?? true }.map { ($0.signal, $0.api) }
        return await withTaskGroup(of: (Int, StatusResponse?).self) { group in
            for (i, t) in targets.enumerated() {
                group.addTask {
                    guard let data = await read(t.1, "/v1/status", timeoutSeconds: timeoutSeconds) else {
                        return (i, nil)
                    }
                    return (i, try? JSONDecoder().decode(StatusResponse.self, from: data))
                }
            }
            var out = [StatusResponse?](repeating: nil, count: targets.count)
            for await (i, s) in group { out[i] = s }
            return targets.enumerated().map { ($0.element.0, $0.element.1, out[$0.offset]) }
        }
    }

    /// The operator registry from the first controller that answers (voters first).
    public func operators() async -> OperatorsResponse? {
        for (_, ep) in apis {
            guard let data = await read(ep, "/v1/operators"),
                let r = try? JSONDecoder().decode(OperatorsResponse.self, from: data)
            else { continue }
            return r
        }
        return nil
    }

    /// The schedule and the mode in force from the first controller that answers (voters first).
    public func schedule() async -> ScheduleResponse? {
        for (_, ep) in apis {
            guard let data = await read(ep, "/v1/schedule"),
                let r = try? JSONDecoder().decode(ScheduleResponse.self, from: data)
            else { continue }
            return r
        }
        return nil
    }

    /// A fresh client id for one console invocation: its creation time (ms) in the high 64 bits, so that
    /// every replica can tell a retry older than the exactly-once window (`ClientID.windowMs`), and 64
    /// random bits, so that two operators never collide.
    public static func newClientID() -> String {
        let now = UInt64(max(0, wallClockMs()))
        return String(format: "%016llx%016llx", now, UInt64.random(in: .min ... .max))
    }
}
