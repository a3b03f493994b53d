import CorridorMachine
import Foundation

/// An operator's key file (`greenwave operator keygen`): JSON with the name, the raw Ed25519 private and
/// public keys (base64) and the key id. Readable by its owner only: a key file that others can read is
/// refused, since whoever reads it can order what the operator may.
public enum OperatorKeyFile {
    /// The environment variable naming a key file when `--key` is not given.
    public static let environmentVariable = "GREENWAVE_KEY"

    struct Contents: Codable {
        var format: Int
        var name: String
        var keyID: String
        var publicKey: String
        var privateKey: String
        enum CodingKeys: String, CodingKey {
            case format, name
            case keyID = "key_id"
            case publicKey = "public_key"
            case privateKey = "private_key"
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Writes a new key for `name` to `path` with permissions 0600; refuses to replace an existing file.
    public static func create(name: String, path: String) throws -> OperatorSigner {
        if let p = OperatorRecord.nameProblem(name) { throw Failure(description: p) }
        guard !FileManager.default.fileExists(atPath: path) else {
            throw Failure(description: "\(path) already exists; a key file is never overwritten (move it away first)")
        }
        let signer = OperatorSigner(newKeyFor: name)
        try write(signer, to: path)
        return signer
    }

    /// Writes `signer` to `path` (0600, created exclusively).
    public static func write(_ signer: OperatorSigner, to path: String) throws {
        let c = Contents(
            format: 1, name: signer.name, keyID: OperatorKeys.keyIDText(signer.keyID),
            publicKey: Data(signer.publicKey).base64EncodedString(),
            privateKey: Data(signer.privateKey).base64EncodedString())
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try e.encode(c) + Data("\n".utf8)
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        _ = fchmod(fd, 0o600)
        let written = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else { throw Failure(description: "cannot write \(path)") }
    }

    /// Reads a key file; refuses one that its group or others can read or write.
    public static func load(path: String) throws -> OperatorSigner {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw Failure(description: "cannot read the operator key file \(path): \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw Failure(
                description:
                    "the operator key file \(path) is readable or writable by others (mode \(String(st.st_mode & 0o777, radix: 8))); run 'chmod 600 \(path)'"
            )
        }
        guard st.st_size <= 4096, let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "\(path) is not an operator key file (too large or unreadable)")
        }
        guard let c = try? JSONDecoder().decode(Contents.self, from: data), c.format == 1 else {
            throw Failure(
                description:
                    "\(path) is not an operator key file (expected the JSON 'greenwave operator keygen' writes)")
        }
        guard let priv = Data(base64Encoded: c.privateKey),
            let signer = try? OperatorSigner(name: c.name, privateKey: Array(priv))
        else {
            throw Failure(description: "\(path): private_key is not the base64 of a 32-byte Ed25519 key")
        }
        if let p = OperatorRecord.nameProblem(c.name) { throw Failure(description: "\(path): \(p)") }
        guard Data(signer.publicKey).base64EncodedString() == c.publicKey else {
            throw Failure(description: "\(path): public_key does not belong to private_key")
        }
        return signer
    }

    /// The key file from `--key`, else from $GREENWAVE_KEY; nil when neither names one.
    public static func locate(_ option: String?) -> String? {
        if let o = option, !o.isEmpty { return o }
        if let e = ProcessInfo.processInfo.environment[environmentVariable], !e.isEmpty { return e }
        return nil
    }

    /// The `security:` block a corridor file needs for `signer` as its first engineer.
    /// `apiCA`: also `security.api_tls.ca` (the path of the corridor CA's certificate, relative to the file).
    public static func corridorBlock(_ signer: OperatorSigner, apiCA: String? = nil) -> String {
        var text = """
            security:
              first_engineer:
                name: \(signer.name)
                public_key: \(Data(signer.publicKey).base64EncodedString())

            """
        if let apiCA {
            text += """
                  api_tls:
                    ca: \(apiCA)

                """
        }
        return text
    }
}
