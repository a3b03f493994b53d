import ArgumentParser
import CorridorFile
import Foundation
import PKI
import SignalTiming

/// `greenwave pki …`: the corridor's certificate authority and the controllers' keys and certificates.
struct PKICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pki",
        abstract: "Create the corridor's CA and each controller's key and certificate (mutual TLS between peers).",
        discussion: """
            A folder holds ca.pem and ca.key (the corridor's CA) and signal-N.pem and signal-N.key per controller.
            Give each controller ca.pem and its own two files (never ca.key) and start it with --peer-tls-dir.
            Keys are written with mode 0600; existing files are never replaced without --force.
            docs/protocol.md ("TLS") says what the certificates name and what is checked.
            """,
        subcommands: [PKIInitCommand.self, PKIIssueCommand.self]
    )
}

struct PKIInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the corridor's certificate authority (a P-256 key and a self-signed certificate)."
    )

    @Option(help: "The PKI folder (created, mode 0700).") var dir: String
    @Option(help: "The corridor file (its id names the CA).") var corridor: String
    @Flag(help: "Replace an existing CA (every certificate it issued stops being trusted).") var force = false

    func run() throws {
        let doc = try loadCorridor(corridor)
        do {
            let ca = try PKIDirectory(path: dir).initialize(corridorID: doc.id, force: force)
            print(
                "created the CA of corridor \(doc.id) in \(dir) (ca.pem, ca.key), valid until \(isoDate(ca.certificate.notValidAfter))"
            )
        } catch let e as PKIError {
            throw ValidationError("\(e)")
        }
    }
}

struct PKIIssueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract:
            "Issue a controller's key and certificate (identity greenwave://CORRIDOR/signal/N) with the corridor's CA."
    )

    @Option(help: "The PKI folder (with ca.pem and ca.key).") var dir: String
    @Option(help: "The corridor file.") var corridor: String
    @Option(help: "The signal whose controller gets the certificate.") var signal: Int?
    @Flag(help: "Every signal of the corridor.") var all = false
    @Flag(help: "Replace existing files.") var force = false

    func validate() throws {
        guard (signal != nil) != all else { throw ValidationError("give --signal N or --all") }
    }

    func run() throws {
        let doc = try loadCorridor(corridor)
        let pki = PKIDirectory(path: dir)
        let wanted: [SignalID]
        if let s = signal {
            guard doc.corridor.signals.contains(where: { $0.id.rawValue == s }) else {
                throw ValidationError("signal \(s) is not in \(corridor)")
            }
            wanted = [SignalID(s)]
        } else {
            wanted = doc.corridor.signals.map(\.id)
        }
        if !force {
            // Refuse before writing anything, so that a refused --all leaves the folder as it was.
            for s in wanted {
                for p in [pki.certificatePath(signal: UInt64(s.rawValue)), pki.keyPath(signal: UInt64(s.rawValue))]
                where FileManager.default.fileExists(atPath: p) {
                    throw ValidationError("\(p) exists (use --force to replace it)")
                }
            }
        }
        do {
            for s in wanted {
                try pki.issue(corridorID: doc.id, signal: UInt64(s.rawValue), hosts: peerHosts(doc, s), force: force)
            }
        } catch let e as PKIError {
            throw ValidationError("\(e)")
        }
        print(
            "issued \(wanted.count) controller certificate\(wanted.count == 1 ? "" : "s") for corridor \(doc.id) in \(dir)"
        )
    }
}

/// The host names or addresses a signal's controller is reached at by its peers.
/// The hosts a controller's certificate names: its peer host and its API host (the same certificate
/// serves the peer port and, when the corridor's API is TLS, the API), each once.
func peerHosts(_ doc: CorridorDocument, _ signal: SignalID) -> [String] {
    var hosts: [String] = []
    for e in doc.endpoints where e.signal == signal {
        for h in [e.peer.host, e.api.host] where !hosts.contains(h) { hosts.append(h) }
    }
    return hosts
}

/// A PKI for every controller of `doc` in `dir`: the CA on first use, then any missing controller files
/// (existing ones are kept). Returns how many controller certificates were issued.
@discardableResult
func ensurePKI(dir: String, doc: CorridorDocument) throws -> Int {
    let pki = PKIDirectory(path: dir)
    if !pki.hasCA { try pki.initialize(corridorID: doc.id) }
    var issued = 0
    for s in doc.corridor.signals {
        let n = UInt64(s.id.rawValue)
        if FileManager.default.fileExists(atPath: pki.certificatePath(signal: n))
            && FileManager.default.fileExists(atPath: pki.keyPath(signal: n))
        {
            continue
        }
        try pki.issue(corridorID: doc.id, signal: n, hosts: peerHosts(doc, s.id), force: true)
        issued += 1
    }
    return issued
}

private func loadCorridor(_ path: String) throws -> CorridorDocument {
    do { return try CorridorFile.load(path: path) } catch { throw ValidationError("\(error)") }
}

private func isoDate(_ d: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withFullDate]
    return f.string(from: d)
}
