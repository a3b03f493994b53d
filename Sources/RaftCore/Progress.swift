/// The leader's view of one peer's log (thesis §3.5; etcd's tracker.Progress).
///
/// Invariant: `match < next`. In `probe` the leader sends one append at a time and waits; in
/// `replicate` it streams appends optimistically, bounded by `inflights`.
struct Progress: Sendable {
    enum State: Sendable, Equatable { case probe, replicate, snapshot }

    var match: LogIndex = 0
    var next: LogIndex
    var state: State = .probe
    /// In `probe`: an append was sent and no answer has come yet.
    var probeSent = false
    /// Heard from since the last CheckQuorum round.
    var recentActive = false
    /// Leader tick at which the newest heartbeat this peer acknowledged was sent (-1: none).
    var leaseTick = -1
    var inflights: Inflights
    var isLearner: Bool
    /// In `snapshot`: the snapshot being sent, the offset the peer wants next, and whether a chunk is
    /// outstanding.
    var snapshotIndex: LogIndex = 0
    var snapshotOffset = 0
    var snapshotChunkSent = false

    init(next: LogIndex, isLearner: Bool, limits: RaftLimits) {
        self.next = next
        self.isLearner = isLearner
        self.inflights = Inflights(capacity: limits.maxInflightMessages, maxBytes: limits.maxInflightBytes)
    }

    var isPaused: Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflights.isFull
        case .snapshot: return true
        }
    }

    mutating func becomeProbe() {
        state = .probe
        next = match + 1
        probeSent = false
        inflights.reset()
    }

    mutating func becomeSnapshot(index: LogIndex) {
        if state != .snapshot || snapshotIndex != index {
            snapshotOffset = 0
        }
        state = .snapshot
        snapshotIndex = index
        snapshotChunkSent = false
        probeSent = false
        inflights.reset()
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match + 1
        probeSent = false
        inflights.reset()
    }

    /// Records an acknowledgement up to `index`. Returns false when it is stale.
    mutating func maybeUpdate(_ index: LogIndex) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            probeSent = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// Handles a rejection of the append that followed `rejected`. `hint` is where to resume.
    /// Returns false when the rejection is stale (it answers an append we no longer care about).
    mutating func maybeDecrease(rejected: LogIndex, hint: LogIndex) -> Bool {
        if state == .snapshot { return false }
        if state == .replicate {
            // In replicate, only a rejection of what follows `match` can be fresh.
            if rejected <= match { return false }
            next = match + 1
            return true
        }
        // In probe, only a rejection of the one outstanding append (at next-1) is fresh.
        if next == 0 || next - 1 != rejected { return false }
        next = max(min(rejected, hint + 1), match + 1)
        probeSent = false
        return true
    }

    /// Bookkeeping after sending `count` entries ending at `lastIndex` with `bytes` bytes.
    mutating func sentEntries(lastIndex: LogIndex, count: Int, bytes: Int) {
        switch state {
        case .replicate:
            if count > 0 {
                next = lastIndex + 1
                inflights.add(index: lastIndex, bytes: bytes)
            }
        case .probe:
            probeSent = true
        case .snapshot:
            break
        }
    }
}

/// A bounded ring of in-flight appends (last index and bytes of each), freed by acknowledgements.
struct Inflights: Sendable {
    private var indexes: [LogIndex]
    private var sizes: [Int]
    private var start = 0
    private(set) var count = 0
    private(set) var bytes = 0
    let capacity: Int
    let maxBytes: Int

    init(capacity: Int, maxBytes: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.maxBytes = maxBytes
        indexes = Array(repeating: 0, count: capacity)
        sizes = Array(repeating: 0, count: capacity)
    }

    var isFull: Bool { count >= capacity || (maxBytes > 0 && bytes >= maxBytes) }

    mutating func add(index: LogIndex, bytes b: Int) {
        precondition(count < capacity, "inflights overflow: caller must check isFull")
        indexes[(start + count) % capacity] = index
        sizes[(start + count) % capacity] = b
        count += 1
        bytes += b
    }

    /// Frees every in-flight append whose last index is `<= index`.
    mutating func free(upTo index: LogIndex) {
        while count > 0 && indexes[start] <= index { // bounded by capacity
            bytes -= sizes[start]
            start = (start + 1) % capacity
            count -= 1
        }
        if count == 0 { start = 0 }
    }

    /// Frees the oldest in-flight append. A heartbeat response proves the peer is reachable, so one
    /// slot is released to let an append through when earlier ones may have been lost.
    mutating func freeFirst() {
        guard count > 0 else { return }
        free(upTo: indexes[start])
    }

    mutating func reset() {
        start = 0
        count = 0
        bytes = 0
    }
}
