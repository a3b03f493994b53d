import ArgumentParser
import Console
import Controller
import CorridorFile
import CorridorMachine
import Foundation
import GreenwaveAPI

/// Options every console command shares.
struct ConsoleOptions: ParsableArguments {
    @Option(help: "The corridor file (controllers' addresses).") var corridor: String =
        "corridors/western-express-highway.yaml"
    @Option(
        help:
            "Your operator key file ('greenwave operator keygen'); default $GREENWAVE_KEY. Every command is signed with it, and the audit records who signed."
    )
    var key: String?
    @Option(help: caHelp) var ca: String?
    @Option(help: "Seconds to wait for a quorum to commit the command.") var timeout: Double = 10
    @Flag(help: "Print the controller's answer as JSON.") var json = false

    func document() throws -> CorridorDocument { try clientDocument(corridor, ca: ca) }

    /// The operator's key: from --key or $GREENWAVE_KEY.
    func signer() throws -> OperatorSigner {
        guard let s = try optionalOperatorKey(key) else {
            throw ValidationError(
                "no operator key: give --key FILE or set \(OperatorKeyFile.environmentVariable) (create one with 'greenwave operator keygen --name NAME'; an engineer then adds it with 'greenwave operator add')"
            )
        }
        return s
    }
}

let caHelp: ArgumentHelp =
    "The corridor CA's certificate, to reach controllers whose API is TLS; default $\(caEnvironmentVariable), else the corridor file's security.api_tls.ca (without either: plain HTTP)."
let caEnvironmentVariable = "GREENWAVE_CA"

/// The corridor file as a client reads it: with `--ca FILE` (or $GREENWAVE_CA) the API is HTTPS trusting
/// that CA, whatever the file says; else as the file says (`security.api_tls`).
func clientDocument(_ path: String, ca: String?) throws -> CorridorDocument {
    var doc: CorridorDocument
    do { doc = try CorridorFile.load(path: path) } catch { throw ValidationError("\(error)") }
    if let c = ca ?? ProcessInfo.processInfo.environment[caEnvironmentVariable].flatMap({ $0.isEmpty ? nil : $0 }) {
        guard FileManager.default.isReadableFile(atPath: c) else {
            throw ValidationError(
                "--ca \(c): no readable file there (the corridor CA's certificate, e.g. .greenwave-demo/pki/ca.pem)")
        }
        doc.apiCertificateAuthority = URL(fileURLWithPath: c).standardizedFileURL.path
    }
    return doc
}

/// A console client for `doc`; a CA that cannot be used is a validation error naming why.
func consoleClient(_ doc: CorridorDocument, timeoutSeconds: Double = 10) throws -> ConsoleClient {
    do { return try ConsoleClient(document: doc, timeoutSeconds: timeoutSeconds) } catch {
        throw ValidationError("\(error)")
    }
}

/// The operator key named by a `--key` option or $GREENWAVE_KEY, nil when neither names one; a file that
/// cannot be used is a validation error naming why.
func optionalOperatorKey(_ option: String?) throws -> OperatorSigner? {
    guard let path = OperatorKeyFile.locate(option) else { return nil }
    do { return try OperatorKeyFile.load(path: path) } catch { throw ValidationError("\(error)") }
}

/// Submits one command and prints what became of it. Exit status: 0 accepted, 1 rejected by the
/// state machine, 2 not committed (no quorum or no controller reachable), 64 bad input.
/// 77 the leader refused the signature or the signer's role.
func runConsoleCommand(_ o: ConsoleOptions, _ make: (String, UInt64) -> CommandRequest) async throws {
    let doc = try o.document()
    let signer = try o.signer()
    var client = try consoleClient(doc, timeoutSeconds: o.timeout)
    client.reader = signer
    let request: CommandRequest
    do { request = try make(ConsoleClient.newClientID(), 1).signed(by: signer, document: doc) } catch {
        throw ValidationError("\(error)")
    }
    do {
        let (status, r) = try await client.submit(request)
        if o.json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try e.encode(r), as: UTF8.self))
        } else if r.result == "accepted" {
            var line = "\(request.type) accepted: log index \(r.index), term \(r.term), leader \(r.leader)"
            if let t = r.effectiveAtMs {
                let inS = (Double(t) - Double(wallClockMs())) / 1000 // in Double: a hostile time cannot overflow
                line += "; takes effect \(isoTime(t))" + (inS > 0 ? String(format: " (in %.1f s)", inS) : "")
            }
            if r.duplicate { line += " (a retry: this is the first result)" }
            print(line)
        } else {
            print("\(request.type) rejected at log index \(r.index): \(r.reason ?? "no reason given")")
        }
        if status != 200 { throw ExitCode(1) }
    } catch let e as ConsoleError {
        FileHandle.standardError.write(Data("greenwave: \(e)\n".utf8))
        if case .badAnswer = e { throw ExitCode(64) }
        if case .refused = e { throw ExitCode(77) }
        throw ExitCode(2)
    }
}

struct ModeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mode",
        abstract:
            "Switch the corridor to a plan (normal, rush-hour, night, flash, …) at the next cycle boundary; with a schedule, until its next change or --until."
    )
    @Argument(help: "The plan name.") var plan: String
    @Option(
        help:
            "With a time-of-day schedule: when the schedule takes over again: 'next' (its next change, the default), a local time HH:MM (the next one, in the schedule's UTC offset) or ms since the Unix epoch."
    )
    var until: String?
    @OptionGroup var options: ConsoleOptions
    func run() async throws {
        var untilText: String?
        if let u = until {
            let offset = (try? options.document().schedule?.utcOffsetMinutes) ?? nil
            guard let t = parseUntil(u, offsetMinutes: offset ?? 0, nowMs: wallClockMs()) else {
                throw ValidationError("--until \(u): expected 'next', HH:MM or ms since the Unix epoch")
            }
            untilText = t
        }
        try await runConsoleCommand(options) { id, seq in
            var r = CommandRequest(operator: "", clientID: id, sequence: seq, type: "mode", plan: plan)
            r.until = untilText
            return r
        }
    }
}

struct HoldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold", abstract: "Hold a signal in a stage (default: its coordinated stage) until released.")
    @Argument(help: "Signal id (S12 or 12).") var signal: String
    @Option(help: "Stage to rest in.") var stage: String?
    @OptionGroup var options: ConsoleOptions
    func run() async throws {
        let s = try requireSignal(signal)
        try await runConsoleCommand(options) {
            CommandRequest(operator: "", clientID: $0, sequence: $1, type: "hold", signal: s, stage: stage)
        }
    }
}

struct ReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release", abstract: "Release a held signal back to coordination.")
    @Argument(help: "Signal id (S12 or 12).") var signal: String
    @OptionGroup var options: ConsoleOptions
    func run() async throws {
        let s = try requireSignal(signal)
        try await runConsoleCommand(options) {
            CommandRequest(operator: "", clientID: $0, sequence: $1, type: "release", signal: s)
        }
    }
}

struct FlashCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flash", abstract: "Flash one signal, or the whole corridor when no signal is given.")
    @Argument(help: "Signal id (S12 or 12); omit for the whole corridor.") var signal: String?
    @OptionGroup var options: ConsoleOptions
    func run() async throws {
        let s = try signal.map(requireSignal)
        try await runConsoleCommand(options) {
            CommandRequest(operator: "", clientID: $0, sequence: $1, type: "flash", signal: s)
        }
    }
}

struct UnflashCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unflash", abstract: "End flash on one signal, or on the whole corridor when no signal is given.")
    @Argument(help: "Signal id (S12 or 12); omit for the whole corridor.") var signal: String?
    @OptionGroup var options: ConsoleOptions
    func run() async throws {
        let s = try signal.map(requireSignal)
        try await runConsoleCommand(options) {
            CommandRequest(operator: "", clientID: $0, sequence: $1, type: "unflash", signal: s)
        }
    }
}

struct PreemptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preempt", abstract: "Call an emergency green corridor along consecutive signals.")
    @Argument(help: "Signals in travel order (S05 S06 S07, or a range S05-S11).") var signals: [String]
    @Option(help: "Direction of travel (the corridor's direction names, or increasing/decreasing).") var direction:
        String
    @Option(help: "Vehicle speed in km/h.") var speedKmh: Int?
    @OptionGroup var options: ConsoleOptions
    func run() async throws {
        let list: [Int]
        switch parseSignalList(signals) {
        case .success(let l): list = l
        case .failure(let e): throw ValidationError(e.description)
        }
        try await runConsoleCommand(options) {
            CommandRequest(
                operator: "", clientID: $0, sequence: $1, type: "preempt", signals: list, direction: direction,
                speedKmh: speedKmh)
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every controller of the corridor: role, term, indexes, state hash, mode, lamps.")
    @Option(help: "The corridor file.") var corridor: String = "corridors/western-express-highway.yaml"
    @Option(help: caHelp) var ca: String?
    @Flag(help: "Print JSON: one object per controller (unreachable ones marked).") var json = false
    @Option(help: "An operator key file, for controllers whose reads need a credential; default $GREENWAVE_KEY.")
    var key: String?

    struct Row: Codable {
        var signal: Int
        var api: String
        var reachable: Bool
        var status: StatusResponse?
    }

    func run() async throws {
        let doc = try clientDocument(corridor, ca: ca)
        var client = try consoleClient(doc)
        client.reader = try optionalOperatorKey(key)
        let rows = await client.statusAll()
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .prettyPrinted]
            let out = rows.map {
                Row(signal: $0.signal.rawValue, api: "\($0.endpoint)", reachable: $0.status != nil, status: $0.status)
            }
            print(String(decoding: try e.encode(out), as: UTF8.self))
            return
        }
        let hashes = rows.compactMap { $0.status?.stateHash }
        let leaderHash = rows.first { $0.status?.role == "leader" }?.status?.stateHash
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        print(
            [
                pad("signal", 7), pad("role", 9), lpad("term", 5), lpad("commit", 7), lpad("applied", 8),
                pad(" hash", 10),
                pad("agrees", 7), pad("mode", 11), "lamps (main / side)"
            ].joined(separator: " "))
        for r in rows {
            guard let s = r.status else {
                print("\(pad("S\(r.signal.rawValue)", 7)) UNREACHABLE at \(r.endpoint)")
                continue
            }
            let agrees = leaderHash.map { $0 == s.stateHash ? "yes" : "NO" } ?? "?"
            let lamps = s.lamps.map { "\($0.lamps["2"] ?? "-") / \($0.lamps["4"] ?? "-")" } ?? "-"
            print(
                [
                    pad("S\(s.signal)", 7), pad(s.role, 9), lpad("\(s.term)", 5), lpad("\(s.commitIndex)", 7),
                    lpad("\(s.appliedIndex)", 8), pad(" " + String(s.stateHash.prefix(8)), 10), pad(agrees, 7),
                    pad(s.mode + (s.pendingMode.map { "→" + $0 } ?? ""), 11), lamps
                ].joined(separator: " "))
        }
        let up = hashes.count
        print(
            "\(up)/\(rows.count) reachable; leader: \(rows.first { $0.status?.role == "leader" }.map { "S\($0.signal.rawValue)" } ?? "none")"
        )
    }
}

/// A signal id the operator typed (S12 or 12), or a usage error that names it.
func requireSignal(_ text: String) throws -> Int {
    guard let s = parseSignal(text) else { throw ValidationError("'\(text)' is not a signal id") }
    return s
}
