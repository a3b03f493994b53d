import CorridorMachine
import Foundation
import Yams

/// The `security:` section: the first engineer, more operators in the registry from the start, and the
/// corridor CA that the HTTP API's TLS certificates come from (docs/security.md).
struct SecuritySection {
    var firstEngineer: FirstEngineer?
    var operators: [OperatorRecord] = []
    /// An absolute path (the file gives it relative to itself or absolute).
    var apiCertificateAuthority: String?
}

extension Reader {
    func security(_ secAt: Located) throws -> SecuritySection {
        var out = SecuritySection()
        var sec = try obj(secAt)
        if let feAt = optional(&sec, "first_engineer") {
            out.firstEngineer = try firstEngineer(feAt)
        }
        if let listAt = optional(&sec, "operators") {
            for item in try list(listAt) {
                out.operators.append(try operatorRecord(item, after: out))
            }
        }
        if let tlsAt = optional(&sec, "api_tls") {
            out.apiCertificateAuthority = try apiTLS(tlsAt)
        }
        try done(sec)
        return out
    }

    /// `first_engineer`: a valid operator name and the base64 of a 32-byte Ed25519 public key.
    func firstEngineer(_ feAt: Located) throws -> FirstEngineer {
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
        return FirstEngineer(name: engineer, publicKey: Array(key))
    }

    /// One entry of `operators`: name, public key and role; a key already in `section` is refused.
    func operatorRecord(_ item: Located, after section: SecuritySection) throws -> OperatorRecord {
        var o = try obj(item)
        let nameAt = try required(&o, "name")
        let name = try string(nameAt)
        if let p = OperatorRecord.nameProblem(name) { throw fail(nameAt, .invalidValue, p) }
        let keyAt = try required(&o, "public_key")
        guard let key = Data(base64Encoded: try string(keyAt)), OperatorKeys.isValidPublicKey(Array(key)) else {
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
            section.operators.map(\.keyID) + (section.firstEngineer.map { [OperatorKeys.keyID($0.publicKey)] } ?? [])
        if known.contains(record.keyID) {
            throw fail(keyAt, .duplicateID, "this public key is listed twice")
        }
        return record
    }

    /// `api_tls`: the corridor CA certificate's path, made absolute against this file's folder.
    func apiTLS(_ tlsAt: Located) throws -> String {
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
        return ca.hasPrefix("/") ? ca : base.appendingPathComponent(ca).standardizedFileURL.path
    }
}
