import RaftCore
import XCTest
@testable import Transport

/// Feeds the decoder random and damaged input. Each case must end in a frame or a `FrameError`; a trap
/// fails the whole run. A decoded frame must re-encode to exactly the input (one encoding per frame).
final class FuzzTests: XCTestCase {
    static let seed: UInt64 = 0x6772_6565_6E77_6176

    func testDecoderSurvivesRandomDamagedAndHugeInput() throws {
        var rng = SplitMix64(seed: Self.seed)
        var corpus: [[UInt8]] = []
        for _ in 0 ..< 4 { corpus += Samples.frames(&rng) }
        var cases = 0
        var decoded = 0
        var codes: [FrameError.Code: Int] = [:]

        func run(_ bytes: [UInt8]) {
            cases += 1
            do {
                let frame = try WireCodec.decode(bytes)
                decoded += 1
                XCTAssertEqual(try WireCodec.encode(frame), bytes, "seed \(Self.seed), case \(cases)")
            } catch {
                codes[error.code, default: 0] += 1
            }
        }

        // Every truncation of every valid frame.
        for frame in corpus { for n in 0 ..< frame.count { run(Array(frame[..<n])) } }
        for _ in 0 ..< 30_000 {
            // Random bytes, half of them behind a plausible length, version and type.
            let body = rng.bytes(Int.random(in: 0 ... 120, using: &rng))
            if Bool.random(using: &rng) {
                let payload = [WireCodec.version, UInt8.random(in: 1 ... 2, using: &rng)] + body
                run(withLength(payload))
            } else {
                run(body)
            }
        }
        for _ in 0 ..< 50_000 {
            // Mutations of valid frames: flipped, overwritten, inserted and deleted bytes.
            var b = corpus.randomElement(using: &rng)!
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &rng) where !b.isEmpty {
                let i = Int.random(in: 0 ..< b.count, using: &rng)
                switch Int.random(in: 0 ..< 5, using: &rng) {
                case 0: b[i] ^= 1 << UInt8.random(in: 0 ... 7, using: &rng)
                case 1: b[i] = [0, 1, 2, 0x7F, 0x80, 0xFF].randomElement(using: &rng)!
                case 2: b.insert(.random(in: 0 ... 255, using: &rng), at: i)
                case 3: b.remove(at: i)
                default: b = Array(b[..<i])
                }
            }
            // Half the time repair the length field, so that damage reaches the body.
            if Bool.random(using: &rng), b.count >= 4 { b = withLength(Array(b[4...])) }
            run(b)
        }
        for _ in 0 ..< 20_000 {
            // Huge and lying declared lengths, and huge counts inside the body.
            var b = corpus.randomElement(using: &rng)!
            let length = Bool.random(using: &rng) ? UInt32.random(in: 0 ... .max, using: &rng) : UInt32.max - UInt32.random(in: 0 ... 16, using: &rng)
            if Bool.random(using: &rng) {
                withUnsafeBytes(of: length.bigEndian) { for i in 0 ..< 4 { b[i] = $0[i] } }
            } else if b.count > 10 {
                let i = Int.random(in: 6 ..< b.count - 4, using: &rng)
                withUnsafeBytes(of: length.bigEndian) { for k in 0 ..< 4 { b[i + k] = $0[k] } }
            }
            run(b)
        }
        print("fuzz: seed \(Self.seed), \(cases) cases, \(decoded) decoded, errors \(codes.sorted { $0.key.rawValue < $1.key.rawValue })")
        XCTAssertGreaterThanOrEqual(cases, 100_000)
        XCTAssertGreaterThan(decoded, corpus.count, "some mutations (payload bytes) still decode")
        XCTAssertGreaterThan(codes.count, 6, "the fuzz reaches most error codes")
    }

    private func withLength(_ payload: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt32(payload.count).bigEndian) { Array($0) } + payload
    }
}
