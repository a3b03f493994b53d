import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import PKI
import RaftCore
import X509
import XCTest

@testable import Transport

/// Mutual TLS on real sockets (127.0.0.1, ephemeral ports): who is refused, and that issued peers talk.
final class TLSTests: XCTestCase {
    static let cluster = "test-corridor"

    /// The corridor CA of these tests, and a second, unrelated CA with the same corridor id.
    static let ca = try! CorridorCA.create(corridorID: cluster)
    static let otherCA = try! CorridorCA.create(corridorID: cluster)

    /// TLS material for `signal` issued by `issuer` (default: the corridor CA); `trust` are the roots it
    /// trusts (default: the corridor CA only).
    func material(
        _ signal: UInt64, issuer: CorridorCA = TLSTests.ca, trust: [CorridorCA] = [TLSTests.ca], now: Date = Date(),
        validityDays: Int = 30
    ) throws -> PeerTLSMaterial {
        let (key, cert) = try issuer.issue(signal: signal, hosts: ["127.0.0.1"], now: now, validityDays: validityDays)
        return PeerTLSMaterial(
            caCertificatePEM: try trust.map { try $0.certificate.serializeAsPEM().pemString }.joined(separator: "\n"),
            certificatePEM: try cert.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation,
            identity: PeerIdentity(corridor: issuer.corridorID, signal: signal))
    }

    func makeTransport(
        _ id: NodeID, tls: PeerTLSMaterial?, peers: [NodeID: PeerAddress] = [:], members: Set<NodeID> = Set(1...5),
        configure: (inout TransportConfiguration) -> Void = { _ in }
    ) async throws -> PeerTransport {
        var config = TransportConfiguration(
            clusterID: Self.cluster, nodeID: id, listenHost: "127.0.0.1", listenPort: 0, peers: peers,
            members: members)
        config.jitterSeed = id
        config.reconnectDelayMinMs = 20
        config.reconnectDelayMaxMs = 200
        config.tls = tls
        configure(&config)
        var logger = Logger(label: "test.tls")
        logger.logLevel = .critical
        let t = PeerTransport(configuration: config, logger: logger)
        try await t.start()
        return t
    }

    func address(_ t: PeerTransport) -> PeerAddress { PeerAddress(host: "127.0.0.1", port: t.localAddress!.port!) }

    func heartbeat(_ from: NodeID, _ to: NodeID, _ seq: UInt64) -> Message {
        Message(kind: .heartbeat, from: from, to: to, term: 1, context: seq)
    }

    /// Sends heartbeats from `sender` to `to` every 20 ms until `condition` holds or `timeout` passes.
    func pump(
        _ sender: PeerTransport, from: NodeID, to: NodeID, timeout: Duration = .seconds(5),
        until condition: () -> Bool
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        var seq: UInt64 = 0
        while ContinuousClock.now < deadline {
            if condition() { return true }
            sender.send([heartbeat(from, to, seq)])
            seq += 1
            try await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    func receive(_ t: PeerTransport, count: Int, timeout: Duration = .seconds(10)) async throws -> [Message] {
        try await withThrowingTaskGroup(of: [Message].self) { group in
            group.addTask {
                var out: [Message] = []
                for await m in t.messages {
                    out.append(m)
                    if out.count == count { break }
                }
                return out
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return []
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
    }

    // MARK: - Accepted

    func testIssuedPeersExchangeMessagesOverMutualTLS() async throws {
        let one = try await makeTransport(1, tls: try material(1))
        let two = try await makeTransport(2, tls: try material(2))
        one.updatePeers([2: address(two)])
        two.updatePeers([1: address(one)])
        one.send((0..<20).map { heartbeat(1, 2, $0) })
        two.send((0..<20).map { heartbeat(2, 1, $0) })
        let atTwo = try await receive(two, count: 20)
        let atOne = try await receive(one, count: 20)
        XCTAssertEqual(atTwo.map(\.context), Array(0..<20))
        XCTAssertEqual(atOne.map(\.context), Array(0..<20))
        for t in [one, two] {
            let m = t.metrics()
            XCTAssertEqual(m.tlsHandshakeFailures, 0)
            XCTAssertEqual(m.certificateRefusals, 0)
            XCTAssertEqual(m.protocolErrors, 0)
        }
        await one.shutdown()
        await two.shutdown()
    }

    // MARK: - Refused

    /// Member 1's certificate is from another CA (same corridor id, same signal). The sender trusts both CAs,
    /// so it is the listener that refuses it.
    func testACertificateFromAnotherCAIsRefused() async throws {
        let receiver = try await makeTransport(2, tls: try material(2))
        let stranger = try await makeTransport(
            1, tls: try material(1, issuer: Self.otherCA, trust: [Self.ca, Self.otherCA]),
            peers: [2: address(receiver)])
        let refused = try await pump(stranger, from: 1, to: 2) {
            receiver.metrics().refusals["tls.handshake", default: 0] >= 2
        }
        XCTAssertTrue(refused, "the listener fails the handshake: \(receiver.metrics())")
        XCTAssertEqual(receiver.metrics().messagesReceived, 0)
        XCTAssertEqual(receiver.metrics().inboundAccepted, 0)
        await stranger.shutdown()
        await receiver.shutdown()
    }

    /// The listener's certificate is from another CA: the connecting member refuses it and sends nothing.
    func testAServerCertificateFromAnotherCAIsRefused() async throws {
        let impostor = try await makeTransport(
            2, tls: try material(2, issuer: Self.otherCA, trust: [Self.ca, Self.otherCA]))
        let member = try await makeTransport(1, tls: try material(1), peers: [2: address(impostor)])
        let refused = try await pump(member, from: 1, to: 2) {
            member.metrics().refusals["tls.handshake", default: 0] >= 2
        }
        XCTAssertTrue(refused, "the member fails the handshake: \(member.metrics())")
        XCTAssertEqual(impostor.metrics().messagesReceived, 0)
        XCTAssertEqual(member.metrics().messagesSent, 0)
        await member.shutdown()
        await impostor.shutdown()
    }

    /// A member whose certificate names signal 2 says hello as node 3 (another member).
    func testAHelloClaimingAnotherMemberThanTheCertificateIsRefused() async throws {
        let receiver = try await makeTransport(1, tls: try material(1), members: [2, 3])
        let liar = try await makeTransport(3, tls: try material(2), peers: [1: address(receiver)])
        let refused = try await pump(liar, from: 3, to: 1) {
            receiver.metrics().refusals["helloNotCertificate", default: 0] >= 2
        }
        XCTAssertTrue(refused, "hello 3 on a certificate of signal 2 is refused: \(receiver.metrics())")
        XCTAssertEqual(receiver.metrics().messagesReceived, 0)
        XCTAssertEqual(receiver.metrics().protocolErrors, 0)
        XCTAssertEqual(receiver.metrics().tlsHandshakeFailures, 0, "the certificate itself is good")
        await liar.shutdown()
        await receiver.shutdown()
    }

    /// A certificate from the corridor CA for signal 9, which is not a member: refused on the certificate,
    /// before its hello (which names 9 too) is even read.
    func testACertificateForANonMemberIsRefused() async throws {
        let receiver = try await makeTransport(1, tls: try material(1), members: [2, 3])
        let outsider = try await makeTransport(9, tls: try material(9), peers: [1: address(receiver)])
        let refused = try await pump(outsider, from: 9, to: 1) {
            receiver.metrics().refusals["certificateNotMember", default: 0] >= 2
        }
        XCTAssertTrue(refused, "a non-member's certificate is refused: \(receiver.metrics())")
        XCTAssertEqual(receiver.metrics().messagesReceived, 0)
        XCTAssertEqual(receiver.metrics().protocolErrors, 0, "refused on the certificate, not on the hello")
        await outsider.shutdown()
        await receiver.shutdown()
    }

    /// The corridor CA's key signed a certificate naming another corridor (a CA shared by mistake).
    func testACertificateNamingAnotherCorridorIsRefused() async throws {
        let receiver = try await makeTransport(2, tls: try material(2))
        let sameKeyOtherCorridor = CorridorCA(
            corridorID: "another-corridor", key: Self.ca.key, certificate: Self.ca.certificate)
        let stranger = try await makeTransport(
            1, tls: try material(1, issuer: sameKeyOtherCorridor), peers: [2: address(receiver)])
        let refused = try await pump(stranger, from: 1, to: 2) {
            receiver.metrics().refusals["certificateOtherCorridor", default: 0] >= 2
        }
        XCTAssertTrue(refused, "\(receiver.metrics())")
        XCTAssertEqual(receiver.metrics().messagesReceived, 0)
        await stranger.shutdown()
        await receiver.shutdown()
    }

    func testAnExpiredCertificateIsRefused() async throws {
        let receiver = try await makeTransport(2, tls: try material(2))
        let old = try material(1, now: Date().addingTimeInterval(-10 * 86_400), validityDays: 2)
        let sender = try await makeTransport(1, tls: old, peers: [2: address(receiver)])
        let refused = try await pump(sender, from: 1, to: 2) {
            receiver.metrics().refusals["tls.handshake", default: 0] >= 2
        }
        XCTAssertTrue(refused, "\(receiver.metrics())")
        XCTAssertEqual(receiver.metrics().messagesReceived, 0)
        await sender.shutdown()
        await receiver.shutdown()
    }

    /// A plaintext peer (an old build, or anyone with netcat) at a TLS listener.
    func testAPlaintextConnectionToATLSListenerIsRefused() async throws {
        let receiver = try await makeTransport(2, tls: try material(2))
        let plain = try await makeTransport(1, tls: nil, peers: [2: address(receiver)])
        let refused = try await pump(plain, from: 1, to: 2) {
            receiver.metrics().refusals["tls.handshake", default: 0] >= 2
        }
        XCTAssertTrue(refused, "\(receiver.metrics())")
        XCTAssertEqual(receiver.metrics().messagesReceived, 0)
        XCTAssertEqual(receiver.metrics().inboundAccepted, 0)
        await plain.shutdown()
        await receiver.shutdown()
    }

    /// Node 1 believes node 2 is at node 3's address: 3's certificate is from the corridor CA and names the
    /// address, but names signal 3, so node 1 closes the connection before its hello.
    func testAnOutboundConnectionRefusesAServerThatIsNotTheIntendedPeer() async throws {
        let three = try await makeTransport(3, tls: try material(3))
        let one = try await makeTransport(1, tls: try material(1), peers: [2: address(three)])
        let refused = try await pump(one, from: 1, to: 2) { one.metrics().refusals["tls.wrongPeer", default: 0] >= 2 }
        XCTAssertTrue(refused, "\(one.metrics())")
        XCTAssertEqual(one.metrics().messagesSent, 0, "not even the hello was sent")
        XCTAssertEqual(three.metrics().messagesReceived, 0)
        XCTAssertEqual(three.metrics().inboundAccepted, 0)
        await one.shutdown()
        await three.shutdown()
    }

    /// A listener that accepts and never answers the handshake: the connecting member gives up after
    /// `tlsHandshakeTimeoutMs` and tries again, instead of waiting on it forever.
    func testAnOutboundHandshakeThatNeverCompletesIsGivenUpAndRetried() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let silent = try await ServerBootstrap(group: group).childChannelOption(.autoRead, value: false).bind(
            host: "127.0.0.1", port: 0
        ).get()
        let member = try await makeTransport(
            1, tls: try material(1), peers: [2: PeerAddress(host: "127.0.0.1", port: silent.localAddress!.port!)]
        ) {
            $0.tlsHandshakeTimeoutMs = 100
        }
        let gaveUp = try await pump(member, from: 1, to: 2) {
            member.metrics().refusals["tls.handshakeTimeout", default: 0] >= 2
        }
        XCTAssertTrue(gaveUp, "\(member.metrics())")
        XCTAssertGreaterThanOrEqual(member.metrics().reconnects, 2)
        XCTAssertEqual(member.metrics().messagesSent, 0)
        await member.shutdown()
        try await silent.close()
        try await group.shutdownGracefully()
    }

    // MARK: - Identity format

    func testIdentityURIsParseInTheirCanonicalFormOnly() {
        XCTAssertEqual(PeerIdentity(uri: "greenwave://demo-5/signal/3"), PeerIdentity(corridor: "demo-5", signal: 3))
        XCTAssertEqual(
            PeerIdentity(corridor: "western-express-highway", signal: 47).uri,
            "greenwave://western-express-highway/signal/47")
        for bad in [
            "greenwave://demo-5/signal/03", "greenwave://demo-5/signal/0", "greenwave://demo-5/signal/",
            "greenwave://demo-5/signal/3/",
            "greenwave://demo-5/signal/+3", "greenwave://demo-5/node/3", "greenwave:///signal/3",
            "https://demo-5/signal/3",
            "greenwave://demo 5/signal/3", "greenwave://demo-5/signal/3?x",
            "greenwave://demo-5/signal/18446744073709551616"
        ] {
            XCTAssertNil(PeerIdentity(uri: bad), bad)
        }
    }

    func testACertificateMustCarryExactlyOneIdentity() throws {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        func cert(_ names: [GeneralName]) throws -> Certificate {
            let dn = try DistinguishedName { CommonName("signal-1") }
            return try Certificate(
                version: .v3, serialNumber: .init(), publicKey: key.publicKey, notValidBefore: Date(),
                notValidAfter: Date().addingTimeInterval(60), issuer: dn, subject: dn,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions { SubjectAlternativeNames(names) }, issuerPrivateKey: key)
        }
        XCTAssertEqual(
            try PeerIdentity(
                certificate: try cert([.dnsName("x"), .uniformResourceIdentifier("greenwave://c/signal/1")])),
            PeerIdentity(corridor: "c", signal: 1))
        XCTAssertThrowsError(try PeerIdentity(certificate: try cert([.dnsName("signal-1")])))
        XCTAssertThrowsError(
            try PeerIdentity(
                certificate: try cert([
                    .uniformResourceIdentifier("greenwave://c/signal/1"),
                    .uniformResourceIdentifier("greenwave://c/signal/2")
                ])))
        XCTAssertThrowsError(
            try PeerIdentity(certificate: try cert([.uniformResourceIdentifier("greenwave://c/signal/x")])))
    }
}
