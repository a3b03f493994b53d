/// Why bytes on the wire are not a valid frame. Decoding throws only this type, so that a shell can
/// close the offending connection and go on; nothing in the decoder traps on input.
public struct FrameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong, as a stable code (for logs, metrics and tests).
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The declared frame length exceeds `WireLimits.maxFrameBytes`.
        case oversized
        /// The version byte is not `WireCodec.version`.
        case wrongVersion
        /// The frame type byte names no known frame type.
        case unknownFrameType
        /// The bytes end before a field that the frame declares.
        case truncated
        /// Bytes remain after the last field of the frame.
        case trailingBytes
        /// The message kind byte names no `MessageKind`.
        case unknownKind
        /// An entry's kind byte names no `EntryKind`.
        case unknownEntryKind
        /// A count (entries, members) exceeds its limit in `WireLimits`.
        case countOverLimit
        /// A field holds a value that no valid sender produces (a boolean other than 0/1, node id 0,
        /// a snapshot on a kind that has none, an invalid membership, a chunk outside its snapshot).
        case invalidField
        /// The cluster id is not UTF-8 or is longer than `WireLimits.maxClusterIDBytes`.
        case invalidClusterID
        /// A term exceeds `maxTerm` or an index exceeds `maxLogIndex` (2^63 − 1, what SQLite can store).
        case outOfRange
        /// The frame's CRC-32C does not match its version, type and body: the bytes were damaged.
        case checksumMismatch
    }

    public var code: Code
    /// A sentence for the log, naming the field and the values involved.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
