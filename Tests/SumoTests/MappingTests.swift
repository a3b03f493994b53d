import CorridorFile
import SignalTiming
import XCTest

@testable import Sumo

func corridorPath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("corridors/\(name)").path
}

/// The `<connection>` lines of traffic light S2 exactly as netconvert (SUMO 1.28.0, --lefthand)
/// wrote them for corridors/demo-5.yaml (`via` attributes dropped), in the file's order.
let recordedConnectionsS2 = """
        <connection from="dec_2" to="e2_out" fromLane="0" toLane="0" tl="S2" linkIndex="8" dir="l" state="O"/>
        <connection from="dec_2" to="dec_1" fromLane="0" toLane="0" tl="S2" linkIndex="9" dir="s" state="O"/>
        <connection from="dec_2" to="dec_1" fromLane="1" toLane="1" tl="S2" linkIndex="10" dir="s" state="O"/>
        <connection from="dec_2" to="dec_1" fromLane="2" toLane="2" tl="S2" linkIndex="11" dir="s" state="O"/>
        <connection from="dec_2" to="w2_out" fromLane="2" toLane="0" tl="S2" linkIndex="12" dir="r" state="o"/>
        <connection from="e2_in" to="dec_1" fromLane="0" toLane="0" tl="S2" linkIndex="5" dir="l" state="o"/>
        <connection from="e2_in" to="w2_out" fromLane="0" toLane="0" tl="S2" linkIndex="6" dir="s" state="o"/>
        <connection from="e2_in" to="inc_3" fromLane="0" toLane="2" tl="S2" linkIndex="7" dir="r" state="o"/>
        <connection from="inc_2" to="w2_out" fromLane="0" toLane="0" tl="S2" linkIndex="0" dir="l" state="O"/>
        <connection from="inc_2" to="inc_3" fromLane="0" toLane="0" tl="S2" linkIndex="1" dir="s" state="O"/>
        <connection from="inc_2" to="inc_3" fromLane="1" toLane="1" tl="S2" linkIndex="2" dir="s" state="O"/>
        <connection from="inc_2" to="inc_3" fromLane="2" toLane="2" tl="S2" linkIndex="3" dir="s" state="O"/>
        <connection from="inc_2" to="e2_out" fromLane="2" toLane="0" tl="S2" linkIndex="4" dir="r" state="o"/>
        <connection from="w2_in" to="inc_3" fromLane="0" toLane="0" tl="S2" linkIndex="13" dir="l" state="o"/>
        <connection from="w2_in" to="e2_out" fromLane="0" toLane="0" tl="S2" linkIndex="14" dir="s" state="o"/>
        <connection from="w2_in" to="dec_1" fromLane="0" toLane="2" tl="S2" linkIndex="15" dir="r" state="o"/>
    """

final class MappingTests: XCTestCase {
    func demo() throws -> Corridor {
        try CorridorFile.load(path: corridorPath("demo-5.yaml")).corridor.section(
            from: SignalID(2), through: SignalID(2))
    }

    func program() throws -> LightProgram {
        let c = try demo()
        let map = try LinkMap.parse(netXML: recordedConnectionsS2, corridor: c)
        return LightProgram(signal: c.signals[0], links: map.links["S2"]!)
    }

    func links4Approach() -> Approach? {
        (try? LinkMap.parse(netXML: recordedConnectionsS2, corridor: try demo()).links["S2"]?[4].approach) ?? nil
    }

    func testLinkMapReadBackFromNetconvert() throws {
        let links = try LinkMap.parse(netXML: recordedConnectionsS2, corridor: try demo()).links["S2"]!
        XCTAssertEqual(links.count, 16)
        XCTAssertEqual(links.map(\.index), Array(0..<16))
        XCTAssertEqual(links[0].approach, .mainIncreasing)
        XCTAssertEqual(links[0].turn, .left)
        XCTAssertEqual(links[4].turn, .right)
        XCTAssertEqual(links[6].approach, .sideFromEast)
        XCTAssertEqual(links[9].approach, .mainDecreasing)
        XCTAssertEqual(links[14].approach, .sideFromWest)
        XCTAssertEqual(links[14].turn, .straight)
    }

    /// Lamps per phase in the corridor's order: 2, 6, 1, 5, 4, 8.
    func testStateStringsForEachStage() throws {
        let p = try program()
        // main (2, 6): arterial throughs and nearside left turns green, right turns and side red.
        XCTAssertEqual(p.state(lamps: [.green, .green, .red, .red, .red, .red]), "GGGGrrrrGGGGrrrr")
        XCTAssertEqual(p.state(lamps: [.yellow, .yellow, .red, .red, .red, .red]), "yyyyrrrryyyyrrrr")
        // main-turn (1, 5): the right turns, protected.
        XCTAssertEqual(p.state(lamps: [.red, .red, .green, .green, .red, .red]), "rrrrGrrrrrrrGrrr")
        // side (4, 8): side-street right turns cross the opposite side's flow: permissive 'g'.
        XCTAssertEqual(p.state(lamps: [.red, .red, .red, .red, .green, .green]), "rrrrrGGgrrrrrGGg")
        // NEMA numbering: phase 5 is the right turn from phase 2's (northbound, increasing) approach,
        // phase 1 the one from phase 6's.
        XCTAssertEqual(links4Approach(), .mainIncreasing)
        XCTAssertEqual(p.state(lamps: [.red, .red, .red, .green, .red, .red]), "rrrrGrrrrrrrrrrr")
        XCTAssertEqual(p.state(lamps: [.red, .red, .green, .red, .red, .red]), "rrrrrrrrrrrrGrrr")
        // only phase 2 green (e.g. a lagging close): northbound links only.
        XCTAssertEqual(p.state(lamps: [.green, .red, .red, .red, .red, .red]), "GGGGrrrrrrrrrrrr")
        // flash: arterial flashing yellow = signal off with priority 'O', flashing red = stop 's'.
        XCTAssertEqual(
            p.state(lamps: [.flashingYellow, .flashingYellow, .flashingRed, .flashingRed, .flashingRed, .flashingRed]),
            "OOOOssssOOOOssss")
        XCTAssertEqual(p.neverSeen, String(repeating: "s", count: 16))
    }

    /// Every link index of the light is one character, and a stage's state never gives green to two
    /// movements whose phases conflict in the corridor's conflict matrix.
    func testNoConflictingGreensOverAWholeCycle() throws {
        let c = try demo()
        let p = try program()
        let links = try LinkMap.parse(netXML: recordedConnectionsS2, corridor: c).links["S2"]!
        let doc = try CorridorFile.load(path: corridorPath("demo-5.yaml"))
        let tl = try CorridorTimeline(
            corridor: c, referenceEpochMs: doc.referenceEpochMs,
            baseline: Baseline(atMs: doc.referenceEpochMs, plan: PlanID("normal")), events: [])
        let signal = c.signals[0]
        let assignment = PhaseAssignment()
        var seen = Set<String>()
        for s in tl.changes(of: signal.id, fromMs: doc.referenceEpochMs, throughMs: doc.referenceEpochMs + 90_000) {
            let state = Array(p.state(lamps: s.lamps))
            seen.insert(String(state))
            for (i, a) in links.enumerated() where state[i] == "G" || state[i] == "g" {
                for (j, b) in links.enumerated() where j > i && (state[j] == "G" || state[j] == "g") {
                    let pa = assignment.phase(of: a)!.phase
                    let pb = assignment.phase(of: b)!.phase
                    let ia = signal.phases.firstIndex { $0.id == pa }!
                    let ib = signal.phases.firstIndex { $0.id == pb }!
                    XCTAssertFalse(
                        signal.conflictMatrix[ia][ib], "links \(i) and \(j) green together in \(String(state))")
                }
            }
        }
        // main, its yellow, all-red, main-turn, yellow, all-red, side, yellow, all-red
        XCTAssertTrue(
            seen.isSuperset(of: ["GGGGrrrrGGGGrrrr", "rrrrGrrrrrrrGrrr", "rrrrrGGgrrrrrGGg", "rrrrrrrrrrrrrrrr"]),
            "\(seen)")
    }

    func testRandomOffsetsKeepCycleAndSplits() throws {
        let c = try CorridorFile.load(path: corridorPath("western-express-highway.yaml")).corridor
        let a = try c.withRandomOffsets(plan: PlanID("normal"), seed: 1)
        let b = try c.withRandomOffsets(plan: PlanID("normal"), seed: 2)
        let p0 = c.plan(PlanID("normal"))!
        let pa = a.plan(PlanID("normal"))!
        let pb = b.plan(PlanID("normal"))!
        XCTAssertEqual(pa.cycleMs, p0.cycleMs)
        XCTAssertEqual(pa.signals.map(\.splitsMs), p0.signals.map(\.splitsMs))
        XCTAssertNotEqual(pa.signals.map(\.offsetMs), pb.signals.map(\.offsetMs))
        XCTAssertNotEqual(pa.signals.map(\.offsetMs), p0.signals.map(\.offsetMs))
        XCTAssertTrue(pa.signals.allSatisfy { $0.offsetMs >= 0 && $0.offsetMs < p0.cycleMs })
        XCTAssertEqual(
            try c.withRandomOffsets(plan: PlanID("normal"), seed: 1).plan(PlanID("normal"))!.signals.map(\.offsetMs),
            pa.signals.map(\.offsetMs), "same seed, same offsets")
        XCTAssertEqual(a.plan(PlanID("rush-hour")), c.plan(PlanID("rush-hour")), "other plans untouched")
    }

    func testTripSummaryFromRecordedTripInfo() throws {
        // Lines written by SUMO 1.28.0 (--tripinfo-output.write-unfinished), shortened to the attributes used.
        let xml = """
                <tripinfo id="inc.4" depart="15.00" arrival="242.00" duration="227.00" waitingTime="37.00" waitingCount="2" timeLoss="56.49" vaporized=""/>
                <tripinfo id="inc.0" depart="1.00" arrival="295.00" duration="294.00" waitingTime="88.00" waitingCount="3" timeLoss="113.75" vaporized=""/>
                <tripinfo id="side_e3.0" depart="34.00" arrival="60.00" duration="26.00" waitingTime="0.00" waitingCount="0" timeLoss="1.22" vaporized=""/>
                <tripinfo id="dec.8" depart="19.00" arrival="-1.00" duration="381.00" waitingTime="161.00" waitingCount="4" timeLoss="196.03" vaporized="end"/>
                <tripinfo id="dec.9" depart="700.00" arrival="900.00" duration="200.00" waitingTime="1.00" waitingCount="1" timeLoss="5" vaporized=""/>
            """
        let r = try OfflineRun.summarise(tripInfo: xml, warmupSeconds: 0, demandSeconds: 600)
        XCTAssertEqual(r.increasing.trips, 2)
        XCTAssertEqual(r.increasing.meanTravelTimeS, 260.5, accuracy: 1e-9)
        XCTAssertEqual(r.increasing.meanStops, 2.5, accuracy: 1e-9)
        XCTAssertEqual(r.increasing.meanWaitingTimeS, 62.5, accuracy: 1e-9)
        XCTAssertEqual(r.decreasing.trips, 1, "dec.9 departed after the demand window")
        XCTAssertEqual(r.side.trips, 1)
        XCTAssertEqual(r.unfinished, 1)
        let warm = try OfflineRun.summarise(tripInfo: xml, warmupSeconds: 10, demandSeconds: 600)
        XCTAssertEqual(warm.increasing.trips, 1, "inc.0 departed in the warm-up")
    }
}
