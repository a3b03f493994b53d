import Controller
import CorridorFile
import CorridorMachine
import Foundation
import GreenwaveAPI

/// The operators of the controller tests: keys derived from their names, in the registry from the start.
enum TestOperators {
    static let engineer = OperatorSigner(name: "asha", seed: "controller-test/asha")
    static let supervisor = OperatorSigner(name: "sue", seed: "controller-test/sue")
    static let operatorKey = OperatorSigner(name: "oscar", seed: "controller-test/oscar")
    static let viewer = OperatorSigner(name: "vic", seed: "controller-test/vic")
    /// Known to nobody: its commands are refused as unregistered.
    static let stranger = OperatorSigner(name: "mallory", seed: "controller-test/mallory")

    /// The `security:` block for the tests' operators (asha the first engineer).
    static var securityBlock: String {
        func key(_ s: OperatorSigner) -> String { Data(s.publicKey).base64EncodedString() }
        return """

            security:
              first_engineer:
                name: \(engineer.name)
                public_key: \(key(engineer))
              operators:
                - { name: \(supervisor.name), role: supervisor, public_key: \(key(supervisor)) }
                - { name: \(operatorKey.name), role: operator, public_key: \(key(operatorKey)) }
                - { name: \(viewer.name), role: viewer, public_key: \(key(viewer)) }

            """
    }

    /// A corridor file's text with the tests' operators added.
    static func secured(_ yaml: String) -> String {
        yaml.hasSuffix("\n") ? yaml + securityBlock : yaml + "\n" + securityBlock
    }
}

extension CommandRequest {
    /// Signed by the tests' engineer (or `by`) for `document`.
    func signedForTest(
        _ document: CorridorDocument, by signer: OperatorSigner = TestOperators.engineer
    ) -> CommandRequest {
        try! signed(by: signer, document: document)
    }
}
