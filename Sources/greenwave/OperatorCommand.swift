import ArgumentParser
import Console
import Controller
import CorridorFile
import CorridorMachine
import Foundation
import GreenwaveAPI

/// `greenwave operator …`: operator keys and the replicated operator registry.
struct OperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract: "Operator keys and roles: keygen, add, role, revoke, list, sign.",
        discussion: """
            Every command is signed with an operator's Ed25519 key, and every controller checks the signature
            and the signer's role (viewer < operator < supervisor < engineer) when it applies the command.
            The corridor file names the first engineer (security.first_engineer); engineers add, re-role and
            revoke everyone else with signed commands. docs/security.md.
            """,
        subcommands: [
            OperatorKeygen.self, OperatorAdd.self, OperatorRoleCommand.self, OperatorRevoke.self, OperatorList.self,
            OperatorSign.self
        ]
    )
}

struct OperatorKeygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen", abstract: "Create a key file for an operator (permissions 0600).")
    @Option(help: "The operator's name (letters, digits, . _ - @).") var name: String
    @Option(help: "Where to write the key file (default: ~/.greenwave/NAME.key).") var out: String?

    func run() throws {
        let path = out ?? ((NSHomeDirectory() as NSString).appendingPathComponent(".greenwave/\(name).key"))
        let signer: OperatorSigner
        do { signer = try OperatorKeyFile.create(name: name, path: path) } catch { throw ValidationError("\(error)") }
        print("wrote \(path) (mode 0600): operator \(signer.name), key id \(OperatorKeys.keyIDText(signer.keyID))")
        print("public key: \(Data(signer.publicKey).base64EncodedString())")
        print("")
        print(
            "An engineer registers it:   greenwave operator add \(signer.name) --public-key \(Data(signer.publicKey).base64EncodedString()) --role operator"
        )
        print("Or, as a new corridor's first engineer, add to its corridor file:")
        print(OperatorKeyFile.corridorBlock(signer), terminator: "")
    }
}

struct OperatorAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Register an operator's public key with a role (needs an engineer's key).")
    @Argument(help: "The operator's name.") var name: String
    @Option(help: "The operator's public key (base64, as 'operator keygen' prints).") var publicKey: String?
    @Option(help: "Or the operator's key file (only its public key is read into the command).") var publicKeyFile:
        String?
    @Option(help: "viewer, operator, supervisor or engineer.") var role: String
    @OptionGroup var options: ConsoleOptions

    func run() async throws {
        var key = publicKey
        if key == nil, let f = publicKeyFile {
            do { key = Data(try OperatorKeyFile.load(path: f).publicKey).base64EncodedString() } catch {
                throw ValidationError("\(error)")
            }
        }
        guard let k = key else { throw ValidationError("give --public-key or --public-key-file") }
        try await runConsoleCommand(options) {
            CommandRequest(
                operator: "", clientID: $0, sequence: $1, type: "operator_add", name: name, publicKey: k, role: role)
        }
    }
}

struct OperatorRoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "role", abstract: "Change an operator's role (needs an engineer's key).")
    @Argument(help: "The operator's name.") var name: String
    @Argument(help: "viewer, operator, supervisor or engineer.") var role: String
    @OptionGroup var options: ConsoleOptions

    func run() async throws {
        try await runConsoleCommand(options) {
            CommandRequest(operator: "", clientID: $0, sequence: $1, type: "operator_role", name: name, role: role)
        }
    }
}

struct OperatorRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke one key (needs an engineer's key); commands it signs are refused from then on.")
    @Argument(help: "The key id (16 hex digits, as 'operator list' shows).") var keyID: String
    @OptionGroup var options: ConsoleOptions

    func run() async throws {
        try await runConsoleCommand(options) {
            CommandRequest(operator: "", clientID: $0, sequence: $1, type: "operator_revoke", keyID: keyID)
        }
    }
}

struct OperatorList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "The operator registry as a controller has applied it.")
    @Option(help: "The corridor file (controllers' addresses).") var corridor: String =
        "corridors/western-express-highway.yaml"
    @Option(help: caHelp) var ca: String?
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "An operator key file, for controllers whose reads need a credential; default $GREENWAVE_KEY.")
    var key: String?

    func run() async throws {
        let doc = try clientDocument(corridor, ca: ca)
        var client = try consoleClient(doc)
        client.reader = try optionalOperatorKey(key)
        guard let list = await client.operators() else {
            FileHandle.standardError.write(Data("greenwave: no controller answered\n".utf8))
            throw ExitCode(2)
        }
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try e.encode(list), as: UTF8.self))
            return
        }
        print("key id            role        name                 added   revoked")
        for o in list.operators {
            print(
                "\(o.keyID)  \(pad(o.role, 10))  \(pad(o.name, 20)) \(pad("\(o.addedAt)", 7)) \(o.revokedAt.map(String.init) ?? "-")"
            )
        }
        print("applied index \(list.appliedIndex) on S\(list.signal)")
    }
}

/// For scripts and benchmarks written in other languages: reads `POST /v1/commands` bodies (JSON, one per
/// line) and writes each signed with the key, one per line.
struct OperatorSign: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign", abstract: "Sign command request bodies (JSON lines on standard input → signed JSON lines)."
    )
    @Option(help: "The corridor file (its id is in every signature).") var corridor: String =
        "corridors/western-express-highway.yaml"
    @Option(help: "The operator key file; default $GREENWAVE_KEY.") var key: String?

    func run() throws {
        let doc: CorridorDocument
        do { doc = try CorridorFile.load(path: corridor) } catch { throw ValidationError("\(error)") }
        guard let signer = try optionalOperatorKey(key) else {
            throw ValidationError("no operator key: give --key FILE or set \(OperatorKeyFile.environmentVariable)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var n = 0
        while let line = readLine(strippingNewline: true) {
            n += 1
            guard !line.isEmpty else { continue }
            do {
                let r = try JSONDecoder().decode(CommandRequest.self, from: Data(line.utf8))
                let signed = try r.signed(by: signer, document: doc)
                FileHandle.standardOutput.write(try encoder.encode(signed) + Data("\n".utf8))
            } catch {
                FileHandle.standardError.write(Data("greenwave operator sign: line \(n): \(error)\n".utf8))
                throw ExitCode(64)
            }
        }
    }
}
