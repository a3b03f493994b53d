import RaftCore

/// What an inbound connection accepts: one `hello` from a member of this corridor, then messages from that
/// node to this node. Pure: the handler performs the actions it returns.
struct InboundStateMachine {
    enum State: Equatable {
        case awaitingHello
        case open(peer: NodeID)
        case closed
    }

    enum Action: Equatable {
        /// The hello was accepted; log the peer.
        case accepted(peer: NodeID)
        case deliver(Message)
        /// Close the connection; the reason names what was wrong.
        case close(reason: String)
        /// Nothing to do (input after close).
        case none
    }

    let clusterID: String
    let localID: NodeID
    private(set) var state = State.awaitingHello

    init(clusterID: String, localID: NodeID) {
        self.clusterID = clusterID
        self.localID = localID
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
                return close("hello from corridor \"\(hello.clusterID)\", this is \"\(clusterID)\"")
            }
            guard hello.nodeID != localID else { return close("hello from this node's own id \(localID)") }
            state = .open(peer: hello.nodeID)
            return .accepted(peer: hello.nodeID)
        case (.awaitingHello, .message):
            return close("message before hello")
        case (.open, .hello):
            return close("second hello on one connection")
        case (.open(let peer), .message(let m)):
            guard m.from == peer else { return close("message from \(m.from) on the connection of node \(peer)") }
            guard m.to == localID else { return close("message to \(m.to) delivered to node \(localID)") }
            return .deliver(m)
        }
    }

    /// The connection failed or timed out.
    mutating func fail(_ reason: String) -> Action {
        guard state != .closed else { return .none }
        return close(reason)
    }

    private mutating func close(_ reason: String) -> Action {
        state = .closed
        return .close(reason: reason)
    }
}
