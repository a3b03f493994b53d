import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The wall clock, integer milliseconds since the Unix epoch (UTC): what the leader stamps into entries,
/// what a read credential carries and what clients compare an effective time with.
@inline(__always) public func wallClockMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000 + Int64(ts.tv_nsec) / 1_000_000
}

/// ISO 8601 UTC with milliseconds.
public func isoTime(_ ms: Int64) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
}
