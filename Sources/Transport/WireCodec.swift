import RaftCore

/// The first frame on every connection: which corridor and which controller is talking.
public struct Hello: Sendable, Equatable {
    /// The corridor's cluster id. A receiver refuses a hello whose id differs from its own.
    public var clusterID: String
    /// The sender's node id; every message on the connection must carry it as `from`.
    public var nodeID: NodeID

    public init(clusterID: String, nodeID: NodeID) {
        self.clusterID = clusterID
        self.nodeID = nodeID
    }
}

/// One NTP-style time exchange between two controllers (docs/corridor-time.md), outside Raft: a request
/// carries the sender's clock when it sent it; the answer echoes that and adds when the peer received the
/// request and when it sent the answer. Microseconds since the Unix epoch on each sender's own clock.
public struct TimeExchange: Sendable, Equatable {
    public enum Kind: UInt8, Sendable, CaseIterable {
        case request = 1
        case reply = 2
    }

    public var kind: Kind
    public var from: NodeID
    public var to: NodeID
    /// Reply: the request's `transmitUs` (t1). Request: 0.
    public var originUs: Int64
    /// Reply: when the request arrived (t2). Request: 0.
    public var receiveUs: Int64
    /// When this frame was sent (request: t1, reply: t3).
    public var transmitUs: Int64

    public init(kind: Kind, from: NodeID, to: NodeID, originUs: Int64 = 0, receiveUs: Int64 = 0, transmitUs: Int64) {
        self.kind = kind
        self.from = from
        self.to = to
        self.originUs = originUs
        self.receiveUs = receiveUs
        self.transmitUs = transmitUs
    }
}

/// One unit on the wire.
public enum Frame: Sendable, Equatable {
    case hello(Hello)
    case message(Message)
    /// Version 3.
    case time(TimeExchange)
}

/// The frame type byte.
public enum FrameType: UInt8, Sendable, CaseIterable {
    case hello = 1
    case message = 2
    /// Version 3: a time exchange.
    case time = 3
}

/// Bounds on what one frame may hold. The sender checks them as well as the receiver, so that a message
/// the receiver would refuse is dropped (and counted) locally instead of costing a connection.
public struct WireLimits: Sendable, Equatable {
    /// Most bytes after the 4-byte length field (version, type and body). Must exceed the largest
    /// `append` and snapshot chunk that RaftCore produces; see `check(against:)`.
    public var maxFrameBytes: Int = 8 * 1024 * 1024
    /// Most entries in one message. RaftCore sends at most `maxAppendEntries` (256), only in an append.
    public var maxEntriesPerMessage: Int = 4096
    /// Most members (voters + learners) in a snapshot chunk's membership.
    public var maxMembers: Int = 255
    /// Most UTF-8 bytes in a cluster id.
    public var maxClusterIDBytes: Int = 255

    public init() {}

    /// Throws a description of the first limit that cannot carry what `raft` produces.
    public func check(against raft: RaftLimits) throws(WireLimitsError) {
        let overhead = WireCodec.frameHeaderBytes + WireCodec.checksumBytes
        let chunkFrameBytes =
            WireCodec.messageFixedBytes + WireCodec.snapshotFixedBytes
            + 4 + 8 * raft.maxMembers + raft.maxSnapshotChunkBytes + overhead
        guard maxFrameBytes > chunkFrameBytes else {
            throw WireLimitsError(
                "maxFrameBytes (\(maxFrameBytes)) must exceed a full snapshot chunk frame (\(chunkFrameBytes))")
        }
        let appendFrameBytes = WireCodec.messageFixedBytes + raft.maxAppendBytes + overhead
        guard maxFrameBytes > appendFrameBytes else {
            throw WireLimitsError(
                "maxFrameBytes (\(maxFrameBytes)) must exceed a full append frame (\(appendFrameBytes))")
        }
        guard maxEntriesPerMessage >= raft.maxAppendEntries else {
            throw WireLimitsError(
                "maxEntriesPerMessage (\(maxEntriesPerMessage)) must be at least maxAppendEntries (\(raft.maxAppendEntries))"
            )
        }
        guard maxMembers >= raft.maxMembers else {
            throw WireLimitsError(
                "maxMembers (\(maxMembers)) must be at least RaftLimits.maxMembers (\(raft.maxMembers))")
        }
        guard maxFrameBytes <= Int(UInt32.max), maxClusterIDBytes > 0, maxClusterIDBytes <= Int(UInt16.max) else {
            throw WireLimitsError("maxFrameBytes must fit in 32 bits and maxClusterIDBytes in 16 bits")
        }
    }
}

public struct WireLimitsError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The wire format (docs/protocol.md): pure functions from frames to bytes and back.
///
///     frame   = length:u32 version:u8 type:u8 body crc:u32
///               (length counts version, type, body and crc; crc = CRC-32C of version, type and body)
///     hello   = idLength:u16 id:utf8 nodeID:u64
///     message = kind:u8 from:u64 to:u64 term:u64 logTerm:u64 index:u64 commit:u64 reject:u8
///               rejectHint:u64 hintTerm:u64 context:u64
///               entryCount:u32 { term:u64 index:u64 kind:u8 dataLength:u32 data }*
///               hasSnapshot:u8 [ index:u64 term:u64 membershipLength:u16 membership
///                                offset:u64 total:u64 checksum:u64 dataLength:u32 data ]
///     time    = kind:u8 from:u64 to:u64 origin:u64 receive:u64 transmit:u64      (version 3)
///
/// All integers are big-endian. Every term is at most `maxTerm` and every index at most `maxLogIndex`
/// (2^63 − 1, what SQLite stores); both sides refuse a frame with a larger one (`outOfRange`).
public enum WireCodec {
    /// The protocol version this build speaks. A receiver closes a connection whose frame carries another.
    /// Version 2 added the CRC-32C at the end of every frame and the term/index range checks; version 3 the
    /// time frame (type 3). A receiver accepts exactly this version, so that every frame has one encoding.
    public static let version: UInt8 = 3
    /// The versions a receiver accepts.
    public static let acceptedVersions: ClosedRange<UInt8> = 3...3
    /// Largest timestamp in a time frame: 2^60 µs (about 36,000 years), so that differences and sums of
    /// differences of timestamps never overflow.
    public static let maxTimestampUs: Int64 = 1 << 60
    /// Bytes of a time body.
    static let timeBodyBytes = 1 + 8 * 5
    /// Bytes of the length field that precedes every frame.
    public static let lengthFieldBytes = 4
    /// Bytes of version and type that every frame's length counts.
    public static let frameHeaderBytes = 2
    /// Bytes of the CRC-32C that ends every frame (counted by the length).
    public static let checksumBytes = 4
    /// The smallest length a frame can declare: version, type and checksum around an empty body.
    public static let minFrameLength = frameHeaderBytes + checksumBytes
    /// Bytes of a message body without entries and snapshot (fixed fields, entry count, snapshot flag).
    static let messageFixedBytes = 1 + 8 * 2 + 8 * 4 + 1 + 8 * 3 + 4 + 1
    /// Bytes of one entry without its data.
    static let entryFixedBytes = 8 + 8 + 1 + 4
    /// Bytes of a snapshot chunk without membership and data.
    static let snapshotFixedBytes = 8 + 8 + 2 + 8 + 8 + 8 + 4

    // MARK: Encoding

    /// The bytes of `frame`, length field included.
    /// - Parameters:
    ///   - frame: what to send.
    ///   - limits: the same limits the receiver applies.
    /// - Throws: `FrameError` (`oversized`, `countOverLimit`, `invalidClusterID`, `invalidField`) when the
    ///   receiver would refuse the frame; the caller drops it and counts the drop.
    public static func encode(_ frame: Frame, limits: WireLimits = WireLimits()) throws(FrameError) -> [UInt8] {
        var out: [UInt8] = []
        switch frame {
        case .hello(let hello): try encodeHello(hello, limits: limits, into: &out)
        case .message(let m): try encodeMessage(m, limits: limits, into: &out)
        case .time(let t): try encodeTime(t, into: &out)
        }
        let length = out.count - lengthFieldBytes + checksumBytes
        guard length <= limits.maxFrameBytes else {
            throw FrameError(.oversized, "frame of \(length) bytes exceeds the limit of \(limits.maxFrameBytes)")
        }
        seal(&out)
        return out
    }

    /// A hello frame's placeholder length, header and body: cluster id (u16 length, bytes) and node id.
    static func encodeHello(_ hello: Hello, limits: WireLimits, into out: inout [UInt8]) throws(FrameError) {
        let id = Array(hello.clusterID.utf8)
        guard !id.isEmpty, id.count <= limits.maxClusterIDBytes else {
            throw FrameError(
                .invalidClusterID, "cluster id of \(id.count) bytes (1...\(limits.maxClusterIDBytes) allowed)")
        }
        guard hello.nodeID != noNode else { throw FrameError(.invalidField, "hello from node 0") }
        out.reserveCapacity(lengthFieldBytes + frameHeaderBytes + 2 + id.count + 8 + checksumBytes)
        put(&out, UInt32(0))
        out.append(version)
        out.append(FrameType.hello.rawValue)
        put(&out, UInt16(id.count))
        out.append(contentsOf: id)
        put(&out, hello.nodeID)
    }

    /// A Raft message frame's placeholder length, header and body: the fixed fields, the entries, and the
    /// snapshot chunk (flag byte 1 and the chunk, or 0).
    static func encodeMessage(_ m: Message, limits: WireLimits, into out: inout [UInt8]) throws(FrameError) {
        guard m.entries.count <= limits.maxEntriesPerMessage else {
            throw FrameError(
                .countOverLimit, "\(m.entries.count) entries exceed the limit of \(limits.maxEntriesPerMessage)")
        }
        guard m.from != noNode, m.to != noNode else {
            throw FrameError(.invalidField, "message from \(m.from) to \(m.to): node id 0 is reserved")
        }
        guard (m.snapshot != nil) == (m.kind == .snapshot) else {
            throw FrameError(
                .invalidField, "a \(m.kind) message \(m.snapshot == nil ? "without" : "with") a snapshot chunk")
        }
        try checkRanges(m)
        try checkAppendEntries(m)
        let payloadBytes =
            m.entries.reduce(0) { $0 + entryFixedBytes + $1.data.count }
            + (m.snapshot.map { snapshotFixedBytes + 4 + 8 * $0.membership.all.count + $0.data.count } ?? 0)
        guard payloadBytes <= limits.maxFrameBytes else {
            throw FrameError(
                .oversized, "message of at least \(payloadBytes) bytes exceeds the limit of \(limits.maxFrameBytes)"
            )
        }
        out.reserveCapacity(lengthFieldBytes + frameHeaderBytes + messageFixedBytes + payloadBytes + checksumBytes)
        put(&out, UInt32(0))
        out.append(version)
        out.append(FrameType.message.rawValue)
        out.append(m.kind.rawValue)
        put(&out, m.from)
        put(&out, m.to)
        put(&out, m.term)
        put(&out, m.logTerm)
        put(&out, m.index)
        put(&out, m.commit)
        out.append(m.reject ? 1 : 0)
        put(&out, m.rejectHint)
        put(&out, m.hintTerm)
        put(&out, m.context)
        put(&out, UInt32(m.entries.count))
        for e in m.entries {
            put(&out, e.term)
            put(&out, e.index)
            out.append(e.kind.rawValue)
            put(&out, UInt32(e.data.count))
            out.append(contentsOf: e.data)
        }
        if let s = m.snapshot {
            try encodeSnapshotChunk(s, limits: limits, into: &out)
        } else {
            out.append(0)
        }
    }

    /// A snapshot chunk after its flag byte 1: index, term, membership, offset, total, checksum, data.
    static func encodeSnapshotChunk(
        _ s: SnapshotChunk, limits: WireLimits, into out: inout [UInt8]
    ) throws(FrameError) {
        guard s.offset >= 0, s.total >= 0, s.offset <= s.total - s.data.count else {
            throw FrameError(
                .invalidField,
                "snapshot chunk at \(s.offset) of \(s.data.count) bytes outside a snapshot of \(s.total)")
        }
        guard s.membership.all.count <= limits.maxMembers else {
            throw FrameError(
                .countOverLimit, "\(s.membership.all.count) members exceed the limit of \(limits.maxMembers)")
        }
        out.append(1)
        put(&out, s.index)
        put(&out, s.term)
        let membership = s.membership.encoded()
        put(&out, UInt16(membership.count))
        out.append(contentsOf: membership)
        put(&out, UInt64(s.offset))
        put(&out, UInt64(s.total))
        put(&out, s.checksum)
        put(&out, UInt32(s.data.count))
        out.append(contentsOf: s.data)
    }

    /// A time-sync frame's placeholder length, header and body.
    static func encodeTime(_ t: TimeExchange, into out: inout [UInt8]) throws(FrameError) {
        try checkTime(t)
        put(&out, UInt32(0))
        out.append(version)
        out.append(FrameType.time.rawValue)
        out.append(t.kind.rawValue)
        put(&out, t.from)
        put(&out, t.to)
        put(&out, UInt64(t.originUs))
        put(&out, UInt64(t.receiveUs))
        put(&out, UInt64(t.transmitUs))
    }

    /// Completes a frame in place: `frame` holds a placeholder length field, then version, type and body;
    /// this sets the length field and appends the CRC-32C of version, type and body.
    /// (Tests and fuzzers use it to build deliberately wrong frames that still pass the checksum.)
    public static func seal(_ frame: inout [UInt8]) {
        precondition(frame.count >= lengthFieldBytes, "a frame starts with its length field")
        let crc = CRC32C.checksum(frame[lengthFieldBytes...])
        put(&frame, crc)
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: frame.count - lengthFieldBytes).bigEndian) { raw in
            for i in 0..<4 { frame[i] = raw[i] }
        }
    }

    /// A time frame's node ids are not 0, its timestamps within 0 ... `maxTimestampUs`, and a request carries
    /// only its transmit time (one encoding per frame).
    static func checkTime(_ t: TimeExchange) throws(FrameError) {
        guard t.from != noNode, t.to != noNode else {
            throw FrameError(.invalidField, "time frame from \(t.from) to \(t.to): node id 0 is reserved")
        }
        for (name, v) in [("origin", t.originUs), ("receive", t.receiveUs), ("transmit", t.transmitUs)]
        where v < 0 || v > maxTimestampUs {
            throw FrameError(.outOfRange, "time frame \(name) \(v) µs is outside 0...\(maxTimestampUs)")
        }
        if t.kind == .request, t.originUs != 0 || t.receiveUs != 0 {
            throw FrameError(.invalidField, "a time request carries only its transmit time")
        }
    }

    /// Throws `outOfRange` naming the first term above `maxTerm` or index above `maxLogIndex` in `m`.
    static func checkRanges(_ m: Message) throws(FrameError) {
        try checkTerm(m.term, "term")
        try checkTerm(m.logTerm, "logTerm")
        try checkTerm(m.hintTerm, "hintTerm")
        try checkIndex(m.index, "index")
        try checkIndex(m.commit, "commit")
        try checkIndex(m.rejectHint, "rejectHint")
        for e in m.entries {
            try checkTerm(e.term, "entry term")
            try checkIndex(e.index, "entry index")
        }
        if let s = m.snapshot {
            try checkTerm(s.term, "snapshot term")
            try checkIndex(s.index, "snapshot index")
        }
    }

    /// An append's entries continue the log right after `index` and come from a leader's log: their
    /// indexes are `index + 1, index + 2, …` and their terms never decrease, start at `logTerm` or later
    /// and never exceed the message's `term`. No valid leader sends anything else, and RaftCore's log
    /// arithmetic relies on it, so a frame that breaks it is refused here (`invalidField`).
    static func checkAppendEntries(_ m: Message) throws(FrameError) {
        guard m.kind == .append, !m.entries.isEmpty else { return }
        guard UInt64(m.entries.count) <= maxLogIndex - m.index else {
            throw FrameError(
                .outOfRange,
                "append of \(m.entries.count) entries after index \(m.index) exceeds maxLogIndex \(maxLogIndex)")
        }
        var previousTerm = m.logTerm
        for (i, e) in m.entries.enumerated() {
            guard e.index == m.index + 1 + UInt64(i) else {
                throw FrameError(
                    .invalidField,
                    "append after index \(m.index): entry \(i) has index \(e.index), expected \(m.index + 1 + UInt64(i))"
                )
            }
            guard e.term >= previousTerm, e.term <= m.term else {
                throw FrameError(
                    .invalidField,
                    "append in term \(m.term) after log term \(m.logTerm): entry \(e.index) has term \(e.term) (terms must not decrease nor exceed the message's)"
                )
            }
            previousTerm = e.term
        }
    }

    static func checkTerm(_ value: Term, _ field: StaticString) throws(FrameError) {
        guard value <= maxTerm else {
            throw FrameError(.outOfRange, "\(field) \(value) exceeds maxTerm \(maxTerm)")
        }
    }

    static func checkIndex(_ value: LogIndex, _ field: StaticString) throws(FrameError) {
        guard value <= maxLogIndex else {
            throw FrameError(.outOfRange, "\(field) \(value) exceeds maxLogIndex \(maxLogIndex)")
        }
    }

    // MARK: Decoding

    /// Validates a frame's declared length (the value of its length field) before its bytes are buffered,
    /// so that a huge declared length costs nothing.
    /// - Returns: the number of bytes that follow the length field.
    public static func checkDeclaredLength(
        _ length: UInt32, limits: WireLimits = WireLimits()
    ) throws(FrameError) -> Int {
        let n = Int(length)
        guard n <= limits.maxFrameBytes else {
            throw FrameError(.oversized, "declared frame length \(n) exceeds the limit of \(limits.maxFrameBytes)")
        }
        guard n >= minFrameLength else {
            throw FrameError(
                .truncated, "declared frame length \(n) is shorter than version, type and checksum (\(minFrameLength))")
        }
        return n
    }

    /// Decodes exactly one whole frame (length field included); bytes beyond it are `trailingBytes`.
    public static func decode(_ bytes: [UInt8], limits: WireLimits = WireLimits()) throws(FrameError) -> Frame {
        guard bytes.count >= lengthFieldBytes else {
            throw FrameError(.truncated, "\(bytes.count) bytes, fewer than the length field")
        }
        var length: UInt32 = 0
        for i in 0..<4 { length = (length << 8) | UInt32(bytes[i]) }
        let n = try checkDeclaredLength(length, limits: limits)
        let available = bytes.count - lengthFieldBytes
        guard available >= n else {
            throw FrameError(.truncated, "declared frame length \(n), only \(available) bytes present")
        }
        guard available == n else {
            throw FrameError(.trailingBytes, "\(available - n) bytes after a frame of \(n)")
        }
        return try decodePayload(bytes[lengthFieldBytes...], limits: limits)
    }

    /// Decodes the bytes after a frame's length field: version, type, body and checksum, nothing more.
    /// The version is checked first (so that a version-1 peer is told `wrongVersion`), then the checksum,
    /// and only then is the body parsed.
    public static func decodePayload(
        _ payload: ArraySlice<UInt8>, limits: WireLimits = WireLimits()
    ) throws(FrameError) -> Frame {
        guard payload.count <= limits.maxFrameBytes else {
            throw FrameError(.oversized, "frame of \(payload.count) bytes exceeds the limit of \(limits.maxFrameBytes)")
        }
        guard let v = payload.first else { throw FrameError(.truncated, "frame ends before version") }
        guard acceptedVersions.contains(v) else {
            throw FrameError(
                .wrongVersion,
                acceptedVersions.count == 1
                    ? "protocol version \(v), this build speaks \(version)"
                    : "protocol version \(v), this build speaks \(acceptedVersions.lowerBound)...\(acceptedVersions.upperBound)"
            )
        }
        guard payload.count >= minFrameLength else {
            throw FrameError(.truncated, "frame of \(payload.count) bytes is shorter than version, type and checksum")
        }
        let bodyEnd = payload.endIndex - checksumBytes
        var stored: UInt32 = 0
        for i in bodyEnd..<payload.endIndex { stored = (stored << 8) | UInt32(payload[i]) }
        let computed = CRC32C.checksum(payload[..<bodyEnd])
        guard stored == computed else {
            throw FrameError(
                .checksumMismatch,
                "frame checksum \(hex(stored)), computed \(hex(computed)) over \(payload.count - checksumBytes) bytes")
        }
        var r = Reader(payload[payload.startIndex + 1..<bodyEnd])
        let t = try r.u8("frame type")
        let frame: Frame
        switch FrameType(rawValue: t) {
        case .hello:
            frame = .hello(try decodeHello(&r, limits))
        case .message:
            frame = .message(try decodeMessage(&r, limits))
        case .time where v >= 3:
            frame = .time(try decodeTime(&r))
        case .time, nil:
            throw FrameError(.unknownFrameType, "frame type \(t)")
        }
        guard r.remaining == 0 else {
            throw FrameError(.trailingBytes, "\(r.remaining) bytes after the last field")
        }
        return frame
    }

    private static func decodeHello(_ r: inout Reader, _ limits: WireLimits) throws(FrameError) -> Hello {
        let n = Int(try r.u16("cluster id length"))
        guard n > 0, n <= limits.maxClusterIDBytes else {
            throw FrameError(.invalidClusterID, "cluster id of \(n) bytes (1...\(limits.maxClusterIDBytes) allowed)")
        }
        let bytes = try r.bytes(n, "cluster id")
        // `String(decoding:)` repairs invalid UTF-8; a round trip that changes the bytes means it was invalid.
        let id = String(decoding: bytes, as: UTF8.self)
        guard id.utf8.elementsEqual(bytes) else {
            throw FrameError(.invalidClusterID, "cluster id is not UTF-8")
        }
        let node = try r.u64("hello node id")
        guard node != noNode else { throw FrameError(.invalidField, "hello from node 0") }
        return Hello(clusterID: id, nodeID: node)
    }

    private static func decodeTime(_ r: inout Reader) throws(FrameError) -> TimeExchange {
        let k = try r.u8("time kind")
        guard let kind = TimeExchange.Kind(rawValue: k) else { throw FrameError(.unknownKind, "time frame kind \(k)") }
        let from = try r.u64("from")
        let to = try r.u64("to")
        func stamp(_ field: StaticString, _ r: inout Reader) throws(FrameError) -> Int64 {
            let v = try r.u64(field)
            guard v <= UInt64(maxTimestampUs) else {
                throw FrameError(.outOfRange, "time frame \(field) \(v) µs exceeds \(maxTimestampUs)")
            }
            return Int64(v)
        }
        let origin = try stamp("origin", &r)
        let receive = try stamp("receive", &r)
        let transmit = try stamp("transmit", &r)
        let t = TimeExchange(kind: kind, from: from, to: to, originUs: origin, receiveUs: receive, transmitUs: transmit)
        try checkTime(t)
        return t
    }

    private static func decodeMessage(_ r: inout Reader, _ limits: WireLimits) throws(FrameError) -> Message {
        let k = try r.u8("kind")
        guard let kind = MessageKind(rawValue: k) else { throw FrameError(.unknownKind, "message kind \(k)") }
        let from = try r.u64("from")
        let to = try r.u64("to")
        guard from != noNode, to != noNode else {
            throw FrameError(.invalidField, "message from \(from) to \(to): node id 0 is reserved")
        }
        var m = Message(kind: kind, from: from, to: to, term: try r.term("term"))
        m.logTerm = try r.term("logTerm")
        m.index = try r.index("index")
        m.commit = try r.index("commit")
        m.reject = try r.bool("reject")
        m.rejectHint = try r.index("rejectHint")
        m.hintTerm = try r.term("hintTerm")
        m.context = try r.u64("context")

        let count = Int(try r.u32("entry count"))
        guard count <= limits.maxEntriesPerMessage else {
            throw FrameError(.countOverLimit, "\(count) entries exceed the limit of \(limits.maxEntriesPerMessage)")
        }
        // Check the fixed part of every entry against the bytes present before reserving memory for them.
        guard count * entryFixedBytes <= r.remaining else {
            throw FrameError(
                .truncated, "\(count) entries need at least \(count * entryFixedBytes) bytes, \(r.remaining) present")
        }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let term = try r.term("entry term")
            let index = try r.index("entry index")
            let ek = try r.u8("entry kind")
            guard let entryKind = EntryKind(rawValue: ek) else {
                throw FrameError(.unknownEntryKind, "entry kind \(ek)")
            }
            let n = Int(try r.u32("entry data length"))
            let data = try r.bytes(n, "entry data")
            entries.append(Entry(term: term, index: index, kind: entryKind, data: data))
        }
        m.entries = entries

        if try r.bool("snapshot flag") {
            let index = try r.index("snapshot index")
            let term = try r.term("snapshot term")
            let mn = Int(try r.u16("membership length"))
            guard mn <= 4 + 8 * limits.maxMembers else {
                throw FrameError(.countOverLimit, "membership of \(mn) bytes exceeds \(limits.maxMembers) members")
            }
            let membershipBytes = try r.bytes(mn, "membership")
            // Only the canonical encoding (ids sorted) is accepted, so that every frame has one encoding.
            guard let membership = Membership.decode(membershipBytes), membership.encoded() == membershipBytes else {
                throw FrameError(
                    .invalidField, "membership is not valid (no voter, node 0, a duplicate, unsorted or a bad count)")
            }
            let offset = try r.u64("snapshot offset")
            let total = try r.u64("snapshot total")
            let checksum = try r.u64("snapshot checksum")
            let n = Int(try r.u32("snapshot data length"))
            let data = try r.bytes(n, "snapshot data")
            guard total <= UInt64(Int64.max), offset <= total, UInt64(n) <= total - offset else {
                throw FrameError(
                    .invalidField, "snapshot chunk at \(offset) of \(n) bytes outside a snapshot of \(total)")
            }
            m.snapshot = SnapshotChunk(
                index: index, term: term, membership: membership, offset: Int(offset), total: Int(total),
                checksum: checksum, data: data
            )
        }
        guard (m.snapshot != nil) == (kind == .snapshot) else {
            throw FrameError(
                .invalidField, "a \(kind) message \(m.snapshot == nil ? "without" : "with") a snapshot chunk")
        }
        try checkAppendEntries(m)
        return m
    }

    private static func put<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }

    private static func hex(_ v: UInt32) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// Reads big-endian fields from a byte slice; every read checks the bytes present first.
struct Reader {
    private let bytes: ArraySlice<UInt8>
    private var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    var remaining: Int { bytes.endIndex - position }

    mutating func u8(_ field: StaticString) throws(FrameError) -> UInt8 {
        guard remaining >= 1 else { throw FrameError(.truncated, "frame ends before \(field)") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func bool(_ field: StaticString) throws(FrameError) -> Bool {
        switch try u8(field) {
        case 0: return false
        case 1: return true
        case let b: throw FrameError(.invalidField, "\(field) is \(b), not 0 or 1")
        }
    }

    mutating func u16(_ field: StaticString) throws(FrameError) -> UInt16 { try integer(field) }
    mutating func u32(_ field: StaticString) throws(FrameError) -> UInt32 { try integer(field) }
    mutating func u64(_ field: StaticString) throws(FrameError) -> UInt64 { try integer(field) }

    /// A term: a u64 that must not exceed `maxTerm`.
    mutating func term(_ field: StaticString) throws(FrameError) -> Term {
        let v = try u64(field)
        try WireCodec.checkTerm(v, field)
        return v
    }

    /// A log index: a u64 that must not exceed `maxLogIndex`.
    mutating func index(_ field: StaticString) throws(FrameError) -> LogIndex {
        let v = try u64(field)
        try WireCodec.checkIndex(v, field)
        return v
    }

    private mutating func integer<T: FixedWidthInteger & UnsignedInteger>(_ field: StaticString) throws(FrameError) -> T
    {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw FrameError(.truncated, "frame ends before \(field)") }
        var v: T = 0
        for i in position..<position + size { v = (v << 8) | T(bytes[i]) }
        position += size
        return v
    }

    mutating func bytes(_ count: Int, _ field: StaticString) throws(FrameError) -> [UInt8] {
        guard count >= 0, remaining >= count else {
            throw FrameError(.truncated, "\(field) declares \(count) bytes, \(remaining) present")
        }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }
}
