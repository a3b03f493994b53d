import CorridorFile
import GreenwaveAPI
import XCTest

@testable import Dashboard

final class CommandTests: XCTestCase {
    let weh = try! RendererTests.document("western-express-highway.yaml")

    func parse(_ s: String) -> Result<CommandRequest, DashboardCommand.ParseError> {
        DashboardCommand.parse(s, document: weh, operatorName: "asha", clientID: "ab12", sequence: 7)
    }

    func ok(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> CommandRequest? {
        switch parse(s) {
        case .success(let r): return r
        case .failure(let e):
            XCTFail("\(s): \(e)", file: file, line: line)
            return nil
        }
    }

    func error(_ s: String) -> String? {
        if case .failure(let e) = parse(s) { return e.description }
        return nil
    }

    func testModeHoldReleaseFlash() {
        let mode = ok("mode rush-hour")
        XCTAssertEqual(
            mode, CommandRequest(operator: "asha", clientID: "ab12", sequence: 7, type: "mode", plan: "rush-hour"))
        XCTAssertEqual(ok("hold S12")?.signal, 12)
        XCTAssertEqual(ok("hold 12 side")?.stage, "side")
        XCTAssertEqual(ok("release s03")?.type, "release")
        XCTAssertEqual(ok("flash")?.signal, nil)
        XCTAssertEqual(ok("flash S47")?.signal, 47)
        XCTAssertEqual(ok("  unflash   S01 ")?.type, "unflash")
        XCTAssertEqual(ok("cancel #120")?.index, 120)
        XCTAssertEqual(ok("cancel 120")?.type, "cancel_preemption")
    }

    func testModeUntilOverridesTheSchedule() {
        XCTAssertEqual(ok("mode night until next")?.until, "next")
        XCTAssertEqual(ok("mode night until 1735700000000")?.until, "1735700000000")
        XCTAssertNil(ok("mode night")?.until)
        XCTAssertTrue(error("mode night until soon")!.hasPrefix("until: 'next' or ms"))
        XCTAssertTrue(error("mode night after next")!.hasPrefix("usage: mode PLAN"))
    }

    func testPreemptRangesAreTravelledInTheirDirection() {
        let inbound = ok("preempt S05-S11 inbound")
        XCTAssertEqual(inbound?.signals, [11, 10, 9, 8, 7, 6, 5])
        XCTAssertEqual(inbound?.direction, "southbound")
        XCTAssertEqual(ok("preempt S05-S11 northbound 60")?.signals, [5, 6, 7, 8, 9, 10, 11])
        XCTAssertEqual(ok("preempt S05-S11 northbound 60")?.speedKmh, 60)
        XCTAssertEqual(ok("preempt S11-S05 outbound")?.signals, [5, 6, 7, 8, 9, 10, 11])
        XCTAssertEqual(ok("preempt S07 S08 increasing")?.signals, [7, 8])
    }

    func testBadCommandsSayWhatIsWrong() {
        XCTAssertEqual(error("hold S99"), "'S99' is not a signal of western-express-highway")
        XCTAssertEqual(error("preempt S05-S60 inbound"), "S60 is not a signal of western-express-highway")
        XCTAssertEqual(
            error("preempt S05-S11 sideways"),
            "unknown direction 'sideways': use northbound, southbound, inbound or outbound")
        XCTAssertEqual(error("preempt S05-XX inbound"), "'S05-XX' is not a signal id or range (S05, 5 or S05-S11)")
        XCTAssertTrue(error("launch rockets")!.hasPrefix("unknown command 'launch'"))
        XCTAssertTrue(error("mode")!.hasPrefix("usage: mode PLAN (one of: normal, rush-hour, night"))
        XCTAssertEqual(error("cancel soon"), "usage: cancel INDEX (the log index of the preemption)")
        XCTAssertEqual(error(""), "empty command")
    }

    func testKeysFromRawInput() {
        XCTAssertEqual(
            decodeKeys(Array(":mode x\r".utf8)),
            [.char(":"), .char("m"), .char("o"), .char("d"), .char("e"), .char(" "), .char("x"), .enter])
        XCTAssertEqual(decodeKeys([27, 91, 53, 126, 27, 91, 54, 126]), [.pageUp, .pageDown])
        XCTAssertEqual(decodeKeys([27]), [.escape])
        XCTAssertEqual(decodeKeys([27, 91, 65, 127, 3, 4]), [.up, .backspace, .ctrlC, .ctrlD])
        XCTAssertEqual(decodeKeys([27, 91, 49, 59, 53, 67, 113]), [.char("q")], "an unknown sequence is skipped whole")
        XCTAssertEqual(decodeKeys(Array("é".utf8)), [.char("é")])
    }
}
