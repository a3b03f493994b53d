import XCTest

@testable import SignalTiming

/// The dual-ring structure, plans and their layout, the pedestrian split check, and the monitor's
/// dual-ring and pedestrian rules.
final class DualRingTests: XCTestCase {
    func testNEMAConflictsAreSameRingOrAcrossTheBarrier() {
        func c(_ a: Int, _ b: Int) -> Bool { DualRing.conflict(PhaseID(a), PhaseID(b)) }
        // Phase 5 runs with phase 2 (its approach), phase 1 with phase 6.
        XCTAssertFalse(c(2, 5))
        XCTAssertFalse(c(1, 6))
        XCTAssertFalse(c(1, 5))
        XCTAssertFalse(c(2, 6))
        XCTAssertTrue(c(1, 2))
        XCTAssertTrue(c(5, 6))
        XCTAssertTrue(c(3, 4))
        XCTAssertTrue(c(7, 8))
        XCTAssertFalse(c(4, 8))
        XCTAssertFalse(c(3, 8))
        XCTAssertFalse(c(4, 7))
        for a in [1, 2, 5, 6] {
            for b in [3, 4, 7, 8] { XCTAssertTrue(c(a, b), "\(a) and \(b) sit across the barrier") }
        }
        XCTAssertFalse(c(4, 4))
        let ring = DualRingFixture.ring()
        XCTAssertEqual(ring.ringPhases.map { $0.map { ring.phases[$0].id.rawValue } }, [[1, 2, 3, 4], [5, 6, 7, 8]])
    }

    func testLeadLagSequences() {
        let ring = DualRingFixture.ring()
        XCTAssertEqual(ring.sequences().map { $0.map(\.rawValue) }, [[1, 2, 3, 4], [5, 6, 7, 8]])
        XCTAssertEqual(
            ring.sequences(leadLag: [[.lag, .lead], [.lead, .lag]]).map { $0.map(\.rawValue) },
            [[2, 1, 3, 4], [5, 6, 8, 7]])
        let noTurns = try! DualRing(phases: DualRingFixture.phases().filter { $0.id.rawValue % 2 == 0 })
        XCTAssertEqual(
            noTurns.sequences(leadLag: [[.lag, .lag], [.lag, .lag]]).map { $0.map(\.rawValue) }, [[2, 4], [6, 8]])
    }

    func testLayoutWindowsAndForceOffs() throws {
        let ring = DualRingFixture.ring()
        let lay = try DualRingLayout(plan: DualRingFixture.plan(), ring: ring)
        func i(_ n: Int) -> Int { ring.index(of: PhaseID(n))! }
        // Lead-lead: 1 runs 0–15 s after the barrier, so 2 (local zero) starts 15 s after it.
        XCTAssertEqual(lay.windowStartMs[i(2)], 0)
        XCTAssertEqual(lay.windowStartMs[i(6)], 0)
        XCTAssertEqual(lay.yieldMs, [39_000, 39_000]) // 45 − 4 − 2
        XCTAssertEqual(lay.windowStartMs[i(3)], 45_000)
        XCTAssertEqual(lay.forceOffMs[i(3)], 50_000) // 45 + 10 − 5
        XCTAssertEqual(lay.forceOffMs[i(4)], 80_000) // 55 + 30 − 5
        XCTAssertEqual(lay.windowStartMs[i(1)], 85_000)
        XCTAssertEqual(lay.forceOffMs[i(1)], 95_000) // in the frame after the yield
        // Lagging turn on ring 1: 2 starts at the barrier, 6 after 5: local zero is 2's start.
        let lagging = try DualRingLayout(
            plan: DualRingFixture.plan(leadLag: [[.lag, .lead], [.lead, .lead]]), ring: ring)
        XCTAssertEqual(lagging.windowStartMs[i(2)], 0)
        XCTAssertEqual(lagging.windowStartMs[i(6)], 15_000)
        XCTAssertEqual(lagging.yieldMs, [39_000, 54_000])
        XCTAssertEqual(lagging.forceOffMs[i(1)], 55_000) // 45 + 15 − 5, after 2's yield
    }

    func testPlansThatCannotRunAreRefused() {
        let ring = DualRingFixture.ring()
        var p = DualRingFixture.plan()
        p.splitsMs[PhaseID(1)] = 20_000
        p.splitsMs[PhaseID(2)] = 40_000
        p.splitsMs[PhaseID(5)] = 10_000 // ring 2's side of the barrier is now 55 s against 60 s
        XCTAssertThrowsError(try DualRingLayout(plan: p, ring: ring)) {
            XCTAssertTrue("\($0)".contains("barrier"), "\($0)")
        }
        p = DualRingFixture.plan()
        p.splitsMs[PhaseID(4)] = 25_000 // walk 7 + clearance 18 + 5 = 30 s needed
        p.splitsMs[PhaseID(3)] = 15_000
        p.splitsMs[PhaseID(8)] = 25_000
        p.splitsMs[PhaseID(7)] = 15_000
        XCTAssertThrowsError(try DualRingLayout(plan: p, ring: ring)) {
            XCTAssertTrue("\($0)".contains("phase 4 split"), "\($0)")
        }
        p = DualRingFixture.plan()
        p.sequences = [[3, 4, 1, 2].map { PhaseID($0) }, [5, 6, 7, 8].map { PhaseID($0) }]
        XCTAssertThrowsError(try DualRingLayout(plan: p, ring: ring))
        p = DualRingFixture.plan(offsetMs: 100_000)
        XCTAssertThrowsError(try DualRingLayout(plan: p, ring: ring))
        p = DualRingFixture.plan()
        p.coordinatedPhases = [PhaseID(2), PhaseID(8)]
        XCTAssertThrowsError(try DualRingLayout(plan: p, ring: ring))
        XCTAssertThrowsError(try DualRing(phases: DualRingFixture.phases().filter { $0.id.rawValue <= 4 }))
        XCTAssertThrowsError(try DualRing(phases: DualRingFixture.phases() + [DualRingFixture.phases()[0]]))
        var bad = DualRingFixture.phases()
        bad[1].maxGreenMs = 5_000 // below min green
        XCTAssertThrowsError(try DualRing(phases: bad))
    }

    func testPedestrianSplitCheck() throws {
        // 19.2 m at the default 1.07 m/s: 17.944 s of flashing don't-walk.
        XCTAssertEqual(
            try PedDefaults.clearanceMs(crossingMm: 19_200, walkingSpeedMmPerS: PedDefaults.walkingSpeedMmPerS), 17_944)
        XCTAssertEqual(try PedTiming(crossingMm: 19_200).clearanceMs, 18_000) // rounded up to the 100 ms step
        // The normal plan's 24 s side split cannot serve it; 30 s can (7 + 17.944 + 3 + 2 = 29.944 s).
        XCTAssertThrowsError(
            try PedDefaults.checkSplit(splitMs: 24_000, crossingMm: 19_200, yellowMs: 3_000, redClearanceMs: 2_000)
        ) {
            XCTAssertTrue("\($0)".contains("29944"), "\($0)")
        }
        XCTAssertNoThrow(
            try PedDefaults.checkSplit(splitMs: 30_000, crossingMm: 19_200, yellowMs: 3_000, redClearanceMs: 2_000))
        XCTAssertThrowsError(
            try PedDefaults.checkSplit(
                splitMs: 30_000, crossingMm: 19_200, walkingSpeedMmPerS: 900,
                yellowMs: 3_000, redClearanceMs: 2_000))
        XCTAssertThrowsError(try PedDefaults.clearanceMs(crossingMm: 0, walkingSpeedMmPerS: 1_070))
        XCTAssertThrowsError(try PedDefaults.clearanceMs(crossingMm: 10_000, walkingSpeedMmPerS: 0))
    }

    func testMonitorTripsOnAWalkWithAConflictingGreen() {
        let ring = DualRingFixture.ring()
        func i(_ n: Int) -> Int { ring.index(of: PhaseID(n))! }
        var lamps = [Lamp](repeating: .red, count: 8)
        var peds = [PedLamp](repeating: .dontWalk, count: 8)
        var m = ConflictMonitor(dualRing: ring)
        m.observe(atMs: 0, lamps: lamps, peds: peds)
        lamps[i(2)] = .green
        lamps[i(5)] = .green
        peds[i(2)] = .walk
        XCTAssertEqual(
            m.observe(atMs: 1_000, lamps: lamps, peds: peds), [], "2 with 5 and 2's walk is a legal dual-ring state")
        // 4 green across the barrier with 2's walk: a conflicting green for the vehicles and the walk.
        lamps[i(4)] = .green
        let f = m.observe(atMs: 2_000, lamps: lamps, peds: peds).map(\.kind)
        XCTAssertTrue(f.contains(.conflictingGreens(PhaseID(2), PhaseID(4))), "\(f)")
        XCTAssertTrue(f.contains(.pedWithConflictingVehicle(ped: PhaseID(2), vehicle: PhaseID(4))), "\(f)")
        // A walk whose own phase is red, with a conflicting green only on the vehicle side not involved.
        var m2 = ConflictMonitor(dualRing: ring)
        lamps = [Lamp](repeating: .red, count: 8)
        peds = [PedLamp](repeating: .dontWalk, count: 8)
        m2.observe(atMs: 0, lamps: lamps, peds: peds)
        lamps[i(1)] = .green
        peds[i(6)] = .walk // 6's walk with 1 green (1 and 6 are compatible), 6 red
        XCTAssertEqual(
            m2.observe(atMs: 1_000, lamps: lamps, peds: peds).map(\.kind),
            [.pedWithoutOwnGreen(PhaseID(6), shown: .walk, vehicle: .red)])
        // 5 green during 6's walk: 5 crosses 6's traffic.
        var m3 = ConflictMonitor(dualRing: ring)
        lamps = [Lamp](repeating: .red, count: 8)
        peds = [PedLamp](repeating: .dontWalk, count: 8)
        lamps[i(6)] = .green
        peds[i(6)] = .walk
        m3.observe(atMs: 0, lamps: lamps, peds: peds)
        lamps[i(5)] = .green
        XCTAssertTrue(
            m3.observe(atMs: 1_000, lamps: lamps, peds: peds).map(\.kind).contains(
                .pedWithConflictingVehicle(ped: PhaseID(6), vehicle: PhaseID(5))))
    }

    func testMonitorTripsOnAShortFlashingDontWalk() {
        let ring = DualRingFixture.ring()
        let k = ring.index(of: PhaseID(4))!
        var lamps = [Lamp](repeating: .red, count: 8)
        var peds = [PedLamp](repeating: .dontWalk, count: 8)
        var m = ConflictMonitor(dualRing: ring)
        m.observe(atMs: 0, lamps: lamps, peds: peds)
        lamps[k] = .green
        peds[k] = .walk
        m.observe(atMs: 2_000, lamps: lamps, peds: peds)
        peds[k] = .flashingDontWalk
        m.observe(atMs: 9_000, lamps: lamps, peds: peds)
        peds[k] = .dontWalk
        XCTAssertEqual(
            m.observe(atMs: 20_000, lamps: lamps, peds: peds).map(\.kind),
            [.pedClearanceTooShort(PhaseID(4), actualMs: 11_000, requiredMs: 18_000)])
        // Walk straight to don't walk (the clearance cut out entirely).
        var m2 = ConflictMonitor(dualRing: ring)
        peds[k] = .walk
        m2.observe(atMs: 0, lamps: lamps, peds: peds)
        peds[k] = .dontWalk
        XCTAssertEqual(
            m2.observe(atMs: 7_000, lamps: lamps, peds: peds).map(\.kind),
            [.pedSequence(PhaseID(4), from: .walk, to: .dontWalk)])
    }
}
