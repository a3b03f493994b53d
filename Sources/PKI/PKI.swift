// PKI: the corridor's certificate authority and the controllers' certificates (mutual TLS on the peer port).
//
// - A corridor has its own CA: a P-256 ECDSA key and a self-signed certificate (CN "Greenwave corridor CA",
//   O = the corridor id). It is the only trust root of the peer port: no system roots.
// - Each controller has a P-256 key and a certificate issued by that CA whose identity is the SAN URI
//   `greenwave://CORRIDOR/signal/N` (`PeerIdentity`). Subject CN `signal-N` and O = corridor id are for people;
//   the transport decides on the URI alone. SAN IP or DNS entries name the controller's peer host from the
//   corridor file, so ordinary TLS hostname checks pass too.
// - Files in a PKI folder (`PKIDirectory`): ca.pem, ca.key, signal-N.pem, signal-N.key. Keys are written 0600
//   and never overwritten without `force`.
import Crypto
import Foundation
import SwiftASN1
import X509

/// Who a certificate speaks for: one signal's controller of one corridor.
public struct PeerIdentity: Hashable, Sendable, CustomStringConvertible {
    public static let scheme = "greenwave"

    public var corridor: String
    public var signal: UInt64

    public init(corridor: String, signal: UInt64) {
        self.corridor = corridor
        self.signal = signal
    }

    /// `greenwave://CORRIDOR/signal/N`: the subject alternative name URI that carries the identity.
    public var uri: String { "\(Self.scheme)://\(corridor)/signal/\(signal)" }
    public var description: String { uri }

    /// Parses the canonical URI form only (no leading zeros, no extra path, query or fragment).
    public init?(uri: String) {
        let prefix = "\(Self.scheme)://"
        guard uri.hasPrefix(prefix) else { return nil }
        let rest = uri.dropFirst(prefix.count)
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1] == "signal", PeerIdentity.isValidCorridorID(String(parts[0])) else {
            return nil
        }
        let digits = parts[2]
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            digits.first != "0" || digits.count == 1,
            let n = UInt64(digits), n != 0
        else { return nil }
        self.init(corridor: String(parts[0]), signal: n)
    }

    /// Corridor ids that fit a URI authority as they are: 1 ... 255 of `A-Z a-z 0-9 . _ -`.
    public static func isValidCorridorID(_ id: String) -> Bool {
        guard (1...255).contains(id.utf8.count) else { return false }
        return id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F
                || c == 0x2D
        }
    }

    /// The identity a certificate carries: exactly one `greenwave://` URI among its subject alternative names.
    public init(certificate: Certificate) throws(PKIError) {
        let names: SubjectAlternativeNames?
        do { names = try certificate.extensions.subjectAlternativeNames } catch {
            throw PKIError.identity("the certificate's subject alternative names do not parse: \(error)")
        }
        var uris: [String] = []
        for name in names ?? SubjectAlternativeNames() {
            if case .uniformResourceIdentifier(let u) = name, u.hasPrefix("\(Self.scheme):") { uris.append(u) }
        }
        guard uris.count == 1 else {
            throw PKIError.identity(
                uris.isEmpty
                    ? "the certificate names no \(Self.scheme):// identity (subject \(certificate.subject))"
                    : "the certificate names \(uris.count) \(Self.scheme):// identities (\(uris.joined(separator: ", "))); exactly one is allowed"
            )
        }
        guard let identity = PeerIdentity(uri: uris[0]) else {
            throw PKIError.identity(
                "the certificate's identity \"\(uris[0])\" is not of the form \(Self.scheme)://CORRIDOR/signal/N")
        }
        self = identity
    }
}

public enum PKIError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A certificate carries no usable identity.
    case identity(String)
    /// A file is missing, unreadable, would be overwritten, or its content is wrong.
    case file(String)
    /// The material does not fit together (key and certificate, certificate and CA, corridor, signal, dates).
    case mismatch(String)

    public var description: String {
        switch self {
        case .identity(let s), .file(let s), .mismatch(let s): return s
        }
    }
}

/// How long what we issue is valid. A corridor's CA outlives its controllers' certificates; re-issuing a
/// controller's certificate (`pki issue --force`) and restarting that controller is the rotation.
public enum Validity {
    public static let caDays = 3650
    public static let peerDays = 825
    /// Certificates are valid from a little before they were made, for clocks slightly behind the issuer's.
    public static let backdate: TimeInterval = 3600
}

/// A corridor's certificate authority: its key and self-signed certificate.
public struct CorridorCA: Sendable {
    public let corridorID: String
    public let key: P256.Signing.PrivateKey
    public let certificate: Certificate

    /// A new CA for `corridorID`, valid `Validity.caDays` from `now`.
    public static func create(corridorID: String, now: Date = Date()) throws -> CorridorCA {
        guard PeerIdentity.isValidCorridorID(corridorID) else {
            throw PKIError.mismatch(
                "corridor id \"\(corridorID)\" cannot name a certificate identity: use 1...255 of A-Z a-z 0-9 . _ -")
        }
        let key = P256.Signing.PrivateKey()
        let ckey = Certificate.PrivateKey(key)
        let name = try DistinguishedName {
            OrganizationName(corridorID)
            CommonName("Greenwave corridor CA")
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: ckey.publicKey)
        }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: ckey.publicKey,
            notValidBefore: now.addingTimeInterval(-Validity.backdate),
            notValidAfter: now.addingTimeInterval(TimeInterval(Validity.caDays) * 86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: ckey)
        return CorridorCA(corridorID: corridorID, key: key, certificate: cert)
    }

    public init(corridorID: String, key: P256.Signing.PrivateKey, certificate: Certificate) {
        self.corridorID = corridorID
        self.key = key
        self.certificate = certificate
    }

    /// A key and certificate for signal `signal`'s controller. `hosts`: its peer host names or IP addresses
    /// (subject alternative names besides the identity URI).
    public func issue(
        signal: UInt64, hosts: [String], now: Date = Date(), validityDays: Int = Validity.peerDays
    ) throws
        -> (key: P256.Signing.PrivateKey, certificate: Certificate)
    {
        guard signal != 0 else { throw PKIError.mismatch("signal 0 is not a signal") }
        let identity = PeerIdentity(corridor: corridorID, signal: signal)
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PrivateKey(key).publicKey
        let subject = try DistinguishedName {
            OrganizationName(corridorID)
            CommonName("signal-\(signal)")
        }
        var names: [GeneralName] = [.uniformResourceIdentifier(identity.uri)]
        for host in Set(hosts).sorted() {
            if let bytes = ipAddressBytes(host) {
                names.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
            } else {
                names.append(.dnsName(host))
            }
        }
        let caPublic = Certificate.PrivateKey(self.key).publicKey
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth, .clientAuth])
            SubjectAlternativeNames(names)
            SubjectKeyIdentifier(hash: publicKey)
            AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: caPublic).keyIdentifier)
        }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-Validity.backdate),
            notValidAfter: min(now.addingTimeInterval(TimeInterval(validityDays) * 86_400), certificate.notValidAfter),
            issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: Certificate.PrivateKey(self.key))
        return (key, cert)
    }

    /// Whether `cert` was signed by this CA's key and names it as issuer.
    public func issued(_ cert: Certificate) -> Bool {
        cert.issuer == certificate.subject && certificate.publicKey.isValidSignature(cert.signature, for: cert)
    }
}

/// The bytes of an IPv4 (4) or IPv6 (16) address in text form, nil for a host name.
public func ipAddressBytes(_ host: String) -> [UInt8]? {
    var v4 = in_addr()
    if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
    return nil
}

/// A PKI folder: `ca.pem`, `ca.key`, and `signal-N.pem` / `signal-N.key` per controller.
public struct PKIDirectory: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public var caCertificatePath: String { file("ca.pem") }
    public var caKeyPath: String { file("ca.key") }
    public func certificatePath(signal: UInt64) -> String { file("signal-\(signal).pem") }
    public func keyPath(signal: UInt64) -> String { file("signal-\(signal).key") }

    private func file(_ name: String) -> String { URL(fileURLWithPath: path).appendingPathComponent(name).path }

    public var hasCA: Bool { FileManager.default.fileExists(atPath: caCertificatePath) }

    /// Creates the folder (0700) and a new CA in it. Refuses to replace an existing CA unless `force`
    /// (a new CA invalidates every certificate the old one issued).
    @discardableResult
    public func initialize(corridorID: String, force: Bool = false, now: Date = Date()) throws -> CorridorCA {
        if !force {
            for p in [caCertificatePath, caKeyPath] where FileManager.default.fileExists(atPath: p) {
                throw PKIError.file(
                    "\(p) exists; a new CA would invalidate every certificate issued by it (use --force to replace it)")
            }
        }
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let ca = try CorridorCA.create(corridorID: corridorID, now: now)
        try writeSecret(ca.key.pemRepresentation, to: caKeyPath)
        try writePublic(try ca.certificate.serializeAsPEM().pemString, to: caCertificatePath)
        return ca
    }

    /// The CA from `ca.pem` and `ca.key`; it must be the CA of `corridorID`.
    public func loadCA(corridorID: String) throws -> CorridorCA {
        let cert = try loadCertificate(caCertificatePath)
        let keyPEM = try readSecret(caKeyPath)
        let key: P256.Signing.PrivateKey
        do { key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM) } catch {
            throw PKIError.file("\(caKeyPath): not a P-256 private key in PEM (\(error))")
        }
        guard Certificate.PrivateKey(key).publicKey == cert.publicKey else {
            throw PKIError.mismatch("\(caKeyPath) is not the key of \(caCertificatePath)")
        }
        let org = cert.subject.flatMap { $0 }.first { $0.type == .RDNAttributeType.organizationName }.flatMap {
            String($0.value)
        }
        guard org == corridorID else {
            throw PKIError.mismatch(
                "\(caCertificatePath) is the CA of corridor \"\(org ?? "?")\", not of \"\(corridorID)\"")
        }
        return CorridorCA(corridorID: corridorID, key: key, certificate: cert)
    }

    /// Issues signal `signal`'s key and certificate with the CA in this folder. Refuses to replace existing
    /// files unless `force`.
    public func issue(
        corridorID: String, signal: UInt64, hosts: [String], force: Bool = false, now: Date = Date()
    ) throws {
        if !force {
            for p in [certificatePath(signal: signal), keyPath(signal: signal)]
            where FileManager.default.fileExists(atPath: p) {
                throw PKIError.file("\(p) exists (use --force to replace it)")
            }
        }
        let ca = try loadCA(corridorID: corridorID)
        let (key, cert) = try ca.issue(signal: signal, hosts: hosts, now: now)
        try writeSecret(key.pemRepresentation, to: keyPath(signal: signal))
        try writePublic(try cert.serializeAsPEM().pemString, to: certificatePath(signal: signal))
    }

    /// The files one controller needs, checked against each other: see `PeerTLSMaterial.load`.
    public func material(corridorID: String, signal: UInt64, now: Date = Date()) throws -> PeerTLSMaterial {
        try PeerTLSMaterial.load(
            caPath: caCertificatePath, certificatePath: certificatePath(signal: signal),
            keyPath: keyPath(signal: signal), corridorID: corridorID, signal: signal, now: now)
    }
}

/// What one controller presents and trusts on the peer port, as PEM text, checked to fit together.
public struct PeerTLSMaterial: Sendable {
    /// The corridor CA's certificate: the only trust root.
    public var caCertificatePEM: String
    public var certificatePEM: String
    public var privateKeyPEM: String
    public var identity: PeerIdentity

    public init(caCertificatePEM: String, certificatePEM: String, privateKeyPEM: String, identity: PeerIdentity) {
        self.caCertificatePEM = caCertificatePEM
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        self.identity = identity
    }

    /// Reads and checks: the key is private to its owner (no group or other permission bits), is the
    /// certificate's key; the certificate was issued by the CA, is valid now and names `corridorID` and `signal`.
    public static func load(
        caPath: String, certificatePath: String, keyPath: String, corridorID: String, signal: UInt64,
        now: Date = Date()
    ) throws -> PeerTLSMaterial {
        let caPEM = try readPublic(caPath)
        let certPEM = try readPublic(certificatePath)
        let keyPEM = try readSecret(keyPath)
        let ca: Certificate
        let cert: Certificate
        do { ca = try Certificate(pemEncoded: caPEM) } catch {
            throw PKIError.file("\(caPath): not a certificate in PEM (\(error))")
        }
        do { cert = try Certificate(pemEncoded: certPEM) } catch {
            throw PKIError.file("\(certificatePath): not a certificate in PEM (\(error))")
        }
        let key: P256.Signing.PrivateKey
        do { key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM) } catch {
            throw PKIError.file("\(keyPath): not a P-256 private key in PEM (\(error))")
        }
        guard Certificate.PrivateKey(key).publicKey == cert.publicKey else {
            throw PKIError.mismatch("\(keyPath) is not the key of \(certificatePath)")
        }
        guard cert.issuer == ca.subject, ca.publicKey.isValidSignature(cert.signature, for: cert) else {
            throw PKIError.mismatch("\(certificatePath) was not issued by the CA in \(caPath)")
        }
        for (c, p) in [(ca, caPath), (cert, certificatePath)] where !(c.notValidBefore...c.notValidAfter).contains(now)
        {
            throw PKIError.mismatch("\(p) is valid from \(c.notValidBefore) to \(c.notValidAfter), not now (\(now))")
        }
        let identity = try PeerIdentity(certificate: cert)
        guard identity == PeerIdentity(corridor: corridorID, signal: signal) else {
            throw PKIError.mismatch(
                "\(certificatePath) names \(identity), not \(PeerIdentity(corridor: corridorID, signal: signal))")
        }
        return PeerTLSMaterial(
            caCertificatePEM: caPEM, certificatePEM: certPEM, privateKeyPEM: keyPEM, identity: identity)
    }
}

// MARK: Files

private func loadCertificate(_ path: String) throws -> Certificate {
    let pem = try readPublic(path)
    do { return try Certificate(pemEncoded: pem) } catch {
        throw PKIError.file("\(path): not a certificate in PEM (\(error))")
    }
}

private func readPublic(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path), let s = String(data: data, encoding: .utf8) else {
        throw PKIError.file(
            "\(path): cannot read it (missing? `greenwave pki init` and `greenwave pki issue` create the files)")
    }
    return s
}

/// A key file: refused if anyone but its owner may read or write it.
private func readSecret(_ path: String) throws -> String {
    var st = stat()
    guard stat(path, &st) == 0 else {
        throw PKIError.file("\(path): cannot read it (missing? `greenwave pki issue` creates the key files)")
    }
    guard st.st_mode & 0o077 == 0 else {
        throw PKIError.file(
            "\(path) is accessible to others (mode \(String(st.st_mode & 0o777, radix: 8))); run chmod 600 \(path)")
    }
    return try readPublic(path)
}

/// Writes `text` to a new file with mode 0600 (an existing file is replaced: the caller checked `force`).
private func writeSecret(_ text: String, to path: String) throws { try write(text, to: path, mode: 0o600) }
private func writePublic(_ text: String, to path: String) throws { try write(text, to: path, mode: 0o644) }

private func write(_ text: String, to path: String, mode: mode_t) throws {
    // A new file created exclusively with its final mode, then renamed over the old one: the secret is
    // never readable by others, not even for a moment, and a crash leaves the old file or the new one.
    let tmp = path + ".tmp-\(getpid())"
    unlink(tmp)
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode)
    guard fd >= 0 else { throw PKIError.file("\(tmp): cannot create it (\(String(cString: strerror(errno))))") }
    _ = fchmod(fd, mode) // the umask may have taken bits away from a public file
    let bytes = Array(text.utf8)
    let ok = bytes.withUnsafeBytes { buf -> Bool in
        var off = 0
        while off < buf.count {
            let n = Foundation.write(fd, buf.baseAddress! + off, buf.count - off)
            if n <= 0 { return false }
            off += n
        }
        return fsync(fd) == 0
    }
    close(fd)
    guard ok, rename(tmp, path) == 0 else {
        unlink(tmp)
        throw PKIError.file("\(path): cannot write it (\(String(cString: strerror(errno))))")
    }
}
