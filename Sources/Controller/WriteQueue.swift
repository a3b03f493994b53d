import Foundation
import RaftCore
import Storage

/// The bookkeeping of `RaftDriver`'s durable writes, which run on a queue of their own so that the
/// driver goes on answering heartbeats while SQLite waits for the disk (issue 16: on a busy machine one
/// fsync took up to 0.5 s, and a driver blocked in it answered no heartbeat and heard no vote).
///
/// The core's contract (docs/raft-core.md) is that a `Ready`'s messages are sent once its entries and
/// hard state are durable. Only some messages depend on that; they are *held* until every Raft write
/// handed out before them is durable (writes finish in order):
/// - an `appendResponse` acknowledges entries (the leader counts it towards a commit);
/// - a `vote` and a `voteResponse` depend on the term and vote being stored (never two votes in a term);
/// - a `snapshotResponse` acknowledges a stored snapshot.
/// The others promise nothing durable and go at once: heartbeats and appends from the leader (a leader
/// may write its own log in parallel with sending it, thesis §10.2.1; it counts itself only once its
/// entries are reported persisted), heartbeat answers (they say the follower accepts the leader's term,
/// which is all the leader's check-quorum and ReadIndex rounds use), PreVote rounds (they change no
/// state), read-index traffic and leadership transfer.
struct WriteQueue {
    struct Write {
        var seq: UInt64
        /// Raft state (entries, hard state): held messages wait for it, and a failure is a fail-stop.
        var raft: Bool
        /// The last entry of the write, reported `persisted` when it is durable.
        var lastEntry: (LogIndex, Term)?
        /// Audit rows and lamp events of a write without Raft state, kept to retry if it fails.
        var sidecar: ([AuditRecord], [LampEvent])?
        /// Messages to send once this write (and so every earlier one) is durable.
        var held: [Message] = []
    }

    struct Completion: Sendable {
        var seq: UInt64
        /// The write failed (its Raft state, audit rows and lamp events: nothing of it is stored).
        var failure: String?
        var ns: UInt64
        /// The write's lamp event rows failed and it was stored without them (RaftDriver+LampEvents.swift).
        var lampFailure: String? = nil
        var failedLamps: [LampEvent] = []
    }

    /// Finished writes, filled by the writer queue in order and emptied by the driver.
    final class Completions: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [Completion] = []

        func push(_ c: Completion) { lock.withLock { items.append(c) } }

        func takeAll() -> [Completion] {
            lock.withLock {
                let out = items
                items = []
                return out
            }
        }
    }

    let completions = Completions()
    /// Writes handed to the queue and not yet finished, oldest first.
    private(set) var pending: [Write] = []
    private var nextSeq: UInt64 = 0

    var inFlight: Bool { !pending.isEmpty }
    /// A write of log entries is in flight: the leader batches proposals behind it. (A write of the hard
    /// state alone, such as the commit index after a commit, does not hold proposals back.)
    var entriesInFlight: Bool { pending.contains { $0.lastEntry != nil } }

    mutating func begin(raft: Bool, lastEntry: (LogIndex, Term)?, sidecar: ([AuditRecord], [LampEvent])?) -> UInt64 {
        nextSeq += 1
        pending.append(Write(seq: nextSeq, raft: raft, lastEntry: lastEntry, sidecar: sidecar))
        return nextSeq
    }

    /// Attaches `messages` to the newest Raft write in flight. False when none is: they may go now.
    mutating func hold(_ messages: [Message]) -> Bool {
        guard let i = pending.lastIndex(where: \.raft) else { return false }
        pending[i].held.append(contentsOf: messages)
        return true
    }

    /// The write `seq`, removed from the pending ones.
    mutating func finish(_ seq: UInt64) -> Write? {
        guard let i = pending.firstIndex(where: { $0.seq == seq }) else { return nil }
        return pending.remove(at: i)
    }

    static func waitsForDurability(_ kind: MessageKind) -> Bool { kind.waitsForDurability }

    /// `messages` in order, parted into those that may go now and those that wait for durability.
    static func split(_ messages: [Message]) -> (now: [Message], held: [Message]) {
        var now: [Message] = []
        var held: [Message] = []
        for m in messages {
            if waitsForDurability(m.kind) { held.append(m) } else { now.append(m) }
        }
        return (now, held)
    }
}
