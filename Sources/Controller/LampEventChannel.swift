import Foundation
import Storage

/// Lamp events on their way from the lamp driver to the Raft driver, which stores them with its next
/// group commit (docs/architecture.md, "Lamp events and the group commit"). They used to go through one
/// unstructured `Task {}` per lamp change: nothing kept two of those in order, and nothing waited for
/// them on shutdown, so the last changes before a stop could be lost or stored out of order.
///
/// Here: one FIFO, one consumer (`deliver`, a task of the controller's task group), and an end
/// (`finish`, when the lamp driver stops) that the shutdown waits for (`drained`) before the driver's
/// final flush. `send` never blocks or suspends (the lamp driver must not wait for the disk); the buffer
/// is bounded, and what does not fit is dropped and counted (`greenwave_lamp_events_dropped_total`).
public final class LampEventChannel: @unchecked Sendable {
    public enum SendResult: Equatable {
        case sent
        /// The buffer was full: these events were dropped.
        case dropped(Int)
        /// `finish` was called: nothing more is taken.
        case closed
    }

    /// Most events waiting (about an hour of one signal's lamp changes).
    public let capacity: Int
    private let lock = NSLock()
    private var buffer: [LampEvent] = []
    private var finished = false
    private var consumer: CheckedContinuation<Void, Never>?
    private var delivered = false
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []

    public init(capacity: Int = 65_536) {
        self.capacity = max(1, capacity)
    }

    /// Queues `events` after every batch sent before them.
    public func send(_ events: [LampEvent]) -> SendResult {
        guard !events.isEmpty else { return .sent }
        let (result, wake): (SendResult, CheckedContinuation<Void, Never>?) = lock.withLock {
            if finished { return (.closed, nil) }
            guard buffer.count + events.count <= capacity else { return (.dropped(events.count), nil) }
            buffer.append(contentsOf: events)
            defer { consumer = nil }
            return (.sent, consumer)
        }
        wake?.resume()
        return result
    }

    /// No more events: the consumer hands over what is buffered and then ends. Idempotent.
    public func finish() {
        let wake: CheckedContinuation<Void, Never>? = lock.withLock {
            finished = true
            defer { consumer = nil }
            return consumer
        }
        wake?.resume()
    }

    /// Every event sent since the last call, in order; waits while there is none; nil once finished and
    /// empty. One consumer. Not ended by task cancellation: the shutdown ends it with `finish`, so that
    /// what was sent before is still handed over.
    public func next() async -> [LampEvent]? {
        while true {
            let taken: [LampEvent]?? = lock.withLock {
                if !buffer.isEmpty {
                    defer { buffer = [] }
                    return .some(buffer)
                }
                return finished ? .some(nil) : nil
            }
            if let taken { return taken }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now: Bool = lock.withLock {
                    if !buffer.isEmpty || finished { return true }
                    precondition(consumer == nil, "LampEventChannel has one consumer")
                    consumer = c
                    return false
                }
                if now { c.resume() }
            }
        }
    }

    /// The consumer: hands every batch, in order, to `sink` (the driver's `recordLampEvents`) until the
    /// channel is finished and empty.
    public func deliver(_ sink: ([LampEvent]) async -> Void) async {
        while let batch = await next() { await sink(batch) }
        let waiters: [CheckedContinuation<Void, Never>] = lock.withLock {
            delivered = true
            defer { drainWaiters = [] }
            return drainWaiters
        }
        for w in waiters { w.resume() }
    }

    /// Returns once `deliver` has handed over the last event (after `finish`).
    public func drained() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = lock.withLock {
                if delivered { return true }
                drainWaiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }
}
