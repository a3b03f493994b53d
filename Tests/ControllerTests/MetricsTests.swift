import Console
import Foundation
import GreenwaveAPI
import GreenwaveTestSupport
import XCTest

@testable import Controller

/// The Prometheus text exposition, parsed strictly: every sample line must be `name{labels} value`.
struct Scrape {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }
    var types: [String: String] = [:]
    var help: [String: String] = [:]
    var samples: [Sample] = []

    static let empty = Scrape()
    private init() {}

    struct Malformed: Error, CustomStringConvertible {
        var line: String
        var description: String { "malformed exposition line: \(line)" }
    }

    init(_ text: String) throws {
        for raw in text.split(separator: "\n") {
            let line = String(raw)
            if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw Malformed(line: line) }
                if line.hasPrefix("# TYPE ") { types[parts[0]] = parts[1] } else { help[parts[0]] = parts[1] }
                continue
            }
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw Malformed(line: line)
            }
            let series = line[..<space]
            guard let open = series.firstIndex(of: "{") else {
                samples.append(Sample(name: String(series), labels: [:], value: value))
                continue
            }
            guard series.last == "}" else { throw Malformed(line: line) }
            var labels: [String: String] = [:]
            for pair in series[series.index(after: open)..<series.index(before: series.endIndex)].split(separator: ",")
            {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, kv[1].hasPrefix("\""), kv[1].hasSuffix("\""), kv[1].count >= 2 else {
                    throw Malformed(line: line)
                }
                labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
            }
            samples.append(Sample(name: String(series[..<open]), labels: labels, value: value))
        }
    }

    /// The value of `name` with `labels` (exactly those labels), if present once.
    func value(_ name: String, _ labels: [String: String]) -> Double? {
        let found = samples.filter { $0.name == name && $0.labels == labels }
        return found.count == 1 ? found[0].value : nil
    }
}

/// `/metrics` as rendered by swift-metrics and the Prometheus library (issue 17, item 2).
final class MetricsTests: XCTestCase {
    /// Every metric name docs/operations.md lists, with its Prometheus type.
    static let documented: [String: String] = [
        "greenwave_health_ok": "gauge", "greenwave_raft_term": "gauge", "greenwave_raft_is_leader": "gauge",
        "greenwave_raft_commit_index": "gauge", "greenwave_raft_applied_index": "gauge",
        "greenwave_raft_apply_lag": "gauge",
        "greenwave_raft_proposals_total": "counter", "greenwave_raft_proposal_batches_total": "counter",
        "greenwave_raft_elections_total": "counter", "greenwave_raft_malformed_dropped_total": "counter",
        "greenwave_audit_checkpoint_mismatches_total": "counter", "greenwave_leader_clock_offset_ms": "gauge",
        "greenwave_transport_messages_sent_total": "counter", "greenwave_transport_messages_dropped_total": "counter",
        "greenwave_transport_decode_errors_total": "counter", "greenwave_transport_protocol_errors_total": "counter",
        "greenwave_transport_tls_handshake_failures_total": "counter",
        "greenwave_transport_certificate_refusals_total": "counter",
        "greenwave_transport_pending_evicted_total": "counter",
        "greenwave_transport_member_connections_replaced_total": "counter",
        "greenwave_transport_log_lines_suppressed_total": "counter", "greenwave_transport_inbound_pending": "gauge",
        "greenwave_transport_inbound_accepted": "gauge", "greenwave_transport_time_samples_total": "counter",
        "greenwave_clock_synced": "gauge", "greenwave_clock_offset_ms": "gauge",
        "greenwave_clock_uncertainty_ms": "gauge",
        "greenwave_clock_drift_ppm": "gauge", "greenwave_clock_alarm": "gauge", "greenwave_clock_residual_ms": "gauge",
        "greenwave_persist_seconds": "histogram", "greenwave_lamp_events_total": "counter",
        "greenwave_lamp_event_write_failures_total": "counter"
    ]

    /// Two registries in one process do not share a series, and a counter made twice is one series.
    func testControllersInOneProcessHaveTheirOwnSeries() throws {
        let a = ControllerMetrics(signal: 1)
        let b = ControllerMetrics(signal: 2)
        a.counter("greenwave_x_total", "X.").increment(by: 3)
        a.counter("greenwave_x_total", "X.").increment()
        b.counter("greenwave_x_total", "X.").increment()
        a.timer("greenwave_t_seconds", "T.", buckets: [.milliseconds(1), .seconds(1)]).recordNanoseconds(2_000_000)
        let sa = try Scrape(a.render())
        let sb = try Scrape(b.render())
        XCTAssertEqual(sa.value("greenwave_x_total", ["signal": "1"]), 4)
        XCTAssertNil(sa.value("greenwave_x_total", ["signal": "2"]))
        XCTAssertEqual(sb.value("greenwave_x_total", ["signal": "2"]), 1)
        XCTAssertEqual(sa.help["greenwave_x_total"], "X.")
        XCTAssertEqual(sa.types["greenwave_t_seconds"], "histogram")
        XCTAssertEqual(sa.value("greenwave_t_seconds_bucket", ["signal": "1", "le": "0.001"]), 0)
        XCTAssertEqual(sa.value("greenwave_t_seconds_bucket", ["signal": "1", "le": "1.0"]), 1)
        XCTAssertEqual(sa.value("greenwave_t_seconds_count", ["signal": "1"]), 1)
        XCTAssertEqual(sa.value("greenwave_t_seconds_sum", ["signal": "1"]) ?? 0, 0.002, accuracy: 1e-9)
        XCTAssertNil(sb.types["greenwave_t_seconds"])
    }

    /// A mirrored total only ever grows, by what its owner's total grew by.
    func testMirroredCounterFollowsTheOwnersTotal() throws {
        let m = ControllerMetrics(signal: 4)
        let mirror = MirroredCounter(m.counter("greenwave_m_total", "M."))
        mirror.mirror(total: 5)
        mirror.mirror(total: 5)
        mirror.mirror(total: 9)
        mirror.mirror(total: 2) // an owner that restarted its count: no decrease
        XCTAssertEqual(try Scrape(m.render()).value("greenwave_m_total", ["signal": "4"]), 9)
    }

    /// Three real controllers in this process: each page has every documented metric, labelled with its own
    /// signal only; a committed command moves the commit and applied indexes, the leader's proposals and
    /// its persistence histogram.
    func testScrapedMetricsMoveWithACommittedCommand() async throws {
        let c = try InProcessCluster()
        guard let leader = try await c.startVoters() else { return XCTFail("no leader among the in-process voters") }
        let before = try await scrape(c, leader)
        for name in Self.documented.keys.sorted() {
            XCTAssertEqual(before.types[name], Self.documented[name], "TYPE of \(name)")
            XCTAssertNotNil(before.help[name], "HELP of \(name)")
        }
        XCTAssertEqual(
            Set(before.samples.compactMap { $0.labels["signal"] }), ["\(leader)"], "only this controller's series")
        let sig = ["signal": "\(leader)"]
        XCTAssertEqual(before.value("greenwave_health_ok", sig), 1)
        XCTAssertEqual(before.value("greenwave_raft_is_leader", sig), 1)
        XCTAssertGreaterThanOrEqual(before.value("greenwave_raft_term", sig) ?? 0, 1)

        let r = CommandRequest(
            operator: TestOperators.engineer.name, clientID: ConsoleClient.newClientID(), sequence: 1, type: "mode",
            plan: "night")
        guard let (code, resp) = await c.command(leader, r), code == 200, let index = resp?.index else {
            await c.stopAll()
            return XCTFail("the command was not accepted")
        }
        let after = try await scrape(c, leader)
        XCTAssertGreaterThanOrEqual(after.value("greenwave_raft_commit_index", sig) ?? 0, Double(index))
        XCTAssertGreaterThanOrEqual(after.value("greenwave_raft_applied_index", sig) ?? 0, Double(index))
        XCTAssertGreaterThan(
            after.value("greenwave_raft_commit_index", sig) ?? 0,
            before.value("greenwave_raft_commit_index", sig) ?? .infinity)
        XCTAssertGreaterThanOrEqual(
            (after.value("greenwave_raft_proposals_total", sig) ?? 0)
                - (before.value("greenwave_raft_proposals_total", sig) ?? 0), 1)
        XCTAssertGreaterThan(
            after.value("greenwave_persist_seconds_count", sig) ?? 0,
            before.value("greenwave_persist_seconds_count", sig) ?? .infinity)
        XCTAssertGreaterThan(after.value("greenwave_transport_messages_sent_total", sig) ?? 0, 0)
        assertHistogramConsistent(after, "greenwave_persist_seconds", signal: leader)

        // A follower reports itself as one, and reaches the index too.
        let follower = TestCorridor.voters.first { $0 != leader }!
        var followerCommit = 0.0
        for _ in 0..<40 where followerCommit < Double(index) {
            followerCommit =
                try await scrape(c, follower).value("greenwave_raft_applied_index", ["signal": "\(follower)"]) ?? 0
            if followerCommit < Double(index) { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        XCTAssertGreaterThanOrEqual(followerCommit, Double(index))
        let followerPage = try await scrape(c, follower)
        XCTAssertEqual(followerPage.value("greenwave_raft_is_leader", ["signal": "\(follower)"]), 0)
        await c.stopAll()
    }

    private func scrape(_ c: InProcessCluster, _ s: Int) async throws -> Scrape {
        let page = await c.text(s, "/metrics")
        let text = try XCTUnwrap(page, "no /metrics from S\(s)")
        return try Scrape(text)
    }

    /// Buckets never decrease, +Inf is the count.
    private func assertHistogramConsistent(
        _ s: Scrape, _ name: String, signal: Int, file: StaticString = #filePath, line: UInt = #line
    ) {
        let buckets = s.samples.filter { $0.name == name + "_bucket" && $0.labels["signal"] == "\(signal)" }
            .map {
                (le: $0.labels["le"] == "+Inf" ? Double.infinity : Double($0.labels["le"] ?? "") ?? .nan, n: $0.value)
            }
            .sorted { $0.le < $1.le }
        XCTAssertEqual(buckets.count, ControllerInstruments.persistBuckets.count + 1, file: file, line: line)
        for (a, b) in zip(buckets, buckets.dropFirst()) { XCTAssertLessThanOrEqual(a.n, b.n, file: file, line: line) }
        XCTAssertEqual(buckets.last?.n, s.value(name + "_count", ["signal": "\(signal)"]), file: file, line: line)
    }
}
