import NIOCore

/// What a full send queue gives up.
public enum DropPolicy: Sendable, Equatable {
    /// Drop the oldest queued frame: newer Raft messages carry newer terms and commit indexes.
    case dropOldest
    /// Refuse the frame being added.
    case dropNewest
}

/// A bounded FIFO of encoded frames for one peer. Pure: no I/O, no clock.
/// Invariants: `count <= maxMessages`, `bytes <= maxBytes`, `bytes` is the sum of the queued frames' sizes.
struct SendQueue {
    let maxMessages: Int
    let maxBytes: Int
    let policy: DropPolicy
    private var frames = CircularBuffer<[UInt8]>()
    private(set) var bytes = 0

    init(maxMessages: Int, maxBytes: Int, policy: DropPolicy) {
        precondition(maxMessages > 0 && maxBytes > 0, "queue bounds must be positive")
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.policy = policy
    }

    var count: Int { frames.count }
    var isEmpty: Bool { frames.isEmpty }

    /// Adds `frame`, dropping frames to stay within the bounds.
    /// - Returns: how many frames were dropped (the new one included, if it was refused).
    mutating func enqueue(_ frame: [UInt8]) -> Int {
        guard frame.count <= maxBytes else { return 1 }
        var dropped = 0
        while frames.count + 1 > maxMessages || bytes + frame.count > maxBytes {
            switch policy {
            case .dropNewest:
                return 1
            case .dropOldest:
                // The loop ends: the queue empties before `bytes + frame.count` can exceed `maxBytes` alone.
                bytes -= frames.removeFirst().count
                dropped += 1
            }
        }
        frames.append(frame)
        bytes += frame.count
        assert(frames.count <= maxMessages && bytes <= maxBytes)
        return dropped
    }

    mutating func dequeue() -> [UInt8]? {
        guard let frame = frames.popFirst() else { return nil }
        bytes -= frame.count
        return frame
    }

    /// Empties the queue. - Returns: how many frames were discarded.
    mutating func removeAll() -> Int {
        let n = frames.count
        frames.removeAll()
        bytes = 0
        return n
    }
}

/// Reconnect delays: exponential from `minMs` to `maxMs`, each with "equal jitter" (half fixed, half
/// random) so that controllers that lost a peer together do not reconnect in lockstep. Pure.
struct Backoff {
    let minMs: Int64
    let maxMs: Int64
    private(set) var attempt = 0

    init(minMs: Int64, maxMs: Int64) {
        precondition(minMs > 0 && maxMs >= minMs, "backoff needs 0 < min <= max")
        self.minMs = minMs
        self.maxMs = maxMs
    }

    /// The delay before the next attempt, in milliseconds, within `minMs / 2 ... maxMs`.
    mutating func nextDelayMs(using rng: inout some RandomNumberGenerator) -> Int64 {
        // 2^attempt is capped at 2^20 so that the shift never overflows, however long a peer is down.
        let ceiling = min(maxMs, minMs << Int64(min(attempt, 20)))
        attempt += 1
        return ceiling / 2 + Int64.random(in: 0...ceiling - ceiling / 2, using: &rng)
    }

    mutating func reset() { attempt = 0 }
}
