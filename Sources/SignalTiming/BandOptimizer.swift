/// Two-way bandwidth optimisation: the offsets that give a corridor the widest pair of green bands (one per
/// direction) for a fixed cycle and fixed coordinated greens, with each link's travel time free within a
/// range per direction (a speed range), a queue-clearance allowance per signal and direction, and the total
/// band shared between the directions by a weight. Exact (integer ms), not a heuristic.
///
/// The model is the one of Little's MAXBAND, solved without a mixed-integer program:
/// - Signal i's coordinated green is [φ_i, φ_i + g_i) of the cycle C. A platoon of the increasing direction
///   leaving the first signal at frame time x reaches i at x + t_i (t_i: the travel time, a sum of link
///   times); one of the decreasing direction leaving the last signal at z reaches i at z + s_i. The band of
///   a direction is a window of frame times all of whose platoons meet green (after the queue clearance Q_i,
///   Q̄_i) at every signal.
/// - Increasing band [x, x + B] and decreasing band [z, z + B̄] fit signal i iff
///   φ_i ∈ [x + t_i + B − g_i, x + t_i − Q_i] and φ_i ∈ [z + s_i + B̄ − g_i, z + s_i − Q̄_i] (mod C). Two arcs
///   of lengths G_i − B and Ḡ_i − B̄ (G = g − Q) meet iff (e_i − (z − x)) mod C ∈ [−(Ḡ_i − B̄), G_i − B],
///   with e_i = t_i − Q_i − s_i + Q̄_i. The φ_i are then free inside the meeting, so they drop out.
/// - Changing B by δ and B̄ by −δ shifts every such interval by the same amount, which z absorbs: only the
///   total S = B + B̄ decides feasibility (with B ≤ min G, B̄ ≤ min Ḡ), and the weight only splits it.
/// - e_{i+1} − e_i = τ_i + τ̄_i + const, the round trip on link i: each link's two travel times matter only
///   through their sum, free in [r_min, r_max]. Feasibility of S is then a reachability question along the
///   corridor: y_i = e_i − (z − x) + k_i C must lie in [−Ḡ_i, G_i − S] and step by a round trip (+ a
///   multiple of C) from y_i to y_{i+1}. The reachable set of each y_i is a union of intervals, propagated
///   exactly; S is the largest total for which the last set is not empty (binary search: feasibility only
///   grows as S shrinks). A solution is read back from the sets, last signal first, each link's round trip
///   as close to its nominal (middle-speed) value as the sets allow.
public enum BandOptimizer {
    /// One direction's travel time over one link, ms: from the fastest to the slowest allowed speed.
    public struct LinkTimes: Hashable, Sendable {
        public var increasingMs: ClosedRange<Milliseconds>
        public var decreasingMs: ClosedRange<Milliseconds>
        public init(increasingMs: ClosedRange<Milliseconds>, decreasingMs: ClosedRange<Milliseconds>) {
            self.increasingMs = increasingMs
            self.decreasingMs = decreasingMs
        }

        /// The travel times over `metres` at speeds within `speedKmh` (each direction the same range); nil
        /// for a negative or over-1000-km distance or a speed outside 1 … 400 km/h.
        public init?(metres: Int, speedKmh: ClosedRange<Int>) {
            guard (0...1_000_000).contains(metres), speedKmh.lowerBound >= 1, speedKmh.upperBound <= 400 else {
                return nil
            }
            let fast = travelMs(metres: metres, speedKmh: speedKmh.upperBound)
            let slow = travelMs(metres: metres, speedKmh: speedKmh.lowerBound)
            self.init(increasingMs: fast...slow, decreasingMs: fast...slow)
        }
    }

    public struct Problem: Hashable, Sendable {
        public var cycleMs: Milliseconds
        /// Each signal's coordinated green, in corridor order (increasing position).
        public var greensMs: [Milliseconds]
        /// Link i joins signal i and i + 1: `greensMs.count − 1` of them.
        public var links: [LinkTimes]
        /// Time at the start of each signal's green kept for the queue to clear, per direction (0: none).
        public var queueIncreasingMs: [Milliseconds]
        public var queueDecreasingMs: [Milliseconds]
        /// Share of the total band given to the increasing direction, percent (50: equal bands).
        public var increasingSharePercent: Int

        public init(
            cycleMs: Milliseconds, greensMs: [Milliseconds], links: [LinkTimes], increasingSharePercent: Int = 50,
            queueIncreasingMs: [Milliseconds]? = nil, queueDecreasingMs: [Milliseconds]? = nil
        ) {
            self.cycleMs = cycleMs
            self.greensMs = greensMs
            self.links = links
            self.increasingSharePercent = increasingSharePercent
            self.queueIncreasingMs = queueIncreasingMs ?? Array(repeating: 0, count: greensMs.count)
            self.queueDecreasingMs = queueDecreasingMs ?? Array(repeating: 0, count: greensMs.count)
        }

        /// Why the problem cannot be solved as given, or nil.
        public var problem: String? {
            let n = greensMs.count
            guard n >= 1 else { return "no signals" }
            guard cycleMs > 0, cycleMs <= 3_600_000 else { return "cycle \(cycleMs) ms is not in 1 ms … 1 h" }
            guard links.count == n - 1 else { return "\(links.count) links for \(n) signals (expected \(n - 1))" }
            guard queueIncreasingMs.count == n, queueDecreasingMs.count == n else {
                return "one queue clearance per signal and direction"
            }
            guard (0...100).contains(increasingSharePercent) else {
                return "the increasing share \(increasingSharePercent) % is not in 0 … 100"
            }
            for i in 0..<n {
                guard (0...cycleMs).contains(greensMs[i]) else {
                    return "signal \(i + 1): green \(greensMs[i]) ms is not within the cycle"
                }
                for q in [queueIncreasingMs[i], queueDecreasingMs[i]] where !(0...greensMs[i]).contains(q) {
                    return "signal \(i + 1): queue clearance \(q) ms is not within its green"
                }
            }
            for (i, l) in links.enumerated() {
                for r in [l.increasingMs, l.decreasingMs] where r.lowerBound < 0 || r.upperBound > 86_400_000 {
                    return "link \(i + 1): travel time \(r) ms is not within 0 … 24 h"
                }
            }
            return nil
        }
    }

    public struct Solution: Hashable, Sendable {
        /// Each signal's offset (the start of its coordinated green in the cycle), the first signal's 0.
        public var offsetsMs: [Milliseconds]
        public var increasingBandMs: Milliseconds
        public var decreasingBandMs: Milliseconds
        /// The travel times the bands are for: from the first signal (increasing) and from the last
        /// (decreasing) to each signal.
        public var increasingTravelMs: [Milliseconds]
        public var decreasingTravelMs: [Milliseconds]
        public var totalBandMs: Milliseconds { increasingBandMs + decreasingBandMs }
    }

    public enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            switch self {
            case .invalid(let s): return s
            }
        }
    }

    /// The widest total band and offsets that achieve it, split by `increasingSharePercent`.
    ///
    /// Two-way bands need a window of each direction through every signal. When none exists, or when one
    /// (a total of 0), or when one direction is asked for all of the band (share 0 or 100) and one-way
    /// progression gives it more, the
    /// answer is one-way progression for the favoured direction (the other's band is then 0 or what the
    /// offsets happen to leave).
    public static func solve(_ p: Problem) throws(Failure) -> Solution {
        if let why = p.problem { throw .invalid(why) }
        let two = try solveTwoWay(p)
        let favourIncreasing = p.increasingSharePercent >= 50
        if let two, two.totalBandMs > 0, (1...99).contains(p.increasingSharePercent) { return two }
        let one = oneWay(p, increasing: favourIncreasing)
        guard let two, two.totalBandMs > 0 else { return one }
        let twoFavoured = favourIncreasing ? two.increasingBandMs : two.decreasingBandMs
        let oneFavoured = favourIncreasing ? one.increasingBandMs : one.decreasingBandMs
        return twoFavoured >= oneFavoured ? two : one
    }

    /// One-way progression at the middle of each link's speed range: every signal's green (after its queue
    /// clearance) centred on the favoured direction's band, which is then its narrowest green.
    static func oneWay(_ p: Problem, increasing: Bool) -> Solution {
        let n = p.greensMs.count
        var t = [Milliseconds](repeating: 0, count: n)
        var s = t
        for i in 1..<max(1, n) {
            let r = p.links[i - 1].increasingMs
            t[i] = t[i - 1] + (r.lowerBound + r.upperBound) / 2
        }
        if n >= 2 {
            for i in stride(from: n - 2, through: 0, by: -1) {
                let r = p.links[i].decreasingMs
                s[i] = s[i + 1] + (r.lowerBound + r.upperBound) / 2
            }
        }
        let queue = increasing ? p.queueIncreasingMs : p.queueDecreasingMs
        let travel = increasing ? t : s
        let effective = (0..<n).map { p.greensMs[$0] - queue[$0] }
        let band = effective.min() ?? 0
        // φ_i ∈ [travel_i + band − g_i, travel_i − Q_i]: the middle.
        var offsets = (0..<n).map { i in
            floorMod(travel[i] - queue[i] - (effective[i] - band) / 2, p.cycleMs)
        }
        let first = offsets[0]
        offsets = offsets.map { floorMod($0 - first, p.cycleMs) }
        let shifted = zip(offsets, increasing ? p.queueDecreasingMs : p.queueIncreasingMs).map { $0 + $1 }
        let otherGreens = zip(p.greensMs, increasing ? p.queueDecreasingMs : p.queueIncreasingMs).map { $0 - $1 }
        let other = ProgressionMath.band(
            offsetsMs: shifted, cycleMs: p.cycleMs, greensMs: otherGreens,
            travelMs: increasing ? s : t
        ).widthMs
        return Solution(
            offsetsMs: offsets, increasingBandMs: increasing ? band : other,
            decreasingBandMs: increasing ? other : band,
            increasingTravelMs: t, decreasingTravelMs: s)
    }

    /// The widest two-way total, or nil when no pair of windows fits at all.
    static func solveTwoWay(_ p: Problem) throws(Failure) -> Solution? {
        let n = p.greensMs.count
        let g = (0..<n).map { p.greensMs[$0] - p.queueIncreasingMs[$0] }
        let gBar = (0..<n).map { p.greensMs[$0] - p.queueDecreasingMs[$0] }
        let cap = (g.min() ?? 0) + (gBar.min() ?? 0)
        // Binary search for the largest feasible total (feasibility only grows as the total shrinks).
        var lo: Milliseconds = 0
        var hi = cap
        guard reachable(p, g, gBar, total: 0) != nil else { return nil }
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2
            if reachable(p, g, gBar, total: mid) != nil { lo = mid } else { hi = mid - 1 }
        }
        let total = lo
        let sets = reachable(p, g, gBar, total: total)!
        // The split: as asked, within what each direction's narrowest green allows.
        let minG = g.min() ?? 0
        let minGBar = gBar.min() ?? 0
        var b = total * Milliseconds(p.increasingSharePercent) / 100
        b = min(max(b, total - minGBar), minG)
        let bBar = total - b

        let (y, roundTrip) = try readBack(p, sets: sets)
        let (t, s) = travelTimes(p, roundTrips: roundTrip)
        let offsets = try twoWayOffsets(p, g: g, gBar: gBar, t: t, s: s, y: y, total: total, b: b, bBar: bBar)
        return Solution(
            offsetsMs: offsets, increasingBandMs: b, decreasingBandMs: bBar,
            increasingTravelMs: t, decreasingTravelMs: s)
    }

    /// Reads a solution back from the reachable sets, last signal first: each signal's y and each link's
    /// round trip (the one nearest the nominal round trip).
    static func readBack(
        _ p: Problem, sets: [Intervals]
    ) throws(Failure) -> (y: [Milliseconds], roundTrip: [Milliseconds]) {
        let n = p.greensMs.count
        var y = [Milliseconds](repeating: 0, count: n)
        var roundTrip = [Milliseconds](repeating: 0, count: max(0, n - 1))
        y[n - 1] = midpoint(of: sets[n - 1])
        if n >= 2 {
            for i in stride(from: n - 2, through: 0, by: -1) {
                let l = p.links[i]
                let rMin = l.increasingMs.lowerBound + l.decreasingMs.lowerBound
                let rMax = l.increasingMs.upperBound + l.decreasingMs.upperBound
                let nominal = (rMin + rMax) / 2
                let shift = stepConstant(p, i)
                // y_i = y_{i+1} − shift − r − m·C with r ∈ [rMin, rMax], y_i in sets[i]: the choice whose r is
                // nearest the nominal round trip.
                var best: (y: Milliseconds, r: Milliseconds, cost: Milliseconds)?
                for (a, bnd) in sets[i] {
                    let mLow = floorDiv(y[i + 1] - shift - rMax - bnd, p.cycleMs)
                    let mHigh = ceilDivide(y[i + 1] - shift - rMin - a, p.cycleMs)
                    if mHigh < mLow { continue }
                    for m in mLow...mHigh {
                        let base = y[i + 1] - shift - m * p.cycleMs // y_i = base − r
                        let rLo = max(rMin, base - bnd)
                        let rHi = min(rMax, base - a)
                        guard rLo <= rHi else { continue }
                        let r = min(max(nominal, rLo), rHi)
                        let cost = abs(r - nominal)
                        if best == nil || cost < best!.cost { best = (base - r, r, cost) }
                    }
                }
                guard let chosen = best else { throw .invalid("internal: no predecessor for signal \(i + 1)") }
                y[i] = chosen.y
                roundTrip[i] = chosen.r
            }
        }
        return (y, roundTrip)
    }

    /// Splits each round trip between the directions in proportion to their ranges; the travel times from
    /// the first signal (increasing, t) and to it (decreasing, s).
    static func travelTimes(
        _ p: Problem, roundTrips roundTrip: [Milliseconds]
    ) -> (t: [Milliseconds], s: [Milliseconds]) {
        let n = p.greensMs.count
        var tau = [Milliseconds](repeating: 0, count: max(0, n - 1))
        var tauBar = tau
        for i in 0..<max(0, n - 1) {
            let l = p.links[i]
            let rMin = l.increasingMs.lowerBound + l.decreasingMs.lowerBound
            let rMax = l.increasingMs.upperBound + l.decreasingMs.upperBound
            let span = l.increasingMs.upperBound - l.increasingMs.lowerBound
            let t =
                rMax == rMin
                ? l.increasingMs.lowerBound
                : l.increasingMs.lowerBound + (roundTrip[i] - rMin) * span / (rMax - rMin)
            tau[i] = min(max(t, l.increasingMs.lowerBound), l.increasingMs.upperBound)
            tauBar[i] = roundTrip[i] - tau[i]
        }
        var t = [Milliseconds](repeating: 0, count: n)
        for i in 1..<max(1, n) { t[i] = t[i - 1] + tau[i - 1] }
        var s = [Milliseconds](repeating: 0, count: n)
        if n >= 2 { for i in stride(from: n - 2, through: 0, by: -1) { s[i] = s[i + 1] + tauBar[i] } }
        return (t, s)
    }

    /// The offsets for the asked split (b, bBar) of `total`: each φ_i in the middle of where its two arcs meet.
    static func twoWayOffsets(
        _ p: Problem, g: [Milliseconds], gBar: [Milliseconds], t: [Milliseconds], s: [Milliseconds],
        y: [Milliseconds], total: Milliseconds, b: Milliseconds, bBar: Milliseconds
    ) throws(Failure) -> [Milliseconds] {
        let n = p.greensMs.count
        let c = p.cycleMs
        // e_i − q ≡ y_i (mod C) for the search's split (B = total, B̄ = 0); the asked split moves every
        // interval by B̄ = total − b, and q by −B̄.
        let e = (0..<n).map { t[$0] - p.queueIncreasingMs[$0] - s[$0] + p.queueDecreasingMs[$0] }
        let q = floorMod(e[0] - y[0] - (total - b), c)
        // x = 0, z = q: each φ_i in the middle of where its two arcs meet.
        var offsets = [Milliseconds](repeating: 0, count: n)
        for i in 0..<n {
            let a1 = t[i] - p.queueIncreasingMs[i]
            let l1 = g[i] - b
            let a2 = q + s[i] - p.queueDecreasingMs[i]
            let l2 = gBar[i] - bBar
            // D ≡ a1 − a2 (mod C), taken in [−l2, l1]: the two arcs [a1 − l1, a1] and [a2 − l2, a2] meet.
            let d = floorMod(a1 - a2 + l2, c) - l2
            guard d <= l1 else { throw .invalid("internal: signal \(i + 1)'s arcs do not meet") }
            let lowEnd = max(a1 - l1, a1 - d - l2)
            let highEnd = min(a1, a1 - d)
            offsets[i] = floorMod(lowEnd + (highEnd - lowEnd) / 2, c)
        }
        let first = offsets[0]
        offsets = offsets.map { floorMod($0 - first, c) }
        return offsets
    }

    // MARK: - Reachability

    typealias Intervals = [(Milliseconds, Milliseconds)]

    /// e_{i+1} − e_i minus the link's round trip: the change of queue allowances.
    static func stepConstant(_ p: Problem, _ i: Int) -> Milliseconds {
        -(p.queueIncreasingMs[i + 1] - p.queueIncreasingMs[i]) + (p.queueDecreasingMs[i + 1] - p.queueDecreasingMs[i])
    }

    /// The reachable set of every y_i for a total band, or nil when the last one is empty.
    static func reachable(
        _ p: Problem, _ g: [Milliseconds], _ gBar: [Milliseconds], total: Milliseconds
    ) -> [Intervals]? {
        let n = g.count
        let c = p.cycleMs
        func window(_ i: Int) -> (Milliseconds, Milliseconds) { (-gBar[i], g[i] - total) }
        let w0 = window(0)
        guard w0.0 <= w0.1 else { return nil }
        var sets: [Intervals] = [[w0]]
        for i in 0..<n - 1 {
            let l = p.links[i]
            let rMin = l.increasingMs.lowerBound + l.decreasingMs.lowerBound + stepConstant(p, i)
            let rMax = l.increasingMs.upperBound + l.decreasingMs.upperBound + stepConstant(p, i)
            let (wl, wh) = window(i + 1)
            guard wl <= wh else { return nil }
            var next: Intervals = []
            for (a, b) in sets[i] {
                // [a + rMin, b + rMax] + m·C meeting [wl, wh].
                let mLow = ceilDivide(wl - (b + rMax), c)
                let mHigh = floorDiv(wh - (a + rMin), c)
                if mHigh < mLow { continue }
                for m in mLow...mHigh {
                    let lo = max(wl, a + rMin + m * c)
                    let hi = min(wh, b + rMax + m * c)
                    if lo <= hi { next.append((lo, hi)) }
                }
            }
            next = merged(next)
            if next.isEmpty { return nil }
            sets.append(next)
        }
        return sets
    }

    static func merged(_ xs: Intervals) -> Intervals {
        let sorted = xs.sorted { $0.0 < $1.0 }
        var out: Intervals = []
        for x in sorted {
            if let last = out.last, x.0 <= last.1 {
                out[out.count - 1].1 = max(last.1, x.1)
            } else {
                out.append(x)
            }
        }
        return out
    }

    static func midpoint(of set: Intervals) -> Milliseconds {
        let widest = set.max { ($0.1 - $0.0) < ($1.1 - $1.0) }!
        return widest.0 + (widest.1 - widest.0) / 2
    }

    static func floorDiv(_ a: Milliseconds, _ b: Milliseconds) -> Milliseconds {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func ceilDivide(_ a: Milliseconds, _ b: Milliseconds) -> Milliseconds { -floorDiv(-a, b) }
}

extension BandOptimizer {
    /// Sections of at most `size` consecutive signals (the last may be shorter), each optimised on its own:
    /// the offsets of the whole corridor, section by section, and each section's bands.
    public static func solveSections(
        _ p: Problem, size: Int
    ) throws(Failure) -> (offsetsMs: [Milliseconds], sections: [(range: Range<Int>, solution: Solution)]) {
        if let why = p.problem { throw .invalid(why) }
        guard size >= 1 else { throw .invalid("a section needs at least one signal") }
        let n = p.greensMs.count
        var offsets = [Milliseconds](repeating: 0, count: n)
        var out: [(Range<Int>, Solution)] = []
        var start = 0
        while start < n {
            let end = min(n, start + size)
            let sub = Problem(
                cycleMs: p.cycleMs, greensMs: Array(p.greensMs[start..<end]), links: Array(p.links[start..<end - 1]),
                increasingSharePercent: p.increasingSharePercent,
                queueIncreasingMs: Array(p.queueIncreasingMs[start..<end]),
                queueDecreasingMs: Array(p.queueDecreasingMs[start..<end]))
            let sol = try solve(sub)
            for (k, o) in sol.offsetsMs.enumerated() { offsets[start + k] = o }
            out.append((start..<end, sol))
            start = end
        }
        return (offsets, out)
    }
}
