import RaftCore

@testable import Transport

extension RandomNumberGenerator {
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) } }
    /// A term or index the wire accepts (≤ 2^63 − 1), the extremes included more often than by chance.
    mutating func bounded() -> UInt64 {
        switch next() % 8 {
        case 0: return 0
        case 1: return maxTerm
        default: return next() & maxTerm
        }
    }
}

enum Samples {
    /// A message of `kind` with every field the kind can carry set to a random value.
    static func message(_ kind: MessageKind, _ rng: inout some RandomNumberGenerator) -> Message {
        var m = Message(
            kind: kind, from: .random(in: 1...300, using: &rng), to: .random(in: 1...300, using: &rng),
            term: rng.bounded(), logTerm: rng.bounded(), index: rng.bounded(), commit: rng.bounded(),
            reject: .random(using: &rng),
            rejectHint: rng.bounded(), hintTerm: rng.bounded(), context: rng.next()
        )
        if kind == .append || Bool.random(using: &rng) {
            let kinds: [EntryKind] = [.normal, .noop, .config]
            m.entries = (0..<Int.random(in: 0...5, using: &rng)).map { i in
                let k = kinds[i % 3]
                let data: [UInt8] =
                    switch k {
                    case .normal: rng.bytes(Int.random(in: 0...40, using: &rng))
                    case .noop: []
                    case .config: membership(&rng).encoded()
                    }
                return Entry(term: rng.bounded(), index: rng.bounded(), kind: k, data: data)
            }
        }
        if kind == .append {
            // An append continues the log after `index` with terms from `logTerm` up to `term`.
            m.logTerm = min(m.logTerm, m.term)
            m.index = min(m.index, maxLogIndex - 8)
            var t = m.logTerm
            for i in m.entries.indices {
                t = t == m.term ? t : UInt64.random(in: t...m.term, using: &rng)
                m.entries[i].term = t
                m.entries[i].index = m.index + 1 + UInt64(i)
            }
        }
        if kind == .snapshot {
            let data = rng.bytes(Int.random(in: 0...64, using: &rng))
            let offset = Int.random(in: 0...1000, using: &rng)
            m.snapshot = SnapshotChunk(
                index: rng.bounded(), term: rng.bounded(), membership: membership(&rng), offset: offset,
                total: offset + data.count + Int.random(in: 0...1000, using: &rng), checksum: rng.next(), data: data
            )
        }
        return m
    }

    static func membership(_ rng: inout some RandomNumberGenerator) -> Membership {
        let voters = (0..<Int.random(in: 1...5, using: &rng)).map { _ in UInt64.random(in: 1...50, using: &rng) }
        let learners = (0..<Int.random(in: 0...4, using: &rng)).map { _ in UInt64.random(in: 51...99, using: &rng) }
        return Membership(voters: voters, learners: learners)
    }

    /// Valid encoded frames: a hello and one message of every kind.
    static func frames(_ rng: inout some RandomNumberGenerator) -> [[UInt8]] {
        var frames = [try! WireCodec.encode(.hello(Hello(clusterID: "weh-corridor", nodeID: 7)))]
        for kind in MessageKind.allCases { frames.append(try! WireCodec.encode(.message(message(kind, &rng)))) }
        return frames
    }

    /// Recomputes the length field and checksum of a (possibly damaged) frame, so that damage reaches the
    /// body parser instead of being caught by the checksum.
    static func resealed(_ frame: [UInt8]) -> [UInt8] {
        guard frame.count >= 4 + WireCodec.checksumBytes else { return frame }
        var b = Array(frame[..<(frame.count - WireCodec.checksumBytes)])
        WireCodec.seal(&b)
        return b
    }

    /// A frame around `payload` (version, type and body): length field and checksum added.
    static func sealed(_ payload: [UInt8]) -> [UInt8] {
        var b: [UInt8] = [0, 0, 0, 0] + payload
        WireCodec.seal(&b)
        return b
    }
}
