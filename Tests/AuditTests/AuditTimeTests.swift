import Audit
import XCTest

final class AuditTimeTests: XCTestCase {
    func testISOAndEpochMillisecondsParseToTheSameInstant() throws {
        // 2026-11-26T23:40:12.3Z = 1795736412300 ms (checked with `date -u -d @1795736412.3`).
        XCTAssertEqual(try AuditTime.parse("2026-11-26T23:40:12.3Z"), 1_795_736_412_300)
        XCTAssertEqual(try AuditTime.parse("2026-11-26T23:40:12.300Z"), 1_795_736_412_300)
        XCTAssertEqual(try AuditTime.parse("2026-11-26 23:40:12.3"), 1_795_736_412_300, "no zone means UTC")
        XCTAssertEqual(try AuditTime.parse("2026-11-27T05:10:12.3+05:30"), 1_795_736_412_300)
        XCTAssertEqual(try AuditTime.parse("1795736412300"), 1_795_736_412_300)
        XCTAssertEqual(try AuditTime.parse("1970-01-01T00:00Z"), 0)
        XCTAssertEqual(try AuditTime.parse("2024-02-29T00:00:00Z"), 1_709_164_800_000)
    }

    func testPrintedTimesParseBack() throws {
        for ms: Int64 in [
            0, 1, 999, 1_735_669_800_000, 1_795_736_412_345, 951_782_400_000, // 2000-02-29
            4_102_444_799_999
        ] {
            XCTAssertEqual(try AuditTime.parse(AuditTime.iso(ms)), ms)
        }
        XCTAssertEqual(AuditTime.iso(1_795_736_412_345, digits: 1), "2026-11-26T23:40:12.3Z")
        XCTAssertEqual(
            AuditTime.tenths(1_795_736_412_399), "2026-11-26 23:40:12.3",
            "tenths are truncated, never rounded into the future")
        XCTAssertEqual(AuditTime.tenths(1_795_736_412_399, separator: "T"), "2026-11-26T23:40:12.3")
    }

    func testBadTimesAreRefusedWithTheOptionNamed() {
        for bad in [
            "", "yesterday", "2026-13-01T00:00Z", "2026-02-30T00:00Z", "2026-11-26T24:00Z", "2026-11-26T23:40:12.Z",
            "2026-11-26T23:40:12Zjunk"
        ] {
            XCTAssertThrowsError(try AuditTime.parse(bad, option: "--time"), bad) { e in
                XCTAssertTrue("\(e)".hasPrefix("--time:"), "\(e)")
                XCTAssertTrue((e as? AuditError)?.isBadInput == true)
            }
        }
    }
}
