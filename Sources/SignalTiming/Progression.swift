/// Offsets from positions and progression speed, and the green bandwidth of a plan.
///
/// Frames: for direction d, "frame time" t0 is when a platoon travelling at the progression speed
/// passes the first signal it meets (the lowest position for `.increasing`, the highest for
/// `.decreasing`). It reaches signal i at t0 + travel_i. Signal i's coordinated green, expressed in
/// that frame, is the circular arc [offset_i − travel_i, offset_i − travel_i + green_i) modulo the
/// cycle. The band is the largest arc common to every signal's arc; its width is the bandwidth.
/// All integer milliseconds.
public enum ProgressionMath {
    /// Travel time of a platoon from the direction's first signal to each signal, ms.
    public static func travelTimesMs(positionsMetres: [Int], speedKmh: Int, direction: Direction) -> [Milliseconds] {
        guard let first = positionsMetres.first, let last = positionsMetres.last else { return [] }
        return positionsMetres.map { x in
            travelMs(metres: direction == .increasing ? x - first : last - x, speedKmh: speedKmh)
        }
    }

    /// Offsets for a plan.
    ///
    /// One-way (`favouredBandPercent == 100`): offset_i = travel_i mod C, so each coordinated green
    /// starts as the platoon that left the first signal at the start of its green arrives.
    /// Two-way: the favoured direction is guaranteed a band of w = percent × the narrowest
    /// coordinated green; each signal may then slide its green earlier by up to (green_i − w)
    /// without breaking that band. The slide is chosen to centre the other direction's greens on a
    /// common target time φ, and φ is scanned over the cycle in 500 ms steps; the φ giving the
    /// widest other-direction band wins (ties: the smallest φ). Deterministic and integer-only.
    /// - Parameters:
    ///   - positionsMetres: signal positions, increasing.
    ///   - cycleMs: the plan's cycle.
    ///   - coordinatedGreensMs: each signal's coordinated-stage green (split − yellow − red clearance).
    public static func offsetsMs(
        positionsMetres: [Int], cycleMs: Milliseconds,
        coordinatedGreensMs: [Milliseconds], progression: Progression
    ) -> [Milliseconds] {
        precondition(positionsMetres.count == coordinatedGreensMs.count && cycleMs > 0)
        let n = positionsMetres.count
        let favoured = travelTimesMs(
            positionsMetres: positionsMetres, speedKmh: progression.speedKmh,
            direction: progression.favoured)
        let other = travelTimesMs(
            positionsMetres: positionsMetres, speedKmh: progression.speedKmh,
            direction: progression.favoured.opposite)
        let narrowest = coordinatedGreensMs.min() ?? 0
        let w = max(1, narrowest * Int64(progression.favouredBandPercent) / 100)
        if progression.favouredBandPercent >= 100 || n == 1 {
            return favoured.map { floorMod($0, cycleMs) }
        }
        func offsets(phi: Milliseconds) -> [Milliseconds] {
            (0..<n).map { i in
                let g = coordinatedGreensMs[i]
                let slack = max(0, g - w)
                // Centre of the other direction's arc when the slide d is 0.
                let base = favoured[i] - other[i] + g / 2
                let delta = floorMod(base - phi, cycleMs)
                let d: Milliseconds
                if delta <= slack {
                    d = delta
                } else {
                    d = (delta - slack) < (cycleMs - delta) ? slack : 0
                }
                return floorMod(favoured[i] - d, cycleMs)
            }
        }
        var best = offsets(phi: 0)
        var bestWidth = band(offsetsMs: best, cycleMs: cycleMs, greensMs: coordinatedGreensMs, travelMs: other).widthMs
        var phi: Milliseconds = 500
        while phi < cycleMs {
            let candidate = offsets(phi: phi)
            let width = band(offsetsMs: candidate, cycleMs: cycleMs, greensMs: coordinatedGreensMs, travelMs: other)
                .widthMs
            if width > bestWidth {
                best = candidate
                bestWidth = width
            }
            phi += 500
        }
        return best
    }

    /// The band of one direction: the widest window of frame times through which a platoon meets
    /// only coordinated greens.
    public static func band(
        offsetsMs: [Milliseconds], cycleMs: Milliseconds, greensMs: [Milliseconds],
        travelMs: [Milliseconds]
    ) -> (widthMs: Milliseconds, startMs: Milliseconds) {
        precondition(offsetsMs.count == greensMs.count && greensMs.count == travelMs.count)
        // Sorted, disjoint half-open intervals within 0..<cycle.
        var set: [(Milliseconds, Milliseconds)] = [(0, cycleMs)]
        for i in offsetsMs.indices {
            let g = min(max(0, greensMs[i]), cycleMs)
            let s = floorMod(offsetsMs[i] - travelMs[i], cycleMs)
            var arc: [(Milliseconds, Milliseconds)]
            if g == cycleMs {
                arc = [(0, cycleMs)]
            } else if s + g <= cycleMs {
                arc = [(s, s + g)]
            } else {
                arc = [(0, s + g - cycleMs), (s, cycleMs)]
            }
            arc = arc.filter { $0.0 < $0.1 }
            set = intersect(set, arc)
            if set.isEmpty { return (0, 0) }
        }
        // Join the interval touching the end with the one touching the start (the circle wraps).
        var bestWidth: Milliseconds = 0
        var bestStart: Milliseconds = 0
        for (a, b) in set where b - a > bestWidth {
            bestWidth = b - a
            bestStart = a
        }
        if set.count >= 2, set[0].0 == 0, set[set.count - 1].1 == cycleMs {
            let wrapped = (set[0].1 - set[0].0) + (cycleMs - set[set.count - 1].0)
            if wrapped > bestWidth {
                bestWidth = wrapped
                bestStart = set[set.count - 1].0
            }
        }
        return (bestWidth, bestStart)
    }

    static func intersect(
        _ x: [(Milliseconds, Milliseconds)], _ y: [(Milliseconds, Milliseconds)]
    ) -> [(Milliseconds, Milliseconds)] {
        var out: [(Milliseconds, Milliseconds)] = []
        var i = 0
        var j = 0
        while i < x.count && j < y.count {
            let a = max(x[i].0, y[j].0)
            let b = min(x[i].1, y[j].1)
            if a < b { out.append((a, b)) }
            if x[i].1 < y[j].1 { i += 1 } else { j += 1 }
        }
        return out
    }
}

/// The green band of one plan in one direction.
public struct BandwidthReport: Hashable, Sendable {
    public var plan: PlanID
    public var direction: Direction
    /// Width of the band, ms (0: no platoon gets through without stopping).
    public var widthMs: Milliseconds
    /// Band start in the direction's frame (time the band's front passes the first signal,
    /// modulo the cycle, relative to the reference epoch), ms.
    public var startMs: Milliseconds
    /// Band width as a share of the cycle, percent (rounded down).
    public var efficiencyPercent: Int
    /// Progression speed the band is drawn for, km/h.
    public var speedKmh: Int
}

extension Corridor {
    /// Each signal's coordinated-stage green under a plan, ms.
    public func coordinatedGreensMs(_ plan: TimingPlan) -> [Milliseconds] {
        zip(signals, plan.signals).map { s, sp in
            let k = sp.coordinatedStage
            return sp.splitsMs[k] - s.stageYellowMs[k] - s.stageRedClearanceMs[k]
        }
    }

    /// The band in `direction` for `plan`, at the plan's progression speed. Nil for flash.
    public func bandwidth(plan: TimingPlan, direction: Direction) -> BandwidthReport? {
        guard !plan.isFlash, let progression = plan.progression else { return nil }
        let travel = ProgressionMath.travelTimesMs(
            positionsMetres: signals.map(\.positionMetres),
            speedKmh: progression.speedKmh, direction: direction)
        let (width, start) = ProgressionMath.band(
            offsetsMs: plan.signals.map(\.offsetMs), cycleMs: plan.cycleMs,
            greensMs: coordinatedGreensMs(plan), travelMs: travel)
        return BandwidthReport(
            plan: plan.id, direction: direction, widthMs: width, startMs: start,
            efficiencyPercent: Int(width * 100 / plan.cycleMs), speedKmh: progression.speedKmh)
    }
}
