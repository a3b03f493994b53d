import CorridorMachine
import Foundation

/// The read credential: `X-Greenwave-Auth: <key id>:<time ms>:<base64 signature>`, the operator's Ed25519
/// signature over a domain tag, the corridor id, the method, the path (without the query) and the time.
/// A controller accepts it from an active key of its registry, within `maxSkewMs` of its own clock.
public enum ReadCredential {
    public static let headerName = "x-greenwave-auth"
    /// How far the credential's time may be from the controller's clock (a captured header is good for
    /// reads for at most this long).
    public static let maxSkewMs: Int64 = 300_000
    static let domain = "greenwave-read-v1"

    static func message(corridorID: String, method: String, path: String, timeMs: Int64) -> [UInt8] {
        Array("\(domain)\u{0}\(corridorID)\u{0}\(method)\u{0}\(path)\u{0}\(timeMs)".utf8)
    }

    /// The header value for a read of `path` by `signer`.
    public static func header(
        _ signer: OperatorSigner, corridorID: String, method: String = "GET", path: String, nowMs: Int64
    ) -> String {
        let sig = signer.sign(message(corridorID: corridorID, method: method, path: path, timeMs: nowMs))
        return "\(OperatorKeys.keyIDText(signer.keyID)):\(nowMs):\(Data(sig).base64EncodedString())"
    }

    /// Why the credential does not admit the read, or nil when it does: the controller's check, next to the
    /// construction it checks, so that the two cannot drift apart.
    public static func problem(
        _ value: String?, corridorID: String, method: String, path: String, nowMs: Int64,
        machine: CorridorMachine
    ) -> String? {
        guard let value else {
            return "this controller's API needs a read credential (\(headerName), docs/security.md)"
        }
        guard value.utf8.count <= 160 else { return "malformed read credential" }
        let parts = value.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let id = OperatorKeys.parseKeyID(parts[0]), let t = Int64(parts[1]),
            let sig = Data(base64Encoded: parts[2]), sig.count == 64
        else { return "malformed read credential" }
        let skew = t > nowMs ? t - nowMs : nowMs - t // both are wall-clock times in range: no overflow
        guard t >= 0, skew <= maxSkewMs else {
            return "read credential time \(t) is more than \(maxSkewMs / 1000) s from this controller's clock"
        }
        guard let record = machine.operatorKey(id), record.isActive else {
            return "read credential key \(parts[0]) is not an active operator key"
        }
        guard
            OperatorKeys.verify(
                publicKey: record.publicKey, signature: Array(sig),
                message: message(corridorID: corridorID, method: method, path: path, timeMs: t))
        else {
            return "read credential signature does not verify"
        }
        return nil
    }
}
