import ArgumentParser
import Audit
import Console
import Foundation
import GreenwaveAPI
import PKI
import SignalTiming
import Storage

/// `greenwave audit log|verify|at|export|measures|checkpoint|bench`: questions an investigator asks of controllers' data
/// folders. Read-only. Exit status: 0 fine, 1 the record failed a check (or replay and lamp log
/// disagree), 64 bad input. See docs/audit.md.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract:
            "Replay and verify controllers' records: command log, chain and replay check, a signal at an instant, ATSPM export.",
        subcommands: [
            AuditLogCommand.self, AuditVerifyCommand.self, AuditAtCommand.self, AuditExportCommand.self,
            AuditMeasuresCommand.self, AuditCheckpointCommand.self, AuditBenchCommand.self
        ]
    )
}

/// Runs `body`; turns an `AuditError` into a message on standard error and exit 64 (bad input) or 1.
func auditing(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as AuditError {
        FileHandle.standardError.write(Data("greenwave audit: \(e.message)\n".utf8))
        throw ExitCode(e.isBadInput ? 64 : 1)
    }
}

/// One line of a report: recorded strings inside it (operator names, reasons, command text) are escaped,
/// so that a row cannot move the cursor, clear the screen or start a forged line.
func printLine(_ line: String) { print(AuditText.escaped(line)) }

func parseTime(_ s: String?, _ option: String) throws -> Int64? {
    guard let s else { return nil }
    return try AuditTime.parse(s, option: option)
}

func printJSON(_ value: Any) throws {
    let data = try JSONSerialization.data(
        withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

private func parseStart(_ s: String?) throws -> ReplayStart {
    guard let s else { return .automatic }
    if s == "latest" { return .snapshot(nil) }
    if s == "none" { return .genesis }
    guard let i = UInt64(s) else {
        throw AuditError("--from-snapshot must be 'latest', 'none' or a log index, got '\(s)'")
    }
    return .snapshot(i)
}

struct AuditLogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract:
            "Every command in log order: index, term, leader time, operator, command, result, when it took effect.")
    @Option(help: "A controller's data folder (e.g. .greenwave-demo/s01).") var data: String
    @Option(help: "Only commands the leader proposed at or after this time (ISO-8601 UTC or epoch ms).") var from:
        String?
    @Option(help: "Only commands the leader proposed before this time.") var to: String?
    @Flag(help: "JSON instead of a table.") var json = false

    func run() throws {
        try auditing {
            let folder = try DataFolder(path: data)
            let entries = try CommandLog.entries(
                folder: folder, from: try parseTime(from, "--from") ?? .min, to: try parseTime(to, "--to") ?? .max)
            if json {
                try printJSON(
                    entries.map { e -> [String: Any] in
                        var o: [String: Any] = [
                            "index": e.index, "term": e.term, "leader_time_ms": e.leaderTimeMs,
                            "leader_time": AuditTime.iso(e.leaderTimeMs),
                            "operator": e.operatorName, "client_id": e.clientID, "sequence": e.sequence,
                            "command": e.command, "command_text": e.commandText,
                            "result": e.result, "accepted": e.accepted, "state_hash": e.stateHash, "format": e.format
                        ]
                        if e.format == 2 {
                            o["command_kind"] = e.commandKind
                            o["command_text"] = nil
                        }
                        if let t = e.effectiveAtMs {
                            o["effective_at_ms"] = t
                            o["effective_at"] = AuditTime.iso(t)
                        }
                        if let k = e.keyID { o["key_id"] = k }
                        return o
                    })
                return
            }
            printLine(
                "\(pad("index", 6)) \(pad("term", 4)) \(pad("leader time", 24)) \(pad("operator", 12)) \(pad("key", 16)) \(pad("command", 30)) \(pad("effective", 24)) result"
            )
            for e in entries {
                let effective = e.effectiveAtMs.map { AuditTime.iso($0, digits: 1) } ?? "-"
                let result = e.accepted ? "accepted" : e.result
                printLine(
                    "\(pad("\(e.index)", 6)) \(pad("\(e.term)", 4)) \(pad(AuditTime.iso(e.leaderTimeMs), 24)) \(pad(e.operatorName.isEmpty ? "-" : e.operatorName, 12)) \(pad(e.keyID ?? (CommandLog.isCheckpoint(e) ? "-" : "unsigned"), 16)) \(pad(e.command, 30)) \(pad(effective, 24)) \(result)"
                )
            }
            let checkpoints = entries.filter(CommandLog.isCheckpoint).count
            printLine(
                "\(entries.count - checkpoints) commands\(checkpoints > 0 ? " and \(checkpoints) audit checkpoints" : "") (rows as stored; `greenwave audit verify` checks them)"
            )
        }
    }
}

struct AuditVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract:
            "Check the hash chain row by row, replay every command and compare state hashes; several folders must agree.",
        discussion:
            "Exit status 0: every check passed; 1: a finding (the first divergence is printed with its index, expected and found values); 64: bad input."
    )
    @Option(help: "A controller's data folder; repeat for several controllers.") var data: [String] = []
    @Option(
        help:
            "The corridor file the controllers were first started with (default: the copy each folder recorded, corridor.yaml)."
    ) var corridor: String?
    @Option(
        name: .customLong("from-snapshot"),
        help:
            "Replay from a stored snapshot (checksum-verified first): 'latest' or its log index; 'none' forces the initial state."
    )
    var fromSnapshot: String?
    @Option(
        help: "An anchor exported by `greenwave audit checkpoint` (kept off-site): every folder is checked against it.")
    var anchor: String?
    @Option(
        help: "With --anchor: the corridor CA's certificate (ca.pem); the anchor's signer must have been issued by it.")
    var ca: String?
    @Flag(help: "JSON report.") var json = false

    func run() throws {
        try auditing {
            guard !data.isEmpty else { throw AuditError("give at least one --data folder") }
            if ca != nil && anchor == nil { throw AuditError("--ca checks an anchor's signer: give --anchor too") }
            let a = try anchor.map { try AuditAnchor.load(path: $0, caPath: ca) }
            let report = try Verifier.verify(
                folders: data, corridor: corridor, start: try parseStart(fromSnapshot), anchor: a)
            if json {
                try printJSON(jsonReport(report, anchor: a))
            } else {
                printText(report, anchor: a)
            }
            if !report.ok { throw ExitCode(1) }
        }
    }

    func jsonReport(_ report: VerifyReport, anchor a: AuditAnchor?) -> [String: Any] {
        return [
            "ok": report.ok,
            "folders": report.folders.map { f -> [String: Any] in
                [
                    "path": f.path, "rows": f.rowCount,
                    "first_index": f.firstIndex.map { $0 as Any } ?? NSNull(),
                    "last_index": f.lastIndex.map { $0 as Any } ?? NSNull(), "head_hash": f.headHash,
                    "replay_origin": f.replayOrigin,
                    "replayed": f.replayed, "not_replayed": f.notReplayed, "replay_seconds": f.replaySeconds,
                    "snapshots_checked": f.snapshotsChecked, "log_entries_checked": f.logEntriesChecked,
                    "checkpoints": f.checkpoints.map {
                        [
                            "index": $0.index, "head_index": $0.checkpoint.headIndex,
                            "head_hash": hexString($0.checkpoint.headHash)
                        ] as [String: Any]
                    },
                    "findings": f.findings.map {
                        ["index": $0.index, "kind": $0.kind, "message": $0.description] as [String: Any]
                    }
                ]
            },
            "cross_findings": report.crossFindings.map {
                ["index": $0.index, "kind": $0.kind, "message": $0.description] as [String: Any]
            },
            "anchor": a.map {
                [
                    "path": $0.path, "signer": $0.signer, "checkpoint_index": $0.checkpointIndex,
                    "head_index": $0.checkpoint.headIndex,
                    "head_hash": hexString($0.checkpoint.headHash), "ca_checked": $0.checkedAgainstCA
                ] as [String: Any]
            } ?? NSNull()
        ]
    }

    func printText(_ report: VerifyReport, anchor a: AuditAnchor?) {
        for f in report.folders {
            let range = f.firstIndex.map { "\($0)…\(f.lastIndex!)" } ?? "none"
            printLine("\(f.path): \(f.rowCount) audit rows (indexes \(range)), chain head \(f.headHash)")
            let rate =
                f.replaySeconds > 0
                ? String(format: ", %.0f commands/s", Double(f.replayed) / f.replaySeconds) : ""
            printLine(
                "  replayed \(f.replayed) commands from \(f.replayOrigin) in \(String(format: "%.3f", f.replaySeconds)) s\(rate)"
            )
            if f.notReplayed > 0 { printLine("  \(f.notReplayed) rows after the divergence were not compared") }
            printLine(
                "  snapshots checked: \(f.snapshotsChecked); committed log entries cross-checked: \(f.logEntriesChecked); audit checkpoints: \(f.checkpoints.count)\(f.checkpoints.last.map { " (last at index \($0.index), head \($0.checkpoint.headIndex))" } ?? "")"
            )
            if f.findings.isEmpty {
                printLine("  OK: chain intact, every recorded state hash reproduced")
            } else {
                for x in f.findings { printLine("  FAIL [\(x.kind)] \(x.description)") }
            }
        }
        if let a {
            printLine(
                "anchor \(a.path): checkpoint \(a.checkpointIndex) (head \(a.checkpoint.headIndex)), signed by \(a.signer)\(a.checkedAgainstCA ? ", issued by the CA given" : " (signer not checked against a CA: give --ca)")"
            )
        }
        if report.folders.count > 1 && report.crossFindings.isEmpty {
            printLine("folders agree at every index they share, and with every checkpoint")
        }
        for x in report.crossFindings { printLine("FAIL [\(x.kind)] \(x.description)") }
        if let first = report.firstFinding {
            printLine(
                "FIRST DIVERGENCE: index \(first.finding.index)\(first.folder.map { " in \($0)" } ?? ""): \(first.finding.description)"
            )
        } else {
            printLine(
                "verified: \(report.folders.count) folder\(report.folders.count == 1 ? "" : "s"), no findings")
        }
    }
}

struct AuditAtCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "at",
        abstract:
            "What a signal showed at an instant, why, and on whose command — by replay, cross-checked against the controller's lamp log.",
        discussion: "Exit status 1 when the replay and the lamp event log disagree (each difference is printed).")
    @Option(help: "The data folder of the signal's own controller (its lamp log is the cross-check).") var data: String
    @Option(help: "Signal id (S3 or 3).") var signal: String
    @Option(help: "The instant (ISO-8601 UTC, e.g. 2026-11-26T23:40:12.3Z, or epoch ms).") var time: String
    @Option(help: "The corridor file (default: the folder's recorded copy).") var corridor: String?
    @Flag(help: "JSON report.") var json = false

    func run() throws {
        try auditing {
            guard let id = parseSignal(signal) else { throw AuditError("--signal: '\(signal)' is not a signal id") }
            let t = try AuditTime.parse(time, option: "--time")
            let folder = try DataFolder(path: data)
            let r = try SignalAt.report(folder: folder, signal: id, at: t, corridor: corridor)
            if json {
                try printJSON(jsonReport(r, at: t))
            } else {
                printState(r, at: t)
                printChecks(r)
            }
            if !r.disagreements.isEmpty || r.replayDivergence != nil { throw ExitCode(1) }
        }
    }

    static func ref(_ c: SignalAtReport.CommandRef?) -> Any {
        guard let c else { return NSNull() }
        return [
            "index": c.index, "operator": c.operatorName, "command": c.command,
            "leader_time": AuditTime.iso(c.leaderTimeMs),
            "effective_at": c.effectiveAtMs.map { AuditTime.iso($0) as Any } ?? NSNull()
        ] as [String: Any]
    }

    func jsonReport(_ r: SignalAtReport, at t: Int64) -> [String: Any] {
        let ref = Self.ref
        return [
            "signal": r.signal, "name": r.signalName, "time": AuditTime.iso(t), "time_ms": t,
            "lamps": r.phases.map {
                [
                    "phase": $0.phase, "name": $0.name, "lamp": lampWord($0.lamp),
                    "log_lamp": $0.logLamp.map { lampWord($0) as Any }
                        ?? ($0.logNotGreen ? "not green" : NSNull())
                ] as [String: Any]
            },
            "interval": r.interval.rawValue, "stage": r.stageName ?? NSNull(),
            "interval_start": AuditTime.iso(r.intervalStartMs),
            "into_interval_ms": t - r.intervalStartMs,
            "interval_end": r.intervalEndMs.map { AuditTime.iso($0) as Any } ?? NSNull(),
            "mode": r.mode.rawValue, "plan": r.plan,
            "cycle_position_ms": r.cycleStartMs.map { (t - $0) as Any } ?? NSNull(),
            "cause": ref(r.cause), "corridor_plan": r.corridorPlan,
            "corridor_plan_since": AuditTime.iso(r.corridorPlanSinceMs),
            "corridor_plan_source": ref(r.corridorPlanSource),
            "pending_modes": r.pendingModes.map {
                ["plan": $0.plan, "effective_at": AuditTime.iso($0.effectiveAtMs), "source": ref($0.source)]
                    as [String: Any]
            },
            "preemptions": r.preemptions.map {
                [
                    "direction": $0.direction, "effective_at": AuditTime.iso($0.effectiveAtMs),
                    "ends_at": AuditTime.iso($0.endsAtMs), "source": ref($0.source)
                ] as [String: Any]
            },
            "commands_replayed": r.commandsReplayed, "last_command_index": r.lastCommandIndex,
            "replay_origin": r.replayOrigin,
            "replay_divergence": r.replayDivergence.map { $0 as Any } ?? NSNull(),
            "lamp_log": r.lampLog.map {
                [
                    "since_start": AuditTime.iso($0.sinceStartMs), "last_event": AuditTime.iso($0.lastEventMs),
                    "pattern": $0.pattern.map { $0 as Any } ?? NSNull(),
                    "pattern_name": r.logPatternName ?? NSNull(),
                    "coordination": $0.coordination.map { HiResCode.coordinationName($0) as Any } ?? NSNull(),
                    "stopped_at": $0.stoppedAtMs.map { AuditTime.iso($0) as Any } ?? NSNull()
                ] as [String: Any]
            } ?? NSNull(),
            "disagreements": r.disagreements,
            "actuated": r.actuated ?? NSNull()
        ]
    }

    /// What the signal showed and why: lamps, interval, mode and plan, the command behind it, the corridor's
    /// mode and what was pending.
    func printState(_ r: SignalAtReport, at t: Int64) {
        printLine("S\(r.signal) \(r.signalName) at \(AuditTime.iso(t))")
        printLine(
            (r.actuated == nil ? "  lamps:     " : "  fixed-time model (not what it showed): ")
                + r.phases.map { "\($0.phase)=\(lampWord($0.lamp))" }.joined(separator: "  "))
        var interval = "\(r.interval.rawValue)"
        if let s = r.stageName { interval += " of stage \(s)" }
        interval +=
            ", \(AuditTime.duration(t - r.intervalStartMs)) into it (since \(AuditTime.iso(r.intervalStartMs, digits: 1)))"
        if let e = r.intervalEndMs {
            interval += ", \(AuditTime.duration(e - t)) left"
        } else {
            interval += ", resting until a command ends it"
        }
        printLine("  interval:  \(interval)")
        var plan = "\(r.plan)"
        if let c = r.cycleStartMs, let len = r.cycleMs, len > 0 {
            plan += ", \(AuditTime.duration(t - c)) into its \(AuditTime.duration(len)) cycle"
        }
        printLine("  mode:      \(r.mode.rawValue), plan \(plan)")
        if let c = r.cause {
            printLine(
                "  because:   command \(c.index) by \(c.operatorName): \(c.command) (proposed \(AuditTime.iso(c.leaderTimeMs, digits: 1))\(c.effectiveAtMs.map { ", effective \(AuditTime.iso($0, digits: 1))" } ?? ""))"
            )
        } else {
            printLine("  because:   the corridor's initial plan (no command)")
        }
        if r.corridorPlan != r.plan, r.mode != .flash, r.mode != .hold {
            printLine(
                "  note:      the corridor runs plan \(r.corridorPlan); this signal adopts it at its next coordinated-green start (safe transition)"
            )
        }
        printLine(
            "  corridor:  plan \(r.corridorPlan) since \(AuditTime.iso(r.corridorPlanSinceMs, digits: 1))\(r.corridorPlanSource.map { " (command \($0.index) by \($0.operatorName))" } ?? "")"
        )
        for p in r.pendingModes {
            printLine(
                "  pending:   plan \(p.plan) from \(AuditTime.iso(p.effectiveAtMs, digits: 1)) (command \(p.source.index) by \(p.source.operatorName))"
            )
        }
        for p in r.preemptions {
            printLine(
                "  preemption: \(p.direction) from \(AuditTime.iso(p.effectiveAtMs, digits: 1)) to \(AuditTime.iso(p.endsAtMs, digits: 1)) (command \(p.source.index) by \(p.source.operatorName))"
            )
        }
    }

    /// How far the answer can be trusted: the replay, the lamp log and their cross-check.
    func printChecks(_ r: SignalAtReport) {
        printLine(
            "  replay:    \(r.commandsReplayed) commands through index \(r.lastCommandIndex) from \(r.replayOrigin)\(r.replayDivergence.map { "; WARNING: state hash differs from the record at index \($0) — run audit verify" } ?? "; every state hash matched the record")"
        )
        if let l = r.lampLog, let stopped = l.stoppedAtMs {
            printLine(
                "  lamp log:  the controller stopped at \(AuditTime.iso(stopped, digits: 1)) (event 182) and had not started again: the lamps were the cabinet's, not this controller's"
            )
        } else if let l = r.lampLog {
            let lamps = zip(r.phases, l.lamps).map { "\($0.0.phase)=\($0.1.map(lampWord) ?? "not green")" }
                .joined(separator: "  ")
            printLine("  lamp log:  " + lamps)
            printLine(
                "             pattern \(l.pattern.map { "\($0)" } ?? "?") (\(r.logPatternName ?? "?")), \(l.coordination.map(HiResCode.coordinationName) ?? "?"); controller running since \(AuditTime.iso(l.sinceStartMs, digits: 1)), last event \(AuditTime.iso(l.lastEventMs, digits: 1))"
            )
        } else {
            printLine(
                "  lamp log:  no start-up record at or before this instant in \(data) (controller not running yet, or not this signal's folder)"
            )
        }
        if let lines = r.actuated {
            printLine(
                "  actuated:  a dual-ring controller: its lamp log is the record (the replay gives the replicated mode and plan)"
            )
            for l in lines { printLine("             \(l)") }
        } else if r.disagreements.isEmpty {
            printLine(
                r.lampLog == nil || r.lampLog?.stoppedAtMs != nil
                    ? "  cross-check: not possible" : "  cross-check: replay and lamp log agree")
        } else {
            for d in r.disagreements { printLine("  DISAGREE:  \(d)") }
        }
    }
}

struct AuditExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract:
            "The lamp event log as Indiana hi-res event rows (ATSPM CSV: SignalID,Timestamp,EventCode,EventParam).")
    @Option(help: "A controller's data folder.") var data: String
    @Option(help: "Output format (only 'atspm').") var format: String = "atspm"
    @Option(help: "Window start (ISO-8601 UTC or epoch ms); the state at that instant is written first.") var from:
        String?
    @Option(help: "Window end (exclusive).") var to: String?
    @Option(help: "Only this signal (default: every signal in the folder's log).") var signal: String?
    @Option(help: "Timestamp style: 'space' (2026-11-26 23:40:12.3) or 'iso' (2026-11-26T23:40:12.3). UTC either way.")
    var timestamp: String = "space"
    @Option(help: "The corridor file (default: the folder's recorded copy).") var corridor: String?
    @Option(help: "Write to this file instead of standard output.") var out: String?

    func run() throws {
        try auditing {
            guard format == "atspm" else { throw AuditError("--format: only 'atspm' is supported, got '\(format)'") }
            guard let style = ATSPMExport.TimestampStyle(rawValue: timestamp) else {
                throw AuditError("--timestamp must be 'space' or 'iso'")
            }
            var sig: Int?
            if let s = signal {
                guard let id = parseSignal(s) else { throw AuditError("--signal: '\(s)' is not a signal id") }
                sig = id
            }
            let folder = try DataFolder(path: data)
            let (rows, warnings) = try ATSPMExport.export(
                folder: folder, corridor: corridor, signal: sig, from: try parseTime(from, "--from"),
                to: try parseTime(to, "--to"))
            for w in warnings { FileHandle.standardError.write(Data("greenwave audit export: warning: \(w)\n".utf8)) }
            let text = ATSPMExport.csv(rows, style: style)
            if let out {
                do { try text.write(toFile: out, atomically: true, encoding: .utf8) } catch {
                    throw AuditError("--out \(out): \(error.localizedDescription)")
                }
                FileHandle.standardError.write(
                    Data(
                        "wrote \(rows.count) rows (\(rows.filter(\.synthesized).count) stating the window's start) to \(out)\n"
                            .utf8))
            } else {
                print(text, terminator: "")
            }
        }
    }
}

struct AuditCheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract:
            "Export the folder's newest audit checkpoint, signed with its controller's peer TLS key, as an anchor to keep off-site.",
        discussion: "`greenwave audit verify --anchor FILE [--ca ca.pem]` checks folders against it (docs/audit.md).")
    @Option(help: "The controller's data folder.") var data: String
    @Option(
        name: .customLong("peer-tls-dir"),
        help: "The PKI folder with the controller's key and certificate (`greenwave pki issue`).") var peerTLSDir:
        String
    @Option(help: "The controller's signal number (its key is signal-N.key).") var signal: UInt64
    @Option(help: "The corridor file (default: the folder's recorded copy).") var corridor: String?
    @Option(help: "Write the anchor here (JSON).") var out: String

    func run() throws {
        try auditing {
            let folder = try DataFolder(path: data)
            guard let doc = try folder.corridor(override: corridor) else {
                throw AuditError("--data \(data): no corridor.yaml in it; give --corridor")
            }
            let material: PeerTLSMaterial
            do {
                material = try PKIDirectory(path: peerTLSDir).material(corridorID: doc.document.id, signal: signal)
            } catch {
                throw AuditError("--peer-tls-dir \(peerTLSDir): \(error)")
            }
            let text = try AuditAnchor.export(folder: folder, material: material)
            do { try text.write(toFile: out, atomically: true, encoding: .utf8) } catch {
                throw AuditError("--out \(out): \(error.localizedDescription)")
            }
            let a = try AuditAnchor.load(path: out)
            printLine(
                "wrote \(out): checkpoint \(a.checkpointIndex) (chain head row \(a.checkpoint.headIndex), \(hexString(a.checkpoint.headHash))), signed by \(a.signer)"
            )
        }
    }
}

struct AuditBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure replay speed: write a synthetic record of N commands to a scratch folder, then verify it.")
    @Option(help: "Commands in the synthetic record.") var commands: Int = 100_000
    @Option(help: "The corridor file.") var corridor: String = "corridors/western-express-highway.yaml"
    @Option(help: "Scratch folder (default: a new one under the temporary directory, removed afterwards).") var dir:
        String?
    @Option(help: "Seed of the command generator.") var seed: UInt64 = 1
    @Option(
        name: .customLong("checkpoint-every"),
        help: "An audit checkpoint after every N rows (0: none, as before checkpoints existed).") var checkpointEvery:
        Int = 0

    func run() throws {
        try auditing {
            guard commands >= 1, commands <= 10_000_000 else {
                throw AuditError("--commands must be between 1 and 10,000,000")
            }
            let scratch =
                dir ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("greenwave-audit-bench-\(getpid())")
            defer { if dir == nil { try? FileManager.default.removeItem(atPath: scratch) } }
            let t0 = Date()
            guard checkpointEvery >= 0, checkpointEvery <= 1_000_000 else {
                throw AuditError("--checkpoint-every must be between 0 and 1,000,000")
            }
            let written = try SyntheticRecord.write(
                commands: commands, corridorPath: corridor, into: scratch, seed: seed, checkpointEvery: checkpointEvery)
            let t1 = Date()
            print(
                "wrote \(written.rows) audit rows (\(written.accepted) accepted, \(written.rejected) rejected — \(written.saturated) of them for too many uncompacted events —, \(written.duplicates) duplicates) in \(String(format: "%.1f", t1.timeIntervalSince(t0))) s"
            )
            let folder = try DataFolder(path: scratch)
            let report = try Verifier.verify(folder: folder)
            let t2 = Date()
            print(
                String(
                    format:
                        "verify: %d commands replayed in %.3f s = %.0f commands/s (whole verify incl. reading and chain check: %.3f s); findings: %d",
                    report.replayed, report.replaySeconds, Double(report.replayed) / report.replaySeconds,
                    t2.timeIntervalSince(t1), report.findings.count))
            if !report.findings.isEmpty {
                for f in report.findings.prefix(5) { print("  \(f)") }
                throw ExitCode(1)
            }
        }
    }
}

/// `s` padded with spaces to `n` characters (the CLI's tables).
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
