import RaftCore

/// What an inbound connection accepts: one `hello` from a member of this corridor, then messages from that
/// node to this node. Pure: the handler performs the actions it returns.
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
        /// The connection failed, timed out, or sent a bad frame (see the reason).
        case failed
    }

    enum Action: Equatable {
        /// The hello was accepted; log the peer.
        case accepted(peer: NodeID)
        case deliver(Message)
        /// Close the connection; the reason names what was wrong.
        case close(code: CloseCode, reason: String)
        /// Nothing to do (input after close).
        case none
    }

    let clusterID: String
    let localID: NodeID
    /// The node ids allowed to connect (the corridor's other controllers).
    let members: Set<NodeID>
    private(set) var state = State.awaitingHello

    init(clusterID: String, localID: NodeID, members: Set<NodeID>) {
        self.clusterID = clusterID
        self.localID = localID
        self.members = members
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
            guard hello.clusterID == clusterID else {
                return close(.otherCorridor, "hello from corridor \"\(hello.clusterID)\", this is \"\(clusterID)\"")
            }
            guard hello.nodeID != localID else { return close(.ownID, "hello from this node's own id \(localID)") }
            guard members.contains(hello.nodeID) else {
                return close(.notMember, "hello from node \(hello.nodeID), which is not one of the \(members.count) members of corridor \"\(clusterID)\"")
            }
            state = .open(peer: hello.nodeID)
            return .accepted(peer: hello.nodeID)
        case (.awaitingHello, .message):
            return close(.messageBeforeHello, "message before hello")
        case (.open, .hello):
            return close(.secondHello, "second hello on one connection")
        case (.open(let peer), .message(let m)):
            guard m.from == peer else { return close(.wrongSender, "message from \(m.from) on the connection of node \(peer)") }
            guard m.to == localID else { return close(.wrongReceiver, "message to \(m.to) delivered to node \(localID)") }
            return .deliver(m)
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
