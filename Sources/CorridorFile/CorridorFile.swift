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

/// The names of the two directions (`directions:`).
struct DirectionNames {
    var increasing: String
    var decreasing: String
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

    /// The whole file, one section decoder after another in the order the sections are checked (an error
    /// in an earlier section is the one reported). Later sections see what the earlier ones decoded.
    mutating func document(_ text: String) throws -> CorridorDocument {
        let root = try composeRoot(text)
        var top = try obj(Located(node: root, path: ""))
        let id = try string(required(&top, "corridor"))
        let name = try string(required(&top, "name"))
        let epoch = try referenceEpoch(required(&top, "reference_epoch_ms"))
        let directions = try directionNames(required(&top, "directions"))
        let safety = try optional(&top, "safety").map { try safetyTimings($0) } ?? SafetyTimings()
        let intersection = try self.intersection(required(&top, "intersection"))
        let roster = try signals(required(&top, "signals"), intersection: intersection)
        let voters = try self.voters(required(&top, "voters"), roster: roster)
        let plans = try self.plans(
            required(&top, "plans"),
            context: PlanContext(intersection: intersection, roster: roster, directions: directions))
        let initial = try initialPlan(required(&top, "initial_plan"), plans: plans)
        let security = try optional(&top, "security").map { try self.security($0) } ?? SecuritySection()
        var schedule: TimeOfDaySchedule?
        if let schedAt = optional(&top, "schedule") { schedule = try self.schedule(schedAt, plans: plans.map(\.id)) }
        let actuatedAt = optional(&top, "actuated")
        try done(top)
        let corridor: Corridor
        do {
            corridor = try Corridor(name: name, signals: roster.signals, plans: plans, safety: safety)
        } catch let e as TimingError {
            throw fail(Located(node: root, path: ""), .invalidValue, e.message)
        }
        var doc = CorridorDocument(
            id: id, corridor: corridor, referenceEpochMs: epoch, increasingName: directions.increasing,
            decreasingName: directions.decreasing, initialPlan: initial, voters: voters, endpoints: roster.endpoints,
            firstEngineer: security.firstEngineer, initialOperators: security.operators,
            apiCertificateAuthority: security.apiCertificateAuthority)
        doc.schedule = schedule
        doc.actuated = try actuatedAt.map { try actuatedSection($0, corridor: corridor) }
        return doc
    }

    /// The YAML node tree of `text`, or a `.yaml` refusal (empty file, or the parser's error and line).
    func composeRoot(_ text: String) throws -> Node {
        do {
            guard let n = try Yams.compose(yaml: text) else {
                throw CorridorFileError(
                    file: file, keyPath: "", line: nil, column: nil, problem: .yaml, message: "the file is empty")
            }
            return n
        } catch let e as CorridorFileError {
            throw e
        } catch let e as YamlError {
            throw CorridorFileError(
                file: file, keyPath: "", line: yamlLine(e), column: nil, problem: .yaml, message: "not valid YAML: \(e)"
            )
        }
    }

    // MARK: the small top-level sections

    /// `reference_epoch_ms`: the instant the plans start from, ms since the Unix epoch (UTC), within `Limits`.
    func referenceEpoch(_ epochAt: Located) throws -> Milliseconds {
        guard case .scalar(let es) = epochAt.node, let epoch = Int64(es.string), epoch >= 0 else {
            throw fail(epochAt, .wrongType, "expected a non-negative integer (ms since the Unix epoch, UTC)")
        }
        guard epoch >= Limits.earliestTimeMs, epoch <= Limits.latestTimeMs else {
            throw fail(
                epochAt, .invalidValue,
                "\(epoch) is outside \(Limits.earliestTimeMs)...\(Limits.latestTimeMs) (2000-01-01 to 2200-01-01, ms since the Unix epoch, UTC)"
            )
        }
        return epoch
    }

    /// `directions`: the names of the two directions, which must differ.
    func directionNames(_ l: Located) throws -> DirectionNames {
        var dirs = try obj(l)
        let inc = try string(required(&dirs, "increasing"))
        let dec = try string(required(&dirs, "decreasing"))
        try done(dirs)
        guard inc != dec else { throw fail(dirs.at, .invalidValue, "the two directions need different names") }
        return DirectionNames(increasing: inc, decreasing: dec)
    }

    /// A direction given by one of the names in `directions`.
    func direction(_ l: Located, names: DirectionNames) throws -> Direction {
        let s = try string(l)
        if s == names.increasing { return .increasing }
        if s == names.decreasing { return .decreasing }
        throw fail(l, .invalidValue, "'\(s)' is not a direction (\(names.increasing) or \(names.decreasing))")
    }

    /// `safety`: the corridor-wide safety timings; a key left out keeps its default.
    func safetyTimings(_ l: Located) throws -> SafetyTimings {
        var safety = SafetyTimings()
        var so = try obj(l)
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
        return safety
    }

    /// `initial_plan`: the plan a fresh corridor starts in, one of `plans`.
    func initialPlan(_ initialAt: Located, plans: [TimingPlan]) throws -> PlanID {
        let initial = PlanID(try string(initialAt))
        guard plans.contains(where: { $0.id == initial }) else {
            throw fail(
                initialAt, .unknownPlan,
                "unknown plan '\(initial)' (plans: \(plans.map(\.id.rawValue).joined(separator: ", ")))")
        }
        return initial
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
