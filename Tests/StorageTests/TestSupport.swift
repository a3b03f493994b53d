import Foundation
import RaftCore
import XCTest

@testable import Storage

/// A fresh temporary directory, removed when the test ends.
func makeTempDirectory(_ test: XCTestCase, _ name: String = "store") throws -> String {
    let path = NSTemporaryDirectory() + "greenwave-storage-tests/\(name)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

func makeStore(_ test: XCTestCase, snapshotsToKeep: Int = 2) throws -> (RaftStore, String) {
    let dir = try makeTempDirectory(test)
    return (try RaftStore(directory: dir, snapshotsToKeep: snapshotsToKeep), dir)
}

/// Entries [from, through] in `term`, each with data naming its index and term.
func entries(_ from: LogIndex, _ through: LogIndex, term: Term) -> [Entry] {
    (from...through).map { Entry(term: term, index: $0, kind: .normal, data: Array("e\($0)t\(term)".utf8)) }
}

func auditRecord(_ index: LogIndex, term: Term = 1, result: String = "ok") -> AuditRecord {
    AuditRecord(
        index: index, term: term, leaderTimeMs: 1_700_000_000_000 + Int64(index) * 1000,
        operatorName: "operator-\(index % 3)", clientID: "console-\(index % 2)", sequence: index,
        command: Array("cmd-\(index)".utf8), commandText: "hold signal \(index)", result: result,
        stateHash: [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 32))
}

func hexBytes(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

/// Asserts that `body` throws exactly `expected`.
// swift-format-ignore: AlwaysUseLowerCamelCase
func XCTAssertThrows<E: Error & Equatable, T>(
    _ expected: E, _ body: @autoclosure () throws -> T,
    file: StaticString = #filePath, line: UInt = #line
) {
    do {
        _ = try body()
        XCTFail("expected \(expected) to be thrown, nothing was", file: file, line: line)
    } catch let error as E {
        XCTAssertEqual(error, expected, file: file, line: line)
    } catch {
        XCTFail("expected \(expected), got \(error)", file: file, line: line)
    }
}
