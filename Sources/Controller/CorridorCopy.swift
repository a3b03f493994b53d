import Foundation
import Logging

/// The controller keeps a copy of the corridor file it first started with in its data folder, so that
/// the folder alone is enough to replay its audit chain from the first command
/// (`greenwave audit verify`): the state machine starts from that corridor, reference epoch and
/// initial plan, and a different file would give different state hashes.
public enum CorridorCopy {
    /// `DATA/corridor.yaml`.
    public static let fileName = "corridor.yaml"

    /// Writes the corridor file's bytes to `DATA/corridor.yaml` if the folder has no copy yet. An
    /// existing copy is never replaced: it records what the folder's history started from. A copy
    /// that differs from the file given now is reported (the audit keeps using the recorded one).
    /// - Returns: true if a copy was written.
    @discardableResult
    public static func record(corridorPath: String, dataDirectory: String, logger: Logger) throws -> Bool {
        let target = (dataDirectory as NSString).appendingPathComponent(fileName)
        guard let bytes = FileManager.default.contents(atPath: corridorPath) else {
            throw ControllerError.configuration("cannot read the corridor file \(corridorPath)")
        }
        if let existing = FileManager.default.contents(atPath: target) {
            if existing != bytes {
                logger.warning(
                    "the corridor file differs from the copy recorded in the data folder at first start; the audit replays from the recorded copy",
                    metadata: ["corridor.file": "\(corridorPath)", "corridor.copy": "\(target)"])
            }
            return false
        }
        do {
            try bytes.write(to: URL(fileURLWithPath: target), options: .atomic)
        } catch {
            throw ControllerError.configuration("cannot write \(target): \(error.localizedDescription)")
        }
        return true
    }
}
