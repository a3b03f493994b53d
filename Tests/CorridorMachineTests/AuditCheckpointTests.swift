import CorridorMachine
import Foundation
import SignalTiming
import XCTest

/// The audit checkpoint entry (docs/audit.md, "Checkpoints"): recognised before any command decoding,
/// applied as nothing, the same on every replica; a malformed one is refused like an undecodable command.
final class AuditCheckpointTests: XCTestCase {
    func testACheckpointChangesNoStateAndRoundTrips() throws {
        var m = Fixture.machine()
        _ = m.apply(
            index: 1, term: 1, kind: .normal, payload: payload(.hold(SignalID(2), stage: nil), seq: 1, at: Fixture.t0))
        let before = m.stateHash
        let clock = m.clockMs
        let cp = AuditCheckpoint(
            headIndex: 1, headHash: Array(repeating: 0x5A, count: 32), leaderTimeMs: Fixture.t0 + 999_999)
        let bytes = cp.encoded()
        XCTAssertEqual(bytes.count, AuditCheckpoint.encodedBytes)
        XCTAssertEqual(try AuditCheckpoint.decode(bytes), cp)
        let r = m.apply(index: 2, term: 1, kind: .normal, payload: bytes)
        XCTAssertEqual(r.checkpoint, cp)
        XCTAssertNil(r.header)
        XCTAssertNil(r.result)
        XCTAssertEqual(r.stateHash, before, "a checkpoint changes no state")
        XCTAssertEqual(m.clockMs, clock, "not even the clock: its leader time is informative only")
        XCTAssertEqual(m.appliedIndex, 2)
        // Never taken for a command: its first two bytes are no command version.
        var reader = ByteReader(bytes)
        XCTAssertThrowsError(try CommandEnvelope.decodeHeader(&reader))
        XCTAssertEqual(Command.kindName(of: bytes), "checkpoint")
    }

    func testMalformedCheckpointsAreRefusedWithoutAChange() {
        var m = Fixture.machine()
        let good = AuditCheckpoint(headIndex: 4, headHash: Array(repeating: 1, count: 32), leaderTimeMs: Fixture.t0)
            .encoded()
        var wrongVersion = good
        wrongVersion[5] = 9
        for (k, bad) in [Array(good.dropLast()), good + [0], wrongVersion, Array(good.prefix(4))].enumerated() {
            let before = m.stateHash
            let r = m.apply(index: UInt64(k + 1), term: 1, kind: .normal, payload: bad)
            XCTAssertNil(r.checkpoint, "case \(k)")
            XCTAssertEqual(r.result?.code, .malformed, "case \(k)")
            XCTAssertEqual(r.stateHash, before, "case \(k)")
        }
    }

    /// Two replicas, one of which sees checkpoints interleaved in its log and one that sees no-ops there
    /// instead (as an older build effectively does): the state hashes agree after every command.
    func testCheckpointsDoNotChangeTheStateHashSequence() {
        var a = Fixture.machine()
        var b = Fixture.machine()
        var t = Fixture.t0
        for i in 1...40 {
            let index = UInt64(i)
            if i % 5 == 0 {
                let cp = AuditCheckpoint(
                    headIndex: index - 1, headHash: Array(repeating: UInt8(i), count: 32), leaderTimeMs: t
                ).encoded()
                XCTAssertEqual(
                    a.apply(index: index, term: 1, kind: .normal, payload: cp).stateHash,
                    b.apply(index: index, term: 1, kind: .noop, payload: []).stateHash)
                continue
            }
            t += 7_000
            let c: Command = i % 2 == 0 ? .hold(SignalID(1 + i % 4), stage: nil) : .release(SignalID(1 + (i - 1) % 4))
            let p = payload(c, seq: UInt64(i), at: t)
            XCTAssertEqual(
                a.apply(index: index, term: 1, kind: .normal, payload: p).stateHash,
                b.apply(index: index, term: 1, kind: .normal, payload: p).stateHash, "index \(i)")
        }
    }
}
