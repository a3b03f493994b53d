/// The largest value noted in the current window and the one before it, so that a figure says "in the last
/// one to two windows". Pure: the caller passes the monotonic time in nanoseconds. Used for scheduling
/// evidence (how late a timer or the event loop ran) in log lines that explain an election.
public struct WindowedPeak: Sendable, Equatable {
    public var current: UInt64 = 0
    public var previous: UInt64 = 0
    public var windowStart: UInt64 = 0

    public init() {}

    public mutating func note(_ value: UInt64, now: UInt64, windowNs: UInt64) {
        roll(now: now, windowNs: windowNs)
        current = max(current, value)
    }

    public mutating func roll(now: UInt64, windowNs: UInt64) {
        guard now >= windowStart &+ windowNs else { return }
        // A window with nothing noted in it leaves nothing for the next one.
        previous = now >= windowStart &+ 2 &* windowNs ? 0 : current
        current = 0
        windowStart = now
    }

    public func value(now: UInt64, windowNs: UInt64) -> UInt64 {
        var p = self
        p.roll(now: now, windowNs: windowNs)
        return max(p.current, p.previous)
    }
}
