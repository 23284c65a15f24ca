import Foundation
import GRDB
import MingaCore

/// The statements that append to the log and write rows, prepared once per transaction:
/// looking a cached statement up hashes its whole SQL text, on every change.
final class LogWriter {
    let db: Database
    /// The log id the next appended change gets: the one SQLite would give it (the
    /// largest plus one), set explicitly so that many changes go in one INSERT.
    private var nextID: Int64
    /// Rows per INSERT. A statement's fixed cost (cursors on the log table and its three
    /// indexes) is paid once per group instead of once per change.
    static let group = 32
    /// Per row count: the multi-row insert into `minga_changes`.
    private var changeInserts: [Int: Statement] = [:]
    /// Per table, then per row count: the multi-row insert into its values table.
    private var valueInserts: [String: [Int: Statement]] = [:]
    /// Per table: its rows copy.
    private var rowCopies: [String: Statement] = [:]
    /// Per table, then per set of column positions: the UPDATE of a merged row's won columns.
    private var rowUpdates: [String: [[Int]: Statement]] = [:]

    init(_ db: Database) throws {
        self.db = db
        nextID = try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) + 1 FROM minga_changes")!
    }

    /// Writes whole rows from the values rows of a range of change ids (``TrackedTable/copyRowsSQL``).
    func copyRows(of table: TrackedTable) throws -> Statement {
        if let statement = rowCopies[table.name] { return statement }
        // Cached: preparing a statement on a tracked table also compiles its capture triggers.
        let statement = try db.cachedStatement(sql: table.copyRowsSQL)
        rowCopies[table.name] = statement
        return statement
    }

    /// The UPDATE that writes `columns` (positions in the table's columns) of a row, its
    /// arguments the values then the key (``TrackedTable/updateSQL(columns:)``): kept here
    /// by positions, so that a change does not build and hash the SQL text to find it.
    func rowUpdate(of table: TrackedTable, columns: [Int]) throws -> Statement {
        if let statement = rowUpdates[table.name]?[columns] { return statement }
        let statement = try db.cachedStatement(sql: table.updateSQL(columns: columns.map { table.columns[$0] }))
        rowUpdates[table.name, default: [:]][columns] = statement
        return statement
    }

    /// Appends changes to the log in order: each its row in `minga_changes` and its values,
    /// typed exactly, in its table's shadow values table. Apply and seal both write through
    /// here. Returns the log id of the first; the others follow it one by one.
    @discardableResult
    func append(_ rows: [LogRows]) throws -> Int64 {
        let first = nextID
        var start = 0
        while start < rows.count {
            let count = min(LogWriter.group, rows.count - start)
            let insert = try changeInsert(count)
            for (i, row) in rows[start..<(start + count)].enumerated() {
                let width = 1 + row.change.count  // the id, then the change row's ten columns
                try insert.bind(CollectionOfOne((first + Int64(start + i)).databaseValue), from: 1 + i * width)
                try insert.bind(row.change, from: 2 + i * width)
            }
            try insert.execute()
            start += count
        }
        // The values rows: runs of one table, a group at most per statement.
        start = 0
        while start < rows.count {
            let table = rows[start].table
            var end = start + 1
            while end < rows.count, end - start < LogWriter.group, rows[end].table === table { end += 1 }
            let insert = try valueInsert(table, end - start)
            let width = table.columns.count + 1
            for (i, row) in rows[start..<end].enumerated() {
                try insert.bind(CollectionOfOne((first + Int64(start + i)).databaseValue), from: 1 + i * width)
                try insert.bind(row.values, from: 2 + i * width)
            }
            try insert.execute()
            start = end
        }
        nextID += Int64(rows.count)
        return first
    }

    private func changeInsert(_ count: Int) throws -> Statement {
        if let statement = changeInserts[count] { return statement }
        let statement = try db.cachedStatement(
            sql: "INSERT INTO minga_changes(id, origin, seq, hlc, tbl, pk, op, mask, ctx, link, sig) VALUES "
                + Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: count).joined(separator: ", ")
        )
        changeInserts[count] = statement
        return statement
    }

    private func valueInsert(_ table: TrackedTable, _ count: Int) throws -> Statement {
        if let statement = valueInserts[table.name]?[count] { return statement }
        let row = "(" + Array(repeating: "?", count: table.columns.count + 1).joined(separator: ", ") + ")"
        let statement = try db.cachedStatement(
            sql: "INSERT INTO \(SQL.id(table.valuesTable)) VALUES " + Array(repeating: row, count: count).joined(separator: ", ")
        )
        valueInserts[table.name, default: [:]][count] = statement
        return statement
    }
}

/// A change's two rows in the log, as statement arguments: built before the transaction that
/// writes them, so that a sync builds a page's while the page before it is being written.
struct LogRows: Sendable {
    /// An SQL condition, true when the `minga_changes` row `change` (a name or alias) sets
    /// the non-key column at `position`: its `mask` holds one character per column of the
    /// table, `1` where the change sets it (written by ``init(_:table:pk:link:)``).
    static func setsColumn(_ position: Int, of change: String) -> String { "substr(\(change).mask, \(position + 1), 1) = '1'" }

    let table: TrackedTable
    /// The row key's text form (``Replica/pk(_:_:)``).
    let pk: String
    /// The `minga_changes` row.
    let change: [DatabaseValue]
    /// The values row without its change id (known once the change row is in): every column in order.
    let values: [DatabaseValue]
    /// The positions of the columns the change sets, in column order (its merge state's, ``RowState``).
    let positions: [Int]

    init(_ change: Change, table: TrackedTable, pk: String, link: [UInt8]) {
        self.table = table
        self.pk = pk
        var values: [DatabaseValue] = []
        values.reserveCapacity(table.columns.count)
        var mask: [UInt8] = []
        mask.reserveCapacity(table.columns.count)
        var positions: [Int] = []
        positions.reserveCapacity(change.columns.count)
        let byPosition = table.positionedValues(of: change.columns).values
        for position in table.columns.indices {
            if let key = table.keyIndex[position] {
                values.append(change.key[key].databaseValue)
                mask.append(UInt8(ascii: "0"))
            } else if let value = byPosition[position] {
                values.append(value.databaseValue)
                mask.append(UInt8(ascii: "1"))
                positions.append(position)
            } else if change.op == .insert, let value = table.addedDefaults[position] {
                // Not in the change (its writer had no such column yet): the row gets the
                // column's default, as the writer's row does once the migration arrives there.
                values.append(value)
                mask.append(UInt8(ascii: "0"))
            } else {
                values.append(.null)
                mask.append(UInt8(ascii: "0"))
            }
        }
        (self.values, self.positions) = (values, positions)
        self.change = [
            change.origin.rawValue.databaseValue, change.seq.databaseValue, change.hlc.packed.databaseValue, table.name.databaseValue,
            pk.databaseValue, change.op.rawValue.databaseValue, String(decoding: mask, as: UTF8.self).databaseValue,
            change.context.canonicalJSON.databaseValue, Data(link).databaseValue, change.signature?.databaseValue ?? .null,
        ]
    }
}

extension RowState {
    /// Takes in a change whose log rows are `rows` (the positions of the columns it sets).
    /// Returns the positions it now wins.
    @discardableResult
    mutating func absorb(_ change: Change, _ rows: LogRows) -> [Int] {
        absorb(WriteRef(change), op: change.op, positions: rows.positions)
    }
}
