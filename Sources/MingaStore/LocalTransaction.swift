import Foundation
import GRDB
import MingaCore

/// Writes inside one transaction, through SQL so that the triggers capture them.
public struct LocalTransaction {
    let replica: Replica
    let db: Database
    /// Read once per transaction: importers put thousands of rows.
    let codeRules: [CodeRule]

    /// Inserts a row, or updates only the given columns of an existing one; refuses unknown
    /// columns, a missing key, and codes that are not in their codelist.
    @discardableResult
    public func put(table name: String, row: [String: Value]) throws -> Bool {
        let table = try replica.table(named: name)
        for column in row.keys where table.position(of: column) == nil {
            throw MingaError(.invalidInput, "unknown column \(column) in table \(name); its columns are \(table.columns.joined(separator: ", "))")
        }
        var key: [Value] = []
        for column in table.keyColumns {
            guard let value = row[column], value != .null else {
                throw MingaError(
                    .invalidInput,
                    "the row needs its key column \(column) (key of \(name): \(table.keyColumns.joined(separator: ", ")))"
                )
            }
            key.append(value)
        }
        if let violation = try replica.codeViolations(db, table: name, row: row, rules: codeRules).first {
            throw MingaError(
                .badContent,
                "\(violation.column) = \"\(violation.value)\" is not a code of the IATI codelist \(violation.list) (table \(name)); `minga query \"SELECT code, name FROM minga_codelist WHERE list = '\(violation.list)'\"` lists them"
            )
        }
        let others = table.nonKeyColumns.filter { row[$0] != nil }
        let keyArgs = key.map(\.databaseValue)
        let exists = try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM \(SQL.id(name)) WHERE \(table.keyMatch))"),
            arguments: StatementArguments(keyArgs)
        )!
        do {
            if exists {
                guard !others.isEmpty else { return false }
                try db.cachedStatement(
                    sql: "UPDATE \(SQL.id(name)) SET \(others.map { "\(SQL.id($0)) = ?" }.joined(separator: ", ")) WHERE \(table.keyMatch)"
                )
                .run(others.map { row[$0]!.databaseValue } + keyArgs)
            } else {
                let columns = table.keyColumns + others
                try db.cachedStatement(
                    sql:
                        "INSERT INTO \(SQL.id(name))(\(columns.map(SQL.id).joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))"
                )
                .run(columns.map { row[$0]!.databaseValue })
            }
        } catch let error as DatabaseError {
            // A full disk or a busy replica is not this row's fault: it stops the whole operation.
            if StoreFailure.explain(error) != nil { throw error }
            let message = error.message ?? "\(error)"
            // A capture trigger's refusal names the table and column itself.
            let trigger = "minga: "
            throw MingaError(.invalidInput, message.hasPrefix(trigger) ? String(message.dropFirst(trigger.count)) : "\(name): \(message)")
        }
        return !exists
    }

    /// Deletes a row by key; returns whether there was one.
    @discardableResult
    public func delete(table name: String, key: [Value]) throws -> Bool {
        let table = try replica.table(named: name)
        try db.cachedStatement(sql: "DELETE FROM \(SQL.id(name)) WHERE \(table.keyMatch)").run(key.map(\.databaseValue))
        return db.changesCount > 0
    }

    /// Rows of a table whose `column` equals `value` (e.g. every child row of one initiative),
    /// as column/value maps.
    public func rows(table name: String, where column: String, equals value: Value) throws -> [[String: Value]] {
        let table = try replica.table(named: name)
        guard table.position(of: column) != nil else { throw MingaError(.invalidInput, "unknown column \(column) in table \(name)") }
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql:
                    "SELECT \(table.columns.map(SQL.id).joined(separator: ", ")) FROM \(SQL.id(name)) WHERE \(SQL.id(column)) = ? ORDER BY \(table.keyColumns.map(SQL.id).joined(separator: ", "))"
            ),
            arguments: [value.databaseValue]
        )
        return rows.map { row in Dictionary(uniqueKeysWithValues: table.columns.enumerated().map { ($1, Value(row[$0] as DatabaseValue)) }) }
    }
}
