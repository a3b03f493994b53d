import Foundation
import Storage
import Transport

// Lamp events and the group commit (docs/architecture.md, "Lamp events and the group commit").
//
// Lamp events reach the driver through `LampEventChannel` (in the order shown) and wait in
// `pendingLampEvents` for the next durable write, where they go in the same SQLite transaction as the
// Raft entries, hard state and audit rows of that write: one fsync for all. They are not part of the
// replicated record (each controller logs its own lamps), so a lamp row that the store refuses must not
// fail the Raft state it rides with — that would be a fail-stop of the controller for a log line. A
// write that fails with lamp events in it is therefore written again without them; only if that fails
// too is it a failed write (a fail-stop when it held Raft state). The lamp events of a write that was
// stored without them wait and go again, at most once a second, counted
// (`greenwave_lamp_event_write_failures_total`) and logged (at most once per 10 s); beyond
// `maxPendingLampEvents` the oldest are dropped, counted (`greenwave_lamp_events_dropped_total`).
extension RaftDriver {
    /// How one write ended: `failure` for the write without its lamp events, `lampFailure` when the lamp
    /// events were what failed (the rest is stored).
    struct WriteOutcome: Sendable {
        var failure: String?
        var lampFailure: String?
    }

    /// Most lamp events kept for a store that keeps failing them (about a day of one signal's changes).
    static let maxPendingLampEvents = 200_000
    /// How long lamp events wait after their rows failed before they go with a write again.
    static let lampRetryDelayNs: UInt64 = 1_000_000_000

    /// Commits `batch`; when that fails and it carried lamp events, commits it again without them.
    static func commitSeparatingLampEvents(_ store: RaftStore, _ batch: WriteBatch) -> WriteOutcome {
        do {
            try store.commit(batch)
            return WriteOutcome()
        } catch {
            guard !batch.lampEvents.isEmpty else { return WriteOutcome(failure: "\(error)") }
            var rest = batch
            rest.lampEvents = []
            guard !rest.isEmpty else { return WriteOutcome(lampFailure: "\(error)") }
            do {
                try store.commit(rest)
                return WriteOutcome(lampFailure: "\(error)")
            } catch let again {
                return WriteOutcome(failure: "\(again)")
            }
        }
    }

    /// Lamp events may go with the next write: none is in flight with lamp events, and no retry delay runs.
    var lampEventsDue: Bool { lampWriteSeq == nil && (lampRetryAtNs == 0 || monotonicNs() >= lampRetryAtNs) }

    /// The lamp events of a write that was stored without them: kept (before the newer ones), counted,
    /// logged, and held back for `lampRetryDelayNs`. Raft is not affected.
    func lampEventsFailed(_ events: [LampEvent], failure: String) {
        instruments.lampEventWriteFailures.increment()
        pendingLampEvents = events + pendingLampEvents
        let over = pendingLampEvents.count - Self.maxPendingLampEvents
        if over > 0 {
            pendingLampEvents.removeFirst(over)
            instruments.lampEventsDropped.increment(by: Int64(over))
        }
        lampRetryAtNs = monotonicNs() + Self.lampRetryDelayNs
        if case .log(let suppressed) = warnings.admit(source: "store", reason: "lamp-events", nowNs: monotonicNs()) {
            logger.error(
                "storing lamp events failed: the Raft state and audit rows of the write were stored without them; the lamp events are kept and retried",
                metadata: [
                    "error": "\(failure)", "waiting": "\(pendingLampEvents.count)", "dropped": "\(max(0, over))",
                    "suppressed": "\(suppressed)"
                ])
        }
    }

    /// After the last flush: lamp events still waiting (their rows failed in it) are lost with the
    /// process; counted as dropped and logged.
    func noteLampEventsLostAtStop() {
        guard !pendingLampEvents.isEmpty else { return }
        instruments.lampEventsDropped.increment(by: Int64(pendingLampEvents.count))
        logger.error(
            "lamp events not stored at shutdown: the store refused them (the event log has a gap)",
            metadata: [
                "lost": "\(pendingLampEvents.count)", "first.ms": "\(pendingLampEvents.first?.timeMs ?? 0)"
            ])
        pendingLampEvents = []
    }

    /// Fault injection (tests only, `--fault-injection`): while `on`, SQLite refuses this store's lamp rows.
    func setLampRowsRefused(_ on: Bool) {
        let store = self.store
        do {
            try writerQueue.sync { try store.refuseLampRows(on) }
            logger.warning("fault injection: lamp rows \(on ? "refused" : "accepted again") by the store")
        } catch {
            logger.error("fault injection failed", metadata: ["error": "\(error)"])
        }
    }

    /// The lamp events waiting for a write, oldest first (tests).
    func lampEventsPending() -> [LampEvent] { pendingLampEvents }
}
