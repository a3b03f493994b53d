import ArgumentParser
import Foundation
import RaftCore
import Storage

/// The child process of the crash-safety test: appends batches to the store in `--data` forever and
/// prints `persisted <lastIndex>` (flushed) after each committed transaction. The test kills it with
/// SIGKILL at random moments and checks that everything it reported persisted is still there.
///
/// Each run continues the stored log in a new term (the stored term + 1). Entry data is a pure
/// function of the index (`crashPayload`, mirrored in Tests/StorageTests/CrashTests.swift). Every
/// transaction also sets the hard state (term, vote 1, commit = new last index) and writes one audit
/// row (index = new last index) and one lamp event, so the test can check they moved together.
/// About one batch in four is written as two Readys, the second overwriting the first's last entry.
struct CrashWriter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-writer",
        abstract: "Append batches forever, printing `persisted <lastIndex>` after each commit (crash test child).",
        shouldDisplay: false
    )

    @Option(help: "The data directory of the store.")
    var data: String

    @Option(help: "The largest batch, in entries.")
    var maxBatch: UInt64 = 48

    func run() throws {
        let store = try RaftStore(directory: data)
        // Only the log's end and the term are needed (the test's own check loads and verifies the whole
        // log after every kill); reading the whole log here would delay the first commit of every round
        // as the log grows.
        var last = try store.lastIndex()
        let term = try store.hardState().term + 1
        var rng = SplitMix64(seed: last &* 0x9E37_79B9_7F4A_7C15 ^ term)
        emit("start \(last) term \(term)")
        while true {
            let n = 1 + rng.next() % max(1, maxBatch)
            let entries = (last + 1...last + n).map {
                Entry(term: term, index: $0, kind: .normal, data: crashPayload($0))
            }
            let newLast = last + n
            let hard = HardState(term: term, vote: 1, commit: newLast)
            var batch = WriteBatch()
            if n >= 2, rng.next() % 4 == 0 {
                batch.add(hardState: nil, entries: entries)
                batch.add(hardState: hard, entries: [entries[entries.count - 1]])
            } else {
                batch.add(hardState: hard, entries: entries)
            }
            let payload = crashPayload(newLast)
            batch.auditRecords = [
                AuditRecord(
                    index: newLast, term: term, leaderTimeMs: Int64(newLast), operatorName: "crash-writer",
                    clientID: "crash", sequence: newLast, command: Array(payload.prefix(16)),
                    commandText: "append \(n)", result: "ok", stateHash: Array(payload.prefix(32)))
            ]
            batch.lampEvents = [
                LampEvent(signalID: "S\(newLast % 7)", timeMs: Int64(newLast), eventCode: 1, parameter: Int64(n))
            ]
            let result = try store.commit(batch)
            last = result.lastIndex
            emit("persisted \(last)")
        }
    }
}

/// Writes one line to stdout unbuffered (a single write(2)), so that it has left the process when
/// this returns: a SIGKILL right after cannot lose it.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// The crash writer's entry payload for `index` (200 bytes); Tests/StorageTests mirrors it.
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
