import CorridorFile
import Foundation
import Logging
import RaftCore
import SignalTiming
import Storage

/// `greenwave controller resync`: makes a data folder that failed a start-up check (a corrupt log entry
/// or snapshot, a state hash that disagrees with its audit rows) rejoin by catching up from the healthy
/// replicas. It keeps the identity and the hard state's term and vote (a voter never votes twice in a
/// term), and the audit rows and lamp events (evidence, append-only); it drops the log, the snapshots
/// and so the state derived from them: on its next start the node holds nothing to apply, and the
/// leader sends it the log, or a snapshot when the leader's log is compacted.
///
/// A voter is refused unless `force`: a wiped voter that acknowledged entries can lose a committed
/// entry if the other voters that hold it fail too (its acknowledgement counted towards the quorum).
/// Remove it from the membership first, re-sync it as a learner, then add it back.
public enum Resync {
    public struct Report: Sendable, Equatable {
        public var node: NodeID
        public var outcome: ResyncOutcome
        public var wasVoter: Bool
        public var membershipSource: String
    }

    public static func run(dataDirectory: String, corridorPath: String, force: Bool) throws -> Report {
        let db = (dataDirectory as NSString).appendingPathComponent(RaftStore.databaseFileName)
        guard FileManager.default.fileExists(atPath: db) else {
            throw ControllerError.configuration(
                "\(dataDirectory) has no database \(RaftStore.databaseFileName): there is no term or vote to keep, nothing to re-sync. Re-create the replica with `greenwave controller --force-new-member` (a voter: remove it from the membership first)"
            )
        }
        let doc: CorridorDocument
        do { doc = try CorridorFile.load(path: corridorPath) } catch {
            throw ControllerError.configuration("\(error)")
        }
        let store = try RaftStore(directory: dataDirectory)
        defer { try? store.close() }
        let record = try store.folderRecord()
        guard let recorded = record.identity else {
            throw ControllerError.configuration(
                "\(dataDirectory) records no identity (it was never started by this version, or its database was emptied): nothing to re-sync against. Start it once normally, or re-create it with `greenwave controller --force-new-member`"
            )
        }
        guard recorded.corridorID == doc.id else {
            throw StartupRefusal.otherCorridor(folder: dataDirectory, recorded: recorded.corridorID, given: doc.id)
        }
        let signal = SignalID(Int(truncatingIfNeeded: recorded.nodeID))
        guard doc.corridor.signals.contains(where: { $0.id == signal }) else {
            throw ControllerError.configuration(
                "signal \(recorded.nodeID), whose folder this is, is not in \(corridorPath)")
        }
        let options = try ControllerOptions(
            corridorPath: corridorPath, document: doc, signal: signal, dataDirectory: dataDirectory)
        let given = try StartupCheck.identity(for: options)
        guard
            recorded.fingerprint == given.fingerprint
                || StartupCheck.firstStartIdentity(options)?.fingerprint == given.fingerprint
        else {
            throw StartupRefusal.otherCorridorFile(
                folder: dataDirectory, corridorPath: corridorPath,
                differences: StartupCheck.differences(
                    recorded: recorded, given: given, folder: dataDirectory, document: doc),
                recorded: recorded.fingerprintHex, given: given.fingerprintHex)
        }
        let known = try store.newestKnownMembership()
        let membership = known?.membership ?? Membership(voters: recorded.voters, learners: recorded.learners)
        let source = known?.source ?? "the corridor file it was first started with"
        let voter = membership.isVoter(recorded.nodeID)
        if voter && !force {
            throw ControllerError.configuration(
                "refusing to re-sync \(dataDirectory): signal \(recorded.nodeID) is a voter in its newest known membership (\(source)). A wiped voter can lose a committed entry: its acknowledgement may have counted towards the quorum of entries the other voters do not all hold. Remove it from the membership first (it stays a learner), re-sync, let it catch up, then add it back; or pass --force if you know every committed entry is held by a majority without it"
            )
        }
        let outcome = try store.resetForResync()
        return Report(node: recorded.nodeID, outcome: outcome, wasVoter: voter, membershipSource: source)
    }
}
