import Foundation
import Logging
import RaftCore
import XCTest

@testable import Controller
@testable import Transport

/// The time exchange loop's pace (issue 19: at 500 ms, 47 controllers asking 5 voters were most of an idle
/// corridor's traffic): every 100 ms until the lamps start, every `exchangeIntervalMs` for `steadyAfterMs`
/// after, then every `steadyExchangeIntervalMs`; a peer's stepped clock makes it dense again. On a fake clock
/// (`FakeTime`).
final class ClockExchangeIntervalTests: XCTestCase {
    /// An exchange with peer 2 whose clock is `offsetUs` ahead, 200 µs each way.
    func sample(_ c: FakeTime, offsetUs: Int64) -> TimeExchangeSample {
        let t1 = c.source.wallClockUs()
        return TimeExchangeSample(peer: 2, t1: t1, t2: t1 + 200 + offsetUs, t3: t1 + 210 + offsetUs, t4: t1 + 410)
    }

    func testDenseAtStartAndAfterAStepSparseOnceSettled() async throws {
        let fake = FakeTime(wallMs: 1_700_000_000_000)
        var settings = CorridorTimeSettings()
        settings.syncWaitMs = 0
        XCTAssertNoThrow(try settings.validate(faultInjection: false))
        let clock = ControllerClock(
            selfID: 1, voters: [1, 2, 3], settings: settings, logger: Logger(label: "test"), source: fake.source)
        XCTAssertEqual(clock.exchangeIntervalMs(), 100, "until the lamps start")
        for _ in 0..<6 {
            clock.add(sample(fake, offsetUs: 1_000))
            fake.advance(ms: 500)
        }
        XCTAssertTrue(clock.synced)
        _ = await clock.lampsStarting()
        XCTAssertEqual(clock.exchangeIntervalMs(), settings.exchangeIntervalMs, "the first minute after")
        fake.advance(ms: settings.steadyAfterMs - 1_000)
        clock.add(sample(fake, offsetUs: 1_000))
        XCTAssertEqual(clock.exchangeIntervalMs(), settings.exchangeIntervalMs)
        fake.advance(ms: 2_000)
        clock.add(sample(fake, offsetUs: 1_000))
        XCTAssertEqual(clock.exchangeIntervalMs(), settings.steadyExchangeIntervalMs, "settled")
        // Peer 2's clock steps by 300 ms: its window restarts, and the exchanges are dense again for a while.
        fake.advance(ms: 2_000)
        clock.add(sample(fake, offsetUs: 301_000))
        XCTAssertEqual(clock.exchangeIntervalMs(), settings.exchangeIntervalMs, "after a step")
        fake.advance(ms: settings.steadyAfterMs + 1)
        XCTAssertEqual(clock.exchangeIntervalMs(), settings.steadyExchangeIntervalMs)
    }

    func testIntervalsOutOfRangeAreRefused() {
        var s = CorridorTimeSettings()
        s.steadyExchangeIntervalMs = 100 // below the first interval
        XCTAssertThrowsError(try s.validate(faultInjection: false))
        s = CorridorTimeSettings()
        s.steadyExchangeIntervalMs = 120_000
        XCTAssertThrowsError(try s.validate(faultInjection: false))
        s = CorridorTimeSettings()
        s.steadyAfterMs = -1
        XCTAssertThrowsError(try s.validate(faultInjection: false))
    }
}
