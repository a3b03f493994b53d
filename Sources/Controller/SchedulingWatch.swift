import RaftCore
import Transport

/// What a controller knows about its own scheduling, kept so that it can say *why* it campaigned or
/// stepped down (issue 16: elections on a busy machine with no failure injected). Pure: the caller passes
/// the monotonic time in nanoseconds.
///
/// - tick lateness: how long after its due instant the tick loop woke up (the process or its thread was
///   not scheduled, or the actor was busy);
/// - actor wait: how long a tick waited for the driver actor after the loop woke (contention with peer
///   messages, HTTP requests and the lamp driver);
/// - busy: how long one input (a tick, a batch of peer messages) held the actor, persistence included;
/// - last heard: when a message from each peer was last stepped.
///
/// Maxima are kept per window of `windowNs` (the current and the previous one), so that a figure says
/// "in the last one to two windows".
struct SchedulingWatch: Sendable {
    typealias Peak = WindowedPeak

    let windowNs: UInt64
    var tickLate = Peak()
    var actorWait = Peak()
    var busy = Peak()
    /// Ticks the loop did not fire because it was too late to catch up (see `CoreService`).
    var ticksSkipped: UInt64 = 0
    var lastHeardNs: [NodeID: UInt64] = [:]

    init(windowNs: UInt64 = 2_000_000_000) { self.windowNs = windowNs }

    mutating func noteTick(lateNs: UInt64, actorWaitNs: UInt64, now: UInt64) {
        tickLate.note(lateNs, now: now, windowNs: windowNs)
        actorWait.note(actorWaitNs, now: now, windowNs: windowNs)
    }

    mutating func noteBusy(_ ns: UInt64, now: UInt64) { busy.note(ns, now: now, windowNs: windowNs) }

    mutating func heard(from peer: NodeID, now: UInt64) { lastHeardNs[peer] = now }

    /// Milliseconds since a message from `peer` was last stepped, or nil if none ever was.
    func silenceMs(of peer: NodeID, now: UInt64) -> Int? {
        lastHeardNs[peer].map { Int((now &- $0) / 1_000_000) }
    }

    /// One line of evidence for a log entry: ticks late, actor wait and busy maxima (ms) in the last window or two.
    func summary(now: UInt64) -> String {
        let ms = { (p: Peak) in String(format: "%.0f", Double(p.value(now: now, windowNs: windowNs)) / 1e6) }
        return "ticks up to \(ms(tickLate)) ms late, waited up to \(ms(actorWait)) ms for the driver, "
            + "driver busy up to \(ms(busy)) ms per input, \(ticksSkipped) ticks skipped since start"
    }
}
