import Controller
import CorridorFile
import CorridorMachine
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
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
            return "no controller could commit the command within \(String(format: "%.1f", s)) s: the corridor has no quorum or no controller is reachable (tried \(tried.joined(separator: ", ")))"
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
    let session: URLSession
    /// Signs reads (`ReadCredential`) for controllers whose API needs one; nil: reads go without.
    public var reader: OperatorSigner?

    /// A request for `path` on `ep`, with a read credential when the client has a key.
    func readRequest(_ ep: Endpoint, _ path: String) -> URLRequest {
        var req = URLRequest(url: URL(string: "http://\(ep.host):\(ep.port)\(path)")!)
        if let r = reader {
            let bare = String(path.split(separator: "?", maxSplits: 1).first ?? "")
            req.setValue(ReadCredential.header(r, corridorID: document.id, path: bare, nowMs: Int64(Date().timeIntervalSince1970 * 1000)),
                         forHTTPHeaderField: ReadCredential.headerName)
        }
        return req
    }

    public init(document: CorridorDocument, timeoutSeconds: Double = 10) {
        self.document = document
        self.timeoutSeconds = timeoutSeconds
        let cfg = URLSessionConfiguration.ephemeral
        cfg.timeoutIntervalForRequest = 6
        self.session = URLSession(configuration: cfg)
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
            if let p = preferred, let i = order.firstIndex(where: { $0.signal == p }) { order.insert(order.remove(at: i), at: 0) }
            for (signal, ep) in order.prefix(8) where Date() < deadline {
                if !tried.contains("\(ep)") { tried.append("\(ep)") }
                var req = URLRequest(url: URL(string: "http://\(ep.host):\(ep.port)/v1/commands")!)
                req.httpMethod = "POST"
                req.httpBody = body
                req.setValue("application/json", forHTTPHeaderField: "Content-Type")
                req.timeoutInterval = max(1, min(7, deadline.timeIntervalSinceNow))
                guard let (data, resp) = try? await session.data(for: req), let http = resp as? HTTPURLResponse else {
                    continue  // unreachable: try the next controller
                }
                if http.statusCode == 200 || http.statusCode == 422 {
                    guard let r = try? JSONDecoder().decode(CommandResponse.self, from: data) else {
                        throw ConsoleError.badAnswer("controller \(signal) answered \(http.statusCode) with an unreadable body")
                    }
                    return (http.statusCode, r)
                }
                if http.statusCode == 401 || http.statusCode == 403 {
                    throw ConsoleError.refused((try? JSONDecoder().decode(ErrorResponse.self, from: data))?.error ?? "refused (\(http.statusCode))")
                }
                if http.statusCode == 400 || http.statusCode == 413 || http.statusCode == 415 {
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
        throw ConsoleError.noQuorum(seconds: timeoutSeconds, tried: tried)
    }

    /// Every controller's `/v1/status`, nil where unreachable, in road order.
    public func statusAll(timeoutSeconds: Double = 1.5) async -> [(signal: SignalID, endpoint: Endpoint, status: StatusResponse?)] {
        let targets = document.endpoints.map { ($0.signal, $0.api) }
        let cfg = URLSessionConfiguration.ephemeral
        cfg.timeoutIntervalForRequest = timeoutSeconds
        let quick = URLSession(configuration: cfg)
        return await withTaskGroup(of: (Int, StatusResponse?).self) { group in
            for (i, t) in targets.enumerated() {
                group.addTask {
                    var req = readRequest(t.1, "/v1/status")
                    req.timeoutInterval = timeoutSeconds
                    guard let (data, resp) = try? await quick.data(for: req), (resp as? HTTPURLResponse)?.statusCode == 200 else {
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
            var req = readRequest(ep, "/v1/operators")
            req.timeoutInterval = 2
            guard let (data, resp) = try? await session.data(for: req), (resp as? HTTPURLResponse)?.statusCode == 200,
                  let r = try? JSONDecoder().decode(OperatorsResponse.self, from: data) else { continue }
            return r
        }
        return nil
    }

    /// A fresh client id for one console invocation: its creation time (ms) in the high 64 bits, so that
    /// every replica can tell a retry older than the exactly-once window (`ClientID.windowMs`), and 64
    /// random bits, so that two operators never collide.
    public static func newClientID() -> String {
        let now = UInt64(max(0, Date().timeIntervalSince1970 * 1000))
        return String(format: "%016llx%016llx", now, UInt64.random(in: .min ... .max))
    }
}

/// "S12", "s12" or "12" → 12.
public func parseSignal(_ s: String) -> Int? {
    let t = s.hasPrefix("S") || s.hasPrefix("s") ? String(s.dropFirst()) : s
    return Int(t)
}

/// Signals in travel order from "S05 S06 S07" or ranges "S05-S11" (a descending range keeps its order):
/// the signal ids, or the first word that is neither an id nor a range.
public func parseSignalList(_ words: [String]) -> Result<[Int], SignalListError> {
    var list: [Int] = []
    for w in words {
        let parts = w.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2, let a = parseSignal(parts[0]), let b = parseSignal(parts[1]) {
            list += a <= b ? Array(a...b) : Array((b...a).reversed())
        } else if parts.count == 1, let v = parseSignal(w) {
            list.append(v)
        } else {
            return .failure(SignalListError(word: w))
        }
    }
    return .success(list)
}

public struct SignalListError: Error, CustomStringConvertible {
    public var word: String
    public var description: String { "'\(word)' is not a signal id or range (S05, 5 or S05-S11)" }
}
