/// Rate limit for log lines about bad input: at most one line per key (source and reason) per window;
/// the lines held back are counted and reported by the next line for that key. Pure: the caller
/// passes the time. Memory is bounded by `maxKeys`; when it is full, keys whose window has passed are
/// forgotten (their held-back counts are returned so the caller can log them), and if none has, new
/// sources share one overflow key per reason.
public struct LogLimiter: Sendable {
    public struct Key: Hashable, Sendable {
        /// Where the input came from (a remote host), or `overflowSource`.
        public var source: String
        public var reason: String
    }

    public enum Decision: Equatable, Sendable {
        /// Log this line; `suppressed` lines for the same key were held back since the previous one.
        case log(suppressed: Int)
        /// Hold this line back (it is counted).
        case suppress
    }

    public static let overflowSource = "(other sources)"

    public let windowNs: UInt64
    public let maxKeys: Int
    private var entries: [Key: (loggedAtNs: UInt64, suppressed: Int)] = [:]

    public init(windowNs: UInt64, maxKeys: Int = 1024) {
        precondition(maxKeys > 0)
        self.windowNs = windowNs
        self.maxKeys = maxKeys
    }

    public var keyCount: Int { entries.count }

    /// Whether to log a line for `source` and `reason` at `nowNs`, and how many were held back before it.
    /// `evicted` receives the held-back counts of keys forgotten to make room.
    public mutating func admit(
        source: String, reason: String, nowNs: UInt64,
        evicted: (_ key: Key, _ suppressed: Int) -> Void = { _, _ in }
    ) -> Decision {
        var key = Key(source: source, reason: reason)
        if entries[key] == nil && entries.count >= maxKeys {
            for (k, e) in entries where nowNs &- e.loggedAtNs >= windowNs {
                entries[k] = nil
                if e.suppressed > 0 { evicted(k, e.suppressed) }
            }
            if entries.count >= maxKeys { key.source = Self.overflowSource }
        }
        if let e = entries[key], nowNs &- e.loggedAtNs < windowNs {
            entries[key] = (e.loggedAtNs, e.suppressed + 1)
            return .suppress
        }
        let suppressed = entries[key]?.suppressed ?? 0
        entries[key] = (nowNs, 0)
        return .log(suppressed: suppressed)
    }
}
