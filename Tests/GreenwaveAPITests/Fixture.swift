import CorridorFile
import CorridorMachine
import Foundation
import GreenwaveTestSupport

/// The demo corridor (corridors/demo-5.yaml), loaded once, and a registry with one operator.
enum Fixture {
    static let repoRoot: String = Repo.root.path
    static let document: CorridorDocument = {
        do { return try CorridorFile.load(path: Repo.demoCorridor) } catch { fatalError("\(error)") }
    }()
    static let reader = OperatorSigner(name: "vic", seed: "greenwave-api-test/vic")
    static let engineer = OperatorSigner(name: "asha", seed: "greenwave-api-test/asha")
    /// Registered, but its key was revoked.
    static let revoked = OperatorSigner(name: "ron", seed: "greenwave-api-test/ron")
    /// Known to nobody.
    static let stranger = OperatorSigner(name: "mallory", seed: "greenwave-api-test/mallory")

    /// The demo corridor's state machine with `engineer`, `reader` (a viewer) and `revoked` registered.
    static func machine() -> CorridorMachine {
        do {
            return try CorridorMachine(
                corridor: document.corridor, referenceEpochMs: document.referenceEpochMs,
                initialPlan: document.initialPlan, corridorID: document.id,
                operators: [
                    OperatorRecord(name: engineer.name, publicKey: engineer.publicKey, role: .engineer),
                    OperatorRecord(name: reader.name, publicKey: reader.publicKey, role: .viewer),
                    OperatorRecord(
                        name: revoked.name, publicKey: revoked.publicKey, role: .viewer,
                        revokedAtIndex: 3)
                ])
        } catch { fatalError("\(error)") }
    }
}
