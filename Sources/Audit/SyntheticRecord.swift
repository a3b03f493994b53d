import CorridorFile
import CorridorMachine
import Foundation
import RaftCore
import SignalTiming
import Storage

/// Writes a controller-shaped data folder with a synthetic history of N commands — what the replay
/// benchmark and the tests verify. The rows are produced exactly as the controller produces them
/// (RaftDriver.apply): each command goes through a `CorridorMachine`, and the audit row records its
/// bytes, header, text, result and the state hash after it; the log entries are stored too, with the
/// commit index at the end. The mix: mode changes, holds and releases, flashes, preemptions and
/// cancellations from four clients, with retries (duplicates), stale retries and no-op entries
/// (no audit row) in between, leader times 1–30 s apart. Deterministic for a seed.
public enum SyntheticRecord {
    public struct Summary: Sendable {
        public var rows: Int
        public var accepted: Int
        public var rejected: Int
        public var duplicates: Int
        /// Refused because the machine held too many uncompacted events (`tooManyEvents`): a history
        /// that never settles. Kept near zero so that the replay exercises real commands.
        public var saturated: Int
        /// Log index of the last entry.
        public var lastIndex: LogIndex
        /// State hash after the last command.
        public var finalStateHash: [UInt8]
    }

    /// `checkpointEvery` > 0: an audit checkpoint entry (the chain head, as a leader proposes it) after
    /// every that many rows; its row is written as a replica writes it. Checkpoints are not commands:
    /// `commands` counts commands only.
    public static func write(
        commands: Int, corridorPath: String, into dir: String, seed: UInt64 = 1, term: Term = 1,
        checkpointEvery: Int = 0, legacyV1Rows: Bool = false
    ) throws -> Summary {
        let doc: CorridorDocument
        do { doc = try CorridorFile.load(path: corridorPath) } catch {
            throw AuditError("--corridor \(corridorPath): \(error)")
        }
        if FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(RaftStore.databaseFileName))
        {
            throw AuditError("\(dir) already holds a database; give an empty folder")
        }
        let store = try RaftStore(directory: dir)
        defer { try? store.close() }
        // The folder's corridor copy names a synthetic first engineer (a key derived from the seed), who
        // registers the four operators with signed commands before anything else happens.
        guard doc.firstEngineer == nil else {
            throw AuditError(
                "--corridor \(corridorPath) names its own first engineer, whose private key a synthetic record does not have; give a corridor file without security.first_engineer"
            )
        }
        let engineer = OperatorSigner(name: "synthetic-engineer", seed: "synthetic-engineer/\(seed)")
        let signedDoc = try signedCopy(of: corridorPath, engineer: engineer, in: dir)
        var w = Writer(
            machine: try CorridorMachine(genesisOf: signedDoc), store: store, term: term,
            checkpointEvery: checkpointEvery, legacyV1Rows: legacyV1Rows, time: doc.referenceEpochMs + 86_400_000)
        var rng = SplitMix64(seed: seed)
        var clients = Clients(seed: seed, corridorID: signedDoc.id, createdAtMs: w.time)
        var plan = Planner(
            signals: doc.corridor.signals.map(\.id), plans: doc.corridor.plans.filter { !$0.isFlash }.map(\.id),
            flashPlans: doc.corridor.plans.filter(\.isFlash).map(\.id))
        try w.registerOperators(clients, engineer: engineer)
        while w.summary.rows < commands {
            try w.step(&rng, clients: &clients, plan: &plan)
        }
        w.checkpoint()
        try w.flush()
        w.summary.lastIndex = w.index
        w.summary.finalStateHash = w.machine.stateHash
        return w.summary
    }

    /// Writes the corridor file's copy into `dir`, naming `engineer` as its first engineer, and loads it.
    static func signedCopy(of corridorPath: String, engineer: OperatorSigner, in dir: String) throws -> CorridorDocument
    {
        var corridorText = try String(contentsOfFile: corridorPath, encoding: .utf8)
        if !corridorText.hasSuffix("\n") { corridorText += "\n" }
        corridorText +=
            "security:\n  first_engineer:\n    name: \(engineer.name)\n    public_key: \(Data(engineer.publicKey).base64EncodedString())\n"
        let copyPath = (dir as NSString).appendingPathComponent(DataFolder.corridorCopyName)
        try corridorText.write(toFile: copyPath, atomically: true, encoding: .utf8)
        do { return try CorridorFile.load(path: copyPath) } catch { throw AuditError("\(copyPath): \(error)") }
    }

    /// The four operators' clients: their keys, sequences and the last envelope each sent. Each client id
    /// carries its creation time and is replaced every 30 minutes of leader time, as the dashboard does, so
    /// that exactly-once covers every command (ClientID.windowMs).
    struct Clients {
        static let operators = ["asha", "ravi", "meera", "control-room"]
        static let roles: [OperatorRole] = [.supervisor, .operator, .supervisor, .supervisor]
        let corridorID: String
        let signers: [OperatorSigner]
        var sequences: [UInt64]
        var lastEnvelope: [CommandEnvelope?]
        var clientCreated: [Int64]

        init(seed: UInt64, corridorID: String, createdAtMs: Int64) {
            self.corridorID = corridorID
            signers = Self.operators.map { OperatorSigner(name: $0, seed: "\($0)/\(seed)") }
            sequences = [UInt64](repeating: 0, count: Self.operators.count)
            lastEnvelope = Array(repeating: nil, count: Self.operators.count)
            clientCreated = [Int64](repeating: createdAtMs, count: Self.operators.count)
        }

        func clientID(_ c: Int) -> ClientID { ClientID.timed(createdAtMs: clientCreated[c], random: UInt64(c + 1)) }

        /// Client `c`'s next envelope at `time`: now and then a retry of its last one (an exact duplicate, or
        /// a stale sequence), else a new command from `plan`.
        mutating func envelope(
            _ c: Int, roll: Int, time: Int64, index: LogIndex, plan: inout Planner, rng: inout SplitMix64
        ) -> CommandEnvelope {
            if roll < 5, var e = lastEnvelope[c], e.clientID == clientID(c) {
                if roll < 1, e.sequence > 1 { // a stale retry, signed as such (the old bytes would be a duplicate)
                    e = signers[c].envelope(
                        corridorID: corridorID, clientID: e.clientID, sequence: e.sequence - 1, leaderTimeMs: time,
                        command: e.command)
                } else {
                    e.leaderTimeMs = time // an exact retry (duplicate), stamped by the leader again
                }
                return e
            }
            if time - clientCreated[c] > 1_800_000 {
                clientCreated[c] = time
                sequences[c] = 0
            }
            sequences[c] += 1
            let command = plan.next(&rng, index: index)
            let envelope = signers[c].envelope(
                corridorID: corridorID, clientID: clientID(c), sequence: sequences[c], leaderTimeMs: time,
                command: command)
            lastEnvelope[c] = envelope
            return envelope
        }
    }

    /// The log, the rows and the machine as a controller writes them (RaftDriver.apply), batched into the
    /// store; and the chain as the store will hash it (the public rules), for the checkpoints.
    struct Writer {
        var machine: CorridorMachine
        let store: RaftStore
        let term: Term
        let checkpointEvery: Int
        let legacyV1Rows: Bool
        var time: Int64
        var index: LogIndex = 0
        var summary: Summary
        var entries: [Entry] = []
        var rows: [AuditRecord] = []
        var head: (index: LogIndex, hash: [UInt8]) = (0, AuditChain.zeroHash)
        var hashes: [LogIndex: [UInt8]] = [:]
        var sinceCheckpoint = 0

        init(
            machine: CorridorMachine, store: RaftStore, term: Term, checkpointEvery: Int, legacyV1Rows: Bool,
            time: Int64
        ) {
            self.machine = machine
            self.store = store
            self.term = term
            self.checkpointEvery = checkpointEvery
            self.legacyV1Rows = legacyV1Rows
            self.time = time
            summary = Summary(
                rows: 0, accepted: 0, rejected: 0, duplicates: 0, saturated: 0, lastIndex: 0,
                finalStateHash: machine.stateHash)
        }

        /// The first engineer registers the operators, one signed command each, a second apart.
        mutating func registerOperators(_ clients: Clients, engineer: OperatorSigner) throws {
            let engineerClient = ClientID.timed(createdAtMs: time, random: 0)
            for (k, s) in clients.signers.enumerated() {
                index += 1
                time += 1_000
                let e = engineer.envelope(
                    corridorID: clients.corridorID, clientID: engineerClient, sequence: UInt64(k + 1),
                    leaderTimeMs: time,
                    command: .addOperator(name: s.name, publicKey: s.publicKey, role: Clients.roles[k]))
                let bytes = e.encoded()
                entries.append(Entry(term: term, index: index, kind: .normal, data: bytes))
                let r = machine.apply(index: index, term: term, kind: .normal, payload: bytes)
                guard r.result?.isAccepted == true else {
                    throw AuditError(
                        "synthetic record: registering \(s.name) was refused: \(r.result.map { "\($0)" } ?? "?")")
                }
                record(e, r, bytes)
                summary.rows += 1
                summary.accepted += 1
            }
        }

        /// One log index: a checkpoint first if one is due, then a no-op (one in 50) or a command of a random
        /// client, applied and recorded.
        mutating func step(_ rng: inout SplitMix64, clients: inout Clients, plan: inout Planner) throws {
            checkpoint()
            index += 1
            time += Int64(rng.next(in: 1_000...30_000))
            // One no-op entry in 50: the chain skips its index, as it does for a leader's no-op.
            if rng.next(in: 0...49) == 0 {
                entries.append(Entry(term: term, index: index, kind: .noop))
                _ = machine.apply(index: index, term: term, kind: .noop, payload: [])
                return
            }
            let c = rng.next(in: 0...(Clients.operators.count - 1))
            let roll = rng.next(in: 0...99)
            let envelope = clients.envelope(c, roll: roll, time: time, index: index, plan: &plan, rng: &rng)
            // Now and then a calm stretch: what is in force has been ended (above) and twenty quiet
            // minutes let the machine fold its history into the baseline, as a real day does.
            if rng.next(in: 0...19) == 0, plan.inForce == 0 { time += 1_200_000 }
            let bytes = envelope.encoded()
            entries.append(Entry(term: term, index: index, kind: .normal, data: bytes))
            let r = machine.apply(index: index, term: term, kind: .normal, payload: bytes)
            guard r.header != nil, let result = r.result else { return }
            if !r.duplicate, result.isAccepted { plan.accepted(envelope.command, index: index) }
            record(envelope, r, bytes)
            summary.rows += 1
            if r.duplicate {
                summary.duplicates += 1
            } else if result.isAccepted {
                summary.accepted += 1
            } else {
                summary.rejected += 1
            }
            if !r.duplicate, result.code == .tooManyEvents { summary.saturated += 1 }
            if rows.count >= 2_000 { try flush() }
        }

        mutating func chained(_ r: AuditRecord) {
            let h = AuditChain.rowHash(r, prevIndex: head.index, prevRowHash: head.hash)
            head = (r.index, h)
            if checkpointEvery > 0 { hashes[r.index] = h }
            sinceCheckpoint += 1
        }

        mutating func checkpoint() {
            guard checkpointEvery > 0, sinceCheckpoint >= checkpointEvery else { return }
            index += 1
            let cp = AuditCheckpoint(headIndex: head.index, headHash: head.hash, leaderTimeMs: time)
            let bytes = cp.encoded()
            entries.append(Entry(term: term, index: index, kind: .normal, data: bytes))
            let r = machine.apply(index: index, term: term, kind: .normal, payload: bytes)
            let row = AuditRecord(
                index: index, term: term, leaderTimeMs: cp.leaderTimeMs, operatorName: "", clientID: "", sequence: 0,
                command: bytes, stateHash: r.stateHash, commandKind: AuditCheckpoint.kindName,
                outcome: .checkpoint(ownHeadHash: cp.headIndex > 0 ? hashes[cp.headIndex] : nil))
            rows.append(row)
            chained(row)
            sinceCheckpoint = 0
        }

        mutating func flush() throws {
            guard !entries.isEmpty || !rows.isEmpty else { return }
            var batch = WriteBatch(auditRecords: rows)
            batch.add(hardState: HardState(term: term, vote: 0, commit: index), entries: entries)
            try store.commit(batch)
            entries = []
            rows = []
        }

        mutating func record(_ envelope: CommandEnvelope, _ r: ApplyResult, _ bytes: [UInt8]) {
            guard let header = r.header, let result = r.result else { return }
            // v2 (typed evidence) as the controller writes it; `legacyV1Rows`: the v1 writer the landed
            // code used (texts recorded, reflection included), kept for migration tests.
            let row =
                legacyV1Rows
                ? AuditRecord(
                    index: index, term: term, leaderTimeMs: header.leaderTimeMs, operatorName: header.operatorID,
                    clientID: header.clientID.description, sequence: header.sequence, command: bytes,
                    commandText: "\(envelope.command)", result: "\(result)", stateHash: r.stateHash)
                : AuditRecord(
                    index: index, term: term, leaderTimeMs: header.leaderTimeMs, operatorName: header.operatorID,
                    clientID: header.clientID.description, sequence: header.sequence, command: bytes,
                    stateHash: r.stateHash, commandKind: envelope.command.kindName, outcome: Evidence.outcome(result))
            rows.append(row)
            chained(row)
        }
    }
}

/// Chooses commands the way a control room issues them: mostly valid, some refused (releasing a
/// signal that is not held, an unknown plan name…), and whatever is put in force is ended again.
struct Planner {
    let signals: [SignalID]
    let plans: [PlanID]
    let flashPlans: [PlanID]
    var held: [SignalID] = []
    var flashing: [SignalID] = []
    var corridorFlash = false
    var preempts: [LogIndex] = []
    var inForce: Int { held.count + flashing.count + (corridorFlash ? 1 : 0) }

    mutating func accepted(_ c: Command, index: LogIndex) {
        switch c {
        case .hold(let s, _): if !held.contains(s) { held.append(s) }
        case .release(let s): held.removeAll { $0 == s }
        case .flash(let s?): flashing.append(s)
        case .unflash(let s?): flashing.removeAll { $0 == s }
        case .flash(nil): corridorFlash = true
        case .unflash(nil): corridorFlash = false
        case .preempt:
            preempts.append(index)
            if preempts.count > 4 { preempts.removeFirst() }
        default: break
        }
    }

    func any<T>(_ a: [T], _ rng: inout SplitMix64) -> T { a[rng.next(in: 0...(a.count - 1))] }

    func next(_ rng: inout SplitMix64, index: LogIndex) -> Command {
        // End what is in force first, most of the time.
        if corridorFlash, rng.next(in: 0...2) > 0 { return .unflash(nil) }
        if !flashing.isEmpty, rng.next(in: 0...2) > 0 { return .unflash(any(flashing, &rng)) }
        if !held.isEmpty, rng.next(in: 0...2) > 0 { return .release(any(held, &rng)) }
        let s = any(signals, &rng)
        switch rng.next(in: 0...99) {
        // Mode changes are rare, as in a control room: each one queues at a cycle boundary after the
        // previous one, so a burst of them would keep the history from ever settling.
        case 0..<6: return .setMode(any(plans, &rng))
        case 6..<7: return .setMode(flashPlans.isEmpty ? PlanID("no-such-plan") : any(flashPlans, &rng))
        case 7..<9: return .setMode(PlanID("no-such-plan")) // refused: unknown plan
        case 9..<29: return .hold(s, stage: nil)
        case 29..<37: return .release(s) // mostly refused: not held
        case 37..<49: return .flash(s)
        case 49..<54: return .unflash(s)
        case 54..<57: return .flash(nil)
        case 57..<85:
            let first = rng.next(in: 0...(signals.count - 1))
            let n = min(signals.count - first, rng.next(in: 1...4))
            return .preempt(
                PreemptRequest(
                    signals: Array(signals[first..<(first + n)]),
                    direction: rng.next(in: 0...1) == 0 ? .increasing : .decreasing))
        default:
            return .cancelPreemption(logIndex: preempts.last ?? index)
        }
    }
}

extension SplitMix64 {
    /// A value in `r`, from RaftCore's seeded generator.
    mutating func next(in r: ClosedRange<Int>) -> Int { r.lowerBound + below(r.upperBound - r.lowerBound + 1) }
}
