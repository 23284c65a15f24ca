import Foundation
import GRDB
import MingaCore

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
        try track(db, table)
        for event in ["INSERT", "UPDATE", "DELETE"] {
            try db.execute(
                sql: """
                    CREATE TRIGGER "minga_guard_\(event.lowercased())_minga_schema" BEFORE \(event) ON minga_schema
                    WHEN (SELECT suppress FROM minga_capture) = 0 AND NOT EXISTS (SELECT 1 FROM minga_meta WHERE key = 'migrating') BEGIN
                    SELECT RAISE(ABORT, 'minga: the schema changes only through `minga schema apply FILE.sql`, which every node then applies');
                    END;
                    """
            )
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
        if try Replica.checkedCookie(db) == before {
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

    /// Starts tracking `table`: records its definition, and creates its values table and
    /// capture triggers.
    static func track(_ db: Database, _ table: TrackedTable) throws {
        try db.execute(sql: "INSERT INTO minga_tables(name, definition) VALUES (?, ?)", arguments: [table.name, try definitionJSON(table)])
        try db.execute(sql: Capture(table: table, textColumns: try TrackedTable.textColumns(db, table: table.name)).schemaSQL)
    }

    /// Records a tracked table's new definition (its columns grew) and makes its capture
    /// triggers anew.
    static func saveDefinition(_ db: Database, _ table: TrackedTable) throws {
        try db.execute(sql: "UPDATE minga_tables SET definition = ? WHERE name = ?", arguments: [try definitionJSON(table), table.name])
        try makeTriggers(db, for: table)
    }

    static func definitionJSON(_ table: TrackedTable) throws -> String {
        String(decoding: try JSONEncoder.wire.encode(table), as: UTF8.self)
    }

    /// Makes a table's capture triggers anew for its columns as they are now.
    static func makeTriggers(_ db: Database, for table: TrackedTable) throws {
        for trigger in try String.fetchAll(
            db,
            sql: "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name LIKE 'minga\\_%' ESCAPE '\\'",
            arguments: [table.name]
        ) {
            try db.execute(sql: "DROP TRIGGER \(SQL.id(trigger))")
        }
        try db.execute(sql: Capture(table: table, textColumns: try TrackedTable.textColumns(db, table: table.name)).triggersSQL)
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
        return String(SHA256Digest.hex(Array((genesis + "\n" + lines.joined(separator: "\n")).utf8)).prefix(16))
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
    func schemaChanged(_ db: Database) throws {
        try Replica.setMeta(db, "schema_version", try Replica.computeSchemaVersion(db, genesis: genesisVersion))
        try refreshSchema(db)
    }
}
