import CorridorMachine
import Crypto
import Foundation
import RaftCore
import Storage

/// Where a replay starts.
public enum ReplayStart: Sendable, Equatable {
    /// The corridor's initial state when one is known (the folder's `corridor.yaml` or `--corridor`),
    /// else the oldest stored snapshot that verifies.
    case automatic
    /// The corridor's initial state, before the first command.
    case genesis
    /// A stored snapshot (nil: the newest), after checking its checksum and hash.
    case snapshot(LogIndex?)
}

/// A machine to replay onto, and what it was built from.
public struct ReplayOrigin: Sendable {
    public var machine: CorridorMachine
    /// Entries at or below this index are inside the starting state (0: the corridor's initial state).
    public var index: LogIndex
    /// "corridor s01/corridor.yaml" or "snapshot at index 4000 (verified)".
    public var description: String
}

public enum Replayer {
    /// Builds the starting machine for `folder`.
    public static func origin(folder: DataFolder, corridor override: String?, start: ReplayStart) throws -> ReplayOrigin
    {
        func genesis() throws -> ReplayOrigin? {
            guard let (doc, source) = try folder.corridor(override: override) else { return nil }
            do {
                let m = try CorridorMachine(genesisOf: doc)
                return ReplayOrigin(machine: m, index: 0, description: "the initial state of corridor \(source)")
            } catch {
                throw AuditError("corridor \(source): cannot build the initial state: \(error)")
            }
        }
        func snapshot(_ which: LogIndex?) throws -> ReplayOrigin? {
            let all = try folder.snapshots()
            let pick: DataFolder.SnapshotRow?
            if let i = which {
                pick = all.first { $0.index == i }
                guard pick != nil else {
                    throw AuditError(
                        "--from-snapshot \(i): \(folder.path) has no snapshot at that index (snapshots: \(all.isEmpty ? "none" : all.map { "\($0.index)" }.joined(separator: ", ")))"
                    )
                }
            } else {
                pick = all.last
            }
            guard let s = pick else { return nil }
            switch verify(s) {
            case .success(let m):
                return ReplayOrigin(
                    machine: m, index: s.index,
                    description: "the snapshot at index \(s.index) (checksum and state hash verified)")
            case .failure(let why):
                throw AuditError(
                    "the snapshot at index \(s.index) in \(folder.path) cannot be trusted: \(why)", badInput: false)
            }
        }
        switch start {
        case .genesis:
            guard let g = try genesis() else {
                throw AuditError(
                    "\(folder.path) has no \(DataFolder.corridorCopyName) (recorded by controllers since issue 8); pass --corridor FILE, the corridor file the controller was first started with"
                )
            }
            return g
        case .snapshot(let i):
            guard let s = try snapshot(i) else { throw AuditError("\(folder.path) has no stored snapshot") }
            return s
        case .automatic:
            if let g = try genesis() { return g }
            // No corridor: the oldest snapshot that verifies.
            for s in try folder.snapshots() {
                if case .success(let m) = verify(s) {
                    return ReplayOrigin(
                        machine: m, index: s.index,
                        description:
                            "the snapshot at index \(s.index) (checksum and state hash verified; no corridor copy in the folder)"
                    )
                }
            }
            throw AuditError(
                "\(folder.path) has neither \(DataFolder.corridorCopyName) nor a usable snapshot; pass --corridor FILE (the corridor file the controller was first started with)"
            )
        }
    }

    /// Checks a stored snapshot before anything uses it: the SHA-256 recorded with it, then its own
    /// framing (magic, version, the state's SHA-256 inside it, its applied index), then that the
    /// state decodes. Returns the machine at the snapshot, or why it cannot be trusted.
    public static func verify(_ s: DataFolder.SnapshotRow) -> Result<CorridorMachine, SnapshotProblem> {
        let computed = Array(SHA256.hash(data: s.data))
        guard computed == s.sha256 else {
            return .failure(.checksumMismatch(stored: hexString(s.sha256), computed: hexString(computed)))
        }
        let framed: MachineSnapshot
        do {
            framed = try MachineSnapshot.decode(s.data)
        } catch {
            return .failure(.undecodable("\(error)"))
        }
        guard framed.appliedIndex == s.index else {
            return .failure(
                .undecodable(
                    "it says it is the state at index \(framed.appliedIndex), but it is stored at index \(s.index)"))
        }
        do {
            return .success(try CorridorMachine(snapshot: framed))
        } catch {
            return .failure(.undecodable("\(error)"))
        }
    }

    public enum SnapshotProblem: Error, CustomStringConvertible, Sendable {
        case checksumMismatch(stored: String, computed: String)
        case undecodable(String)
        public var description: String {
            switch self {
            case .checksumMismatch(let stored, let computed):
                return "its data does not match its recorded SHA-256 (recorded \(stored), computed \(computed))"
            case .undecodable(let why): return "it does not decode: \(why)"
            }
        }
    }
}
