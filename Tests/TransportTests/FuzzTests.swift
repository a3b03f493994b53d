import RaftCore
import XCTest

@testable import Transport

/// Feeds the decoder random and damaged input. Each case must end in a frame or a `FrameError`; a trap
/// fails the whole run. A decoded frame must re-encode to exactly the input (one encoding per frame).
/// Damage that was not resealed (checksum recomputed) must never decode into anything but the original.
final class FuzzTests: XCTestCase {
    static let seed: UInt64 = 0x6772_6565_6E77_6176

    func testDecoderSurvivesRandomDamagedAndHugeInput() throws {
        var rng = SplitMix64(seed: Self.seed)
        var corpus: [[UInt8]] = []
        for _ in 0..<4 { corpus += Samples.frames(&rng) }
        var cases = 0
        var decoded = 0
        var codes: [FrameError.Code: Int] = [:]
        let originals = Set(corpus)
        var undetected = 0

        func run(_ bytes: [UInt8], resealed: Bool = true) {
            cases += 1
            do {
                let frame = try WireCodec.decode(bytes)
                decoded += 1
                XCTAssertEqual(try WireCodec.encode(frame), bytes, "seed \(Self.seed), case \(cases)")
                if !resealed && !originals.contains(bytes) { undetected += 1 }
            } catch {
                codes[error.code, default: 0] += 1
            }
        }

        // Every truncation of every valid frame.
        for frame in corpus { for n in 0..<frame.count { run(Array(frame[..<n]), resealed: false) } }
        for _ in 0..<30_000 {
            // Random bytes; a third behind a plausible length, version and type, a third also with a
            // correct checksum (so that they reach the body parser).
            let body = rng.bytes(Int.random(in: 0...120, using: &rng))
            let payload = [WireCodec.version, UInt8.random(in: 1...2, using: &rng)] + body
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: run(withLength(payload), resealed: false)
            case 1: run(Samples.sealed(payload))
            default: run(body, resealed: false)
            }
        }
        for _ in 0..<50_000 {
            // Mutations of valid frames: flipped, overwritten, inserted and deleted bytes.
            var b = corpus.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !b.isEmpty {
                let i = Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: b[i] ^= 1 << UInt8.random(in: 0...7, using: &rng)
                case 1: b[i] = [0, 1, 2, 0x7F, 0x80, 0xFF].randomElement(using: &rng)!
                case 2: b.insert(.random(in: 0...255, using: &rng), at: i)
                case 3: b.remove(at: i)
                default: b = Array(b[..<i])
                }
            }
            // A third of the time repair the length field (the checksum must catch the damage), a third
            // of the time also the checksum, so that damage reaches the body parser.
            switch Int.random(in: 0..<3, using: &rng) {
            case 0 where b.count >= 4: run(withLength(Array(b[4...])), resealed: false)
            case 1: run(Samples.resealed(b))
            default: run(b, resealed: false)
            }
        }
        for _ in 0..<20_000 {
            // Huge and lying declared lengths, and huge counts inside the body.
            var b = corpus.randomElement(using: &rng)!
            let length =
                Bool.random(using: &rng)
                ? UInt32.random(in: 0 ... .max, using: &rng) : UInt32.max - UInt32.random(in: 0...16, using: &rng)
            if Bool.random(using: &rng) {
                withUnsafeBytes(of: length.bigEndian) { for i in 0..<4 { b[i] = $0[i] } }
            } else if b.count > 10 {
                let i = Int.random(in: 6..<b.count - 4, using: &rng)
                withUnsafeBytes(of: length.bigEndian) { for k in 0..<4 { b[i + k] = $0[k] } }
            }
            run(Bool.random(using: &rng) ? Samples.resealed(b) : b, resealed: true)
        }
        print(
            "fuzz: seed \(Self.seed), \(cases) cases, \(decoded) decoded, \(undetected) damaged frames undetected, errors \(codes.sorted { $0.key.rawValue < $1.key.rawValue })"
        )
        XCTAssertGreaterThanOrEqual(cases, 100_000)
        XCTAssertGreaterThan(decoded, corpus.count, "some resealed mutations (payload bytes) still decode")
        XCTAssertEqual(undetected, 0, "damage without a recomputed checksum never decodes into another frame")
        XCTAssertGreaterThan(codes.count, 8, "the fuzz reaches most error codes")
        XCTAssertGreaterThan(codes[.checksumMismatch] ?? 0, 10_000)
        XCTAssertGreaterThan(codes[.outOfRange] ?? 0, 0, "resealed damage to a term or index is refused by range")
    }

    /// One flipped bit anywhere in a frame (length, version, type, body or checksum) is always refused:
    /// a CRC detects every single-bit error, and a flipped length leaves a frame that is too short or long.
    func testEverySingleBitFlipIsRefused() throws {
        var rng = SplitMix64(seed: 14)
        var frames = Samples.frames(&rng)
        frames.append(try WireCodec.encode(.message(Message(kind: .heartbeat, from: 1, to: 2, term: 3, commit: 4))))
        frames.append(
            try WireCodec.encode(
                .message(
                    Message(
                        kind: .append, from: 3, to: 1, term: 7, logTerm: 7, index: 41,
                        entries: [Entry(term: 7, index: 42, data: Array("mode night".utf8))], commit: 41))))
        var flips = 0
        var codes: [FrameError.Code: Int] = [:]
        for frame in frames {
            for bit in 0..<frame.count * 8 {
                var b = frame
                b[bit / 8] ^= 1 << UInt8(bit % 8)
                flips += 1
                do {
                    let f = try WireCodec.decode(b)
                    XCTFail("bit \(bit) of a \(frame.count)-byte frame flipped, and it decoded as \(f)")
                } catch {
                    codes[error.code, default: 0] += 1
                }
            }
        }
        print(
            "bit flips: \(flips) over \(frames.count) frames, all refused: \(codes.sorted { $0.key.rawValue < $1.key.rawValue })"
        )
        XCTAssertGreaterThan(flips, 10_000)
        XCTAssertGreaterThan(codes[.checksumMismatch] ?? 0, flips / 2)
    }

    private func withLength(_ payload: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt32(payload.count).bigEndian) { Array($0) } + payload
    }
}
