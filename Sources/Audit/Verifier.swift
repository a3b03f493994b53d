import CorridorMachine
import Foundation
import RaftCore
import Storage

/// One thing wrong with a record. Every case names the index (and the folder, across folders).
public enum Finding: Sendable, Equatable, CustomStringConvertible {
    /// The row's fields do not hash to its row hash: `computed` is what its fields hash to, `stored`
    /// the row hash recorded with it.
    case rowTampered(index: LogIndex, computed: String, stored: String)
    /// The rows stored at `a` and `b` carry each other's contents (each hashes correctly at the other's index).
    case rowsSwapped(LogIndex, LogIndex)
    /// The row stored at `index` hashes correctly only at `belongsAt`: it was moved.
    case rowMoved(index: LogIndex, belongsAt: LogIndex)
    /// Row `referencedBy` chains to `index`, which is not there: deleted.
    case rowMissing(index: LogIndex, referencedBy: LogIndex)
    /// A row at `index` sits where the chain says nothing is (the next row chains past it): inserted.
    case unexpectedRow(index: LogIndex, before: LogIndex)
    /// Row `index` hashes correctly on its own but its link differs from its predecessor's row hash.
    case chainBroken(index: LogIndex, previousIndex: LogIndex)
    case malformedRow(index: LogIndex, reason: String)
    /// Replaying the command at `index` gives a different state hash from the one recorded.
    case stateDivergence(index: LogIndex, expected: String, found: String)
    /// A field of the row disagrees with its own command bytes or with the replayed result.
    case fieldMismatch(index: LogIndex, field: String, recorded: String, recomputed: String)
    case snapshotUntrusted(index: LogIndex, reason: String)
    /// A verified snapshot's state differs from the replayed state at its index.
    case snapshotDisagrees(index: LogIndex, snapshot: String, replayed: String)
    /// A committed log entry and the audit row at its index differ.
    case logMismatch(index: LogIndex, reason: String)
    /// A committed command in the log has no audit row.
    case commandWithoutRow(index: LogIndex, auditHead: LogIndex)
    /// Two folders' rows at the same index differ.
    case foldersDisagree(index: LogIndex, folderA: String, folderB: String, field: String, a: String, b: String)
    /// A row that one folder has is absent from the other, inside the range both cover.
    case rowAbsent(index: LogIndex, presentIn: String, absentFrom: String)
    /// The row's command names `operatorName` but no active key of that operator signed it (the replay
    /// refuses it as unauthorized): the row was re-attributed, or a leader proposed a forgery.
    case unattributed(index: LogIndex, operatorName: String, reason: String)
    /// `folder` ends at row `lastRow`, but checkpoint `checkpoint` (from `source`) was committed after it:
    /// its rows from `index` on were removed (or the replica stopped before applying them).
    case tailTruncated(index: LogIndex, folder: String, lastRow: LogIndex, checkpoint: LogIndex, source: String)
    /// The chain head a checkpoint committed (index `index`, from `source`) is not `folder`'s row there.
    case checkpointMismatch(
        index: LogIndex, folder: String, checkpoint: LogIndex, source: String, expected: String, found: String)

    public var index: LogIndex {
        switch self {
        case .rowTampered(let i, _, _), .rowMoved(let i, _), .rowMissing(let i, _), .unexpectedRow(let i, _),
            .chainBroken(let i, _),
            .malformedRow(let i, _), .stateDivergence(let i, _, _), .fieldMismatch(let i, _, _, _),
            .snapshotUntrusted(let i, _),
            .snapshotDisagrees(let i, _, _), .logMismatch(let i, _), .commandWithoutRow(let i, _),
            .foldersDisagree(let i, _, _, _, _, _),
            .rowAbsent(let i, _, _), .unattributed(let i, _, _), .tailTruncated(let i, _, _, _, _),
            .checkpointMismatch(let i, _, _, _, _, _):
            return i
        case .rowsSwapped(let a, let b): return min(a, b)
        }
    }

    /// Order among findings at one index: the chain first (it names the row), then replay, snapshots,
    /// the log, other folders.
    public var rank: Int {
        switch self {
        case .rowTampered, .rowsSwapped, .rowMoved, .rowMissing, .unexpectedRow, .chainBroken, .malformedRow: return 0
        case .stateDivergence, .fieldMismatch, .unattributed: return 1
        case .snapshotUntrusted, .snapshotDisagrees: return 2
        case .logMismatch, .commandWithoutRow: return 3
        case .foldersDisagree, .rowAbsent, .tailTruncated, .checkpointMismatch: return 4
        }
    }

    /// A short machine-readable kind for `--json`.
    public var kind: String {
        switch self {
        case .rowTampered: return "row_tampered"
        case .rowsSwapped: return "rows_swapped"
        case .rowMoved: return "row_moved"
        case .rowMissing: return "row_missing"
        case .unexpectedRow: return "unexpected_row"
        case .chainBroken: return "chain_broken"
        case .malformedRow: return "malformed_row"
        case .stateDivergence: return "state_divergence"
        case .fieldMismatch: return "field_mismatch"
        case .snapshotUntrusted: return "snapshot_untrusted"
        case .snapshotDisagrees: return "snapshot_disagrees"
        case .logMismatch: return "log_mismatch"
        case .commandWithoutRow: return "command_without_row"
        case .foldersDisagree: return "folders_disagree"
        case .rowAbsent: return "row_absent"
        case .unattributed: return "unattributed"
        case .tailTruncated: return "tail_truncated"
        case .checkpointMismatch: return "checkpoint_mismatch"
        }
    }

    public var description: String {
        switch self {
        case .rowTampered(let i, let computed, let stored):
            return "audit row \(i) was altered: its contents hash to \(computed) but its recorded row hash is \(stored)"
        case .rowsSwapped(let a, let b):
            return
                "audit rows \(min(a, b)) and \(max(a, b)) were swapped: each holds the other's contents (each hashes correctly only at the other's index)"
        case .rowMoved(let i, let to):
            return
                "audit row stored at index \(i) is the row of index \(to) (it hashes correctly only there): rows were reordered"
        case .rowMissing(let i, let by):
            return "audit row \(i) was deleted: row \(by) chains to it but it is not in the table"
        case .unexpectedRow(let i, let before):
            return "audit row \(i) was inserted: row \(before) chains past it"
        case .chainBroken(let i, let p):
            return
                "audit row \(i) does not chain to row \(p): its previous-row hash differs from row \(p)'s row hash (a row rewritten with a recomputed hash)"
        case .malformedRow(let i, let why):
            return "audit row \(i) is malformed: \(why)"
        case .stateDivergence(let i, let expected, let found):
            return "state diverges at index \(i): recorded state hash \(expected), replay gives \(found)"
        case .fieldMismatch(let i, let field, let rec, let re):
            return "audit row \(i): \(field) recorded as '\(rec)' but the command bytes and replay give '\(re)'"
        case .snapshotUntrusted(let i, let why):
            return "snapshot at index \(i) cannot be trusted: \(why)"
        case .snapshotDisagrees(let i, let s, let r):
            return "snapshot at index \(i) disagrees with the replay: its state hash \(s), replayed state hash \(r)"
        case .logMismatch(let i, let why):
            return "log entry \(i) and audit row \(i) differ: \(why)"
        case .commandWithoutRow(let i, let head):
            return
                "committed log entry \(i) is a command but the audit chain has no row for it (chain head \(head)): rows removed, or the controller died before writing them"
        case .foldersDisagree(let i, let a, let b, let field, let va, let vb):
            return "folders disagree at index \(i): \(field) is \(va) in \(a) but \(vb) in \(b)"
        case .rowAbsent(let i, let present, let absent):
            return "audit row \(i) is in \(present) but absent from \(absent), inside the range both cover"
        case .unattributed(let i, let op, let why):
            return
                "audit row \(i) names operator '\(op)' but no key of that operator signed it (\(why)): the row was re-attributed, or a leader proposed a forgery"
        case .tailTruncated(let i, let folder, let last, let cp, let source):
            return
                "\(folder) ends at audit row \(last), but checkpoint \(cp) (\(source)) was committed after it: its rows after \(last) are missing, the first one another record names being \(i) (tail cut, or the replica stopped before applying them)"
        case .checkpointMismatch(let i, let folder, let cp, let source, let expected, let found):
            return
                "checkpoint \(cp) (\(source)) committed chain head row \(i) with hash \(expected), but in \(folder) it is \(found): rows up to \(i) were rewritten"
        }
    }
}

/// What `verify` found in one folder.
public struct FolderReport: Sendable {
    public var path: String
    public var rowCount: Int
    public var firstIndex: LogIndex?
    public var lastIndex: LogIndex?
    /// The newest row's hash: keep it elsewhere, it is what reveals a removal of the newest rows.
    public var headHash: String
    public var replayOrigin: String
    /// Commands replayed through the machine and state hashes compared.
    public var replayed: Int
    /// Rows after the first state divergence (not compared: the state is no longer the recorded one).
    public var notReplayed: Int
    public var replaySeconds: Double
    public var snapshotsChecked: Int
    public var logEntriesChecked: Int
    public var findings: [Finding]
    /// The rows as read (for the cross-folder comparison).
    var rows: [ChainRow]
    /// The audit checkpoints this folder recorded (row index, what it carries), in index order.
    public var checkpoints: [(index: LogIndex, checkpoint: AuditCheckpoint)] = []
    /// Each row's stored row hash, by index (for checkpoint checks).
    var rowHashes: [LogIndex: [UInt8]] = [:]
}

public struct VerifyReport: Sendable {
    public var folders: [FolderReport]
    /// Disagreements between folders.
    public var crossFindings: [Finding]
    public var ok: Bool { folders.allSatisfy { $0.findings.isEmpty } && crossFindings.isEmpty }
    /// The finding with the lowest index (per folder, then across folders).
    public var firstFinding: (folder: String?, finding: Finding)? {
        var all: [(String?, Finding)] = []
        for f in folders { all += f.findings.map { (f.path, $0) } }
        all += crossFindings.map { (nil, $0) }
        return all.min { ($0.1.index, $0.1.rank) < ($1.1.index, $1.1.rank) }.map { (folder: $0.0, finding: $0.1) }
    }
}

/// Checks one or more controllers' records: chain, replay, snapshots, log, agreement.
public enum Verifier {
    /// Findings per folder are capped so that a wholesale corruption gives a readable report.
    public static let findingsMax = 50

    public static func verify(
        folders paths: [String], corridor: String? = nil, start: ReplayStart = .automatic,
        anchor: AuditAnchor? = nil
    ) throws -> VerifyReport {
        guard !paths.isEmpty else { throw AuditError("give at least one --data folder") }
        var reports: [FolderReport] = []
        for p in paths {
            let folder = try DataFolder(path: p)
            reports.append(try verify(folder: folder, corridor: corridor, start: start))
        }
        var cross: [Finding] = []
        if reports.count > 1 {
            // Each folder against the one with the most rows (the first such), so that a row missing
            // from the first folder given does not hide the others' disagreement at its index.
            let ref = reports.indices.max { reports[$0].rowCount < reports[$1].rowCount }!
            for (k, other) in reports.enumerated() where k != ref {
                cross += compare(reports[ref], other)
            }
        }
        cross += checkpointFindings(reports, anchor: anchor)
        return VerifyReport(folders: reports, crossFindings: cross)
    }

    /// Every folder against every checkpoint any folder committed, and the anchor: a folder must reach
    /// past each checkpoint (else its tail was cut), and its row at each checkpoint's head must have the
    /// hash the quorum committed (else the rows up to it were rewritten). Checkpoints a folder's range
    /// does not reach back to (it started later, from a snapshot) are not held against it.
    static func checkpointFindings(_ reports: [FolderReport], anchor: AuditAnchor?) -> [Finding] {
        var known: [LogIndex: (checkpoint: AuditCheckpoint, source: String, entry: [UInt8]?)] = [:]
        for f in reports {
            for (c, cp) in f.checkpoints where known[c] == nil { known[c] = (cp, "committed in \(f.path)", nil) }
        }
        if let a = anchor {
            known[a.checkpointIndex] = (a.checkpoint, "anchor \(a.path), signed by \(a.signer)", a.entry)
        }
        let union = Set(reports.flatMap { $0.rows.map(\.record.index) })
        var out: [Finding] = []
        for f in reports {
            let first = f.firstIndex ?? 0
            let last = f.lastIndex ?? 0
            var tailReported = false
            for c in known.keys.sorted() {
                guard out.count < findingsMax * 2, let k = known[c] else { break }
                if c > last {
                    // The lowest index this folder lacks after its tail, as any folder (or the checkpoint) names it.
                    if !tailReported, f.rows.isEmpty || first <= c {
                        let missing = union.filter { $0 > last }.min().map { min($0, c) } ?? c
                        out.append(
                            .tailTruncated(
                                index: missing, folder: f.path, lastRow: last, checkpoint: c, source: k.source))
                        tailReported = true
                    }
                    continue
                }
                if let entry = k.entry, first <= c {
                    // The anchor names the checkpoint entry itself: the folder's row there must be it.
                    let row = f.rows.first { $0.record.index == c }
                    if row?.record.command != entry {
                        out.append(
                            .checkpointMismatch(
                                index: c, folder: f.path, checkpoint: c, source: k.source,
                                expected: "the checkpoint entry \(hexString(entry))",
                                found: row.map { "a row with \($0.record.command.count) other command bytes" }
                                    ?? "no row"))
                        continue
                    }
                }
                let h = k.checkpoint.headIndex
                guard h > 0, !f.rows.isEmpty, h >= first else { continue }
                let found = f.rowHashes[h]
                if found != k.checkpoint.headHash {
                    out.append(
                        .checkpointMismatch(
                            index: h, folder: f.path, checkpoint: c, source: k.source,
                            expected: hexString(k.checkpoint.headHash), found: found.map(hexString) ?? "no row"))
                }
            }
        }
        return out
    }

    public static func verify(
        folder: DataFolder, corridor: String? = nil, start: ReplayStart = .automatic
    ) throws -> FolderReport {
        let stored = try folder.auditRows()
        var findings = FindingList()

        // 1. The chain, row by row (the rules of Storage's verifyAuditChain, plus naming of swaps).
        let rows = stored.compactMap(\.row)
        var rowHashes: [LogIndex: [UInt8]] = [:]
        rowHashes.reserveCapacity(rows.count)
        var checkpoints: [(index: LogIndex, checkpoint: AuditCheckpoint)] = []
        for r in rows {
            if rowHashes[r.record.index] == nil { rowHashes[r.record.index] = r.rowHash }
            if AuditCheckpoint.isCheckpoint(r.record.command), let cp = try? AuditCheckpoint.decode(r.record.command) {
                checkpoints.append((r.record.index, cp))
            }
        }
        for s in stored where s.row == nil {
            findings.note(.malformedRow(index: s.index, reason: s.problem ?? "undecodable"))
        }
        findings.items += chainFindings(rows).prefix(max(0, findingsMax - findings.items.count))

        // 2. Replay every command after the starting state, comparing state hashes at every index.
        let origin = try Replayer.origin(folder: folder, corridor: corridor, start: start)
        let snapshots = try folder.snapshots()
        var replay = ReplayCheck(machine: origin.machine, rowHashes: rowHashes, findings: findings)
        replay.trust(snapshots, after: origin.index)
        let t0 = DispatchTime.now().uptimeNanoseconds
        replayChecking(rows.filter { $0.record.index > origin.index }, origin: origin.machine, into: &replay)
        if !replay.diverged { replay.checkSnapshots(upTo: .max) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        findings = replay.findings

        // 3. The committed log after the compaction point against the chain.
        let logChecked = try checkLog(folder, rows: rows, originIndex: origin.index, findings: &findings)

        findings.items.sort { ($0.index, $0.rank) < ($1.index, $1.rank) }
        return FolderReport(
            path: folder.path, rowCount: stored.count, firstIndex: stored.first?.index, lastIndex: stored.last?.index,
            headHash: hexString(rows.last?.rowHash ?? AuditChain.zeroHash), replayOrigin: origin.description,
            replayed: replay.replayed, notReplayed: replay.notReplayed, replaySeconds: seconds,
            snapshotsChecked: snapshots.count, logEntriesChecked: logChecked, findings: findings.items, rows: rows,
            checkpoints: checkpoints, rowHashes: rowHashes)
    }

    /// Findings in the order they are noted, at most `findingsMax`.
    struct FindingList {
        var items: [Finding] = []
        mutating func note(_ f: Finding) { if items.count < Verifier.findingsMax { items.append(f) } }
    }

    /// The committed log entries after the compaction point against the rows: each must be its row (term
    /// and bytes), and every command entry after the replay origin must have one. The number checked.
    static func checkLog(
        _ folder: DataFolder, rows: [ChainRow], originIndex: LogIndex, findings: inout FindingList
    ) throws -> Int {
        let raft = try folder.raftState()
        let byIndex = Dictionary(rows.map { ($0.record.index, $0) }, uniquingKeysWith: { a, _ in a })
        let head = rows.last?.record.index ?? 0
        var logChecked = 0
        for e in try folder.logEntries(from: raft.snapshotIndex + 1, through: raft.commitIndex) {
            logChecked += 1
            if let why = e.checksumMismatch { findings.note(.logMismatch(index: e.index, reason: why)) }
            var reader = ByteReader(e.data)
            let isCommand =
                e.kind == 0
                && ((try? CommandEnvelope.decodeHeader(&reader)) != nil || AuditCheckpoint.isCheckpoint(e.data))
            if let row = byIndex[e.index] {
                if row.record.term != e.term {
                    findings.note(
                        .logMismatch(
                            index: e.index, reason: "term \(e.term) in the log, \(row.record.term) in the audit row"))
                } else if row.record.command != e.data {
                    findings.note(.logMismatch(index: e.index, reason: "the command bytes differ"))
                }
            } else if isCommand, e.index > originIndex {
                findings.note(.commandWithoutRow(index: e.index, auditHead: head))
            }
        }
        return logChecked
    }

    /// How many rows a replay step applies while the next step's signatures are checked on another core (well
    /// inside `VerifiedSignatures.shared`'s capacity, so that what is checked ahead is still remembered).
    static let prevalidationChunk = 1_024

    /// Replays `rows` in order into `replay`, checking the Ed25519 signatures of the next chunk of rows on
    /// another thread meanwhile (`OperatorKeys.prevalidate`, with every key the starting registry or a row's
    /// `addOperator` holds): on this machine a signature check is about 57 µs, the largest single cost of the
    /// replay. The outcome is the replay's alone; the checks ahead only fill the memo it consults.
    static func replayChecking(_ rows: [ChainRow], origin: CorridorMachine, into replay: inout ReplayCheck) {
        var keys: [UInt64: [[UInt8]]] = [:]
        func add(_ key: [UInt8]) {
            let id = OperatorKeys.keyID(key)
            if !(keys[id]?.contains(key) ?? false) { keys[id, default: []].append(key) }
        }
        for o in origin.operators { add(o.publicKey) }
        for r in rows { if let k = OperatorKeys.registeredKey(inEntry: r.record.command) { add(k) } }
        let corridorID = origin.corridorID
        let payloads = rows.map(\.record.command)
        let group = DispatchGroup()
        var start = 0
        while start < rows.count {
            let end = min(rows.count, start + prevalidationChunk)
            let ahead = Array(payloads[end..<min(rows.count, end + prevalidationChunk)])
            if !ahead.isEmpty {
                DispatchQueue.global().async(group: group) { [keys] in
                    for p in ahead { OperatorKeys.prevalidate(entry: p, corridorID: corridorID, keys: keys) }
                }
            }
            for row in rows[start..<end] { replay.check(row) }
            group.wait()
            start = end
        }
    }

    /// The replay of a folder's rows: each row's command applied to the machine, and everything the row
    /// records (header fields, result, texts, state hash) compared with what the replay recomputes.
    /// Stops replaying at the first state divergence (the rows after it are counted, not replayed).
    struct ReplayCheck {
        var machine: CorridorMachine
        let rowHashes: [LogIndex: [UInt8]]
        var findings: FindingList
        /// Verified snapshot index → its state hash.
        var snapshotChecks: [LogIndex: [UInt8]] = [:]
        var pendingSnapshots: [LogIndex] = []
        var replayed = 0
        var notReplayed = 0
        var diverged = false

        init(machine: CorridorMachine, rowHashes: [LogIndex: [UInt8]], findings: FindingList) {
            self.machine = machine
            self.rowHashes = rowHashes
            self.findings = findings
        }

        /// Verifies every snapshot; those after `origin` are compared with the replay as it passes them.
        mutating func trust(_ snapshots: [StoreReader.SnapshotRow], after origin: LogIndex) {
            for s in snapshots {
                switch Replayer.verify(s) {
                case .success(let m): snapshotChecks[s.index] = m.stateHash
                case .failure(let why): findings.note(.snapshotUntrusted(index: s.index, reason: why.description))
                }
            }
            pendingSnapshots = snapshotChecks.keys.filter { $0 > origin }.sorted()
        }

        mutating func checkSnapshots(upTo index: LogIndex) {
            while let s = pendingSnapshots.first, s < index {
                pendingSnapshots.removeFirst()
                guard let h = snapshotChecks[s], h != machine.stateHash else { continue }
                findings.note(
                    .snapshotDisagrees(index: s, snapshot: hexString(h), replayed: hexString(machine.stateHash)))
            }
        }

        mutating func check(_ row: ChainRow) {
            if diverged {
                notReplayed += 1
                return
            }
            let rec = row.record
            checkSnapshots(upTo: rec.index)
            let r = machine.apply(index: rec.index, term: rec.term, kind: .normal, payload: rec.command)
            replayed += 1
            if let cp = r.checkpoint {
                checkCheckpointRow(rec, cp)
            } else if let h = r.header {
                checkHeader(rec, h)
            } else {
                findings.note(
                    .fieldMismatch(
                        index: rec.index, field: "command", recorded: "\(rec.command.count) bytes",
                        recomputed: "no decodable command header (a controller writes no row for such an entry)"))
            }
            if let result = r.result { checkResult(rec, result, r) }
            if r.stateHash != rec.stateHash {
                findings.note(
                    .stateDivergence(
                        index: rec.index, expected: hexString(rec.stateHash), found: hexString(r.stateHash)))
                diverged = true
            }
        }

        /// A checkpoint row: written by the replica, not an operator; its result is the replica's verdict
        /// on its own chain, which the folder's rows give again.
        mutating func checkCheckpointRow(_ rec: AuditRecord, _ cp: AuditCheckpoint) {
            if !rec.operatorName.isEmpty || !rec.clientID.isEmpty || rec.sequence != 0 {
                findings.note(
                    .fieldMismatch(
                        index: rec.index, field: "operator", recorded: rec.operatorName,
                        recomputed: "none (an audit checkpoint)"))
            }
            if rec.leaderTimeMs != cp.leaderTimeMs {
                findings.note(
                    .fieldMismatch(
                        index: rec.index, field: "leader time", recorded: "\(rec.leaderTimeMs)",
                        recomputed: "\(cp.leaderTimeMs)"))
            }
            let own = cp.headIndex > 0 ? rowHashes[cp.headIndex] : nil
            let expected = AuditOutcome.checkpoint(ownHeadHash: own)
            if rec.outcome != expected {
                findings.note(
                    .fieldMismatch(
                        index: rec.index, field: "result", recorded: Evidence.resultText(rec),
                        recomputed: cp.verdict(ownRowHash: own)))
            }
            checkTexts(rec, kind: AuditCheckpoint.kindName)
        }

        /// The row's operator, client id, sequence and leader time against the command's header.
        mutating func checkHeader(_ rec: AuditRecord, _ h: CommandEnvelope.Header) {
            if h.operatorID != rec.operatorName {
                findings.note(
                    .fieldMismatch(
                        index: rec.index, field: "operator", recorded: rec.operatorName, recomputed: h.operatorID))
            }
            if h.clientID.description != rec.clientID {
                findings.note(
                    .fieldMismatch(
                        index: rec.index, field: "client id", recorded: rec.clientID,
                        recomputed: h.clientID.description))
            }
            if h.sequence != rec.sequence {
                findings.note(
                    .fieldMismatch(
                        index: rec.index, field: "sequence", recorded: "\(rec.sequence)", recomputed: "\(h.sequence)"))
            }
            if h.leaderTimeMs != rec.leaderTimeMs {
                findings.note(
                    .fieldMismatch(
                        index: rec.index, field: "leader time", recorded: "\(rec.leaderTimeMs)",
                        recomputed: "\(h.leaderTimeMs)"))
            }
        }

        /// The recorded result (v1 text or v2 outcome) against the replayed one; an unauthorized refusal
        /// of a command its operator did sign; and the recorded command text (v1) or kind (v2).
        mutating func checkResult(_ rec: AuditRecord, _ result: CommandResult, _ r: ApplyResult) {
            if rec.outcome == nil {
                if "\(result)" != rec.result {
                    findings.note(
                        .fieldMismatch(index: rec.index, field: "result", recorded: rec.result, recomputed: "\(result)")
                    )
                }
            } else if rec.outcome != Evidence.outcome(result) {
                findings.note(
                    .fieldMismatch(
                        index: rec.index, field: "result", recorded: Evidence.resultText(rec), recomputed: "\(result)"))
            }
            if result.code == .unauthorized, !r.duplicate, !signedByItsOperator(rec.command, machine) {
                findings.note(
                    .unattributed(
                        index: rec.index, operatorName: r.header?.operatorID ?? rec.operatorName,
                        reason: result.reason ?? "unauthorized"))
            }
            // The recorded text (v1) or kind (v2) is part of the evidence: it must be what the bytes say.
            guard r.header != nil else { return }
            if rec.outcome == nil {
                let text = describeRecordedCommand(rec.command)
                if text != rec.commandText {
                    findings.note(
                        .fieldMismatch(
                            index: rec.index, field: "command text", recorded: rec.commandText, recomputed: text))
                }
            } else {
                checkTexts(rec, kind: r.commandKind ?? Command.kindName(of: rec.command))
            }
        }

        /// A v2 row's kind must be its bytes', and its v1 text columns empty (they are outside its hash).
        mutating func checkTexts(_ rec: AuditRecord, kind: String) {
            if rec.outcome == nil {
                findings.note(
                    .fieldMismatch(
                        index: rec.index, field: "format", recorded: "a v1 row",
                        recomputed: "a v2 row (\(kind) entries exist only in schema v2)"))
                return
            }
            if rec.commandKind != kind {
                findings.note(
                    .fieldMismatch(index: rec.index, field: "command kind", recorded: rec.commandKind, recomputed: kind)
                )
            }
            if !rec.commandText.isEmpty {
                findings.note(
                    .fieldMismatch(
                        index: rec.index, field: "command text", recorded: rec.commandText,
                        recomputed: "none (a v2 row keeps no text)"))
            }
            if !rec.result.isEmpty {
                findings.note(
                    .fieldMismatch(
                        index: rec.index, field: "result text", recorded: rec.result,
                        recomputed: "none (a v2 row keeps no text)"))
            }
        }
    }

    /// Whether a command refused as unauthorized was still signed by a registered key of the operator it
    /// names (its key revoked between the leader's check and the apply, or a client id without a time):
    /// then the refusal is the machine's business, not a re-attribution. Checked against the registry as
    /// it stood at the row (revoked keys stay in it).
    static func signedByItsOperator(_ bytes: [UInt8], _ machine: CorridorMachine) -> Bool {
        var reader = ByteReader(bytes)
        guard let h = try? CommandEnvelope.decodeHeader(&reader), let sig = h.signature,
            let key = machine.operatorKey(sig.keyID),
            key.name == h.operatorID
        else { return false }
        let message = OperatorKeys.signedMessage(
            corridorID: machine.corridorID, clientID: h.clientID, sequence: h.sequence,
            operatorName: h.operatorID, command: Array(bytes[reader.position...]))
        return OperatorKeys.verify(publicKey: key.publicKey, signature: sig.bytes, message: message)
    }

    /// The command text a controller records with a command's row (`describeCommand` in the controller:
    /// the command's Swift rendering, schema v1).
    static func describeRecordedCommand(_ bytes: [UInt8]) -> String {
        guard let env = try? CommandEnvelope.decode(bytes) else { return "undecodable command (\(bytes.count) bytes)" }
        return "\(env.command)"
    }

    /// Walks the rows in index order; one finding per row at most, and a row after a flagged row is
    /// checked against what is stored there (so one edit is not reported twice).
    static func chainFindings(_ rows: [ChainRow]) -> [Finding] {
        var out: [Finding] = []
        var prevIndex: LogIndex = 0
        var prevHash = AuditChain.zeroHash
        var previousFlagged = false
        var explained: Set<LogIndex> = []
        var homeSearches = 0
        let indexes = rows.map(\.record.index)
        for row in rows {
            let index = row.record.index
            var finding: Finding?
            switch AuditChain.check(row, previousIndex: prevIndex, previousHash: prevHash) {
            case .rowTampered?:
                if !explained.contains(index) { homeSearches += 1 }
                if explained.contains(index) {
                    finding = nil
                } else if homeSearches < 10, let home = homeIndex(of: row, candidates: indexes) {
                    // Does the row at `home` belong here? Then the two were swapped.
                    if let j = rows.firstIndex(where: { $0.record.index == home }),
                        homeIndex(of: rows[j], candidates: [index]) == index
                    {
                        finding = .rowsSwapped(index, home)
                        explained.insert(home)
                    } else {
                        finding = .rowMoved(index: index, belongsAt: home)
                    }
                } else {
                    let computed = AuditChain.rowHash(
                        row.record, prevIndex: row.prevIndex, prevRowHash: row.prevRowHash)
                    finding = .rowTampered(index: index, computed: hexString(computed), stored: hexString(row.rowHash))
                }
                previousFlagged = true
            case .rowMissing(let missing, let by)?:
                finding = .rowMissing(index: missing, referencedBy: by)
                previousFlagged = false
            case .unexpectedRow(let at, let before)?:
                finding = previousFlagged ? nil : .unexpectedRow(index: at, before: before)
                previousFlagged = false
            case .chainBroken(let at, let previous)?:
                finding = previousFlagged ? nil : .chainBroken(index: at, previousIndex: previous)
                previousFlagged = false
            case .malformedRow?, nil:
                previousFlagged = false
            }
            if let f = finding { out.append(f) }
            prevIndex = index
            prevHash = row.rowHash
        }
        return out
    }

    /// The index at which a row's contents hash correctly, if another stored index fits. Tries the
    /// neighbours first (a swap is usually local), then every index.
    static func homeIndex(of row: ChainRow, candidates: [LogIndex]) -> LogIndex? {
        var tried = 0
        func fits(_ i: LogIndex) -> Bool {
            guard i != row.record.index else { return false }
            tried += 1
            var r = row.record
            r.index = i
            return AuditChain.rowHash(r, prevIndex: row.prevIndex, prevRowHash: row.prevRowHash) == row.rowHash
        }
        // The row's own link says where its predecessor was: its home is the first index after it.
        if let next = candidates.first(where: { $0 > row.prevIndex }), fits(next) { return next }
        for i in candidates where i > row.prevIndex && tried < 100_000 { if fits(i) { return i } }
        return nil
    }

    /// Rows at the indexes two folders share must be identical in every field the leader decided and
    /// the replica computed (the chain links may differ: a replica that installed a snapshot has no
    /// rows for the entries inside it).
    static func compare(_ a: FolderReport, _ b: FolderReport) -> [Finding] {
        var out: [Finding] = []
        let ra = Dictionary(a.rows.map { ($0.record.index, $0.record) }, uniquingKeysWith: { x, _ in x })
        let rb = Dictionary(b.rows.map { ($0.record.index, $0.record) }, uniquingKeysWith: { x, _ in x })
        let (na, nb) = (a.path, b.path)
        guard let loA = a.rows.first?.record.index, let hiA = a.rows.last?.record.index,
            let loB = b.rows.first?.record.index, let hiB = b.rows.last?.record.index
        else { return [] }
        let lo = max(loA, loB)
        let hi = min(hiA, hiB)
        let shared = Set(ra.keys).union(rb.keys).filter { $0 >= lo && $0 <= hi }.sorted()
        for i in shared {
            guard out.count < findingsMax else { break }
            switch (ra[i], rb[i]) {
            case (let x?, let y?):
                func diff(_ field: String, _ u: String, _ v: String) {
                    if u != v {
                        out.append(.foldersDisagree(index: i, folderA: na, folderB: nb, field: field, a: u, b: v))
                    }
                }
                let before = out.count
                diff("state hash", hexString(x.stateHash), hexString(y.stateHash))
                diff("term", "\(x.term)", "\(y.term)")
                diff("command", hexString(x.command), hexString(y.command))
                diff("leader time", "\(x.leaderTimeMs)", "\(y.leaderTimeMs)")
                diff("operator", x.operatorName, y.operatorName)
                diff("result", Evidence.resultText(x), Evidence.resultText(y))
                if out.count > before + 1 { out.removeSubrange((before + 1)...) } // one finding per index
            case (_?, nil):
                out.append(.rowAbsent(index: i, presentIn: na, absentFrom: nb))
            case (nil, _?):
                out.append(.rowAbsent(index: i, presentIn: nb, absentFrom: na))
            default:
                break
            }
        }
        return out
    }
}
