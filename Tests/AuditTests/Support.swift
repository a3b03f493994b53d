import Audit
import CorridorFile
import CorridorMachine
import Foundation
import GRDB
import GreenwaveTestSupport
import Storage
import XCTest

let repoRoot = Repo.root
let demoCorridor = Repo.demoCorridor

/// A scratch folder removed when the test ends (its path).
func scratchFolder(_ test: XCTestCase, _ name: String = "audit") throws -> String {
    try temporaryFolder(test, name).path
}

/// A data folder with a synthetic history (SyntheticRecord: real machine, real store).
func syntheticFolder(
    _ test: XCTestCase, commands: Int, seed: UInt64 = 7
) throws -> (path: String, summary: SyntheticRecord.Summary) {
    let dir = (try scratchFolder(test, "record") as NSString).appendingPathComponent("s01")
    let summary = try SyntheticRecord.write(commands: commands, corridorPath: demoCorridor, into: dir, seed: seed)
    return (dir, summary)
}

/// What an attacker with the file does: open the database directly and drop the append-only triggers.
func attack(_ folder: String, _ sql: String...) throws {
    let db = try DatabaseQueue(path: (folder as NSString).appendingPathComponent(RaftStore.databaseFileName))
    try db.write { db in
        try db.execute(sql: "DROP TRIGGER IF EXISTS audit_append_only_update")
        try db.execute(sql: "DROP TRIGGER IF EXISTS audit_append_only_delete")
        for s in sql { try db.execute(sql: s) }
    }
    try db.close()
}

/// The audit indexes of a folder, in order.
func auditIndexes(_ folder: String) throws -> [UInt64] {
    try DataFolder(path: folder).auditRows().map(\.index)
}

/// Copies a data folder (database and corridor copy).
func copyFolder(_ from: String, to: String) throws {
    try FileManager.default.createDirectory(atPath: to, withIntermediateDirectories: true)
    for f in try FileManager.default.contentsOfDirectory(atPath: from) where f != RaftStore.lockFileName {
        try FileManager.default.copyItem(
            atPath: (from as NSString).appendingPathComponent(f), toPath: (to as NSString).appendingPathComponent(f))
    }
}

/// Rewrites rows from `index` on with correct chain hashes, as an attacker who knows the rules would
/// after editing a row: the chain then verifies, and only replay (or another replica) can tell.
func rechain(_ folder: String, from index: UInt64) throws {
    let rows = try DataFolder(path: folder).auditRows().compactMap(\.row)
    var prevIndex: UInt64 = 0
    var prevHash = AuditChain.zeroHash
    var updates: [String] = []
    for r in rows {
        if r.record.index >= index {
            let h = AuditChain.rowHash(r.record, prevIndex: prevIndex, prevRowHash: prevHash)
            updates.append(
                "UPDATE audit SET prev_index = \(prevIndex), prev_row_hash = x'\(hexString(prevHash))', row_hash = x'\(hexString(h))' WHERE idx = \(r.record.index)"
            )
            prevHash = h
        } else {
            prevHash = r.rowHash
        }
        prevIndex = r.record.index
    }
    let db = try DatabaseQueue(path: (folder as NSString).appendingPathComponent(RaftStore.databaseFileName))
    try db.write { db in
        try db.execute(sql: "DROP TRIGGER IF EXISTS audit_append_only_update")
        for u in updates { try db.execute(sql: u) }
    }
    try db.close()
}

/// The test key of an operator (derived from its name).
func testSigner(_ name: String) -> OperatorSigner { OperatorSigner(name: name, seed: "audit-test/\(name)") }

/// Writes the demo corridor into `dir` as a controller's corridor copy, with `names[0]` as its first
/// engineer and the other names as engineers from the start (`security.operators`); returns it loaded.
func writeSignedCorridor(into dir: String, names: [String] = ["asha", "ravi", "meera"]) throws -> CorridorDocument {
    var text = try String(contentsOfFile: demoCorridor, encoding: .utf8)
    text +=
        "\nsecurity:\n  first_engineer:\n    name: \(names[0])\n    public_key: \(Data(testSigner(names[0]).publicKey).base64EncodedString())\n"
    if names.count > 1 {
        text += "  operators:\n"
        for n in names.dropFirst() {
            text +=
                "    - { name: \(n), role: engineer, public_key: \(Data(testSigner(n).publicKey).base64EncodedString()) }\n"
        }
    }
    let path = (dir as NSString).appendingPathComponent("corridor.yaml")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return try CorridorFile.load(path: path)
}
