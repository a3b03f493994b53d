import CorridorFile
import Foundation
import GreenwaveAPI
import RaftCore
import SignalTiming

/// Everything one field controller needs to start: its corridor, its signal, its data folder, the
/// addresses (from the corridor file unless overridden) and the Raft timing.
public struct ControllerOptions: Sendable {
    public var corridorPath: String
    public var document: CorridorDocument
    public var signal: SignalID
    public var dataDirectory: String
    /// Where this controller listens for peers and for HTTP.
    public var peerListen: Endpoint
    public var apiListen: Endpoint
    /// Peer (Raft) and API addresses of every signal, by signal.
    public var peerAddresses: [SignalID: Endpoint]
    public var apiAddresses: [SignalID: Endpoint]
    /// Wall-clock length of one Raft tick.
    public var tickMs: Int = RaftTiming.loopback.tickMs
    /// Ticks before a follower campaigns (randomised up to twice this): 30 × 10 ms = 300–600 ms, as
    /// etcd's default election timeout. Also a leader's check-quorum window.
    public var electionTicks: Int = RaftTiming.loopback.electionTicks
    /// Ticks between leader heartbeats: 5 × 10 ms = 50 ms.
    public var heartbeatTicks: Int = RaftTiming.loopback.heartbeatTicks
    /// Most ticks one late wake-up of the tick loop fires (it fires the ticks that elapsed on the monotonic
    /// clock, up to this; the rest are skipped and counted). One heartbeat interval: a leader that was not
    /// scheduled sends its heartbeat at once, and a stall of this process moves no election timer, nor a
    /// leader's check-quorum window, by more than one heartbeat interval.
    public var maxCatchUpTicks: Int { heartbeatTicks }

    /// The Raft timing in force.
    public var timing: RaftTiming {
        get { RaftTiming(tickMs: tickMs, electionTicks: electionTicks, heartbeatTicks: heartbeatTicks) }
        set {
            tickMs = newValue.tickMs
            electionTicks = newValue.electionTicks
            heartbeatTicks = newValue.heartbeatTicks
        }
    }
    /// Applied entries between snapshots (the log before a snapshot is deleted).
    public var snapshotEveryEntries: Int = 2_000
    /// The leader proposes an audit checkpoint (its chain head, committed through Raft: docs/audit.md)
    /// after this many new audit rows, or after `auditCheckpointEveryMs` when at least one row is new.
    /// 0 turns the count rule off (the time rule stays).
    public var auditCheckpointEveryRows: Int = 100
    public var auditCheckpointEveryMs: Int = 60_000
    /// How long a command waits to be committed and applied before the API answers 503.
    public var proposalTimeoutMs: Int = 5_000
    /// The longest the lamp driver sleeps: it wakes at the signal's next change, at the next event taking
    /// effect and when an entry is applied (AppliedSignal), and at the latest after this (a safety net for
    /// a plan shown that changes without a lamp change; it used to poll every 100 ms).
    public var lampPeriodMs: Int = 1_000
    /// Largest HTTP request body accepted. A command body is a few hundred bytes; a larger one is
    /// refused with 413 before it is read (when it declares its length) or as soon as it passes this.
    public var maxBodyBytes: Int = 8 * 1024
    /// HTTP connections: closed after this long without a request in progress (a lamp stream is a request
    /// in progress), at most this many open, at most this many from one client address.
    public var httpIdleTimeoutMs: Int = 30_000
    public var maxHTTPConnections: Int = 512
    public var maxHTTPConnectionsPerAddress: Int = 256
    /// Who may read the API (`--read-access`); `loopback`: open when the API listens on loopback only.
    public var readAccess: ReadAccess = .loopback
    /// Reads need a signed credential (`ReadCredential`).
    public var readsNeedCredential: Bool {
        switch readAccess {
        case .open: return false
        case .signed: return true
        case .loopback: return !isLoopbackHost(apiListen.host)
        }
    }
    /// Serve `POST /v1/debug/isolate` (cut or restore all peer links) and `POST /v1/debug/fail-persist`
    /// (the next durable write fails), for fault-injection tests.
    public var faultInjection = false
    /// On a fail-stop, exit with status 70 after logging (for a supervisor that restarts the process)
    /// instead of staying up for inspection. See docs/operations.md, "Fail-stops".
    public var exitOnFailStop = false
    /// `--force-new-member`: start although the folder shows a history its database lost (this node
    /// joins with no memory; safe only for a learner, or for a voter already removed from the membership).
    public var forceNewMember = false
    /// Mutual TLS on the peer port: a folder with `ca.pem`, `signal-N.pem` and `signal-N.key` (`greenwave pki`).
    /// nil: plaintext, unauthenticated peers.
    public var peerTLSDirectory: String? = nil
    /// Corridor time: alarm bound, slew rate, start-up wait, and the clock fault of tests (docs/corridor-time.md).
    public var clock = CorridorTimeSettings()

    public init(corridorPath: String, document: CorridorDocument, signal: SignalID, dataDirectory: String) throws {
        guard document.corridor.signals.contains(where: { $0.id == signal }) else {
            throw ControllerError.configuration("signal \(signal) is not in \(corridorPath)")
        }
        if let problem = document.referenceEpochProblem(nowMs: wallClockMs()) {
            throw ControllerError.configuration("\(corridorPath): \(problem)")
        }
        guard document.firstEngineer != nil else {
            throw ControllerError.configuration(
                "\(corridorPath): security.first_engineer: missing. Every command must be signed by an operator's key, and the first engineer's public key is where the operator registry starts: run 'greenwave operator keygen --name NAME' and add the 'security:' block it prints (docs/security.md)"
            )
        }
        self.corridorPath = corridorPath
        self.document = document
        self.signal = signal
        self.dataDirectory = dataDirectory
        var peers: [SignalID: Endpoint] = [:]
        var apis: [SignalID: Endpoint] = [:]
        for e in document.endpoints {
            peers[e.signal] = e.peer
            apis[e.signal] = e.api
        }
        guard let p = peers[signal], let a = apis[signal] else {
            throw ControllerError.configuration("signal \(signal) has no peer/api address in \(corridorPath)")
        }
        self.peerAddresses = peers
        self.apiAddresses = apis
        self.peerListen = p
        self.apiListen = a
        if document.apiCertificateAuthority == nil && !isLoopbackHost(a.host) {
            throw ControllerError.configuration(
                "\(corridorPath): signal \(signal)'s API listens on \(a.host), which is not a loopback address, and the corridor's API is plain HTTP: anyone on that network could read it and see every signed command in clear. Serve it over TLS: add 'security: api_tls: ca: PATH' (the corridor CA's certificate) and start with --peer-tls-dir (docs/security.md, \"API TLS\")"
            )
        }
    }

    /// Raft node ids are signal ids.
    public var nodeID: NodeID { NodeID(signal.rawValue) }

    /// Voters from the corridor file; every other signal is a learner.
    public var membership: Membership {
        let voters = document.voters.map { NodeID($0.rawValue) }
        let all = document.corridor.signals.map { NodeID($0.id.rawValue) }
        return Membership(voters: voters, learners: all.filter { !voters.contains($0) })
    }

    public var raftConfig: RaftConfig {
        var c = RaftConfig(
            id: nodeID, membership: membership,
            seed: UInt64(truncatingIfNeeded: ProcessInfo.processInfo.processIdentifier))
        c.electionTicks = electionTicks
        c.heartbeatTicks = heartbeatTicks
        // Learners (42 of the 47 on the shipped corridor) hear a heartbeat once per election timeout; every
        // commit still reaches them at once (issue 16: the leader's event loop fell behind under load).
        c.learnerHeartbeatTicks = electionTicks
        // Followers pass commands to the leader over HTTP (the one forwarding path; RaftCore has none),
        // and the leader proposes only envelopes it built and stamped with its own clock.
        return c
    }
}

/// Election and heartbeat timing (docs/operations.md, "Raft timing"). Raft counts ticks; a tick is `tickMs`
/// of the monotonic clock.
public struct RaftTiming: Sendable, Equatable, CustomStringConvertible {
    public var tickMs: Int
    /// A follower campaigns after `electionTicks`…`2 × electionTicks − 1` ticks without a leader.
    public var electionTicks: Int
    public var heartbeatTicks: Int

    public init(tickMs: Int, electionTicks: Int, heartbeatTicks: Int) {
        self.tickMs = tickMs
        self.electionTicks = electionTicks
        self.heartbeatTicks = heartbeatTicks
    }

    /// Controllers on one machine or one LAN (the demo, the tests): heartbeat 50 ms, election timeout
    /// 300–600 ms.
    public static let loopback = RaftTiming(tickMs: 10, electionTicks: 30, heartbeatTicks: 5)
    /// Controllers on a field network (cellular or radio backhaul: round trips of tens of ms, up to a few
    /// hundred, and some loss): heartbeat 100 ms, election timeout 1–2 s. A heartbeat lost on TCP is
    /// retransmitted after at least the kernel's minimum RTO (200 ms on Linux), twice that for a second
    /// loss; 1 s leaves room for two retransmissions of one heartbeat plus a round trip before anyone
    /// campaigns, and a follower campaigns only after ten heartbeat intervals of silence.
    public static let field = RaftTiming(tickMs: 10, electionTicks: 100, heartbeatTicks: 10)

    public static func named(_ name: String) -> RaftTiming? {
        switch name {
        case "loopback": return .loopback
        case "field": return .field
        default: return nil
        }
    }

    public var heartbeatMs: Int { heartbeatTicks * tickMs }
    public var electionTimeoutMs: Int { electionTicks * tickMs }

    /// Heartbeats a follower misses before it may campaign.
    public static let minHeartbeatsPerElectionTimeout = 5
    public static let electionTimeoutRangeMs = 100...60_000

    /// Throws a `ControllerError.configuration` naming the first setting out of range and why.
    public func validate() throws {
        guard (1...1000).contains(tickMs) else {
            throw ControllerError.configuration("the Raft tick (--tick-ms) must be 1...1000 ms, got \(tickMs)")
        }
        guard heartbeatTicks >= 1 else {
            throw ControllerError.configuration(
                "the heartbeat interval (--heartbeat-ticks) must be at least 1 tick, got \(heartbeatTicks)")
        }
        guard electionTicks >= Self.minHeartbeatsPerElectionTimeout * heartbeatTicks else {
            throw ControllerError.configuration(
                "the election timeout (\(electionTicks) ticks = \(electionTimeoutMs) ms) must be at least \(Self.minHeartbeatsPerElectionTimeout) heartbeat intervals "
                    + "(\(Self.minHeartbeatsPerElectionTimeout) × \(heartbeatTicks) ticks = \(Self.minHeartbeatsPerElectionTimeout * heartbeatMs) ms): with fewer, one or two "
                    + "heartbeats lost or delayed make a follower campaign; raise --election-ticks or lower --heartbeat-ticks"
            )
        }
        guard Self.electionTimeoutRangeMs.contains(electionTimeoutMs) else {
            throw ControllerError.configuration(
                "the election timeout (\(electionTicks) ticks × \(tickMs) ms = \(electionTimeoutMs) ms) must be \(Self.electionTimeoutRangeMs.lowerBound)...\(Self.electionTimeoutRangeMs.upperBound) ms: "
                    + "shorter ones are exceeded by scheduling delays on a busy machine (docs/operations.md, \"Raft timing\"), longer ones leave a corridor without a leader for minutes"
            )
        }
    }

    public var description: String {
        "tick \(tickMs) ms, heartbeat \(heartbeatTicks) ticks (\(heartbeatMs) ms), election timeout \(electionTicks) ticks (\(electionTimeoutMs)–\(2 * electionTimeoutMs) ms)"
    }
}

public enum ControllerError: Error, CustomStringConvertible, Sendable {
    case configuration(String)
    case notLeader(leader: NodeID)
    case noLeader
    case timeout(String)
    case superseded(index: LogIndex)
    case rejected(String)
    case shuttingDown
    case halted(String)
    /// The leader's replica refuses the command's signature (HTTP 401) or its signer's role (403).
    case unauthorized(String)
    case forbidden(String)

    public var description: String {
        switch self {
        case .configuration(let s): return s
        case .notLeader(let l): return "this controller is not the leader; the leader is \(l)"
        case .noLeader: return "no leader is known: the corridor has no quorum right now"
        case .timeout(let s): return s
        case .superseded(let i):
            return
                "the command at index \(i) was overwritten by a new leader before it committed; retry with the same client id and sequence"
        case .rejected(let s): return s
        case .shuttingDown: return "this controller is shutting down"
        case .halted(let s): return "this controller has stopped taking part in Raft (fail-stop): \(s)"
        case .unauthorized(let s), .forbidden(let s): return s
        }
    }
}

/// Monotonic nanoseconds, for latencies.
@inline(__always) func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
