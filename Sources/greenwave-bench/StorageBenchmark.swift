import ArgumentParser
import Foundation
import RaftCore
import Storage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Durable append rate of `RaftStore` at batch sizes 1, 16 and 256, beside the raw rate of a plain
/// file appended with write + fdatasync in the same run (same record size, one fdatasync per batch).
struct StorageBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "Entries per second appended durably, beside the raw append+fdatasync rate of this disk."
    )

    @Option(help: "Entries per batch size (raised so that every batch size runs at least 64 transactions).")
    var entries: Int = 4096

    @Option(help: "Directory for the benchmark files (default: a fresh temporary directory, removed afterwards).")
    var dir: String?

    @Option(help: "Bytes per entry / record.")
    var recordSize: Int = 256

    @Option(help: "Batch sizes to measure, comma-separated.")
    var batches: String = "1,16,256"

    func validate() throws {
        guard entries > 0 else { throw ValidationError("--entries must be positive") }
        guard recordSize > 0 else { throw ValidationError("--record-size must be positive") }
        guard !batchSizes.isEmpty else { throw ValidationError("--batches must list positive integers, e.g. 1,16,256") }
    }

    var batchSizes: [Int] {
        batches.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
    }

    func run() throws {
        let base: String
        let removeAfter: Bool
        if let dir {
            base = dir
            removeAfter = false
        } else {
            base = NSTemporaryDirectory() + "greenwave-bench-\(getpid())"
            removeAfter = true
        }
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { if removeAfter { try? FileManager.default.removeItem(atPath: base) } }

        print("storage benchmark: \(recordSize)-byte entries, directory \(base)")
        print("sqlite = RaftStore.append (one transaction per batch, WAL, synchronous=FULL)")
        print("raw    = write(2) of the batch to a plain file + one fdatasync(2) per batch")
        print("")
        var rows: [[String]] = []
        for b in batchSizes {
            let total = max(entries, b * 64) / b * b
            let raw = try rawAppend(path: base + "/raw-\(b).log", batch: b, total: total)
            let sql = try sqliteAppend(dir: base + "/sqlite-\(b)", batch: b, total: total)
            rows.append([
                "\(b)", "\(total / b)",
                fmt(sql.entriesPerSecond, 0), fmt(sql.p50, 2), fmt(sql.p99, 2),
                fmt(raw.entriesPerSecond, 0), fmt(raw.p50, 2), fmt(raw.p99, 2),
                fmt(100 * sql.entriesPerSecond / raw.entriesPerSecond, 0) + "%"
            ])
        }
        printTable(
            header: [
                "batch", "txns", "sqlite entries/s", "p50 ms", "p99 ms",
                "raw entries/s", "p50 ms", "p99 ms", "sqlite/raw"
            ], rows: rows)
    }

    struct Result {
        var entriesPerSecond: Double
        var p50: Double
        var p99: Double
    }

    func sqliteAppend(dir: String, batch: Int, total: Int) throws -> Result {
        try? FileManager.default.removeItem(atPath: dir)
        let store = try RaftStore(directory: dir)
        defer { try? store.close() }
        let payload = [UInt8](repeating: 0xA5, count: recordSize)
        var latencies: [Double] = []
        latencies.reserveCapacity(total / batch)
        var next: LogIndex = 1
        let start = now()
        while next <= LogIndex(total) {
            let entries = (next..<next + LogIndex(batch)).map { Entry(term: 1, index: $0, data: payload) }
            let t0 = now()
            try store.append(entries, hardState: HardState(term: 1, vote: 1, commit: next - 1))
            latencies.append(now() - t0)
            next += LogIndex(batch)
        }
        return summarize(latencies, total: total, seconds: now() - start)
    }

    func rawAppend(path: String, batch: Int, total: Int) throws -> Result {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
        guard fd >= 0 else { throw BenchError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer {
            _ = close(fd)
            unlink(path)
        }
        let buffer = [UInt8](repeating: 0xA5, count: recordSize * batch)
        var latencies: [Double] = []
        latencies.reserveCapacity(total / batch)
        let start = now()
        for _ in 0..<total / batch {
            let t0 = now()
            let written = buffer.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == buffer.count else {
                throw BenchError("short write to \(path): \(String(cString: strerror(errno)))")
            }
            guard fdatasync(fd) == 0 else {
                throw BenchError("fdatasync failed on \(path): \(String(cString: strerror(errno)))")
            }
            latencies.append(now() - t0)
        }
        return summarize(latencies, total: total, seconds: now() - start)
    }

    func summarize(_ latencies: [Double], total: Int, seconds: Double) -> Result {
        let sorted = latencies.sorted()
        func pct(_ p: Double) -> Double {
            sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)] * 1000
        }
        return Result(entriesPerSecond: Double(total) / seconds, p50: pct(0.50), p99: pct(0.99))
    }

    func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    func fmt(_ v: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", v) }

    func printTable(header: [String], rows: [[String]]) {
        let widths = header.indices.map { c in ([header[c]] + rows.map { $0[c] }).map(\.count).max()! }
        func line(_ cells: [String]) -> String {
            "| "
                + cells.enumerated().map {
                    String(repeating: " ", count: widths[$0.offset] - $0.element.count) + $0.element
                }
                .joined(separator: " | ") + " |"
        }
        print(line(header))
        print("|" + widths.map { String(repeating: "-", count: $0 + 1) + ":" }.joined(separator: "|") + "|")
        for row in rows { print(line(row)) }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
