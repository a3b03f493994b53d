import Crypto
import RaftCore

/// The checksum every stored log entry carries (column `log_entry.checksum`), written on append and
/// recomputed on every read (`load`, `entries`, `term(at:)`): the first 16 bytes of
///
///     SHA-256( u8 version = 1 ‖ u64 index ‖ u64 term ‖ u8 kind ‖ u32 length ‖ data )
///
/// integers big-endian. It covers the index and term too, so a row moved to another index or given
/// another term fails as surely as a flipped data byte. Public so that an auditor can recompute it.
public enum EntryChecksum {
    public static let version: UInt8 = 1
    public static let byteCount = 16

    public static func compute(index: LogIndex, term: Term, kind: UInt8, data: [UInt8]) -> [UInt8] {
        // The fixed header on the stack, the data hashed in place: no copy per entry.
        var header: (UInt8, UInt64, UInt64, UInt8, UInt32) = (
            version, index.bigEndian, term.bigEndian, kind, UInt32(truncatingIfNeeded: data.count).bigEndian
        )
        var hasher = SHA256()
        withUnsafeBytes(of: &header.0) { hasher.update(bufferPointer: $0) }
        withUnsafeBytes(of: &header.1) { hasher.update(bufferPointer: $0) }
        withUnsafeBytes(of: &header.2) { hasher.update(bufferPointer: $0) }
        withUnsafeBytes(of: &header.3) { hasher.update(bufferPointer: $0) }
        withUnsafeBytes(of: &header.4) { hasher.update(bufferPointer: $0) }
        data.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return Array(hasher.finalize().prefix(byteCount))
    }

    public static func compute(_ e: Entry) -> [UInt8] {
        compute(index: e.index, term: e.term, kind: e.kind.rawValue, data: e.data)
    }
}
