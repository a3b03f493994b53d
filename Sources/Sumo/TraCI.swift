// TraCI, SUMO's remote-control protocol, spoken directly over TCP (no Python traci).
//
// Wire format (sumo.dlr.de/docs/TraCI/Protocol.html), all integers big-endian:
//   message  = int32 total length (including these 4 bytes) · command*
//   command  = ubyte length (including itself and the id) · ubyte id · content
//            | 0x00 · int32 length (including the 0x00 and these 4 bytes) · ubyte id · content   (length > 255)
//   string   = int32 byte count · UTF-8 bytes
//   status   = a command whose id echoes the request, content = ubyte result (0x00 ok, 0x01 not
//              implemented, 0xFF error) · string description
// Every request command is answered by its status, followed by that command's own response data.
// Only the parts Greenwave needs are here: getVersion, set traffic-light state, simulation step,
// one simulation variable, induction-loop subscriptions (0xD0: each step's answer carries every
// subscribed loop's variables) and close.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public enum TraCI {
    // Commands.
    public static let cmdGetVersion: UInt8 = 0x00
    public static let cmdSimulationStep: UInt8 = 0x02
    public static let cmdClose: UInt8 = 0x7F
    public static let cmdGetSimulationVariable: UInt8 = 0xAB
    public static let cmdGetTrafficLightVariable: UInt8 = 0xA2
    public static let cmdSetTrafficLightVariable: UInt8 = 0xC2
    public static let cmdGetInductionLoopVariable: UInt8 = 0xA0
    public static let cmdSubscribeInductionLoopVariable: UInt8 = 0xD0
    public static let responseSubscribeInductionLoopVariable: UInt8 = 0xE0
    // Induction-loop variables: vehicles that were on the loop in the last step, and the share of
    // the last step (percent) that the loop was occupied.
    public static let varLastStepVehicleNumber: UInt8 = 0x10
    public static let varLastStepOccupancy: UInt8 = 0x13
    /// TraCI's "no value" double: as a subscription's begin and end it means "now" and "forever".
    public static let invalidDouble = -1_073_741_824.0
    // Variables.
    public static let varRedYellowGreenState: UInt8 = 0x20
    public static let varMinExpectedNumber: UInt8 = 0x7D
    public static let varTime: UInt8 = 0x66
    // Data types.
    public static let typeInt: UInt8 = 0x09
    public static let typeDouble: UInt8 = 0x0B
    public static let typeString: UInt8 = 0x0C
    // Result codes of a status response.
    public static let resultOK: UInt8 = 0x00
    public static let resultNotImplemented: UInt8 = 0x01
    public static let resultError: UInt8 = 0xFF
}

public struct TraCIError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "TraCI: \(message)" }
}

// MARK: - Encoding

/// Appends big-endian TraCI values to a byte buffer.
public struct TraCIWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func ubyte(_ v: UInt8) { bytes.append(v) }
    public mutating func int32(_ v: Int32) {
        let u = UInt32(bitPattern: v)
        bytes += [UInt8(u >> 24), UInt8((u >> 16) & 0xFF), UInt8((u >> 8) & 0xFF), UInt8(u & 0xFF)]
    }
    public mutating func double(_ v: Double) {
        let u = v.bitPattern
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((u >> UInt64(shift)) & 0xFF)) }
    }
    public mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        int32(Int32(utf8.count))
        bytes += utf8
    }
    public mutating func raw(_ b: [UInt8]) { bytes += b }
}

/// One command: an id and its content, framed with the short or the extended length.
public struct TraCICommand: Equatable, Sendable {
    public var id: UInt8
    public var content: [UInt8]
    public init(id: UInt8, content: [UInt8]) {
        self.id = id
        self.content = content
    }

    /// The framed bytes: `len id content` when 2 + content ≤ 255, else `0 len32 id content`.
    public var encoded: [UInt8] {
        var w = TraCIWriter()
        let short = 2 + content.count
        if short <= 255 {
            w.ubyte(UInt8(short))
        } else {
            w.ubyte(0)
            w.int32(Int32(1 + 4 + 1 + content.count))
        }
        w.ubyte(id)
        w.raw(content)
        return w.bytes
    }

    public static func getVersion() -> TraCICommand { TraCICommand(id: TraCI.cmdGetVersion, content: []) }

    /// Simulation step 0x02: run until `targetSeconds` (0 = one step), as a double (API ≥ 18).
    public static func simulationStep(targetSeconds: Double) -> TraCICommand {
        var w = TraCIWriter()
        w.double(targetSeconds)
        return TraCICommand(id: TraCI.cmdSimulationStep, content: w.bytes)
    }

    /// Change traffic-light state 0xC2, variable 0x20: the red-yellow-green state string, one
    /// character per link index of the traffic light.
    public static func setRedYellowGreenState(trafficLight: String, state: String) -> TraCICommand {
        var w = TraCIWriter()
        w.ubyte(TraCI.varRedYellowGreenState)
        w.string(trafficLight)
        w.ubyte(TraCI.typeString)
        w.string(state)
        return TraCICommand(id: TraCI.cmdSetTrafficLightVariable, content: w.bytes)
    }

    /// Get simulation variable 0xAB (object id empty).
    public static func getSimulationVariable(_ variable: UInt8) -> TraCICommand {
        var w = TraCIWriter()
        w.ubyte(variable)
        w.string("")
        return TraCICommand(id: TraCI.cmdGetSimulationVariable, content: w.bytes)
    }

    /// Get traffic-light variable 0xA2 of `trafficLight`.
    public static func getTrafficLightVariable(_ variable: UInt8, trafficLight: String) -> TraCICommand {
        var w = TraCIWriter()
        w.ubyte(variable)
        w.string(trafficLight)
        return TraCICommand(id: TraCI.cmdGetTrafficLightVariable, content: w.bytes)
    }

    public static func close() -> TraCICommand { TraCICommand(id: TraCI.cmdClose, content: []) }

    /// Subscribe 0xD0 to an induction loop's variables from now on, for ever: begin and end time
    /// (doubles, "invalid" = now / no end), the loop id, the variable count and the variables.
    public static func subscribeInductionLoop(_ loop: String, variables: [UInt8]) -> TraCICommand {
        var w = TraCIWriter()
        w.double(TraCI.invalidDouble)
        w.double(TraCI.invalidDouble)
        w.string(loop)
        w.ubyte(UInt8(variables.count))
        for v in variables { w.ubyte(v) }
        return TraCICommand(id: TraCI.cmdSubscribeInductionLoopVariable, content: w.bytes)
    }
}

/// One induction loop's values in a step (subscription 0x10 and 0x13).
public struct LoopValues: Equatable, Sendable {
    /// Vehicles on the loop at some moment of the last step.
    public var vehicles: Int
    /// Percent of the last step during which the loop was occupied.
    public var occupancyPercent: Double
    /// A vehicle was over the loop during the last step.
    public var occupied: Bool { vehicles > 0 || occupancyPercent > 0 }
}

/// A whole message: the int32 total length, then the commands.
public func traciMessage(_ commands: [TraCICommand]) -> [UInt8] {
    var body: [UInt8] = []
    for c in commands { body += c.encoded }
    var w = TraCIWriter()
    w.int32(Int32(4 + body.count))
    w.raw(body)
    return w.bytes
}

// MARK: - Decoding

/// Reads big-endian TraCI values; every read checks bounds.
public struct TraCIReader {
    public let bytes: [UInt8]
    public private(set) var position: Int
    public init(_ bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    public var atEnd: Bool { position >= bytes.count }

    mutating func need(_ n: Int) throws {
        guard position + n <= bytes.count else {
            throw TraCIError("truncated: need \(n) bytes at offset \(position) of \(bytes.count)")
        }
    }
    public mutating func ubyte() throws -> UInt8 {
        try need(1)
        defer { position += 1 }
        return bytes[position]
    }
    public mutating func int32() throws -> Int32 {
        try need(4)
        var u: UInt32 = 0
        for i in 0..<4 { u = (u << 8) | UInt32(bytes[position + i]) }
        position += 4
        return Int32(bitPattern: u)
    }
    public mutating func double() throws -> Double {
        try need(8)
        var u: UInt64 = 0
        for i in 0..<8 { u = (u << 8) | UInt64(bytes[position + i]) }
        position += 8
        return Double(bitPattern: u)
    }
    public mutating func string() throws -> String {
        let n = Int(try int32())
        guard n >= 0 else { throw TraCIError("negative string length \(n)") }
        try need(n)
        defer { position += n }
        return String(decoding: bytes[position..<position + n], as: UTF8.self)
    }

    /// A command header: returns (id, offset just past the command) and leaves the reader after the id.
    public mutating func commandHeader() throws -> (id: UInt8, end: Int) {
        let start = position
        var length = Int(try ubyte())
        if length == 0 { length = Int(try int32()) }
        guard length >= 2, start + length <= bytes.count else {
            throw TraCIError("bad command length \(length) at offset \(start)")
        }
        return (try ubyte(), start + length)
    }

    /// A status response for `command`; throws if it is for another command or reports an error.
    public mutating func status(for command: UInt8) throws {
        let (id, end) = try commandHeader()
        guard id == command else {
            throw TraCIError(String(format: "status for command 0x%02x, expected 0x%02x", id, command))
        }
        let result = try ubyte()
        let description = try string()
        guard position == end else {
            throw TraCIError("status of 0x\(String(command, radix: 16)) has \(end - position) stray bytes")
        }
        guard result == TraCI.resultOK else {
            throw TraCIError(String(format: "command 0x%02x failed (result 0x%02x): %@", command, result, description))
        }
    }
}

/// The decoded answer to getVersion.
public struct TraCIVersion: Equatable, Sendable {
    public var apiVersion: Int
    public var identifier: String
}

public enum TraCIResponse {
    /// The body (after the 4-byte length) of the answer to a getVersion message.
    public static func version(_ body: [UInt8]) throws -> TraCIVersion {
        var r = TraCIReader(body)
        try r.status(for: TraCI.cmdGetVersion)
        let (id, end) = try r.commandHeader()
        guard id == TraCI.cmdGetVersion else { throw TraCIError("version response has id \(id)") }
        let api = Int(try r.int32())
        let ident = try r.string()
        guard r.position == end, r.atEnd else { throw TraCIError("stray bytes after the version response") }
        return TraCIVersion(apiVersion: api, identifier: ident)
    }

    /// The body of the answer to a message of `setCount` set-commands followed by one simulation
    /// step: a status per set command, the step's status and its subscription count (which must be 0:
    /// Greenwave subscribes to nothing).
    public static func step(_ body: [UInt8], setCommands: [UInt8]) throws {
        var r = TraCIReader(body)
        for c in setCommands { try r.status(for: c) }
        try r.status(for: TraCI.cmdSimulationStep)
        let subscriptions = try r.int32()
        guard subscriptions == 0 else { throw TraCIError("unexpected \(subscriptions) subscription results") }
        guard r.atEnd else { throw TraCIError("stray bytes after the step response") }
    }

    /// The body of the answer to set commands and a step when loops are subscribed: a status per set
    /// command, the step's status, the subscription count and one induction-loop response per loop
    /// (0xE0: loop id, variable count, per variable id · status · type · value). Returns the loops'
    /// values by id; any other subscription, a failed variable or a missing value is refused.
    public static func stepWithLoops(_ body: [UInt8], setCommands: [UInt8]) throws -> [String: LoopValues] {
        var r = TraCIReader(body)
        for c in setCommands { try r.status(for: c) }
        try r.status(for: TraCI.cmdSimulationStep)
        let count = try r.int32()
        guard count >= 0 else { throw TraCIError("negative subscription count \(count)") }
        var out: [String: LoopValues] = [:]
        out.reserveCapacity(Int(count))
        for _ in 0..<count {
            let (id, loop, values) = try subscriptionResponse(&r)
            guard id == TraCI.responseSubscribeInductionLoopVariable else {
                throw TraCIError(String(format: "unexpected subscription response 0x%02x", id))
            }
            out[loop] = values
        }
        guard r.atEnd else { throw TraCIError("stray bytes after the step response") }
        return out
    }

    /// One subscription response (also the answer to a subscribe command, after its status).
    static func subscriptionResponse(_ r: inout TraCIReader) throws -> (UInt8, String, LoopValues) {
        let (id, end) = try r.commandHeader()
        let object = try r.string()
        let n = try r.ubyte()
        var vehicles: Int?
        var occupancy: Double?
        for _ in 0..<n {
            let variable = try r.ubyte()
            let status = try r.ubyte()
            let type = try r.ubyte()
            guard status == TraCI.resultOK else {
                let message = type == TraCI.typeString ? try r.string() : ""
                throw TraCIError("loop \(object): variable 0x\(String(variable, radix: 16)) failed: \(message)")
            }
            switch (variable, type) {
            case (TraCI.varLastStepVehicleNumber, TraCI.typeInt): vehicles = Int(try r.int32())
            case (TraCI.varLastStepOccupancy, TraCI.typeDouble): occupancy = try r.double()
            default:
                throw TraCIError("loop \(object): unexpected variable 0x\(String(variable, radix: 16)) of type \(type)")
            }
        }
        guard r.position == end else { throw TraCIError("loop \(object): \(end - r.position) stray bytes") }
        guard let vehicles, let occupancy, vehicles >= 0, occupancy.isFinite, occupancy >= 0 else {
            throw TraCIError("loop \(object): vehicle number and occupancy missing or out of range")
        }
        return (id, object, LoopValues(vehicles: vehicles, occupancyPercent: occupancy))
    }

    /// The body of the answer to a message of subscribe commands: per command its status and the
    /// subscription's first values.
    public static func subscribed(_ body: [UInt8], loops: [String]) throws {
        var r = TraCIReader(body)
        for loop in loops {
            try r.status(for: TraCI.cmdSubscribeInductionLoopVariable)
            let (id, object, _) = try subscriptionResponse(&r)
            guard id == TraCI.responseSubscribeInductionLoopVariable, object == loop else {
                throw TraCIError("subscription answer for \(object), expected \(loop)")
            }
        }
        guard r.atEnd else { throw TraCIError("stray bytes after the subscription answers") }
    }

    /// The body of the answer to getTrafficLightVariable of a string variable (e.g. the state 0x20).
    public static func trafficLightString(_ body: [UInt8], variable: UInt8, trafficLight: String) throws -> String {
        var r = TraCIReader(body)
        try r.status(for: TraCI.cmdGetTrafficLightVariable)
        let (id, end) = try r.commandHeader()
        guard id == TraCI.cmdGetTrafficLightVariable | 0x10 else { throw TraCIError("variable response has id \(id)") }
        guard try r.ubyte() == variable else { throw TraCIError("variable response for another variable") }
        guard try r.string() == trafficLight else { throw TraCIError("variable response for another traffic light") }
        guard try r.ubyte() == TraCI.typeString else { throw TraCIError("variable is not a string") }
        let value = try r.string()
        guard r.position == end, r.atEnd else { throw TraCIError("stray bytes after the variable response") }
        return value
    }

    /// The body of the answer to getSimulationVariable of an int variable.
    public static func simulationInt(_ body: [UInt8], variable: UInt8) throws -> Int {
        var r = TraCIReader(body)
        try r.status(for: TraCI.cmdGetSimulationVariable)
        let (id, _) = try r.commandHeader()
        guard id == TraCI.cmdGetSimulationVariable | 0x10 else { throw TraCIError("variable response has id \(id)") }
        guard try r.ubyte() == variable else { throw TraCIError("variable response for another variable") }
        _ = try r.string()
        guard try r.ubyte() == TraCI.typeInt else { throw TraCIError("variable is not an int") }
        return Int(try r.int32())
    }
}

// MARK: - Connection

/// A blocking TCP connection to a SUMO TraCI server. One client, commands answered in order.
public final class TraCIConnection {
    private var fd: Int32
    /// Every message sent and received (length prefix included), when recording for fixtures.
    public var transcript: [(sent: [UInt8], received: [UInt8])]? = nil

    /// Connects to host:port, retrying until `timeoutSeconds` (SUMO opens its port after loading).
    public init(host: String = "127.0.0.1", port: Int, timeoutSeconds: Double = 60) throws {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while true {
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard s >= 0 else { throw TraCIError("socket() failed: errno \(errno)") }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &addr.sin_addr)
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if rc == 0 {
                var one: Int32 = 1
                setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                fd = s
                return
            }
            close(s)
            if Date() > deadline {
                throw TraCIError("could not connect to SUMO at \(host):\(port) within \(Int(timeoutSeconds)) s")
            }
            usleep(50_000)
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Sends one message of `commands` and returns the body of the answer (without its length).
    public func exchange(_ commands: [TraCICommand]) throws -> [UInt8] {
        let msg = traciMessage(commands)
        try sendAll(msg)
        let head = try receive(4)
        var r = TraCIReader(head)
        let total = Int(try r.int32())
        guard total >= 4 else { throw TraCIError("bad message length \(total)") }
        let body = try receive(total - 4)
        transcript?.append((msg, head + body))
        return body
    }

    public func version() throws -> TraCIVersion {
        try TraCIResponse.version(try exchange([.getVersion()]))
    }

    /// One message: the changed lamp states, then a step to `targetSeconds`.
    public func step(to targetSeconds: Double, states: [(trafficLight: String, state: String)]) throws {
        var cmds = states.map { TraCICommand.setRedYellowGreenState(trafficLight: $0.trafficLight, state: $0.state) }
        cmds.append(.simulationStep(targetSeconds: targetSeconds))
        try TraCIResponse.step(
            try exchange(cmds), setCommands: Array(repeating: TraCI.cmdSetTrafficLightVariable, count: states.count))
    }

    /// Subscribes to every loop's vehicle number and occupancy (one message, a few loops per
    /// command batch so that a message stays small); from then on `stepReadingLoops` returns them.
    public func subscribeLoops(_ loops: [String]) throws {
        let vars = [TraCI.varLastStepVehicleNumber, TraCI.varLastStepOccupancy]
        var i = 0
        while i < loops.count {
            let batch = Array(loops[i..<min(i + 64, loops.count)])
            try TraCIResponse.subscribed(
                try exchange(batch.map { .subscribeInductionLoop($0, variables: vars) }), loops: batch)
            i += batch.count
        }
    }

    /// One message: the changed lamp states, then a step to `targetSeconds`; returns the subscribed
    /// loops' values of that step.
    public func stepReadingLoops(
        to targetSeconds: Double, states: [(trafficLight: String, state: String)]
    ) throws -> [String: LoopValues] {
        var cmds = states.map { TraCICommand.setRedYellowGreenState(trafficLight: $0.trafficLight, state: $0.state) }
        cmds.append(.simulationStep(targetSeconds: targetSeconds))
        return try TraCIResponse.stepWithLoops(
            try exchange(cmds), setCommands: Array(repeating: TraCI.cmdSetTrafficLightVariable, count: states.count))
    }

    /// Vehicles still in the network or waiting to be inserted.
    public func minExpectedNumber() throws -> Int {
        try TraCIResponse.simulationInt(
            try exchange([.getSimulationVariable(TraCI.varMinExpectedNumber)]),
            variable: TraCI.varMinExpectedNumber)
    }

    /// What SUMO shows at `trafficLight` now (0xA2 / 0x20).
    public func redYellowGreenState(of trafficLight: String) throws -> String {
        try TraCIResponse.trafficLightString(
            try exchange([.getTrafficLightVariable(TraCI.varRedYellowGreenState, trafficLight: trafficLight)]),
            variable: TraCI.varRedYellowGreenState, trafficLight: trafficLight)
    }

    /// Close 0x7F: SUMO writes its outputs and exits.
    public func closeSimulation() throws {
        var r = TraCIReader(try exchange([.close()]))
        try r.status(for: TraCI.cmdClose)
        close(fd)
        fd = -1
    }

    private func sendAll(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw TraCIError("send failed: errno \(errno)") }
            off += n
        }
    }

    private func receive(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var off = 0
        while off < count {
            let n = out[off...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw TraCIError(n == 0 ? "SUMO closed the connection" : "recv failed: errno \(errno)") }
            off += n
        }
        return out
    }
}
