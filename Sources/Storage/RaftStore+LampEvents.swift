import Foundation
import GRDB
import RaftCore

extension RaftStore {
    /// Appends lamp events in one durable transaction.
    public func appendLampEvents(_ events: [LampEvent]) throws {
        try commit(WriteBatch(lampEvents: events))
    }

    /// The events of `signalID` with `from <= timeMs < to`, in time order (ties in insertion order).
    public func lampEvents(signalID: String, from: Int64, to: Int64, limit: Int = .max) throws -> [LampEvent] {
        try read("read lamp events") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT signal_id, time_ms, event_code, parameter FROM lamp_event
                    WHERE signal_id = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms, id LIMIT ?
                    """, arguments: [signalID, from, to, Int64(clamping: limit)]
            ).map { try Self.decodeLamp($0) }
        }
    }

    /// The events of every signal with `from <= timeMs < to`, in time order.
    public func lampEvents(from: Int64, to: Int64, limit: Int = .max) throws -> [LampEvent] {
        try read("read lamp events") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT signal_id, time_ms, event_code, parameter FROM lamp_event
                    WHERE time_ms >= ? AND time_ms < ? ORDER BY time_ms, id LIMIT ?
                    """, arguments: [from, to, Int64(clamping: limit)]
            ).map { try Self.decodeLamp($0) }
        }
    }

    /// Deletes lamp events older than `timeMs` (retention); returns how many were deleted.
    @discardableResult
    public func pruneLampEvents(before timeMs: Int64) throws -> Int {
        try write("prune lamp events") { db in
            try db.execute(sql: "DELETE FROM lamp_event WHERE time_ms < ?", arguments: [timeMs])
            return db.changesCount
        }
    }

    static func insertLampEvents(_ db: Database, _ events: [LampEvent]) throws {
        guard !events.isEmpty else { return }
        let insert = try db.cachedStatement(
            sql: "INSERT INTO lamp_event (signal_id, time_ms, event_code, parameter) VALUES (?, ?, ?, ?)")
        for e in events {
            try insert.execute(arguments: [e.signalID, e.timeMs, e.eventCode, e.parameter])
        }
    }

    static func decodeLamp(_ row: Row) throws -> LampEvent {
        let id = row.storedInt64("id").map { "id \($0)" } ?? "lamp event"
        guard let signal = row.storedText("signal_id") else {
            throw StorageError.corruptRow(table: "lamp_event", key: id, reason: "signal_id is not text")
        }
        return LampEvent(
            signalID: signal, timeMs: try int64Column(row, "time_ms", table: "lamp_event", key: id),
            eventCode: try int64Column(row, "event_code", table: "lamp_event", key: id),
            parameter: try int64Column(row, "parameter", table: "lamp_event", key: id))
    }
}

extension RaftStore {
    /// Fault injection (tests, `--fault-injection`): while `on`, this store's inserts of lamp event rows
    /// fail in SQLite itself, as a violated constraint or a damaged table would. A TEMP trigger: it lives
    /// in this connection only and is never written to the file.
    public func refuseLampRows(_ on: Bool) throws {
        try write("fault injection") { db in
            if on {
                try db.execute(
                    sql: """
                        CREATE TEMP TRIGGER IF NOT EXISTS fault_refuse_lamp_rows BEFORE INSERT ON main.lamp_event
                        BEGIN SELECT RAISE(ABORT, 'fault injection: lamp rows refused'); END
                        """)
            } else {
                try db.execute(sql: "DROP TRIGGER IF EXISTS temp.fault_refuse_lamp_rows")
            }
        }
    }
}
