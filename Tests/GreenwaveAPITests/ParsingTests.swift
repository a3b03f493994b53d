import CorridorFile
import CorridorMachine
import GreenwaveAPI
import SignalTiming
import XCTest

final class ParsingTests: XCTestCase {
    func testSignalIDsWithOrWithoutTheS() {
        XCTAssertEqual(parseSignal("S12"), 12)
        XCTAssertEqual(parseSignal("s05"), 5)
        XCTAssertEqual(parseSignal("7"), 7)
        XCTAssertNil(parseSignal("S"))
        XCTAssertNil(parseSignal("X7"))
        XCTAssertNil(parseSignal("S1.5"))
        XCTAssertNil(parseSignal("S99999999999999999999999"))
    }

    func testListsAndRangesKeepTheTravelOrder() throws {
        XCTAssertEqual(try parseSignalList(["S05-S08"]).get(), [5, 6, 7, 8])
        XCTAssertEqual(try parseSignalList(["S08-S05"]).get(), [8, 7, 6, 5])
        XCTAssertEqual(try parseSignalList(["S01", "3", "s02"]).get(), [1, 3, 2])
        XCTAssertEqual(try parseSignalList(["S04-S04"]).get(), [4])
    }

    func testAWordThatIsNoSignalIsNamed() {
        guard case .failure(let e) = parseSignalList(["S01", "north"]) else { return XCTFail("accepted 'north'") }
        XCTAssertEqual(e.word, "north")
        XCTAssertNil(e.reason)
        for bad in ["S1-S2-S3", "-S3", "S3-", "S1--S3"] {
            guard case .failure = parseSignalList([bad]) else { return XCTFail("accepted '\(bad)'") }
        }
    }

    /// A typed range is hostile input: one longer than a corridor can be is refused before it is expanded
    /// (the overflow of a range between the extremes of Int included), not allocated.
    func testARangeLongerThanACorridorIsRefusedUnexpanded() {
        let longest = "S1-S\(Limits.signalsMax)"
        XCTAssertEqual((try? parseSignalList([longest]).get())?.count, Limits.signalsMax)
        for bad in ["S1-S\(Limits.signalsMax + 1)", "S1-S999999999999", "\(Int.max)-1", "1-\(Int.max)"] {
            guard case .failure(let e) = parseSignalList([bad]) else { return XCTFail("accepted '\(bad)'") }
            XCTAssertNotNil(e.reason, bad)
            XCTAssertTrue(e.description.contains("at most \(Limits.signalsMax) signals"), e.description)
        }
    }

    func testDirectionsByTheCorridorsNamesOrTheGenericOnes() {
        let d = Fixture.document
        XCTAssertEqual(parseDirection("northbound", document: d), .increasing)
        XCTAssertEqual(parseDirection("SOUTHBOUND", document: d), .decreasing)
        XCTAssertEqual(parseDirection("increasing", document: d), .increasing)
        XCTAssertEqual(parseDirection("decreasing", document: d), .decreasing)
        XCTAssertNil(parseDirection("eastbound", document: d))
        XCTAssertNil(parseDirection("", document: d))
    }

    func testClientIDsDecimalOrHex() {
        XCTAssertEqual(parseClientID("42"), ClientID(42))
        XCTAssertEqual(parseClientID("0000000000000001000000000000000a"), ClientID(high: 1, low: 10))
        XCTAssertNotNil(parseClientID(String(repeating: "f", count: 32)))
        XCTAssertNil(parseClientID(String(repeating: "f", count: 33)))
        XCTAssertNil(parseClientID(""))
        XCTAssertNil(parseClientID("12g"))
    }
}
