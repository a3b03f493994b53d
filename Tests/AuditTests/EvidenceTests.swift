import Audit
import CorridorFile
import CorridorMachine
import Foundation
import GRDB
import GreenwaveTestSupport
import PKI
import RaftCore
import SignalTiming
import Storage
import XCTest

/// Issue 15: evidence that survives an administrator with file access to one replica, or to all of
/// them — tail truncation, text and results edited with the chain recomputed, a command re-attributed
/// consistently everywhere, checkpoints through Raft and an anchor kept off-site, escaped output.
final class EvidenceTests: XCTestCase {
    /// What a tamperer does to cut a replica's tail: audit rows and log entries after `keep` deleted, the
    /// commit index lowered to match, so that the folder is consistent with itself.
    func truncate(_ folder: String, keepThrough keep: UInt64) throws {
        try attack(
            folder, "DELETE FROM audit WHERE idx > \(keep)", "DELETE FROM log_entry WHERE idx > \(keep)",
            "UPDATE raft_state SET commit_index = \(keep) WHERE id = 1")
    }

    func checkpointRecord(_ test: XCTestCase, commands: Int = 300, every: Int = 40) throws -> String {
        let dir = (try scratchFolder(test, "evidence") as NSString).appendingPathComponent("s01")
        _ = try SyntheticRecord.write(
            commands: commands, corridorPath: demoCorridor, into: dir, seed: 5, checkpointEvery: every)
        return dir
    }

    func copies(_ a: String, _ n: Int) throws -> [String] {
        let base = try scratchFolder(self, "replicas")
        return try (2...(n + 1)).map { k in
            let d = (base as NSString).appendingPathComponent("s0\(k)")
            try copyFolder(a, to: d)
            return d
        }
    }

    func testARecordWithCheckpointsVerifiesAndEveryCheckpointAgreesWithItsChain() throws {
        let a = try checkpointRecord(self)
        let report = try Verifier.verify(folders: [a])
        XCTAssertTrue(report.ok, "\(report.folders[0].findings) \(report.crossFindings)")
        let f = report.folders[0]
        XCTAssertGreaterThanOrEqual(f.checkpoints.count, 7, "300 rows with a checkpoint every 40")
        let rows = try DataFolder(path: a).auditRows().compactMap(\.row)
        for (c, cp) in f.checkpoints {
            let head = try XCTUnwrap(rows.first { $0.record.index == cp.headIndex })
            XCTAssertEqual(head.rowHash, cp.headHash, "checkpoint \(c) carries its chain head's hash")
            XCTAssertEqual(
                rows.first { $0.record.index == c }.map { Evidence.resultText($0.record) },
                "checkpoint: this replica's row \(cp.headIndex) has the leader's hash")
        }
        XCTAssertTrue(
            try CommandLog.entries(folder: DataFolder(path: a)).contains {
                CommandLog.isCheckpoint($0) && $0.command.hasPrefix("checkpoint of row")
            })
    }

    /// One replica's tail cut consistently (rows, log, commit index): by itself it verifies; against
    /// another replica's checkpoints it is named, at the first index it lacks.
    func testTailTruncationOnOneReplicaIsNamedByAnotherReplicasCheckpoint() throws {
        let a = try checkpointRecord(self)
        let (b, c) = try {
            let x = try copies(a, 2)
            return (x[0], x[1])
        }()
        let rows = try auditIndexes(a)
        let checkpoints = try Verifier.verify(folders: [a]).folders[0].checkpoints
        let lastCheckpoint = try XCTUnwrap(checkpoints.last).index
        // Cut b back before the last checkpoint (and its head).
        let keep = try XCTUnwrap(rows.last { $0 < lastCheckpoint - 5 })
        try truncate(b, keepThrough: keep)
        XCTAssertTrue(
            try Verifier.verify(folders: [b]).ok, "alone, a consistently cut folder cannot show its cut (docs/audit.md)"
        )
        let report = try Verifier.verify(folders: [a, b, c])
        XCTAssertFalse(report.ok)
        let firstMissing = try XCTUnwrap(rows.first { $0 > keep })
        let tails = report.crossFindings.filter { $0.kind == "tail_truncated" }
        XCTAssertEqual(tails.count, 1, "\(report.crossFindings)")
        guard case .tailTruncated(let index, let folder, let last, _, _)? = tails.first else {
            return XCTFail("no tail finding")
        }
        XCTAssertEqual(index, firstMissing)
        XCTAssertEqual(folder, b)
        XCTAssertEqual(last, keep)
        // The order in which the folders are given does not matter.
        XCTAssertTrue(try Verifier.verify(folders: [b, c, a]).crossFindings.contains { $0.kind == "tail_truncated" })
    }

    /// The same cut on every replica: no folder holds the checkpoint any more, so only an anchor kept
    /// elsewhere shows it — and it does, for every folder.
    func testTailTruncationOnAllReplicasIsNamedByAnExportedAnchor() throws {
        let a = try checkpointRecord(self)
        let b = try copies(a, 1)[0]
        let pki = try scratchFolder(self, "pki")
        let anchorPath = (pki as NSString).appendingPathComponent("anchor.json")
        let material = try controllerKey(pki, folder: a)
        try AuditAnchor.export(folder: try DataFolder(path: a), material: material).write(
            toFile: anchorPath, atomically: true, encoding: .utf8)
        let anchor = try AuditAnchor.load(path: anchorPath, caPath: PKIDirectory(path: pki).caCertificatePath)
        XCTAssertTrue(anchor.checkedAgainstCA)
        XCTAssertTrue(
            try Verifier.verify(folders: [a, b], anchor: anchor).ok, "an untouched record agrees with its anchor")

        let keep = try XCTUnwrap(try auditIndexes(a).last { $0 < anchor.checkpoint.headIndex - 3 })
        for f in [a, b] { try truncate(f, keepThrough: keep) }
        XCTAssertTrue(
            try Verifier.verify(folders: [a, b]).ok, "cut the same everywhere, the folders alone agree (docs/audit.md)")
        let report = try Verifier.verify(folders: [a, b], anchor: anchor)
        let tails = report.crossFindings.compactMap { f -> String? in
            if case .tailTruncated(_, let folder, let last, let cp, _) = f, last == keep, cp == anchor.checkpointIndex {
                return folder
            } else {
                return nil
            }
        }
        XCTAssertEqual(Set(tails), [a, b], "\(report.crossFindings)")
    }

    /// A folder whose history before the anchored head was rewritten (chain recomputed) disagrees with
    /// the anchor at the head; an altered or foreign anchor file is refused.
    func testAFolderIsCheckedAgainstAnAnchorAndAnAlteredAnchorIsRefused() throws {
        let a = try checkpointRecord(self)
        let pki = try scratchFolder(self, "pki")
        let anchorPath = (pki as NSString).appendingPathComponent("anchor.json")
        let material = try controllerKey(pki, folder: a)
        let text = try AuditAnchor.export(folder: try DataFolder(path: a), material: material)
        try text.write(toFile: anchorPath, atomically: true, encoding: .utf8)
        let anchor = try AuditAnchor.load(path: anchorPath)
        XCTAssertTrue(try Verifier.verify(folders: [a], anchor: anchor).ok)

        // Rewrite an early row's time and recompute the chain: its own chain verifies, the anchor does not.
        let row = try DataFolder(path: a).auditRows().compactMap(\.row)[10]
        try attack(
            a,
            "UPDATE audit SET state_hash = x'\(hexString([UInt8](repeating: 7, count: 32)))' WHERE idx = \(row.record.index)"
        )
        try rechain(a, from: row.record.index)
        let report = try Verifier.verify(folders: [a], anchor: anchor)
        XCTAssertEqual(
            report.folders[0].findings.filter { $0.rank == 0 }, [], "the chain itself verifies after the rewrite")
        XCTAssertTrue(
            report.crossFindings.contains {
                if case .checkpointMismatch(let i, let f, let cp, _, _, _) = $0 {
                    return i == anchor.checkpoint.headIndex && f == a && cp == anchor.checkpointIndex
                } else {
                    return false
                }
            },
            "\(report.crossFindings)")

        // The anchor file itself: one changed digit of the head hash, or a foreign signer's certificate.
        var json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        let hash = json["head_hash"] as! String
        json["head_hash"] =
            String(hash.prefix(10)) + (hash.dropFirst(10).first == "0" ? "1" : "0") + String(hash.dropFirst(11))
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: anchorPath))
        XCTAssertThrowsError(try AuditAnchor.load(path: anchorPath)) {
            XCTAssertTrue("\($0)".contains("do not match its entry"), "\($0)")
        }
        var resigned = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        resigned["checkpoint_index"] = (resigned["checkpoint_index"] as! NSNumber).uint64Value + 1
        try JSONSerialization.data(withJSONObject: resigned).write(to: URL(fileURLWithPath: anchorPath))
        XCTAssertThrowsError(try AuditAnchor.load(path: anchorPath)) {
            XCTAssertTrue("\($0)".contains("signature does not verify"), "\($0)")
        }
        let otherCA = try scratchFolder(self, "other-ca")
        try PKIDirectory(path: otherCA).initialize(corridorID: material.identity.corridor)
        try text.write(toFile: anchorPath, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(
            try AuditAnchor.load(path: anchorPath, caPath: PKIDirectory(path: otherCA).caCertificatePath)
        ) {
            XCTAssertTrue("\($0)".contains("was not issued by the CA"), "\($0)")
        }
    }

    /// Every piece of a v2 row's evidence is checked: its command kind, its typed result (effective time,
    /// reason code, reason) and the v1 text columns, which a v2 row must leave empty (they are outside its
    /// hash), each edited and re-chained.
    func testCommandTextOrResultEditedWithTheChainRecomputedIsNamed() throws {
        let a = try checkpointRecord(self, commands: 150)
        let rows = try DataFolder(path: a).auditRows().compactMap(\.row).filter {
            !AuditCheckpoint.isCheckpoint($0.record.command)
        }
        XCTAssertTrue(rows.allSatisfy { $0.record.format == 2 }, "a new record is written in schema v2")
        let accepted = rows.filter { Evidence.acceptance($0.record).accepted }.map(\.record)
        let rejected = rows.filter { if case .rejected? = $0.record.outcome { return true } else { return false } }.map(
            \.record)
        let e = accepted[10]
        let c = rejected[5]
        let others = rows.map(\.record).filter { $0.index != e.index && $0.index != c.index }
        let (k, t) = (others[20], others[30])
        guard case .rejected(let code, let reason)? = c.outcome, let effective = Evidence.acceptance(e).effectiveAtMs
        else { return XCTFail() }
        try attack(
            a,
            "UPDATE audit SET command_kind = '\(k.commandKind == "flash" ? "hold" : "flash")' WHERE idx = \(k.index)",
            "UPDATE audit SET command_text = 'flash(nil)' WHERE idx = \(t.index)",
            "UPDATE audit SET effective_at_ms = effective_at_ms + 60000 WHERE idx = \(e.index)",
            "UPDATE audit SET reason_code = \(code == 3 ? 4 : 3) WHERE idx = \(c.index)")
        try rechain(a, from: min(k.index, t.index, e.index, c.index))
        let findings = try Verifier.verify(folders: [a]).folders[0].findings
        XCTAssertEqual(findings.filter { $0.rank == 0 }, [], "the chain verifies: only the replay can tell")
        XCTAssertTrue(
            findings.contains(
                .fieldMismatch(
                    index: k.index, field: "command kind", recorded: k.commandKind == "flash" ? "hold" : "flash",
                    recomputed: k.commandKind)), "\(findings)")
        XCTAssertTrue(
            findings.contains(
                .fieldMismatch(
                    index: t.index, field: "command text", recorded: "flash(nil)",
                    recomputed: "none (a v2 row keeps no text)")), "\(findings)")
        XCTAssertTrue(
            findings.contains(
                .fieldMismatch(
                    index: e.index, field: "result", recorded: "accepted, effective at \(effective + 60000)",
                    recomputed: Evidence.resultText(e))), "\(findings)")
        XCTAssertTrue(
            findings.contains {
                if case .fieldMismatch(let i, let f, _, let re) = $0 {
                    return i == c.index && f == "result" && re.hasSuffix(reason)
                } else {
                    return false
                }
            }, "\(findings)")
    }

    /// A v1 folder as the landed code wrote it — made here with the v1 writer kept for the purpose
    /// (`SyntheticRecord.write(legacyV1Rows:)`: texts recorded as the code before schema v2 recorded them)
    /// and the schema taken back to v3 (no typed columns, no v4 migration) — verifies read-only as it is,
    /// its `command_text` checked too; opened by the store it migrates, keeps its v1 rows (hashes
    /// unchanged) and appends v2 rows to the same chain, and the whole verifies; a v1 row's text edited
    /// after the migration, chain recomputed, is still named.
    func testAV1FolderMigratesAndStillVerifies() throws {
        let dir = (try scratchFolder(self, "v1") as NSString).appendingPathComponent("s01")
        _ = try SyntheticRecord.write(commands: 60, corridorPath: demoCorridor, into: dir, seed: 3, legacyV1Rows: true)
        let db = try DatabaseQueue(path: (dir as NSString).appendingPathComponent(RaftStore.databaseFileName))
        try db.write { db in
            for c in [
                "format", "command_kind", "result_kind", "reason_code", "reason", "effective_at_ms", "own_head_hash"
            ] {
                try db.execute(sql: "ALTER TABLE audit DROP COLUMN \(c)")
            }
            try db.execute(
                sql: "DELETE FROM grdb_migrations WHERE identifier = ?", arguments: [RaftStore.typedEvidenceMigration])
        }
        try db.close()
        XCTAssertFalse(
            try DataFolder(path: dir).appliedMigrations().contains(RaftStore.typedEvidenceMigration),
            "the fixture predates v2")
        let before = try Verifier.verify(folders: [dir])
        XCTAssertTrue(before.ok, "\(before.folders[0].findings)")
        let v1 = try DataFolder(path: dir).auditRows().compactMap(\.row)
        XCTAssertEqual(v1.count, 60)
        XCTAssertTrue(v1.allSatisfy { $0.record.format == 1 && !$0.record.commandText.isEmpty })

        // Continue the history with the real machine and the real store (which migrates on open).
        let doc = try CorridorFile.load(path: (dir as NSString).appendingPathComponent("corridor.yaml"))
        var m = try CorridorMachine(genesisOf: doc)
        for r in v1 {
            _ = m.apply(index: r.record.index, term: r.record.term, kind: .normal, payload: r.record.command)
        }
        let store = try RaftStore(directory: dir)
        let asha = try XCTUnwrap(v1.first { $0.record.operatorName == "asha" })
        let env0 = try CommandEnvelope.decode(asha.record.command)
        var next = try XCTUnwrap(v1.last).record.index
        var t = try XCTUnwrap(v1.last).record.leaderTimeMs
        var batch = WriteBatch()
        var entries: [Entry] = []
        for k in 0..<3 {
            next += 1
            t += 10_000
            // Unsigned (no key for the fixture's operators here): refused as unauthorized, recorded all the same.
            let env = CommandEnvelope(
                operatorID: "asha", clientID: env0.clientID, sequence: 10_000 + UInt64(k), leaderTimeMs: t,
                command: .release(SignalID(1)))
            let bytes = env.encoded()
            let r = m.apply(index: next, term: 1, kind: .normal, payload: bytes)
            entries.append(Entry(term: 1, index: next, kind: .normal, data: bytes))
            batch.auditRecords.append(
                AuditRecord(
                    index: next, term: 1, leaderTimeMs: t, operatorName: "asha", clientID: env.clientID.description,
                    sequence: env.sequence, command: bytes, stateHash: r.stateHash, commandKind: "release",
                    outcome: Evidence.outcome(try XCTUnwrap(r.result))))
        }
        next += 1
        let head = try store.auditHead()
        let cp = AuditCheckpoint(headIndex: head.index, headHash: head.hash, leaderTimeMs: t)
        let r = m.apply(index: next, term: 1, kind: .normal, payload: cp.encoded())
        entries.append(Entry(term: 1, index: next, kind: .normal, data: cp.encoded()))
        batch.auditRecords.append(
            AuditRecord(
                index: next, term: 1, leaderTimeMs: t, operatorName: "", clientID: "", sequence: 0,
                command: cp.encoded(),
                stateHash: r.stateHash, commandKind: "checkpoint", outcome: .checkpoint(ownHeadHash: head.hash)))
        batch.add(hardState: HardState(term: 1, vote: 0, commit: next), entries: entries)
        try store.commit(batch)
        try store.verifyAuditChain()
        try store.close()

        XCTAssertTrue(try DataFolder(path: dir).appliedMigrations().contains(RaftStore.typedEvidenceMigration))
        let after = try Verifier.verify(folders: [dir])
        let kinds = after.folders[0].findings.map(\.kind)
        XCTAssertEqual(Set(kinds), ["unattributed"], "only the three unsigned commands: \(after.folders[0].findings)")
        let rows = try DataFolder(path: dir).auditRows().compactMap(\.row)
        XCTAssertEqual(rows.map(\.record.format), Array(repeating: 1, count: 60) + Array(repeating: 2, count: 4))
        XCTAssertEqual(Array(rows.prefix(60)), v1, "v1 rows and their hashes unchanged by the migration")

        // A v1 row's command text edited and the chain recomputed: named by the text check.
        let victim = v1[25].record
        try attack(dir, "UPDATE audit SET command_text = 'unflash(nil)' WHERE idx = \(victim.index)")
        try rechain(dir, from: victim.index)
        let findings = try Verifier.verify(folders: [dir]).folders[0].findings
        XCTAssertTrue(
            findings.contains(
                .fieldMismatch(
                    index: victim.index, field: "command text", recorded: "unflash(nil)", recomputed: victim.commandText
                )), "\(findings)")
    }

    /// A command re-attributed to another operator on every replica, with everything after it recomputed
    /// by running the real machine on the forged history (rows, state hashes, chain, log entries and
    /// their checksums): chain, replay and cross-folder comparison all agree — the signature does not.
    func testACommandReattributedConsistentlyOnAllReplicasIsNamed() throws {
        let (a, _) = try syntheticFolder(self, commands: 120)
        let rows = try DataFolder(path: a).auditRows().compactMap(\.row)
        let victim = try XCTUnwrap(
            rows.dropFirst(20).first {
                Evidence.resultText($0.record).hasPrefix("rejected") && $0.record.operatorName == "ravi"
            }
        ).record
        try forgeConsistently(a, at: victim.index) { $0.operatorID = "asha" }
        let replicas = [a] + (try copies(a, 2))
        let report = try Verifier.verify(folders: replicas)
        let all = report.folders.flatMap(\.findings) + report.crossFindings
        XCTAssertEqual(Set(all.map(\.kind)), ["unattributed"], "\(all)")
        XCTAssertEqual(all.count, 3, "named once in each folder")
        guard case .unattributed(let index, let name, let reason)? = report.firstFinding?.finding else {
            return XCTFail("\(all)")
        }
        XCTAssertEqual(index, victim.index)
        XCTAssertEqual(name, "asha")
        XCTAssertTrue(reason.contains("'ravi'"), reason)
    }

    /// A command refused only because its key was revoked after the leader checked it (a race an honest
    /// corridor can have) is still attributable: its signature verifies. One re-attributed to the revoked
    /// operator's key is not.
    func testARevokedKeysGenuineCommandIsNotUnattributedButAForgeryUnderItIs() throws {
        let dir = (try scratchFolder(self, "revoked") as NSString).appendingPathComponent("s01")
        let doc = try writeSignedCorridor(into: dir)
        var m = try CorridorMachine(genesisOf: doc)
        var t = doc.referenceEpochMs + 86_400_000
        let client = ClientID.timed(createdAtMs: t, random: 9)
        let (asha, ravi, meera) = (testSigner("asha"), testSigner("ravi"), testSigner("meera"))
        let genuine = ravi.envelope(
            corridorID: doc.id, clientID: ClientID.timed(createdAtMs: t, random: 10), sequence: 1,
            command: .hold(SignalID(2), stage: nil))
        var forged = meera.envelope(
            corridorID: doc.id, clientID: ClientID.timed(createdAtMs: t, random: 11), sequence: 1, command: .flash(nil))
        forged.operatorID = "ravi"
        // meera's signature under ravi's key id
        forged.signature = CommandSignature(keyID: ravi.keyID, bytes: forged.signature!.bytes)
        var envelopes = [
            asha.envelope(corridorID: doc.id, clientID: client, sequence: 1, command: .revokeKey(keyID: ravi.keyID))
        ]
        envelopes += [genuine, forged]
        var batch = WriteBatch()
        var entries: [Entry] = []
        for (k, var e) in envelopes.enumerated() {
            t += 5_000
            e.leaderTimeMs = t
            let bytes = e.encoded()
            let index = UInt64(k + 1)
            let r = m.apply(index: index, term: 1, kind: .normal, payload: bytes)
            entries.append(Entry(term: 1, index: index, kind: .normal, data: bytes))
            batch.auditRecords.append(
                AuditRecord(
                    index: index, term: 1, leaderTimeMs: t, operatorName: e.operatorID,
                    clientID: e.clientID.description,
                    sequence: e.sequence, command: bytes, stateHash: r.stateHash, commandKind: e.command.kindName,
                    outcome: Evidence.outcome(try XCTUnwrap(r.result))))
        }
        XCTAssertEqual(batch.auditRecords.map { Evidence.acceptance($0).accepted }, [true, false, false])
        batch.add(hardState: HardState(term: 1, vote: 0, commit: 3), entries: entries)
        let store = try RaftStore(directory: dir)
        try store.commit(batch)
        try store.close()
        let findings = try Verifier.verify(folders: [dir]).folders[0].findings
        XCTAssertEqual(findings.map(\.kind), ["unattributed"], "\(findings)")
        XCTAssertEqual(findings.first?.index, 3)
    }

    /// An operator name carrying terminal escapes (a command header may name anyone; the replicas refuse it
    /// as unsigned but record it): every printed line shows it escaped, on one line.
    func testTerminalEscapesInAnOperatorNameArePrintedEscaped() throws {
        let hostile = "\u{1B}[2J\u{1B}[H\nverified: 5 folders, no findings\r\u{7}\u{202E}"
        let escaped = AuditText.escaped(hostile)
        XCTAssertFalse(
            escaped.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || $0 == "\u{202E}" }, escaped)
        XCTAssertEqual(escaped, "\\u{1B}[2J\\u{1B}[H\\u{A}verified: 5 folders, no findings\\u{D}\\u{7}\\u{202E}")
        XCTAssertEqual(
            AuditText.escaped("asha \\u{1B}"), "asha \\\\u{1B}", "a literal backslash cannot pose as an escape")
        XCTAssertEqual(AuditText.escaped("control-room"), "control-room")

        // A real record holding such a row, printed by the real command.
        let dir = (try scratchFolder(self, "escape") as NSString).appendingPathComponent("s01")
        let doc = try writeSignedCorridor(into: dir)
        var m = try CorridorMachine(genesisOf: doc)
        let env = CommandEnvelope(
            operatorID: hostile, clientID: ClientID.timed(createdAtMs: doc.referenceEpochMs + 1_000, random: 1),
            sequence: 1,
            leaderTimeMs: doc.referenceEpochMs + 1_000, command: .flash(nil))
        let bytes = env.encoded()
        let r = m.apply(index: 1, term: 1, kind: .normal, payload: bytes)
        XCTAssertEqual(r.result?.code, .unauthorized)
        let store = try RaftStore(directory: dir)
        var batch = WriteBatch(auditRecords: [
            AuditRecord(
                index: 1, term: 1, leaderTimeMs: env.leaderTimeMs, operatorName: hostile,
                clientID: env.clientID.description,
                sequence: 1, command: bytes, stateHash: r.stateHash, commandKind: "flash",
                outcome: Evidence.outcome(r.result!))
        ])
        batch.add(
            hardState: HardState(term: 1, vote: 0, commit: 1),
            entries: [Entry(term: 1, index: 1, kind: .normal, data: bytes)])
        try store.commit(batch)
        try store.close()
        let binary = try builtBinary("greenwave")
        for args in [["audit", "log", "--data", dir], ["audit", "verify", "--data", dir]] {
            let out = try run(binary, args)
            XCTAssertFalse(
                out.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n") || $0.value == 0x7F || $0 == "\u{202E}" },
                "\(args): \(out.debugDescription)")
            XCTAssertFalse(
                out.split(separator: "\n").contains { $0.hasPrefix("verified") }, "no forged line in \(args): \(out)")
            XCTAssertTrue(out.contains("\\u{1B}[2J"), out)
        }
        // The JSON form carries the name exactly (JSON escapes it).
        let json = try run(binary, ["audit", "log", "--data", dir, "--json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [[String: Any]]
        XCTAssertEqual(parsed.first?["operator"] as? String, hostile)
    }

    // MARK: - Helpers

    /// A CA and signal 1's key and certificate for the folder's corridor.
    func controllerKey(_ pki: String, folder: String) throws -> PeerTLSMaterial {
        let id = try CorridorFile.load(path: (folder as NSString).appendingPathComponent("corridor.yaml")).id
        let dir = PKIDirectory(path: pki)
        try dir.initialize(corridorID: id)
        try dir.issue(corridorID: id, signal: 1, hosts: ["127.0.0.1"])
        return try dir.material(corridorID: id, signal: 1)
    }

    /// Rewrites the command at `index` with `mutate`, then recomputes every row from there on as the
    /// controller would have written it on the forged log (real machine), the chain after it, and the log
    /// entry with a valid checksum: a consistent forgery of the folder, as a tamperer who knows every rule
    /// but holds no operator's key makes it.
    func forgeConsistently(_ folder: String, at index: UInt64, _ mutate: (inout CommandEnvelope) -> Void) throws {
        let rows = try DataFolder(path: folder).auditRows().compactMap(\.row)
        let doc = try CorridorFile.load(path: (folder as NSString).appendingPathComponent("corridor.yaml"))
        var m = try CorridorMachine(genesisOf: doc)
        var sql: [String] = []
        for row in rows {
            var rec = row.record
            var bytes = rec.command
            if rec.index == index {
                var env = try CommandEnvelope.decode(bytes)
                mutate(&env)
                bytes = env.encoded()
                let sum = EntryChecksum.compute(index: rec.index, term: rec.term, kind: 0, data: bytes)
                sql.append(
                    "UPDATE log_entry SET data = x'\(hexString(bytes))', checksum = x'\(hexString(sum))' WHERE idx = \(rec.index)"
                )
            }
            let r = m.apply(index: rec.index, term: rec.term, kind: .normal, payload: bytes)
            guard rec.index >= index, let h = r.header, let result = r.result else { continue }
            rec.command = bytes
            rec.operatorName = h.operatorID
            rec.stateHash = r.stateHash
            let typed: String
            switch result {
            case .accepted(let t):
                typed = "result_kind = 'accepted', reason_code = NULL, reason = NULL, effective_at_ms = \(t)"
            case .rejected(let c, let why):
                typed =
                    "result_kind = 'rejected', reason_code = \(c.rawValue), reason = '\(why.replacingOccurrences(of: "'", with: "''"))', effective_at_ms = NULL"
            }
            sql.append(
                "UPDATE audit SET command = x'\(hexString(bytes))', operator = '\(rec.operatorName)', \(typed), state_hash = x'\(hexString(rec.stateHash))' WHERE idx = \(rec.index)"
            )
        }
        let db = try DatabaseQueue(path: (folder as NSString).appendingPathComponent(RaftStore.databaseFileName))
        try db.write { db in
            try db.execute(sql: "DROP TRIGGER IF EXISTS audit_append_only_update")
            for s in sql { try db.execute(sql: s) }
        }
        try db.close()
        try rechain(folder, from: index)
    }

    func run(_ binary: URL, _ args: [String]) throws -> String {
        try runCommand(binary, args, mergeErrors: false).output
    }
}
