import SignalTiming

/// One lamp change as the API streams it.
public struct LampUpdate: Codable, Sendable, Equatable {
    public var signal: Int
    public var atMs: Int64
    /// Phase id → lamp by its wire name (`lampName`: "green", "yellow", "red", "flashing-yellow", …).
    public var lamps: [String: String]
    public var interval: String
    public var mode: String
    public var plan: String
    public var timeLeftMs: Int64?
    /// Log index of the command that put the signal in this mode, if any.
    public var causeIndex: UInt64?
    /// Set when the conflict monitor tripped: the controller flashes until a person resets it.
    public var monitorFault: String?
    /// When this controller actually switched its lamps, on its corridor time (ms since the epoch). `atMs` is
    /// when the schedule says the change is due; the difference is the signal's phase skew.
    public var shownAtMs: Int64?
    /// Set while the lamps are not the corridor's schedule: "startup" (the start-up flash and all-red) or
    /// "entering" (a safe transition into the schedule after start-up or a late command). Nil: in step.
    public var entry: String?

    public init(
        signal: Int, atMs: Int64, lamps: [String: String], interval: String, mode: String, plan: String,
        timeLeftMs: Int64?, causeIndex: UInt64?, monitorFault: String?, shownAtMs: Int64?, entry: String? = nil
    ) {
        self.signal = signal
        self.atMs = atMs
        self.lamps = lamps
        self.interval = interval
        self.mode = mode
        self.plan = plan
        self.timeLeftMs = timeLeftMs
        self.causeIndex = causeIndex
        self.monitorFault = monitorFault
        self.shownAtMs = shownAtMs
        self.entry = entry
    }
}

/// A lamp's name on the wire (`LampUpdate.lamps`, the lamp stream, `/v1/status`). This switch is the one
/// table of lamp names: `lamp(named:)` is read from it, so that the controller, the dashboard, SUMO and
/// the audit cannot disagree, and the compiler makes a new `Lamp` case name itself here.
public func lampName(_ l: Lamp) -> String {
    switch l {
    case .dark: return "dark"
    case .red: return "red"
    case .yellow: return "yellow"
    case .green: return "green"
    case .flashingRed: return "flashing-red"
    case .flashingYellow: return "flashing-yellow"
    }
}

/// Every lamp by its wire name (each `Lamp` through `lampName`).
private let lampsByWireName: [String: Lamp] = Dictionary(
    uniqueKeysWithValues: (0...UInt8.max).compactMap(Lamp.init(rawValue:)).map { (lampName($0), $0) })

/// The lamp a wire name stands for; nil for a name that is not a lamp's.
public func lamp(named name: String) -> Lamp? { lampsByWireName[name] }
