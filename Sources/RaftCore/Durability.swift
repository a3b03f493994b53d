/// Which messages of a `Ready` promise durable state, and so must wait until that `Ready`'s (and every
/// earlier one's) hard state and entries are durable; the others may be sent at once, while the write is
/// in flight (docs/raft-core.md, "The ordering contract"; thesis §10.2.1).
///
/// - an `appendResponse` acknowledges entries (the leader counts it towards a commit);
/// - a `vote` and a `voteResponse` depend on the term and vote being stored (never two votes in a term);
/// - a `snapshotResponse` acknowledges a stored snapshot.
///
/// Everything else promises nothing durable: a leader's appends and heartbeats (the leader writes its own
/// log in parallel and counts itself toward a quorum only once the shell reports `persisted(upTo:term:)`),
/// heartbeat answers (they say the follower accepts the leader's term, all that check-quorum and ReadIndex
/// rounds use), PreVote rounds (they change no state), read-index traffic and leadership transfer.
/// A leader elected alone (a single voter) sends nothing at all until its term is durable
/// (`RaftNode.termDurable`): its disk could lose the term, and it could then lead the term again.
extension MessageKind {
    public var waitsForDurability: Bool {
        switch self {
        case .appendResponse, .vote, .voteResponse, .snapshotResponse: return true
        case .append, .heartbeat, .heartbeatResponse, .preVote, .preVoteResponse, .readIndex,
            .readIndexResponse, .snapshot, .timeoutNow:
            return false
        }
    }
}

extension Ready {
    /// `messages` in order, parted into those that may go before this `Ready`'s write is durable and those
    /// that must wait for it. A `Ready` that installs a snapshot sends nothing before it is stored.
    public var messagesByDurability: (now: [Message], held: [Message]) {
        guard snapshot == nil else { return ([], messages) }
        var now: [Message] = []
        var held: [Message] = []
        for m in messages {
            if m.kind.waitsForDurability { held.append(m) } else { now.append(m) }
        }
        return (now, held)
    }
}
