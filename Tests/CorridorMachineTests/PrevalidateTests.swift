import Crypto
import RaftCore
import SignalTiming
import XCTest

@testable import CorridorMachine

/// `OperatorKeys.prevalidate` (issue 19: the audit replay checks the signatures of the rows ahead on another
/// core) remembers exactly the genuine signatures, and decides nothing: the apply that finds one remembered
/// gives what it gives without the memo.
final class PrevalidateTests: XCTestCase {
    func keys(_ names: [String]) -> [UInt64: [[UInt8]]] {
        var out: [UInt64: [[UInt8]]] = [:]
        for n in names {
            let k = Fixture.signer(n).publicKey
            out[OperatorKeys.keyID(k), default: []].append(k)
        }
        return out
    }

    func memoKey(_ entry: [UInt8]) throws -> (key: [UInt8], digest: SHA256.Digest) {
        var r = ByteReader(entry)
        let h = try CommandEnvelope.decodeHeader(&r)
        let message = OperatorKeys.signedMessage(
            corridorID: Fixture.corridorID, clientID: h.clientID, sequence: h.sequence, operatorName: h.operatorID,
            command: Array(entry[r.position...]))
        let key = Fixture.signer(h.operatorID).publicKey
        return (
            key, VerifiedSignatures.key(publicKey: key, signature: try XCTUnwrap(h.signature).bytes, message: message)
        )
    }

    func testRemembersGenuineSignaturesOnly() throws {
        let client = ClientID.timed(createdAtMs: 1_000, random: 1)
        let genuine = signed(.hold(SignalID(2), stage: nil), clientID: client, seq: 1, at: 1_000)
        var altered = genuine
        altered[altered.count - 1] ^= 1
        let memo = VerifiedSignatures(capacity: 16)
        let all = keys(Fixture.operatorNames)

        OperatorKeys.prevalidate(entry: genuine, corridorID: Fixture.corridorID, keys: all, memo: memo)
        XCTAssertTrue(memo.contains(try memoKey(genuine).digest))

        OperatorKeys.prevalidate(entry: altered, corridorID: Fixture.corridorID, keys: all, memo: memo)
        let alteredKey = try memoKey(altered)
        XCTAssertFalse(memo.contains(alteredKey.digest), "an altered command is not remembered")

        // Another corridor's id, or no key with the id the signature names: nothing remembered.
        let other = signed(.release(SignalID(3)), clientID: client, seq: 2, at: 1_000)
        OperatorKeys.prevalidate(entry: other, corridorID: "another-corridor", keys: all, memo: memo)
        OperatorKeys.prevalidate(entry: other, corridorID: Fixture.corridorID, keys: [:], memo: memo)
        XCTAssertFalse(memo.contains(try memoKey(other).digest))

        // Garbage of every length costs a refusal, never a trap.
        var rng = SplitMix64(seed: 0x5052_4556)
        for n in 0..<300 {
            let junk = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            OperatorKeys.prevalidate(entry: junk, corridorID: Fixture.corridorID, keys: all, memo: memo)
            XCTAssertNil(OperatorKeys.registeredKey(inEntry: junk))
        }
    }

    func testTheKeyAnAddOperatorEntryRegistersIsFound() throws {
        let key = Fixture.signer("meera").publicKey
        let entry = signed(
            .addOperator(name: "meera", publicKey: key, role: .operator),
            clientID: ClientID.timed(createdAtMs: 1_000, random: 1), seq: 1, at: 1_000)
        XCTAssertEqual(OperatorKeys.registeredKey(inEntry: entry), key)
        XCTAssertNil(
            OperatorKeys.registeredKey(
                inEntry: signed(.flash(nil), clientID: ClientID.timed(createdAtMs: 1_000, random: 1), seq: 2, at: 1_000)
            ))
    }

    /// A replay with every signature checked ahead ends with the state and results of one without.
    func testPrevalidatedApplyDecidesAsTheApplyAlone() throws {
        let log = DeterminismTests.makeLog(entries: 300, seed: 23)
        var plain = try CorridorMachine(snapshot: log.initial)
        var ahead = plain
        let memo = VerifiedSignatures.shared
        var all = keys(Fixture.operatorNames)
        for e in log.entries {
            if let k = OperatorKeys.registeredKey(inEntry: e.payload) {
                all[OperatorKeys.keyID(k), default: []].append(k)
            }
        }
        for e in log.entries {
            let a = plain.apply(index: e.index, term: e.term, kind: e.kind, payload: e.payload)
            OperatorKeys.prevalidate(entry: e.payload, corridorID: ahead.corridorID, keys: all, memo: memo)
            let b = ahead.apply(index: e.index, term: e.term, kind: e.kind, payload: e.payload)
            XCTAssertEqual(a.result, b.result, "index \(e.index)")
            XCTAssertEqual(a.stateHash, b.stateHash, "index \(e.index)")
        }
    }
}
