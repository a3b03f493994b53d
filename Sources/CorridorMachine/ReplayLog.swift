/// A self-contained log for replaying a machine in another process: the initial state (as a
/// snapshot, so corridor and settings travel with it) and the entries after it.
///
/// Layout (v1): "GWLG" | u16 version | u32 length + snapshot bytes | u32 entry count |
/// per entry: u64 index | u64 term | u8 kind | u32 length + payload.
public struct ReplayLog: Hashable, Sendable {
    public static let formatVersion: UInt16 = 1
    static let magic: [UInt8] = Array("GWLG".utf8)

    public struct Entry: Hashable, Sendable {
        public var index: UInt64
        public var term: UInt64
        public var kind: MachineEntryKind
        public var payload: [UInt8]
        public init(index: UInt64, term: UInt64, kind: MachineEntryKind, payload: [UInt8]) {
            self.index = index
            self.term = term
            self.kind = kind
            self.payload = payload
        }
    }

    public var initial: MachineSnapshot
    public var entries: [Entry]

    public init(initial: MachineSnapshot, entries: [Entry]) {
        self.initial = initial
        self.entries = entries
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.raw(Self.magic)
        w.u16(Self.formatVersion)
        w.data(initial.encoded())
        w.array(entries) { w, e in
            w.u64(e.index)
            w.u64(e.term)
            w.u8(e.kind.rawValue)
            w.data(e.payload)
        }
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> ReplayLog {
        var r = ByteReader(bytes)
        guard try r.raw(4, "log magic") == magic else { throw DecodeError.badMagic(kind: "replay log") }
        let v = try r.u16("log version")
        guard v == formatVersion else { throw DecodeError.unsupportedVersion(kind: "replay log", version: v) }
        let snap = try MachineSnapshot.decode(try r.data("initial snapshot"))
        let entries = try r.array("entries") { r -> Entry in
            let index = try r.u64("index")
            let term = try r.u64("term")
            let k = try r.u8("kind")
            guard let kind = MachineEntryKind(rawValue: k) else {
                throw DecodeError.unknownTag(what: "entry kind", tag: k)
            }
            return Entry(index: index, term: term, kind: kind, payload: try r.data("payload"))
        }
        try r.finish()
        return ReplayLog(initial: snap, entries: entries)
    }

    /// Applies the log to its initial state; returns one `(index, hash)` per entry.
    public func replay() throws -> [(index: UInt64, hash: [UInt8])] {
        var m = try CorridorMachine(snapshot: initial)
        return entries.map { e in
            let r = m.apply(index: e.index, term: e.term, kind: e.kind, payload: e.payload)
            return (e.index, r.stateHash)
        }
    }
}
