import APIClient
import Console
import CorridorFile
import CorridorMachine
import Foundation
import GreenwaveAPI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The running dashboard: polls every controller's status twice a second, follows every lamp stream,
/// redraws ten times a second, and reads the keyboard. Returns when the operator quits (q, Ctrl-C) or
/// the task is cancelled; the terminal is restored either way.
public struct DashboardApp: Sendable {
    public var document: CorridorDocument
    /// The operator's key: every command typed here is signed with it. Nil: view only.
    public var signer: OperatorSigner?
    public var refreshPerSecond: Int
    public var color: Bool
    /// Commands, status polls and lamp streams: HTTPS trusting the corridor CA when its API is TLS.
    let client: ConsoleClient

    /// Throws when the corridor's API is TLS and its CA certificate cannot be read.
    public init(
        document: CorridorDocument, signer: OperatorSigner?, refreshPerSecond: Int = 10,
        color: Bool = ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    ) throws {
        self.document = document
        self.signer = signer
        self.refreshPerSecond = max(1, refreshPerSecond)
        self.color = color
        var c = try ConsoleClient(document: document, timeoutSeconds: 10)
        c.reader = signer
        self.client = c
    }

    public func run() async {
        let terminal = Terminal()
        let box = ModelBox(DashboardModel(document: document))
        let client = self.client
        let sequence = SequenceCounter()
        let clientID = sequence.clientID
        let keys = KeyReader()
        terminal.enter()
        defer {
            keys.stop()
            terminal.leave()
        }
        let signer = self.signer
        box.update {
            $0.signedIn =
                signer.map { "\($0.name) (key \(OperatorKeys.keyIDText($0.keyID)), role ?)" }
                ?? "view only: no operator key"
            $0.say(
                .info,
                "dashboard up: client \(clientID.prefix(8))…, "
                    + (signer.map { "signing as \($0.name)" } ?? "no operator key (--key): view only"))
        }

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await Self.pollStatuses(client: client, box: box) }
            if let signer {
                group.addTask { await Self.pollRole(of: signer, client: client, box: box) }
            }
            // Every lamp stream.
            for e in document.endpoints {
                group.addTask { await self.followLamps(of: e, client: client, box: box) }
            }
            group.addTask { await self.drawScreen(terminal, box: box) }
            // The keyboard; its end (quit) ends the dashboard.
            for await key in keys.stream() {
                if handle(key, box: box, client: client, clientID: clientID, sequence: sequence) == .quit { break }
            }
            group.cancelAll()
        }
    }

    /// Status of every controller, twice a second.
    private static func pollStatuses(client: ConsoleClient, box: ModelBox) async {
        while !Task.isCancelled {
            let rows = await client.statusAll(timeoutSeconds: 1)
            let now = wallClockMs()
            box.update { $0.applyStatuses(rows.map(\.status), atMs: now) }
            try? await Task.sleep(nanoseconds: 500_000_000)
        }
    }

    /// The signer's role, from the replicated registry, every 5 s.
    private static func pollRole(of signer: OperatorSigner, client: ConsoleClient, box: ModelBox) async {
        while !Task.isCancelled {
            if let list = await client.operators() {
                let me = list.operators.first { $0.keyID == OperatorKeys.keyIDText(signer.keyID) }
                let text: String
                if let me, me.revokedAt == nil {
                    text = "\(signer.name) · \(me.role)"
                } else if me != nil {
                    text = "\(signer.name) · KEY REVOKED"
                } else {
                    text = "\(signer.name) · NOT REGISTERED"
                }
                box.update { $0.signedIn = text }
            }
            try? await Task.sleep(nanoseconds: 5_000_000_000)
        }
    }

    /// One controller's lamp stream into the model (reconnecting as `LampStreamFollower` does).
    private func followLamps(of e: SignalEndpoints, client: ConsoleClient, box: ModelBox) async {
        let signal = e.signal.rawValue
        let document = self.document
        let reader = self.signer
        await LampStreamFollower(
            connection: client.connection, host: e.api.host, port: e.api.port,
            onUpdate: { u, first in box.update { $0.applyLamps(u, first: first) } },
            onDown: { box.update { $0.streamDown(signal: signal) } },
            credential: {
                reader.map {
                    ReadCredential.header(
                        $0, corridorID: document.id, path: "/v1/lamps/stream", nowMs: wallClockMs())
                }
            }
        ).run()
    }

    /// The screen, `refreshPerSecond` times a second.
    private func drawScreen(_ terminal: Terminal, box: ModelBox) async {
        let period = UInt64(1_000_000_000 / refreshPerSecond)
        while !Task.isCancelled {
            let size = terminal.size()
            let screen = box.update { m -> Screen in
                m.nowMs = wallClockMs()
                return DashboardRenderer.render(m, width: size.width, height: size.height)
            }
            terminal.draw(screen, color: color)
            try? await Task.sleep(nanoseconds: period)
        }
    }

    enum Outcome { case next, quit }

    private func handle(
        _ key: Key, box: ModelBox, client: ConsoleClient, clientID: String, sequence: SequenceCounter
    ) -> Outcome {
        var submit: String?
        let outcome: Outcome = box.update { m in
            if var input = m.input {
                switch key {
                case .char(let c): input.append(c)
                case .backspace: if !input.isEmpty { input.removeLast() }
                case .escape, .ctrlC:
                    m.input = nil
                    return .next
                case .enter:
                    m.input = nil
                    if !input.trimmingCharacters(in: .whitespaces).isEmpty { submit = input }
                    return .next
                default: break
                }
                m.input = input
                return .next
            }
            switch key {
            case .char(":"): m.input = ""
            case .char("q"), .ctrlC, .ctrlD: return .quit
            case .char("["), .pageUp, .up: m.page = max(0, m.page - 1)
            case .char("]"), .char(" "), .pageDown, .down: m.page += 1
            default: break
            }
            return .next
        }
        if let line = submit {
            let (clientID, seq) = sequence.next()
            switch DashboardCommand.parse(
                line, document: document, operatorName: signer?.name ?? "", clientID: clientID, sequence: seq)
            {
            case .failure(let e):
                box.update { $0.say(.error, "\(line): \(e.description)") }
            case .success(let unsigned):
                guard let signer, let request = try? unsigned.signed(by: signer, document: document) else {
                    box.update {
                        $0.say(
                            .error,
                            "\(line): cannot sign: "
                                + (self.signer == nil
                                    ? "no operator key (start the dashboard with --key FILE)" : "invalid command"))
                    }
                    return .next
                }
                let what = DashboardCommand.describe(request)
                box.update { $0.say(.info, "\(what): proposing…") }
                Task {
                    do {
                        let (_, r) = try await client.submit(request)
                        box.update { m in
                            if r.result == "accepted" {
                                var text =
                                    "#\(r.index) \(what): accepted (leader S\(DashboardRenderer.pad2(r.leader)), term \(r.term))"
                                if let t = r.effectiveAtMs {
                                    text += ", takes effect \(DashboardRenderer.clock(t, tenths: false))"
                                }
                                if r.duplicate { text += " (retry of an earlier submission)" }
                                m.say(.ok, text)
                                if request.type == "mode", let plan = request.plan, let t = r.effectiveAtMs {
                                    m.watch = .init(plan: plan, index: r.index, effectiveAtMs: t)
                                }
                            } else {
                                m.say(.error, "#\(r.index) \(what): rejected: \(r.reason ?? "no reason given")")
                            }
                        }
                    } catch {
                        box.update { $0.say(.error, "\(what): not committed: \(error)") }
                    }
                }
            }
        }
        return outcome
    }
}

/// The model behind a lock, shared by the pollers, the streams, the keyboard and the screen.
final class ModelBox: @unchecked Sendable {
    private var model: DashboardModel
    private let lock = NSLock()
    init(_ m: DashboardModel) { model = m }
    @discardableResult
    func update<T>(_ f: (inout DashboardModel) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return f(&model)
    }
}

/// The dashboard's client id and sequence. Exactly-once covers a client id for `ClientID.windowMs`
/// from its creation (an hour), so a dashboard that stays up starts a new id every half window: a
/// command and its retries (inside `ConsoleClient`) always fall well within the window of their id.
final class SequenceCounter: @unchecked Sendable {
    private var n: UInt64 = 0
    private(set) var clientID = ConsoleClient.newClientID()
    private var createdAt = Date()
    private let lock = NSLock()
    func next() -> (clientID: String, sequence: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        if Date().timeIntervalSince(createdAt) * 1000 > Double(ClientID.windowMs / 2) {
            clientID = ConsoleClient.newClientID()
            createdAt = Date()
            n = 0
        }
        n += 1
        return (clientID, n)
    }
}

/// Reads the keyboard on its own thread (a blocking read, polled so that it can stop).
final class KeyReader: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false

    func stop() { lock.withLock { stopped = true } }
    private var isStopped: Bool { lock.withLock { stopped } }

    func stream() -> AsyncStream<Key> {
        AsyncStream { cont in
            let t = Thread { [self] in
                var buf = [UInt8](repeating: 0, count: 256)
                while !isStopped {
                    var p = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
                    let r = poll(&p, 1, 100)
                    if r < 0 && errno != EINTR { break }
                    guard r > 0 else { continue }
                    let n = buf.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress!, $0.count) }
                    if n == 0 { break } // end of input
                    if n < 0 { if errno == EINTR || errno == EAGAIN { continue } else { break } }
                    for k in decodeKeys(Array(buf[0..<n])) { cont.yield(k) }
                }
                cont.finish()
            }
            t.start()
        }
    }
}
