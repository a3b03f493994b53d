import Audit
import CorridorFile
import Foundation
import RaftCore
import SignalTiming
import Storage
import XCTest

/// An actuated signal's data folder, written in-process the way its lamp driver writes it: the dual-ring
/// controller of the corridor file's `actuated` section stepped every 100 ms on seeded detector inputs, every
/// event into the folder's lamp log. The measures read back from the folder are held against what the test
/// itself saw: the controller's lamps after every step and the inputs it fed in.
final class MeasuresFolderTests: XCTestCase {
    static let detectorsYAML =
        "[{ id: 2, phase: 2 }, { id: 12, phase: 2, calls: false }, { id: 6, phase: 6 }, { id: 1, phase: 1 }, { id: 5, phase: 5 }, { id: 4, phase: 4 }, { id: 8, phase: 8 }]"

    /// What the test saw at one step (the lamps hold from that instant for 100 ms, as do the readings).
    struct Sample {
        var t: Milliseconds
        var lamp2: Lamp
        var lamp4: Lamp
        var stopBar4: Bool
        var arrival12: Bool
    }

    func testAnActuatedFolderAgreesWithTheControllersLampsAndInputs() throws {
        let dir = (try scratchFolder(self, "measures") as NSString).appendingPathComponent("s03")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let yaml =
            try String(contentsOfFile: demoCorridor, encoding: .utf8)
            + "\nactuated:\n  signals:\n    3:\n      control: actuated\n      detectors: \(Self.detectorsYAML)\n"
        let path = (dir as NSString).appendingPathComponent("corridor.yaml")
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let doc = try CorridorFile.load(path: path)
        let a = try XCTUnwrap(doc.actuated?.signals[SignalID(3)])
        let start = doc.referenceEpochMs + 7 * 86_400_000
        let (events, samples) = try run(a, referenceMs: doc.referenceEpochMs, start: start, minutes: 20)
        let store = try RaftStore(directory: dir)
        try store.appendLampEvents(
            events.map {
                LampEvent(signalID: "3", timeMs: $0.atMs, eventCode: Int64($0.code), parameter: Int64($0.param))
            })
        try store.close()
        // GREENWAVE_MEASURES_KEEP=DIR keeps a copy of the folder (to try `greenwave audit measures` on it).
        if let keep = ProcessInfo.processInfo.environment["GREENWAVE_MEASURES_KEEP"] {
            try? FileManager.default.removeItem(atPath: keep)
            try copyFolder(dir, to: keep)
        }

        let from = start + 60_000
        let to = start + 19 * 60_000
        let r = try MeasuresReport.compute(
            folder: try DataFolder(path: dir), options: MeasuresOptions(signal: 3, fromMs: from, toMs: to))
        XCTAssertEqual(r.count, 1)
        XCTAssertEqual(r[0].control, "actuated")
        let p2 = try XCTUnwrap(r[0].phases.first { $0.phase == 2 })
        let p4 = try XCTUnwrap(r[0].phases.first { $0.phase == 4 })
        checkServices(p2, samples: samples, lamp: \.lamp2, window: from..<to, redClearanceMs: 2_000)
        checkServices(p4, samples: samples, lamp: \.lamp4, window: from..<to, redClearanceMs: 2_000)
        XCTAssertTrue(p4.cycles.contains { $0.termination == .gapOut }, "phase 4 gaps out when its traffic stops")
        XCTAssertTrue(p2.cycles.allSatisfy { $0.termination == .forceOff }, "2 is released at its yield point (6)")

        // Arrivals on green: every detector-on of loop 12 in the red-to-red cycles, classified by the lamp the
        // controller showed at that step.
        XCTAssertEqual(p2.arrivalChannels, [12])
        let ac = try XCTUnwrap(p2.arrivalCycles)
        let span = ac.first!.startMs..<ac.last!.endMs
        let seen = samples.filter { $0.arrival12 && span.contains($0.t) }
        let a2 = try XCTUnwrap(p2.arrivals)
        XCTAssertGreaterThan(seen.count, 100)
        XCTAssertEqual(a2.arrivals, seen.count)
        XCTAssertEqual(a2.onGreen, seen.filter { $0.lamp2 == .green }.count)
        XCTAssertEqual(a2.onYellow, seen.filter { $0.lamp2 == .yellow }.count)
        let greenSteps = samples.filter { span.contains($0.t) && $0.lamp2 == .green }.count
        XCTAssertEqual(a2.greenMs, Milliseconds(greenSteps) * ActuatedLimits.tickMs)

        // Split failures of phase 4 (stop-bar loop 4), from the samples: GOR over the green, ROR5 over the
        // first 5 s of red after the yellow.
        let expected = groundTruthFailures(samples, window: from..<to)
        let sf = try XCTUnwrap(p4.splitFailureCycles)
        XCTAssertEqual(sf.map(\.greenStartMs), expected.map(\.green))
        for (mine, truth) in zip(sf, expected) {
            XCTAssertEqual(mine.gor, truth.gor, accuracy: 1e-9, "cycle at \(mine.greenStartMs)")
            XCTAssertEqual(mine.ror5, truth.ror5, accuracy: 1e-9, "cycle at \(mine.greenStartMs)")
        }
        XCTAssertGreaterThanOrEqual(p4.splitFailures?.failures ?? 0, 1, "the saturated minutes fail")
        XCTAssertEqual(p4.splitFailures?.failures, expected.filter { $0.gor > 0.8 && $0.ror5 > 0.8 }.count)
    }

    /// Steps the controller for `minutes`: loop 12 (advance, phase 2) a car every 2–9 s for 0.4 s; stop-bar 4
    /// saturated (on) from minute 6 to 9 and a car every 10–30 s otherwise; the turns and 8 called now and then.
    func run(
        _ a: ActuatedSignal, referenceMs: Milliseconds, start: Milliseconds, minutes: Int
    ) throws -> ([HiResEvent], [Sample]) {
        var c = try a.controller(plan: a.plans[0].id, referenceMs: referenceMs, startMs: start)
        var rng = SplitMix64(seed: 21)
        var events = [HiResEvent(atMs: start, code: HiResEventCode.powerRestored, param: 0)]
        var samples: [Sample] = []
        let ch = Dictionary(uniqueKeysWithValues: a.detectors.enumerated().map { ($0.element.id, $0.offset) })
        let i2 = a.ring.index(of: PhaseID(2))!
        let i4 = a.ring.index(of: PhaseID(4))!
        var nextCar: [Int: Milliseconds] = [
            12: start + 3_000, 4: start + 5_000, 1: start + 40_000, 5: start + 50_000, 8: start + 30_000
        ]
        var onUntil: [Int: Milliseconds] = [:]
        let gaps: [Int: ClosedRange<Int>] = [12: 20...90, 4: 100...300, 1: 300...900, 5: 300...900, 8: 200...600]
        for step in 1...(minutes * 600) {
            let t = start + Milliseconds(step) * ActuatedLimits.tickMs
            var readings = Array(repeating: DetectorReading.off, count: a.detectors.count)
            for (id, next) in nextCar where t >= next {
                onUntil[id] = t + 400
                nextCar[id] = t + Milliseconds(gaps[id]!.lowerBound + rng.below(gaps[id]!.count)) * 100
            }
            for (id, until) in onUntil where t < until { readings[ch[id]!] = .on }
            let saturated = t >= start + 360_000 && t < start + 540_000
            if saturated { readings[ch[4]!] = .on }
            let ev = c.step(ControllerInputs(detectors: readings, pedButtons: []))
            events += ev
            samples.append(
                Sample(
                    t: t, lamp2: c.lamps[i2], lamp4: c.lamps[i4], stopBar4: readings[ch[4]!] == .on,
                    arrival12: ev.contains { $0.code == HiResEventCode.detectorOn && $0.param == 12 }))
        }
        return (events, samples)
    }

    /// Every service of a phase in the window: its green and yellow as the lamps showed them step by step.
    func checkServices(
        _ p: PhaseMeasures, samples: [Sample], lamp: KeyPath<Sample, Lamp>, window: Range<Milliseconds>,
        redClearanceMs: Milliseconds
    ) {
        let runs = lampRuns(samples, lamp: lamp)
        let greens = runs.filter { $0.lamp == .green && window.contains($0.start) }
        // The last green may still be clearing at the end of the run: services are complete ones only.
        XCTAssertGreaterThanOrEqual(p.cycles.count, 5, "phase \(p.phase)")
        XCTAssertEqual(p.cycles.map(\.greenStartMs), Array(greens.map(\.start).prefix(p.cycles.count)))
        XCTAssertLessThanOrEqual(greens.count - p.cycles.count, 1)
        for c in p.cycles {
            guard let g = runs.firstIndex(where: { $0.lamp == .green && $0.start == c.greenStartMs }) else {
                continue
            }
            XCTAssertEqual(c.greenMs, runs[g].length, "phase \(p.phase) green at \(c.greenStartMs)")
            XCTAssertEqual(runs[g + 1].lamp, .yellow)
            XCTAssertEqual(c.yellowMs, runs[g + 1].length)
            XCTAssertEqual(c.redClearanceMs, redClearanceMs)
            XCTAssertEqual(c.splitMs, runs[g].length + runs[g + 1].length + redClearanceMs)
        }
    }

    struct Run {
        var lamp: Lamp
        var start: Milliseconds
        var length: Milliseconds
    }

    func lampRuns(_ samples: [Sample], lamp: KeyPath<Sample, Lamp>) -> [Run] {
        var out: [Run] = []
        for s in samples {
            if let last = out.last, last.lamp == s[keyPath: lamp] {
                out[out.count - 1].length += ActuatedLimits.tickMs
            } else {
                out.append(Run(lamp: s[keyPath: lamp], start: s.t, length: ActuatedLimits.tickMs))
            }
        }
        return out
    }

    /// GOR and ROR5 of every complete phase-4 service whose green starts in the window, counted in steps.
    func groundTruthFailures(
        _ samples: [Sample], window: Range<Milliseconds>
    ) -> [(
        green: Milliseconds, gor: Double, ror5: Double
    )] {
        let runs = lampRuns(samples, lamp: \.lamp4)
        var out: [(Milliseconds, Double, Double)] = []
        for (k, r) in runs.enumerated() where r.lamp == .green && window.contains(r.start) {
            guard k + 2 < runs.count else { continue } // complete: its red has begun
            let red = runs[k + 2]
            let green = samples.filter { $0.t >= r.start && $0.t < r.start + r.length }
            let red5 = samples.filter { $0.t >= red.start && $0.t < red.start + min(5_000, red.length) }
            out.append(
                (
                    r.start, Double(green.filter(\.stopBar4).count) / Double(green.count),
                    Double(red5.filter(\.stopBar4).count) / Double(red5.count)
                ))
        }
        return out
    }
}
