import ArgumentParser
import Controller
import CorridorFile
import Foundation
import Logging
import SignalTiming

/// `greenwave controller`: runs one field controller as a daemon until SIGTERM.
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Run the field controller of one signal (a daemon; stop it with SIGTERM).",
        discussion: """
            Addresses come from the corridor file; --peer and --api override this controller's own.
            Restarted on the same --data folder it recovers and catches up. A folder that belongs to \
            another corridor, another signal or another corridor file, or that lost its database, is \
            refused with what differs and what to do (docs/operations.md, "Start-up refusals and recovery").
            """,
        subcommands: [ControllerResyncCommand.self]
    )

    // Required (checked in run()); optional in the parser only so that `controller resync` does
    // not ask for them.
    @OptionGroup var folder: ControllerFolderOptions
    @Option(help: "This controller's signal id (required).") var signal: Int?
    @Option(help: "Listen for peers on HOST:PORT instead of the corridor file's address.") var peer: String?
    @Option(help: "Serve the HTTP API on HOST:PORT instead of the corridor file's address.") var api: String?
    @Option(
        help:
            "Raft timing: 'loopback' (heartbeat 50 ms, election timeout 300-600 ms; one machine or LAN) or 'field' (heartbeat 100 ms, election timeout 1-2 s; a field network with tens of ms latency and some loss). --tick-ms, --election-ticks and --heartbeat-ticks override it."
    )
    var timing: String = "loopback"
    @Option(help: "Raft tick length in milliseconds (default: the --timing profile's, 10).") var tickMs: Int?
    @Option(
        help:
            "Election timeout in ticks, randomised up to twice this (default: the --timing profile's: loopback 30, field 100). At least 5 heartbeat intervals."
    )
    var electionTicks: Int?
    @Option(help: "Heartbeat interval in ticks (default: the --timing profile's: loopback 5, field 10).")
    var heartbeatTicks: Int?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"
    @Flag(
        help:
            "Serve POST /v1/debug/isolate?on=1|0 to cut this controller's peer links, and allow the --clock-* faults (tests only)."
    ) var faultInjection = false
    @Option(
        help:
            "Fault injection (needs --fault-injection): this controller's clock reads this many ms ahead (negative: behind)."
    ) var clockOffsetMs: Int64 = 0
    @Option(
        help:
            "Fault injection (needs --fault-injection): this controller's clock runs fast by this many ppm (negative: slow)."
    ) var clockDriftPpm: Int64 = 0
    @Option(help: "Fault injection (needs --fault-injection): this controller's clock jumps by this many ms ...")
    var clockStepMs: Int64 = 0
    @Option(help: "... this many ms after start.") var clockStepAfterMs: Int64 = 0
    @Option(help: "Raise the clock alarm when this controller's clock is farther than this from corridor time (ms).")
    var clockAlarmMs: Int64 = 250
    @Option(help: "Fastest correction of the lamps' clock toward corridor time once the lamps run (ppm).")
    var clockSlewPpm: Int64 = 500
    @Option(help: "Wait at most this long (ms) for corridor time before the lamps start.") var clockSyncWaitMs: Int64 =
        10_000
    @Option(help: "Close an HTTP connection after this many ms without a request in progress.") var httpIdleTimeoutMs:
        Int = 30_000
    @Option(help: "Most HTTP connections open at once (keep it well below the descriptor limit).")
    var maxHttpConnections: Int = 512
    @Option(help: "Most HTTP connections from one client address.") var maxHttpConnectionsPerAddress: Int = 256
    @Flag(
        help:
            "On a fail-stop (failed write, halted Raft core, undecodable snapshot) exit with status 70 instead of staying up for inspection."
    )
    var exitOnFailStop = false
    @Flag(
        help:
            "Start although the data folder shows a history its database lost: this node joins with no memory (no term, no vote, no log). Only safe for a learner, or for a voter already removed from the membership."
    )
    var forceNewMember = false
    @Option(
        help:
            "Mutual TLS on the peer port: a folder with ca.pem, signal-N.pem and signal-N.key (made by 'greenwave pki'). Without it peers are plaintext and unauthenticated."
    )
    var peerTlsDir: String?
    @Flag(
        help: ArgumentHelp(
            "Receive SIGTERM (a clean stop) when the parent process dies (set by 'greenwave demo').",
            visibility: .hidden))
    var exitWithParent = false
    @Option(
        help:
            "Who may read the API (status, state, lamps, metrics, operators): open; loopback (open when the API listens on loopback, else signed); signed (every read carries an operator's credential)."
    )
    var readAccess: String = "loopback"
    @Option(
        help:
            "As leader, propose an audit checkpoint (the chain head, committed through Raft) after this many new audit rows (0: only by time)."
    )
    var auditCheckpointRows: Int = 100
    @Option(help: "As leader, propose an audit checkpoint after this many ms when there are new audit rows.")
    var auditCheckpointMs: Int = 60_000

    func validate() throws {
        do { try raftTiming().validate() } catch { throw ValidationError("\(error)") }
        guard httpIdleTimeoutMs >= 100, httpIdleTimeoutMs <= 3_600_000 else {
            throw ValidationError("--http-idle-timeout-ms must be between 100 and 3600000")
        }
        guard maxHttpConnections >= 8, maxHttpConnections <= 100_000, maxHttpConnectionsPerAddress >= 1,
            maxHttpConnectionsPerAddress <= maxHttpConnections
        else {
            throw ValidationError(
                "--max-http-connections must be 8...100000 and --max-http-connections-per-address 1...that")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown --log-level '\(logLevel)'")
        }
        guard ReadAccess(rawValue: readAccess) != nil else {
            throw ValidationError("--read-access must be open, loopback or signed")
        }
        guard auditCheckpointRows >= 0, auditCheckpointRows <= 1_000_000 else {
            throw ValidationError("--audit-checkpoint-rows must be between 0 and 1000000")
        }
        guard auditCheckpointMs >= 100, auditCheckpointMs <= 86_400_000 else {
            throw ValidationError("--audit-checkpoint-ms must be between 100 and 86400000")
        }
        do { try clockSettings().validate(faultInjection: faultInjection) } catch { throw ValidationError("\(error)") }
    }

    func clockSettings() -> CorridorTimeSettings {
        var c = CorridorTimeSettings()
        c.alarmMs = clockAlarmMs
        c.maxSlewPpm = clockSlewPpm
        c.syncWaitMs = clockSyncWaitMs
        c.fault.offsetMs = clockOffsetMs
        c.fault.driftPpm = clockDriftPpm
        c.fault.stepMs = clockStepMs
        c.fault.stepAfterMs = clockStepAfterMs
        return c
    }

    func run() async throws {
        guard let corridor = folder.corridor, let signal, let data = folder.data else {
            throw ValidationError("--corridor, --signal and --data are required")
        }
        if exitWithParent {
            // A demo killed outright must not leave its controllers behind: when the parent is gone (this
            // process is re-parented), stop as on SIGTERM — a leader hands over first.
            let parent = getppid()
            Thread.detachNewThread {
                while getppid() == parent { usleep(250_000) }
                kill(getpid(), SIGTERM)
            }
        }
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        var logger = Logger(label: "greenwave.controller")
        logger[metadataKey: "signal.id"] = "\(signal)"
        let doc: CorridorDocument
        do {
            doc = try CorridorFile.load(path: corridor)
        } catch {
            throw ValidationError("\(error)")
        }
        var options = try ControllerOptions(
            corridorPath: corridor, document: doc, signal: SignalID(signal), dataDirectory: data)
        if let p = peer { options.peerListen = try parseEndpoint(p, option: "--peer") }
        if let a = api {
            options.apiListen = try parseEndpoint(a, option: "--api")
            options.apiAddresses[SignalID(signal)] = options.apiListen
        }
        options.timing = try raftTiming()
        options.faultInjection = faultInjection
        options.clock = clockSettings()
        options.exitOnFailStop = exitOnFailStop
        options.httpIdleTimeoutMs = httpIdleTimeoutMs
        options.maxHTTPConnections = maxHttpConnections
        options.maxHTTPConnectionsPerAddress = maxHttpConnectionsPerAddress
        options.forceNewMember = forceNewMember
        options.peerTLSDirectory = peerTlsDir
        options.readAccess = ReadAccess(rawValue: readAccess) ?? .loopback
        options.auditCheckpointEveryRows = auditCheckpointRows
        options.auditCheckpointEveryMs = auditCheckpointMs
        try await FieldController(options: options, logger: logger).run()
    }
}

extension ControllerCommand {
    /// The --timing profile with --tick-ms, --election-ticks and --heartbeat-ticks applied over it.
    func raftTiming() throws -> RaftTiming {
        guard var t = RaftTiming.named(timing) else {
            throw ValidationError("unknown --timing '\(timing)': 'loopback' or 'field'")
        }
        if let v = tickMs { t.tickMs = v }
        if let v = electionTicks { t.electionTicks = v }
        if let v = heartbeatTicks { t.heartbeatTicks = v }
        return t
    }
}

func parseEndpoint(_ s: String, option: String) throws -> Endpoint {
    let parts = s.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port) else {
        throw ValidationError("\(option) must be HOST:PORT, got '\(s)'")
    }
    return Endpoint(host: String(parts[0]), port: port)
}

/// `greenwave controller resync`: prepares a data folder that failed a start-up check to catch up from
/// the healthy replicas (keeps identity, term and vote; drops the log and snapshots).
struct ControllerResyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resync",
        abstract: "Make a data folder that failed a start-up check rejoin by catching up from the healthy replicas.",
        discussion: """
            Keeps the folder's identity, its term and its vote (a voter never votes twice in a term), its audit \
            rows and lamp events; drops its log and snapshots, so that on its next start the leader sends it the \
            log or a snapshot. Stop the controller first. A voter is refused unless --force: remove it from the \
            membership first (docs/operations.md explains why).
            """
    )

    @OptionGroup var folder: ControllerFolderOptions
    @Flag(help: "Re-sync a voter (it can lose a committed entry if other voters also lack it).") var force = false

    func run() throws {
        guard let corridor = folder.corridor, let data = folder.data else {
            throw ValidationError("--data and --corridor are required")
        }
        do {
            let r = try Resync.run(dataDirectory: data, corridorPath: corridor, force: force)
            print(
                "re-synced \(data) (signal \(r.node)): kept term \(r.outcome.keptHardState.term) and vote \(r.outcome.keptHardState.vote); dropped \(r.outcome.droppedEntries) log entries and \(r.outcome.droppedSnapshots) snapshots; audit rows up to index \(r.outcome.auditFloor) kept as the history before the re-sync\(r.wasVoter ? " (a voter, --force)" : ""). Start the controller: it catches up from the leader."
            )
        } catch {
            FileHandle.standardError.write(Data("greenwave controller resync: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// The options `controller` and `controller resync` share (declared once so that the parser hands
/// them to the subcommand).
struct ControllerFolderOptions: ParsableArguments {
    @Option(help: "The corridor file (required).") var corridor: String?
    @Option(help: "Data folder (SQLite database, snapshots) (required).") var data: String?
}
