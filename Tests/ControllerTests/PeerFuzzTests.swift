import Console
import Controller
import Foundation
import GreenwaveAPI
import RaftCore
import Transport
import XCTest

/// Fuzzes one real controller's peer port (issue 14), in two phases:
///
/// 1. **Garbage** — random bytes, truncated frames, frames with damage that the checksum catches,
///    out-of-range terms behind a correct checksum, version-1 frames, lying lengths, hellos from
///    strangers. Every one of them must be refused, so afterwards the controller's term must not have
///    jumped, and its log must hold only a few rate-limited lines about them. A control frame (a valid
///    `timeoutNow` from the leader) then shows that the harness's hellos and frames are accepted when
///    they are valid, so "refused" above means refused for the damage.
/// 2. **Mutated, checksum recomputed** — valid frames from a member with bytes changed and the checksum
///    sealed again: legitimate (if odd) Raft input, random terms ≤ 2^63 − 1 included. Only "no crash and
///    the corridor still commits" is checked: without authentication a peer that claims a member's id
///    can say anything a member can.
///
/// Afterwards every controller process is alive and a command commits. Bounded and seeded:
/// `GREENWAVE_FUZZ_FRAMES` (default 2,000), `GREENWAVE_FUZZ_SECONDS` (default 20, for both phases),
/// `GREENWAVE_FUZZ_SEED`, `GREENWAVE_FUZZ_TARGET` (a signal; default a voter that does not lead).
/// `tools/fuzz-peer` runs it longer. Lines starting `fuzz-peer:` are the report.
final class PeerFuzzTests: XCTestCase {
    private let cluster = "demo-5"

    func testGarbageAndMutatedFramesOnAPeerPortHurtNothing() async throws {
        let env = ProcessInfo.processInfo.environment
        let frames = max(10, Int(env["GREENWAVE_FUZZ_FRAMES"] ?? "") ?? 2000)
        let seconds = max(1, Double(env["GREENWAVE_FUZZ_SECONDS"] ?? "") ?? 20)
        let seed = UInt64(env["GREENWAVE_FUZZ_SEED"] ?? "") ?? 0x6772_6565_6E14
        var rng = SplitMix64(seed: seed)

        let c = try LocalCluster()
        try c.startAll()
        guard let leader = await c.waitForLeader() else { return XCTFail("no leader:\n\(c.log(1))") }
        guard await commit(c, among: c.signals, timeout: 15) else {
            return XCTFail("no command committed before the fuzz")
        }
        let target = Int(env["GREENWAVE_FUZZ_TARGET"] ?? "") ?? c.voters.first { $0 != leader }!
        let members = c.signals.filter { $0 != target }.map { NodeID($0) }
        let port = c.peerPorts[target]!
        guard let start = await c.status(target) else { return XCTFail("no status from \(target)") }
        let logBytesBefore = c.log(target).utf8.count
        let refusalLinesBefore = refusalLines(c.log(target))
        let decodeErrorsBefore = await decodeErrors(c, target)
        print(
            "fuzz-peer: seed \(seed), \(frames) frames within \(Int(seconds)) s at signal \(target)'s peer port \(port) (leader \(leader), term \(start.term), last index \(start.lastIndex))"
        )

        // Phase 1: garbage. Three quarters of the frames and of the time.
        let garbageFrames = frames * 3 / 4
        let phase1Start = Date()
        let phase1Deadline = phase1Start.addingTimeInterval(seconds * 0.75)
        var sent: [String: Int] = [:]
        var closedByController = 0
        var sentCount = 0
        var bytesSent = 0
        while sentCount < garbageFrames && Date() < phase1Deadline {
            let t = templates(
                from: members.randomElement(using: &rng)!, to: NodeID(target), term: start.term,
                last: start.lastIndex, commit: start.commitIndex, &rng)
            let (kind, bytes) = garbage(t, members: members, &rng)
            sent[kind, default: 0] += 1
            sentCount += 1
            bytesSent += bytes.count
            if exchange(port: port, bytes) { closedByController += 1 }
        }
        let phase1Seconds = Date().timeIntervalSince(phase1Start)
        try await Task.sleep(nanoseconds: 300_000_000)
        guard let afterGarbage = await c.status(target) else {
            return XCTFail(
                "signal \(target) does not answer after the garbage; alive: \(c.processes[target]!.isRunning)\n\(c.log(target).suffix(3000))"
            )
        }
        let refusalLinesPhase1 = refusalLines(c.log(target)) - refusalLinesBefore
        let decodeErrorsPhase1 = await decodeErrors(c, target) - decodeErrorsBefore
        print(
            "fuzz-peer: phase 1 (garbage): \(sentCount) connections, \(bytesSent) bytes in \(String(format: "%.1f", phase1Seconds)) s; closed by the controller: \(closedByController); decode errors counted: \(decodeErrorsPhase1)"
        )
        print(
            "fuzz-peer: phase 1 sent: \(sent.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
        )
        print(
            "fuzz-peer: phase 1 term \(start.term) -> \(afterGarbage.term); 'closing inbound connection' log lines: \(refusalLinesPhase1) for \(sentCount) refused connections"
        )
        let lines = c.log(target).split(separator: "\n").filter {
            $0.contains("closing inbound connection") || $0.contains("log lines suppressed")
        }
        let recent = lines.suffix(refusalLinesPhase1)
        for line in (recent.filter { $0.contains("suppressed=") } + recent.filter { !$0.contains("suppressed=") })
            .prefix(6)
        {
            print("fuzz-peer:   log: \(line.prefix(400))")
        }
        XCTAssertTrue(c.processes[target]!.isRunning, "the controller survives the garbage")
        XCTAssertLessThanOrEqual(
            afterGarbage.term, start.term + 3, "no term jump from garbage (an election or two may happen meanwhile)")
        XCTAssertGreaterThan(decodeErrorsPhase1, sentCount / 3, "the garbage reached the decoder")
        // At most one line per reason per 10 s (about 20 reasons), instead of one per connection.
        XCTAssertLessThanOrEqual(
            refusalLinesPhase1, 25 * (Int(phase1Seconds / 10) + 2), "refusal log lines are rate-limited")

        // Control: a valid frame on the same kind of connection is accepted (timeoutNow from the leader
        // makes the target campaign at once), so the refusals above were for the damage.
        var controlAccepted = false
        for _ in 0..<5 where !controlAccepted {
            guard let now = await c.status(target) else { break }
            let lead = NodeID(now.leader == 0 || now.leader == target ? leader : now.leader)
            guard lead != NodeID(target) else { break }
            _ = exchange(
                port: port,
                hello(lead) + encode(Message(kind: .timeoutNow, from: lead, to: NodeID(target), term: now.term)))
            let deadline = Date().addingTimeInterval(2)
            while Date() < deadline {
                if let s = await c.status(target), s.term > now.term {
                    controlAccepted = true
                    break
                }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
        }
        XCTAssertTrue(
            controlAccepted, "a valid timeoutNow from the leader through the harness makes the target campaign")
        print("fuzz-peer: control frame (valid timeoutNow from the leader) accepted: \(controlAccepted)")

        // Phase 2: valid frames from members, mutated, with the checksum recomputed.
        let phase2Start = Date()
        let phase2Deadline = phase2Start.addingTimeInterval(seconds * 0.25)
        var mutated = 0
        var decodable = 0
        let base = await c.status(target) ?? afterGarbage
        while mutated < frames - garbageFrames && Date() < phase2Deadline {
            let from = members.randomElement(using: &rng)!
            let t = templates(
                from: from, to: NodeID(target), term: base.term, last: base.lastIndex, commit: base.commitIndex, &rng)
            var b = t.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 6..<b.count - WireCodec.checksumBytes, using: &rng)
                if Bool.random(using: &rng) {
                    b[i] ^= 1 << UInt8.random(in: 0...7, using: &rng)
                } else {
                    b[i] = .random(in: 0...255, using: &rng)
                }
            }
            b = resealed(b)
            if (try? WireCodec.decode(b)) != nil { decodable += 1 }
            _ = exchange(port: port, hello(from) + b)
            mutated += 1
        }
        print(
            "fuzz-peer: phase 2 (mutated, checksum recomputed): \(mutated) frames in \(String(format: "%.1f", Date().timeIntervalSince(phase2Start))) s, \(decodable) of them decodable (legitimate Raft input)"
        )

        // Afterwards: everyone alive, and the corridor commits.
        try await Task.sleep(nanoseconds: 500_000_000)
        for s in c.signals {
            XCTAssertTrue(c.processes[s]!.isRunning, "signal \(s) is alive after the fuzz\n\(c.log(s).suffix(3000))")
        }
        let committed = await commit(c, among: c.signals.filter { $0 != target } + [target], timeout: 20)
        XCTAssertTrue(committed, "a command commits after the fuzz")
        let end = await c.status(target)
        let health: [String: String]? = await c.get(target, "/healthz")
        let logGrowth = c.log(target).utf8.count - logBytesBefore
        print(
            "fuzz-peer: after: signal \(target) alive \(c.processes[target]!.isRunning), term \(end.map { "\($0.term)" } ?? "?"), healthz \(health?["status"] ?? "not ok"), halted \(end?.halted ?? "no"); a command committed: \(committed); its log grew \(logGrowth) bytes"
        )
    }

    // MARK: - Frames

    private func encode(_ m: Message) -> [UInt8] { try! WireCodec.encode(.message(m)) }

    private func hello(_ id: NodeID, cluster: String? = nil) -> [UInt8] {
        try! WireCodec.encode(.hello(Hello(clusterID: cluster ?? self.cluster, nodeID: id)))
    }

    private func resealed(_ frame: [UInt8]) -> [UInt8] {
        var b = Array(frame.dropLast(WireCodec.checksumBytes))
        WireCodec.seal(&b)
        return b
    }

    /// Plausible frames from `from` to `to` around the target's current term and log.
    private func templates(
        from: NodeID, to: NodeID, term: Term, last: LogIndex, commit: LogIndex,
        _ rng: inout SplitMix64
    ) -> [[UInt8]] {
        let data = (0..<Int.random(in: 0...48, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let chunk = SnapshotChunk(
            index: last, term: term, membership: Membership(voters: [1, 3, 5], learners: [2, 4]),
            offset: 0, total: data.count, checksum: 0, data: data)
        return [
            Message(kind: .heartbeat, from: from, to: to, term: term, commit: commit, context: rng.next()),
            Message(
                kind: .append, from: from, to: to, term: term, logTerm: term, index: last,
                entries: [Entry(term: term, index: last + 1, data: data)], commit: commit),
            Message(kind: .append, from: from, to: to, term: term, logTerm: term, index: last + 1000, commit: commit),
            Message(
                kind: .appendResponse, from: from, to: to, term: term, index: last, reject: Bool.random(using: &rng),
                rejectHint: last, hintTerm: term),
            Message(kind: .vote, from: from, to: to, term: term + 1, logTerm: term, index: last),
            Message(kind: .preVote, from: from, to: to, term: term + 1, logTerm: term, index: last),
            Message(kind: .voteResponse, from: from, to: to, term: term, reject: true),
            Message(kind: .heartbeatResponse, from: from, to: to, term: term, context: rng.next()),
            Message(kind: .readIndex, from: from, to: to, term: 0, context: rng.next()),
            Message(kind: .snapshot, from: from, to: to, term: term, snapshot: chunk),
            Message(kind: .timeoutNow, from: from, to: to, term: term)
        ].map(encode)
    }

    /// One connection's worth of garbage: what it is, and the bytes. Every payload is checked against the
    /// local decoder (or is refused by the hello rules), so none of it is legitimate input.
    private func garbage(_ templates: [[UInt8]], members: [NodeID], _ rng: inout SplitMix64) -> (String, [UInt8]) {
        let member = members.randomElement(using: &rng)!
        let t = templates.randomElement(using: &rng)!
        func refused(_ frame: [UInt8]) -> Bool { (try? WireCodec.decode(frame)) == nil }
        func random(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        switch Int.random(in: 0..<11, using: &rng) {
        case 0:
            return ("random bytes", random(Int.random(in: 1...300, using: &rng)))
        case 1:
            return ("hello + random bytes", hello(member) + random(Int.random(in: 1...300, using: &rng)))
        case 2, 3:
            // Damage the checksum catches: flips, overwrites, insertions, deletions.
            var b = t
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 4..<b.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: b[i] ^= 1 << UInt8.random(in: 0...7, using: &rng)
                case 1: b[i] = .random(in: 0...255, using: &rng)
                case 2: b.insert(.random(in: 0...255, using: &rng), at: i)
                default: b.remove(at: i)
                }
            }
            if !refused(b) { b[b.count - 1] ^= 0x01 }
            XCTAssertTrue(refused(b), "garbage must not decode")
            return ("hello + damaged frame (checksum broken)", hello(member) + b)
        case 4:
            return (
                "hello + truncated frame", hello(member) + Array(t.prefix(Int.random(in: 0..<t.count, using: &rng)))
            )
        case 5:
            // A term or index above 2^63 - 1 behind a correct checksum: the issue's 1.6e19 term.
            let m = try! WireCodec.decode(t)
            guard case .message(let msg) = m else { return ("hello + truncated frame", hello(member)) }
            var b = Array(t.dropLast(WireCodec.checksumBytes))
            _ = msg
            let offsets = [23, 31, 39, 47, 56, 64] // term, logTerm, index, commit, rejectHint, hintTerm
            let at = offsets.randomElement(using: &rng)!
            let v = maxTerm + 1 + UInt64.random(in: 0...maxTerm, using: &rng)
            withUnsafeBytes(of: v.bigEndian) { for k in 0..<8 { b[at + k] = $0[k] } }
            WireCodec.seal(&b)
            XCTAssertTrue(refused(b))
            return ("hello + out-of-range term/index (checksum correct)", hello(member) + b)
        case 6:
            // What a version-1 peer sends: the frame without a checksum, version byte 1.
            var b = Array(t.dropLast(WireCodec.checksumBytes))
            b[4] = 1
            withUnsafeBytes(of: UInt32(b.count - 4).bigEndian) { for k in 0..<4 { b[k] = $0[k] } }
            XCTAssertTrue(refused(b))
            return ("version-1 frame", Bool.random(using: &rng) ? hello(member) + b : b)
        case 7:
            // A huge or lying declared length.
            let n =
                Bool.random(using: &rng)
                ? UInt32.random(in: 0x0080_0001 ... .max, using: &rng) : UInt32.random(in: 0...5, using: &rng)
            return (
                "hello + lying length",
                hello(member) + withUnsafeBytes(of: n.bigEndian) { Array($0) }
                    + random(Int.random(in: 0...64, using: &rng))
            )
        case 8:
            // A stranger: a node outside the corridor's members, or another corridor.
            let stranger = NodeID.random(in: 6...1000, using: &rng)
            if Bool.random(using: &rng) {
                var m = try! WireCodec.decode(t)
                if case .message(var msg) = m {
                    msg.from = stranger
                    m = .message(msg)
                }
                return ("hello from a non-member + valid frame", hello(stranger) + (try! WireCodec.encode(m)))
            }
            return ("hello from another corridor + valid frame", hello(member, cluster: "another-corridor") + t)
        case 9:
            // Random body behind a correct length, version, type and checksum.
            var b: [UInt8] =
                [0, 0, 0, 0, WireCodec.version, UInt8.random(in: 1...2, using: &rng)]
                + random(Int.random(in: 0...120, using: &rng))
            WireCodec.seal(&b)
            if !refused(b) { return ("random bytes", random(16)) }
            return ("hello + random body with a correct checksum", hello(member) + b)
        default:
            return ("valid frame before any hello", t)
        }
    }

    // MARK: - Cluster

    /// Submits commands (to `among`, in turn) until one commits or `timeout` passes.
    private func commit(_ c: LocalCluster, among: [Int], timeout: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var seq: UInt64 = 0
        let client = ConsoleClient.newClientID()
        while Date() < deadline {
            for s in among {
                seq += 1
                let r = CommandRequest(
                    operator: "fuzz", clientID: client, sequence: seq, type: "mode",
                    plan: seq % 2 == 0 ? "night" : "normal")
                if let (code, _) = await c.command(s, r), code == 200 { return true }
            }
            try? await Task.sleep(nanoseconds: 200_000_000)
        }
        return false
    }

    private func decodeErrors(_ c: LocalCluster, _ s: Int) async -> Int {
        guard let port = c.apiPorts[s],
            let (data, _) = try? await c.session.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        else { return 0 }
        let text = String(decoding: data, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("greenwave_transport_decode_errors_total") {
            return Int(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }

    private func refusalLines(_ log: String) -> Int {
        log.split(separator: "\n").filter {
            $0.contains("closing inbound connection") || $0.contains("log lines suppressed")
        }.count
    }

    // MARK: - Sockets

    /// One connection to 127.0.0.1:`port`: sends `bytes`, half-closes, and waits (at most `waitMs`) for the
    /// controller to close its side. Returns whether it did.
    private func exchange(port: Int, _ bytes: [UInt8], waitMs: Int = 2000) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else { return false }
        var tv = timeval(tv_sec: waitMs / 1000, tv_usec: (waitMs % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n <= 0 { break }
            offset += n
        }
        shutdown(fd, Int32(SHUT_WR))
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }
}
