import Foundation
import RaftCore
import XCTest

@testable import Storage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// kill -9 at random moments must never lose what was reported persisted.
///
/// The child is `greenwave-bench crash-writer --data DIR`, built next to this test bundle
/// (`swift build --build-tests` builds it). It prints `persisted <lastIndex>` after each commit.
final class CrashTests: XCTestCase {
    static let rounds = 30
    static let seed: UInt64 = 0x6EE7_4A7E

    func testKill9NeverLosesWhatWasReportedPersisted() throws {
        let bench = try Self.findBench()
        let root = try makeTempDirectory(self, "crash")
        let data = root + "/data"
        var rng = SplitMix64(seed: Self.seed)
        var maxReported: LogIndex = 0
        var roundsThatPersisted = 0
        var killsMidRun = 0

        for round in 0..<Self.rounds {
            let outPath = root + "/round-\(round).out"
            let errPath = root + "/round-\(round).err"
            _ = FileManager.default.createFile(atPath: outPath, contents: nil)
            _ = FileManager.default.createFile(atPath: errPath, contents: nil)
            let process = Process()
            process.executableURL = bench
            process.arguments = ["crash-writer", "--data", data]
            process.standardOutput = FileHandle(forWritingAtPath: outPath)
            process.standardError = FileHandle(forWritingAtPath: errPath)
            try process.run()
            let delayMs = 40 + rng.next() % 260
            usleep(UInt32(delayMs * 1000))
            let alive = process.isRunning
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let context = "seed \(Self.seed), round \(round), killed after \(delayMs) ms"
            let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            XCTAssertTrue(
                alive && process.terminationReason == .uncaughtSignal,
                "\(context): the writer exited on its own (status \(process.terminationStatus)): \(stderr)")
            if alive { killsMidRun += 1 }

            // Every complete "persisted N" line is a promise.
            let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
            var reportedThisRound: [LogIndex] = []
            for line in out.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            where line.hasPrefix("persisted ") {
                guard let n = LogIndex(line.dropFirst("persisted ".count)) else {
                    return XCTFail("\(context): bad line \(line)")
                }
                reportedThisRound.append(n)
            }
            XCTAssertEqual(reportedThisRound, reportedThisRound.sorted(), "\(context): reports go forward")
            if let last = reportedThisRound.last {
                XCTAssertGreaterThanOrEqual(last, maxReported, "\(context): a new run continues from what is stored")
                maxReported = max(maxReported, last)
                roundsThatPersisted += 1
            }
            try checkStore(data, maxReported: maxReported, context: context)
        }
        XCTAssertGreaterThanOrEqual(
            roundsThatPersisted, Self.rounds / 2, "most rounds should get commits in before the kill")
        XCTAssertGreaterThan(maxReported, 100)
        print(
            "crash test: \(Self.rounds) rounds, \(killsMidRun) kills mid-run, \(roundsThatPersisted) rounds with commits, log at \(maxReported)+"
        )
    }

    func checkStore(_ data: String, maxReported: LogIndex, context: String) throws {
        let store = try RaftStore(directory: data)
        defer { try? store.close() }
        let loaded = try store.load()
        let log = loaded.restored.entries
        XCTAssertEqual(loaded.restored.snapshotIndex, 0, context)
        let last = log.last?.index ?? 0
        XCTAssertGreaterThanOrEqual(last, maxReported, "\(context): entries reported persisted are gone")
        var previousTerm: Term = 0
        for (offset, e) in log.enumerated() {
            guard e.index == LogIndex(offset + 1) else {
                return XCTFail("\(context): the log is not contiguous at \(e.index)")
            }
            guard e.data == crashPayload(e.index), e.kind == .normal else {
                return XCTFail("\(context): entry \(e.index) has the wrong content")
            }
            guard e.term >= previousTerm else { return XCTFail("\(context): term goes back at \(e.index)") }
            previousTerm = e.term
        }
        // Hard state, audit row and lamp event were written in the same transaction as the entries.
        let hs = loaded.restored.hardState
        XCTAssertEqual(hs.commit, last, "\(context): commit index and log end moved together")
        XCTAssertEqual(hs.term, previousTerm, "\(context): hard state term is the last entry's term")
        XCTAssertEqual(hs.vote, last == 0 ? 0 : 1, context)
        let head = try store.verifyAuditChain()
        XCTAssertEqual(head.lastIndex, last, "\(context): the audit chain ends with the log")
        XCTAssertEqual(
            try store.lampEvents(from: 0, to: .max).count, head.rowCount, "\(context): one lamp event per transaction")
    }

    /// The built `greenwave-bench`, next to the test bundle.
    static func findBench() throws -> URL {
        var candidates: [URL] = []
        let bundle = Bundle.main.bundleURL
        candidates += [bundle, bundle.deletingLastPathComponent()]
        for b in Bundle.allBundles where b.bundleURL.pathExtension == "xctest" {
            candidates += [
                b.bundleURL.deletingLastPathComponent(),
                b.bundleURL.deletingLastPathComponent().deletingLastPathComponent()
            ]
        }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for dir in candidates {
            let url = dir.appendingPathComponent("greenwave-bench")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw XCTSkip(
            "greenwave-bench is not built next to the tests (looked in \(candidates.map(\.path))); run `swift build --build-tests` first"
        )
    }
}

/// Mirror of `crashPayload` in Sources/greenwave-bench/CrashWriter.swift: the writer's data for `index`.
func crashPayload(_ index: UInt64) -> [UInt8] {
    var x = (index &* 0x9E37_79B9_7F4A_7C15) | 1
    var out: [UInt8] = []
    out.reserveCapacity(200)
    for _ in 0..<25 {
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
    }
    return out
}
