import CorridorFile
import Foundation
import RaftCore
import Storage

/// A controller's data folder opened for reading only, through `Storage.StoreReader`: the audit never
/// writes to the evidence and contains no SQL of its own (Storage owns the formats). Rows are read as
/// stored; nothing here trusts them.
public final class DataFolder: @unchecked Sendable {
    /// The schema this reader understands (docs/storage.md); a newer database is refused by name.
    public static let knownMigrations: Set<String> = Set(RaftStore.knownMigrations)

    public typealias StoredRow = StoreReader.StoredAuditRow
    public typealias RaftState = StoreReader.RaftState
    public typealias LogEntryRow = StoreReader.LogEntryRow
    public typealias SnapshotRow = StoreReader.SnapshotRow

    public let path: String
    let store: StoreReader

    public init(path: String) throws {
        self.path = path
        store = try Self.audited { try StoreReader(directory: path) }
    }

    /// The folder's name (`s01`), for reports.
    public var name: String { (path as NSString).lastPathComponent }

    /// The schema migrations applied to the database (docs/storage.md), oldest first.
    public func appliedMigrations() throws -> [String] { try Self.audited { try store.appliedMigrations() } }

    /// Every audit row in index order.
    public func auditRows() throws -> [StoredRow] { try Self.audited { try store.auditRows() } }

    public func raftState() throws -> RaftState { try Self.audited { try store.raftState() } }

    /// Log entries with index in [low, high], in order.
    public func logEntries(from low: LogIndex, through high: LogIndex) throws -> [LogEntryRow] {
        try Self.audited { try store.logEntries(from: low, through: high) }
    }

    /// Stored snapshots, oldest first (unverified: see `Replayer.verifiedSnapshot`).
    public func snapshots() throws -> [SnapshotRow] { try Self.audited { try store.snapshots() } }

    /// Lamp events with time in [from, to), of one signal (or all), in time order, ties in insertion order.
    public func lampEvents(signalID: String? = nil, from: Int64 = .min, to: Int64 = .max) throws -> [LampEvent] {
        try Self.audited { try store.lampEvents(signalID: signalID, from: from, to: to) }
    }

    /// The signals that have lamp events in this folder (normally one: the controller's own).
    public func lampSignals() throws -> [String] { try Self.audited { try store.lampSignals() } }

    /// The time of the latest event with `code` of `signalID` at or before `t`.
    public func lastLampEvent(signalID: String, code: Int64, atOrBefore t: Int64) throws -> Int64? {
        try Self.audited { try store.lastLampEvent(signalID: signalID, code: code, atOrBefore: t) }
    }

    // MARK: - Corridor

    /// Where the controller recorded its corridor file at first start (`Controller.CorridorCopy`).
    public static let corridorCopyName = "corridor.yaml"

    public var corridorCopyPath: String { (path as NSString).appendingPathComponent(Self.corridorCopyName) }

    /// The corridor the folder's history started from: `override` if given, else the folder's
    /// recorded copy; nil if neither (replay then needs a snapshot).
    public func corridor(override: String?) throws -> (document: CorridorDocument, source: String)? {
        let p: String
        if let o = override {
            p = o
        } else if FileManager.default.fileExists(atPath: corridorCopyPath) {
            p = corridorCopyPath
        } else {
            return nil
        }
        do {
            return (try CorridorFile.load(path: p), p)
        } catch {
            throw AuditError("corridor \(p): \(error)")
        }
    }

    /// The reader's failures as the audit reports them (bad input: exit 65; an I/O failure otherwise).
    private static func audited<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let f as StoreReader.Failure {
            throw AuditError(f.message, badInput: f.isBadInput)
        }
    }
}

/// A stored audit row: the record and its place in the hash chain.
public typealias ChainRow = AuditRow
