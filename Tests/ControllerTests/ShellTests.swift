import Console
import CorridorFile
import CorridorMachine
import Foundation
import GreenwaveAPI
import GreenwaveTestSupport
import Logging
import RaftCore
import SignalTiming
import Storage
import XCTest

@testable import Controller

/// A clock that moves only when the test moves it (`ClockSource`, the seam of `ControllerClock`).
final class FakeTime: @unchecked Sendable {
    private let lock = NSLock()
    private var monoNs: UInt64 = 1_000_000_000
    private var wallUs: Int64

    init(wallMs: Int64) { wallUs = wallMs * 1_000 }

    func advance(ms: Int64) {
        lock.withLock {
            monoNs += UInt64(ms) * 1_000_000
            wallUs += ms * 1_000
        }
    }

    var source: ClockSource {
        ClockSource(
            monotonicNs: { [self] in lock.withLock { monoNs } }, wallClockUs: { [self] in lock.withLock { wallUs } })
    }
}

/// Raft messages between drivers in this process (`RaftMessageSender`, the seam of `RaftDriver`): each
/// message waits in its receiver's queue until the test delivers it; a node that is cut off neither
/// sends nor receives.
final class InMemoryNetwork: @unchecked Sendable {
    private let lock = NSLock()
    private var queues: [NodeID: [Message]] = [:]
    private var cut: Set<NodeID> = []

    struct Endpoint: RaftMessageSender {
        let network: InMemoryNetwork
        func send(_ messages: [Message]) { network.post(messages) }
    }

    var endpoint: Endpoint { Endpoint(network: self) }

    func attach(_ id: NodeID) { lock.withLock { queues[id] = queues[id] ?? [] } }
    func setCut(_ id: NodeID, _ on: Bool) { _ = lock.withLock { on ? cut.insert(id).inserted : cut.remove(id) != nil } }

    private func post(_ messages: [Message]) {
        lock.withLock {
            for m in messages where queues[m.to] != nil && !cut.contains(m.to) && !cut.contains(m.from) {
                queues[m.to]!.append(m)
            }
        }
    }

    func take(_ id: NodeID) -> [Message] {
        lock.withLock {
            defer { queues[id] = queues[id].map { _ in [] } }
            return queues[id] ?? []
        }
    }
}

/// Three `RaftDriver`s (voters 1, 3, 5 of the demo corridor) with real SQLite stores in a scratch folder,
/// an in-memory network and a fake clock; the test ticks them and delivers their messages.
final class ShellCluster {
    let corridor: TestCorridor
    let document: CorridorDocument
    let network = InMemoryNetwork()
    let time = FakeTime(wallMs: wallClockMs())
    private(set) var drivers: [Int: RaftDriver] = [:]
    private(set) var clocks: [Int: ControllerClock] = [:]
    private(set) var options: [Int: ControllerOptions] = [:]
    let logger: Logger = {
        var l = Logger(label: "greenwave.test.shell")
        l.logLevel = .critical
        return l
    }()

    init(voters: [Int] = TestCorridor.voters) throws {
        corridor = try TestCorridor(security: TestOperators.securityBlock, name: "shell")
        document = try CorridorFile.load(path: corridor.path)
        for s in voters {
            let o = try ControllerOptions(
                corridorPath: corridor.path, document: document, signal: SignalID(s),
                dataDirectory: corridor.dataFolder(s).path)
            let clock = ControllerClock(
                selfID: o.nodeID, voters: Set(o.membership.voters), settings: o.clock, logger: logger,
                source: time.source)
            network.attach(o.nodeID)
            drivers[s] = try RaftDriver(
                options: o, store: try RaftStore(directory: o.dataDirectory), transport: network.endpoint,
                clock: clock, logger: logger)
            clocks[s] = clock
            options[s] = o
        }
    }

    /// Rounds of: deliver every node's messages, tick it once, move the fake clock one tick, let the
    /// store's writer finish; until `done` holds (true) or `rounds` pass (false).
    func pump(rounds: Int = 2_000, among: [Int]? = nil, until done: () async -> Bool) async -> Bool {
        let list = (among ?? Array(drivers.keys)).sorted()
        for _ in 0..<rounds {
            if await done() { return true }
            for s in list {
                let d = drivers[s]!
                for m in network.take(NodeID(s)) { await d.step(m) }
                await d.tick()
            }
            time.advance(ms: Int64(options[list[0]]!.tickMs))
            // Durable writes run on each driver's writer queue; their completions come back as tasks.
            try? await Task.sleep(nanoseconds: 500_000)
        }
        return await done()
    }

    func leader(among list: [Int]? = nil) async -> Int? {
        for s in (list ?? Array(drivers.keys)).sorted() where await drivers[s]!.status().role == .leader { return s }
        return nil
    }

    /// The envelope a leader proposes for `request`, signed by the tests' engineer.
    func envelope(_ request: CommandRequest) throws -> @Sendable (Int64) -> CommandEnvelope {
        let signed = request.signedForTest(document)
        let command = try signed.command(document: document)
        let clientID = try signed.validatedClientID()
        let signature = try signed.validatedSignature()
        return { now in
            CommandEnvelope(
                operatorID: signed.operator, clientID: clientID, sequence: signed.sequence, leaderTimeMs: now,
                command: command, signature: signature)
        }
    }
}

/// The controller's shell in this process, in milliseconds of fake time: the driver's Ready loop
/// (persist, send, apply), its fail-stop, and the lamp driver (issue 17, item 4).
final class ShellTests: XCTestCase {
    func request(_ plan: String, sequence: UInt64 = 1) -> CommandRequest {
        CommandRequest(
            operator: TestOperators.engineer.name, clientID: ConsoleClient.newClientID(), sequence: sequence,
            type: "mode", plan: plan)
    }

    /// Elect, propose, and see the command durable and applied with one state hash on all three.
    func testReadyLoopElectsCommitsAndAppliesOnEveryReplica() async throws {
        let c = try ShellCluster()
        let elected = await c.pump { await c.leader() != nil }
        XCTAssertTrue(elected, "a leader within 2,000 ticks")
        guard let leader = await c.leader() else { return }
        let make = try c.envelope(request("night"))
        let driver = c.drivers[leader]!
        let proposal = Pending { try await driver.propose(make) }
        _ = await c.pump {
            guard let o = proposal.value else { return false }
            for d in c.drivers.values where await d.status().appliedIndex < o.index { return false }
            return true
        }
        let o = try XCTUnwrap(proposal.value, "the proposal was answered: \(String(describing: proposal.result))")
        guard case .accepted(let effectiveMs) = o.result else { return XCTFail("\(o.result)") }
        var hashes: Set<[UInt8]> = []
        for (s, d) in c.drivers {
            let st = await d.status()
            XCTAssertGreaterThanOrEqual(st.appliedIndex, o.index, "S\(s) applied it")
            XCTAssertGreaterThanOrEqual(st.commitIndex, o.index)
            hashes.insert(await d.machineCopy().stateHash)
            // Persisted before it was applied: the entry is in this replica's store.
            let store = await d.store
            XCTAssertGreaterThanOrEqual(try store.lastIndex(), o.index, "S\(s) stored it")
            let plan = await d.machineCopy().mode(at: effectiveMs + 1).plan.rawValue
            XCTAssertEqual(plan, "night", "S\(s)")
        }
        XCTAssertEqual(hashes.count, 1, "one state on every replica")
        XCTAssertEqual(o.stateHash, hashes.first)
    }

    /// A failed write of Raft state stops the node for good (waiting proposals are told why), and the two
    /// others elect a leader and commit without it.
    func testFailedWriteFailStopsAndTheOthersGoOn() async throws {
        let c = try ShellCluster()
        _ = await c.pump { await c.leader() != nil }
        guard let leader = await c.leader() else { return XCTFail("no leader") }
        let d = c.drivers[leader]!
        await d.injectPersistFailure()
        let make = try c.envelope(request("night"))
        let proposal = Pending { try await d.propose(make) }
        _ = await c.pump(rounds: 200) { await d.status().failure != nil && proposal.result != nil }
        let st = await d.status()
        XCTAssertTrue(st.failure?.contains("persisting failed") == true, "\(String(describing: st.failure))")
        guard case .failure(let e)? = proposal.result, case ControllerError.halted? = e as? ControllerError else {
            return XCTFail("the waiting proposal is told the node halted: \(String(describing: proposal.result))")
        }
        let healthy = await d.driverMetrics().healthy
        XCTAssertFalse(healthy)
        // It stays out: ticks and messages do nothing, a new proposal is refused at once.
        let term = st.term
        let others = c.drivers.keys.filter { $0 != leader }
        let replaced = await c.pump { await c.leader(among: others) != nil }
        XCTAssertTrue(replaced, "the others elect a leader")
        let termAfter = await d.status().term
        XCTAssertEqual(termAfter, term, "a failed node takes no part")
        do {
            _ = try await d.propose(make)
            XCTFail("a failed node proposes nothing")
        } catch {}
        guard let next = await c.leader(among: others) else { return }
        let again = try c.envelope(request("normal"))
        let nextDriver = c.drivers[next]!
        let p2 = Pending { try await nextDriver.propose(again) }
        let done = await c.pump { p2.value != nil }
        XCTAssertTrue(done, "the remaining voters commit: \(String(describing: p2.result))")
    }

    /// The lamp driver on the fake clock: the start-up flash, the all-red after it, then the schedule,
    /// no conflict-monitor trip; every change goes through the ordered channel into the driver, and
    /// `stop()` ends the loop at once.
    func testLampDriverStartsSafelyOnTheFakeClockAndRecordsInOrder() async throws {
        let c = try ShellCluster(voters: [1])
        let driver = c.drivers[1]!
        let signal = try XCTUnwrap(c.document.corridor.signals.first { $0.id == SignalID(1) })
        let flashMs: Int64 = 3_000
        let lamps = LampDriver(
            signal: signal, corridor: c.document.corridor, driver: driver, clock: c.clocks[1]!,
            periodMs: 1_000, logger: c.logger, startupFlashMs: flashMs)
        let stream = await lamps.subscribe()
        let collected = Task {
            var out: [LampUpdate] = []
            for await u in stream { out.append(u) }
            return out
        }
        let consumer = Task { await lamps.events.deliver { await driver.recordLampEvents($0) } }
        let run = Task { await lamps.run() }
        // Two minutes of corridor time in half-second steps, each step waking the loop.
        for _ in 0..<240 {
            c.time.advance(ms: 500)
            driver.appliedSignal.notify()
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        await lamps.stop()
        await run.value
        await consumer.value
        await lamps.closeStreams()
        let updates = await collected.value
        let first = try XCTUnwrap(updates.first)
        XCTAssertEqual(first.entry, "startup")
        XCTAssertTrue(first.lamps.values.allSatisfy { $0.hasPrefix("flashing") }, "start-up flash: \(first.lamps)")
        let afterFlash = try XCTUnwrap(updates.first { !$0.lamps.values.allSatisfy { $0.hasPrefix("flashing") } })
        XCTAssertGreaterThanOrEqual(afterFlash.atMs - first.atMs, flashMs, "the start-up flash lasts its time")
        XCTAssertFalse(
            afterFlash.lamps.values.contains { $0 == "green" || $0 == "yellow" },
            "all-red after the flash: \(afterFlash.lamps)")
        let firstGreen = try XCTUnwrap(
            updates.first { $0.lamps.values.contains("green") }, "the schedule within two minutes")
        XCTAssertGreaterThanOrEqual(firstGreen.atMs - afterFlash.atMs, c.document.corridor.safety.flashExitRedMs)
        XCTAssertTrue(updates.allSatisfy { $0.monitorFault == nil }, "the conflict monitor never trips")
        XCTAssertEqual(updates.map(\.atMs), updates.map(\.atMs).sorted(), "changes in time order")
        // Every change is in the driver, in the order shown, none dropped.
        let recorded = await driver.lampEventsPending()
        XCTAssertGreaterThan(recorded.count, updates.count / 2)
        XCTAssertEqual(recorded.map(\.timeMs), recorded.map(\.timeMs).sorted())
        let m = try Scrape(driver.instruments.metrics.render())
        XCTAssertEqual(m.value("greenwave_lamp_events_total", ["signal": "1"]), Double(recorded.count))
        XCTAssertEqual(m.value("greenwave_lamp_events_dropped_total", ["signal": "1"]), 0)
    }
}

/// The result of work started in a task, readable without waiting (nil while it runs).
final class Pending<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Result<T, Error>?

    init(_ body: @escaping @Sendable () async throws -> T) {
        Task {
            let r: Result<T, Error>
            do { r = .success(try await body()) } catch { r = .failure(error) }
            self.lock.withLock { self.stored = r }
        }
    }

    var result: Result<T, Error>? { lock.withLock { stored } }
    var value: T? { if case .success(let v)? = result { return v } else { return nil } }
}
