/// CRC-32C (Castagnoli): the reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF,
/// as in iSCSI, SCTP and ext4. Every frame ends with the CRC-32C of its version, type and body, so a
/// flipped bit anywhere in a frame is refused instead of decoding into a plausible message.
/// It detects every error of up to 3 bits in frames of this size and every burst of up to 32 bits.
/// Check value: `CRC32C.checksum("123456789".utf8) == 0xE3069283`.
public enum CRC32C {
    /// `table[b]` is the CRC register after shifting the byte `b` through it (one byte per step).
    static let table: [UInt32] = (0..<256).map { (i: UInt32) in
        var c = i
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// The CRC-32C of `bytes`; pass a previous result as `continuing` to checksum data in pieces.
    public static func checksum(_ bytes: some Sequence<UInt8>, continuing previous: UInt32 = 0) -> UInt32 {
        var crc = ~previous
        table.withUnsafeBufferPointer { t in
            // Contiguous storage takes the fast path; other sequences go byte by byte.
            let done: Void? = bytes.withContiguousStorageIfAvailable { buffer in
                for b in buffer { crc = t[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
            }
            if done == nil {
                for b in bytes { crc = t[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
            }
        }
        return ~crc
    }
}
