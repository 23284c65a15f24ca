import Foundation
import GRDB
import MingaCore

/// Migrations that arrive (protocol/README.md §20, "Applying on arrival" and "Concurrent
/// migrations"): run in log order, redefined when the merge picked another definition.
extension Replica {
    /// Applies the migrations `minga_schema` holds that this node's tables do not, in the
    /// order they entered the log (causal: a migration's context names every migration its
    /// writer held, §20). One that cannot run here is recorded with why, shown by
    /// `minga schema history`, and tried again at the next batch that brings migrations or
    /// retries held changes; the changes that need it stay held.
    ///
    /// - Returns: whether any ran.
    @discardableResult
    func applyArrivedMigrations(_ db: Database) throws -> Bool {
        let waiting = try Row.fetchAll(
            db,
            sql: """
                SELECT s.kind, s.tbl, s.name, s.sql, a.sql AS applied, a.error AS failed FROM minga_schema s
                LEFT JOIN minga_schema_applied a ON a.kind = s.kind AND a.tbl = s.tbl AND a.name = s.name
                WHERE a.sql IS NOT s.sql OR a.error IS NOT NULL
                ORDER BY (SELECT max(c.id) FROM minga_changes c WHERE c.tbl = 'minga_schema' AND c.pk = json_array(s.kind, s.tbl, s.name))
                """
        )
        var ran = false
        for row in waiting {
            let migration = try Migration.verify(kind: row["kind"], table: row["tbl"], name: row["name"], sql: row["sql"])
            do {
                try db.inSavepoint {
                    if let applied: String = row["applied"], (row["failed"] as String?) == nil, applied != migration.sql {
                        try redefine(db, migration, was: applied)
                    } else {
                        try runDDL(db, migration)
                    }
                    return .commit
                }
                ran = true
            } catch {
                // Contained: a migration that cannot run here is shown, and the batch goes on.
                let message = (error as? MingaError)?.message ?? StoreFailure.explain(error) ?? "\(error)"
                if let full = error as? DatabaseError, full.resultCode == .SQLITE_FULL { throw full }  // the disk, not the migration
                try db.execute(
                    sql: """
                        INSERT INTO minga_schema_applied(kind, tbl, name, sql, applied_at, error) VALUES (?, ?, ?, ?, datetime('now'), ?)
                        ON CONFLICT DO UPDATE SET sql = excluded.sql, error = excluded.error
                        """,
                    arguments: StatementArguments(migration.key.map(\.databaseValue) + [migration.sql.databaseValue, message.databaseValue])
                )
            }
        }
        ran = try uniteTablesDefinedTwice(db) || ran
        if !waiting.isEmpty || ran { try schemaChanged(db) }  // one that failed no longer counts
        return ran
    }

    /// Whether a migration this node holds could not run here (see ``applyArrivedMigrations(_:)``).
    static func hasUnappliedMigrations(_ db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM minga_schema_applied WHERE error IS NOT NULL)") ?? false
    }

    /// A migration whose definition changed here after it ran: two nodes added the same
    /// thing differently, and the merge picked the other one (a conflict in the conflict
    /// log). Every node ends with the winner's definition.
    func redefine(_ db: Database, _ migration: Migration, was applied: String) throws {
        live.restoreOnRollback(db)
        func refuse(_ why: String) -> MingaError {
            MingaError(.badContent, "\(migration.subject) was added here as `\(applied)`, the federation's definition is `\(migration.sql)`: \(why)")
        }
        switch migration.kind {
        case .index:
            try Replica.ownDDL(db) {
                try db.execute(sql: "DROP INDEX IF EXISTS \(SQL.id(migration.name))")
                try db.execute(sql: migration.sql)
            }
        case .column:
            guard let table = live.snapshot.tables[migration.table], let position = table.position(of: migration.name) else {
                throw refuse("the table or column is not here")
            }
            guard let was = Migration.columnDefinition(applied), let now = Migration.columnDefinition(migration.sql) else {
                throw refuse("its definition cannot be read")
            }
            do {
                try Replica.ownDDL(db) { try rebuild(db, table, replacing: was, with: now) }
                // Rows no change set the column in get its new default; the others are derived again.
                try db.execute(sql: "UPDATE minga_capture SET suppress = 1")
                let value = try Replica.loadTables(db)[table.name]!.addedDefaults[position] ?? .null
                try db.execute(sql: "UPDATE \(SQL.id(table.name)) SET \(SQL.id(migration.name)) = ?", arguments: [value])
                for pk in try String.fetchAll(
                    db,
                    sql: "SELECT DISTINCT pk FROM minga_changes WHERE tbl = ? AND \(LogRows.setsColumn(position, of: "minga_changes"))",
                    arguments: [table.name]
                ) {
                    _ = try merge(db, table: table, pk: pk, newFrom: .max)
                }
                try db.execute(sql: "UPDATE minga_capture SET suppress = 0")
            } catch let error as DatabaseError where error.resultCode != .SQLITE_FULL {
                throw refuse(
                    "the rows here do not fit it (\(error.message ?? "\(error)")); settle the conflict on the migration (minga conflicts list) with a definition they fit, or change those rows"
                )
            }
        case .table:
            try uniteDefinitions(db, of: migration.table)
        }
        try db.execute(
            sql: "UPDATE minga_schema_applied SET sql = ?, applied_at = datetime('now'), error = NULL WHERE kind = ? AND tbl = ? AND name = ?",
            arguments: StatementArguments([migration.sql.databaseValue] + migration.key.map(\.databaseValue))
        )
    }

    /// Tables that two nodes created with different statements (protocol §20, Concurrent
    /// migrations): each becomes, on every node, the union of the definitions' columns, all
    /// of them optional in an insert, so that the rows written under either definition
    /// apply everywhere. Returns whether any table changed.
    ///
    /// Only a table whose log holds two different statements is looked at: every node
    /// creates the registry's tables with the same statement, and a federation's hundred
    /// copies of it unite to nothing.
    func uniteTablesDefinedTwice(_ db: Database) throws -> Bool {
        let schema = live.snapshot.tables[Replica.schemaTable]!
        let sql = schema.position(of: "sql")!
        let twice = try String.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT s.tbl FROM minga_schema s JOIN minga_schema_applied a ON a.kind = s.kind AND a.tbl = s.tbl AND a.name = s.name
                    WHERE s.kind = 'table' AND a.error IS NULL
                      AND (SELECT count(DISTINCT CASE WHEN \(LogRows.setsColumn(sql, of: "c")) THEN v.c\(sql) END)
                           FROM minga_changes c JOIN \(SQL.id(schema.valuesTable)) v ON v.change_id = c.id
                           WHERE c.tbl = 'minga_schema' AND c.pk = json_array(s.kind, s.tbl, s.name)) > 1
                    """
            )
        )
        var changed = false
        for name in twice {
            guard let table = live.snapshot.tables.values.first(where: { Migration.folded($0.name) == name }) else { continue }
            do {
                var united = false
                try db.inSavepoint {
                    united = try uniteDefinitions(db, of: table.name)
                    return .commit
                }
                changed = changed || united
            } catch let error as MingaError {
                try db.execute(
                    sql: "UPDATE minga_schema_applied SET error = ? WHERE kind = 'table' AND tbl = ? AND name = ''",
                    arguments: [error.message, name]
                )
                changed = true
            }
        }
        return changed
    }

    /// Makes `table` the union of every definition its migration was given (the winner's
    /// first): the columns it lacks are added, and every non-key column becomes optional in
    /// an insert (its default when left out). Refuses definitions with another key.
    /// Returns whether anything changed.
    @discardableResult
    func uniteDefinitions(_ db: Database, of name: String) throws -> Bool {
        live.restoreOnRollback(db)
        guard let table = live.snapshot.tables[name] else { throw MingaError(.badContent, "table \(name) is not tracked here") }
        let pk = try pk(db, [.text("table"), .text(Migration.folded(name)), .text("")])
        let definitions = try history(db, table: live.snapshot.tables[Replica.schemaTable]!, pk: pk).map(\.change)
            .sorted { $1.precedes($0) }  // the winner first
            .compactMap { change -> String? in if case .text(let sql)? = change.columns["sql"] { sql } else { nil } }
        guard Set(definitions).count > 1 else { return false }  // written twice the same way: one table
        var columns = table.columns
        var changed = false
        for sql in definitions {
            for column in try Replica.probe(db, sql) {
                if column.key > 0 {
                    guard table.keyColumns.contains(where: { Migration.folded($0) == Migration.folded(column.name) }) else {
                        throw MingaError(
                            .badContent,
                            "table \(name) was created on two nodes with different keys; its rows cannot be one table: settle the conflict on its migration (minga conflicts list), and move the other key's rows with INSERT … SELECT"
                        )
                    }
                    continue
                }
                guard !columns.contains(where: { Migration.folded($0) == Migration.folded(column.name) }) else { continue }
                try db.execute(sql: "ALTER TABLE \(SQL.id(name)) ADD COLUMN \(column.definition)")
                try db.execute(sql: "ALTER TABLE \(SQL.id(table.valuesTable)) ADD COLUMN c\(columns.count)")
                columns.append(column.name)
                changed = true
            }
        }
        guard columns.count <= Capture.maxColumns else {
            throw MingaError(.badContent, "table \(name): its definitions together have \(columns.count) columns, over Minga's \(Capture.maxColumns)")
        }
        let optional = Set(columns).subtracting(table.keyColumns)
        guard changed || Set(table.addedColumns) != optional else { return false }
        let united = TrackedTable(
            name: name,
            columns: columns,
            keyColumns: table.keyColumns,
            keyKinds: table.keyKinds,
            added: Dictionary(uniqueKeysWithValues: optional.map { ($0, DatabaseValue.null) })
        )
        try Replica.ownDDL(db) {
            try Replica.saveDefinition(db, united)
            try Replica.widenPending(db, for: Array(live.snapshot.tables.values) + [united])
            try Replica.recordShape(db, of: united)
        }
        try refreshSchema(db)  // the schema cookie moved
        return true
    }

    /// The columns a CREATE TABLE statement defines, as SQLite reads them (in a temporary
    /// table of its own): name, whether and where in the key, and a definition to add it by.
    static func probe(_ db: Database, _ sql: String) throws -> [(name: String, key: Int, definition: String)] {
        guard let open = sql.firstIndex(of: "(") else { return [] }
        try db.execute(sql: "CREATE TEMP TABLE minga_probe " + sql[open...])
        defer { try? db.execute(sql: "DROP TABLE temp.minga_probe") }
        return try Row.fetchAll(
            db,
            sql: "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_xinfo('minga_probe', 'temp') WHERE hidden = 0"
        ).map { row in
            let name: String = row["name"]
            let dflt: String? = row["dflt_value"]
            // NOT NULL needs a default to be added to rows that exist.
            let notNull = (row["notnull"] as Bool) && dflt != nil ? " NOT NULL" : ""
            return (name, row["pk"], "\(SQL.id(name)) \(row["type"] as String)\(notNull)\(dflt.map { " DEFAULT \($0)" } ?? "")")
        }
    }

    /// Rebuilds a table with one column's definition replaced, keeping its rows, indexes and
    /// capture triggers (sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema
    /// Changes"). SQLite keeps an added column's definition in the table's CREATE statement
    /// exactly as the ALTER TABLE wrote it, which the canonical form makes predictable.
    private func rebuild(_ db: Database, _ table: TrackedTable, replacing was: String, with now: String) throws {
        let create = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", arguments: [table.name]) ?? ""
        guard let range = create.range(of: ", " + was, options: .backwards), let open = create.firstIndex(of: "(") else {
            throw MingaError(.badContent, "table \(table.name): the column definition `\(was)` is not where SQLite keeps it")
        }
        let rebuilt = "CREATE TABLE minga_rebuild " + create[open..<range.lowerBound] + ", " + now + create[range.upperBound...]
        let indexes = try String.fetchAll(
            db,
            sql: "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            arguments: [table.name]
        )
        let columns = table.columns.map(SQL.id).joined(separator: ", ")
        try db.execute(sql: rebuilt)
        try db.execute(sql: "INSERT INTO minga_rebuild(\(columns)) SELECT \(columns) FROM \(SQL.id(table.name))")
        try db.execute(sql: "DROP TABLE \(SQL.id(table.name))")
        // The legacy rename leaves views that name the table alone (they name it again after).
        try db.execute(sql: "PRAGMA legacy_alter_table = ON")
        defer { try? db.execute(sql: "PRAGMA legacy_alter_table = OFF") }
        try db.execute(sql: "ALTER TABLE minga_rebuild RENAME TO \(SQL.id(table.name))")
        for index in indexes { try db.execute(sql: index) }
        try Replica.makeTriggers(db, for: table)
        try Replica.recordShape(db, of: table)
    }

    /// The migrations this node holds, for `minga schema history`, in the order they ran
    /// here: each with the change that wrote its definition (the merge's winner: origin,
    /// sequence number, time) and, when it could not run here, why. Those run when the node
    /// joined (`init --from`) whose changes have not arrived yet come first, without one.
    public func migrations() throws -> [MigrationRecord] {
        try writer.read { db in
            let joined = try Row.fetchAll(
                db,
                sql: """
                    SELECT a.kind, a.tbl, a.name, a.sql, a.error FROM minga_schema_applied a
                    WHERE NOT EXISTS (SELECT 1 FROM minga_schema s WHERE s.kind = a.kind AND s.tbl = a.tbl AND s.name = a.name)
                    ORDER BY a.rowid
                    """
            )
            let held = try Row.fetchAll(
                db,
                sql: """
                    SELECT s.kind, s.tbl, s.name, s.sql, a.error, a.sql AS applied, c.origin, c.seq, c.hlc
                    FROM minga_schema s
                    JOIN minga_changes c ON c.id = (
                        SELECT id FROM minga_changes WHERE tbl = 'minga_schema' AND pk = json_array(s.kind, s.tbl, s.name)
                        ORDER BY hlc DESC, origin DESC LIMIT 1)
                    LEFT JOIN minga_schema_applied a ON a.kind = s.kind AND a.tbl = s.tbl AND a.name = s.name
                    ORDER BY coalesce(a.rowid, 1 << 62), c.id
                    """
            )
            return try (joined + held).map { row in
                let sql: String = row["sql"]
                let writer = try (row["origin"] as String?).map { (origin: try NodeID($0), seq: row["seq"] as Int64, hlc: HLC(packed: row["hlc"])) }
                return MigrationRecord(
                    migration: (try? Migration.parse(sql).first)
                        ?? Migration(kind: Migration.Kind(rawValue: row["kind"]) ?? .table, table: row["tbl"], name: row["name"], sql: sql),
                    writer: writer,
                    error: row["error"] ?? (writer != nil && (row["applied"] as String?) == nil ? "not applied yet" : nil)
                )
            }
        }
    }
}
/// A migration as `minga schema history` shows it.
public struct MigrationRecord: Sendable {
    public let migration: Migration
    /// The change that set the definition: its origin, sequence number and time; `nil` for
    /// a migration run when this node joined, whose change has not arrived yet.
    public let writer: (origin: NodeID, seq: Int64, hlc: HLC)?
    /// Why it could not run on this node, if it could not.
    public let error: String?

    /// Who and when, for people: "by NODE at TIME (change DOT)".
    public var author: String {
        writer.map { "by \($0.origin) at \($0.hlc.readable) (change \($0.origin):\($0.seq))" }
            ?? "run when this node joined (its change arrives with the data)"
    }
}
