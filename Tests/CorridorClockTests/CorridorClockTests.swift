import CorridorClock
import XCTest

/// A small seeded generator, so that every run sees the same delays.
struct TestRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A simulated controller clock: `true + offset + drift · true` (µs).
struct SimClock {
    var offsetUs: Int64
    var driftPpm: Double
    func read(_ trueUs: Int64) -> Int64 {
        trueUs + offsetUs + Int64((Double(trueUs - SimClock.epoch) * driftPpm / 1e6).rounded())
    }
    static let epoch: Int64 = 1_800_000_000_000_000
}

/// One exchange from `a` to `b` starting at true time `t`: one-way delays `up` and `down`, the peer holds
/// the request `hold` µs.
func exchange(_ a: SimClock, _ b: SimClock, at t: Int64, up: Int64, down: Int64, hold: Int64 = 20) -> ClockSample {
    ClockSample(t1: a.read(t), t2: b.read(t + up), t3: b.read(t + up + hold), t4: a.read(t + up + hold + down))
}

final class ClockSampleTests: XCTestCase {
    func testSymmetricDelaysGiveTheExactOffsetAndAsymmetryStaysWithinHalfTheRoundTrip() {
        let a = SimClock(offsetUs: 0, driftPpm: 0)
        let b = SimClock(offsetUs: 2_345_678, driftPpm: 0)
        let s = exchange(a, b, at: SimClock.epoch, up: 300, down: 300)
        XCTAssertNil(s.problem)
        XCTAssertEqual(s.offset, 2_345_678)
        XCTAssertEqual(s.roundTrip, 600)
        var rng = TestRNG(seed: 7)
        for _ in 0..<1_000 {
            let up = Int64.random(in: 50...20_000, using: &rng)
            let down = Int64.random(in: 50...20_000, using: &rng)
            let s = exchange(a, b, at: SimClock.epoch, up: up, down: down)
            XCTAssertNil(s.problem)
            XCTAssertEqual(s.roundTrip, up + down)
            XCTAssertLessThanOrEqual(
                (s.offset - 2_345_678).magnitude, UInt64(s.roundTrip / 2 + 1),
                "the error is bounded by rt/2 whatever the asymmetry")
        }
    }

    func testImpossibleAndHostileSamplesAreRefusedWithoutTrapping() {
        let max = ClockSample.maxTimestampUs
        let bad: [ClockSample] = [
            ClockSample(t1: -1, t2: 0, t3: 0, t4: 0),
            ClockSample(t1: 0, t2: max + 1, t3: max + 1, t4: 0),
            ClockSample(t1: .max, t2: .min, t3: .max, t4: .min),
            ClockSample(t1: 100, t2: 50, t3: 60, t4: 90), // answer before the request
            ClockSample(t1: 100, t2: 50, t3: 40, t4: 200), // peer answered before it received
            ClockSample(t1: 100, t2: 0, t3: 500, t4: 200), // the peer held it longer than the exchange took
            ClockSample(t1: 0, t2: 10, t3: 10, t4: ClockSample.maxRoundTripUs + 1)
        ]
        for s in bad { XCTAssertNotNil(s.problem, "\(s)") }
        var f = PeerClockFilter()
        for s in bad { XCTAssertFalse(f.add(s)) }
        XCTAssertNil(f.estimate(at: 0))
        // The extremes that pass compute without overflow.
        let edge = ClockSample(t1: 0, t2: max, t3: max, t4: 0)
        XCTAssertNil(edge.problem)
        XCTAssertEqual(edge.offset, max)
        let edge2 = ClockSample(t1: max, t2: 0, t3: 0, t4: max)
        XCTAssertEqual(edge2.offset, -max)
    }
}

final class PeerClockFilterTests: XCTestCase {
    /// Delays like a busy link: mostly small, sometimes queued for tens of ms, one way more than the other.
    func delay(_ rng: inout TestRNG) -> Int64 {
        let base = Int64.random(in: 80...300, using: &rng)
        return Int.random(in: 0..<4, using: &rng) == 0 ? base + Int64.random(in: 1_000...40_000, using: &rng) : base
    }

    func testTheLowestRoundTripWinsAndDriftIsMeasured() {
        for seed in UInt64(1)...20 {
            var rng = TestRNG(seed: seed)
            let me = SimClock(offsetUs: 0, driftPpm: 0)
            let drift = Double(Int.random(in: -500...500, using: &rng))
            let peer = SimClock(offsetUs: Int64.random(in: -5_000_000...5_000_000, using: &rng), driftPpm: drift)
            var f = PeerClockFilter()
            var t = SimClock.epoch
            for _ in 0..<40 {
                f.add(exchange(me, peer, at: t, up: delay(&rng), down: delay(&rng)))
                t += 500_000
            }
            let now = me.read(t)
            guard let e = f.estimate(at: now) else { return XCTFail("no estimate") }
            let truth = peer.read(t) - me.read(t)
            // Error: half the best round trip plus what drift-fit noise adds over the sample's age.
            XCTAssertLessThanOrEqual(
                (e.offsetUs - truth).magnitude, UInt64(e.roundTripUs / 2 + 400), "seed \(seed): \(e) vs \(truth)")
            XCTAssertLessThan(e.roundTripUs, 1_000, "seed \(seed): a queued sample was chosen")
            XCTAssertEqual(e.driftPpm, drift, accuracy: 40, "seed \(seed)")
        }
    }

    func testAStepOfThePeersClockRestartsTheWindow() {
        let me = SimClock(offsetUs: 0, driftPpm: 0)
        var peer = SimClock(offsetUs: 1_000, driftPpm: 0)
        var f = PeerClockFilter()
        var t = SimClock.epoch
        for _ in 0..<8 {
            f.add(exchange(me, peer, at: t, up: 100, down: 100))
            t += 500_000
        }
        XCTAssertEqual(f.estimate(at: me.read(t))?.offsetUs, 1_000)
        peer.offsetUs = 801_000
        // Slower samples after the step: without the restart the old, faster ones would keep winning.
        f.add(exchange(me, peer, at: t, up: 400, down: 400))
        XCTAssertEqual(f.steps, 1)
        XCTAssertEqual(f.estimate(at: me.read(t))?.offsetUs, 801_000)
    }

    func testAPeerFallsSilentAndIsForgotten() {
        let me = SimClock(offsetUs: 0, driftPpm: 0)
        let peer = SimClock(offsetUs: 10, driftPpm: 0)
        var f = PeerClockFilter()
        f.add(exchange(me, peer, at: SimClock.epoch, up: 100, down: 100))
        XCTAssertNotNil(f.estimate(at: SimClock.epoch + 1_000_000))
        XCTAssertNil(f.estimate(at: SimClock.epoch + f.settings.staleUs + 1_000))
    }
}

final class CorridorClockEstimatorTests: XCTestCase {
    /// Five voters; the clocks in `clocks` (index = node id − 1). Every node exchanges with every other
    /// voter every 500 ms for `seconds`; returns each node's estimator.
    func run(
        _ clocks: [SimClock], seed: UInt64, seconds: Int = 20, asymmetric: Bool = false
    ) -> (estimators: [CorridorClockEstimator], trueEnd: Int64) {
        var rng = TestRNG(seed: seed)
        let voters = Set((1...UInt64(clocks.count)))
        var est = clocks.indices.map { CorridorClockEstimator(selfID: UInt64($0 + 1), voters: voters) }
        var t = SimClock.epoch
        for _ in 0..<seconds * 2 {
            for i in clocks.indices {
                for j in clocks.indices where j != i {
                    var up = Int64.random(in: 100...400, using: &rng)
                    var down = Int64.random(in: 100...400, using: &rng)
                    if asymmetric { up += 3_000 } // one direction always slower (a busy uplink)
                    if Int.random(in: 0..<5, using: &rng) == 0 { down += Int64.random(in: 2_000...30_000, using: &rng) }
                    est[i].add(
                        peer: UInt64(j + 1),
                        exchange(clocks[i], clocks[j], at: t + Int64(j) * 1_000, up: up, down: down))
                }
            }
            t += 500_000
        }
        return (est, t)
    }

    func testTheMedianIsNotPulledByOneLiar() {
        for seed in UInt64(1)...10 {
            var honest = [SimClock]()
            var rng = TestRNG(seed: seed)
            for _ in 0..<5 {
                honest.append(
                    SimClock(
                        offsetUs: Int64.random(in: -2_000...2_000, using: &rng),
                        driftPpm: Double(Int.random(in: -20...20, using: &rng))))
            }
            var lying = honest
            lying[1] = SimClock(
                offsetUs: Int64(seed % 2 == 0 ? 7_000_000 : -7_000_000), driftPpm: seed % 2 == 0 ? 800 : -800)
            let (withLiar, end) = run(lying, seed: seed)
            let (without, _) = run(honest, seed: seed)
            // Corridor time as each honest node reads it: its clock plus its estimate.
            let readings = [0, 2, 3, 4].map { i -> Int64 in
                lying[i].read(end) + withLiar[i].estimate(at: lying[i].read(end))!.offsetUs
            }
            let honestClocks = [0, 2, 3, 4].map { honest[$0].read(end) }
            for r in readings {
                XCTAssertGreaterThanOrEqual(r, honestClocks.min()! - 1_000, "seed \(seed): below every honest clock")
                XCTAssertLessThanOrEqual(r, honestClocks.max()! + 1_000, "seed \(seed): above every honest clock")
            }
            XCTAssertLessThan(
                (readings.max()! - readings.min()!), 1_000,
                "seed \(seed): the honest nodes agree on corridor time within 1 ms")
            // And the liar itself is told how wrong it is.
            let liarEstimate = withLiar[1].estimate(at: lying[1].read(end))!
            let liarReading = lying[1].read(end) + liarEstimate.offsetUs
            XCTAssertLessThan((liarReading - readings[0]).magnitude, 1_000, "seed \(seed)")
            XCTAssertEqual(liarEstimate.driftPpm, lying[1].driftPpm, accuracy: 60, "seed \(seed): the liar's drift")
            // Without the liar, corridor time moves by less than the honest clocks' spread.
            let clean = honest[0].read(end) + without[0].estimate(at: honest[0].read(end))!.offsetUs
            XCTAssertLessThanOrEqual(
                (clean - readings[0]).magnitude, UInt64(honestClocks.max()! - honestClocks.min()! + 1_000),
                "seed \(seed)")
        }
    }

    func testTwoLiarsOfFiveAndAsymmetricDelaysStayInsideTheHonestRange() {
        for seed in UInt64(11)...16 {
            var clocks = (0..<5).map { _ in SimClock(offsetUs: 0, driftPpm: 0) }
            clocks[0] = SimClock(offsetUs: 4_000_000, driftPpm: 400)
            clocks[4] = SimClock(offsetUs: 9_000_000, driftPpm: -300)
            let (est, end) = run(clocks, seed: seed, asymmetric: true)
            for i in [1, 2, 3] {
                let e = est[i].estimate(at: clocks[i].read(end))!
                // The honest clocks agree exactly; the asymmetry (3 ms one way) biases by about half of it, and
                // never by more than the reported uncertainty (half the round trip) and the drift fit's noise.
                XCTAssertLessThanOrEqual(
                    e.offsetUs.magnitude, UInt64(e.uncertaintyUs + 300), "seed \(seed) node \(i + 1): \(e)")
                XCTAssertLessThanOrEqual(e.offsetUs.magnitude, 2_000, "seed \(seed) node \(i + 1): \(e)")
                XCTAssertEqual(e.votersKnown, 5)
            }
            let e0 = est[0].estimate(at: clocks[0].read(end))!
            XCTAssertEqual(Double(e0.offsetUs), -Double(clocks[0].read(end) - end), accuracy: 2_000)
            XCTAssertEqual(e0.driftPpm, 400, accuracy: 60)
        }
    }

    func testNoEstimateWithoutAMajorityOfTheVoters() {
        var e = CorridorClockEstimator(selfID: 1, voters: [1, 2, 3, 4, 5])
        let a = SimClock(offsetUs: 0, driftPpm: 0)
        let b = SimClock(offsetUs: 5_000, driftPpm: 0)
        e.add(peer: 2, exchange(a, b, at: SimClock.epoch, up: 100, down: 100))
        XCTAssertNil(e.estimate(at: SimClock.epoch), "2 of 5 voters")
        e.add(peer: 3, exchange(a, b, at: SimClock.epoch, up: 100, down: 100))
        XCTAssertEqual(e.estimate(at: SimClock.epoch)?.offsetUs, 5_000, "3 of 5: median of 0, 5000, 5000")
        // A learner counts the voters only.
        var l = CorridorClockEstimator(selfID: 9, voters: [1, 2, 3])
        l.add(peer: 1, exchange(a, b, at: SimClock.epoch, up: 100, down: 100))
        XCTAssertNil(l.estimate(at: SimClock.epoch))
        l.add(peer: 7, exchange(a, b, at: SimClock.epoch, up: 100, down: 100))
        XCTAssertNil(l.estimate(at: SimClock.epoch), "a learner's clock does not count")
        XCTAssertFalse(l.add(peer: 9, exchange(a, b, at: SimClock.epoch, up: 100, down: 100)), "no sample from itself")
    }

    func testTheSameSeedGivesTheSameEstimates() {
        let clocks = [
            SimClock(offsetUs: 0, driftPpm: 0), SimClock(offsetUs: 3_000_000, driftPpm: 300),
            SimClock(offsetUs: -100, driftPpm: -10),
            SimClock(offsetUs: 50, driftPpm: 5), SimClock(offsetUs: 0, driftPpm: 0)
        ]
        let a = run(clocks, seed: 99, seconds: 5)
        let b = run(clocks, seed: 99, seconds: 5)
        XCTAssertEqual(a.estimators, b.estimators)
        let c = run(clocks, seed: 100, seconds: 5)
        XCTAssertNotEqual(a.estimators, c.estimators, "another seed, other delays")
    }
}

final class SlewedClockTests: XCTestCase {
    func testSlewingIsBoundedNeverGoesBackAndConverges() {
        var rng = TestRNG(seed: 5)
        var c = SlewedClock(correctionUs: 0, maxSlewPpm: 500)
        var mono: Int64 = 1_000_000
        var last = c.read(monoUs: mono, targetUs: 0)
        var lastCorrection = c.correctionUs
        // A target 20 ms behind: the reading must slow down, never go back, at most 500 µs per s.
        for _ in 0..<100_000 {
            let dt = Int64.random(in: 1...2_000, using: &rng)
            mono += dt
            let r = c.read(monoUs: mono, targetUs: -20_000)
            XCTAssertGreaterThanOrEqual(r, last)
            XCTAssertLessThanOrEqual((c.correctionUs - lastCorrection).magnitude, UInt64(dt * 500 / 1_000_000 + 1))
            last = r
            lastCorrection = c.correctionUs
        }
        // ~100 s at ≈ 1 ms/read mean: 20 ms at 500 ppm takes 40 s.
        XCTAssertEqual(c.correctionUs, -20_000)
        // And forward to +5 ms: 10 s at 500 ppm.
        let start = mono
        while c.correctionUs != 5_000 {
            mono += 1_000
            _ = c.read(monoUs: mono, targetUs: 5_000)
            XCTAssertLessThan(mono - start, 60_000_000)
        }
        XCTAssertEqual(Double(mono - start), 50_000_000, accuracy: 100_000, "25 ms at 500 ppm takes 50 s")
    }

    func testAMonotonicClockGoingBackDoesNotMoveTheReadingBack() {
        var c = SlewedClock(correctionUs: 1_000, maxSlewPpm: 500)
        let r1 = c.read(monoUs: 10_000_000, targetUs: 1_000)
        let r2 = c.read(monoUs: 9_000_000, targetUs: 1_000)
        XCTAssertGreaterThanOrEqual(r2, r1)
        let r3 = c.read(monoUs: .max, targetUs: .min)
        XCTAssertGreaterThanOrEqual(r3, r2, "extremes do not trap nor go back")
    }

    func testStepSetsTheCorrectionAtOnce() {
        var c = SlewedClock(correctionUs: 0, maxSlewPpm: 500)
        c.step(to: 3_000_000)
        XCTAssertEqual(c.read(monoUs: 1_000, targetUs: 3_000_000), 3_001_000)
        // A step back (before the lamps run) is taken at once, not held by the never-back rule.
        c.step(to: -2_000_000)
        XCTAssertEqual(c.read(monoUs: 2_000, targetUs: -2_000_000), -1_998_000)
    }
}

final class ClockFaultTests: XCTestCase {
    func testOffsetDriftAndStep() {
        let f = ClockFault(offsetMs: 3_000, driftPpm: 250, stepMs: -700, stepAfterMs: 10_000)
        XCTAssertNil(f.problem)
        XCTAssertEqual(f.errorUs(elapsedUs: 0), 3_000_000)
        XCTAssertEqual(f.errorUs(elapsedUs: 4_000_000), 3_001_000, "250 ppm of 4 s = 1 ms")
        XCTAssertEqual(f.errorUs(elapsedUs: 10_000_000), 3_000_000 + 2_500 - 700_000)
        XCTAssertEqual(f.driftUs(elapsedUs: 4_000_000), 1_000)
        XCTAssertNotNil(ClockFault(driftPpm: 20_000).problem)
        XCTAssertNotNil(ClockFault(offsetMs: .max).problem)
        let extreme = ClockFault(offsetMs: 86_400_000, driftPpm: 10_000, stepMs: 86_400_000, stepAfterMs: 0)
        XCTAssertNil(extreme.problem)
        _ = extreme.errorUs(elapsedUs: .max) // clamped: no overflow
    }
}
