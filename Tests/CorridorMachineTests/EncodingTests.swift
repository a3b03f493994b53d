import CorridorMachine
import RaftCore
import SignalTiming
import XCTest

final class EncodingTests: XCTestCase {
    static let everyCommand: [Command] = [
        .setMode(PlanID("rush-hour")),
        .setMode(PlanID("flash")),
        .hold(SignalID(3), stage: nil),
        .hold(SignalID(3), stage: "side"),
        .release(SignalID(2)),
        .flash(nil), .flash(SignalID(4)), .unflash(nil), .unflash(SignalID(4)),
        .preempt(PreemptRequest(signals: [SignalID(2), SignalID(3)], direction: .increasing)),
        .preempt(
            PreemptRequest(
                signals: [SignalID(5), SignalID(4)], direction: .decreasing, speedKmh: 50, leadMs: 20_000,
                clearMs: 5_000)),
        .cancelPreemption(logIndex: 42),
        .updatePlan(
            PlanSpec(
                name: "evening", cycleMs: 100_000, coordinatedStage: "main",
                splitsMs: ["main": 60_000, "main-turn": 16_000, "side": 24_000],
                signalSplitsMs: [3: ["main": 55_000, "main-turn": 16_000, "side": 29_000]],
                progression: Progression(speedKmh: 35, favoured: .decreasing, favouredBandPercent: 70),
                offsetsMs: [1: 0, 2: 10_000, 3: 20_000, 4: 30_000, 5: 40_000])),
        .updatePlan(.flash("blink")),
        .addOperator(name: "ravi", publicKey: Array(repeating: 7, count: 32), role: .supervisor),
        .setRole(name: "ravi", role: .viewer),
        .revokeKey(keyID: 0xFEED_FACE_CAFE_BEEF)
    ]

    func testEveryCommandRoundTrips() throws {
        for (i, c) in Self.everyCommand.enumerated() {
            let e = CommandEnvelope(
                operatorID: "operator \(i) — Ωμέγα", clientID: ClientID(high: UInt64(i), low: 0xDEAD_BEEF),
                sequence: UInt64(i) * 1_000_003, leaderTimeMs: Fixture.t0 - Int64(i), command: c)
            let bytes = e.encoded()
            XCTAssertEqual(try CommandEnvelope.decode(bytes), e, "\(c)")
            XCTAssertEqual(try CommandEnvelope.decode(bytes).encoded(), bytes, "canonical: \(c)")
            XCTAssertEqual(Array(bytes[0..<2]), [0, 2], "big-endian version first")
            let s = Fixture.signer("asha").envelope(
                corridorID: "x", clientID: e.clientID, sequence: e.sequence, leaderTimeMs: e.leaderTimeMs, command: c)
            XCTAssertEqual(try CommandEnvelope.decode(s.encoded()), s, "signed: \(c)")
            XCTAssertEqual(
                s.encoded().count, bytes.count - "operator \(i) — Ωμέγα".utf8.count + 4 + 8 + 64,
                "key id and signature: \(c)")
        }
    }

    func testMapsAreEncodedSortedWhateverTheInsertionOrder() throws {
        var a: [String: Int64] = [:]
        a["side"] = 1
        a["main"] = 2
        a["main-turn"] = 3
        var b: [String: Int64] = [:]
        b["main-turn"] = 3
        b["main"] = 2
        b["side"] = 1
        let p = Progression(speedKmh: 40, favoured: .increasing, favouredBandPercent: 100)
        let ea = payload(
            .updatePlan(PlanSpec(name: "x", cycleMs: 90_000, coordinatedStage: "main", splitsMs: a, progression: p)),
            seq: 1, at: 0)
        let eb = payload(
            .updatePlan(PlanSpec(name: "x", cycleMs: 90_000, coordinatedStage: "main", splitsMs: b, progression: p)),
            seq: 1, at: 0)
        XCTAssertEqual(ea, eb)
    }

    func testUnknownCommandVersionIsRefusedByName() {
        var bytes = payload(.flash(nil), seq: 1, at: Fixture.t0)
        bytes[1] = 3
        XCTAssertThrowsError(try CommandEnvelope.decode(bytes)) { error in
            XCTAssertEqual(error as? DecodeError, .unsupportedVersion(kind: "command", version: 3))
        }
    }

    /// The canonical encoding's primitives, byte for byte (big-endian integers, length-prefixed UTF-8): the
    /// state hash of every audit row ever written depends on them.
    func testPrimitivesEncodeToTheirCanonicalBytes() {
        var w = ByteWriter()
        w.u16(0x0102)
        w.u32(0x0304_0506)
        w.u64(0x0708_090A_0B0C_0D0E)
        w.i64(-2)
        w.string("hé")
        w.count(0)
        XCTAssertEqual(
            w.bytes,
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
                + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]
                + [0, 0, 0, 3, 0x68, 0xC3, 0xA9] + [0, 0, 0, 0])
    }

    func testMalformedCommandsAreRefusedNotCrashed() {
        let good = payload(.hold(SignalID(2), stage: "side"), seq: 7, at: Fixture.t0)
        for cut in 0..<good.count {
            XCTAssertThrowsError(try CommandEnvelope.decode(Array(good[0..<cut])), "prefix of \(cut) bytes")
        }
        XCTAssertThrowsError(try CommandEnvelope.decode(good + [0])) {
            XCTAssertEqual($0 as? DecodeError, .trailingBytes(count: 1))
        }
        var badTag = payload(.release(SignalID(1)), seq: 1, at: 0)
        badTag[badTag.count - 9] = 99
        XCTAssertThrowsError(try CommandEnvelope.decode(badTag)) {
            XCTAssertEqual($0 as? DecodeError, .unknownTag(what: "command", tag: 99))
        }
        var rng = SplitMix64(seed: 99)
        for _ in 0..<2_000 {
            var b = good
            b[rng.below(b.count)] = UInt8(truncatingIfNeeded: rng.next())
            _ = try? CommandEnvelope.decode(b) // must not trap
        }
    }

    func testStateRoundTripsThroughEveryFeature() throws {
        var d = Driver()
        var t = Fixture.t0
        for c in Self.everyCommand {
            d.send(c, client: d.seq % 3, at: t)
            t += 1_000
        }
        d.send(.preempt(PreemptRequest(signals: [SignalID(1), SignalID(2)], direction: .increasing)), at: t)
        d.send(.hold(SignalID(5), stage: "side"), at: t)
        XCTAssertFalse(d.m.events.isEmpty)
        XCTAssertFalse(d.m.holds.isEmpty)
        XCTAssertFalse(d.m.preemptions.isEmpty)
        let bytes = d.m.encodedState()
        let back = try CorridorMachine(encodedState: bytes, appliedIndex: d.m.appliedIndex, appliedTerm: 1)
        XCTAssertEqual(back.encodedState(), bytes)
        XCTAssertEqual(back.stateHash, d.m.stateHash)
        XCTAssertEqual(back.corridor, d.m.corridor)
        XCTAssertEqual(back.events, d.m.events)
        XCTAssertEqual(back.sessions, d.m.sessions)
        // The restored machine continues identically.
        var a = d.m
        var b = back
        let next = payload(.release(SignalID(5)), client: 9, seq: 1, at: t + 10_000)
        XCTAssertEqual(
            a.apply(index: d.next, term: 2, kind: .normal, payload: next),
            b.apply(index: d.next, term: 2, kind: .normal, payload: next))
        XCTAssertEqual(a.encodedState(), b.encodedState())
    }

    func testStateHashIsSHA256OfTheEncoding() {
        let m = Fixture.machine()
        XCTAssertEqual(m.stateHash.count, 32)
        XCTAssertEqual(m.snapshot().stateHash, m.stateHash)
    }

    func testUnknownStateAndSnapshotVersionsAreRefused() throws {
        let m = Fixture.machine()
        var state = m.encodedState()
        state[5] = 7
        XCTAssertThrowsError(try CorridorMachine(encodedState: state)) {
            XCTAssertEqual($0 as? DecodeError, .unsupportedVersion(kind: "state", version: 7))
        }
        var snap = m.snapshot().encoded()
        snap[5] = 3
        XCTAssertThrowsError(try CorridorMachine(snapshotBytes: snap)) {
            XCTAssertEqual($0 as? DecodeError, .unsupportedVersion(kind: "snapshot", version: 3))
        }
        XCTAssertThrowsError(try CorridorMachine(encodedState: Array("XXXX".utf8) + state.dropFirst(4))) {
            XCTAssertEqual($0 as? DecodeError, .badMagic(kind: "state"))
        }
    }

    func testSnapshotVerifiesItsHash() throws {
        var d = Driver()
        d.send(.setMode(PlanID("night")), at: Fixture.t0)
        d.send(.hold(SignalID(2), stage: nil), client: 2, at: Fixture.t0 + 100)
        let snap = d.m.snapshot()
        let restored = try CorridorMachine(snapshotBytes: snap.encoded())
        XCTAssertEqual(restored.appliedIndex, 2)
        XCTAssertEqual(restored.stateHash, d.m.stateHash)

        // Tamper with one byte of the state: refused by the hash check.
        var tampered = snap
        tampered.state[tampered.state.count - 3] ^= 1
        XCTAssertThrowsError(try CorridorMachine(snapshot: tampered)) { error in
            guard case .hashMismatch = error as? DecodeError else { return XCTFail("\(error)") }
        }
        // Tamper with the recorded hash: refused too.
        var bytes = snap.encoded()
        bytes[bytes.count - 1] ^= 0x80
        XCTAssertThrowsError(try CorridorMachine(snapshotBytes: bytes)) { error in
            guard case .hashMismatch = error as? DecodeError else { return XCTFail("\(error)") }
        }
        // A tampered state whose hash was "fixed up" still has to decode canonically.
        XCTAssertThrowsError(try CorridorMachine(encodedState: snap.state + [0]))
    }
}

/// The state hash keeps the hasher of the encoding's unchanging prefix (settings, corridor) and hashes
/// only the tail per command (issue 19). Its definition must not change: at every index of a generated
/// log — accepted and refused commands, duplicates, compactions, plan updates that change the prefix —
/// it equals SHA-256 of the whole encoding, computed by the decoder from the bytes alone.
final class IncrementalStateHashTests: XCTestCase {
    func testTheCachedPrefixHashEqualsTheHashOfTheWholeEncodingAtEveryIndex() throws {
        let log = DeterminismTests.makeLog(entries: 400, seed: 11)
        var m = try CorridorMachine(snapshot: log.initial)
        var checked = 0
        var planUpdates = 0
        for e in log.entries {
            let corridorBefore = m.corridor
            let r = m.apply(index: e.index, term: e.term, kind: e.kind, payload: e.payload)
            if m.corridor != corridorBefore { planUpdates += 1 }
            let full = try CorridorMachine(encodedState: m.encodedState()).stateHash
            XCTAssertEqual(m.stateHash, full, "index \(e.index)")
            XCTAssertEqual(r.stateHash, full, "index \(e.index)")
            checked += 1
        }
        XCTAssertEqual(checked, 400)
        XCTAssertGreaterThan(
            planUpdates, 0, "the log must change the prefix (updatePlan) for this test to mean something")
    }

    func testAPlanUpdateChangesTheHashAsTheFullEncodingDoes() throws {
        var d = Driver()
        let before = d.m.stateHash
        let spec = PlanSpec(
            name: "evening", cycleMs: 100_000, coordinatedStage: "main",
            splitsMs: ["main": 60_000, "main-turn": 16_000, "side": 24_000],
            progression: Progression(speedKmh: 35, favoured: .decreasing, favouredBandPercent: 70))
        XCTAssertTrue(d.send(.updatePlan(spec), at: Fixture.t0).result!.isAccepted)
        XCTAssertNotEqual(d.m.stateHash, before)
        XCTAssertEqual(d.m.stateHash, try CorridorMachine(encodedState: d.m.encodedState()).stateHash)
        // A copy of the machine taken before the update keeps its own (older) prefix.
        var copy = d.m
        XCTAssertTrue(
            copy.apply(
                index: 1_000, term: 1, kind: .normal,
                payload: payload(.hold(SignalID(2), stage: nil), client: 5, seq: 1, at: Fixture.t0 + 1_000)
            ).result!.isAccepted)
        XCTAssertEqual(copy.stateHash, try CorridorMachine(encodedState: copy.encodedState()).stateHash)
    }
}
