import XCTest

@testable import SignalTiming

/// The monitor must catch each kind of bad lamp stream: these feed it deliberately unsafe output.
final class ConflictMonitorTests: XCTestCase {
    // Phase order in the fixture: 2, 6, 1, 5, 4, 8.
    let s = Fixture.signal(1, at: 0)
    // swift-format-ignore: AlwaysUseLowerCamelCase
    let R = Lamp.red, G = Lamp.green, Y = Lamp.yellow

    func lamps(
        _ p2: Lamp, _ p6: Lamp, _ p1: Lamp = .red, _ p5: Lamp = .red, _ p4: Lamp = .red, _ p8: Lamp = .red
    ) -> [Lamp] {
        [p2, p6, p1, p5, p4, p8]
    }

    func testCleanSequencePasses() {
        var m = ConflictMonitor(signal: s)
        m.observe(atMs: 0, lamps: lamps(R, R))
        m.observe(atMs: 1_000, lamps: lamps(G, G))
        m.observe(atMs: 11_000, lamps: lamps(Y, Y))
        m.observe(atMs: 15_000, lamps: lamps(R, R))
        m.observe(atMs: 17_000, lamps: lamps(R, R, R, R, G, G))
        m.observe(atMs: 24_000, lamps: lamps(R, R, R, R, Y, Y))
        m.observe(atMs: 27_000, lamps: lamps(R, R))
        XCTAssertEqual(m.faults, [])
    }

    func testConflictingGreens() {
        var m = ConflictMonitor(signal: s)
        let f = m.observe(atMs: 0, lamps: lamps(G, R, G, R))
        XCTAssertEqual(f.map(\.kind), [.conflictingGreens(PhaseID(2), PhaseID(1))])
        XCTAssertTrue(m.tripped)
        m.reset()
        XCTAssertFalse(m.tripped)
    }

    func testYellowShorterThanProgrammed() {
        var m = ConflictMonitor(signal: s)
        m.observe(atMs: 0, lamps: lamps(G, G))
        m.observe(atMs: 10_000, lamps: lamps(Y, Y))
        let f = m.observe(atMs: 13_000, lamps: lamps(R, R))
        XCTAssertEqual(
            f.map(\.kind),
            [
                .yellowTooShort(PhaseID(2), actualMs: 3_000, requiredMs: 4_000),
                .yellowTooShort(PhaseID(6), actualMs: 3_000, requiredMs: 4_000)
            ])
    }

    func testRedClearanceShorterThanProgrammed() {
        var m = ConflictMonitor(signal: s)
        m.observe(atMs: 0, lamps: lamps(G, G))
        m.observe(atMs: 10_000, lamps: lamps(Y, Y))
        m.observe(atMs: 14_000, lamps: lamps(R, R))
        let f = m.observe(atMs: 15_000, lamps: lamps(R, R, R, R, G, R))
        XCTAssertEqual(
            f.map(\.kind),
            [
                .redClearanceTooShort(PhaseID(4), afterYellowOf: PhaseID(2), actualMs: 1_000, requiredMs: 2_000),
                .redClearanceTooShort(PhaseID(4), afterYellowOf: PhaseID(6), actualMs: 1_000, requiredMs: 2_000)
            ])
    }

    func testGreenShorterThanMinGreen() {
        var m = ConflictMonitor(signal: s)
        m.observe(atMs: 0, lamps: lamps(R, R))
        m.observe(atMs: 1_000, lamps: lamps(G, R))
        let f = m.observe(atMs: 5_000, lamps: lamps(Y, R))
        XCTAssertEqual(f.map(\.kind), [.greenTooShort(PhaseID(2), actualMs: 4_000, requiredMs: 10_000)])
    }

    func testGreenStraightToRed() {
        var m = ConflictMonitor(signal: s)
        m.observe(atMs: 0, lamps: lamps(R, R))
        m.observe(atMs: 1_000, lamps: lamps(G, R))
        let f = m.observe(atMs: 20_000, lamps: lamps(R, R))
        XCTAssertEqual(f.map(\.kind), [.greenNotFollowedByYellow(PhaseID(2), next: .red)])
    }

    func testYellowStraightToGreenAndGreenFromFlash() {
        var m = ConflictMonitor(signal: s)
        m.observe(atMs: 0, lamps: lamps(Y, .flashingYellow))
        let f = m.observe(atMs: 5_000, lamps: lamps(G, G))
        XCTAssertEqual(
            f.map(\.kind),
            [
                .yellowNotFollowedByRed(PhaseID(2), next: .green),
                .greenNotFromRed(PhaseID(2), previous: .yellow),
                .redClearanceTooShort(PhaseID(2), afterYellowOf: PhaseID(2), actualMs: 0, requiredMs: 2_000),
                .greenNotFromRed(PhaseID(6), previous: .flashingYellow)
            ])
    }

    func testDarkPhase() {
        var m = ConflictMonitor(signal: s)
        XCTAssertEqual(m.observe(atMs: 0, lamps: lamps(R, .dark)).map(\.kind), [.dark(PhaseID(6))])
    }
}
