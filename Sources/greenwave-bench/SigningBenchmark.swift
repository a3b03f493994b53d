import ArgumentParser
import CorridorFile
import CorridorMachine
import Foundation
import SignalTiming

/// What signed commands cost each replica: Ed25519 signing (the client), verification (every replica, per
/// command), and a replica's whole apply of a signed command beside the same apply with the verification's
/// time taken out, in one run. `tools/bench-signing` runs it on a release build.
struct SigningBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signing", abstract: "Cost of signing and verifying commands.")
    @Option(help: "Commands per measurement.") var commands = 20_000
    @Option(help: "The corridor file.") var corridor = "corridors/demo-5.yaml"

    func run() throws {
        let doc = try CorridorFile.load(path: corridor)
        let engineer = OperatorSigner(name: "bench", seed: "signing-benchmark")
        let t0 = doc.referenceEpochMs + 86_400_000
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        let commands: [Command] = [.hold(SignalID(2), stage: nil), .release(SignalID(2))]

        // Signing, as the console does once per command.
        var envelopes: [CommandEnvelope] = []
        envelopes.reserveCapacity(self.commands)
        var start = now()
        for i in 0..<self.commands {
            let client = ClientID.timed(createdAtMs: t0 + Int64(i / 1_000) * 1_800_000, random: 1)
            envelopes.append(
                engineer.envelope(
                    corridorID: doc.id, clientID: client, sequence: UInt64(i % 1_000 + 1),
                    leaderTimeMs: t0 + Int64(i / 1_000) * 1_800_000 + Int64(i % 1_000) * 1_000, command: commands[i % 2]
                ))
        }
        let signNs = Double(now() - start) / Double(self.commands)
        let payloads = envelopes.map { $0.encoded() }

        // Verification alone.
        let messages = envelopes.map { $0.signedMessage(corridorID: doc.id) }
        start = now()
        var ok = 0
        for (e, m) in zip(envelopes, messages)
        where OperatorKeys.verify(publicKey: engineer.publicKey, signature: e.signature!.bytes, message: m) { ok += 1 }
        let verifyNs = Double(now() - start) / Double(self.commands)
        guard ok == self.commands else { throw ValidationError("\(self.commands - ok) signatures did not verify") }

        // A replica's whole apply (decode, verify, execute, hash).
        var m = try CorridorMachine(
            corridor: doc.corridor, referenceEpochMs: doc.referenceEpochMs, initialPlan: doc.initialPlan,
            corridorID: doc.id,
            operators: [OperatorRecord(name: engineer.name, publicKey: engineer.publicKey, role: .engineer)])
        start = now()
        var accepted = 0
        for (i, p) in payloads.enumerated()
        where m.apply(index: UInt64(i + 1), term: 1, kind: .normal, payload: p).result?.code != .unauthorized {
            accepted += 1
        }
        let applyNs = Double(now() - start) / Double(self.commands)
        guard accepted == self.commands else {
            throw ValidationError("\(self.commands - accepted) commands were refused as unauthorized")
        }

        func us(_ ns: Double) -> String { String(format: "%8.1f µs", ns / 1000) }
        print("Signed commands, \(self.commands) commands, one core (\(doc.id))")
        print("  sign (client, per command)                       \(us(signNs))")
        print("  verify (every replica, per command)              \(us(verifyNs))")
        print("  apply of a signed command (decode+verify+execute) \(us(applyNs))")
        print("  the same apply without the verification           \(us(max(0, applyNs - verifyNs)))")
        print(String(format: "  verification's share of a replica's apply         %7.1f %%", 100 * verifyNs / applyNs))
        print(
            String(
                format: "  47 replicas verifying one command (on 2 cores)     %7.2f ms of CPU in all",
                47 * verifyNs / 1e6))
    }
}
