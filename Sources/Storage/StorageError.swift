import RaftCore

/// Everything that can go wrong in `RaftStore`, each case with what a person needs to act on it.
public enum StorageError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The data directory could not be created or opened.
    case cannotOpen(path: String, reason: String)
    /// Another process (or another `RaftStore` in this one) holds the data directory's lock file.
    case dataDirectoryLocked(path: String)
    /// The database was written by a newer Greenwave with a schema this binary does not know.
    case schemaTooNew(path: String, unknownMigrations: [String])
    /// SQLite refused an operation (I/O error, full disk, constraint, trigger).
    case sqlite(operation: String, message: String)
    /// The store was closed; no further operation is possible.
    case closed

    // Log
    /// The entries handed to `append` are not consecutive, or their terms decrease.
    case entriesNotConsecutive(at: LogIndex, previous: LogIndex)
    case termsDecrease(at: LogIndex, term: Term, previousTerm: Term)
    /// Appending at `firstIndex` would leave a hole after `lastIndex`.
    case appendLeavesGap(firstIndex: LogIndex, lastIndex: LogIndex)
    /// An entry below the compaction point was asked for; it only exists inside a snapshot now.
    case compacted(index: LogIndex, snapshotIndex: LogIndex)
    /// An index past the end of the log was asked for.
    case unavailable(index: LogIndex, lastIndex: LogIndex)
    /// A range with `low > high` was asked for.
    case invalidRange(low: LogIndex, high: LogIndex)
    /// A value does not fit SQLite's signed 64-bit INTEGER.
    case valueOutOfRange(field: String, value: UInt64)
    /// The log was compacted through `compactedThrough` but no snapshot covers it: the state machine
    /// cannot be rebuilt from this directory.
    case missingSnapshot(compactedThrough: LogIndex, newestSnapshot: LogIndex?)

    /// The log entry at `index` does not match the checksum stored with it (a flipped bit, an edited
    /// row): it must not be replayed or sent. `stored` is "none" for a row without a checksum.
    case entryChecksumMismatch(index: LogIndex, stored: String, computed: String)

    // Snapshots
    /// The snapshot's data does not hash to the SHA-256 stored with it: it must not be used.
    case snapshotChecksumMismatch(index: LogIndex, stored: String, computed: String)
    case snapshotNotFound(index: LogIndex)

    // Audit chain
    /// Audit rows must be appended with strictly increasing indexes.
    case auditIndexNotIncreasing(index: LogIndex, lastAuditIndex: LogIndex)
    /// A state hash must be exactly 32 bytes (SHA-256).
    case invalidStateHash(index: LogIndex, length: Int)

    /// `recordIdentity` was given an identity other than the one the folder already records.
    case identityAlreadyRecorded(path: String)

    /// A stored row cannot be decoded (unknown entry kind, malformed membership, ...).
    case corruptRow(table: String, key: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot open the storage at \(path): \(reason)"
        case .dataDirectoryLocked(let path):
            return
                "the data directory \(path) is in use by another process (its LOCK file is held); stop that controller first"
        case .schemaTooNew(let path, let unknown):
            return
                "the database \(path) was written by a newer version (unknown migrations: \(unknown.joined(separator: ", "))); upgrade this binary"
        case .sqlite(let operation, let message):
            return "SQLite failed during \(operation): \(message)"
        case .closed:
            return "the store is closed"
        case .entriesNotConsecutive(let at, let previous):
            return "entries to append are not consecutive: index \(at) follows index \(previous)"
        case .termsDecrease(let at, let term, let previousTerm):
            return "entries to append have decreasing terms: index \(at) has term \(term) after term \(previousTerm)"
        case .appendLeavesGap(let firstIndex, let lastIndex):
            return "cannot append at index \(firstIndex): the log ends at \(lastIndex), which would leave a gap"
        case .compacted(let index, let snapshotIndex):
            return "log index \(index) was compacted into the snapshot at \(snapshotIndex); read the snapshot instead"
        case .unavailable(let index, let lastIndex):
            return "log index \(index) is past the end of the log (last index \(lastIndex))"
        case .invalidRange(let low, let high):
            return "invalid log range [\(low), \(high)): low is above high"
        case .valueOutOfRange(let field, let value):
            return "\(field) \(value) does not fit a signed 64-bit SQLite INTEGER"
        case .missingSnapshot(let compactedThrough, let newest):
            let have = newest.map { "the newest snapshot is at \($0)" } ?? "there is no snapshot"
            return
                "the log is compacted through index \(compactedThrough) but \(have); restore this node from a peer's snapshot"
        case .entryChecksumMismatch(let index, let stored, let computed):
            return
                "log entry at index \(index) is corrupt: its index, term, kind and data hash to \(computed), not the stored checksum \(stored); it was not used — re-sync this replica from a healthy one (greenwave controller resync, docs/operations.md)"
        case .snapshotChecksumMismatch(let index, let stored, let computed):
            return
                "snapshot at index \(index) is corrupt: its data hashes to \(computed), not the stored SHA-256 \(stored); it was not used — fetch a snapshot from a peer"
        case .snapshotNotFound(let index):
            return "no snapshot at index \(index)"
        case .auditIndexNotIncreasing(let index, let last):
            return
                "audit row for index \(index) cannot follow the last audit row at index \(last): indexes must increase"
        case .invalidStateHash(let index, let length):
            return "audit row for index \(index) has a \(length)-byte state hash; a SHA-256 of 32 bytes is required"
        case .identityAlreadyRecorded(let path):
            return "the data folder \(path) already records another identity; it is never replaced"
        case .corruptRow(let table, let key, let reason):
            return "corrupt row in \(table) (\(key)): \(reason)"
        }
    }
}

/// What `verifyAuditChain()` found wrong, naming the first bad index.
public enum AuditChainViolation: Error, Equatable, CustomStringConvertible, Sendable {
    /// The row's fields no longer hash to its stored `row_hash`: the row was edited (or its row swapped
    /// with another).
    case rowTampered(index: LogIndex)
    /// The row at `referencedBy` names `index` as its predecessor, but no such row comes before it:
    /// the row at `index` (and perhaps more before it) was deleted.
    case rowMissing(index: LogIndex, referencedBy: LogIndex)
    /// A row at `index` appears where the chain says the predecessor of `before` should be: a row was
    /// inserted, or rows were reordered.
    case unexpectedRow(index: LogIndex, before: LogIndex)
    /// The row's `prev_row_hash` differs from the stored hash of its predecessor, although each row
    /// hashes correctly on its own: the predecessor was rewritten with a recomputed hash.
    case chainBroken(index: LogIndex, previousIndex: LogIndex)
    /// A stored column has the wrong shape (a hash that is not 32 bytes, a negative number).
    case malformedRow(index: LogIndex, reason: String)

    public var firstBadIndex: LogIndex {
        switch self {
        case .rowTampered(let index), .rowMissing(let index, _), .unexpectedRow(let index, _),
            .chainBroken(let index, _), .malformedRow(let index, _):
            return index
        }
    }

    public var description: String {
        switch self {
        case .rowTampered(let index):
            return "audit row \(index) was altered: its contents do not match its row hash"
        case .rowMissing(let index, let by):
            return "audit row \(index) is missing: row \(by) chains to it but it is not in the table"
        case .unexpectedRow(let index, let before):
            return "audit row \(index) is out of place: row \(before) does not chain to it (inserted or reordered)"
        case .chainBroken(let index, let previousIndex):
            return
                "audit chain broken at row \(index): its previous-row hash differs from row \(previousIndex)'s hash (row \(previousIndex) was rewritten)"
        case .malformedRow(let index, let reason):
            return "audit row \(index) is malformed: \(reason)"
        }
    }
}
