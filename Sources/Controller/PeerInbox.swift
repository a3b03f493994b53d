import Foundation
import NIOCore
import RaftCore

/// Peer messages received and not yet stepped, between the transport's stream and the Raft driver.
///
/// A pump task moves each message here as it arrives; the driver takes them all at once — before every
/// tick (so that a heartbeat that arrived while this process was not scheduled counts before the time
/// that passed does) and whenever messages are waiting — steps them and handles one `Ready` for the
/// batch, instead of one actor call and one `Ready` per message. Bounded: beyond `capacity` the oldest
/// message is dropped and counted (Raft tolerates loss; newer messages carry newer terms and indexes).
final class PeerInbox: @unchecked Sendable {
    private let lock = NSLock()
    private var messages = CircularBuffer<Message>()
    let capacity: Int
    private var droppedCount: UInt64 = 0

    init(capacity: Int = 4096) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// Adds `m` and wakes the consumer through `wake` when the inbox was empty. Returns false when the oldest
    /// message was dropped to make room (the transport's receiver, `PeerTransport.deliverDirectly`).
    @discardableResult
    func push(_ m: Message, wake: () -> Void) -> Bool {
        let (wasEmpty, dropped) = lock.withLock {
            let wasEmpty = messages.isEmpty
            var dropped = false
            if messages.count >= capacity {
                _ = messages.removeFirst()
                droppedCount += 1
                dropped = true
            }
            messages.append(m)
            return (wasEmpty, dropped)
        }
        if wasEmpty { wake() }
        return !dropped
    }

    /// Every waiting message, oldest first.
    func takeAll() -> [Message] {
        lock.withLock {
            guard !messages.isEmpty else { return [] }
            let out = Array(messages)
            messages.removeAll(keepingCapacity: true)
            return out
        }
    }

    var count: Int { lock.withLock { messages.count } }
    /// Messages dropped because the driver fell `capacity` behind.
    var dropped: UInt64 { lock.withLock { droppedCount } }
}
