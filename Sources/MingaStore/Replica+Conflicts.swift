import Foundation
import GRDB
import MingaCore

/// One side of a conflict as an operator sees it.
public struct ConflictSide: Sendable, Hashable {
    public let write: WriteRef
    public let op: ChangeOp
    /// The value this side wrote to the column; `nil` when this side deleted the row.
    public let value: Value?
    /// For row conflicts: the columns this side set.
    public let columns: [String: Value]
}

/// A conflict with both sides' values, as `minga conflicts list|show` prints it.
public struct ConflictRecord: Sendable, Hashable {
    public let conflict: Conflict
    public let winner: ConflictSide
    public let loser: ConflictSide
}

/// How an operator settles a conflict.
public enum Resolution: Sendable {
    case keepWinner
    case takeLoser
    /// For a column conflict, the column's new value; for a row conflict (delete against
    /// update), `nil` deletes the row and a value must be a row object.
    case value(Value)
    case row([String: Value])
}

extension Replica {
    // MARK: Conflict log storage

    func storedConflicts(_ db: Database, table: String, pk: String) throws -> [String: Conflict] {
        var result: [String: Conflict] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM minga_conflicts WHERE tbl = ? AND pk = ?"), arguments: [table, pk]) {
            let conflict = try Replica.conflict(row)
            result[conflict.id] = conflict
        }
        return result
    }

    static func conflict(_ row: Row) throws -> Conflict {
        func ref(_ prefix: String) throws -> WriteRef? {
            guard let origin = row[prefix + "_origin"] as String? else { return nil }
            return WriteRef(origin: try NodeID(origin), seq: row[prefix + "_seq"], hlc: HLC(packed: row[prefix + "_hlc"]))
        }
        let key = try JSONDecoder().decode([Value].self, from: Data((row["key"] as String).utf8))
        let conflict = Conflict(
            table: row["tbl"],
            key: key,
            column: row["col"],
            winner: try ref("winner")!,
            loser: try ref("loser")!,
            resolvedBy: try ref("resolved")
        )
        guard conflict.id == row["id"] as String else {
            throw MingaError(.damaged, "conflict log is damaged: id \(row["id"] as String) does not match its writes")
        }
        return conflict
    }

    func save(_ db: Database, _ conflict: Conflict, pk: String) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO minga_conflicts(id, tbl, pk, key, col, winner_origin, winner_seq, winner_hlc,
                    loser_origin, loser_seq, loser_hlc, resolved_origin, resolved_seq, resolved_hlc)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET resolved_origin = excluded.resolved_origin,
                    resolved_seq = excluded.resolved_seq, resolved_hlc = excluded.resolved_hlc
                """
        ).execute(
            arguments: [
                conflict.id, conflict.table, pk, Change.keyJSON(conflict.key), conflict.column,
                conflict.winner.origin.rawValue, conflict.winner.seq, conflict.winner.hlc.packed,
                conflict.loser.origin.rawValue, conflict.loser.seq, conflict.loser.hlc.packed,
                conflict.resolvedBy?.origin.rawValue, conflict.resolvedBy?.seq, conflict.resolvedBy?.hlc.packed,
            ])
    }

    /// Local writes from any SQLite client may settle open conflicts (a local write has seen
    /// everything its node holds). Refuses when the tracked tables drifted (``guardSchema(_:)``),
    /// seals pending local writes, then folds writes logged since the last look into the
    /// conflict log. `NOT INDEXED` keeps SQLite on the id range: left to itself it may walk
    /// the whole row index for the GROUP BY, a cost that grows with the log and that every
    /// sync, pull and apply would pay.
    func integrateLocalWrites(_ db: Database) throws {
        try guardSchema(db)
        try seal(db)
        let mark = try Int64.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'integrated'") ?? 0
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT DISTINCT c.tbl, c.pk, min(c.id) AS first FROM minga_changes c NOT INDEXED
                WHERE c.id > ? AND EXISTS (SELECT 1 FROM minga_conflicts k
                    WHERE k.tbl = c.tbl AND k.pk = c.pk AND k.resolved_origin IS NULL)
                GROUP BY c.tbl, c.pk
                """,
            arguments: [mark]
        )
        for row in rows {
            let table = try self.table(named: row["tbl"])
            var conflicts = try storedConflicts(db, table: table.name, pk: row["pk"])
            let history = try history(db, table: table, pk: row["pk"])
            let first = history.firstIndex { $0.id >= row["first"] as Int64 } ?? history.count
            let changed = Merge.fold(history.map(\.change), from: first, into: &conflicts).changed
            for id in changed { try save(db, conflicts[id]!, pk: row["pk"]) }
        }
        try markIntegrated(db)
    }

    func markIntegrated(_ db: Database) throws {
        try db.execute(
            sql:
                "INSERT INTO minga_meta(key, value) VALUES ('integrated', (SELECT coalesce(max(id), 0) FROM minga_changes)) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        )
    }

    // MARK: Operator view

    /// The conflict log, open conflicts only unless `includeResolved`, oldest first.
    public func conflicts(includeResolved: Bool = false) throws -> [ConflictRecord] {
        try conflicts(resolved: includeResolved ? nil : false, table: nil).records
    }

    /// A page of the conflict log, oldest first: open ones (`resolved` false), resolved ones
    /// (true) or all (nil), of one table or every table, at most `limit` of them (all when nil)
    /// with both sides' values; `total` counts every conflict that matches.
    public func conflicts(resolved: Bool?, table: String?, limit: Int? = nil) throws -> (records: [ConflictRecord], total: Int) {
        try writer.write { db in
            try integrateLocalWrites(db)
            var conditions: [String] = []
            var arguments: [DatabaseValueConvertible?] = []
            if let resolved { conditions.append(resolved ? "resolved_origin IS NOT NULL" : "resolved_origin IS NULL") }
            if let table {
                conditions.append("tbl = ?")
                arguments.append(table)
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM minga_conflicts \(filter)", arguments: StatementArguments(arguments)) ?? 0
            // SQLite reads a negative LIMIT as none.
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT * FROM minga_conflicts \(filter) ORDER BY winner_hlc, id LIMIT ?",
                arguments: StatementArguments(arguments + [limit ?? -1])
            )
            return (try rows.map { try record(db, Replica.conflict($0)) }, total)
        }
    }

    /// One conflict by id; a unique prefix of the id is enough.
    public func conflict(id: String) throws -> ConflictRecord {
        try writer.write { db in
            try integrateLocalWrites(db)
            return try record(db, try findConflict(db, id: id))
        }
    }

    func findConflict(_ db: Database, id: String) throws -> Conflict {
        let pattern = id.replacingOccurrences(of: "%", with: "").replacingOccurrences(of: "_", with: "") + "%"
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM minga_conflicts WHERE id LIKE ? LIMIT 2", arguments: [pattern])
        guard let row = rows.first, !id.isEmpty else {
            throw MingaError(.notFound, "no conflict with id \(id); `minga conflicts list --all` shows them")
        }
        guard rows.count == 1 else { throw MingaError(.invalidInput, "conflict id \(id) is ambiguous; give more of it") }
        return try Replica.conflict(row)
    }

    func record(_ db: Database, _ conflict: Conflict) throws -> ConflictRecord {
        let table = try self.table(named: conflict.table)
        func side(_ ref: WriteRef) throws -> ConflictSide {
            guard
                let row = try Row.fetchOne(
                    db,
                    sql:
                        "SELECT \(Replica.changeColumns), v.* FROM minga_changes c JOIN \(SQL.id(table.valuesTable)) v ON v.change_id = c.id WHERE c.origin = ? AND c.seq = ?",
                    arguments: [ref.origin.rawValue, ref.seq]
                )
            else { throw MingaError(.damaged, "conflict log is damaged: write \(ref.dot) of conflict \(conflict.id) is missing") }
            let change = try change(row, values: row, table: table)
            return ConflictSide(
                write: ref,
                op: change.op,
                value: conflict.column.flatMap { change.columns[$0] },
                columns: change.columns.dictionary
            )
        }
        return ConflictRecord(conflict: conflict, winner: try side(conflict.winner), loser: try side(conflict.loser))
    }

    /// Settles a conflict with a new local write whose context covers both sides, so that
    /// the conflict is resolved on every node this write reaches.
    @discardableResult
    public func resolve(conflictID: String, with resolution: Resolution) throws -> ConflictRecord {
        try writer.write { db in
            try integrateLocalWrites(db)
            let conflict = try findConflict(db, id: conflictID)
            if let by = conflict.resolvedBy {
                throw MingaError(.invalidInput, "conflict \(conflict.id) is already resolved by \(by.dot)")
            }
            let current = try record(db, conflict)
            let table = try self.table(named: conflict.table)
            let pk = try pk(db, conflict.key)
            let state = Merge.row(of: try history(db, table: table, pk: pk).map(\.change))

            if let column = conflict.column {
                let value: Value
                switch resolution {
                case .keepWinner: value = current.winner.value ?? .null
                case .takeLoser: value = current.loser.value ?? .null
                case .value(let v): value = v
                case .row: throw MingaError(.invalidInput, "conflict \(conflict.id) is about column \(column): give one value, not a row")
                }
                try refuseWhatTheTableRefuses(db, table: table, key: conflict.key, columns: [column: value])
                try recordLocalWrite(db, table: table, key: conflict.key, op: .update, columns: [column: value])
            } else {
                // A delete against an update: the chosen side is written again.
                let chosen: ConflictSide?
                switch resolution {
                case .keepWinner: chosen = current.winner
                case .takeLoser: chosen = current.loser
                case .value(.null): chosen = nil
                case .value:
                    throw MingaError(
                        .invalidInput,
                        "conflict \(conflict.id) is about the whole row (a delete against an update): give a row object, or null to delete it"
                    )
                case .row(let columns):
                    for column in columns.keys where !table.nonKeyColumns.contains(column) {
                        throw MingaError(.invalidInput, "unknown column \(column) in table \(table.name)")
                    }
                    try refuseWhatTheTableRefuses(db, table: table, key: conflict.key, columns: columns)
                    try recordLocalWrite(db, table: table, key: conflict.key, op: .update, columns: columns)
                    return try record(db, try findConflict(db, id: conflict.id))
                }
                if let chosen, chosen.op != .delete {
                    // Keep the row as the chosen side left it: its columns with the values they hold now
                    // when it won, or with its own values when it lost.
                    var columns = chosen.columns
                    if chosen == current.winner, let state {
                        for column in Array(columns.keys) { columns[column] = state[column] ?? columns[column] }
                    }
                    try refuseWhatTheTableRefuses(db, table: table, key: conflict.key, columns: columns)
                    try recordLocalWrite(db, table: table, key: conflict.key, op: .update, columns: columns)
                } else {
                    try recordLocalWrite(db, table: table, key: conflict.key, op: .delete, columns: [:])
                }
            }
            return try record(db, try findConflict(db, id: conflict.id))
        }
    }

    /// Refuses a resolution the table itself would refuse (a CHECK, NOT NULL or type rule), as
    /// it refuses the same values written by any client: an origin issues only what every
    /// receiver can hold (protocol/README.md §13). The write is tried as `minga put` writes, in a savepoint, and
    /// rolled back either way.
    func refuseWhatTheTableRefuses(_ db: Database, table: TrackedTable, key: [Value], columns: [String: Value]) throws {
        // A migration's two definitions: its resolution is verified as a migration instead
        // (``recordLocalWrite``), and its table takes writes from `schema apply` alone.
        guard table.name != Replica.schemaTable else { return }
        var row = columns
        for (column, value) in zip(table.keyColumns, key) { row[column] = value }
        do {
            try db.inSavepoint {
                try LocalTransaction(replica: self, db: db, codeRules: []).put(table: table.name, row: row)
                return .rollback
            }
        } catch let error as MingaError {
            throw MingaError(.badContent, "the table \(table.name) refuses this value: \(error.message)")
        }
    }
}

extension ConflictRecord {
    /// The JSON shape of `minga conflicts list --json` and `GET /v1/conflicts`.
    public var json: String {
        let c = conflict
        func side(_ s: ConflictSide) -> String {
            "{\"origin\":\(JSONText.quote(s.write.origin.rawValue)),\"seq\":\(s.write.seq),\"hlc\":\(JSONText.quote(s.write.hlc.description)),"
                + "\"op\":\(JSONText.quote(s.op.rawValue)),\"value\":\(s.value?.plainJSON ?? "null")}"
        }
        let resolved =
            c.resolvedBy.map {
                "{\"origin\":\(JSONText.quote($0.origin.rawValue)),\"seq\":\($0.seq),\"hlc\":\(JSONText.quote($0.hlc.description))}"
            } ?? "null"
        return "{\"id\":\(JSONText.quote(c.id)),\"table\":\(JSONText.quote(c.table)),\"key\":[\(c.key.map(\.plainJSON).joined(separator: ","))],"
            + "\"column\":\(c.column.map(JSONText.quote) ?? "null"),\"status\":\(JSONText.quote(c.status.rawValue)),"
            + "\"winner\":\(side(winner)),\"loser\":\(side(loser)),\"resolvedBy\":\(resolved)}"
    }
}
