import CorridorMachine
import Crypto
import Foundation
import PKI
import RaftCore
import Storage
import X509

/// An audit checkpoint exported for an auditor to keep off-site, signed with a controller's peer TLS key
/// (the P-256 key `greenwave pki issue` wrote for it). `verify --anchor FILE` then checks folders against
/// it: the checkpoint entry must be in every folder at its index, each folder's row at the checkpoint's
/// head must have the committed hash, and no folder may end before the checkpoint (docs/audit.md).
public struct AuditAnchor: Sendable {
    public static let format = "greenwave-audit-anchor-v1"
    /// An anchor file is a few kilobytes (most of it the certificate); anything larger is refused unread.
    public static let maxFileBytes = 64 * 1024

    public var path: String
    public var corridorID: String
    /// Whose key signed it: the certificate's identity (`greenwave://CORRIDOR/signal/N`).
    public var signer: String
    public var checkpointIndex: LogIndex
    public var checkpointTerm: Term
    /// The checkpoint entry's bytes as committed.
    public var entry: [UInt8]
    public var checkpoint: AuditCheckpoint
    public var exportedAtMs: Int64
    /// The signing certificate (PEM) and whether it was checked against a CA.
    public var certificatePEM: String
    public var checkedAgainstCA: Bool

    // The anchor file's keys are snake_case on disk.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    struct File: Codable {
        var format: String
        var corridor: String
        var signer: String
        var checkpoint_index: UInt64
        var checkpoint_term: UInt64
        var entry: String
        var head_index: UInt64
        var head_hash: String
        var exported_at_ms: Int64
        var certificate: String
        var signature: String
    }

    static func message(corridorID: String, index: LogIndex, term: Term, entry: [UInt8], exportedAtMs: Int64) -> [UInt8]
    {
        var w = ByteWriter()
        w.raw(Array(format.utf8))
        w.string(corridorID)
        w.u64(index)
        w.u64(term)
        w.data(entry)
        w.i64(exportedAtMs)
        return w.bytes
    }

    /// The newest audit checkpoint in `folder`, signed with `material`'s key; refused when the folder's
    /// chain does not verify up to it (an anchor must not certify a record already altered).
    public static func export(folder: DataFolder, material: PeerTLSMaterial, now: Date = Date()) throws -> String {
        let rows = try folder.auditRows()
        if let bad = rows.first(where: { $0.row == nil }) {
            throw AuditError("\(folder.path): audit row \(bad.index) is malformed; run audit verify", badInput: false)
        }
        let chain = rows.compactMap(\.row)
        if let f = Verifier.chainFindings(chain).first {
            throw AuditError(
                "\(folder.path): the audit chain does not verify (\(f)); run audit verify", badInput: false)
        }
        guard let row = chain.last(where: { AuditCheckpoint.isCheckpoint($0.record.command) }),
            let cp = try? AuditCheckpoint.decode(row.record.command)
        else {
            throw AuditError(
                "\(folder.path) holds no audit checkpoint yet (the leader proposes one every so often: docs/audit.md)")
        }
        let corridorID = material.identity.corridor
        let exported = Int64(now.timeIntervalSince1970 * 1000)
        let msg = message(
            corridorID: corridorID, index: row.record.index, term: row.record.term, entry: row.record.command,
            exportedAtMs: exported)
        let key: P256.Signing.PrivateKey
        do { key = try P256.Signing.PrivateKey(pemRepresentation: material.privateKeyPEM) } catch {
            throw AuditError("the controller's key is not a P-256 key in PEM: \(error)")
        }
        let signature = try key.signature(for: msg).derRepresentation
        let file = File(
            format: format, corridor: corridorID, signer: material.identity.description,
            checkpoint_index: row.record.index,
            checkpoint_term: row.record.term, entry: hexString(row.record.command), head_index: cp.headIndex,
            head_hash: hexString(cp.headHash), exported_at_ms: exported, certificate: material.certificatePEM,
            signature: signature.base64EncodedString())
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try enc.encode(file), as: UTF8.self) + "\n"
    }

    /// Reads and checks an anchor file: its signature by the certificate it carries, the certificate's
    /// identity, and, given `caPath`, that the corridor CA issued the certificate. Every field is
    /// range-checked; a bad file is refused by name, never trusted in part.
    public static func load(path: String, caPath: String? = nil) throws -> AuditAnchor {
        func bad(_ why: String) -> AuditError { AuditError("--anchor \(path): \(why)") }
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path), let size = attrs[.size] as? Int
        else {
            throw bad("cannot read it")
        }
        guard size <= maxFileBytes else { throw bad("\(size) bytes; an anchor is at most \(maxFileBytes)") }
        guard let data = FileManager.default.contents(atPath: path) else { throw bad("cannot read it") }
        let f: File
        do { f = try JSONDecoder().decode(File.self, from: data) } catch {
            throw bad("not an audit anchor (JSON): \(error)")
        }
        guard f.format == format else {
            throw bad("format '\(AuditText.escaped(f.format))', this build reads \(format)")
        }
        guard let entry = bytes(hex: f.entry), entry.count == AuditCheckpoint.encodedBytes,
            let cp = try? AuditCheckpoint.decode(entry)
        else { throw bad("its entry is not an audit checkpoint") }
        guard cp.headIndex == f.head_index, bytes(hex: f.head_hash) == cp.headHash else {
            throw bad("head_index/head_hash do not match its entry")
        }
        guard f.checkpoint_index > cp.headIndex, f.checkpoint_index <= UInt64(Int64.max) else {
            throw bad("checkpoint index \(f.checkpoint_index) is not after its head \(cp.headIndex)")
        }
        guard let sig = Data(base64Encoded: f.signature), sig.count <= 256,
            let signature = try? P256.Signing.ECDSASignature(derRepresentation: sig)
        else { throw bad("its signature is not a DER ECDSA signature") }
        let cert: Certificate
        do { cert = try Certificate(pemEncoded: f.certificate) } catch {
            throw bad("its certificate is not a certificate in PEM")
        }
        guard let key = P256.Signing.PublicKey(cert.publicKey) else { throw bad("its certificate's key is not P-256") }
        let msg = message(
            corridorID: f.corridor, index: f.checkpoint_index, term: f.checkpoint_term, entry: entry,
            exportedAtMs: f.exported_at_ms)
        guard key.isValidSignature(signature, for: msg) else {
            throw bad("the signature does not verify: the file was altered")
        }
        let identity: PeerIdentity
        do { identity = try PeerIdentity(certificate: cert) } catch {
            throw bad("its certificate names no controller: \(error)")
        }
        guard identity.corridor == f.corridor, identity.description == f.signer else {
            throw bad(
                "signed by \(identity), but the file says corridor \(AuditText.escaped(f.corridor)), signer \(AuditText.escaped(f.signer))"
            )
        }
        var checked = false
        if let caPath {
            guard let pem = try? String(contentsOfFile: caPath, encoding: .utf8),
                let ca = try? Certificate(pemEncoded: pem)
            else {
                throw AuditError("--ca \(caPath): not a certificate in PEM")
            }
            guard cert.issuer == ca.subject, ca.publicKey.isValidSignature(cert.signature, for: cert) else {
                throw bad("its certificate (\(identity)) was not issued by the CA in \(caPath)")
            }
            checked = true
        }
        return AuditAnchor(
            path: path, corridorID: f.corridor, signer: identity.description, checkpointIndex: f.checkpoint_index,
            checkpointTerm: f.checkpoint_term, entry: entry, checkpoint: cp, exportedAtMs: f.exported_at_ms,
            certificatePEM: f.certificate, checkedAgainstCA: checked)
    }

    static func bytes(hex: String) -> [UInt8]? {
        let u = Array(hex.utf8)
        guard u.count % 2 == 0, u.count <= 2 * 1024 else { return nil }
        func nib(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let a = nib(u[i]), let b = nib(u[i + 1]) else { return nil }
            out.append(a << 4 | b)
            i += 2
        }
        return out
    }
}

/// Printing recorded strings: whatever a row holds is shown, never obeyed by the terminal.
public enum AuditText {
    /// `s` with every control character (C0, DEL, C1), line and paragraph separator and bidirectional
    /// override written as `\u{…}`, and backslashes doubled, so that a recorded string prints as exactly
    /// one visible line and an escaped sequence cannot be confused with a real backslash.
    public static func escaped(_ s: String) -> String {
        var needs = false
        for u in s.unicodeScalars where isUnsafe(u) || u == "\\" {
            needs = true
            break
        }
        guard needs else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 8)
        for u in s.unicodeScalars {
            if u == "\\" {
                out += "\\\\"
            } else if isUnsafe(u) {
                out += "\\u{\(String(u.value, radix: 16, uppercase: true))}"
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    static func isUnsafe(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        return v < 0x20 || v == 0x7F || (0x80..<0xA0).contains(v) || v == 0x2028 || v == 0x2029
            || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) || v == 0x200E || v == 0x200F
            || v == 0x061C
    }
}
