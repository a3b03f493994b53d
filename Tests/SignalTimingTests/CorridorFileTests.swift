import CorridorFile
import Foundation
import RaftCore
import XCTest

@testable import SignalTiming

final class CorridorFileTests: XCTestCase {
    /// The repository root, found from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testWesternExpressHighwayValidates() throws {
        let doc = try CorridorFile.load(
            path: Self.root.appendingPathComponent("corridors/western-express-highway.yaml").path)
        let c = doc.corridor
        XCTAssertEqual(c.signals.count, 47)
        XCTAssertEqual(doc.voters.count, 5)
        XCTAssertTrue((22_000...24_000).contains(c.lengthMetres), "\(c.lengthMetres)")
        for (a, b) in zip(c.signals, c.signals.dropFirst()) {
            XCTAssertTrue((300...800).contains(b.positionMetres - a.positionMetres))
        }
        XCTAssertEqual(c.plans.map(\.id.rawValue), ["normal", "rush-hour", "night", "evening", "flash"])
        XCTAssertEqual(c.plans.map(\.cycleMs), [90_000, 120_000, 60_000, 120_000, 0])
        XCTAssertEqual(Set(doc.endpoints.map(\.peer.port)).count, 47)
        XCTAssertEqual(doc.endpoints[0].peer, Endpoint(host: "127.0.0.1", port: 7101))
        XCTAssertEqual(doc.endpoints[46].api, Endpoint(host: "127.0.0.1", port: 8147))
        // The optimised peaks (greenwave corridor optimize, --share 25 / 75): morning favours southbound,
        // evening northbound, end to end at 40 km/h, mirror images of each other.
        let rush = c.plan(PlanID("rush-hour"))!
        let evening = c.plan(PlanID("evening"))!
        let south = c.bandwidth(plan: rush, direction: .decreasing)!
        XCTAssertGreaterThan(south.widthMs, 10_000)
        XCTAssertGreaterThan(south.widthMs, c.bandwidth(plan: rush, direction: .increasing)!.widthMs)
        XCTAssertEqual(c.bandwidth(plan: evening, direction: .increasing)!.widthMs, south.widthMs)
        XCTAssertNotNil(doc.schedule, "the shipped file has its IST schedule")
    }

    /// The band is real in the timing model, not only in the formula: a platoon driving southbound
    /// at 40 km/h (the plan's speed) inside the rush-hour band meets green at every one of the 47 signals.
    func testRushHourPlatoonMeetsGreenAllTheWayDown() throws {
        let doc = try CorridorFile.load(
            path: Self.root.appendingPathComponent("corridors/western-express-highway.yaml").path)
        let c = doc.corridor
        let rush = c.plan(PlanID("rush-hour"))!
        let band = c.bandwidth(plan: rush, direction: .decreasing)!
        let start = doc.referenceEpochMs + 10 * rush.cycleMs
        let t = try CorridorTimeline(
            corridor: c, referenceEpochMs: doc.referenceEpochMs,
            baseline: Baseline(atMs: doc.referenceEpochMs, plan: rush.id), events: [])
        let travel = ProgressionMath.travelTimesMs(
            positionsMetres: c.signals.map(\.positionMetres), speedKmh: 40, direction: .decreasing)
        for frac in [1, 50, 99] { // front, middle and tail of the band
            let enter = start + band.startMs + band.widthMs * Milliseconds(frac) / 100
            for (i, s) in c.signals.enumerated() {
                let st = t.state(of: s.id, at: enter + travel[i])
                XCTAssertEqual(st.lamps[1], .green, "signal \(s.id) \(s.name) at \(frac) % of the band")
            }
        }
    }

    func testDemoCorridorValidates() throws {
        let doc = try CorridorFile.load(path: Self.root.appendingPathComponent("corridors/demo-5.yaml").path)
        XCTAssertEqual(doc.corridor.signals.count, 5)
        XCTAssertEqual(doc.voters, [SignalID(1), SignalID(3), SignalID(5)])
    }

    // MARK: invalid files, each with its precise error

    static let base = """
        corridor: t
        name: Test
        reference_epoch_ms: 1735669800000
        directions: { increasing: northbound, decreasing: southbound }
        initial_plan: normal
        intersection:
          phases:
            - { id: 2, name: nb, min_green_s: 10, yellow_s: 4, all_red_s: 2, flash: yellow }
            - { id: 6, name: sb, min_green_s: 10, yellow_s: 4, all_red_s: 2, flash: yellow }
            - { id: 4, name: side, min_green_s: 7, yellow_s: 3, all_red_s: 2, flash: red }
          conflicts: [[4, 2], [4, 6]]
          stages:
            - { name: main, phases: [2, 6] }
            - { name: side, phases: [4] }
        signals:
          - { id: 1, name: A, position_m: 0, peer: "127.0.0.1:7101", api: "127.0.0.1:8101" }
          - { id: 2, name: B, position_m: 500, peer: "127.0.0.1:7102", api: "127.0.0.1:8102" }
          - { id: 3, name: C, position_m: 1100, peer: "127.0.0.1:7103", api: "127.0.0.1:8103" }
        voters: [1, 2, 3]
        plans:
          - name: normal
            cycle_s: 90
            coordinated_stage: main
            splits_s: { main: 60, side: 30 }
            progression: { speed_kmh: 40, favour: northbound }
          - name: flash
            flash: true
        """

    func parse(_ yaml: String) throws -> CorridorDocument { try CorridorFile.parse(yaml: yaml, file: "bad.yaml") }

    /// Applies `edit` to the valid base file and expects a refusal with this problem, key path,
    /// line, and message fragment.
    func expect(
        _ problem: CorridorFileError.Problem, at keyPath: String, line: Int?, containing fragment: String,
        _ edit: (String) -> String, file: StaticString = #filePath, fileLine: UInt = #line
    ) {
        let yaml = edit(Self.base)
        XCTAssertNotEqual(yaml, Self.base, "the edit must change the file", file: file, line: fileLine)
        do {
            _ = try parse(yaml)
            XCTFail("accepted an invalid file", file: file, line: fileLine)
        } catch let e as CorridorFileError {
            XCTAssertEqual(e.problem, problem, "\(e)", file: file, line: fileLine)
            XCTAssertEqual(e.keyPath, keyPath, "\(e)", file: file, line: fileLine)
            if let line { XCTAssertEqual(e.line, line, "\(e)", file: file, line: fileLine) }
            XCTAssertEqual(e.file, "bad.yaml", file: file, line: fileLine)
            XCTAssertTrue("\(e)".contains(fragment), "\(e)", file: file, line: fileLine)
            XCTAssertTrue("\(e)".hasPrefix("bad.yaml:"), "\(e)", file: file, line: fileLine)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: fileLine)
        }
    }

    func testBaseIsValid() throws {
        let doc = try parse(Self.base)
        XCTAssertEqual(doc.corridor.signals.count, 3)
        XCTAssertEqual(doc.corridor.plans[0].signals.map(\.offsetMs), [0, 45_000, 9_000]) // one-way, 40 km/h
    }

    func testSplitsOverrunTheCycle() {
        expect(
            .splitsOverrunCycle, at: "plans[0].splits_s", line: 24,
            containing: "splits sum to 95 s, overrunning the cycle of 90 s by 5 s"
        ) {
            $0.replacingOccurrences(of: "splits_s: { main: 60, side: 30 }", with: "splits_s: { main: 65, side: 30 }")
        }
    }

    func testSplitsUnderrunTheCycle() {
        expect(.splitsUnderrunCycle, at: "plans[0].splits_s", line: 24, containing: "5 s short of the cycle") {
            $0.replacingOccurrences(of: "splits_s: { main: 60, side: 30 }", with: "splits_s: { main: 55, side: 30 }")
        }
    }

    func testPerSignalSplitsOverrunNamesTheSignal() {
        expect(.splitsOverrunCycle, at: "plans[0].signal_splits_s.2", line: 25, containing: "at signal 2 (B)") {
            $0.replacingOccurrences(
                of: "    splits_s: { main: 60, side: 30 }\n",
                with: "    splits_s: { main: 60, side: 30 }\n    signal_splits_s: { 2: { main: 62, side: 30 } }\n")
        }
    }

    func testOffsetNotBelowTheCycle() {
        expect(
            .offsetNotBelowCycle, at: "plans[0].offsets_s.3", line: 26,
            containing: "offset 90 s of signal 3 is not in 0..<cycle 90 s"
        ) {
            $0.replacingOccurrences(
                of: "    progression: { speed_kmh: 40, favour: northbound }\n",
                with: "    progression: { speed_kmh: 40, favour: northbound }\n    offsets_s: { 1: 0, 2: 45, 3: 90 }\n")
        }
    }

    func testSplitBelowMinGreenPlusYellowPlusAllRed() {
        expect(
            .splitBelowMinimum, at: "plans[0].splits_s.side", line: 24,
            containing: "split 11 s of stage 'side' is below min green 7 s + yellow 3 s + all-red 2 s = 12 s"
        ) {
            $0.replacingOccurrences(of: "splits_s: { main: 60, side: 30 }", with: "splits_s: { main: 79, side: 11 }")
        }
    }

    func testReferenceEpochOutsideTheCenturiesAnythingRuns() {
        for bad in ["0", "9223372036854775807", "7258118400001"] {
            expect(
                .invalidValue, at: "reference_epoch_ms", line: 3, containing: "is outside 946684800000...7258118400000"
            ) {
                $0.replacingOccurrences(of: "reference_epoch_ms: 1735669800000", with: "reference_epoch_ms: \(bad)")
            }
        }
    }

    func testDuplicateSignalID() {
        expect(.duplicateID, at: "signals[2].id", line: 18, containing: "duplicate signal id 2 (also at signals[1].id)")
        {
            $0.replacingOccurrences(of: "- { id: 3, name: C", with: "- { id: 2, name: C")
        }
    }

    func testUnknownPhaseInStage() {
        expect(.unknownPhase, at: "intersection.stages[1].phases[0]", line: 14, containing: "unknown phase 8") {
            $0.replacingOccurrences(of: "{ name: side, phases: [4] }", with: "{ name: side, phases: [8] }")
        }
    }

    func testUnknownPhaseInConflicts() {
        expect(.unknownPhase, at: "intersection.conflicts[1][0]", line: 11, containing: "unknown phase 5") {
            $0.replacingOccurrences(of: "conflicts: [[4, 2], [4, 6]]", with: "conflicts: [[4, 2], [5, 6]]")
        }
    }

    func testUnknownStageInSplits() {
        expect(.unknownStage, at: "plans[0].splits_s.sidee", line: 24, containing: "unknown stage 'sidee'") {
            $0.replacingOccurrences(of: "splits_s: { main: 60, side: 30 }", with: "splits_s: { main: 60, sidee: 30 }")
        }
    }

    func testVoterNotASignal() {
        expect(.voterNotASignal, at: "voters[2]", line: 19, containing: "voter 9 is not a signal of this corridor") {
            $0.replacingOccurrences(of: "voters: [1, 2, 3]", with: "voters: [1, 2, 9]")
        }
    }

    func testMissingField() {
        expect(.missingField, at: "signals[1].position_m", line: 17, containing: "missing field 'position_m'") {
            $0.replacingOccurrences(of: "name: B, position_m: 500, ", with: "name: B, ")
        }
        expect(.missingField, at: "plans[0].cycle_s", line: 21, containing: "missing field 'cycle_s'") {
            $0.replacingOccurrences(of: "    cycle_s: 90\n", with: "")
        }
    }

    func testConflictingPhasesInOneStage() {
        expect(
            .conflictingPhasesInStage, at: "intersection.stages[0].phases[1]", line: 13,
            containing: "phase 4 conflicts with phase 2"
        ) {
            $0.replacingOccurrences(of: "{ name: main, phases: [2, 6] }", with: "{ name: main, phases: [2, 4] }")
        }
    }

    func testYellowBelowThreeSeconds() {
        expect(
            .invalidValue, at: "intersection.phases[2].yellow_s", line: 10,
            containing: "yellow 2.5 s is outside 3...8 s"
        ) {
            $0.replacingOccurrences(of: "min_green_s: 7, yellow_s: 3,", with: "min_green_s: 7, yellow_s: 2.5,")
        }
    }

    func testUnknownKeyAndBadYAML() {
        expect(.unknownKey, at: "plans[0].cycle", line: 23, containing: "unknown key 'cycle'") {
            $0.replacingOccurrences(of: "    cycle_s: 90\n", with: "    cycle_s: 90\n    cycle: 90\n")
        }
        expect(.yaml, at: "", line: nil, containing: "not valid YAML") {
            $0.replacingOccurrences(of: "voters: [1, 2, 3]", with: "voters: [1, 2, 3")
        }
    }

    func testPositionsMustIncrease() {
        expect(
            .positionsNotIncreasing, at: "signals[2].position_m", line: 18,
            containing: "is not after the previous signal"
        ) {
            $0.replacingOccurrences(of: "position_m: 1100", with: "position_m: 400")
        }
    }

    func testLoadNamesAMissingFile() {
        XCTAssertThrowsError(try CorridorFile.load(path: "/nonexistent/corridor.yaml")) { e in
            XCTAssertEqual((e as? CorridorFileError)?.problem, .unreadable)
            XCTAssertTrue("\(e)".hasPrefix("/nonexistent/corridor.yaml: "), "\(e)")
        }
    }
    // MARK: field addressing (issue 18)

    /// The base file's three signals moved to their own hosts, all on the same two ports.
    static func fieldLayout(_ hosts: [String]) -> String {
        var yaml = base
        for (i, host) in hosts.enumerated() {
            yaml = yaml.replacingOccurrences(
                of: "peer: \"127.0.0.1:710\(i + 1)\", api: \"127.0.0.1:810\(i + 1)\"",
                with: "peer: \"\(host):7000\", api: \"\(host):8000\"")
        }
        return yaml
    }

    func testFieldLayoutOneHostPerControllerSamePorts() throws {
        let yaml = Self.fieldLayout(["10.77.0.1", "10.77.0.2", "10.77.0.3"])
        XCTAssertFalse(yaml.contains("127.0.0.1"), "every signal moved")
        let doc = try parse(yaml)
        XCTAssertEqual(doc.endpoints.map(\.peer), (1...3).map { Endpoint(host: "10.77.0.\($0)", port: 7000) })
        XCTAssertEqual(doc.endpoints.map(\.api), (1...3).map { Endpoint(host: "10.77.0.\($0)", port: 8000) })
    }

    func testFieldLayoutWithDNSNames() throws {
        let doc = try parse(Self.fieldLayout(["cabinet-01.weh.example", "Cabinet-02.weh.example.", "s3"]))
        XCTAssertEqual(doc.endpoints.map(\.peer.host), ["cabinet-01.weh.example", "Cabinet-02.weh.example.", "s3"])
        XCTAssertEqual(Set(doc.endpoints.map(\.peer.port)), [7000])
    }

    func testDuplicateAddressComparesHostAndPort() {
        // Two controllers on one host with the same port: refused, naming the first user.
        expect(
            .duplicateID, at: "signals[1].peer", line: 17,
            containing: "address 10.77.0.1:7000 is already used by signals[0].peer"
        ) { _ in
            Self.fieldLayout(["10.77.0.1", "10.77.0.1", "10.77.0.3"])
        }
        // Names compare without case.
        expect(
            .duplicateID, at: "signals[2].peer", line: 18,
            containing: "address cab-a:7000 is already used by signals[0].peer"
        ) { _ in
            Self.fieldLayout(["CAB-A", "cab-b", "cab-a"])
        }
        // One controller's peer and API on the same socket.
        expect(
            .duplicateID, at: "signals[0].api", line: 16,
            containing: "address 127.0.0.1:7101 is already used by signals[0].peer"
        ) {
            $0.replacingOccurrences(of: "api: \"127.0.0.1:8101\"", with: "api: \"127.0.0.1:7101\"")
        }
        // The same port on another host is not a duplicate; the old check refused this.
        XCTAssertNoThrow(
            try parse(Self.base.replacingOccurrences(of: "peer: \"127.0.0.1:7102\"", with: "peer: \"127.0.0.2:7101\"")))
    }

    func testBadHostsAreRefusedWithTheReason() {
        let cases: [(String, String)] = [
            ("10.77.0.256:7000", "is not an IPv4 address"),
            ("10.77.0:7000", "is not an IPv4 address"),
            ("0.0.0.0:7000", "0.0.0.0 is not an address anyone can reach"),
            ("[::1]:7000", "IPv6"),
            ("::1:7000", "IPv6"),
            (":7000", "the host is empty"),
            ("cab_1:7000", "is not a host name"),
            ("cab 1:7000", "is not a host name"),
            ("-cab:7000", "starts or ends with a hyphen"),
            ("a..b:7000", "empty label"),
            ("\(String(repeating: "x", count: 64)).example:7000", "longer than 63"),
            ("cab:0", "a port 1-65535"),
            ("cab:65536", "a port 1-65535"),
            ("cab:+80", "a port 1-65535"),
            ("cab:", "a port 1-65535"),
            ("cab", "expected host:port")
        ]
        for (address, fragment) in cases {
            expect(.invalidValue, at: "signals[1].peer", line: 17, containing: fragment) {
                $0.replacingOccurrences(of: "peer: \"127.0.0.1:7102\"", with: "peer: \"\(address)\"")
            }
        }
    }

    /// Hostile addresses: random text never traps, and whatever is accepted prints back to itself and has
    /// a host that a URL accepts (the HTTP clients build URLs from it).
    func testRandomAddressesNeverTrapAndAcceptedOnesRoundTrip() {
        var rng = SplitMix64(seed: 18)
        let alphabet = Array("abcXYZ019.-_:[] /%\u{0}\u{7f}é")
        var accepted = 0
        for _ in 0..<20_000 {
            // Mostly HOST:DIGITS (so that some are valid), with hostile characters anywhere.
            let n = Int(rng.next() % 24)
            var text = String((0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
            if rng.next() % 5 != 0 { text += ":" + String(rng.next() % 100_000) }
            guard case .success(let e) = Endpoint.parse(text) else { continue }
            accepted += 1
            XCTAssertEqual(Endpoint.parse(e.description), .success(e), text)
            XCTAssertTrue((1...65_535).contains(e.port), text)
            XCTAssertNotNil(URL(string: "http://\(e.host):\(e.port)/v1/status"), text)
        }
        XCTAssertGreaterThan(accepted, 10, "the generator must reach accepted addresses too")
    }
}
