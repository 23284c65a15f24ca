import Foundation
import GRDB
import MingaCore

/// The tracked tables and the schema version as this process last read them from the
/// replica. Shared by every copy of a ``Replica``, so that a migration applied by one
/// request (or by another process: SQLite's schema cookie tells) is seen by the next.
final class LiveSchema: @unchecked Sendable {
    struct Snapshot {
        /// SQLite's schema cookie (`PRAGMA schema_version`) when read.
        var cookie: Int64
        /// The schema version (``Replica/schemaVersion``).
        var version: String
        var tables: [String: TrackedTable]
    }

    private let lock = NSLock()
    private var current: Snapshot
    /// Whether the current transaction already put the snapshot back should it roll back.
    private var guarded = false

    init(_ snapshot: Snapshot) { current = snapshot }

    /// Before a transaction changes the schema: should it roll back, the snapshot goes back
    /// to what it was before its first change, as the tables do.
    func restoreOnRollback(_ db: Database) {
        lock.lock()
        defer { lock.unlock() }
        guard !guarded else { return }
        guarded = true
        let before = current
        db.afterNextTransaction(
            onCommit: { [self] _ in settle(nil) },
            onRollback: { [self] _ in settle(before) })
    }

    private func settle(_ restored: Snapshot?) {
        lock.lock()
        defer { lock.unlock() }
        guarded = false
        if let restored { current = restored }
    }

    var snapshot: Snapshot {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    func replace(_ snapshot: Snapshot) {
        lock.lock()
        current = snapshot
        lock.unlock()
    }
}

/// Schema migrations (protocol/README.md §20): `minga schema apply` here, and every node
/// applying the ones it receives, in causal order, before any change written under them.
extension Replica {
    /// Minga's own tracked table of migrations, and the local record of which ones this
    /// node's tables hold (with the statement it ran, and why one could not run).
    static let schemaTablesSQL = """
        CREATE TABLE minga_schema(
            kind TEXT NOT NULL, tbl TEXT NOT NULL, name TEXT NOT NULL, sql TEXT NOT NULL,
            PRIMARY KEY (kind, tbl, name)) WITHOUT ROWID;
        CREATE TABLE minga_schema_applied(
            kind TEXT NOT NULL, tbl TEXT NOT NULL, name TEXT NOT NULL, sql TEXT NOT NULL,
            applied_at TEXT NOT NULL, error TEXT, PRIMARY KEY (kind, tbl, name));
        """

    /// The migrations table's name: a tracked table like the user's, whose changes only
    /// ``migrate(_:)`` writes (its guard triggers refuse any other writer).
    public static let schemaTable = "minga_schema"

    /// Creates `minga_schema` and tracks it (at `init`, or when a replica from an earlier
    /// build is opened): its values table, capture triggers, guard triggers and shape.
    static func createSchemaTable(_ db: Database) throws {
        try db.execute(sql: schemaTablesSQL)
        let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = ?", arguments: [schemaTable])!
        let table = try TrackedTable.inspect(db, name: schemaTable, sql: sql)
        try db.execute(
            sql: "INSERT INTO minga_tables(name, definition) VALUES (?, ?)",
            arguments: [table.name, String(decoding: try JSONEncoder.wire.encode(table), as: UTF8.self)])
        try db.execute(sql: Capture(table: table, textColumns: try TrackedTable.textColumns(db, table: table.name)).schemaSQL)
        for event in ["INSERT", "UPDATE", "DELETE"] {
            try db.execute(sql: """
                CREATE TRIGGER "minga_guard_\(event.lowercased())_minga_schema" BEFORE \(event) ON minga_schema
                WHEN (SELECT suppress FROM minga_capture) = 0 AND NOT EXISTS (SELECT 1 FROM minga_meta WHERE key = 'migrating') BEGIN
                SELECT RAISE(ABORT, 'minga: the schema changes only through `minga schema apply FILE.sql`, which every node then applies');
                END;
                """)
        }
        try widenPending(db, for: [table])
        try recordShape(db, of: table)
    }

    /// Gives a replica made before migrations existed its `minga_schema`, in one
    /// transaction; its data, log and signatures are untouched.
    static func upgradeSchemaTable(_ writer: any DatabaseWriter) throws {
        let needed = { (db: Database) in try !db.tableExists(schemaTable) }
        guard try writer.read(needed) else { return }
        try writer.write { db in
            guard try needed(db) else { return }
            try ownDDL(db) { try createSchemaTable(db) }
        }
    }

    /// Runs DDL of Minga's own (tracking a table, applying a migration) and moves the
    /// drift check's schema cookie past it, unless drift was already waiting to be found.
    static func ownDDL(_ db: Database, _ body: () throws -> Void) throws {
        let before = try schemaCookie(db)
        try body()
        if try Int64.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'schema_cookie'") == before {
            try setMeta(db, "schema_cookie", try schemaCookie(db))
        }
    }

    /// `minga_pending` holds every tracked table's key and columns by position: widened when
    /// a table wider than all before is tracked.
    static func widenPending(_ db: Database, for tables: [TrackedTable]) throws {
        let have = Set(try db.columns(in: "minga_pending").map(\.name))
        let keys = tables.map(\.keyColumns.count).max() ?? 0
        let width = tables.map(\.columns.count).max() ?? 0
        for name in (0..<keys).map({ "k\($0)" }) + (0..<width).map({ "c\($0)" }) where !have.contains(name) {
            try db.execute(sql: "ALTER TABLE minga_pending ADD COLUMN \(name)")
        }
    }

    static func recordShape(_ db: Database, of table: TrackedTable) throws {
        let shape = String(decoding: try JSONEncoder.wire.encode(try TableShape.read(db, table: table.name)), as: UTF8.self)
        try db.execute(sql: "UPDATE minga_tables SET shape = ? WHERE name = ?", arguments: [shape, table.name])
    }

    /// The tracked tables as recorded, with the defaults of the columns migrations added.
    static func loadTables(_ db: Database) throws -> [String: TrackedTable] {
        var tables: [String: TrackedTable] = [:]
        for json in try String.fetchAll(db, sql: "SELECT definition FROM minga_tables") {
            var table = try JSONDecoder().decode(TrackedTable.self, from: Data(json.utf8))
            if !table.addedDefaults.isEmpty {
                var defaults: [String: DatabaseValue] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT name, dflt_value FROM pragma_table_info(?)", arguments: [table.name]) {
                    let name: String = row["name"]
                    guard table.addedColumns.contains(name) else { continue }
                    let expression: String? = row["dflt_value"]
                    defaults[name] = try expression.map { try DatabaseValue.fetchOne(db, sql: "SELECT \($0)") ?? .null } ?? .null
                }
                table = table.with(added: defaults)
            }
            tables[table.name] = table
        }
        return tables
    }

    /// The schema version: the schema the node was created from, with every migration it
    /// holds. Nodes holding the same migrations compute the same version, whatever order
    /// they arrived in (§20): the genesis version when there are none, else a digest of it
    /// and the migrations sorted by key.
    static func computeSchemaVersion(_ db: Database, genesis: String) throws -> String {
        let rows = try Row.fetchAll(db, sql: "SELECT kind, tbl, name, sql FROM minga_schema_applied WHERE error IS NULL")
        guard !rows.isEmpty else { return genesis }
        let lines = rows.map { [$0[0], $0[1], $0[2], $0[3]].map { (s: String) in JSONText.quote(s) }.joined(separator: ",") }
            .sorted(by: JSONText.precedes)
        return String(SHA256.hex(Array((genesis + "\n" + lines.joined(separator: "\n")).utf8)).prefix(16))
    }

    static func schemaCookie(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "PRAGMA schema_version") ?? 0
    }

    /// Reads the tracked tables again when the schema changed since this process last read
    /// them; cheap otherwise (the schema cookie and one `minga_meta` value).
    func refreshSchema(_ db: Database) throws {
        let cookie = try Replica.schemaCookie(db)
        let version = try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM minga_meta WHERE key = 'schema_version'")) ?? genesisVersion
        let known = live.snapshot
        guard known.cookie != cookie || known.version != version else { return }
        live.replace(LiveSchema.Snapshot(cookie: cookie, version: version, tables: try Replica.loadTables(db)))
    }

    /// Records the schema version after migrations ran, and reads the tables again.
    private func schemaChanged(_ db: Database) throws {
        try Replica.setMeta(db, "schema_version", try Replica.computeSchemaVersion(db, genesis: genesisVersion))
        try refreshSchema(db)
    }

    // MARK: Applying a migration here

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
                    db, sql: "SELECT sql FROM minga_schema_applied WHERE kind = ? AND tbl = ? AND name = ? AND error IS NULL", arguments: StatementArguments(key))
                {
                    throw MingaError(.badContent, "\(migration.sql): the \(migration.subject) exists already (added by `\(applied)`)")
                }
                // Known but not applied here (it could not run when it arrived): run it now.
                let recorded = try String.fetchOne(db, sql: "SELECT sql FROM minga_schema WHERE kind = ? AND tbl = ? AND name = ?", arguments: StatementArguments(key))
                try runDDL(db, migration)
                guard recorded != migration.sql else { continue }
                try Replica.setMeta(db, "migrating", 1)
                try db.execute(
                    sql: recorded == nil
                        ? "INSERT INTO minga_schema(kind, tbl, name, sql) VALUES (?1, ?2, ?3, ?4)"
                        : "UPDATE minga_schema SET sql = ?4 WHERE kind = ?1 AND tbl = ?2 AND name = ?3",
                    arguments: StatementArguments(key + [migration.sql.databaseValue]))
                try db.execute(sql: "DELETE FROM minga_meta WHERE key = 'migrating'")
            }
            try seal(db)
            try markIntegrated(db)
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
                throw refuse("there is no tracked table \(migration.table)\(tables.isEmpty ? "" : "; tracked: \(tableNames.filter { $0 != Replica.schemaTable }.joined(separator: ", "))")")
            }
        default: break
        }
        if migration.kind == .table, try TableShape.exists(db, table: migration.table) {
            throw refuse("this node has a table \(migration.table) of its own, which Minga does not track; rename it (sqlite3: ALTER TABLE \(SQL.id(migration.table)) RENAME TO \(SQL.id(migration.table + "_local"))) and the migration runs at the next sync or import")
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
                if try Bool.fetchOne(db, sql: "SELECT \"unique\" FROM pragma_index_list(?) WHERE name = ? COLLATE NOCASE", arguments: [migration.table, migration.name]) == true {
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
            arguments: key + [migration.sql])
        try schemaChanged(db)
    }

    private func trackNewTable(_ db: Database, _ migration: Migration) throws -> TrackedTable {
        let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", arguments: [migration.table])
        guard let sql else { throw MingaError(.badContent, "\(migration.sql): it did not create table \(migration.table)") }
        let table = try TrackedTable.inspect(db, name: migration.table, sql: sql)
        guard table.columns.count <= Capture.maxColumns else {
            throw MingaError(.badContent, "\(migration.sql): Minga tracks tables of at most \(Capture.maxColumns) columns")
        }
        try db.execute(
            sql: "INSERT INTO minga_tables(name, definition) VALUES (?, ?)",
            arguments: [table.name, String(decoding: try JSONEncoder.wire.encode(table), as: UTF8.self)])
        try db.execute(sql: Capture(table: table, textColumns: try TrackedTable.textColumns(db, table: table.name)).schemaSQL)
        return table
    }

    private func trackNewColumn(_ db: Database, _ migration: Migration, of old: TrackedTable) throws -> TrackedTable {
        let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_xinfo(?) WHERE hidden NOT IN (2, 3)", arguments: [old.name])
        guard columns == old.columns + [migration.name] else {
            throw MingaError(.badContent, "\(migration.sql): a generated column is derived on each node, not replicated; compute it in a view")
        }
        guard columns.count <= Capture.maxColumns else {
            throw MingaError(.badContent, "\(migration.sql): Minga tracks tables of at most \(Capture.maxColumns) columns; put new columns in a table that shares this one's key")
        }
        var added = Dictionary(uniqueKeysWithValues: old.addedDefaults.map { (old.columns[$0], $1) })
        added[migration.name] = .null  // read from SQLite by loadTables
        let table = TrackedTable(name: old.name, columns: columns, keyColumns: old.keyColumns, keyKinds: old.keyKinds, added: added)
        try db.execute(sql: "ALTER TABLE \(SQL.id(table.valuesTable)) ADD COLUMN c\(columns.count - 1)")
        try db.execute(
            sql: "UPDATE minga_tables SET definition = ? WHERE name = ?",
            arguments: [String(decoding: try JSONEncoder.wire.encode(table), as: UTF8.self), table.name])
        try Replica.makeTriggers(db, for: table)
        return table
    }

    /// Makes a table's capture triggers anew for its columns as they are now.
    static func makeTriggers(_ db: Database, for table: TrackedTable) throws {
        for trigger in try String.fetchAll(
            db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name LIKE 'minga\\_%' ESCAPE '\\'",
            arguments: [table.name])
        {
            try db.execute(sql: "DROP TRIGGER \(SQL.id(trigger))")
        }
        try db.execute(sql: Capture(table: table, textColumns: try TrackedTable.textColumns(db, table: table.name)).triggersSQL)
    }

    // MARK: Migrations that arrive

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
                """)
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
                    arguments: StatementArguments(migration.key.map(\.databaseValue) + [migration.sql.databaseValue, message.databaseValue]))
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
                let value = try loadTables(db)[table.name]!.addedDefaults[position] ?? .null
                try db.execute(sql: "UPDATE \(SQL.id(table.name)) SET \(SQL.id(migration.name)) = ?", arguments: [value])
                for pk in try String.fetchAll(
                    db, sql: "SELECT DISTINCT pk FROM minga_changes WHERE tbl = ? AND substr(mask, ?, 1) = '1'", arguments: [table.name, position + 1])
                {
                    _ = try merge(db, table: table, pk: pk, newFrom: .max)
                }
                try db.execute(sql: "UPDATE minga_capture SET suppress = 0")
            } catch let error as DatabaseError where error.resultCode != .SQLITE_FULL {
                throw refuse("the rows here do not fit it (\(error.message ?? "\(error)")); settle the conflict on the migration (minga conflicts list) with a definition they fit, or change those rows")
            }
        case .table:
            try uniteDefinitions(db, of: migration.table)
        }
        try db.execute(
            sql: "UPDATE minga_schema_applied SET sql = ?, applied_at = datetime('now'), error = NULL WHERE kind = ? AND tbl = ? AND name = ?",
            arguments: StatementArguments([migration.sql.databaseValue] + migration.key.map(\.databaseValue)))
    }

    /// Tables that two nodes created with different statements (protocol §20, Concurrent
    /// migrations): each becomes, on every node, the union of the definitions' columns, all
    /// of them optional in an insert, so that the rows written under either definition
    /// apply everywhere. Returns whether any table changed.
    func uniteTablesDefinedTwice(_ db: Database) throws -> Bool {
        let twice = try String.fetchAll(
            db, sql: """
                SELECT s.tbl FROM minga_schema s JOIN minga_schema_applied a ON a.kind = s.kind AND a.tbl = s.tbl AND a.name = s.name
                WHERE s.kind = 'table' AND a.error IS NULL
                  AND (SELECT count(*) FROM minga_changes c WHERE c.tbl = 'minga_schema' AND c.pk = json_array(s.kind, s.tbl, s.name)) > 1
                """)
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
                    arguments: [error.message, name])
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
            .sorted { ($0.hlc, $0.origin.rawValue) > ($1.hlc, $1.origin.rawValue) }
            .compactMap { change -> String? in if case .text(let sql)? = change.columns["sql"] { sql } else { nil } }
        guard Set(definitions).count > 1 else { return false }  // written twice the same way: one table
        var columns = table.columns
        var changed = false
        for sql in definitions {
            for column in try Replica.probe(db, sql) {
                if column.key > 0 {
                    guard table.keyColumns.contains(where: { Migration.folded($0) == Migration.folded(column.name) }) else {
                        throw MingaError(.badContent, "table \(name) was created on two nodes with different keys; its rows cannot be one table: settle the conflict on its migration (minga conflicts list), and move the other key's rows with INSERT … SELECT")
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
            name: name, columns: columns, keyColumns: table.keyColumns, keyKinds: table.keyKinds,
            added: Dictionary(uniqueKeysWithValues: optional.map { ($0, DatabaseValue.null) }))
        try Replica.ownDDL(db) {
            try db.execute(
                sql: "UPDATE minga_tables SET definition = ? WHERE name = ?",
                arguments: [String(decoding: try JSONEncoder.wire.encode(united), as: UTF8.self), name])
            try Replica.makeTriggers(db, for: united)
            try Replica.widenPending(db, for: Array(live.snapshot.tables.values) + [united])
            try Replica.recordShape(db, of: united)
        }
        live.replace(LiveSchema.Snapshot(cookie: try Replica.schemaCookie(db), version: schemaVersion, tables: try Replica.loadTables(db)))
        return true
    }

    /// The columns a CREATE TABLE statement defines, as SQLite reads them (in a temporary
    /// table of its own): name, whether and where in the key, and a definition to add it by.
    static func probe(_ db: Database, _ sql: String) throws -> [(name: String, key: Int, definition: String)] {
        guard let open = sql.firstIndex(of: "(") else { return [] }
        try db.execute(sql: "CREATE TEMP TABLE minga_probe " + sql[open...])
        defer { try? db.execute(sql: "DROP TABLE temp.minga_probe") }
        return try Row.fetchAll(db, sql: "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_xinfo('minga_probe', 'temp') WHERE hidden = 0").map { row in
            let name: String = row["name"]
            let dflt: String? = row["dflt_value"]
            // NOT NULL needs a default to be added to rows that exist.
            let notNull = (row["notnull"] as Bool) && dflt != nil ? " NOT NULL" : ""
            return (name, row["pk"], "\(SQL.id(name)) \(row["type"] as String)\(notNull)\(dflt.map { " DEFAULT \($0)" } ?? "")")
        }
    }

    /// The tables as recorded, read without touching the process's snapshot.
    private func loadTables(_ db: Database) throws -> [String: TrackedTable] { try Replica.loadTables(db) }

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
        let indexes = try String.fetchAll(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", arguments: [table.name])
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
                    """)
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
                    """)
            return try (joined + held).map { row in
                let sql: String = row["sql"]
                let writer = try (row["origin"] as String?).map { (origin: try NodeID($0), seq: row["seq"] as Int64, hlc: HLC(packed: row["hlc"])) }
                return MigrationRecord(
                    migration: (try? Migration.parse(sql).first) ?? Migration(kind: Migration.Kind(rawValue: row["kind"]) ?? .table, table: row["tbl"], name: row["name"], sql: sql),
                    writer: writer,
                    error: row["error"] ?? (writer != nil && (row["applied"] as String?) == nil ? "not applied yet" : nil))
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
        writer.map { "by \($0.origin) at \($0.hlc.readable) (change \($0.origin):\($0.seq))" } ?? "run when this node joined (its change arrives with the data)"
    }
}

/// What a new node needs to join a federation on its latest schema (`GET /v1/schema`, a
/// bundle's header): the schema the federation was created from, and the migrations
/// applied since, in the order they were applied (protocol/README.md §20).
public struct SchemaDescription: Codable, Sendable, Equatable {
    public var genesisVersion: String
    public var schemaVersion: String
    /// The `init` schema file's text.
    public var schemaSQL: String
    /// Each migration's statement, in canonical form.
    public var migrations: [String]

    public init(genesisVersion: String, schemaVersion: String, schemaSQL: String, migrations: [String]) {
        (self.genesisVersion, self.schemaVersion, self.schemaSQL, self.migrations) = (genesisVersion, schemaVersion, schemaSQL, migrations)
    }
}

extension Replica {
    /// This node's schema, for a node that joins from it.
    public func schemaDescription() throws -> SchemaDescription {
        try writer.read { db in try schemaDescription(db) }
    }

    /// ``schemaDescription()`` for a server's request handlers.
    public func schemaDescription() async throws -> SchemaDescription {
        try await writer.read { db in try self.schemaDescription(db) }
    }

    private func schemaDescription(_ db: Database) throws -> SchemaDescription {
            try refreshSchema(db)
            return SchemaDescription(
                genesisVersion: genesisVersion, schemaVersion: schemaVersion,
                schemaSQL: try String.fetchOne(db, sql: "SELECT schema_sql FROM minga_node")!,
                migrations: try String.fetchAll(db, sql: "SELECT sql FROM minga_schema_applied WHERE error IS NULL ORDER BY rowid"))
    }

    /// Creates a replica that joins a federation on its latest schema: the schema it was
    /// created from, then its migrations run here. The migration changes themselves arrive
    /// with the first sync or bundle and find their tables there already.
    public static func create(at path: String, nodeID: NodeID, joining schema: SchemaDescription) throws -> Replica {
        let replica = try create(at: path, nodeID: nodeID, schemaSQL: schema.schemaSQL)
        do {
            try replica.writer.write { db in
                for sql in schema.migrations {
                    for migration in try Migration.parse(sql) { try replica.runDDL(db, migration) }
                }
            }
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            try? FileManager.default.removeItem(atPath: keyPath(for: path))
            throw error
        }
        return replica
    }

    /// Applies those of `migrations` this node does not hold yet as its own (the schema
    /// changes a new release of an application brings, e.g. the cooperation registry's):
    /// every node that opens the replica with that release issues the same migrations, which
    /// merge into one (§20). Returns the ones applied here.
    @discardableResult
    public func applyBuiltInMigrations(_ migrations: [String]) throws -> [Migration] {
        let held = Set(try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT kind, tbl, name FROM minga_schema_applied WHERE error IS NULL").map { [$0[0], $0[1], $0[2]] as [String] }
        })
        var applied: [Migration] = []
        for sql in migrations {
            let missing = try Migration.parse(sql).filter { !held.contains([$0.keyValues.kind, $0.keyValues.table, $0.keyValues.name]) }
            guard !missing.isEmpty else { continue }
            applied += try migrate(missing.map(\.sql).joined(separator: ";\n"))
        }
        return applied
    }
}
