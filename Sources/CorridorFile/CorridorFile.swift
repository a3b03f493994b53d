// CorridorFile: corridor YAML files → SignalTiming values.
//
// Every refusal is a `CorridorFileError` naming the file, the key path (e.g.
// `plans[1].splits_s.side`), the line and column when the YAML parser knows them, and the problem.
// The format is documented in docs/corridor-format.md.
import CorridorMachine
import Foundation
import SignalTiming
import Yams

/// Where a controller listens or is reached: an IPv4 address or a DNS name, and a port. A name is resolved
/// each time a connection is made (the transport says so clearly when it does not resolve), so a
/// cabinet whose address changes keeps its name in the corridor file.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
    public var description: String { "\(host):\(port)" }

    /// Two endpoints are the same socket as far as the file can tell: the same port and the same host,
    /// names compared without case (`Cabinet-12` is `cabinet-12`). Different spellings of one machine
    /// (`localhost` and `127.0.0.1`, two names of one address) cannot be told apart without resolving.
    public var socketKey: String { "\(host.lowercased()):\(port)" }

    /// Parses `HOST:PORT` with the corridor file's rules, or says what is wrong with it. HOST is a dotted
    /// IPv4 address (four numbers 0–255) or a DNS name (RFC 1123: labels of 1–63 letters, digits and
    /// hyphens, not starting or ending with a hyphen, at most 253 characters in all); PORT is 1–65535.
    /// IPv6 literals are refused (the HTTP clients build URLs from the host; a DNS name that resolves to an
    /// IPv6 address works). The unspecified address 0.0.0.0 is refused: nobody can dial it.
    public static func parse(_ s: String) -> Result<Endpoint, EndpointProblem> {
        guard s.utf8.count <= 300 else {
            return .failure(EndpointProblem("an address of \(s.utf8.count) bytes is too long for host:port"))
        }
        guard let colon = s.lastIndex(of: ":") else {
            return .failure(EndpointProblem("expected host:port, got '\(s)'"))
        }
        let host = String(s[..<colon])
        let portText = s[s.index(after: colon)...]
        if host.contains(":") || host.hasPrefix("[") {
            return .failure(
                EndpointProblem(
                    "'\(s)' is an IPv6 address: not supported in corridor files yet; use a DNS name that resolves to it"
                ))
        }
        guard !portText.isEmpty, portText.utf8.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
            let port = Int(portText), (1...65_535).contains(port)
        else {
            return .failure(EndpointProblem("expected host:port with a port 1-65535, got '\(s)'"))
        }
        if let problem = hostProblem(host) { return .failure(EndpointProblem("'\(s)': \(problem)")) }
        return .success(Endpoint(host: host, port: port))
    }

    /// Why `host` is neither a dotted IPv4 address nor a DNS name, or nil.
    static func hostProblem(_ host: String) -> String? {
        if host.isEmpty { return "the host is empty" }
        let bytes = Array(host.utf8)
        if bytes.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }) {
            // Only digits and dots: it must be an IPv4 address, not a name (a name's last label is never all digits).
            let parts = host.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4,
                parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && Int($0).map { (0...255).contains($0) } == true })
            else {
                return "'\(host)' is not an IPv4 address (four numbers 0-255 separated by dots)"
            }
            if parts.allSatisfy({ Int($0) == 0 }) {
                return "0.0.0.0 is not an address anyone can reach: give the controller's own address"
            }
            return nil
        }
        guard bytes.count <= 253 else { return "a host name of \(bytes.count) characters is longer than 253" }
        var name = Substring(host)
        if name.hasSuffix(".") { name = name.dropLast() } // a fully qualified name's root dot
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard (1...63).contains(label.utf8.count) else {
                return "'\(host)' has an empty label or one longer than 63 characters"
            }
            guard
                label.utf8.allSatisfy({
                    ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D
                })
            else {
                return "'\(host)' is not a host name (letters, digits, hyphens and dots only)"
            }
            if label.hasPrefix("-") || label.hasSuffix("-") {
                return "'\(host)' has a label that starts or ends with a hyphen"
            }
        }
        return nil
    }
}

/// Why a `host:port` text was refused.
public struct EndpointProblem: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Where one signal's controller listens.
public struct SignalEndpoints: Hashable, Sendable {
    public var signal: SignalID
    /// Raft peer-to-peer port.
    public var peer: Endpoint
    /// HTTP API port.
    public var api: Endpoint
}

/// Everything a corridor file says.
extension CorridorDocument {
    /// Why this corridor cannot run at `nowMs`, or nil: its reference epoch (the instant its plans start
    /// from) must not lie in the future, since no signal has a schedule before it. A wall-clock check, so
    /// it is made where a controller starts and by `corridor check`, not by the loader.
    public func referenceEpochProblem(nowMs: Milliseconds) -> String? {
        guard referenceEpochMs > nowMs else { return nil }
        return
            "reference_epoch_ms \(referenceEpochMs) is \((referenceEpochMs - nowMs) / 1000) s in the future (the clock says \(nowMs)): the corridor's plans start there, so no controller can run before it; set it to a past instant"
    }
}

public struct CorridorDocument: Hashable, Sendable {
    /// Short identifier, e.g. `western-express-highway`.
    public var id: String
    public var corridor: Corridor
    /// System reference time, ms since the Unix epoch (UTC).
    public var referenceEpochMs: Milliseconds
    /// Names of the two directions, e.g. northbound / southbound.
    public var increasingName: String
    public var decreasingName: String
    /// The plan a fresh corridor starts in.
    public var initialPlan: PlanID
    /// Raft voters (the other signals are learners).
    public var voters: [SignalID]
    /// Per signal, in corridor order.
    public var endpoints: [SignalEndpoints]
    /// The engineer whose key is in the operator registry from the first entry on (`security.first_engineer`):
    /// every other operator is added by a command that an engineer signs. Nil: the file names none; a
    /// controller refuses to start a corridor from it (the console and the tools still read it).
    public var firstEngineer: FirstEngineer?
    /// `security.operators`: more keys in the registry from the start (name, public key, role), for a
    /// corridor that starts with its staff list. Every later change is a signed command.
    public var initialOperators: [OperatorRecord] = []
    /// `security.api_tls.ca`: the controllers serve their HTTP API over TLS with certificates from the
    /// corridor CA whose certificate is this file (an absolute path; the file gives it relative to itself),
    /// and every client trusts that CA alone. Nil: the API is plain HTTP, which a controller serves on a
    /// loopback address only (docs/security.md, "API TLS").
    public var apiCertificateAuthority: String?
    /// `schedule:`: the time-of-day schedule the corridor follows from its reference epoch (nil: none; the
    /// mode changes only by command). Part of the genesis state; changed later by `set-schedule` commands.
    public var schedule: TimeOfDaySchedule?
    /// `actuated:` (ActuatedSection.swift): which signals run the dual-ring controller, and its settings (nil:
    /// every signal fixed-time). Each controller's own, not part of the initial state.
    public var actuated: ActuatedSection?

    /// `https` when the API is TLS, else `http`.
    public var apiScheme: String { apiCertificateAuthority == nil ? "http" : "https" }

    public func name(of d: Direction) -> String { d == .increasing ? increasingName : decreasingName }
}

/// `security.first_engineer`: a name and a raw 32-byte Ed25519 public key (base64 in the file).
public struct FirstEngineer: Hashable, Sendable {
    public var name: String
    public var publicKey: [UInt8]
    public init(name: String, publicKey: [UInt8]) {
        self.name = name
        self.publicKey = publicKey
    }
}

/// A refused corridor file.
public struct CorridorFileError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Problem: String, Hashable, Sendable {
        case unreadable, yaml, missingField, wrongType, unknownKey, invalidValue
        case duplicateID, unknownPhase, unknownStage, unknownSignal, unknownPlan, voterNotASignal
        case splitsOverrunCycle, splitsUnderrunCycle, offsetNotBelowCycle, splitBelowMinimum
        case conflictingPhasesInStage, positionsNotIncreasing
    }
    public var file: String
    /// Dotted key path with indices, e.g. `signals[3].id`; empty for the whole document.
    public var keyPath: String
    /// 1-based line and column, when known.
    public var line: Int?
    public var column: Int?
    public var problem: Problem
    public var message: String

    public var description: String {
        var s = file
        if let line { s += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        s += ": "
        if !keyPath.isEmpty { s += "\(keyPath): " }
        return s + message
    }
}

public enum CorridorFile {
    /// Reads and validates a corridor file.
    public static func load(path: String) throws -> CorridorDocument {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw CorridorFileError(
                file: path, keyPath: "", line: nil, column: nil, problem: .unreadable,
                message: "cannot read the file (missing, unreadable or not UTF-8)")
        }
        return try parse(yaml: text, file: path)
    }

    /// Validates corridor YAML; `file` names it in errors.
    public static func parse(yaml: String, file: String) throws -> CorridorDocument {
        var r = Reader(file: file)
        return try r.document(yaml)
    }
}

/// A YAML node with the key path that reached it.
struct Located {
    var node: Node
    var path: String
    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}

struct Reader {
    let file: String

    func fail(
        _ at: Located?, _ problem: CorridorFileError.Problem, _ message: String, path: String? = nil
    ) -> CorridorFileError {
        CorridorFileError(
            file: file, keyPath: path ?? at?.path ?? "", line: at?.node.mark.map { $0.line },
            column: at?.node.mark.map { $0.column }, problem: problem, message: message)
    }

    // MARK: typed access

    /// A mapping whose keys are checked: reading marks a key known; `done()` refuses the rest.
    struct Obj {
        let at: Located
        let pairs: [(String, Located)]
        var known: Set<String> = []
    }

    func obj(_ l: Located) throws -> Obj {
        guard case .mapping(let m) = l.node else { throw fail(l, .wrongType, "expected a mapping") }
        var pairs: [(String, Located)] = []
        for (k, v) in m {
            guard let key = k.string else {
                throw fail(Located(node: k, path: l.path), .wrongType, "keys must be strings")
            }
            if pairs.contains(where: { $0.0 == key }) {
                throw fail(Located(node: k, path: l.child(key)), .duplicateID, "key '\(key)' appears twice")
            }
            pairs.append((key, Located(node: v, path: l.child(key))))
        }
        return Obj(at: l, pairs: pairs)
    }

    func optional(_ o: inout Obj, _ key: String) -> Located? {
        o.known.insert(key)
        return o.pairs.first { $0.0 == key }?.1
    }

    func required(_ o: inout Obj, _ key: String) throws -> Located {
        guard let v = optional(&o, key) else {
            throw fail(o.at, .missingField, "missing field '\(key)'", path: o.at.child(key))
        }
        return v
    }

    func done(_ o: Obj) throws {
        for (k, v) in o.pairs where !o.known.contains(k) {
            throw fail(v, .unknownKey, "unknown key '\(k)' (known: \(o.known.sorted().joined(separator: ", ")))")
        }
    }

    func list(_ l: Located) throws -> [Located] {
        guard case .sequence(let s) = l.node else { throw fail(l, .wrongType, "expected a list") }
        return s.enumerated().map { Located(node: $1, path: "\(l.path)[\($0)]") }
    }

    func string(_ l: Located) throws -> String {
        guard case .scalar(let s) = l.node, !s.string.isEmpty else {
            throw fail(l, .wrongType, "expected a non-empty string")
        }
        return s.string
    }

    func int(_ l: Located) throws -> Int {
        guard case .scalar(let s) = l.node, let v = Int(s.string) else {
            throw fail(l, .wrongType, "expected an integer")
        }
        return v
    }

    func int(_ l: Located, in range: ClosedRange<Int>, _ what: String) throws -> Int {
        let v = try int(l)
        guard range.contains(v) else {
            throw fail(l, .invalidValue, "\(what) \(v) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    func bool(_ l: Located) throws -> Bool {
        guard case .scalar(let s) = l.node else { throw fail(l, .wrongType, "expected true or false") }
        switch s.string {
        case "true", "yes": return true
        case "false", "no": return false
        default: throw fail(l, .wrongType, "expected true or false")
        }
    }

    /// Seconds written as an integer or a decimal with up to 3 places, read exactly into ms.
    func seconds(_ l: Located) throws -> Milliseconds {
        guard case .scalar(let s) = l.node else { throw fail(l, .wrongType, "expected seconds") }
        let text = s.string
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = Int64(parts[0]), whole >= 0, whole < 1_000_000 else {
            throw fail(l, .wrongType, "expected seconds (e.g. 4 or 3.5), got '\(text)'")
        }
        var ms = whole * 1_000
        if parts.count == 2 {
            let frac = parts[1]
            guard (1...3).contains(frac.count), frac.allSatisfy({ $0.isASCII && $0.isNumber }), let f = Int64(frac)
            else {
                throw fail(l, .wrongType, "expected seconds with at most 3 decimals, got '\(text)'")
            }
            ms += f * [1, 100, 10, 1][frac.count]
        }
        return ms
    }

    func seconds(_ l: Located, in range: ClosedRange<Milliseconds>, _ what: String) throws -> Milliseconds {
        let v = try seconds(l)
        guard range.contains(v) else {
            throw fail(
                l, .invalidValue, "\(what) \(fmt(v)) s is outside \(fmt(range.lowerBound))...\(fmt(range.upperBound)) s"
            )
        }
        return v
    }

    func endpoint(_ l: Located) throws -> Endpoint {
        switch Endpoint.parse(try string(l)) {
        case .success(let e): return e
        case .failure(let problem): throw fail(l, .invalidValue, problem.message)
        }
    }

    // MARK: the document

    mutating func document(_ text: String) throws -> CorridorDocument {
        let root: Node
        do {
            guard let n = try Yams.compose(yaml: text) else {
                throw CorridorFileError(
                    file: file, keyPath: "", line: nil, column: nil, problem: .yaml, message: "the file is empty")
            }
            root = n
        } catch let e as CorridorFileError {
            throw e
        } catch let e as YamlError {
            throw CorridorFileError(
                file: file, keyPath: "", line: yamlLine(e), column: nil, problem: .yaml, message: "not valid YAML: \(e)"
            )
        }
        var top = try obj(Located(node: root, path: ""))
        let id = try string(required(&top, "corridor"))
        let name = try string(required(&top, "name"))
        let epochAt = try required(&top, "reference_epoch_ms")
        guard case .scalar(let es) = epochAt.node, let epoch = Int64(es.string), epoch >= 0 else {
            throw fail(epochAt, .wrongType, "expected a non-negative integer (ms since the Unix epoch, UTC)")
        }
        guard epoch >= Limits.earliestTimeMs, epoch <= Limits.latestTimeMs else {
            throw fail(
                epochAt, .invalidValue,
                "\(epoch) is outside \(Limits.earliestTimeMs)...\(Limits.latestTimeMs) (2000-01-01 to 2200-01-01, ms since the Unix epoch, UTC)"
            )
        }
        var dirs = try obj(required(&top, "directions"))
        let inc = try string(required(&dirs, "increasing"))
        let dec = try string(required(&dirs, "decreasing"))
        try done(dirs)
        guard inc != dec else { throw fail(dirs.at, .invalidValue, "the two directions need different names") }
        func direction(_ l: Located) throws -> Direction {
            let s = try string(l)
            if s == inc { return .increasing }
            if s == dec { return .decreasing }
            throw fail(l, .invalidValue, "'\(s)' is not a direction (\(inc) or \(dec))")
        }

        var safety = SafetyTimings()
        if let sl = optional(&top, "safety") {
            var so = try obj(sl)
            if let v = optional(&so, "flash_exit_red_s") {
                safety.flashExitRedMs = try seconds(v, in: Limits.redClearanceMsMin...60_000, "flash exit red")
            }
            if let v = optional(&so, "preempt_dwell_s") {
                safety.preemptDwellMs = try seconds(v, in: Limits.preemptDwellMsMin...120_000, "preemption dwell")
            }
            if let v = optional(&so, "preempt_max_presence_s") {
                safety.preemptMaxPresenceMs = try seconds(
                    v, in: (safety.preemptDwellMs + 1)...Limits.preemptMaxPresenceMsMax, "preemption max presence")
            }
            try done(so)
        }

        // The intersection template shared by every signal.
        var ix = try obj(required(&top, "intersection"))
        var phases: [Phase] = []
        var phaseAt: [PhaseID: Located] = [:]
        for pl in try list(required(&ix, "phases")) {
            var po = try obj(pl)
            let idAt = try required(&po, "id")
            let pid = PhaseID(try int(idAt, in: 1...Limits.phaseNumberMax, "phase number"))
            if phaseAt[pid] != nil {
                throw fail(idAt, .duplicateID, "duplicate phase id \(pid) (also \(phaseAt[pid]!.path))")
            }
            phaseAt[pid] = idAt
            let pname = try string(required(&po, "name"))
            let minGreen = try seconds(
                required(&po, "min_green_s"), in: Limits.minGreenMsMin...Limits.minGreenMsMax, "min green")
            let yellow = try seconds(required(&po, "yellow_s"), in: Limits.yellowMsMin...Limits.yellowMsMax, "yellow")
            let allRed = try seconds(
                required(&po, "all_red_s"), in: Limits.redClearanceMsMin...Limits.redClearanceMsMax, "all-red")
            let flashAt = try required(&po, "flash")
            let flash: Lamp
            switch try string(flashAt) {
            case "yellow": flash = .flashingYellow
            case "red": flash = .flashingRed
            default: throw fail(flashAt, .invalidValue, "flash must be 'yellow' or 'red'")
            }
            try done(po)
            phases.append(
                Phase(
                    id: pid, name: pname, minGreenMs: minGreen, yellowMs: yellow, redClearanceMs: allRed,
                    flashLamp: flash))
        }
        func phaseRef(_ l: Located) throws -> PhaseID {
            let p = PhaseID(try int(l))
            guard phaseAt[p] != nil else {
                throw fail(
                    l, .unknownPhase,
                    "unknown phase \(p) (phases: \(phaseAt.keys.sorted().map(\.description).joined(separator: ", ")))")
            }
            return p
        }
        var conflicts: [(PhaseID, PhaseID)] = []
        if let cl = optional(&ix, "conflicts") {
            for pair in try list(cl) {
                let two = try list(pair)
                guard two.count == 2 else {
                    throw fail(pair, .wrongType, "a conflict is a pair of phases, e.g. [2, 5]")
                }
                conflicts.append((try phaseRef(two[0]), try phaseRef(two[1])))
            }
        }
        func conflict(_ a: PhaseID, _ b: PhaseID) -> Bool {
            conflicts.contains { ($0.0 == a && $0.1 == b) || ($0.0 == b && $0.1 == a) }
        }
        var stages: [Stage] = []
        var stageAt: [String: Located] = [:]
        for sl in try list(required(&ix, "stages")) {
            var so = try obj(sl)
            let nameAt = try required(&so, "name")
            let sname = try string(nameAt)
            if stageAt[sname] != nil { throw fail(nameAt, .duplicateID, "duplicate stage '\(sname)'") }
            stageAt[sname] = nameAt
            var ids: [PhaseID] = []
            for pl in try list(required(&so, "phases")) {
                let p = try phaseRef(pl)
                if let q = ids.first(where: { conflict($0, p) }) {
                    throw fail(pl, .conflictingPhasesInStage, "phase \(p) conflicts with phase \(q) in the same stage")
                }
                ids.append(p)
            }
            try done(so)
            stages.append(Stage(name: sname, phases: ids))
        }
        try done(ix)
        let stageNames = stages.map(\.name)
        let templateAt = Located(node: ix.at.node, path: "intersection")
        let template: Signal
        do {
            template = try Signal(
                id: SignalID(0), name: "template", positionMetres: 0, phases: phases, stages: stages,
                conflicts: conflicts)
        } catch let e as TimingError {
            throw fail(templateAt, .invalidValue, e.message)
        }

        // Signals.
        var signals: [Signal] = []
        var endpoints: [SignalEndpoints] = []
        var signalAt: [SignalID: Located] = [:]
        // Every controller may run on its own host with the same ports (the field layout): what must be
        // unique is the socket, host and port together, across all peer and API addresses.
        var socketsSeen: [String: String] = [:]
        let signalList = try list(required(&top, "signals"))
        guard (1...Limits.signalsMax).contains(signalList.count) else {
            throw fail(
                templateAt, .invalidValue, "a corridor has 1...\(Limits.signalsMax) signals, not \(signalList.count)",
                path: "signals")
        }
        for sl in signalList {
            var so = try obj(sl)
            let idAt = try required(&so, "id")
            let sid = SignalID(try int(idAt, in: 1...1_000_000, "signal id"))
            if let other = signalAt[sid] {
                throw fail(idAt, .duplicateID, "duplicate signal id \(sid) (also at \(other.path))")
            }
            signalAt[sid] = idAt
            let sname = try string(required(&so, "name"))
            let posAt = try required(&so, "position_m")
            let pos = try int(posAt, in: 0...Limits.corridorLengthMetresMax, "position")
            if let prev = signals.last, pos <= prev.positionMetres {
                throw fail(
                    posAt, .positionsNotIncreasing,
                    "position \(pos) m is not after the previous signal's \(prev.positionMetres) m (list signals in order along the road)"
                )
            }
            var eps: [Endpoint] = []
            for key in ["peer", "api"] {
                let at = try required(&so, key)
                let e = try endpoint(at)
                if let other = socketsSeen[e.socketKey] {
                    throw fail(at, .duplicateID, "address \(e) is already used by \(other)")
                }
                socketsSeen[e.socketKey] = at.path
                eps.append(e)
            }
            try done(so)
            signals.append(
                try Signal(
                    id: sid, name: sname, positionMetres: pos, phases: template.phases,
                    stages: template.stages, conflicts: conflicts))
            endpoints.append(SignalEndpoints(signal: sid, peer: eps[0], api: eps[1]))
        }
        func signalRef(_ l: Located, problem: CorridorFileError.Problem = .unknownSignal) throws -> SignalID {
            let s = SignalID(try int(l))
            guard signalAt[s] != nil else {
                throw fail(
                    l, problem,
                    problem == .voterNotASignal ? "voter \(s) is not a signal of this corridor" : "unknown signal \(s)")
            }
            return s
        }

        // Voters.
        var voters: [SignalID] = []
        for vl in try list(required(&top, "voters")) {
            let v = try signalRef(vl, problem: .voterNotASignal)
            if voters.contains(v) { throw fail(vl, .duplicateID, "voter \(v) is listed twice") }
            voters.append(v)
        }
        if voters.isEmpty { throw fail(nil, .invalidValue, "at least one voter is needed", path: "voters") }

        // Plans.
        var plans: [TimingPlan] = []
        var planAt: [PlanID: Located] = [:]
        for pl in try list(required(&top, "plans")) {
            var po = try obj(pl)
            let nameAt = try required(&po, "name")
            let pid = PlanID(try string(nameAt))
            if let other = planAt[pid] {
                throw fail(nameAt, .duplicateID, "duplicate plan '\(pid)' (also at \(other.path))")
            }
            planAt[pid] = nameAt
            if let fl = optional(&po, "flash"), try bool(fl) {
                try done(po)
                plans.append(.flash(pid))
                continue
            }
            let cycleAt = try required(&po, "cycle_s")
            let cycle = try seconds(cycleAt, in: Limits.cycleMsMin...Limits.cycleMsMax, "cycle")
            let coordAt = try required(&po, "coordinated_stage")
            let coordName = try string(coordAt)
            guard let coord = stageNames.firstIndex(of: coordName) else {
                throw fail(
                    coordAt, .unknownStage,
                    "unknown stage '\(coordName)' (stages: \(stageNames.joined(separator: ", ")))")
            }
            // The rules are PlanRules' (shared with the state machine's plan updates), in seconds here.
            func broken(_ at: Located, _ p: PlanRules.Problem, _ what: String = "") -> CorridorFileError {
                fail(at, p.fileProblem, p.message(time: { "\(fmt($0)) s" }, context: what))
            }
            func splitTable(_ l: Located, what: String) throws -> [Milliseconds] {
                var so = try obj(l)
                for (k, v) in so.pairs {
                    if let p = PlanRules.stages([k], of: stageNames) { throw broken(v, p) }
                }
                var out: [Milliseconds] = []
                for (k, sn) in stageNames.enumerated() {
                    let at = try required(&so, sn)
                    let v = try seconds(at)
                    if let p = PlanRules.split(v, stage: k, of: template) { throw broken(at, p, what) }
                    out.append(v)
                }
                if let p = PlanRules.splits(out, fill: cycle) { throw broken(l, p, what) }
                try done(so)
                return out
            }
            let splits = try splitTable(try required(&po, "splits_s"), what: "")
            var perSignal = Array(repeating: splits, count: signals.count)
            if let ol = optional(&po, "signal_splits_s") {
                let oo = try obj(ol)
                for (k, v) in oo.pairs {
                    let keyAt = Located(node: v.node, path: v.path)
                    guard let n = Int(k), let i = signals.firstIndex(where: { $0.id == SignalID(n) }) else {
                        throw fail(keyAt, .unknownSignal, "unknown signal '\(k)'")
                    }
                    perSignal[i] = try splitTable(v, what: " at signal \(k) (\(signals[i].name))")
                }
            }
            let progAt = try required(&po, "progression")
            var pr = try obj(progAt)
            let speed = try int(
                required(&pr, "speed_kmh"), in: Limits.progressionSpeedKmhMin...Limits.progressionSpeedKmhMax,
                "progression speed (km/h)")
            let favour = try direction(required(&pr, "favour"))
            let percent =
                try optional(&pr, "favour_band_percent").map { try int($0, in: 1...100, "favoured band percent") }
                ?? 100
            try done(pr)
            let progression = Progression(speedKmh: speed, favoured: favour, favouredBandPercent: percent)
            let greens = perSignal.map {
                $0[coord] - template.stageYellowMs[coord] - template.stageRedClearanceMs[coord]
            }
            var offsets = ProgressionMath.offsetsMs(
                positionsMetres: signals.map(\.positionMetres), cycleMs: cycle,
                coordinatedGreensMs: greens, progression: progression)
            if let ol = optional(&po, "offsets_s") {
                // Explicit offsets replace the computed ones (all signals must be given).
                var oo = try obj(ol)
                for (k, v) in oo.pairs where Int(k).flatMap({ n in signals.first { $0.id == SignalID(n) } }) == nil {
                    throw fail(v, .unknownSignal, "unknown signal '\(k)'")
                }
                for (i, s) in signals.enumerated() {
                    let at = try required(&oo, "\(s.id)")
                    let o = try seconds(at)
                    if let p = PlanRules.offset(o, of: s.id, cycleMs: cycle) { throw broken(at, p) }
                    offsets[i] = o
                }
                try done(oo)
            }
            try done(po)
            plans.append(
                TimingPlan(
                    id: pid, cycleMs: cycle,
                    signals: (0..<signals.count).map {
                        SignalPlan(offsetMs: offsets[$0], splitsMs: perSignal[$0], coordinatedStage: coord)
                    },
                    progression: progression))
        }
        let initialAt = try required(&top, "initial_plan")
        let initial = PlanID(try string(initialAt))
        guard planAt[initial] != nil else {
            throw fail(
                initialAt, .unknownPlan,
                "unknown plan '\(initial)' (plans: \(plans.map(\.id.rawValue).joined(separator: ", ")))")
        }
        var firstEngineer: FirstEngineer?
        var initialOperators: [OperatorRecord] = []
        var apiCA: String?
        if let secAt = optional(&top, "security") {
            var sec = try obj(secAt)
            if let feAt = optional(&sec, "first_engineer") {
                var fe = try obj(feAt)
                let nameAt = try required(&fe, "name")
                let engineer = try string(nameAt)
                if let p = OperatorRecord.nameProblem(engineer) { throw fail(nameAt, .invalidValue, p) }
                let keyAt = try required(&fe, "public_key")
                let text = try string(keyAt)
                guard let key = Data(base64Encoded: text), key.count == 32 else {
                    throw fail(
                        keyAt, .invalidValue,
                        "expected the base64 of a 32-byte Ed25519 public key (as 'greenwave operator keygen' prints)")
                }
                try done(fe)
                firstEngineer = FirstEngineer(name: engineer, publicKey: Array(key))
            }
            if let listAt = optional(&sec, "operators") {
                for item in try list(listAt) {
                    var o = try obj(item)
                    let nameAt = try required(&o, "name")
                    let name = try string(nameAt)
                    if let p = OperatorRecord.nameProblem(name) { throw fail(nameAt, .invalidValue, p) }
                    let keyAt = try required(&o, "public_key")
                    guard let key = Data(base64Encoded: try string(keyAt)), OperatorKeys.isValidPublicKey(Array(key))
                    else {
                        throw fail(
                            keyAt, .invalidValue,
                            "expected the base64 of a 32-byte Ed25519 public key (as 'greenwave operator keygen' prints)"
                        )
                    }
                    let roleAt = try required(&o, "role")
                    guard let role = OperatorRole(name: try string(roleAt)) else {
                        throw fail(roleAt, .invalidValue, "unknown role: use viewer, operator, supervisor or engineer")
                    }
                    try done(o)
                    let record = OperatorRecord(name: name, publicKey: Array(key), role: role)
                    let known =
                        initialOperators.map(\.keyID) + (firstEngineer.map { [OperatorKeys.keyID($0.publicKey)] } ?? [])
                    if known.contains(record.keyID) {
                        throw fail(keyAt, .duplicateID, "this public key is listed twice")
                    }
                    initialOperators.append(record)
                }
            }
            if let tlsAt = optional(&sec, "api_tls") {
                var t = try obj(tlsAt)
                let caAt = try required(&t, "ca")
                let ca = try string(caAt)
                if ca.isEmpty || ca.utf8.count > 4096 || ca.utf8.contains(0) {
                    throw fail(
                        caAt, .invalidValue,
                        "expected the path of the corridor CA's certificate (PEM), relative to this file or absolute")
                }
                try done(t)
                let base = URL(fileURLWithPath: file).deletingLastPathComponent()
                apiCA = ca.hasPrefix("/") ? ca : base.appendingPathComponent(ca).standardizedFileURL.path
            }
            try done(sec)
        }
        var schedule: TimeOfDaySchedule?
        if let schedAt = optional(&top, "schedule") { schedule = try self.schedule(schedAt, plans: plans.map(\.id)) }
        let actuatedAt = optional(&top, "actuated")
        try done(top)
        let corridor: Corridor
        do {
            corridor = try Corridor(name: name, signals: signals, plans: plans, safety: safety)
        } catch let e as TimingError {
            throw fail(Located(node: root, path: ""), .invalidValue, e.message)
        }
        var doc = CorridorDocument(
            id: id, corridor: corridor, referenceEpochMs: epoch, increasingName: inc, decreasingName: dec,
            initialPlan: initial, voters: voters, endpoints: endpoints, firstEngineer: firstEngineer,
            initialOperators: initialOperators, apiCertificateAuthority: apiCA)
        doc.schedule = schedule
        doc.actuated = try actuatedAt.map { try actuatedSection($0, corridor: corridor) }
        return doc
    }

    func yamlLine(_ e: YamlError) -> Int? {
        switch e {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return mark.line
        default:
            return nil
        }
    }
}

/// Milliseconds as seconds, exactly: 4000 → "4", 3500 → "3.5".
public func fmt(_ ms: Milliseconds) -> String {
    let sign = ms < 0 ? "-" : ""
    let a = ms.magnitude
    let whole = a / 1_000
    let frac = a % 1_000
    if frac == 0 { return "\(sign)\(whole)" }
    var f = String(frac)
    while f.count < 3 { f = "0" + f }
    while f.hasSuffix("0") { f.removeLast() }
    return "\(sign)\(whole).\(f)"
}

extension PlanRules.Problem {
    /// The corridor file's name for a broken plan rule.
    var fileProblem: CorridorFileError.Problem {
        switch self {
        case .unknownStage: return .unknownStage
        case .splitBelowMinimum: return .splitBelowMinimum
        case .splitsOverrunCycle: return .splitsOverrunCycle
        case .splitsUnderrunCycle: return .splitsUnderrunCycle
        case .offsetOutsideCycle: return .offsetNotBelowCycle
        }
    }
}
