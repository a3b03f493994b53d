import APIClient
import CorridorFile
import CorridorMachine
import Foundation
import GreenwaveAPI
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import RaftCore
import SignalTiming
import Transport

/// The HTTP/JSON API of one controller (docs/operations.md lists the routes).
struct HTTPAPI: Sendable {
    let options: ControllerOptions
    let driver: RaftDriver
    let lamps: LampDriver
    let transport: PeerTransport
    /// How a follower reaches its leader's API (HTTPS trusting the corridor CA when the API is TLS).
    let leaderAPI: APIConnection
    let clock: ControllerClock

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/healthz") { _, _ in
            let s = await driver.status()
            if let f = s.failure { return json(ErrorResponse(error: "fail-stop: \(f)"), status: .serviceUnavailable) }
            if let h = s.halted {
                return json(ErrorResponse(error: "raft core halted: \(h)"), status: .serviceUnavailable)
            }
            return json(["status": "ok"])
        }
        router.get("/v1/status") { request, _ in
            if let denied = await readDenied(request) { return denied }
            // ?applied_at_least=N[&wait_ms=T]: answer once this replica has applied N (or after T ms, at
            // most 10 s; the answer's applied_index says which).
            if let n = request.uri.queryParameters.get("applied_at_least").flatMap({ UInt64($0) }) {
                let wait = request.uri.queryParameters.get("wait_ms").flatMap { Int($0) } ?? 2000
                _ = await driver.waitUntilApplied(n, timeoutMs: min(max(0, wait), 10_000))
            }
            return json(await status())
        }
        router.post("/v1/commands") { request, _ in
            await handleCommand(request)
        }
        router.put("/v1/detectors") { request, _ in
            await handleDetectors(request)
        }
        router.get("/v1/operators") { request, _ in
            if let denied = await readDenied(request) { return denied }
            return json(OperatorsResponse(signal: options.signal.rawValue, machine: await driver.machineCopy()))
        }
        router.get("/v1/schedule") { request, _ in
            if let denied = await readDenied(request) { return denied }
            return json(ScheduleResponse(machine: await driver.machineCopy(), at: clock.corridorMs()))
        }
        router.get("/v1/state") { request, _ in
            if let denied = await readDenied(request) { return denied }
            let consistency = request.uri.queryParameters.get("consistency") ?? "linearizable"
            return await state(consistency: consistency)
        }
        router.get("/v1/lamps/stream") { request, _ in
            if let denied = await readDenied(request) { return denied }
            let stream = await lamps.subscribe()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    for await u in stream {
                        let data = (try? encoder.encode(u)) ?? Data()
                        try await writer.write(
                            ByteBuffer(string: "event: lamps\ndata: \(String(decoding: data, as: UTF8.self))\n\n"))
                    }
                    try await writer.finish(nil)
                })
        }
        if options.faultInjection { addFaultInjectionRoutes(router) }
        router.get("/metrics") { request, _ in
            if let denied = await readDenied(request) { return denied }
            let text = await metricsText()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return router
    }

    /// The tests' fault injection (`--fault-injection` only): a failing write, refused lamp rows, cut links.
    func addFaultInjectionRoutes(_ router: Router<BasicRequestContext>) {
        router.post("/v1/debug/fail-persist") { _, _ in
            await driver.injectPersistFailure()
            return json(["fail_next_persist": true])
        }
        router.post("/v1/debug/refuse-lamp-rows") { request, _ in
            let on = request.uri.queryParameters.get("on") != "0"
            await driver.setLampRowsRefused(on)
            return json(["refuse_lamp_rows": on])
        }
        router.post("/v1/debug/isolate") { request, _ in
            let on = request.uri.queryParameters.get("on") != "0"
            await driver.setIsolated(on)
            return json(["isolated": on])
        }
    }

    // MARK: - Handlers

    /// Writes come from the console, the dashboard, scripts and detector cards, never from a web page: a
    /// request a browser made for another site's page (it carries Origin or Sec-Fetch-Site) is refused, and
    /// only JSON is taken, so that a form or a text/plain "simple request" cannot order anything (no CORS is
    /// offered). Nil when `request` may go on; `what` names the writes in the refusal.
    func refusedWriteOrigin(_ request: Request, what: String) -> Response? {
        if request.headers[.origin] != nil
            || request.headers[HTTPField.Name("sec-fetch-site")!].map({ $0 != "none" }) == true
        {
            return json(ErrorResponse(error: "requests from a web browser are refused"), status: .forbidden)
        }
        let contentType = request.headers[.contentType]?.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard contentType == "application/json" else {
            return json(
                ErrorResponse(error: "\(what) must be sent as Content-Type: application/json"),
                status: .unsupportedMediaType)
        }
        return nil
    }

    /// 401 with the reason when reads need a credential and this request's does not admit it.
    func readDenied(_ request: Request) async -> Response? {
        guard options.readsNeedCredential else { return nil }
        let value = request.headers[HTTPField.Name(ReadCredential.headerName)!]
        let m = await driver.machineCopy()
        guard
            let why = ReadCredential.problem(
                value, corridorID: options.document.id, method: "GET", path: request.uri.path,
                nowMs: clock.corridorMs(), machine: m)
        else { return nil }
        return json(ErrorResponse(error: "unauthorized: \(why)"), status: .unauthorized)
    }

    func status() async -> StatusResponse {
        let s = await driver.status()
        let m = await driver.machineCopy()
        let now = clock.corridorMs()
        let md = modes(m, at: now)
        let name = options.document.corridor.signals.first { $0.id == options.signal }?.name ?? ""
        var r = StatusResponse(
            signal: options.signal.rawValue, name: name,
            role: s.failure != nil ? "failed" : roleName(s.role, membership: s.membership, id: s.nodeID),
            voter: s.membership.isVoter(s.nodeID), term: s.term, leader: Int(s.leader), commitIndex: s.commitIndex,
            appliedIndex: s.appliedIndex, lastIndex: s.lastIndex, stateHash: hex(s.stateHash), mode: md.mode,
            modeSinceMs: md.since, pendingMode: md.pending, pendingModeAtMs: md.pendingAt, lamps: await lamps.current(),
            pid: ProcessInfo.processInfo.processIdentifier, timeMs: now, halted: s.halted,
            health: s.failure == nil && s.halted == nil ? "ok" : "failed",
            healthReason: s.failure ?? s.halted ?? s.warning,
            clock: clockStatus())
        let f = m.modeInForce(at: max(now, m.baseline.atMs))
        switch f.source {
        case .schedule: r.modeSource = "schedule"
        case .override: r.modeSource = "override"
        case .baseline: r.modeSource = "baseline"
        }
        r.modeUntilMs = f.untilMs
        return r
    }

    func clockStatus() -> ClockStatus {
        let r = clock.report()
        // Doubles with three decimals (µs), so that the JSON stays short.
        func ms(_ us: Int64) -> Double { Double(us) / 1000 }
        return ClockStatus(
            synced: r.synced, offsetMs: ms(r.offsetUs), uncertaintyMs: ms(r.uncertaintyUs),
            driftPpm: (r.driftPpm * 10).rounded() / 10, alarm: r.alarm, alarmBoundMs: clock.settings.alarmMs,
            residualMs: ms(r.residualUs), votersKnown: r.votersKnown, voters: r.voters,
            localTimeMs: r.localUs / 1000, corridorTimeMs: r.corridorUs / 1000)
    }

    func handleCommand(_ request: Request) async -> Response {
        let body: ByteBuffer
        // A declared length over the limit is refused before a byte of the body is read; an undeclared one
        // (chunked) as soon as it passes the limit. Either way the connection is closed, so a client still
        // sending cannot make the server read (or wait for) the rest.
        let tooLarge = { () -> Response in
            var r = json(
                ErrorResponse(error: "request body larger than \(options.maxBodyBytes) bytes"), status: .contentTooLarge
            )
            r.headers[.connection] = "close"
            return r
        }
        if let declared = request.headers[.contentLength], let n = Int(declared), n > options.maxBodyBytes {
            return tooLarge()
        }
        if let refused = refusedWriteOrigin(request, what: "commands") { return refused }
        do {
            body = try await request.body.collect(upTo: options.maxBodyBytes)
        } catch {
            return tooLarge()
        }
        let bytes = Data(buffer: body)
        let req: CommandRequest
        do {
            req = try JSONDecoder().decode(CommandRequest.self, from: bytes)
        } catch {
            return json(ErrorResponse(error: "malformed command JSON: \(error)"), status: .badRequest)
        }
        let command: Command
        let clientID: ClientID
        let signature: CommandSignature?
        do {
            command = try req.command(document: options.document)
            clientID = try req.validatedClientID()
            signature = try req.validatedSignature()
        } catch {
            return json(ErrorResponse(error: "\(error)"), status: .badRequest)
        }
        guard !req.operator.isEmpty, req.operator.utf8.count <= 128 else {
            return json(ErrorResponse(error: "operator must be 1 to 128 bytes"), status: .badRequest)
        }
        let forwarded = request.headers[HTTPField.Name("x-greenwave-forwarded")!] != nil
        do {
            let outcome = try await withTimeout(ms: options.proposalTimeoutMs) {
                try await driver.propose { now in
                    CommandEnvelope(
                        operatorID: req.operator, clientID: clientID, sequence: req.sequence, leaderTimeMs: now,
                        command: command, signature: signature)
                }
            }
            return commandResponse(outcome)
        } catch ControllerError.notLeader(let leader) where !forwarded {
            return await forward(bytes, to: leader)
        } catch ControllerError.unauthorized(let why) {
            return json(ErrorResponse(error: "unauthorized: \(why)"), status: .unauthorized)
        } catch ControllerError.forbidden(let why) {
            return json(ErrorResponse(error: "forbidden: \(why)"), status: .forbidden)
        } catch let e as ControllerError {
            var leader: Int?
            if case .notLeader(let l) = e { leader = Int(l) }
            return json(ErrorResponse(error: "not committed: \(e)", leader: leader), status: .serviceUnavailable)
        } catch {
            return json(ErrorResponse(error: "not committed: \(error)"), status: .serviceUnavailable)
        }
    }

    func commandResponse(_ o: CommandOutcome) -> Response {
        var r = CommandResponse(
            index: o.index, term: o.term, result: "accepted", effectiveAtMs: nil, effectiveAt: nil,
            reason: nil, code: nil, duplicate: o.duplicate, leader: options.signal.rawValue)
        switch o.result {
        case .accepted(let t):
            r.effectiveAtMs = t
            r.effectiveAt = isoTime(t)
            return json(r)
        case .rejected(let code, let reason):
            r.result = "rejected"
            r.reason = reason
            r.code = "\(code)"
            return json(r, status: .unprocessableContent)
        }
    }

    /// A follower passes the command to the leader's API and relays its answer.
    func forward(_ body: Data, to leader: NodeID) async -> Response {
        guard let api = options.apiAddresses[SignalID(Int(leader))] else {
            return json(
                ErrorResponse(error: "the leader \(leader) has no API address", leader: Int(leader)),
                status: .serviceUnavailable)
        }
        do {
            let a = try await leaderAPI.send(
                method: .POST, host: api.host, port: api.port, path: "/v1/commands",
                headers: [("Content-Type", "application/json"), ("x-greenwave-forwarded", "1")],
                body: body, timeoutSeconds: Double(options.proposalTimeoutMs) / 1000 + 1,
                maxBody: 1 << 20)
            return Response(
                status: .init(code: a.status), headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: a.body)))
        } catch {
            return json(
                ErrorResponse(
                    error: "forwarding to the leader \(leader) at \(api) failed: \(error)",
                    leader: Int(leader)), status: .serviceUnavailable)
        }
    }

    func state(consistency: String) async -> Response {
        var readIndex: UInt64?
        switch consistency {
        case "local":
            break
        case "linearizable":
            do {
                readIndex = try await withTimeout(ms: options.proposalTimeoutMs) {
                    try await driver.linearizableReadIndex()
                }
            } catch {
                return json(
                    ErrorResponse(error: "linearizable read not possible: \(error)"), status: .serviceUnavailable)
            }
        default:
            return json(ErrorResponse(error: "consistency must be linearizable or local"), status: .badRequest)
        }
        let m = await driver.machineCopy()
        let md = modes(m, at: clock.corridorMs())
        return json(
            StateResponse(
                consistency: consistency, appliedIndex: m.appliedIndex, readIndex: readIndex,
                stateHash: hex(m.stateHash),
                mode: md.mode, pendingMode: md.pending, pendingModeAtMs: md.pendingAt,
                holds: m.holds.map { $0.signal.rawValue }, flashing: m.signalFlashes.map { $0.signal.rawValue },
                corridorFlash: m.corridorFlash != nil, preemptions: m.preemptions.map { $0.source.logIndex }))
    }

    /// The Prometheus text of this controller's metrics (ControllerInstruments.swift), the gauges and
    /// mirrored totals set from the state at this moment.
    func metricsText() async -> String {
        let instruments = driver.instruments
        instruments.collect(driver: await driver.driverMetrics(), transport: transport.metrics(), clock: clock.report())
        return instruments.metrics.render()
    }
}

func roleName(_ r: Role, membership: Membership, id: NodeID) -> String {
    switch r {
    case .leader: return "leader"
    case .candidate, .preCandidate: return "candidate"
    case .follower: return membership.isLearner(id) ? "learner" : (membership.isVoter(id) ? "follower" : "removed")
    }
}

let jsonEncoder: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys]
    return e
}()

func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
    let data = (try? jsonEncoder.encode(value)) ?? Data("{}".utf8)
    return Response(
        status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

struct TimeoutError: Error, CustomStringConvertible {
    var ms: Int
    var description: String { "no answer within \(ms) ms (no quorum?)" }
}

/// Runs `body`, giving up after `ms` milliseconds.
func withTimeout<T: Sendable>(ms: Int, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(ms) * 1_000_000)
            throw TimeoutError(ms: ms)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Mode in force at `t` and the next pending one, from the applied state.
func modes(_ m: CorridorMachine, at t: Int64) -> (mode: String, since: Int64, pending: String?, pendingAt: Int64?) {
    let now = m.mode(at: t)
    if !m.schedules.isEmpty {
        let f = m.modeInForce(at: max(t, m.baseline.atMs))
        let next = f.untilMs.map { m.modeInForce(at: $0).plan.rawValue }
        return (now.plan.rawValue, now.sinceMs, next, f.untilMs)
    }
    var pending: (String, Int64)?
    for r in m.events where r.event.effectiveAtMs > t {
        if case .setPlan(let p) = r.event.action {
            if pending == nil || r.event.effectiveAtMs < pending!.1 { pending = (p.rawValue, r.event.effectiveAtMs) }
        }
    }
    return (now.plan.rawValue, now.sinceMs, pending?.0, pending?.1)
}
