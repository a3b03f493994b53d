import CorridorMachine
import GreenwaveAPI
import XCTest

/// The read credential as a client builds it and as a controller checks it: both in this module.
final class ReadCredentialTests: XCTestCase {
    let now: Int64 = 1_800_000_000_000
    let id = Fixture.document.id

    func problem(_ value: String?, path: String = "/v1/status", method: String = "GET", at t: Int64? = nil) -> String? {
        ReadCredential.problem(
            value, corridorID: id, method: method, path: path, nowMs: t ?? now, machine: Fixture.machine())
    }

    func testACredentialAdmitsTheReadItWasMadeFor() {
        let h = ReadCredential.header(Fixture.reader, corridorID: id, path: "/v1/status", nowMs: now)
        XCTAssertNil(problem(h))
        // Within the allowed skew on either side of the controller's clock.
        XCTAssertNil(problem(h, at: now + ReadCredential.maxSkewMs))
        XCTAssertNil(problem(h, at: now - ReadCredential.maxSkewMs))
    }

    func testItAdmitsNoOtherRead() {
        let h = ReadCredential.header(Fixture.reader, corridorID: id, path: "/v1/status", nowMs: now)
        XCTAssertEqual(problem(h, path: "/v1/state"), "read credential signature does not verify")
        XCTAssertEqual(problem(h, method: "POST"), "read credential signature does not verify")
        let other = ReadCredential.header(Fixture.reader, corridorID: id + "-other", path: "/v1/status", nowMs: now)
        XCTAssertEqual(problem(other), "read credential signature does not verify")
    }

    func testStaleUnknownAndRevokedKeysAreRefused() {
        let h = ReadCredential.header(Fixture.reader, corridorID: id, path: "/v1/status", nowMs: now)
        XCTAssertNotNil(problem(h, at: now + ReadCredential.maxSkewMs + 1)?.range(of: "from this controller's clock"))
        let stranger = ReadCredential.header(Fixture.stranger, corridorID: id, path: "/v1/status", nowMs: now)
        XCTAssertNotNil(problem(stranger)?.range(of: "is not an active operator key"))
        let revoked = ReadCredential.header(Fixture.revoked, corridorID: id, path: "/v1/status", nowMs: now)
        XCTAssertNotNil(problem(revoked)?.range(of: "is not an active operator key"))
    }

    func testMalformedValuesAreRefusedWithoutTrapping() {
        XCTAssertNotNil(problem(nil)?.range(of: "needs a read credential"))
        let good = ReadCredential.header(Fixture.reader, corridorID: id, path: "/v1/status", nowMs: now)
        let parts = good.split(separator: ":").map(String.init)
        for bad in [
            "", ":", "::", "a:b:c", parts[0] + ":" + parts[1], good + ":x", String(repeating: "A", count: 161),
            parts[0] + ":-1:" + parts[2], parts[0] + ":99999999999999999999:" + parts[2],
            parts[0] + ":" + parts[1] + ":" + String(parts[2].dropLast(4)),
            "zzzzzzzzzzzzzzzz:" + parts[1] + ":" + parts[2]
        ] {
            XCTAssertNotNil(problem(bad), bad)
        }
    }
}
