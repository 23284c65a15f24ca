import Foundation
import GRDB
import MingaCore

/// What capture depends on in one tracked table, read live from SQLite: its columns with their
/// declared types, its key and the key's collation, its unique indexes, and the triggers on it
/// (Minga's capture triggers as created, and no others). The replica records it when the
/// table is tracked; a table whose live shape differs has *drifted* (protocol/README.md §1,
/// "Drift"), and the node refuses to seal or sync until it is back.
struct TableShape: Codable, Equatable, Sendable {
    struct Column: Codable, Equatable, Sendable {
        var name: String
        var type: String
        var notNull: Bool
        /// Position in the primary key from 1, 0 when not a key column.
        var key: Int
    }

    var columns: [Column]
    var keyCollations: [String]
    var uniqueIndexes: [String]
    /// Trigger name → its SQL text as SQLite keeps it.
    var triggers: [String: String]

    /// Whether the file has a table of that name, asked of SQLite itself (GRDB's schema cache
    /// does not see another program's ALTER TABLE).
    static func exists(_ db: Database, table: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)", arguments: [table]) == true
    }

    /// The live shape of `table`, or `nil` when there is no such table.
    static func read(_ db: Database, table: String) throws -> TableShape? {
        guard try exists(db, table: table) else { return nil }
        let columns = try Row.fetchAll(
            db,
            sql: "SELECT name, type, \"notnull\", pk FROM pragma_table_xinfo(?) WHERE hidden NOT IN (2, 3)",
            arguments: [table]
        )
        .map { Column(name: $0["name"], type: $0["type"], notNull: $0["notnull"], key: $0["pk"]) }
        var triggers: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", arguments: [table]) {
            triggers[row["name"]] = row["sql"]
        }
        return TableShape(
            columns: columns,
            keyCollations: try TrackedTable.keyCollations(db, table: table).map(\.collation),
            uniqueIndexes: try TrackedTable.uniqueIndexes(db, table: table),
            triggers: triggers
        )
    }

    /// How this live shape of `table` differs from the `recorded` one: what changed and what
    /// to do, one sentence each.
    func changes(from recorded: TableShape, table: String) -> [String] {
        var found: [String] = []
        let was = Dictionary(recorded.columns.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let now = Dictionary(columns.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // RENAME COLUMN keeps a column's place: a new name where an old one is gone.
        var renamed: [String: String] = [:]
        for (i, old) in recorded.columns.enumerated() where now[old.name] == nil && i < columns.count && was[columns[i].name] == nil {
            renamed[old.name] = columns[i].name
            found.append(
                "column \(old.name) was renamed to \(columns[i].name) (undo: ALTER TABLE \(SQL.id(table)) RENAME COLUMN \(SQL.id(columns[i].name)) TO \(SQL.id(old.name)))"
            )
        }
        let newNames = Set(renamed.values)
        for column in columns where was[column.name] == nil && !newNames.contains(column.name) {
            found.append(
                "column \(column.name) was added, and writes to it are not captured (undo: ALTER TABLE \(SQL.id(table)) DROP COLUMN \(SQL.id(column.name)); then put the ALTER TABLE in a file and run `minga schema apply FILE.sql`, which adds it on every node)"
            )
        }
        for column in recorded.columns where now[column.name] == nil && renamed[column.name] == nil {
            found.append("column \(column.name) was removed (undo: restore the table from a backup)")
        }
        for column in columns {
            guard let old = was[column.name] else { continue }
            if old.type != column.type || old.notNull != column.notNull || old.key != column.key {
                found.append("column \(column.name) is now `\(column.description)`, was `\(old.description)` (undo: rebuild the table as it was)")
            }
        }
        if keyCollations != recorded.keyCollations {
            found.append(
                "its key now compares with COLLATE \(keyCollations.joined(separator: ", ")), was \(recorded.keyCollations.joined(separator: ", "))"
            )
        }
        for index in uniqueIndexes where !recorded.uniqueIndexes.contains(index) {
            // "UNIQUE (c) (index name)" for an index of its own; a constraint's is the table's.
            let name = index.range(of: " (index ").map { String(index[$0.upperBound...].dropLast()) }
            found.append(
                "\(index) was added: two nodes could each accept the same value offline (undo: \(name.map { "DROP INDEX \(SQL.id($0))" } ?? "rebuild the table without it"))"
            )
        }
        for index in recorded.uniqueIndexes where !uniqueIndexes.contains(index) {
            found.append("\(index) was dropped")
        }
        for (name, sql) in recorded.triggers.sorted(by: { $0.key < $1.key }) {
            if triggers[name] == nil {
                found.append(
                    "Minga's capture trigger \(name) was dropped: writes made without it were not captured and will not reach other nodes (undo: create it again as it was; `sqlite3 OTHER-NODE.db \".schema \(table)\"` prints it)"
                )
            } else if triggers[name] != sql, renamed.isEmpty {  // a rename rewrites the triggers too
                found.append("Minga's capture trigger \(name) was changed (undo: create it again as it was)")
            }
        }
        for name in triggers.keys.sorted() where recorded.triggers[name] == nil {
            found.append(
                "trigger \(name) was added: it would write on this node only, also when Minga applies other nodes' changes (undo: DROP TRIGGER \(SQL.id(name)))"
            )
        }
        return found.map { "table \(table): \($0)" }
    }
}

extension TableShape.Column {
    var description: String { "\(name) \(type)\(notNull ? " NOT NULL" : "")\(key > 0 ? " (key)" : "")" }
}

extension Replica {
    /// How the tracked tables differ from the shapes this replica recorded, one sentence each
    /// (what changed, what to do); empty when they do not.
    public func schemaDrift() throws -> [String] {
        try writer.read { db in try schemaDrift(db) }
    }

    /// SQLite's schema cookie changes with every change to the schema, by any connection: when
    /// it is the one last found without drift, the shapes need no reading.
    func schemaDrift(_ db: Database) throws -> [String] {
        let capture = try captureSwitchedOff(db)
        guard try Replica.schemaCookie(db) != Replica.checkedCookie(db) else { return capture }
        return capture + (try liveDrift(db))
    }

    /// Refuses to seal or sync while the tracked tables have drifted; otherwise remembers the
    /// schema cookie, so the next check is one pragma. Pending writes stay where they are.
    func guardSchema(_ db: Database) throws {
        try refreshSchema(db)
        let capture = try captureSwitchedOff(db)
        if !capture.isEmpty { throw MingaError(.unavailable, Replica.driftMessage(capture)) }
        let cookie = try Replica.schemaCookie(db)
        guard cookie != (try Replica.checkedCookie(db)) else { return }
        let drift = try liveDrift(db)
        guard drift.isEmpty else { throw MingaError(.unavailable, Replica.driftMessage(drift)) }
        try Replica.setMeta(db, "schema_cookie", cookie)
    }

    /// What an operator reads when the node refuses to seal or sync because of drift.
    public static func driftMessage(_ drift: [String]) -> String {
        "the tracked tables were changed outside Minga: " + drift.joined(separator: "; ")
            + ". Minga captures writes with triggers made for the tables as they were, so what changed would not reach other nodes; it seals and syncs nothing until they are back as they were. Writes captured so far are kept and sealed then."
    }

    /// Tables in the replica that Minga does not track: another program's own tables, or ones
    /// created after `init`. Their rows stay on this node.
    public func untrackedTables() throws -> [String] {
        try writer.read { db in
            try String.fetchAll(
                db,
                sql:
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE 'minga\\_%' ESCAPE '\\' ORDER BY name"
            ).filter { tables[$0] == nil }
        }
    }

    /// Records the live shape of every tracked table and the schema cookie (at `init`, and
    /// when a replica from an earlier build is upgraded).
    static func recordShapes(_ db: Database, _ tables: [TrackedTable]) throws {
        for table in tables { try recordShape(db, of: table) }
        try setMeta(db, "schema_cookie", try schemaCookie(db))
    }

    private func liveDrift(_ db: Database) throws -> [String] {
        var drift: [String] = []
        for row in try Row.fetchAll(db, sql: "SELECT name, shape FROM minga_tables ORDER BY name") {
            let name: String = row["name"]
            guard let text: String = row["shape"] else { continue }  // a replica made before shapes were recorded
            let recorded = try JSONDecoder().decode(TableShape.self, from: Data(text.utf8))
            guard let live = try TableShape.read(db, table: name) else {
                // RENAME TO moves the table's triggers with it, names unchanged.
                let now = try String.fetchOne(
                    db,
                    sql: "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                    arguments: ["minga_insert_" + name]
                )
                drift.append(
                    now.map { "table \(name) was renamed to \($0) (undo: ALTER TABLE \(SQL.id($0)) RENAME TO \(SQL.id(name)))" }
                        ?? "table \(name) was dropped, so nothing of it is captured (undo: restore it from a backup)"
                )
                continue
            }
            drift += live.changes(from: recorded, table: name)
        }
        for (name, table) in try Row.fetchAll(
            db,
            sql:
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'minga\\_%' ESCAPE '\\' AND tbl_name NOT IN (SELECT name FROM minga_tables) ORDER BY name"
        ).map({ ($0[0] as String, $0[1] as String) }) {
            drift.append("trigger \(name) was added on Minga's own table \(table) (undo: DROP TRIGGER \(SQL.id(name)))")
        }
        return drift
    }

    /// Capture is switched off only inside Minga's own transactions that write merged rows;
    /// found off at the start of one, somebody switched it off by hand.
    private func captureSwitchedOff(_ db: Database) throws -> [String] {
        guard try Int.fetchOne(db.cachedStatement(sql: "SELECT suppress FROM minga_capture")) != 0 else { return [] }
        return [
            "capture was switched off by hand (minga_capture.suppress is 1), so writes since were not captured and will not reach other nodes (undo: UPDATE minga_capture SET suppress = 0)"
        ]
    }

    static func checkedCookie(_ db: Database) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM minga_meta WHERE key = 'schema_cookie'"))
    }
}
