import Console
import Foundation
import GRDB
import GreenwaveAPI
import GreenwaveTestSupport
import RaftCore
import Storage
import XCTest

@testable import Controller

/// Lamp events reach storage through one ordered channel that shutdown drains, and a lamp row the store
/// refuses does not stop Raft (issue 17, item 6).
final class LampEventOrderTests: XCTestCase {
    func event(_ t: Int64) -> LampEvent { LampEvent(signalID: "1", timeMs: t, eventCode: 1, parameter: t) }

    func testChannelKeepsOrderAndHandsOverEverythingSentBeforeFinish() async {
        let channel = LampEventChannel(capacity: 100_000)
        let received = LockedEvents()
        let consumer = Task { await channel.deliver { await received.append($0) } }
        // A producer faster than the consumer: batches coalesce, order stays.
        for t in 0..<5_000 { XCTAssertEqual(channel.send([event(Int64(2 * t)), event(Int64(2 * t + 1))]), .sent) }
        channel.finish()
        XCTAssertEqual(channel.send([event(-1)]), .closed, "nothing is taken after finish")
        await channel.drained()
        let all = await received.all
        XCTAssertEqual(all.map(\.timeMs), (0..<10_000).map(Int64.init))
        await consumer.value
    }

    func testChannelDropsWhatDoesNotFitAndSaysSo() async {
        let channel = LampEventChannel(capacity: 3)
        XCTAssertEqual(channel.send([event(1), event(2)]), .sent)
        XCTAssertEqual(channel.send([event(3), event(4)]), .dropped(2))
        XCTAssertEqual(channel.send([event(3)]), .sent)
        channel.finish()
        let batch = await channel.next()
        XCTAssertEqual(batch?.map(\.timeMs), [1, 2, 3])
        let end = await channel.next()
        XCTAssertNil(end)
    }

    /// The consumer is not ended by cancellation (the shutdown runs in a cancelled task group): only
    /// `finish` ends it, after what was sent.
    func testCancelledConsumerStillDeliversUntilFinish() async {
        let channel = LampEventChannel()
        let received = LockedEvents()
        let consumer = Task { await channel.deliver { await received.append($0) } }
        consumer.cancel()
        XCTAssertEqual(channel.send([event(1)]), .sent)
        try? await Task.sleep(nanoseconds: 20_000_000)
        XCTAssertEqual(channel.send([event(2)]), .sent)
        channel.finish()
        await channel.drained()
        let all = await received.all
        XCTAssertEqual(all.map(\.timeMs), [1, 2])
    }

    /// A write whose lamp rows the store refuses is stored without them; the same write without lamp
    /// events fails as before.
    func testRefusedLampRowsDoNotFailTheRaftStateTheyRideWith() throws {
        let dir = try temporaryFolder(self, "lamp-refused")
        let store = try RaftStore(directory: dir.path)
        defer { try? store.close() }
        try store.refuseLampRows(true)
        var batch = WriteBatch(lampEvents: [event(1)])
        batch.add(
            hardState: HardState(term: 1, vote: 1, commit: 0),
            entries: [Entry(term: 1, index: 1, kind: .noop, data: [])])
        let outcome = RaftDriver.commitSeparatingLampEvents(store, batch)
        XCTAssertNil(outcome.failure)
        XCTAssertTrue(
            outcome.lampFailure?.contains("fault injection: lamp rows refused") == true,
            "\(String(describing: outcome.lampFailure))")
        XCTAssertEqual(try store.lastIndex(), 1, "the entry is stored")
        XCTAssertEqual(try store.hardState().term, 1)
        XCTAssertEqual(try store.lampEvents(from: .min, to: .max), [])
        // Lamp events alone: the lamp failure, nothing else.
        let alone = RaftDriver.commitSeparatingLampEvents(store, WriteBatch(lampEvents: [event(2)]))
        XCTAssertNil(alone.failure)
        XCTAssertNotNil(alone.lampFailure)
        try store.refuseLampRows(false)
        XCTAssertEqual(
            RaftDriver.commitSeparatingLampEvents(store, WriteBatch(lampEvents: [event(3)])).lampFailure, nil)
        XCTAssertEqual(try store.lampEvents(from: .min, to: .max).map(\.timeMs), [3])
    }

    /// Three real controllers in this process. The leader's store refuses lamp rows for a while: commands
    /// still commit there, the controller stays healthy, the failures are counted; once the store takes
    /// them again the waiting events are stored. After a stop every event each lamp driver sent is in
    /// its store, in order of time.
    func testRefusedLampRowsAreCountedRetriedAndStopDrainsTheRest() async throws {
        let c = try InProcessCluster()
        guard let leader = try await c.startVoters() else { return XCTFail("no leader among the in-process voters") }
        let folder = c.corridor.dataFolder(leader).path
        let refused = await c.post(leader, "/v1/debug/refuse-lamp-rows?on=1")
        XCTAssertEqual(refused, 200)
        let rowsBefore = try lampRows(folder).count
        // Commands until the refused rows show (the lamps send events again once the 10 s start-up flash
        // ends), at least six, at most 40 s.
        let sig = ["signal": "\(leader)"]
        var sent = 0
        var committed = 0
        var during = Scrape.empty
        let deadline = Date().addingTimeInterval(40)
        while Date() < deadline
            && (sent < 6 || (during.value("greenwave_lamp_event_write_failures_total", sig) ?? 0) == 0)
        {
            sent += 1
            let r = CommandRequest(
                operator: TestOperators.engineer.name, clientID: ConsoleClient.newClientID(), sequence: 1,
                type: "mode", plan: sent % 2 == 0 ? "night" : "normal")
            if let (code, _) = await c.command(leader, r), code == 200 { committed += 1 }
            try await Task.sleep(nanoseconds: 300_000_000)
            let page = await c.text(leader, "/metrics")
            during = try Scrape(try XCTUnwrap(page))
        }
        XCTAssertEqual(committed, sent, "Raft goes on while lamp rows are refused")
        XCTAssertEqual(during.value("greenwave_health_ok", sig), 1)
        XCTAssertGreaterThan(
            during.value("greenwave_lamp_event_write_failures_total", sig) ?? 0, 0, "the failures are counted")
        XCTAssertGreaterThan(during.value("greenwave_lamp_events_total", sig) ?? 0, 0)
        XCTAssertEqual(try lampRows(folder).count, rowsBefore, "no lamp row is stored while they are refused")
        let accepted = await c.post(leader, "/v1/debug/refuse-lamp-rows?on=0")
        XCTAssertEqual(accepted, 200)
        try await Task.sleep(nanoseconds: 2_500_000_000)
        XCTAssertGreaterThan(
            try lampRows(folder).count, rowsBefore, "the kept events are stored once the store takes them")
        await c.stopAll()
        for s in TestCorridor.voters {
            let m = try Scrape(c.metrics[s]!.render())
            let sent = (m.value("greenwave_lamp_events_total", ["signal": "\(s)"]) ?? -1)
            let dropped = (m.value("greenwave_lamp_events_dropped_total", ["signal": "\(s)"]) ?? -1)
            let rows = try lampRows(c.corridor.dataFolder(s).path)
            XCTAssertEqual(dropped, 0, "S\(s)")
            XCTAssertEqual(Double(rows.count), sent, "S\(s): every lamp event sent before the stop is stored")
            XCTAssertEqual(rows, rows.sorted(), "S\(s): stored in the order shown, the retried ones too")
        }
    }

    // MARK: - Helpers

    /// The stored lamp events' times, in row order.
    /// A stop's own record (182) is sent at the very end, after the lamps stopped: it is stored only if the
    /// shutdown waits for the channel to drain before the driver's last flush.
    func testTheStopRecordIsStoredLastWithEveryEventBeforeIt() async throws {
        let c = try InProcessCluster()
        guard try await c.startVoters() != nil else { return XCTFail("no leader among the in-process voters") }
        let deadline = Date().addingTimeInterval(20)
        var started: [Int: Int] = [:]
        while Date() < deadline && started.count < 3 {
            for s in TestCorridor.voters where started[s] == nil {
                let rows = try lampRows(c.corridor.dataFolder(s).path)
                if !rows.isEmpty { started[s] = rows.count }
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        XCTAssertEqual(started.count, 3, "every voter's start-up record is stored")
        await c.stopAll()
        for s in TestCorridor.voters {
            var rows: [(code: Int64, time: Int64)] = []
            try withDatabase(c.corridor.dataFolder(s).path) { db in
                rows = try Row.fetchAll(db, sql: "SELECT event_code, time_ms FROM lamp_event ORDER BY id").map {
                    (code: $0[0], time: $0[1])
                }
            }
            let m = try Scrape(c.metrics[s]!.render())
            XCTAssertEqual(Double(rows.count), m.value("greenwave_lamp_events_total", ["signal": "\(s)"]), "S\(s)")
            XCTAssertEqual(rows.last?.code, HiResCode.powerFailure, "S\(s): the stop is the last record")
            XCTAssertEqual(rows.filter { $0.code == HiResCode.powerFailure }.count, 1, "S\(s)")
            XCTAssertEqual(rows.last?.time, rows.map(\.time).max(), "S\(s): nothing after the stop")
            XCTAssertEqual(rows.first?.code, HiResCode.powerRestored, "S\(s): the start is the first")
        }
    }

    func lampRows(_ folder: String) throws -> [Int64] {
        var out: [Int64] = []
        try withDatabase(folder) { out = try Int64.fetchAll($0, sql: "SELECT time_ms FROM lamp_event ORDER BY id") }
        return out
    }

    /// Reads the controller's database through a connection of the test's own (WAL: it blocks no writer).
    func withDatabase(_ folder: String, _ body: (Database) throws -> Void) throws {
        var config = Configuration()
        config.readonly = true
        let db = try DatabaseQueue(
            path: (folder as NSString).appendingPathComponent(RaftStore.databaseFileName), configuration: config)
        try db.read { try body($0) }
        try db.close()
    }
}

actor LockedEvents {
    private(set) var all: [LampEvent] = []
    func append(_ e: [LampEvent]) { all.append(contentsOf: e) }
}
