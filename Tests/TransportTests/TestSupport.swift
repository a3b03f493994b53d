import RaftCore
@testable import Transport

extension RandomNumberGenerator {
    mutating func bytes(_ count: Int) -> [UInt8] { (0 ..< count).map { _ in UInt8.random(in: 0 ... 255, using: &self) } }
}

enum Samples {
    /// A message of `kind` with every field the kind can carry set to a random value.
    static func message(_ kind: MessageKind, _ rng: inout some RandomNumberGenerator) -> Message {
        var m = Message(
            kind: kind, from: .random(in: 1 ... 300, using: &rng), to: .random(in: 1 ... 300, using: &rng),
            term: rng.next(), logTerm: rng.next(), index: rng.next(), commit: rng.next(), reject: .random(using: &rng),
            rejectHint: rng.next(), hintTerm: rng.next(), context: rng.next()
        )
        if kind == .append || kind == .propose || Bool.random(using: &rng) {
            let kinds: [EntryKind] = [.normal, .noop, .config]
            m.entries = (0 ..< Int.random(in: 0 ... 5, using: &rng)).map { i in
                let k = kinds[i % 3]
                let data: [UInt8] = switch k {
                case .normal: rng.bytes(Int.random(in: 0 ... 40, using: &rng))
                case .noop: []
                case .config: membership(&rng).encoded()
                }
                return Entry(term: rng.next(), index: rng.next(), kind: k, data: data)
            }
        }
        if kind == .snapshot {
            let data = rng.bytes(Int.random(in: 0 ... 64, using: &rng))
            let offset = Int.random(in: 0 ... 1000, using: &rng)
            m.snapshot = SnapshotChunk(
                index: rng.next(), term: rng.next(), membership: membership(&rng), offset: offset,
                total: offset + data.count + Int.random(in: 0 ... 1000, using: &rng), checksum: rng.next(), data: data
            )
        }
        return m
    }

    static func membership(_ rng: inout some RandomNumberGenerator) -> Membership {
        let voters = (0 ..< Int.random(in: 1 ... 5, using: &rng)).map { _ in UInt64.random(in: 1 ... 50, using: &rng) }
        let learners = (0 ..< Int.random(in: 0 ... 4, using: &rng)).map { _ in UInt64.random(in: 51 ... 99, using: &rng) }
        return Membership(voters: voters, learners: learners)
    }

    /// Valid encoded frames: a hello and one message of every kind.
    static func frames(_ rng: inout some RandomNumberGenerator) -> [[UInt8]] {
        var frames = [try! WireCodec.encode(.hello(Hello(clusterID: "weh-corridor", nodeID: 7)))]
        for kind in MessageKind.allCases { frames.append(try! WireCodec.encode(.message(message(kind, &rng)))) }
        return frames
    }
}
