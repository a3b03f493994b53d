// APIClient: how every Greenwave client (the console, the dashboard, SUMO's live mode, a follower that
// forwards a command to its leader) reaches a controller's HTTP API — plain HTTP on loopback, or HTTPS
// that trusts the corridor's CA and nothing else — over async-http-client, with every body bounded.
// It knows URLs, TLS and bytes; what the bytes mean (the JSON types) belongs to the caller.
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Why a request got no answer.
public struct APIClientError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The process's one HTTP client. A controller that is down must cost a client one refused connection,
/// not a wait: async-http-client would otherwise retry connecting, with backoff, until the request's
/// deadline (a follower forwarding to a leader just killed waited out its whole 6 s). One connect attempt
/// of at most 2 s; idle connections kept for 50 s (controllers close theirs after 30 s of silence anyway).
private let apiHTTPClient: HTTPClient = {
    var c = HTTPClient.Configuration()
    c.connectionPool = .init(idleTimeout: .seconds(50))
    c.connectionPool.retryConnectionEstablishment = false
    c.timeout = .init(connect: .seconds(2))
    c.redirectConfiguration = .disallow
    c.decompression = .disabled
    return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: c)
}()

/// One answer: the status code and the body (at most the request's limit).
public struct APIAnswer: Sendable {
    public var status: Int
    public var body: Data
}

/// How to reach a corridor's controllers: the scheme, and for HTTPS the one CA to trust.
public struct APIConnection: Sendable {
    /// Nil: plain HTTP.
    public let tls: TLSConfiguration?

    /// Plain HTTP (a corridor whose API is on loopback only).
    public static let plaintext = APIConnection(tls: nil)

    init(tls: TLSConfiguration?) { self.tls = tls }

    /// HTTPS trusting only the CA certificate(s) in `caPEM`; the server's certificate must name the host
    /// the client asked for (the corridor PKI writes the controller's addresses into it).
    public init(trustingCAPEM caPEM: String) throws {
        let roots: [NIOSSLCertificate]
        do { roots = try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)) } catch {
            throw APIClientError("the corridor CA is not a certificate in PEM: \(error)")
        }
        guard !roots.isEmpty else { throw APIClientError("the corridor CA file holds no certificate") }
        var c = TLSConfiguration.makeClientConfiguration()
        c.trustRoots = .certificates(roots)
        c.minimumTLSVersion = .tlsv12
        c.certificateVerification = .fullVerification
        self.tls = c
    }

    /// HTTPS trusting the CA certificate in the file at `path`.
    public init(trustingCAFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20,
            let text = String(data: data, encoding: .utf8)
        else {
            throw APIClientError(
                "\(path): cannot read the corridor CA certificate (missing, unreadable, over 1 MiB or not text)")
        }
        do { try self.init(trustingCAPEM: text) } catch let e as APIClientError {
            throw APIClientError("\(path): \(e.message)")
        }
    }

    /// The corridor's connection: HTTPS with its CA when `caPath` is given, else plain HTTP.
    public static func forCorridor(caPath: String?) throws -> APIConnection {
        guard let caPath else { return .plaintext }
        return try APIConnection(trustingCAFile: caPath)
    }

    public var scheme: String { tls == nil ? "http" : "https" }

    public func url(host: String, port: Int, path: String) -> String {
        let h = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "\(scheme)://\(h):\(port)\(path)"
    }

    /// One request; throws when no answer came (refused, TLS failure, timeout, body over `maxBody`).
    public func send(
        method: HTTPMethod = .GET, host: String, port: Int, path: String, headers: [(String, String)] = [],
        body: Data? = nil, timeoutSeconds: Double, maxBody: Int = 4 << 20
    ) async throws -> APIAnswer {
        var req = HTTPClientRequest(url: url(host: host, port: port, path: path))
        req.method = method
        req.tlsConfiguration = tls
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body {
            req.body = .bytes(ByteBuffer(bytes: body))
            if !req.headers.contains(name: "Content-Type") {
                req.headers.add(name: "Content-Type", value: "application/json")
            }
        }
        let ms = Int64(max(0.05, min(3600, timeoutSeconds)) * 1000)
        let resp = try await apiHTTPClient.execute(req, timeout: .milliseconds(ms))
        let buf = try await resp.body.collect(upTo: maxBody)
        return APIAnswer(status: Int(resp.status.code), body: Data(buf.readableBytesView))
    }

    /// Follows a server-sent event stream: calls `onEvent` with each event's `data:` text (lines joined
    /// by newlines) and `true` for the first of the connection, until the stream ends or fails (then it
    /// returns, for the caller to reconnect). An event over `maxEvent` bytes ends the connection.
    public func followEvents(
        host: String, port: Int, path: String, headers: [(String, String)] = [],
        connectTimeoutSeconds: Double = 2, maxEvent: Int = 1 << 20,
        onEvent: @Sendable (String, Bool) -> Void
    ) async {
        var req = HTTPClientRequest(url: url(host: host, port: port, path: path))
        req.tlsConfiguration = tls
        req.headers.add(name: "Accept", value: "text/event-stream")
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        do {
            // No overall deadline: the stream is meant to last; a dead peer ends it by the server's idle
            // timeout or a closed socket, and cancellation of the calling task ends it at once.
            let resp = try await apiHTTPClient.execute(req, deadline: .distantFuture)
            guard resp.status == .ok else { return }
            var parser = EventStreamParser(maxEvent: maxEvent)
            var first = true
            for try await buf in resp.body {
                guard let events = parser.feed(buf.readableBytesView) else { return }
                for e in events {
                    onEvent(e, first)
                    first = false
                }
            }
        } catch {
            return
        }
    }
}

/// Splits server-sent event bytes into events' `data:` payloads. Bounded: an event longer than `maxEvent`
/// bytes makes `feed` return nil (the caller drops the connection).
public struct EventStreamParser: Sendable {
    private var pending: [UInt8] = []
    /// How far `pending` has been searched for an event's end.
    private var scanned = 0
    public let maxEvent: Int

    public init(maxEvent: Int = 1 << 20) { self.maxEvent = maxEvent }

    public mutating func feed<C: Collection>(_ bytes: C) -> [String]? where C.Element == UInt8 {
        // "\r" is dropped, so that "\r\n\r\n" ends an event as "\n\n" does.
        pending.append(contentsOf: bytes.lazy.filter { $0 != 0x0D })
        var out: [String] = []
        var start = 0
        var i = max(0, scanned - 1)
        while i + 1 < pending.count {
            if pending[i] == 0x0A && pending[i + 1] == 0x0A {
                if let e = Self.data(of: pending[start..<i]) { out.append(e) }
                start = i + 2
                i = start
            } else {
                i += 1
            }
        }
        if start > 0 { pending.removeFirst(start) }
        scanned = pending.count
        if pending.count > maxEvent { return nil }
        return out
    }

    private static func data(of event: ArraySlice<UInt8>) -> String? {
        let text = String(decoding: event, as: UTF8.self)
        var lines: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) where line.hasPrefix("data:") {
            var d = line.dropFirst(5)
            if d.first == " " { d = d.dropFirst() }
            lines.append(d)
        }
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }
}
