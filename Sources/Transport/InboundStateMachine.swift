import PKI
import RaftCore

/// What an inbound connection accepts: one `hello` from a member of this corridor, then messages from that
/// node to this node. With mutual TLS (`requireCertificate`), first a completed handshake whose certificate
/// names this corridor and a member, and then only a hello from exactly that member.
/// Pure: the handler performs the actions it returns.
struct InboundStateMachine {
    enum State: Equatable {
        case awaitingHello
        case open(peer: NodeID)
        case closed
    }

    /// Why a connection was closed, as a stable key (log rate limiting, tests); the sentence that goes
    /// with it names the values.
    enum CloseCode: String, Sendable, Hashable {
        case otherCorridor, ownID, notMember, messageBeforeHello, secondHello, wrongSender, wrongReceiver
        /// Mutual TLS: the certificate carries no usable identity, names another corridor, this node, or a
        /// non-member; a hello arrived before the handshake completed; the hello names another node than the
        /// certificate.
        case certificateNoIdentity, certificateOtherCorridor, certificateOwnID, certificateNotMember,
            helloBeforeHandshake,
            helloNotCertificate
        /// The connection failed, timed out, or sent a bad frame (see the reason).
        case failed
    }

    enum Action: Equatable {
        /// The hello was accepted; log the peer.
        case accepted(peer: NodeID)
        case deliver(Message)
        /// A time exchange (request or answer) from the connection's peer to this node.
        case deliverTime(TimeExchange)
        /// Close the connection; the reason names what was wrong.
        case close(code: CloseCode, reason: String)
        /// Nothing to do (input after close).
        case none
    }

    let clusterID: String
    let localID: NodeID
    /// The node ids allowed to connect (the corridor's other controllers).
    let members: Set<NodeID>
    /// Mutual TLS: a hello is accepted only after `handshakeCompleted` with a certificate of a member, and
    /// only from that member.
    let requireCertificate: Bool
    /// The node the peer's certificate names, once the handshake completed and the identity was accepted.
    private(set) var certified: NodeID?
    private(set) var state = State.awaitingHello

    init(clusterID: String, localID: NodeID, members: Set<NodeID>, requireCertificate: Bool = false) {
        self.clusterID = clusterID
        self.localID = localID
        self.members = members
        self.requireCertificate = requireCertificate
    }

    /// The TLS handshake completed (the certificate chains to the corridor CA: the TLS layer checked that);
    /// `identity` is what the peer's certificate names, or why it names nothing usable.
    mutating func handshakeCompleted(_ identity: Result<PeerIdentity, PKIError>) -> Action {
        guard state == .awaitingHello, certified == nil else {
            return state == .closed ? .none : close(.failed, "second TLS handshake")
        }
        let id: PeerIdentity
        switch identity {
        case .failure(let error): return close(.certificateNoIdentity, "peer certificate: \(error)")
        case .success(let i): id = i
        }
        guard id.corridor == clusterID else {
            return close(
                .certificateOtherCorridor,
                "peer certificate names corridor \"\(id.corridor)\" (\(id)), this is \"\(clusterID)\"")
        }
        let node = NodeID(id.signal)
        guard node != localID else {
            return close(.certificateOwnID, "peer certificate names this node's own id (\(id))")
        }
        guard members.contains(node) else {
            return close(
                .certificateNotMember,
                "peer certificate names signal \(id.signal) (\(id)), which is not one of the \(members.count) members of corridor \"\(clusterID)\""
            )
        }
        certified = node
        return .none
    }

    var peer: NodeID? {
        if case .open(let peer) = state { return peer }
        return nil
    }

    mutating func received(_ frame: Frame) -> Action {
        switch (state, frame) {
        case (.closed, _):
            return .none
        case (.awaitingHello, .hello(let hello)):
            if requireCertificate {
                guard let certified else {
                    return close(.helloBeforeHandshake, "hello before the TLS handshake completed")
                }
                guard hello.nodeID == certified else {
                    return close(
                        .helloNotCertificate,
                        "hello claims node \(hello.nodeID), the peer's certificate names signal \(certified)")
                }
            }
            guard hello.clusterID == clusterID else {
                return close(.otherCorridor, "hello from corridor \"\(hello.clusterID)\", this is \"\(clusterID)\"")
            }
            guard hello.nodeID != localID else { return close(.ownID, "hello from this node's own id \(localID)") }
            guard members.contains(hello.nodeID) else {
                return close(
                    .notMember,
                    "hello from node \(hello.nodeID), which is not one of the \(members.count) members of corridor \"\(clusterID)\""
                )
            }
            state = .open(peer: hello.nodeID)
            return .accepted(peer: hello.nodeID)
        case (.awaitingHello, .message), (.awaitingHello, .time):
            return close(.messageBeforeHello, "message before hello")
        case (.open, .hello):
            return close(.secondHello, "second hello on one connection")
        case (.open(let peer), .message(let m)):
            guard m.from == peer else {
                return close(.wrongSender, "message from \(m.from) on the connection of node \(peer)")
            }
            guard m.to == localID else {
                return close(.wrongReceiver, "message to \(m.to) delivered to node \(localID)")
            }
            return .deliver(m)
        case (.open(let peer), .time(let t)):
            guard t.from == peer else {
                return close(.wrongSender, "time frame from \(t.from) on the connection of node \(peer)")
            }
            guard t.to == localID else {
                return close(.wrongReceiver, "time frame to \(t.to) delivered to node \(localID)")
            }
            return .deliverTime(t)
        }
    }

    /// The connection failed or timed out.
    mutating func fail(_ reason: String) -> Action {
        guard state != .closed else { return .none }
        return close(.failed, reason)
    }

    private mutating func close(_ code: CloseCode, _ reason: String) -> Action {
        state = .closed
        return .close(code: code, reason: reason)
    }
}
