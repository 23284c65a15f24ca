import Foundation
import GRDB
import MingaCore

/// Migrations written here (protocol/README.md §20, `minga schema apply`).
extension Replica {
    /// Applies migrations written here (`minga schema apply`), in one transaction: seals the
    /// writes made under the schema as it was, runs each statement, makes the capture
    /// triggers anew, and records each as a signed change of `minga_schema` that travels
    /// like any other. Refuses the whole file, changing nothing, if one statement is not an
    /// additive migration or does not run.
    ///
    /// - Returns: the migrations applied, in order.
    /// - Throws: ``MingaError`` `.badContent` for a statement refused, `.failed` for drift
    ///   or a missing key.
    @discardableResult
    public func migrate(_ sql: String) throws -> [Migration] {
        let migrations = try Migration.parse(sql)
        try writer.write { db in
            try integrateLocalWrites(db)
            for migration in migrations {
                let key = migration.key.map(\.databaseValue)
                if let applied = try String.fetchOne(
                    db,
                    sql: "SELECT sql FROM minga_schema_applied WHERE kind = ? AND tbl = ? AND name = ? AND error IS NULL",
                    arguments: StatementArguments(key)
                ) {
                    throw MingaError(.badContent, "\(migration.sql): the \(migration.subject) exists already (added by `\(applied)`)")
                }
                // Known but not applied here (it could not run when it arrived): run it now.
                let recorded = try String.fetchOne(
                    db,
                    sql: "SELECT sql FROM minga_schema WHERE kind = ? AND tbl = ? AND name = ?",
                    arguments: StatementArguments(key)
                )
                try runDDL(db, migration)
                guard recorded != migration.sql else { continue }
                try Replica.setMeta(db, "migrating", 1)
                try db.execute(
                    sql: recorded == nil
                        ? "INSERT INTO minga_schema(kind, tbl, name, sql) VALUES (?1, ?2, ?3, ?4)"
                        : "UPDATE minga_schema SET sql = ?4 WHERE kind = ?1 AND tbl = ?2 AND name = ?3",
                    arguments: StatementArguments(key + [migration.sql.databaseValue])
                )
                try db.execute(sql: "DELETE FROM minga_meta WHERE key = 'migrating'")
            }
            // Sealed and folded like every local write: a definition written here saw the
            // conflicting ones this node holds, and settles their conflict (protocol §10).
            try integrateLocalWrites(db)
        }
        return migrations
    }

    /// Runs one migration's statement on this node's tables and tracks what it adds, then
    /// records it as applied: the capture triggers of the table are made anew, its values
    /// table and `minga_pending` widened, its shape recorded.
    ///
    /// - Throws: ``MingaError`` `.badContent` when SQLite refuses the statement or what it
    ///   adds cannot be tracked (the same rules as `init`).
    func runDDL(_ db: Database, _ migration: Migration) throws {
        live.restoreOnRollback(db)
        let tables = live.snapshot.tables
        func refuse(_ why: String) -> MingaError { MingaError(.badContent, "\(migration.sql): \(why)") }
        switch migration.kind {
        case .table where tables[migration.table] != nil:
            throw refuse("table \(migration.table) is tracked already")
        case .column, .index:
            guard tables[migration.table] != nil else {
                throw refuse("there is no tracked table \(migration.table); tracked: \(tableNames.joined(separator: ", "))")
            }
        default: break
        }
        if migration.kind == .table, try TableShape.exists(db, table: migration.table) {
            throw refuse(
                "this node has a table \(migration.table) of its own, which Minga does not track; rename it (sqlite3: ALTER TABLE \(SQL.id(migration.table)) RENAME TO \(SQL.id(migration.table + "_local"))) and the migration runs at the next sync or import"
            )
        }
        try Replica.ownDDL(db) {
            do {
                try db.execute(sql: migration.sql)
            } catch let error as DatabaseError {
                throw refuse(Migration.advice(forSQLiteMessage: error.message ?? "\(error)", migration))
            }
            let table: TrackedTable
            switch migration.kind {
            case .table: table = try trackNewTable(db, migration)
            case .column: table = try trackNewColumn(db, migration, of: tables[migration.table]!)
            case .index:
                if try Bool.fetchOne(
                    db,
                    sql: "SELECT \"unique\" FROM pragma_index_list(?) WHERE name = ? COLLATE NOCASE",
                    arguments: [migration.table, migration.name]
                ) == true {
                    throw refuse("a unique index is not a migration")
                }
                table = tables[migration.table]!
            }
            try Replica.widenPending(db, for: Array(tables.values) + [table])
            try Replica.recordShape(db, of: table)
        }
        // Deleted first, so that rowid order is the order migrations ran here (GET /v1/schema).
        let key = StatementArguments(migration.key.map(\.databaseValue))
        try db.execute(sql: "DELETE FROM minga_schema_applied WHERE kind = ? AND tbl = ? AND name = ?", arguments: key)
        try db.execute(
            sql: "INSERT INTO minga_schema_applied(kind, tbl, name, sql, applied_at, error) VALUES (?, ?, ?, ?, datetime('now'), NULL)",
            arguments: key + [migration.sql]
        )
        try schemaChanged(db)
    }

    private func trackNewTable(_ db: Database, _ migration: Migration) throws -> TrackedTable {
        let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", arguments: [migration.table])
        guard let sql else { throw MingaError(.badContent, "\(migration.sql): it did not create table \(migration.table)") }
        let table: TrackedTable
        do {
            table = try TrackedTable.inspect(db, name: migration.table, sql: sql)
        } catch let error as MingaError {
            // A table no node could track is a fault of the migration's content, refused with
            // the same code as every other migration refusal (protocol §20).
            throw MingaError(.badContent, "\(migration.sql): \(error.message)")
        }
        guard table.columns.count <= Capture.maxColumns else {
            throw MingaError(.badContent, "\(migration.sql): Minga tracks tables of at most \(Capture.maxColumns) columns")
        }
        try Replica.track(db, table)
        return table
    }

    private func trackNewColumn(_ db: Database, _ migration: Migration, of old: TrackedTable) throws -> TrackedTable {
        let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_xinfo(?) WHERE hidden NOT IN (2, 3)", arguments: [old.name])
        guard columns == old.columns + [migration.name] else {
            throw MingaError(.badContent, "\(migration.sql): a generated column is derived on each node, not replicated; compute it in a view")
        }
        guard columns.count <= Capture.maxColumns else {
            throw MingaError(
                .badContent,
                "\(migration.sql): Minga tracks tables of at most \(Capture.maxColumns) columns; put new columns in a table that shares this one's key"
            )
        }
        var added = Dictionary(uniqueKeysWithValues: old.addedDefaults.map { (old.columns[$0], $1) })
        added[migration.name] = .null  // read from SQLite by loadTables
        let table = TrackedTable(name: old.name, columns: columns, keyColumns: old.keyColumns, keyKinds: old.keyKinds, added: added)
        try db.execute(sql: "ALTER TABLE \(SQL.id(table.valuesTable)) ADD COLUMN c\(columns.count - 1)")
        try Replica.saveDefinition(db, table)
        return table
    }
}
