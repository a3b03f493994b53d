import Foundation
import RaftCore
import XCTest

@testable import Storage

final class LampEventTests: XCTestCase {
    func testRangeQueriesBySignalAndTime() throws {
        let (store, _) = try makeStore(self)
        let base: Int64 = 1_700_000_000_000
        var events: [LampEvent] = []
        for t in stride(from: Int64(0), to: 10_000, by: 500) {
            for signal in ["WEH-01", "WEH-02", "WEH-10"] {
                events.append(LampEvent(signalID: signal, timeMs: base + t, eventCode: 1 + t % 3, parameter: t / 500))
            }
        }
        // Written out of time order, in two transactions.
        let shuffled = events.shuffled(using: &seeded)
        try store.appendLampEvents(Array(shuffled.prefix(25)))
        try store.appendLampEvents(Array(shuffled.dropFirst(25)))
        let expected = events.filter {
            $0.signalID == "WEH-02" && $0.timeMs >= base + 1_000 && $0.timeMs < base + 3_000
        }
        XCTAssertEqual(expected.count, 4)
        XCTAssertEqual(try store.lampEvents(signalID: "WEH-02", from: base + 1_000, to: base + 3_000), expected)
        XCTAssertEqual(
            try store.lampEvents(signalID: "WEH-10", from: 0, to: .max), events.filter { $0.signalID == "WEH-10" })
        XCTAssertEqual(try store.lampEvents(signalID: "WEH-99", from: 0, to: .max), [])
        XCTAssertEqual(try store.lampEvents(signalID: "WEH-01", from: base + 9_501, to: .max), [])
    }

    func testExactResultsAndTieOrder() throws {
        let (store, _) = try makeStore(self)
        let a = LampEvent(signalID: "S1", timeMs: 100, eventCode: 1, parameter: 2)
        let b = LampEvent(signalID: "S1", timeMs: 100, eventCode: 8, parameter: 2)
        let c = LampEvent(signalID: "S1", timeMs: 50, eventCode: 10, parameter: 4)
        let d = LampEvent(signalID: "S2", timeMs: 75, eventCode: 1, parameter: 6)
        try store.appendLampEvents([a, b, c, d])
        XCTAssertEqual(try store.lampEvents(signalID: "S1", from: 0, to: 1_000), [c, a, b])
        XCTAssertEqual(try store.lampEvents(signalID: "S1", from: 50, to: 100), [c], "the upper bound is exclusive")
        XCTAssertEqual(try store.lampEvents(signalID: "S1", from: 0, to: 1_000, limit: 2), [c, a])
        XCTAssertEqual(try store.lampEvents(from: 0, to: 1_000), [c, d, a, b])
        XCTAssertEqual(try store.pruneLampEvents(before: 80), 2)
        XCTAssertEqual(try store.lampEvents(from: 0, to: 1_000), [a, b])
    }

    func testQueryUsesTheSignalTimeIndex() throws {
        let (store, _) = try makeStore(self)
        let plan = try store.queryPlanForTesting(
            "SELECT * FROM lamp_event WHERE signal_id = 'S1' AND time_ms >= 0 AND time_ms < 10 ORDER BY time_ms, id")
        XCTAssertTrue(plan.contains { $0.contains("lamp_event_by_signal_time") }, "\(plan)")
    }

    var seeded = SplitMix64(seed: 42)
}
