import Foundation
import GRDB
import MingaCore

/// The operator's local commands: they write through SQL, so the triggers capture them
/// exactly as they capture any other client.
extension Replica {
    /// Inserts a row, or updates only the given columns of an existing one.
    /// Returns whether a new row was inserted.
    @discardableResult
    public func put(table name: String, row: [String: Value]) throws -> Bool {
        try transaction { try $0.put(table: name, row: row) }
    }

    /// Runs `body` in one write transaction: everything it writes is captured, and an error
    /// thrown anywhere leaves nothing behind (importers use this for whole files). With
    /// `checkingCodes` false, codes outside their codelist are written as given (an importer
    /// that counts them itself; `minga check` lists them afterwards).
    public func transaction<T>(checkingCodes: Bool = true, _ body: (LocalTransaction) throws -> T) throws -> T {
        try writer.write { db in try body(LocalTransaction(replica: self, db: db, codeRules: checkingCodes ? try codeRules(db) : [])) }
    }

    /// Parses an operator's key argument: a JSON array for composite keys, else the text of a single key.
    public func key(for table: TrackedTable, argument: String) throws -> [Value] {
        if argument.hasPrefix("["), let values = try? JSONDecoder().decode([PlainValue].self, from: Data(argument.utf8)) {
            guard values.count == table.keyColumns.count else {
                throw MingaError(
                    .invalidInput,
                    "table \(table.name) has a key of \(table.keyColumns.count) column(s): \(table.keyColumns.joined(separator: ", "))"
                )
            }
            return values.map(\.value)
        }
        guard table.keyColumns.count == 1 else {
            throw MingaError(
                .invalidInput,
                "table \(table.name) has a composite key (\(table.keyColumns.joined(separator: ", "))); give it as a JSON array, e.g. '[\"a\",\"b\"]'"
            )
        }
        return [.text(argument)]
    }

    /// One row by key, as column/value pairs in column order, or `nil`.
    public func get(table name: String, key: [Value]) throws -> [(String, Value)]? {
        let table = try table(named: name)
        return try writer.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT \(table.columns.map(SQL.id).joined(separator: ", ")) FROM \(SQL.id(name)) WHERE \(table.keyMatch)",
                    arguments: StatementArguments(key.map(\.databaseValue))
                )
            else { return nil }
            return table.columns.enumerated().map { ($1, Value(row[$0] as DatabaseValue)) }
        }
    }

    /// Deletes a row by key; returns whether there was one.
    @discardableResult
    public func delete(table name: String, key: [Value]) throws -> Bool {
        try transaction { try $0.delete(table: name, key: key) }
    }

    /// Runs a read-only query; returns column names and rows.
    public func query(_ sql: String) throws -> (columns: [String], rows: [[Value]]) {
        try writer.read { db in
            do {
                let statement = try db.makeStatement(sql: sql)
                guard statement.isReadonly else {
                    throw MingaError(.invalidInput, "query runs read-only statements only; use put, delete or an import to write")
                }
                let rows = try Row.fetchAll(statement)
                return (statement.columnNames, rows.map { row in (0..<row.count).map { Value(row[$0] as DatabaseValue) } })
            } catch let error as DatabaseError {
                throw MingaError(.invalidInput, "query failed: \(error.message ?? "\(error)")")
            }
        }
    }

    /// Every tracked table's rows sorted by key, in a canonical text: two nodes holding the
    /// same data print the same bytes. One `table NAME` line, then one JSON object per row.
    public func dump(json: Bool = false) throws -> String {
        try writer.read { db in
            try refreshSchema(db)
            var out = json ? "{" : ""
            for (t, name) in tableNames.enumerated() {
                let table = tables[name]!
                let columns = table.displayColumns
                let sql =
                    "SELECT \(columns.map(SQL.id).joined(separator: ", ")) FROM \(SQL.id(name)) ORDER BY \(table.keyColumns.map(SQL.id).joined(separator: ", "))"
                out += json ? (t == 0 ? "" : ",") + JSONText.quote(name) + ":[" : "table \(name)\n"
                var first = true
                let cursor = try Row.fetchCursor(db, sql: sql)
                while let row = try cursor.next() {
                    let object =
                        "{"
                        + columns.enumerated().map { i, column in
                            JSONText.quote(column) + ":" + Value(row[i] as DatabaseValue).plainJSON
                        }.joined(separator: ",") + "}"
                    out += json ? (first ? "" : ",") + object : object + "\n"
                    first = false
                }
                if json { out += "]" }
            }
            return json ? out + "}\n" : out
        }
    }
}
