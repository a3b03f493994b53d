import CorridorMachine
import RaftCore
import RaftSimulation
import SignalTiming
import XCTest

/// Every command is signed; every replica verifies the signature and the signer's role when it applies
/// the entry (issue 13). Each refusal here would be an acceptance without the check.
final class SignedCommandTests: XCTestCase {
    let t = Fixture.t0
    var client: ClientID { Fixture.client(1) }

    func envelope(
        _ c: Command, op: String = "asha", seq: UInt64 = 1, corridor: String = Fixture.corridorID
    ) -> CommandEnvelope {
        Fixture.signer(op).envelope(corridorID: corridor, clientID: client, sequence: seq, leaderTimeMs: t, command: c)
    }

    /// Applies `bytes` and checks it is refused as unauthorized without changing the state.
    func assertRefused(
        _ d: inout Driver, _ bytes: [UInt8], _ why: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        let before = d.m.stateHash
        let r = d.raw(bytes)
        XCTAssertEqual(r.result?.code, .unauthorized, "\(r.result.map { "\($0)" } ?? "nil")", file: file, line: line)
        XCTAssertTrue(r.result?.reason?.contains(why) == true, r.result?.reason ?? "", file: file, line: line)
        XCTAssertEqual(d.m.stateHash, before, "a refused signature changes nothing", file: file, line: line)
        XCTAssertNil(d.m.corridorFlash, file: file, line: line)
    }

    func testUnsignedForgedAlteredAndMisdirectedCommandsAreRefused() {
        var d = Driver()
        // Unsigned (the envelope of before this issue).
        assertRefused(
            &d,
            CommandEnvelope(operatorID: "asha", clientID: client, sequence: 1, leaderTimeMs: t, command: .flash(nil))
                .encoded(), "unsigned")
        // A key nobody registered, under a registered name.
        let stranger = OperatorSigner(name: "asha", seed: "someone else")
        assertRefused(
            &d,
            stranger.envelope(
                corridorID: Fixture.corridorID, clientID: client, sequence: 1, leaderTimeMs: t, command: .flash(nil)
            ).encoded(),
            "not in the operator registry")
        // Asha's key id with a made-up signature.
        var fake = envelope(.flash(nil))
        fake.signature!.bytes = Array(repeating: 0x5A, count: 64)
        assertRefused(&d, fake.encoded(), "does not verify")
        // A signed hold whose command was changed to a corridor flash.
        var altered = envelope(.hold(SignalID(2), stage: nil))
        altered.command = .flash(nil)
        assertRefused(&d, altered.encoded(), "does not verify")
        // The same signature, another sequence number (a replay dressed as a new command).
        var replay = envelope(.flash(nil), seq: 1)
        replay.sequence = 2
        assertRefused(&d, replay.encoded(), "does not verify")
        // Signed for another corridor.
        assertRefused(&d, envelope(.flash(nil), corridor: "another-corridor").encoded(), "does not verify")
        // Signed by asha's key, but the envelope names ravi.
        var renamed = envelope(.flash(nil))
        renamed.operatorID = "ravi"
        assertRefused(&d, renamed.encoded(), "but the command names 'ravi'")
        // The genuine command still applies, exactly once.
        let ok = d.raw(envelope(.flash(nil)).encoded())
        XCTAssertTrue(ok.result!.isAccepted)
        let again = d.raw(envelope(.flash(nil)).encoded())
        XCTAssertTrue(again.duplicate)
        XCTAssertEqual(again.result, ok.result)
    }

    func testRolesLimitWhatEachOperatorMayOrder() {
        var d = Driver()
        let viewer = Fixture.signer("vera")
        let op = Fixture.signer("otto")
        let sup = Fixture.signer("suri")
        for (s, role) in [(viewer, OperatorRole.viewer), (op, .operator), (sup, .supervisor)] {
            XCTAssertTrue(
                d.send(.addOperator(name: s.name, publicKey: s.publicKey, role: role), at: t).result!.isAccepted, s.name
            )
        }
        func send(_ s: OperatorSigner, _ c: Command, seq: UInt64) -> ApplyResult {
            d.raw(
                s.envelope(
                    corridorID: Fixture.corridorID, clientID: ClientID.timed(createdAtMs: t, random: s.keyID),
                    sequence: seq,
                    leaderTimeMs: t + 1_000, command: c
                ).encoded())
        }
        let viewerHold = send(viewer, .hold(SignalID(2), stage: nil), seq: 1)
        XCTAssertEqual(viewerHold.result?.code, .forbidden)
        XCTAssertEqual(viewerHold.result?.reason, "'vera' is a viewer; this command needs a operator")
        XCTAssertTrue(d.m.holds.isEmpty)
        XCTAssertEqual(send(op, .flash(nil), seq: 1).result?.code, .forbidden, "an operator cannot flash the corridor")
        XCTAssertNil(d.m.corridorFlash)
        XCTAssertTrue(send(op, .flash(SignalID(3)), seq: 2).result!.isAccepted, "but may flash one signal")
        XCTAssertEqual(
            send(sup, .updatePlan(.flash("blink")), seq: 1).result?.code, .forbidden, "plans are for engineers")
        XCTAssertEqual(
            send(sup, .addOperator(name: "x", publicKey: Fixture.signer("x").publicKey, role: .engineer), seq: 2)
                .result?.code, .forbidden)
        XCTAssertTrue(send(sup, .flash(nil), seq: 3).result!.isAccepted, "a supervisor may flash the corridor")
        XCTAssertNotNil(d.m.corridorFlash)
        // A forbidden command is a definite answer: a retry gets the same one.
        XCTAssertTrue(send(viewer, .hold(SignalID(2), stage: nil), seq: 1).duplicate)
    }

    func testRevokedKeysAndRoleChangesTakeEffectAtTheirIndex() {
        var d = Driver()
        let otto = Fixture.signer("otto")
        XCTAssertTrue(
            d.send(.addOperator(name: "otto", publicKey: otto.publicKey, role: .operator), at: t).result!.isAccepted)
        func byOtto(_ c: Command, seq: UInt64) -> ApplyResult {
            d.raw(
                otto.envelope(
                    corridorID: Fixture.corridorID, clientID: ClientID.timed(createdAtMs: t, random: 77), sequence: seq,
                    leaderTimeMs: t + 1_000, command: c
                ).encoded())
        }
        XCTAssertTrue(byOtto(.hold(SignalID(2), stage: nil), seq: 1).result!.isAccepted)
        XCTAssertTrue(d.send(.setRole(name: "otto", role: .viewer), at: t + 2_000).result!.isAccepted)
        XCTAssertEqual(byOtto(.release(SignalID(2)), seq: 2).result?.code, .forbidden)
        XCTAssertTrue(d.send(.setRole(name: "otto", role: .operator), at: t + 3_000).result!.isAccepted)
        let revoke = d.send(.revokeKey(keyID: otto.keyID), at: t + 4_000)
        XCTAssertTrue(revoke.result!.isAccepted)
        let after = byOtto(.release(SignalID(2)), seq: 3)
        XCTAssertEqual(after.result?.code, .unauthorized)
        XCTAssertTrue(after.result!.reason!.contains("revoked by command \(revoke.index)"), after.result!.reason!)
        XCTAssertEqual(d.m.operatorKey(otto.keyID)?.revokedAtIndex, revoke.index, "a revoked key stays in the registry")
        // Its id can never be given to a key again.
        XCTAssertEqual(
            d.send(.addOperator(name: "otto2", publicKey: otto.publicKey, role: .operator), at: t + 5_000).result?.code,
            .invalidCommand)
    }

    func testTheLastEngineerCannotBeRemovedAndNamesAndKeysAreChecked() {
        // A corridor with one engineer.
        let asha = Fixture.signer("asha")
        var m = try! CorridorMachine(
            corridor: Fixture.corridor, referenceEpochMs: Fixture.epoch, initialPlan: Fixture.document.initialPlan,
            corridorID: Fixture.corridorID,
            operators: [OperatorRecord(name: "asha", publicKey: asha.publicKey, role: .engineer)])
        var index: UInt64 = 0
        func send(_ c: Command) -> CommandResult? {
            index += 1
            return m.apply(
                index: index, term: 1, kind: .normal,
                payload: asha.envelope(
                    corridorID: Fixture.corridorID, clientID: Fixture.client(1),
                    sequence: index, leaderTimeMs: t, command: c
                ).encoded()
            ).result
        }
        XCTAssertEqual(send(.revokeKey(keyID: asha.keyID))?.code, .invalidCommand)
        XCTAssertEqual(send(.setRole(name: "asha", role: .supervisor))?.code, .invalidCommand)
        XCTAssertEqual(
            send(.addOperator(name: "bad name", publicKey: Fixture.signer("b").publicKey, role: .viewer))?.code,
            .invalidCommand)
        XCTAssertEqual(send(.addOperator(name: "b", publicKey: [1, 2, 3], role: .viewer))?.code, .invalidCommand)
        XCTAssertEqual(
            send(.addOperator(name: "asha", publicKey: Fixture.signer("asha-2").publicKey, role: .viewer))?.code,
            .invalidCommand,
            "a second key of a name takes the name's role")
        // Rotation: a second key for asha, then the first one revoked with it.
        let asha2 = Fixture.signer("asha-2")
        XCTAssertTrue(send(.addOperator(name: "asha", publicKey: asha2.publicKey, role: .engineer))!.isAccepted)
        XCTAssertTrue(send(.revokeKey(keyID: asha.keyID))!.isAccepted)
        index += 1
        let r = m.apply(
            index: index, term: 1, kind: .normal,
            payload: (try! OperatorSigner(name: "asha", privateKey: asha2.privateKey)).envelope(
                corridorID: Fixture.corridorID, clientID: Fixture.client(2), sequence: 1, leaderTimeMs: t,
                command: .flash(nil)
            ).encoded())
        XCTAssertTrue(r.result!.isAccepted, "the new key signs")
        // The registry survives a snapshot.
        let restored = try! CorridorMachine(snapshot: m.snapshot())
        XCTAssertEqual(restored.operators, m.operators)
        XCTAssertEqual(restored.stateHash, m.stateHash)
        XCTAssertThrowsError(
            try CorridorMachine(
                corridor: Fixture.corridor, referenceEpochMs: Fixture.epoch, initialPlan: Fixture.document.initialPlan,
                corridorID: "x", operators: []), "a corridor nobody can command is refused")
    }

    /// Hostile entries appended straight into the leader's log (as a compromised leader would), in a
    /// simulated cluster with crashes, partitions and snapshots: every replica refuses every one, and
    /// none changes any replica's state.
    func testForgedEntriesInTheLeadersLogAreRefusedByEveryReplica() {
        HostileMachine.reset()
        for seed in UInt64(1)...12 {
            var options = SimulationOptions()
            options.faultSteps = 800
            let r = ClusterSimulation<HostileMachine>.run(seed: seed, options: options)
            XCTAssertEqual(r.violations, [], "seed \(seed)")
        }
        let counts = HostileMachine.counts()
        print("hostile entries applied: \(counts.refused) refused, \(counts.other) otherwise")
        XCTAssertGreaterThan(counts.refused, 60)
        XCTAssertEqual(counts.other, 0, "a hostile entry was applied by some replica")
    }
}

/// The real CorridorMachine fed only hostile commands: unsigned, forged, altered, replayed, signed for
/// another corridor. Counts what every replica made of them.
struct HostileMachine: SimulatedStateMachine {
    nonisolated(unsafe) static var refused = 0
    nonisolated(unsafe) static var other = 0
    static func reset() {
        refused = 0
        other = 0
    }
    static func counts() -> (refused: Int, other: Int) { (refused, other) }

    var inner = SimCorridorMachine()
    init() {}
    init?(snapshotData: [UInt8]) {
        guard let m = SimCorridorMachine(snapshotData: snapshotData) else { return nil }
        inner = m
    }
    mutating func apply(_ entry: Entry) {
        let r = inner.machine.apply(
            index: entry.index, term: entry.term, kind: MachineEntryKind(rawValue: entry.kind.rawValue)!,
            payload: entry.data)
        guard entry.kind == .normal, let result = r.result else { return }
        if result.code == .unauthorized, r.stateHash == SimCorridorMachine.fresh.stateHash {
            Self.refused += 1
        } else {
            Self.other += 1
        }
    }
    var appliedIndex: LogIndex { inner.appliedIndex }
    func snapshotData() -> [UInt8] { inner.snapshotData() }
    var stateDigest: [UInt8] { inner.stateDigest }

    static func makeCommand(sequence: UInt64, rng: inout SplitMix64) -> [UInt8] {
        let t = Fixture.t0 + Int64(sequence & 0xFFFF) * 1_000
        let id = ClientID.timed(createdAtMs: Fixture.t0, random: sequence)
        let asha = Fixture.signer("asha")
        let commands: [Command] = [
            .flash(nil), .setMode(PlanID("night")), .hold(SignalID(2), stage: nil), .updatePlan(.flash("x"))
        ]
        let c = commands[rng.below(commands.count)]
        var e = asha.envelope(
            corridorID: Fixture.corridorID, clientID: id, sequence: sequence, leaderTimeMs: t, command: c)
        switch rng.below(6) {
        case 0: e.signature = nil
        case 1:
            e = OperatorSigner(name: "asha", seed: "forger").envelope(
                corridorID: Fixture.corridorID, clientID: id, sequence: sequence, leaderTimeMs: t, command: c)
        case 2: e.signature!.bytes[rng.below(64)] ^= 0x01
        case 3: e.command = .unflash(nil)
        case 4: e.sequence = sequence ^ (1 << 40)
        default:
            e = asha.envelope(
                corridorID: "another-corridor", clientID: id, sequence: sequence, leaderTimeMs: t, command: c)
        }
        return e.encoded()
    }

    /// The memo of verified signatures remembers successes only, never lets an altered message, another
    /// signature or another key through on the strength of a remembered one, and stays within its bound.
    func testRememberedSignaturesAnswerLikeVerificationAndStayBounded() {
        let memo = VerifiedSignatures(capacity: 3)
        let asha = Fixture.signer("asha")
        let ravi = Fixture.signer("ravi")
        let message = Array("hold S12".utf8)
        let sig = asha.sign(message)
        XCTAssertTrue(
            OperatorKeys.verifyRemembered(publicKey: asha.publicKey, signature: sig, message: message, memo: memo))
        XCTAssertEqual(memo.count, 1)
        // Remembered: the same triple again; anything else is verified, and refused.
        XCTAssertTrue(
            OperatorKeys.verifyRemembered(publicKey: asha.publicKey, signature: sig, message: message, memo: memo))
        XCTAssertFalse(
            OperatorKeys.verifyRemembered(publicKey: asha.publicKey, signature: sig, message: message + [0], memo: memo)
        )
        XCTAssertFalse(
            OperatorKeys.verifyRemembered(publicKey: ravi.publicKey, signature: sig, message: message, memo: memo))
        var flipped = sig
        flipped[5] ^= 1
        XCTAssertFalse(
            OperatorKeys.verifyRemembered(publicKey: asha.publicKey, signature: flipped, message: message, memo: memo))
        XCTAssertEqual(memo.count, 1, "refusals are not remembered")
        // Bounded: the oldest is forgotten, and verified again when it comes back.
        for k in 0..<5 {
            let m = Array("command \(k)".utf8)
            XCTAssertTrue(
                OperatorKeys.verifyRemembered(
                    publicKey: ravi.publicKey, signature: ravi.sign(m), message: m, memo: memo))
        }
        XCTAssertEqual(memo.count, 3)
        XCTAssertTrue(
            OperatorKeys.verifyRemembered(publicKey: asha.publicKey, signature: sig, message: message, memo: memo))
        XCTAssertEqual(memo.count, 3)
    }
}
