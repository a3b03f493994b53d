// Canonical binary encoding: big-endian integers, u32 length-prefixed strings, byte strings and
// arrays. One value has exactly one encoding; the decoder refuses anything else (trailing bytes,
// invalid UTF-8, unknown tags, out-of-range lengths) with a named `DecodeError`.

/// Why bytes could not be decoded. Every case names what was wrong; nothing crashes.
public enum DecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The bytes ended while reading `what`.
    case truncated(what: String)
    /// A version this build does not know (`kind`: "command", "state" or "snapshot").
    case unsupportedVersion(kind: String, version: UInt16)
    /// The magic prefix is not the expected one.
    case badMagic(kind: String)
    /// An enum tag this version does not define.
    case unknownTag(what: String, tag: UInt8)
    /// A value outside what the encoding allows (e.g. a string that is not UTF-8, an unsorted map).
    case invalid(what: String)
    /// Bytes left over after the value.
    case trailingBytes(count: Int)
    /// A snapshot whose recorded hash does not match the SHA-256 of its state bytes.
    case hashMismatch(expected: String, actual: String)

    public var description: String {
        switch self {
        case .truncated(let w): return "truncated while reading \(w)"
        case .unsupportedVersion(let k, let v):
            return
                "unsupported \(k) format version \(v) (this build reads \(k == "command" ? CommandEnvelope.formatVersion : CorridorMachine.stateFormatVersion))"
        case .badMagic(let k): return "not a \(k): bad magic"
        case .unknownTag(let w, let t): return "unknown \(w) tag \(t)"
        case .invalid(let w): return "invalid \(w)"
        case .trailingBytes(let n): return "\(n) trailing bytes"
        case .hashMismatch(let e, let a): return "snapshot hash mismatch: recorded \(e), computed \(a)"
        }
    }
}

/// Appends canonical encodings to a byte array.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    public init() { bytes.reserveCapacity(256) }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    public mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }
    // Big-endian, appended in one go (the state hash encodes every event and session per command).
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    /// Ints are encoded as i64.
    public mutating func int(_ v: Int) { i64(Int64(v)) }
    public mutating func count(_ n: Int) { u32(UInt32(n)) }
    public mutating func string(_ s: String) {
        count(s.utf8.count)
        bytes.append(contentsOf: s.utf8)
    }
    public mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    public mutating func data(_ b: [UInt8]) {
        count(b.count)
        bytes.append(contentsOf: b)
    }
    public mutating func optional<T>(_ v: T?, _ body: (inout ByteWriter, T) -> Void) {
        if let v {
            u8(1)
            body(&self, v)
        } else {
            u8(0)
        }
    }
    public mutating func array<T>(_ items: [T], _ body: (inout ByteWriter, T) -> Void) {
        count(items.count)
        for x in items { body(&self, x) }
    }
}

/// Reads canonical encodings, refusing anything malformed.
public struct ByteReader: Sendable {
    let bytes: [UInt8]
    public private(set) var position: Int
    /// Upper bound on any length prefix (strings, arrays): larger is refused before allocating.
    public static let maxCount = 1 << 20

    public init(_ bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    public var remaining: Int { bytes.count - position }

    mutating func take(_ n: Int, _ what: String) throws -> ArraySlice<UInt8> {
        guard n >= 0, remaining >= n else { throw DecodeError.truncated(what: what) }
        defer { position += n }
        return bytes[position..<position + n]
    }
    public mutating func u8(_ what: String) throws -> UInt8 { try take(1, what).first! }
    public mutating func bool(_ what: String) throws -> Bool {
        switch try u8(what) {
        case 0: return false
        case 1: return true
        default: throw DecodeError.invalid(what: "\(what) (a boolean must be 0 or 1)")
        }
    }
    public mutating func u16(_ what: String) throws -> UInt16 {
        let s = try take(2, what)
        return UInt16(s[s.startIndex]) << 8 | UInt16(s[s.startIndex + 1])
    }
    public mutating func u32(_ what: String) throws -> UInt32 {
        var v: UInt32 = 0
        for b in try take(4, what) { v = v << 8 | UInt32(b) }
        return v
    }
    public mutating func u64(_ what: String) throws -> UInt64 {
        var v: UInt64 = 0
        for b in try take(8, what) { v = v << 8 | UInt64(b) }
        return v
    }
    public mutating func i64(_ what: String) throws -> Int64 { Int64(bitPattern: try u64(what)) }
    public mutating func int(_ what: String) throws -> Int {
        let v = try i64(what)
        guard v >= Int64(Int32.min), v <= Int64(Int32.max) else {
            throw DecodeError.invalid(what: "\(what) (\(v) out of range)")
        }
        return Int(v)
    }
    public mutating func count(_ what: String) throws -> Int {
        let n = Int(try u32(what))
        guard n <= ByteReader.maxCount, n <= remaining else { throw DecodeError.truncated(what: what) }
        return n
    }
    public mutating func string(_ what: String) throws -> String {
        let n = try count(what)
        let raw = Array(try take(n, what))
        guard let s = String(validating: raw, as: UTF8.self) else {
            throw DecodeError.invalid(what: "\(what) (not UTF-8)")
        }
        return s
    }
    public mutating func raw(_ n: Int, _ what: String) throws -> [UInt8] { Array(try take(n, what)) }
    public mutating func data(_ what: String) throws -> [UInt8] { Array(try take(try count(what), what)) }
    public mutating func optional<T>(_ what: String, _ body: (inout ByteReader) throws -> T) throws -> T? {
        switch try u8(what) {
        case 0: return nil
        case 1: return try body(&self)
        default: throw DecodeError.invalid(what: "\(what) (an optional marker must be 0 or 1)")
        }
    }
    public mutating func array<T>(_ what: String, _ body: (inout ByteReader) throws -> T) throws -> [T] {
        let n = try count(what)
        var out: [T] = []
        out.reserveCapacity(min(n, 1024))
        for _ in 0..<n { out.append(try body(&self)) }
        return out
    }
    public func finish() throws {
        guard remaining == 0 else { throw DecodeError.trailingBytes(count: remaining) }
    }
}

/// Lower-case hex, for hashes in messages and logs.
public func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    var s = ""
    s.reserveCapacity(bytes.count * 2)
    for b in bytes {
        s.append(digits[Int(b >> 4)])
        s.append(digits[Int(b & 15)])
    }
    return s
}
