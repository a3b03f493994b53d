import Controller
import Foundation
import Logging
import XCTest

/// The data folder records the corridor file it started with (for `greenwave audit`), once.
final class CorridorCopyTests: XCTestCase {
    func testFirstStartRecordsTheCorridorAndLaterStartsNeverReplaceIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gw-copy-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = dir.appendingPathComponent("a.yaml").path
        let edited = dir.appendingPathComponent("b.yaml").path
        try "corridor: first\n".write(toFile: original, atomically: true, encoding: .utf8)
        try "corridor: edited later\n".write(toFile: edited, atomically: true, encoding: .utf8)
        let data = dir.appendingPathComponent("s01").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let logger = Logger(label: "test")
        let copy = (data as NSString).appendingPathComponent(CorridorCopy.fileName)

        XCTAssertTrue(try CorridorCopy.record(corridorPath: original, dataDirectory: data, logger: logger))
        XCTAssertEqual(try String(contentsOfFile: copy, encoding: .utf8), "corridor: first\n")
        // A restart with another file keeps the recorded copy: it is what the history started from.
        XCTAssertFalse(try CorridorCopy.record(corridorPath: edited, dataDirectory: data, logger: logger))
        XCTAssertEqual(try String(contentsOfFile: copy, encoding: .utf8), "corridor: first\n")
        XCTAssertThrowsError(
            try CorridorCopy.record(
                corridorPath: dir.appendingPathComponent("missing.yaml").path,
                dataDirectory: data, logger: logger))
    }
}
