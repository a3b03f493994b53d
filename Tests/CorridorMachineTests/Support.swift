import CorridorFile
import CorridorMachine
import Foundation
import GreenwaveTestSupport
import RaftCore
import RaftSimulation
import SignalTiming

/// The demo corridor (corridors/demo-5.yaml), loaded once.
enum Fixture {
    static let repoRoot: String = Repo.root.path
    static let document: CorridorDocument = {
        do { return try CorridorFile.load(path: Repo.demoCorridor) } catch { fatalError("\(error)") }
    }()
    static var corridor: Corridor { document.corridor }
    static var epoch: Int64 { document.referenceEpochMs }
    /// A leader time well after the reference epoch.
    static let t0: Int64 = 1_735_669_800_000 + 86_400_000 + 12_345

    /// The operators the tests sign as; each is an engineer in the fixture's registry.
    static let operatorNames = ["asha", "ravi", "meera", "op", "op0", "op1", "op2", "op3", "control-room"]
    static let corridorID = document.id

    static func machine(_ settings: MachineSettings = MachineSettings()) -> CorridorMachine {
        do {
            return try CorridorMachine(
                corridor: document.corridor, referenceEpochMs: document.referenceEpochMs,
                initialPlan: document.initialPlan, corridorID: corridorID,
                operators: operatorNames.map {
                    OperatorRecord(name: $0, publicKey: signer($0).publicKey, role: .engineer)
                },
                settings: settings)
        } catch { fatalError("\(error)") }
    }

    /// The test key of an operator (derived from its name).
    static func signer(_ name: String) -> OperatorSigner { OperatorSigner(name: name, seed: "test/\(name)") }

    /// Client `n` of the tests: an id created at `t0`, so exactly-once covers it for an hour after t0.
    static func client(_ n: UInt64) -> ClientID { ClientID.timed(createdAtMs: t0, random: n) }
}

/// A signed command of test client `client`.
func payload(_ c: Command, client: UInt64 = 1, seq: UInt64, at t: Int64, op: String = "asha") -> [UInt8] {
    signed(c, clientID: Fixture.client(client), seq: seq, at: t, op: op)
}

func signed(_ c: Command, clientID: ClientID, seq: UInt64, at t: Int64, op: String = "asha") -> [UInt8] {
    Fixture.signer(op).envelope(
        corridorID: Fixture.corridorID, clientID: clientID, sequence: seq, leaderTimeMs: t, command: c
    ).encoded()
}

/// `bytes` (a signed envelope whose command bytes were changed) signed again by `op`, so that it passes
/// the signature check and reaches the command decoder.
func resigned(_ bytes: [UInt8], op: String = "asha") -> [UInt8] {
    var r = ByteReader(bytes)
    let h = try! CommandEnvelope.decodeHeader(&r)
    let command = Array(bytes[r.position...])
    let message = OperatorKeys.signedMessage(
        corridorID: Fixture.corridorID, clientID: h.clientID, sequence: h.sequence,
        operatorName: h.operatorID, command: command)
    var out = bytes
    out.replaceSubrange((r.position - 64)..<r.position, with: Fixture.signer(op).sign(message))
    return out
}

/// A machine with a log cursor, for tests.
struct Driver {
    var m: CorridorMachine
    var next: UInt64 = 1
    var seq: UInt64 = 0
    /// Each test client's id carries the time of its first command.
    var created: [UInt64: Int64] = [:]
    init(_ settings: MachineSettings = MachineSettings()) { m = Fixture.machine(settings) }

    @discardableResult
    mutating func raw(_ bytes: [UInt8], kind: MachineEntryKind = .normal) -> ApplyResult {
        defer { next += 1 }
        return m.apply(index: next, term: 1, kind: kind, payload: bytes)
    }

    @discardableResult
    mutating func send(_ c: Command, client: UInt64 = 1, at t: Int64, op: String = "asha") -> ApplyResult {
        seq += 1
        if created[client] == nil { created[client] = t }
        return raw(
            signed(c, clientID: ClientID.timed(createdAtMs: created[client]!, random: client), seq: seq, at: t, op: op))
    }
}

/// The real CorridorMachine on the demo corridor, as the simulator's replicated state machine.
struct SimCorridorMachine: SimulatedStateMachine {
    static let settings = MachineSettings(safetyMarginMs: 5_000, maxSessions: 6, maxEvents: 200)
    static let fresh: CorridorMachine = Fixture.machine(settings)
    var machine: CorridorMachine

    init() { machine = Self.fresh }

    init?(snapshotData: [UInt8]) {
        guard let m = try? CorridorMachine(snapshotBytes: snapshotData) else { return nil }
        machine = m
    }

    mutating func apply(_ entry: Entry) {
        _ = machine.apply(
            index: entry.index, term: entry.term, kind: MachineEntryKind(rawValue: entry.kind.rawValue)!,
            payload: entry.data)
    }

    var appliedIndex: LogIndex { machine.appliedIndex }
    func snapshotData() -> [UInt8] { machine.snapshot().encoded() }
    var stateDigest: [UInt8] { machine.stateHash }

    static func makeCommand(sequence: UInt64, rng: inout SplitMix64) -> [UInt8] {
        CommandGenerator.make(sequence: sequence, rng: &rng)
    }
}

/// Random valid and invalid commands. Leader time grows with the sequence (busy and calm stretches);
/// the client of sequence s is a function of s, so a retry of an earlier sequence is a duplicate
/// when it was that client's last command, stale when the client has moved on, and new when the
/// original was lost.
enum CommandGenerator {
    static let plans = ["normal", "rush-hour", "night", "flash", "evening", "bogus"]
    static let stages: [String?] = [nil, "main", "side", "main-turn", "nope"]

    static func client(of seq: UInt64) -> UInt64 { (seq &* 0x9E37_79B9_7F4A_7C15) >> 62 } // 0...3

    static func make(sequence: UInt64, rng: inout SplitMix64) -> [UInt8] {
        let s = sequence & 0xFFFF_FFFF // the liveness phase sets bit 62
        // Blocks of 150: 100 busy commands 2.5 s apart, then 50 calm ones 15 s apart.
        let block = Int64(s / 150)
        let within = Int64(s % 150)
        let calm = within >= 100
        let time =
            Fixture.t0 + block * 1_000_000 + (calm ? 250_000 + (within - 100) * 15_000 : within * 2_500)
            + Int64(rng.below(2_000))
        var seq = sequence
        if rng.below(8) == 0 && s > 4 { seq = sequence - 1 - UInt64(rng.below(4)) } // a retry
        // Clients are timed ids created at the start of their block (a block spans about 21 minutes of
        // leader time, within the exactly-once window); a retry across a block boundary is a new client's.
        let created = Fixture.t0 + Int64((seq & 0xFFFF_FFFF) / 150) * 1_000_000
        let env = { (c: Command) in
            signed(
                c, clientID: ClientID.timed(createdAtMs: created, random: client(of: seq)), seq: seq, at: time,
                op: "op\(client(of: seq))")
        }
        func signal() -> SignalID { SignalID(1 + rng.below(6)) } // 6 is unknown
        // Calm stretches: only releases and unflashes, so that everything in force ends and
        // history gets compacted.
        if calm {
            switch rng.below(3) {
            case 0: return env(.unflash(nil))
            case 2: return env(.unflash(SignalID(1 + rng.below(5))))
            default: return env(.release(SignalID(1 + rng.below(5))))
            }
        }
        switch rng.below(100) {
        case 0..<3: // garbage (unique: carries the sequence)
            var w = [UInt8](repeating: 0, count: rng.below(12))
            for i in w.indices { w[i] = UInt8(truncatingIfNeeded: rng.next()) }
            return w + withUnsafeBytes(of: sequence.bigEndian, Array.init)
        case 3..<5: // a future version
            var b = env(.release(signal()))
            b[1] = 9
            return b
        case 5..<7: // an unknown command tag
            var b = env(.release(signal()))
            b[b.count - 9] = 200
            return b
        case 7..<13: return env(.setMode(PlanID(plans[rng.below(plans.count)])))
        case 13..<37: return env(.hold(signal(), stage: stages[rng.below(stages.count)]))
        case 37..<49: return env(.release(signal()))
        case 49..<56: return env(.flash(rng.below(3) == 0 ? nil : signal()))
        case 56..<66: return env(.unflash(rng.below(3) == 0 ? nil : signal()))
        case 66..<76:
            let a = 1 + rng.below(5)
            let b = 1 + rng.below(5)
            var sigs = (min(a, b)...max(a, b)).map { SignalID($0) }
            let dir: Direction = rng.below(2) == 0 ? .increasing : .decreasing
            if dir == .decreasing { sigs.reverse() }
            if rng.below(6) == 0 { sigs.shuffle(using: &rng) }
            return env(
                .preempt(
                    PreemptRequest(
                        signals: sigs, direction: dir, speedKmh: rng.below(5) == 0 ? 200 : 30 + rng.below(40),
                        leadMs: Int64(rng.below(40_000)), clearMs: Int64(rng.below(20_000)))))
        case 76..<84: return env(.cancelPreemption(logIndex: UInt64(rng.below(Int(s) * 2 + 2))))
        default:
            let cycle = Int64(60 + rng.below(4) * 10) * 1_000
            let side = Int64(16_000 + rng.below(6) * 1_000)
            var spec = PlanSpec(
                name: plans[rng.below(plans.count)], cycleMs: cycle, coordinatedStage: "main",
                splitsMs: ["main": cycle - 14_000 - side, "main-turn": 14_000, "side": side],
                progression: Progression(
                    speedKmh: 30 + rng.below(30), favoured: .increasing, favouredBandPercent: 50 + rng.below(51)))
            switch rng.below(5) {
            case 0: spec.splitsMs["side"]! += 5_000 // overrun
            case 1: spec.offsetsMs = [1: 0, 2: 1_000, 3: cycle, 4: 0, 5: 0] // offset not below cycle
            case 2: spec = .flash(spec.name)
            default: break
            }
            return env(.updatePlan(spec))
        }
    }
}
