import Foundation
import PKI
import X509
import XCTest

/// The PKI folder: what `greenwave pki init|issue` write, and what a controller refuses to load.
final class PKIDirectoryTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gw-pki-\(UUID().uuidString.prefix(8))")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
    }

    func testInitAndIssueWriteKeysPrivateAndTheMaterialLoads() throws {
        let pki = PKIDirectory(path: dir.path)
        try pki.initialize(corridorID: "demo-5")
        try pki.issue(corridorID: "demo-5", signal: 3, hosts: ["127.0.0.1", "signal3.example"])
        XCTAssertEqual(try mode(pki.caKeyPath), 0o600)
        XCTAssertEqual(try mode(pki.keyPath(signal: 3)), 0o600)
        XCTAssertEqual(try mode(pki.caCertificatePath), 0o644)
        XCTAssertEqual(try mode(dir.path), 0o700)

        let m = try pki.material(corridorID: "demo-5", signal: 3)
        XCTAssertEqual(m.identity, PeerIdentity(corridor: "demo-5", signal: 3))
        let cert = try Certificate(pemEncoded: m.certificatePEM)
        XCTAssertEqual(cert.subject.description, "CN=signal-3,O=demo-5")
        let names = try XCTUnwrap(try cert.extensions.subjectAlternativeNames)
        XCTAssertTrue(names.contains(.uniformResourceIdentifier("greenwave://demo-5/signal/3")))
        XCTAssertTrue(names.contains(.dnsName("signal3.example")))
        XCTAssertTrue(
            names.contains {
                if case .ipAddress(let ip) = $0 { return Array(ip.bytes) == [127, 0, 0, 1] } else { return false }
            })
        let ca = try Certificate(pemEncoded: m.caCertificatePEM)
        XCTAssertEqual(try ca.extensions.basicConstraints, .isCertificateAuthority(maxPathLength: 0))
    }

    func testNothingIsOverwrittenWithoutForce() throws {
        let pki = PKIDirectory(path: dir.path)
        try pki.initialize(corridorID: "demo-5")
        try pki.issue(corridorID: "demo-5", signal: 1, hosts: ["127.0.0.1"])
        let caBefore = try String(contentsOfFile: pki.caCertificatePath, encoding: .utf8)
        let keyBefore = try String(contentsOfFile: pki.keyPath(signal: 1), encoding: .utf8)
        XCTAssertThrowsError(try pki.initialize(corridorID: "demo-5")) {
            XCTAssertTrue("\($0)".contains("--force"), "\($0)")
        }
        XCTAssertThrowsError(try pki.issue(corridorID: "demo-5", signal: 1, hosts: ["127.0.0.1"])) {
            XCTAssertTrue("\($0)".contains("--force"))
        }
        XCTAssertEqual(try String(contentsOfFile: pki.caCertificatePath, encoding: .utf8), caBefore)
        XCTAssertEqual(try String(contentsOfFile: pki.keyPath(signal: 1), encoding: .utf8), keyBefore)
        try pki.issue(corridorID: "demo-5", signal: 1, hosts: ["127.0.0.1"], force: true)
        XCTAssertNotEqual(try String(contentsOfFile: pki.keyPath(signal: 1), encoding: .utf8), keyBefore)
        XCTAssertEqual(try mode(pki.keyPath(signal: 1)), 0o600)
    }

    func testAControllerRefusesMaterialThatDoesNotFit() throws {
        let pki = PKIDirectory(path: dir.path)
        try pki.initialize(corridorID: "demo-5")
        for s: UInt64 in [1, 2] { try pki.issue(corridorID: "demo-5", signal: s, hosts: ["127.0.0.1"]) }
        // Another signal's certificate, another corridor, a CA of another corridor.
        XCTAssertThrowsError(
            try PeerTLSMaterial.load(
                caPath: pki.caCertificatePath, certificatePath: pki.certificatePath(signal: 2),
                keyPath: pki.keyPath(signal: 2), corridorID: "demo-5", signal: 1))
        XCTAssertThrowsError(try pki.material(corridorID: "other", signal: 1))
        XCTAssertThrowsError(try pki.issue(corridorID: "other", signal: 3, hosts: [])) {
            XCTAssertTrue("\($0)".contains("corridor"), "\($0)")
        }
        // A key that is not the certificate's.
        XCTAssertThrowsError(
            try PeerTLSMaterial.load(
                caPath: pki.caCertificatePath, certificatePath: pki.certificatePath(signal: 1),
                keyPath: pki.keyPath(signal: 2), corridorID: "demo-5", signal: 1)
        ) {
            XCTAssertTrue("\($0)".contains("is not the key"), "\($0)")
        }
        // A certificate from another CA.
        let other = PKIDirectory(path: dir.appendingPathComponent("other").path)
        try other.initialize(corridorID: "demo-5")
        XCTAssertThrowsError(
            try PeerTLSMaterial.load(
                caPath: other.caCertificatePath, certificatePath: pki.certificatePath(signal: 1),
                keyPath: pki.keyPath(signal: 1), corridorID: "demo-5", signal: 1)
        ) {
            XCTAssertTrue("\($0)".contains("not issued by"), "\($0)")
        }
        // A key file others may read.
        chmod(pki.keyPath(signal: 1), 0o640)
        XCTAssertThrowsError(try pki.material(corridorID: "demo-5", signal: 1)) {
            XCTAssertTrue("\($0)".contains("chmod 600"), "\($0)")
        }
        chmod(pki.keyPath(signal: 1), 0o600)
        XCTAssertNoThrow(try pki.material(corridorID: "demo-5", signal: 1))
    }

    func testCorridorIDsThatCannotNameAnIdentityAreRefused() {
        XCTAssertThrowsError(try CorridorCA.create(corridorID: "two words"))
        XCTAssertThrowsError(try CorridorCA.create(corridorID: "a/b"))
        XCTAssertNoThrow(try CorridorCA.create(corridorID: "western-express-highway"))
    }
}
