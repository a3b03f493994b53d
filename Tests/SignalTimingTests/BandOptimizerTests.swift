import CorridorFile
import Foundation
import RaftCore
import XCTest

@testable import SignalTiming

/// The two-way band optimiser against an exhaustive search, against the band the existing evaluator
/// measures for its offsets, and against the reference optimum on the Western Express Highway.
final class BandOptimizerTests: XCTestCase {
    typealias P = BandOptimizer.Problem

    /// The bands `ProgressionMath.band` measures for offsets at given travel times (increasing from the
    /// first signal, decreasing from the last).
    func measured(
        _ offsets: [Milliseconds], _ p: P, _ t: [Milliseconds], _ s: [Milliseconds],
        queueShift: Bool = false
    ) -> (Milliseconds, Milliseconds) {
        let inc = ProgressionMath.band(
            offsetsMs: queueShift ? zip(offsets, p.queueIncreasingMs).map { $0 + $1 } : offsets, cycleMs: p.cycleMs,
            greensMs: queueShift ? zip(p.greensMs, p.queueIncreasingMs).map { $0 - $1 } : p.greensMs, travelMs: t
        ).widthMs
        let dec = ProgressionMath.band(
            offsetsMs: queueShift ? zip(offsets, p.queueDecreasingMs).map { $0 + $1 } : offsets, cycleMs: p.cycleMs,
            greensMs: queueShift ? zip(p.greensMs, p.queueDecreasingMs).map { $0 - $1 } : p.greensMs, travelMs: s
        ).widthMs
        return (inc, dec)
    }

    func fixed(_ inc: Milliseconds, _ dec: Milliseconds) -> BandOptimizer.LinkTimes {
        .init(increasingMs: inc...inc, decreasingMs: dec...dec)
    }

    /// With fixed travel times and whole-second data, no offsets on a 1 s grid give a larger total of two
    /// bands (both directions wider than 0) than the optimiser's, its own offsets measure at least the bands
    /// it reports, and when no two-way band exists it gives one-way progression at the narrowest green.
    func testNoOffsetsBeatTheOptimumOnSmallCorridors() throws {
        var rng = SplitMix64(seed: 2026)
        for round in 0..<40 {
            let n = round < 37 ? 3 : 4
            let cycleS = Int64.random(in: 30...(n == 3 ? 60 : 34), using: &rng)
            let greens = (0..<n).map { _ in Int64.random(in: 5...cycleS - 5, using: &rng) * 1000 }
            let links = (0..<n - 1).map { _ in
                fixed(Int64.random(in: 5...200, using: &rng) * 1000, Int64.random(in: 5...200, using: &rng) * 1000)
            }
            let p = P(cycleMs: cycleS * 1000, greensMs: greens, links: links)
            let sol = try BandOptimizer.solve(p)
            var t: [Milliseconds] = [0]
            var s: [Milliseconds] = Array(repeating: 0, count: n)
            for l in links { t.append(t.last! + l.increasingMs.lowerBound) }
            for i in stride(from: n - 2, through: 0, by: -1) { s[i] = s[i + 1] + links[i].decreasingMs.lowerBound }
            XCTAssertEqual(sol.increasingTravelMs, t)
            XCTAssertEqual(sol.decreasingTravelMs, s)
            // Exhaustive: the first offset 0 (a common shift changes nothing), the others every second.
            var best: Milliseconds = 0
            var offsets = [Milliseconds](repeating: 0, count: n)
            func search(_ i: Int) {
                if i == n {
                    let (a, b) = measured(offsets, p, t, s)
                    if a > 0 && b > 0 { best = max(best, a + b) }
                    return
                }
                for o in stride(from: Int64(0), to: p.cycleMs, by: 1000) {
                    offsets[i] = o
                    search(i + 1)
                }
            }
            search(1)
            XCTAssertGreaterThanOrEqual(
                sol.totalBandMs, best, "round \(round): cycle \(cycleS) s, greens \(greens), links \(links)")
            if sol.decreasingBandMs == 0 || sol.increasingBandMs == 0 {
                XCTAssertEqual(sol.totalBandMs, greens.min()!, "round \(round): one-way progression")
            }
            let (a, b) = measured(sol.offsetsMs, p, t, s)
            XCTAssertGreaterThanOrEqual(a + b, sol.totalBandMs)
            XCTAssertGreaterThanOrEqual(a, sol.increasingBandMs, "round \(round)")
            XCTAssertGreaterThanOrEqual(b, sol.decreasingBandMs, "round \(round)")
            XCTAssertEqual(sol.offsetsMs[0], 0)
            XCTAssertTrue(sol.offsetsMs.allSatisfy { (0..<p.cycleMs).contains($0) })
        }
    }

    /// The weight moves band from one direction to the other and never changes the total.
    func testTheShareSplitsAFixedTotal() throws {
        let links = [fixed(40_000, 40_000), fixed(55_000, 55_000), fixed(30_000, 30_000), fixed(70_000, 70_000)]
        var totals = Set<Milliseconds>()
        var previous: Milliseconds = -1
        for share in [1, 25, 50, 75, 99] {
            let p = P(
                cycleMs: 90_000, greensMs: [40_000, 35_000, 45_000, 38_000, 42_000], links: links,
                increasingSharePercent: share)
            let sol = try BandOptimizer.solve(p)
            totals.insert(sol.totalBandMs)
            XCTAssertGreaterThanOrEqual(sol.increasingBandMs, previous, "share \(share)")
            previous = sol.increasingBandMs
            XCTAssertLessThanOrEqual(sol.increasingBandMs, 35_000)
            XCTAssertLessThanOrEqual(sol.decreasingBandMs, 35_000)
            let (a, b) = measured(sol.offsetsMs, p, sol.increasingTravelMs, sol.decreasingTravelMs)
            XCTAssertGreaterThanOrEqual(a, sol.increasingBandMs)
            XCTAssertGreaterThanOrEqual(b, sol.decreasingBandMs)
        }
        XCTAssertEqual(totals.count, 1, "the total depends on the share: \(totals)")
        // All of it to one direction: one-way progression when that gives it more (here the narrowest
        // green, 35 s, against 30 s two-way).
        let oneWay = try BandOptimizer.solve(
            P(
                cycleMs: 90_000, greensMs: [40_000, 35_000, 45_000, 38_000, 42_000], links: links,
                increasingSharePercent: 100))
        XCTAssertEqual(oneWay.increasingBandMs, 35_000)
        XCTAssertGreaterThan(oneWay.increasingBandMs, totals.first!)
    }

    /// A speed range never gives less than any one speed inside it, the travel times chosen lie in the
    /// ranges, and the offsets measure the reported bands at those travel times; queue clearance is kept.
    func testSpeedRangesAndQueueClearance() throws {
        var rng = SplitMix64(seed: 77)
        for round in 0..<25 {
            let n = Int.random(in: 3...9, using: &rng)
            let cycle = Int64.random(in: 60...150, using: &rng) * 1000
            let greens = (0..<n).map { _ in Int64.random(in: 20_000...cycle - 20_000, using: &rng) }
            let metres = (0..<n - 1).map { _ in Int.random(in: 200...1500, using: &rng) }
            let ranged = metres.map { BandOptimizer.LinkTimes(metres: $0, speedKmh: 36...44)! }
            let queues = greens.map { _ in Int64.random(in: 0...5_000, using: &rng) }
            let p = P(
                cycleMs: cycle, greensMs: greens, links: ranged, queueIncreasingMs: queues,
                queueDecreasingMs: queues.reversed())
            let sol = try BandOptimizer.solve(p)
            for speed in [36, 40, 44] {
                let one = P(
                    cycleMs: cycle, greensMs: greens,
                    links: metres.map { BandOptimizer.LinkTimes(metres: $0, speedKmh: speed...speed)! },
                    queueIncreasingMs: queues, queueDecreasingMs: queues.reversed())
                if let fixedTwoWay = try BandOptimizer.solveTwoWay(one) {
                    let rangedTwoWay = try XCTUnwrap(try BandOptimizer.solveTwoWay(p), "round \(round)")
                    XCTAssertGreaterThanOrEqual(
                        rangedTwoWay.totalBandMs, fixedTwoWay.totalBandMs, "round \(round), \(speed) km/h")
                }
            }
            for i in 0..<n - 1 {
                XCTAssertTrue(
                    ranged[i].increasingMs.contains(sol.increasingTravelMs[i + 1] - sol.increasingTravelMs[i]),
                    "round \(round) link \(i)")
                XCTAssertTrue(
                    ranged[i].decreasingMs.contains(sol.decreasingTravelMs[i] - sol.decreasingTravelMs[i + 1]),
                    "round \(round) link \(i)")
            }
            let (a, b) = measured(sol.offsetsMs, p, sol.increasingTravelMs, sol.decreasingTravelMs, queueShift: true)
            XCTAssertGreaterThanOrEqual(
                a, sol.increasingBandMs, "round \(round): the increasing band after its queue clearance")
            XCTAssertGreaterThanOrEqual(b, sol.decreasingBandMs, "round \(round)")
        }
    }

    func testBadProblemsAreRefusedNotTrapped() {
        XCTAssertThrowsError(try BandOptimizer.solve(P(cycleMs: 0, greensMs: [1], links: [])))
        XCTAssertThrowsError(
            try BandOptimizer.solve(P(cycleMs: 60_000, greensMs: [70_000, 10_000], links: [fixed(1, 1)])))
        XCTAssertThrowsError(try BandOptimizer.solve(P(cycleMs: 60_000, greensMs: [10_000, 10_000], links: [])))
        XCTAssertThrowsError(
            try BandOptimizer.solve(P(cycleMs: 60_000, greensMs: [10_000, 10_000], links: [fixed(-5, 1)])))
        XCTAssertNil(BandOptimizer.LinkTimes(metres: 100, speedKmh: 0...40))
        XCTAssertNil(BandOptimizer.LinkTimes(metres: -1, speedKmh: 10...40))
    }

    /// The reference optimum the issue gives for the Western Express Highway's normal plan: every 8-signal
    /// section ≥ 13 s both ways at a fixed 40 km/h, and ≥ 26 s both ways end to end with ±10 % speeds.
    func testTheWesternExpressHighwayReachesTheReferenceBands() throws {
        let doc = try CorridorFile.load(
            path: CorridorFileTests.root.appendingPathComponent("corridors/western-express-highway.yaml").path)
        let c = doc.corridor
        let plan = try XCTUnwrap(c.plans.first { $0.id.rawValue == "normal" })
        let greens = c.coordinatedGreensMs(plan)
        let x = c.signals.map(\.positionMetres)
        let gaps = zip(x.dropFirst(), x).map { $0 - $1 }
        let fixed40 = P(
            cycleMs: plan.cycleMs, greensMs: greens,
            links: gaps.map { BandOptimizer.LinkTimes(metres: $0, speedKmh: 40...40)! })
        let sections = try BandOptimizer.solveSections(fixed40, size: 8)
        XCTAssertEqual(sections.sections.count, 6)
        for (range, sol) in sections.sections {
            XCTAssertGreaterThanOrEqual(sol.increasingBandMs, 13_000, "section \(range)")
            XCTAssertGreaterThanOrEqual(sol.decreasingBandMs, 13_000, "section \(range)")
            // Measured at 40 km/h on that section alone.
            let offsets = Array(sections.offsetsMs[range])
            let (a, b) = measured(
                offsets, P(cycleMs: plan.cycleMs, greensMs: Array(greens[range]), links: []),
                sol.increasingTravelMs, sol.decreasingTravelMs)
            XCTAssertGreaterThanOrEqual(min(a, b), 13_000, "section \(range) measured")
        }
        let ranged = P(
            cycleMs: plan.cycleMs, greensMs: greens,
            links: gaps.map { BandOptimizer.LinkTimes(metres: $0, speedKmh: 36...44)! })
        let whole = try BandOptimizer.solve(ranged)
        XCTAssertGreaterThanOrEqual(whole.increasingBandMs, 26_000)
        XCTAssertGreaterThanOrEqual(whole.decreasingBandMs, 26_000)
    }
}
