import CorridorFile
import CorridorMachine
import Foundation
import GreenwaveAPI
import Logging
import RaftCore
import SignalTiming
import Storage

/// Why a controller refuses to start on its data folder. Every message says what differs (recorded
/// vs given) and how to proceed; docs/operations.md, "Start-up refusals and recovery", lists them.
public enum StartupRefusal: Error, CustomStringConvertible, Sendable, Equatable {
    /// The folder belongs to another corridor.
    case otherCorridor(folder: String, recorded: String, given: String)
    /// The folder belongs to another node of this corridor.
    case otherNode(folder: String, recorded: NodeID, given: NodeID)
    /// The corridor file's membership or timing differs from the one the folder was first started with.
    case otherCorridorFile(folder: String, corridorPath: String, differences: [String], recorded: String, given: String)
    /// The folder shows a history but its database is gone.
    case databaseMissing(folder: String, evidence: [String])
    /// The folder shows a history but its database holds no Raft state.
    case databaseEmpty(folder: String, evidence: [String])
    /// The stored hard state is below what this database once held: it lost (or was given back) state.
    case stateLost(folder: String, term: Term, highestTerm: Term, commit: LogIndex, highestCommit: LogIndex)
    /// Replaying the log onto the snapshot does not give the state hash recorded in the audit row.
    case stateDiverged(folder: String, index: LogIndex, recorded: String, replayed: String)
    /// The stored snapshot does not decode, or is not at the index it is stored under.
    case badSnapshot(folder: String, index: LogIndex, reason: String)
    /// The store refused to load (a corrupt log entry, a corrupt snapshot, a row out of range).
    case corruptStorage(folder: String, error: StorageError)

    static let resyncHint =
        "re-sync this replica from the healthy ones: stop it, run `greenwave controller resync --data DIR --corridor FILE` (a voter must first be removed from the membership, or pass --force knowing why: docs/operations.md), then start it"

    public var description: String {
        switch self {
        case .otherCorridor(let folder, let recorded, let given):
            return
                "refusing to start: the data folder \(folder) belongs to corridor '\(recorded)', the corridor file given is for '\(given)'. Start it with the corridor file of '\(recorded)' (its copy is \(folder)/\(CorridorCopy.fileName)), or use another data folder for '\(given)'"
        case .otherNode(let folder, let recorded, let given):
            return
                "refusing to start: the data folder \(folder) belongs to signal \(recorded), not signal \(given). Start signal \(recorded) on it (--signal \(recorded)), or give signal \(given) its own data folder"
        case .otherCorridorFile(let folder, let path, let differences, let recorded, let given):
            return
                "refusing to start: the corridor file \(path) differs from the one the data folder \(folder) was first started with: \(differences.joined(separator: "; ")) (fingerprint recorded \(recorded), given \(given)). Start with the corridor file the folder was first started with (its copy is \(folder)/\(CorridorCopy.fileName)); plans change with an updatePlan command and membership through Raft, never by editing the file; to make this node a member of another cluster, move the folder aside and start on an empty one"
        case .databaseMissing(let folder, let evidence):
            return
                "refusing to start: the data folder \(folder) has a history (\(evidence.joined(separator: "; "))) but no database \(RaftStore.databaseFileName): starting would make this node a brand-new member that forgot its term, its vote and its log. Restore the database, or re-create this replica: remove a voter from the membership first, then start with --force-new-member (this node joins with no memory)"
        case .databaseEmpty(let folder, let evidence):
            return
                "refusing to start: the data folder \(folder) has a history (\(evidence.joined(separator: "; "))) but its database holds no Raft state (no term, no vote, no log): starting would make this node a brand-new member that forgot its term, its vote and its log. Restore the database, or re-create this replica: remove a voter from the membership first, then start with --force-new-member (this node joins with no memory)"
        case .stateLost(let folder, let term, let highestTerm, let commit, let highestCommit):
            return
                "refusing to start: the database in \(folder) went backwards: it holds term \(term) and commit index \(commit), but once held term \(highestTerm) and commit index \(highestCommit); a node that forgot its term can vote twice in it. Restore the database, or re-create this replica: remove a voter from the membership first, then start with --force-new-member (this node joins with no memory)"
        case .stateDiverged(let folder, let index, let recorded, let replayed):
            return
                "refusing to start: the start-up self-check of \(folder) replayed its log onto its snapshot and at index \(index) got state hash \(replayed), but its audit row records \(recorded): this replica's log or state is not what it applied. Keep the folder for `greenwave audit verify`; \(Self.resyncHint)"
        case .badSnapshot(let folder, let index, let reason):
            return
                "refusing to start: the snapshot at index \(index) in \(folder) cannot be used: \(reason). \(Self.resyncHint)"
        case .corruptStorage(let folder, let error):
            return "refusing to start on \(folder): \(error). \(Self.resyncHint)"
        }
    }
}

/// The start-up checks of a controller's data folder (docs/storage.md, docs/operations.md):
/// whose it is (`checkBeforeOpening`, `checkIdentity`), and that its log replays to the state hashes
/// it recorded (`selfCheck`).
public enum StartupCheck {
    // MARK: - Identity

    /// SHA-256 over the canonical encoding of what the folder's history depends on in the corridor
    /// file: its id, the membership (voters, learners: sorted ids) and the state machine's initial state
    /// built from it — `CorridorMachine.encodedState()` of the genesis, which holds every signal, phase,
    /// stage, plan (cycle, splits, offsets, progression), the safety timings, the reference epoch and
    /// the initial plan. Addresses (peer, api) and display names of directions are not in it: they may
    /// change. Layout (v1): "GWFP" | u8 1 | u32 len + corridor id | u16 n + voters (u64 each) |
    /// u16 n + learners (u64 each) | u32 len + genesis state; integers big-endian.
    public static func fingerprint(document: CorridorDocument, membership: Membership) throws -> [UInt8] {
        let genesis = try CorridorMachine(genesisOf: document)
        var out: [UInt8] = Array("GWFP".utf8)
        out.append(UInt8(FolderIdentity.currentFormat))
        func u16(_ v: Int) {
            withUnsafeBytes(of: UInt16(truncatingIfNeeded: v).bigEndian) { out.append(contentsOf: $0) }
        }
        func u32(_ v: Int) {
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: v).bigEndian) { out.append(contentsOf: $0) }
        }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) } }
        let id = Array(document.id.utf8)
        u32(id.count)
        out.append(contentsOf: id)
        let voters = membership.voters.sorted()
        let learners = membership.learners.sorted()
        u16(voters.count)
        voters.forEach(u64)
        u16(learners.count)
        learners.forEach(u64)
        let state = genesis.encodedState()
        u32(state.count)
        out.append(contentsOf: state)
        return FolderIdentity.digest(out)
    }

    /// The identity a controller started with `options` records (or must find) in its folder.
    public static func identity(for options: ControllerOptions) throws -> FolderIdentity {
        let m = options.membership
        let fp = try fingerprint(document: options.document, membership: m)
        return FolderIdentity(
            corridorID: options.document.id, nodeID: options.nodeID,
            clusterID: "\(options.document.id)-\(fp.prefix(8).map { String(format: "%02x", $0) }.joined())",
            fingerprint: fp, voters: m.voters, learners: m.learners, recordedAtMs: wallClockMs())
    }

    /// What in the folder shows that a controller ran on it before (besides the database).
    /// (`databaseMissing`: also a write-ahead log left without its database; once the store is open
    /// it has made its own.)
    static func historyEvidence(folder: String, databaseMissing: Bool = false) -> [String] {
        let fm = FileManager.default
        var out: [String] = []
        let copy = (folder as NSString).appendingPathComponent(CorridorCopy.fileName)
        if fm.fileExists(atPath: copy) { out.append("\(copy), the corridor file recorded at its first start") }
        let wal = (folder as NSString).appendingPathComponent(RaftStore.databaseFileName + "-wal")
        if databaseMissing, fm.fileExists(atPath: wal) { out.append("\(wal), a write-ahead log") }
        return out
    }

    /// Before the store is opened (which would create a database): a folder that shows a history but
    /// has no database is refused, unless `options.forceNewMember`.
    public static func checkBeforeOpening(_ options: ControllerOptions, logger: Logger) throws {
        let db = (options.dataDirectory as NSString).appendingPathComponent(RaftStore.databaseFileName)
        guard !FileManager.default.fileExists(atPath: db) else { return }
        let evidence = historyEvidence(folder: options.dataDirectory, databaseMissing: true)
        guard !evidence.isEmpty else { return }
        if options.forceNewMember {
            logger.critical(
                "--force-new-member: the data folder has a history but no database; this node starts with no memory (no term, no vote, no log)",
                metadata: ["data": "\(options.dataDirectory)", "evidence": "\(evidence)"])
            return
        }
        throw StartupRefusal.databaseMissing(folder: options.dataDirectory, evidence: evidence)
    }

    /// After the store is opened, before anything else is written: records the folder's identity at
    /// first start; on every later start refuses another corridor, another node, another corridor file
    /// (by fingerprint) and a database that lost its state.
    public static func checkIdentity(store: RaftStore, options: ControllerOptions, logger: Logger) throws {
        let record = try store.folderRecord()
        let given = try identity(for: options)
        if let recorded = record.identity {
            try checkRecorded(recorded, given: given, record: record, store: store, options: options, logger: logger)
            return
        }
        try checkBeforeRecording(given, record: record, options: options, logger: logger)
        let folder = options.dataDirectory
        try store.recordIdentity(given)
        logger.info(
            "data folder identity recorded",
            metadata: [
                "data": "\(folder)", "corridor": "\(given.corridorID)", "node": "\(given.nodeID)",
                "cluster": "\(given.clusterID)",
                "fingerprint": "\(given.fingerprintHex)"
            ])
    }

    /// A folder with a recorded identity: the same corridor, node and corridor file (a fingerprint that
    /// only this build computes differently is re-recorded), and a hard state that never went backwards
    /// (unless --force-new-member).
    static func checkRecorded(
        _ recorded: FolderIdentity, given: FolderIdentity, record: FolderRecord, store: RaftStore,
        options: ControllerOptions, logger: Logger
    ) throws {
        let folder = options.dataDirectory
        guard recorded.corridorID == given.corridorID else {
            throw StartupRefusal.otherCorridor(
                folder: folder, recorded: recorded.corridorID, given: given.corridorID)
        }
        guard recorded.nodeID == given.nodeID else {
            throw StartupRefusal.otherNode(folder: folder, recorded: recorded.nodeID, given: given.nodeID)
        }
        if recorded.fingerprint != given.fingerprint {
            // The same file as at first start whose fingerprint this build computes differently (a
            // new state encoding changes the genesis bytes): the folder's copy of the first file
            // decides. Otherwise: another corridor file.
            if let first = firstStartIdentity(options), first.fingerprint == given.fingerprint {
                logger.notice(
                    "the corridor file is the one of the first start; recording the fingerprint this build computes",
                    metadata: [
                        "data": "\(folder)", "fingerprint.recorded": "\(recorded.fingerprintHex)",
                        "fingerprint.now": "\(given.fingerprintHex)"
                    ])
                try store.updateFingerprint(given.fingerprint)
            } else {
                throw StartupRefusal.otherCorridorFile(
                    folder: folder, corridorPath: options.corridorPath,
                    differences: differences(
                        recorded: recorded, given: given, folder: folder, document: options.document),
                    recorded: recorded.fingerprintHex, given: given.fingerprintHex)
            }
        }
        if record.hardState.term < record.highWaterTerm || record.hardState.commit < record.highWaterCommit {
            guard options.forceNewMember else {
                throw StartupRefusal.stateLost(
                    folder: folder, term: record.hardState.term, highestTerm: record.highWaterTerm,
                    commit: record.hardState.commit, highestCommit: record.highWaterCommit)
            }
            logger.critical(
                "--force-new-member: the database lost its state; this node starts with no memory of it",
                metadata: [
                    "data": "\(folder)", "raft.term": "\(record.hardState.term)",
                    "highest.term": "\(record.highWaterTerm)"
                ])
            try store.resetHighWaterMarks()
        }
    }

    /// A folder without a recorded identity: refused if it has a history but an empty database (unless
    /// --force-new-member); an upgraded folder's first corridor file must be the one given.
    static func checkBeforeRecording(
        _ given: FolderIdentity, record: FolderRecord, options: ControllerOptions, logger: Logger
    ) throws {
        let folder = options.dataDirectory
        // No identity recorded: a new folder, a folder written before identities were recorded, or a
        // database that was emptied or re-created.
        if !record.hasRaftState {
            var evidence = historyEvidence(folder: folder)
            if record.auditRows > 0 { evidence.append("\(record.auditRows) audit rows") }
            if record.lampEvents > 0 { evidence.append("\(record.lampEvents) lamp events") }
            if !evidence.isEmpty {
                guard options.forceNewMember else {
                    throw StartupRefusal.databaseEmpty(folder: folder, evidence: evidence)
                }
                logger.critical(
                    "--force-new-member: the data folder has a history but an empty database; this node starts with no memory (no term, no vote, no log)",
                    metadata: ["data": "\(folder)", "evidence": "\(evidence)"])
            }
        } else {
            // Upgrade: the folder's own copy of the corridor file says what it was first started with.
            if let recorded = firstStartIdentity(options) {
                if recorded.corridorID != given.corridorID {
                    throw StartupRefusal.otherCorridor(
                        folder: folder, recorded: recorded.corridorID, given: given.corridorID)
                }
                if recorded.fingerprint != given.fingerprint {
                    throw StartupRefusal.otherCorridorFile(
                        folder: folder, corridorPath: options.corridorPath,
                        differences: differences(
                            recorded: recorded, given: given, folder: folder, document: options.document),
                        recorded: recorded.fingerprintHex, given: given.fingerprintHex)
                }
            }
            logger.notice(
                "recording the identity of a data folder written before identities were recorded",
                metadata: ["data": "\(folder)", "corridor": "\(given.corridorID)", "node": "\(given.nodeID)"])
        }
    }

    /// The identity computed (by this build) from the folder's copy of the corridor file of its first
    /// start, `DATA/corridor.yaml`; nil without a readable copy.
    static func firstStartIdentity(_ options: ControllerOptions) -> FolderIdentity? {
        let copy = (options.dataDirectory as NSString).appendingPathComponent(CorridorCopy.fileName)
        guard FileManager.default.fileExists(atPath: copy), let doc = try? CorridorFile.load(path: copy) else {
            return nil
        }
        var first = options
        first.document = doc
        return try? identity(for: first)
    }

    /// What differs between the corridor file the folder was first started with and the one given, as
    /// far as the folder can tell: the recorded membership, and, from the folder's copy of the file,
    /// signals, plans, reference epoch, initial plan and safety timings.
    static func differences(
        recorded: FolderIdentity, given: FolderIdentity, folder: String, document: CorridorDocument
    ) -> [String] {
        func list(_ ids: [NodeID]) -> String { "[" + ids.sorted().map(String.init).joined(separator: ", ") + "]" }
        var out: [String] = []
        if Set(recorded.voters) != Set(given.voters) {
            out.append("voters recorded \(list(recorded.voters)), given \(list(given.voters))")
        }
        if Set(recorded.learners) != Set(given.learners) {
            out.append("learners recorded \(list(recorded.learners)), given \(list(given.learners))")
        }
        let copy = (folder as NSString).appendingPathComponent(CorridorCopy.fileName)
        if let first = try? CorridorFile.load(path: copy) {
            let a = first.corridor
            let b = document.corridor
            let aIDs = a.signals.map(\.id.rawValue)
            let bIDs = b.signals.map(\.id.rawValue)
            if aIDs != bIDs {
                out.append("signals recorded \(aIDs), given \(bIDs)")
            } else {
                for (x, y) in zip(a.signals, b.signals) where x != y {
                    out.append("signal \(x.id) differs (name, position, phases or stages)")
                }
            }
            let aPlans = Dictionary(a.plans.map { ($0.id.rawValue, $0) }, uniquingKeysWith: { f, _ in f })
            let bPlans = Dictionary(b.plans.map { ($0.id.rawValue, $0) }, uniquingKeysWith: { f, _ in f })
            for name in aPlans.keys.sorted() {
                guard let y = bPlans[name] else {
                    out.append("plan '\(name)' recorded, not given")
                    continue
                }
                if aPlans[name] != y { out.append("plan '\(name)' differs (cycle, splits, offsets or progression)") }
            }
            for name in bPlans.keys.sorted() where aPlans[name] == nil {
                out.append("plan '\(name)' given, not recorded")
            }
            if first.referenceEpochMs != document.referenceEpochMs {
                out.append("reference_epoch_ms recorded \(first.referenceEpochMs), given \(document.referenceEpochMs)")
            }
            if first.initialPlan != document.initialPlan {
                out.append("initial_plan recorded '\(first.initialPlan)', given '\(document.initialPlan)'")
            }
            if a.safety != b.safety { out.append("the safety timings differ") }
        }
        if out.isEmpty {
            out.append("the corridor's timing (signals, phases, stages, plans or safety timings) differs")
        }
        return out
    }

    // MARK: - Self-check

    /// What the start-up self-check did, and the machine the node starts with.
    public struct SelfCheck: Sendable {
        public var machine: CorridorMachine
        public var snapshotIndex: LogIndex
        /// Entries replayed onto the snapshot (up to the stored commit index).
        public var replayed: Int
        /// Audit rows whose state hash was compared with the replay.
        public var compared: Int
        /// Audit rows for replayed commands above the stored audit head (the previous run applied them
        /// but had not written their rows yet): the driver writes them with its next group commit.
        public var auditToWrite: [AuditRecord]
        public var auditHead: LogIndex
        public var elapsedNs: UInt64
    }

    /// Rebuilds the state machine as the controller will serve it — the newest snapshot (checksum
    /// verified by the store), then the log replayed onto it up to the stored commit index with the
    /// apply path's code (`CorridorMachine.apply`, `applyLogEntry`) — and compares the state hash after
    /// each entry with the one recorded in its audit row (and the snapshot's with the row at its index).
    /// The first disagreement is `StartupRefusal.stateDiverged` naming the index. Audit rows written
    /// before a re-sync (`FolderRecord.resyncAuditFloor`) are not compared.
    public static func selfCheck(store: RaftStore, loaded: LoadedState, document: CorridorDocument) throws -> SelfCheck
    {
        let t0 = monotonicNs()
        let folder = store.directory
        var machine: CorridorMachine
        var snapshotIndex: LogIndex = 0
        if let snap = loaded.snapshot {
            do {
                machine = try CorridorMachine(snapshotBytes: snap.data)
            } catch {
                throw StartupRefusal.badSnapshot(
                    folder: folder, index: snap.index, reason: "it does not decode: \(error)")
            }
            guard machine.appliedIndex == snap.index else {
                throw StartupRefusal.badSnapshot(
                    folder: folder, index: snap.index,
                    reason: "its state is at index \(machine.appliedIndex), not \(snap.index)")
            }
            snapshotIndex = snap.index
        } else {
            machine = try CorridorMachine(genesisOf: document)
        }
        let record = try store.folderRecord()
        let storedAuditHead = try store.auditHead().index
        let entries = loaded.restored.entries
        let commit = min(loaded.restored.hardState.commit, entries.last?.index ?? snapshotIndex)
        // Rows to compare: from the snapshot's index (its own row) to the commit index.
        let low = max(snapshotIndex, record.resyncAuditFloor + 1)
        var recorded: [LogIndex: [UInt8]] = [:]
        if commit >= low {
            for row in try store.auditRows(from: low, to: commit + 1) {
                recorded[row.record.index] = row.record.stateHash
            }
        }
        func hexString(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        if snapshotIndex > 0, let hash = recorded[snapshotIndex], hash != machine.stateHash {
            throw StartupRefusal.stateDiverged(
                folder: folder, index: snapshotIndex, recorded: hexString(hash), replayed: hexString(machine.stateHash))
        }
        var replayed = 0
        var compared = snapshotIndex > 0 && recorded[snapshotIndex] != nil ? 1 : 0
        var toWrite: [AuditRecord] = []
        var auditHead = storedAuditHead
        let stored = try store.auditHead()
        var chain = ChainTracker(index: stored.index, hash: stored.hash)
        for e in entries where e.index > machine.appliedIndex && e.index <= commit {
            let r = machine.applyLogEntry(e)
            replayed += 1
            if let hash = recorded[e.index] {
                compared += 1
                guard hash == r.stateHash else {
                    throw StartupRefusal.stateDiverged(
                        folder: folder, index: e.index, recorded: hexString(hash), replayed: hexString(r.stateHash))
                }
            } else if e.index > auditHead, let row = auditRecord(for: e, result: r, chain: chain, store: store) {
                toWrite.append(row)
                chain.append(row)
                auditHead = e.index
            }
        }
        return SelfCheck(
            machine: machine, snapshotIndex: snapshotIndex, replayed: replayed, compared: compared,
            auditToWrite: toWrite, auditHead: auditHead, elapsedNs: monotonicNs() - t0)
    }

    /// The audit row the apply path writes for an applied command or audit checkpoint (nil for no-op,
    /// config and undecodable entries), as `RaftDriver.apply` builds it. A checkpoint's row records its
    /// verdict on this replica's own chain (`chain`, then the store for older rows).
    static func auditRecord(
        for e: Entry, result r: ApplyResult, chain: ChainTracker = ChainTracker(), store: RaftStore? = nil
    ) -> AuditRecord? {
        if let cp = r.checkpoint {
            var own: [UInt8]? = nil
            if cp.headIndex > 0 {
                own = chain.rowHash(at: cp.headIndex)
                if own == nil, cp.headIndex <= chain.index, let store {
                    own = (try? store.auditRows(from: cp.headIndex, to: cp.headIndex + 1))?.first?.rowHash
                }
            }
            return AuditRecord(
                index: e.index, term: e.term, leaderTimeMs: cp.leaderTimeMs, operatorName: "", clientID: "",
                sequence: 0,
                command: e.data, stateHash: r.stateHash, commandKind: AuditCheckpoint.kindName,
                outcome: .checkpoint(ownHeadHash: cp.headIndex > 0 ? own : nil))
        }
        guard let header = r.header, let result = r.result else { return nil }
        return AuditRecord(
            index: e.index, term: e.term, leaderTimeMs: header.leaderTimeMs, operatorName: header.operatorID,
            clientID: header.clientID.description, sequence: header.sequence, command: e.data,
            stateHash: r.stateHash, commandKind: r.commandKind ?? Command.kindName(of: e.data),
            outcome: auditOutcome(result))
    }

    /// A command's result as a v2 audit row types it (the same mapping as `Audit.Evidence.outcome`).
    static func auditOutcome(_ r: CommandResult) -> AuditOutcome {
        switch r {
        case .accepted(let t): return .accepted(effectiveAtMs: t)
        case .rejected(let c, let why): return .rejected(code: c.rawValue, reason: why)
        }
    }
}

extension CorridorMachine {
    /// Applies one Raft log entry exactly as `RaftDriver.apply` does (kind mapped by raw value, an
    /// unknown kind treated as a no-op).
    public mutating func applyLogEntry(_ e: Entry) -> ApplyResult {
        apply(index: e.index, term: e.term, kind: MachineEntryKind(rawValue: e.kind.rawValue) ?? .noop, payload: e.data)
    }
}
