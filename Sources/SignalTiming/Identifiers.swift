/// Time in integer milliseconds. Absolute times are milliseconds since the Unix epoch (UTC);
/// durations are milliseconds. No floating point anywhere in the timing model.
public typealias Milliseconds = Int64

/// A signal (intersection) of a corridor. Unique within the corridor; also the Raft node id.
public struct SignalID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (a: SignalID, b: SignalID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "\(rawValue)" }
}

/// A phase (movement) of a signal, by NEMA number (1...16).
public struct PhaseID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (a: PhaseID, b: PhaseID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "\(rawValue)" }
}

/// A timing plan of a corridor, by name (`normal`, `rush-hour`, `night`, `flash`).
public struct PlanID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public static func < (a: PlanID, b: PlanID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { rawValue }
}

/// A control event of a timeline. The state machine uses its log index, so that an auditor can go
/// from "what did S show at t" to the command that caused it.
public struct EventID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (a: EventID, b: EventID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "\(rawValue)" }
}

/// Direction of travel along the corridor: towards increasing positions (for the Western Express
/// Highway, northbound, Bandra → Borivali) or decreasing positions.
public enum Direction: String, Hashable, Sendable, CaseIterable {
    case increasing
    case decreasing
    public var opposite: Direction { self == .increasing ? .decreasing : .increasing }
}

/// The error of everything in this module that refuses input: a message a person can act on.
public struct TimingError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Integer helpers. Swift's `%` keeps the dividend's sign; cycle arithmetic needs the floor
/// convention for times before the reference epoch.
@inlinable func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    precondition(b > 0)
    let q = a / b
    return (a % b != 0 && a < 0) ? q - 1 : q
}

/// `a mod b` in `0..<b`.
@inlinable func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
    precondition(b > 0)
    let r = a % b
    return r < 0 ? r + b : r
}

@inlinable func ceilDiv(_ a: Int64, _ b: Int64) -> Int64 {
    precondition(a >= 0 && b > 0)
    return (a + b - 1) / b
}

/// Travel time in ms over `metres` at `speedKmh` (integer, rounded down): m / (km/h) = 3.6 m/v s.
@inlinable public func travelMs(metres: Int, speedKmh: Int) -> Milliseconds {
    precondition(metres >= 0 && speedKmh > 0)
    return Int64(metres) * 3_600 / Int64(speedKmh)
}
