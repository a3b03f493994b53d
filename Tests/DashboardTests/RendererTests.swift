import CorridorFile
import GreenwaveAPI
import XCTest

@testable import Dashboard

/// The renderer is pure: these build fixed models and read the frames back.
final class RendererTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let now: Int64 = 1_795_000_000_000 // a fixed dashboard clock

    static func document(_ name: String) throws -> CorridorDocument {
        try CorridorFile.load(path: repo.appendingPathComponent("corridors/\(name)").path)
    }

    static func status(
        _ signal: Int, role: String, voter: Bool, applied: UInt64 = 10, hash: String = "aa",
        mode: String = "normal", pending: String? = nil, pendingAt: Int64? = nil
    ) -> StatusResponse {
        StatusResponse(
            signal: signal, name: "S\(signal)", role: role, voter: voter, term: 3, leader: 1, commitIndex: 10,
            appliedIndex: applied, lastIndex: 10, stateHash: hash, mode: mode, modeSinceMs: 0,
            pendingMode: pending, pendingModeAtMs: pendingAt, lamps: nil, pid: 1, timeMs: now, halted: nil)
    }

    static func lamps(
        _ signal: Int, green: [Int], phases: [Int], mode: String = "coordinated", plan: String = "normal",
        interval: String = "greenRest", atMs: Int64 = now - 2000, leftMs: Int64 = 12_000,
        shownAtMs: Int64? = nil, fault: String? = nil
    ) -> LampUpdate {
        var l: [String: String] = [:]
        for p in phases { l["\(p)"] = green.contains(p) ? "green" : "red" }
        return LampUpdate(
            signal: signal, atMs: atMs, lamps: l, interval: interval, mode: mode, plan: plan,
            timeLeftMs: leftMs, causeIndex: nil, monitorFault: fault, shownAtMs: shownAtMs ?? atMs + 3)
    }

    /// Every controller up, S01 leading, main road green everywhere.
    static func model(_ doc: CorridorDocument) -> DashboardModel {
        var m = DashboardModel(document: doc)
        let voters = Set(doc.voters.map(\.rawValue))
        let leader = doc.voters[0].rawValue
        m.applyStatuses(
            m.controllers.map { c in
                status(c.signal, role: c.signal == leader ? "leader" : "follower", voter: voters.contains(c.signal))
            }, atMs: now)
        let phases = m.phases.map(\.id)
        for c in m.controllers { m.applyLamps(lamps(c.signal, green: [2, 6], phases: phases), first: true) }
        m.nowMs = now
        return m
    }

    func testEveryFrameHasExactlyTheTerminalsSize() throws {
        for file in ["western-express-highway.yaml", "demo-5.yaml"] {
            var m = Self.model(try Self.document(file))
            m.controllers[3].unreachable = true
            m.controllers[3].unreachableSinceMs = Self.now - 4000
            m.say(.error, String(repeating: "a long message ", count: 20))
            m.input = "preempt S05-S11 inbound"
            for (w, h) in [(80, 24), (40, 12), (120, 40), (200, 60), (250, 20), (20, 5), (60, 3), (1, 1)] {
                let s = DashboardRenderer.render(m, width: w, height: h)
                XCTAssertEqual(s.lines.count, h, "\(file) \(w)x\(h)")
                for (i, l) in s.lines.enumerated() {
                    XCTAssertLessThanOrEqual(l.width, w, "\(file) \(w)x\(h) line \(i): \(l.plain)")
                }
            }
        }
    }

    func testAt80x24TheTablePagesAndEverySignalIsOnSomePage() throws {
        var m = Self.model(try Self.document("western-express-highway.yaml"))
        var seen: Set<String> = []
        var pages = 0
        let first = DashboardRenderer.render(m, width: 80, height: 24).text
        let match = first.range(of: #"page 1/(\d+)"#, options: .regularExpression)
        XCTAssertNotNil(match, first)
        if let r = match { pages = Int(first[r].split(separator: "/")[1]) ?? 0 }
        XCTAssertGreaterThan(pages, 1)
        for p in 0..<pages {
            m.page = p
            let text = DashboardRenderer.render(m, width: 80, height: 24).text
            XCTAssertTrue(text.contains("page \(p + 1)/\(pages)"), text)
            for line in text.split(separator: "\n") {
                if let r = line.range(of: #"S\d\d "#, options: .regularExpression), line[r.lowerBound...].count > 6 {
                    // Table rows start with the id or follow a column separator.
                    for part in line.components(separatedBy: " │ ") where part.hasPrefix("S") {
                        seen.insert(String(part.prefix(3)))
                    }
                }
            }
        }
        XCTAssertEqual(seen, Set((1...47).map { String(format: "S%02d", $0) }))
        // Paging past the end shows the last page rather than an empty table.
        m.page = 99
        XCTAssertTrue(DashboardRenderer.render(m, width: 80, height: 24).text.contains("page \(pages)/\(pages)"))
    }

    func testTheTitleKeepsItsFiguresAndShortensTheName() throws {
        let m = Self.model(try Self.document("western-express-highway.yaml"))
        let title = DashboardRenderer.render(m, width: 80, height: 24).lines[0].plain
        XCTAssertTrue(title.contains("47/47 up"), title)
        XCTAssertTrue(title.contains("sync –"), title)
        XCTAssertTrue(title.contains("Western Express"), title)
        XCTAssertTrue(title.contains("…"), "the long name is shortened: \(title)")
        let wide = DashboardRenderer.render(m, width: 160, height: 24).lines[0].plain
        XCTAssertTrue(wide.contains("Western Express Highway (Bandra - Borivali)"), wide)
    }

    func testABigTerminalShowsAll47SignalsWithEveryColumn() throws {
        let m = Self.model(try Self.document("western-express-highway.yaml"))
        let text = DashboardRenderer.render(m, width: 240, height: 60).text
        XCTAssertFalse(text.contains("page "), text)
        for s in 1...47 { XCTAssertTrue(text.contains(String(format: "S%02d", s)), "S\(s) missing") }
        for header in ["interval", "left", "state", "plan", "role", "applied", "lag", "hash", "skew"] {
            XCTAssertTrue(text.contains(header), "column \(header) missing")
        }
        XCTAssertTrue(text.contains("Bandra"), "names shown when there is room")
    }

    func testTheClockColumnShowsEachControllersOffsetAndFlagsTheAlarm() throws {
        var m = Self.model(try Self.document("demo-5.yaml"))
        func clock(offsetMs: Double, alarm: Bool, synced: Bool = true) -> ClockStatus {
            ClockStatus(
                synced: synced, offsetMs: offsetMs, uncertaintyMs: 0.1, driftPpm: 0, alarm: alarm, alarmBoundMs: 250,
                residualMs: 0,
                votersKnown: 3, voters: 3, localTimeMs: Self.now, corridorTimeMs: Self.now)
        }
        var statuses = m.controllers.map(\.status)
        statuses[0]?.clock = clock(offsetMs: -0.4, alarm: false)
        statuses[1]?.clock = clock(offsetMs: 0, alarm: false, synced: false)
        statuses[2]?.clock = clock(offsetMs: 37, alarm: false)
        statuses[4]?.clock = clock(offsetMs: -3012, alarm: true)
        m.applyStatuses(statuses, atMs: Self.now)
        let text = DashboardRenderer.render(m, width: 240, height: 30).text
        func row(_ s: String) -> String { text.split(separator: "\n").first { $0.hasPrefix(s) }.map(String.init) ?? "" }
        XCTAssertTrue(text.contains("clock"), text)
        XCTAssertTrue(row("S01").contains("+0.4ms"), row("S01"))
        XCTAssertTrue(row("S02").contains("?"), row("S02"))
        XCTAssertTrue(row("S03").contains("-37ms"), row("S03"))
        XCTAssertTrue(row("S05").contains("+3.0s!"), row("S05"))
        XCTAssertFalse(row("S04").contains("ms"), "no clock reported, nothing shown: \(row("S04"))")
        XCTAssertEqual(DashboardRenderer.clockSpan(m.controllers[4]).style, DashboardRenderer.alarm, "the alarm is red")
        XCTAssertNotEqual(DashboardRenderer.clockSpan(m.controllers[0]).style, DashboardRenderer.alarm)
    }

    func testANarrowTerminalKeepsTheEssentialColumns() throws {
        let m = Self.model(try Self.document("demo-5.yaml"))
        let text = DashboardRenderer.render(m, width: 44, height: 20).text
        let row = text.split(separator: "\n").first { $0.hasPrefix("S02") }.map(String.init) ?? ""
        XCTAssertTrue(row.hasPrefix("S02 G G R R R R"), row)
        XCTAssertTrue(row.contains("10.0"), "time left: \(row)")
        XCTAssertTrue(row.contains("same"), "hash agreement: \(row)")
        XCTAssertFalse(text.contains("Demo Bravo"), "the name is the first column dropped")
    }

    func testUnreachableControllersAreShownPlainly() throws {
        var m = Self.model(try Self.document("western-express-highway.yaml"))
        var answers: [StatusResponse?] = m.controllers.map(\.status)
        answers[11] = nil
        m.applyStatuses(answers, atMs: Self.now - 5000)
        m.applyStatuses(answers, atMs: Self.now)
        let text = DashboardRenderer.render(m, width: 200, height: 60).text
        XCTAssertTrue(text.contains("S12 UNREACHABLE for 5 s at 127.0.0.1:8112"), text)
        XCTAssertTrue(text.contains("46/47 up"), text)
        // The strip marks it too: 12th cell of each direction's strip.
        let strip = text.split(separator: "\n").first { $0.contains("▸") }.map(String.init) ?? ""
        let cells = Array(strip.split(separator: "▸", maxSplits: 1)[1].dropFirst())
        XCTAssertEqual(cells.count, 47)
        XCTAssertEqual(cells[11], "×")
        XCTAssertEqual(cells[10], "G")
    }

    func testNoLeaderIsAnAlarm() throws {
        var m = Self.model(try Self.document("demo-5.yaml"))
        m.applyStatuses(
            m.controllers.map { c in Self.status(c.signal, role: "candidate", voter: true) }, atMs: Self.now)
        let text = DashboardRenderer.render(m, width: 100, height: 30).text
        XCTAssertTrue(text.contains("NO LEADER"), text)
        XCTAssertFalse(text.contains("leader S"))
    }

    func testClusterLineShowsLeaderTermCommitAndThePendingMode() throws {
        var m = Self.model(try Self.document("demo-5.yaml"))
        var answers: [StatusResponse?] = m.controllers.map(\.status)
        answers[0] = Self.status(1, role: "leader", voter: true, pending: "rush-hour", pendingAt: Self.now + 53_000)
        m.applyStatuses(answers, atMs: Self.now)
        let text = DashboardRenderer.render(m, width: 120, height: 30).text
        let at = DashboardRenderer.clock(Self.now + 53_000, tenths: false)
        XCTAssertTrue(
            text.contains("leader S01 · term 3 · commit 10 · mode normal → rush-hour at \(at) (in 53 s)"), text)
    }

    func testMarkersForTransitionHoldFlashPreemptionAndMonitorFault() throws {
        var m = Self.model(try Self.document("demo-5.yaml"))
        let ph = m.phases.map(\.id)
        m.applyLamps(Self.lamps(1, green: [2, 6], phases: ph, mode: "transitioning"), first: true)
        m.applyLamps(Self.lamps(2, green: [4, 8], phases: ph, mode: "hold"), first: true)
        m.applyLamps(Self.lamps(3, green: [], phases: ph, mode: "flash", interval: "flash"), first: true)
        m.applyLamps(Self.lamps(4, green: [2], phases: ph, mode: "preemptDwell"), first: true)
        m.applyLamps(
            Self.lamps(5, green: [], phases: ph, mode: "flash", fault: "conflicting greens 2 and 4"), first: true)
        let text = DashboardRenderer.render(m, width: 120, height: 30).text
        let rows = Dictionary(
            uniqueKeysWithValues: text.split(separator: "\n").filter { $0.hasPrefix("S0") }.map {
                (String($0.prefix(3)), String($0))
            })
        XCTAssertTrue(rows["S01"]!.contains("TRANS"), rows["S01"]!)
        XCTAssertTrue(rows["S02"]!.contains("HELD"), rows["S02"]!)
        XCTAssertTrue(rows["S02"]!.contains("R R R R G G"), rows["S02"]!)
        XCTAssertTrue(rows["S03"]!.contains("FLASH"), rows["S03"]!)
        XCTAssertTrue(rows["S04"]!.contains("PREEMPT"), rows["S04"]!)
        XCTAssertTrue(rows["S05"]!.contains("FAULT"), rows["S05"]!)
    }

    func testLampsAreColouredAndPlainTextHasNoEscapes() throws {
        let m = Self.model(try Self.document("demo-5.yaml"))
        let s = DashboardRenderer.render(m, width: 120, height: 30)
        let row = s.lines.first { $0.plain.hasPrefix("S01") }!
        XCTAssertTrue(row.rendered(color: true).contains("\u{1B}[1;30;42mG"), "green lamp on a green background")
        XCTAssertTrue(row.rendered(color: true).contains("\u{1B}[1;37;41mR"), "red lamp on a red background")
        XCTAssertFalse(s.text.contains("\u{1B}"))
    }

    func testHashAgreementIsJudgedAtTheSameAppliedIndex() throws {
        var m = Self.model(try Self.document("demo-5.yaml"))
        var answers: [StatusResponse?] = m.controllers.map(\.status)
        answers[0] = Self.status(1, role: "leader", voter: true, applied: 10, hash: "aa")
        answers[1] = Self.status(2, role: "follower", voter: false, applied: 10, hash: "bb") // diverged
        answers[2] = Self.status(3, role: "follower", voter: true, applied: 7, hash: "cc") // behind: unknown
        m.applyStatuses(answers, atMs: Self.now)
        XCTAssertEqual(m.controllers.map(\.agrees), [true, false, nil, true, true])
        XCTAssertEqual(m.lag(of: m.controllers[2]), 3)
        let text = DashboardRenderer.render(m, width: 120, height: 30).text
        XCTAssertTrue(text.split(separator: "\n").first { $0.hasPrefix("S02") }!.contains("DIFF"))
        // Once the leader's hash at index 7 is known, the lagging replica is judged against it.
        answers[0] = Self.status(1, role: "leader", voter: true, applied: 7, hash: "cc")
        m.applyStatuses(answers, atMs: Self.now)
        XCTAssertEqual(m.controllers[2].agrees, true)
    }

    func testSyncAccuracyCountsChangesWithinToleranceAndIgnoresConnectSnapshots() throws {
        var m = Self.model(try Self.document("demo-5.yaml"))
        let ph = m.phases.map(\.id)
        XCTAssertNil(m.syncAccuracy, "connect snapshots are not changes")
        for i in 0..<999 {
            m.applyLamps(
                Self.lamps(
                    1 + i % 5, green: [2], phases: ph, atMs: Self.now + Int64(i), shownAtMs: Self.now + Int64(i) + 5),
                first: false)
        }
        m.applyLamps(Self.lamps(3, green: [2], phases: ph, atMs: Self.now, shownAtMs: Self.now + 500), first: false)
        XCTAssertEqual(m.switchesSeen, 1000)
        XCTAssertEqual(m.syncAccuracy!, 0.999, accuracy: 1e-12)
        XCTAssertEqual(m.controllers[2].switchDelayMs, 500)
        let text = DashboardRenderer.render(m, width: 120, height: 30).text
        XCTAssertTrue(text.contains("sync 99.90% of 1000 checks"), text)
        XCTAssertTrue(text.contains("+500ms"), text)
    }

    func testPhaseSkewIsMeasuredAgainstTheCorridorFilesSchedule() throws {
        let doc = try Self.document("demo-5.yaml")
        var m = Self.model(doc)
        let ph = m.phases.map(\.id)
        let plan = try XCTUnwrap(doc.corridor.plans.first { $0.id.rawValue == "normal" })
        let cycle = Int64(plan.cycleMs)
        let offset = Int64(plan.signals[1].offsetMs) // S02
        let start = Int64(doc.referenceEpochMs) + offset + 20_000 * cycle // a start of coordinated green
        // Side street green, then the coordinated stage (2 and 6) green exactly on schedule.
        m.applyLamps(Self.lamps(2, green: [4, 8], phases: ph, atMs: start - 5000), first: false)
        m.applyLamps(Self.lamps(2, green: [2, 6], phases: ph, atMs: start), first: false)
        XCTAssertEqual(m.controllers[1].phaseSkewMs, 0)
        // 300 ms late one cycle on: out of tolerance, and counted against the sync figure.
        m.applyLamps(Self.lamps(2, green: [4, 8], phases: ph, atMs: start + cycle - 5000), first: false)
        m.applyLamps(Self.lamps(2, green: [2, 6], phases: ph, atMs: start + cycle + 300), first: false)
        XCTAssertEqual(m.controllers[1].phaseSkewMs, 300)
        // Early by 2 s wraps to a negative skew, not to cycle − 2 s.
        m.applyLamps(Self.lamps(2, green: [4, 8], phases: ph, atMs: start + 2 * cycle - 5000), first: false)
        m.applyLamps(Self.lamps(2, green: [2, 6], phases: ph, atMs: start + 2 * cycle - 2000), first: false)
        XCTAssertEqual(m.controllers[1].phaseSkewMs, -2000)
        // Six switch-delay checks (all 3 ms) and three schedule checks (one on time).
        XCTAssertEqual(m.switchesSeen, 9)
        XCTAssertEqual(m.switchesInSync, 7)
        // While transitioning the offset is being corrected: no schedule check.
        m.applyLamps(Self.lamps(2, green: [4, 8], phases: ph, atMs: start + 3 * cycle - 5000), first: false)
        m.applyLamps(
            Self.lamps(2, green: [2, 6], phases: ph, mode: "transitioning", atMs: start + 3 * cycle + 9000),
            first: false)
        XCTAssertEqual(m.controllers[1].phaseSkewMs, -2000)
        XCTAssertEqual(m.switchesSeen, 11)
        // A signal entering the schedule after start-up: the green it starts while entering, and the green
        // with which it joins the schedule part-way through, are no schedule checks; the next one is.
        for (green, at) in [
            ([4, 8], start + 4 * cycle - 5000), ([2, 6], start + 4 * cycle + 700), ([4, 8], start + 4 * cycle + 3000)
        ] {
            var entering = Self.lamps(2, green: green, phases: ph, atMs: at)
            entering.entry = "entering"
            m.applyLamps(entering, first: false)
        }
        m.applyLamps(Self.lamps(2, green: [2, 6], phases: ph, atMs: start + 4 * cycle + 4176), first: false)
        XCTAssertEqual(m.controllers[1].phaseSkewMs, -2000, "joining the schedule is not a skew check")
        XCTAssertEqual(m.switchesSeen, 15)
        m.applyLamps(Self.lamps(2, green: [4, 8], phases: ph, atMs: start + 5 * cycle - 5000), first: false)
        m.applyLamps(Self.lamps(2, green: [2, 6], phases: ph, atMs: start + 5 * cycle + 40), first: false)
        XCTAssertEqual(m.controllers[1].phaseSkewMs, 40)
        XCTAssertEqual(m.switchesSeen, 18)
        let text = DashboardRenderer.render(m, width: 140, height: 30).text
        XCTAssertTrue(text.split(separator: "\n").first { $0.hasPrefix("S02") }!.contains("+40ms"), text)
    }

    func testTimeLeftCountsDownOnTheDashboardClock() throws {
        var m = Self.model(try Self.document("demo-5.yaml"))
        let c = m.controllers[0]
        XCTAssertEqual(m.timeLeftMs(of: c), 10_000) // changed 2 s ago with 12 s left
        m.nowMs += 9_950
        XCTAssertEqual(m.timeLeftMs(of: m.controllers[0]), 50)
        m.nowMs += 1_000
        XCTAssertEqual(m.timeLeftMs(of: m.controllers[0]), 0, "never negative")
    }

    func testTheFollowedModeChangeCountsSignalsThatAdoptedIt() throws {
        var m = Self.model(try Self.document("demo-5.yaml"))
        let ph = m.phases.map(\.id)
        m.watch = .init(plan: "night", index: 42, effectiveAtMs: Self.now + 10_000)
        var text = DashboardRenderer.render(m, width: 120, height: 30).text
        XCTAssertTrue(text.contains("mode night (#42) takes effect"), text)
        m.nowMs = Self.now + 12_000
        m.applyLamps(Self.lamps(2, green: [2], phases: ph, plan: "night", atMs: Self.now + 11_000), first: false)
        m.applyLamps(Self.lamps(4, green: [2], phases: ph, plan: "night", atMs: Self.now + 11_500), first: false)
        text = DashboardRenderer.render(m, width: 120, height: 30).text
        XCTAssertTrue(text.contains("running on 2/5 signals"), text)
        let a = DashboardRenderer.clock(Self.now + 11_000, tenths: false)
        let b = DashboardRenderer.clock(Self.now + 11_500, tenths: false)
        XCTAssertTrue(text.contains("(adopted \(a)–\(b))"), text)
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("S0") }
        XCTAssertEqual(rows.filter { $0.contains("night") }.count, 2)
    }

    func testTheCommandLineAndTheMessages() throws {
        var m = Self.model(try Self.document("demo-5.yaml"))
        var text = DashboardRenderer.render(m, width: 120, height: 30).text
        XCTAssertTrue(text.split(separator: "\n").last!.hasPrefix(": command  q quit  ·  mode PLAN"), text)
        m.input = "mode rush"
        m.say(.ok, "#7 mode night: accepted")
        m.say(.error, "hold S99: 'S99' is not a signal of demo-5")
        text = DashboardRenderer.render(m, width: 120, height: 30).text
        let lines = text.split(separator: "\n")
        XCTAssertTrue(lines.last!.hasPrefix(":mode rush"), String(lines.last!))
        XCTAssertTrue(text.contains("#7 mode night: accepted"))
        XCTAssertTrue(text.contains("hold S99: 'S99' is not a signal of demo-5"))
    }
}
