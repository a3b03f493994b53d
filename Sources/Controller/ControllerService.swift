import APIClient
import CorridorFile
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOPosix
import NIOSSL
import PKI
import RaftCore
import ServiceLifecycle
import SignalTiming
import Storage
import Transport

/// One field controller: Raft driver, peer transport, lamp driver and HTTP API, run as a service
/// group with graceful shutdown on SIGTERM and SIGINT (a leader hands over first).
public struct FieldController: Sendable {
    public let options: ControllerOptions
    let logger: Logger
    /// This controller's metrics (`GET /metrics`); a test may pass its own to read them after a stop.
    public let metrics: ControllerMetrics

    public init(options: ControllerOptions, logger: Logger, metrics: ControllerMetrics? = nil) {
        self.options = options
        self.logger = logger
        self.metrics = metrics ?? ControllerMetrics(signal: options.signal.rawValue)
    }

    /// Runs until SIGTERM/SIGINT (or until the task is cancelled); then hands over leadership, flushes and
    /// returns. `handleSignals: false` leaves the process's signals alone (several controllers in one
    /// test process: each is stopped by cancelling its task).
    public func run(handleSignals: Bool = true) async throws {
        try options.timing.validate()
        try options.clock.validate(faultInjection: options.faultInjection)
        try FileManager.default.createDirectory(atPath: options.dataDirectory, withIntermediateDirectories: true)
        let store = try openStore()
        try CorridorCopy.record(
            corridorPath: options.corridorPath, dataDirectory: options.dataDirectory, logger: logger)
        let (peerConfiguration, material) = try transportConfiguration()
        var tcfg = peerConfiguration
        let clock = ControllerClock(
            selfID: options.nodeID, voters: Set(options.membership.voters), settings: options.clock, logger: logger)
        tcfg.clockUs = { clock.localUs() }
        logClockFault()
        var tlog = logger
        tlog[metadataKey: "component"] = "transport"
        // On the process's one event loop when `ProcessThreads.useOneEventLoop()` made it so; else a thread
        // of its own, as before.
        let transport = PeerTransport(
            configuration: tcfg, group: ProcessThreads.oneLoop ? MultiThreadedEventLoopGroup.singleton : nil,
            logger: tlog)
        let driver: RaftDriver
        do {
            driver = try RaftDriver(
                options: options, store: store, transport: transport, clock: clock, logger: logger, metrics: metrics)
        } catch {
            try? store.close()
            throw error
        }
        guard let signal = options.document.corridor.signals.first(where: { $0.id == options.signal }) else {
            throw ControllerError.configuration("signal \(options.signal) is not in the corridor")
        }
        let lamps = LampDriver(
            signal: signal, corridor: options.document.corridor, driver: driver, clock: clock,
            periodMs: options.lampPeriodMs, logger: logger,
            actuated: options.document.actuated?.signals[signal.id],
            actuatedSettings: options.document.actuated?.settings[signal.id] ?? ActuatedSettings(control: .actuated))
        // The API: HTTPS with this controller's certificate when the corridor says so (security.api_tls),
        // else plain HTTP, which ControllerOptions allows on a loopback address only.
        let apiTLS = try APITLS.configure(options: options, material: material, logger: logger)
        let api = HTTPAPI(
            options: options, driver: driver, lamps: lamps, transport: transport, leaderAPI: apiTLS.client, clock: clock
        )
        let app = try httpApplication(api, tls: apiTLS)
        let core = CoreService(options: options, driver: driver, lamps: lamps, transport: transport, clock: clock)
        let group = serviceGroup(app: app, core: core, handleSignals: handleSignals)
        logger.info(
            "controller starting",
            metadata: [
                "signal.id": "\(options.signal)", "peer": "\(options.peerListen)", "api": "\(options.apiListen)",
                "data": "\(options.dataDirectory)", "pid": "\(ProcessInfo.processInfo.processIdentifier)",
                "raft.timing": "\(options.timing)",
                "threads": "\(ProcessThreads.oneLoop ? "one event loop" : "default pools")"
            ])
        do {
            try await group.run()
        } catch {
            try? store.close()
            throw error
        }
        try? store.close()
        logger.info("controller stopped", metadata: ["signal.id": "\(options.signal)"])
    }

    /// The data folder's store, once the folder is known to be this controller's: checked before it is
    /// opened and after (StartupCheck.swift, docs/operations.md), before anything is written.
    func openStore() throws -> RaftStore {
        try StartupCheck.checkBeforeOpening(options, logger: logger)
        let store = try RaftStore(directory: options.dataDirectory)
        do {
            try StartupCheck.checkIdentity(store: store, options: options, logger: logger)
        } catch {
            try? store.close()
            throw error
        }
        return store
    }

    /// The peer transport's configuration: the other members' addresses, and mutual TLS from
    /// `--peer-tls-dir` (its material is the API's too) or, loudly, plaintext.
    func transportConfiguration() throws -> (TransportConfiguration, PeerTLSMaterial?) {
        var peers: [NodeID: PeerAddress] = [:]
        for (sig, ep) in options.peerAddresses where sig != options.signal {
            peers[NodeID(sig.rawValue)] = PeerAddress(host: ep.host, port: ep.port)
        }
        var tcfg = TransportConfiguration(
            clusterID: options.document.id, nodeID: options.nodeID,
            listenHost: options.peerListen.host, listenPort: options.peerListen.port, peers: peers,
            members: Set(peers.keys))
        tcfg.sendQueueMaxMessages = 4096
        var material: PeerTLSMaterial?
        if let dir = options.peerTLSDirectory {
            do {
                material = try PKIDirectory(path: dir).material(
                    corridorID: options.document.id, signal: UInt64(options.signal.rawValue))
                tcfg.tls = material
            } catch {
                throw ControllerError.configuration("--peer-tls-dir \(dir): \(error)")
            }
            logger.info(
                "peer connections: mutual TLS", metadata: ["identity": "\(tcfg.tls!.identity)", "pki": "\(dir)"])
        } else {
            logger.warning(
                "peer connections are plaintext and unauthenticated: anyone who reaches the peer port can claim to be a member (start with --peer-tls-dir; see docs/security.md)"
            )
        }
        return (tcfg, material)
    }

    func logClockFault() {
        guard !options.clock.fault.isNone else { return }
        logger.warning(
            "fault injection: this controller's clock is made wrong",
            metadata: [
                "offset.ms": "\(options.clock.fault.offsetMs)", "drift.ppm": "\(options.clock.fault.driftPpm)",
                "step.ms": "\(options.clock.fault.stepMs)", "step.after.ms": "\(options.clock.fault.stepAfterMs)"
            ])
    }

    /// The HTTP API server. Bounded: idle connections are closed, the total is capped below the descriptor
    /// limit (1,100 idle sockets used to exhaust 1,024 descriptors and crash the controller), and one
    /// client address cannot take more than its share.
    func httpApplication(_ api: HTTPAPI, tls apiTLS: APITLS) throws -> some Service {
        let byAddress = ConnectionsByAddress(perAddress: options.maxHTTPConnectionsPerAddress, logger: logger)
        let http1: HTTPServerBuilder = .http1(
            configuration: .init(
                additionalChannelHandlers: [PerAddressLimitHandler(limits: byAddress)],
                idleTimeout: .milliseconds(Int64(options.httpIdleTimeoutMs))))
        return Application(
            router: api.router(),
            server: try apiTLS.server.map { try .tls(http1, tlsConfiguration: $0) } ?? http1,
            configuration: .init(
                address: .hostname(options.apiListen.host, port: options.apiListen.port), serverName: "greenwave",
                availableConnectionsDelegate: MaximumAvailableConnections(options.maxHTTPConnections)),
            logger: logger)
    }

    /// A service group shuts its services down one at a time, last first. The core goes first: it hands
    /// leadership over at once and ends the lamp streams, which the HTTP server's graceful stop would
    /// otherwise wait for (a dashboard keeps one open per controller).
    func serviceGroup(app: some Service, core: CoreService, handleSignals: Bool) -> ServiceGroup {
        ServiceGroup(
            configuration: .init(
                services: [
                    .init(
                        service: app, successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup),
                    .init(
                        service: core, successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup)
                ],
                gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
                logger: logger))
    }
}

/// How the API is served and how this controller reaches another's (a follower forwarding to its leader).
struct APITLS {
    /// Nil: plain HTTP.
    var server: TLSConfiguration?
    var client: APIConnection

    static func configure(options: ControllerOptions, material: PeerTLSMaterial?, logger: Logger) throws -> APITLS {
        guard let caPath = options.document.apiCertificateAuthority else {
            return APITLS(server: nil, client: .plaintext)
        }
        guard let material else {
            throw ControllerError.configuration(
                "\(options.corridorPath): security.api_tls: the API is TLS, with this controller's certificate from the corridor PKI: give --peer-tls-dir DIR (the folder 'greenwave pki issue' wrote)"
            )
        }
        // The CA that clients are told to trust (the corridor file's path, where this machine has it)
        // must be the one that issued this controller's certificate.
        if let data = FileManager.default.contents(atPath: caPath), let text = String(data: data, encoding: .utf8),
            text.trimmingCharacters(in: .whitespacesAndNewlines)
                != material.caCertificatePEM.trimmingCharacters(in: .whitespacesAndNewlines)
        {
            throw ControllerError.configuration(
                "\(options.corridorPath): security.api_tls.ca \(caPath) is not the CA in --peer-tls-dir \(options.peerTLSDirectory ?? ""): clients would refuse this controller's certificate"
            )
        }
        var server: TLSConfiguration
        do {
            let chain = try NIOSSLCertificate.fromPEMBytes(Array(material.certificatePEM.utf8)).map {
                NIOSSLCertificateSource.certificate($0)
            }
            let key = try NIOSSLPrivateKey(bytes: Array(material.privateKeyPEM.utf8), format: .pem)
            server = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        } catch {
            throw ControllerError.configuration(
                "--peer-tls-dir \(options.peerTLSDirectory ?? ""): the API cannot use this controller's certificate and key: \(error)"
            )
        }
        server.minimumTLSVersion = .tlsv12
        let client: APIConnection
        do { client = try APIConnection(trustingCAPEM: material.caCertificatePEM) } catch {
            throw ControllerError.configuration("--peer-tls-dir \(options.peerTLSDirectory ?? ""): \(error)")
        }
        logger.info("API: HTTPS", metadata: ["identity": "\(material.identity)", "ca": "\(caPath)"])
        return APITLS(server: server, client: client)
    }
}

/// Ticks the Raft node, feeds it peer messages, runs the lamp driver; on graceful shutdown hands
/// leadership over and flushes.
struct CoreService: Service {
    let options: ControllerOptions
    let driver: RaftDriver
    let lamps: LampDriver
    let transport: PeerTransport
    let clock: ControllerClock

    func run() async throws {
        let inbox = PeerInbox(capacity: 4096)
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        // Peer messages go into the inbox on the transport's event loop as they arrive, without waiting for
        // the driver (and without a task between them: one thread wake-up less per message, issue 19).
        transport.deliverDirectly { m in inbox.push(m) { wake.yield() } }
        try await transport.start()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Ticks on a fixed grid of the monotonic clock: a wake-up that comes late fires every tick
                // that elapsed (at most `maxCatchUpTicks`, the rest counted as skipped), in one call that
                // first steps the messages that arrived meanwhile, so that Raft time follows the clock and
                // a late process does not blame the leader for its own stall.
                // A leader or a learner lets a heartbeat interval pass between wake-ups (`RaftDriver.tick`).
                let tickNs = UInt64(options.tickMs) * 1_000_000
                var next = monotonicNs() + tickNs
                var stride: UInt64 = 1
                while !Task.isCancelled {
                    let wakeAt = next + (stride - 1) * tickNs
                    var now = monotonicNs()
                    if wakeAt > now {
                        try? await Task.sleep(nanoseconds: wakeAt - now)
                        now = monotonicNs()
                    }
                    guard now >= wakeAt else { continue }
                    let due = (now - next) / tickNs + 1
                    let fire = min(due, max(stride, UInt64(options.maxCatchUpTicks)))
                    stride = UInt64(
                        await driver.tick(
                            count: Int(fire), dueNs: wakeAt, calledNs: now, skipped: due - fire, inbox: inbox))
                    next += due * tickNs
                }
            }
            group.addTask {
                // ... and are stepped in batches, one `Ready` per batch.
                for await _ in wakes { await driver.stepInbox(inbox) }
            }
            group.addTask {
                // Corridor time: time requests to the voters, and their answers into the estimator.
                await clock.runExchanges(transport: transport) { Set(await driver.status().membership.voters) }
            }
            group.addTask { for await s in transport.timeSamples { clock.add(s) } }
            group.addTask {
                // The lamps start on corridor time (stepped to it until now, slewed from here on).
                _ = await clock.lampsStarting()
                await lamps.run()
            }
            group.addTask {
                // Lamp events, in the order shown, into the driver's next group commit (LampEventChannel).
                await lamps.events.deliver { await driver.recordLampEvents($0) }
            }
            // Wait for SIGTERM / SIGINT (or the group shutting down).
            try? await gracefulShutdown()
            // Lamp streams end first: the HTTP server's graceful stop waits for open responses.
            await lamps.closeStreams()
            // The lamps stop, and every lamp event they showed reaches the driver before its last flush.
            await lamps.stop()
            await lamps.events.drained()
            await driver.prepareToStop(waitMs: 1_500)
            group.cancelAll()
        }
        await transport.shutdown()
    }
}
