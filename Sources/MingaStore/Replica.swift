import Foundation
import GRDB
import MingaCore

/// A node's local replica: the user's tracked tables, the change log that captures every
/// write to them, the version vector, and the conflict log — all in one SQLite file in WAL
/// mode, so that a crash at any moment loses nothing committed (architecture invariant 8).
public struct Replica: Sendable {
    public let writer: any DatabaseWriter
    public let nodeID: NodeID
    /// The version of the schema the node was created from (its first 16 hex digits of
    /// SHA-256): nodes that sync must share it (protocol/README.md §20).
    public let genesisVersion: String
    let live: LiveSchema
    /// The schema version: ``genesisVersion`` with the migrations this node holds (§20).
    public var schemaVersion: String { live.snapshot.version }
    /// Tracked tables by name, `minga_schema` among them, as of the last transaction.
    public var tables: [String: TrackedTable] { live.snapshot.tables }
    /// This node's Ed25519 key, which signs its changes when they are sealed; `nil` when the
    /// key file is missing (the replica can then be read but cannot seal local writes).
    public let signingKey: SigningKey?
    /// Where the private key lives: beside the replica, owner-only.
    public let keyPath: String?
    /// How far ahead of this node's clock an incoming change's HLC may be (protocol/README.md,
    /// "Clocks").
    public var maxClockSkewMillis: Int64 = 10 * 60 * 1000
    /// Wall-clock milliseconds; tests turn it back to show that HLCs still grow.
    public var clock: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// The user's tracked tables in name order, the order of dumps (`minga_schema`, Minga's
    /// own, is left out).
    public var tableNames: [String] { tables.keys.filter { $0 != Replica.schemaTable }.sorted() }

    /// Creates a new replica at `path`. Refuses to touch an existing file.
    public static func create(at path: String, nodeID: NodeID, schemaSQL: String) throws -> Replica {
        if FileManager.default.fileExists(atPath: path) {
            throw MingaError(
                .invalidInput,
                "\(path) already exists; refusing to overwrite it (choose another --db, or remove the file if you really mean to start over)"
            )
        }
        let keyPath = Replica.keyPath(for: path)
        if FileManager.default.fileExists(atPath: keyPath) {
            throw MingaError(.invalidInput, "\(keyPath) already exists: it holds another replica's private key; move it away first")
        }
        do {
            let key = SigningKey()
            try KeyFile.write(key, to: keyPath)
            let pool = try DatabasePool(path: path, configuration: makeConfiguration())
            try initialize(pool, nodeID: nodeID, schemaSQL: schemaSQL, publicKey: key.publicKey)
            return try open(pool, key: key, keyPath: keyPath)
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            try? FileManager.default.removeItem(atPath: keyPath)
            throw error
        }
    }

    /// Opens an existing replica.
    public static func open(at path: String) throws -> Replica {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw MingaError(
                .notFound,
                "no replica at \(path); create one with `minga init --node-id ID` (the cooperation registry; `--schema FILE.sql` for tables of your own), or point --db / MINGA_DB at it"
            )
        }
        guard !isFolder.boolValue else {
            throw MingaError(.invalidInput, "\(path) is a folder; point --db / MINGA_DB at the replica file in it")
        }
        let keyPath = Replica.keyPath(for: path)
        // A replica is a WAL database; any other file is checked before a pool touches it. A WAL
        // database is checked through the pool: a connection of its own would parse the whole
        // schema again (the registry's triggers), some 40 ms of every command.
        let probe = try isWALDatabase(path) ? nil : checkIsReplica(at: path, keyPath: keyPath)
        let key = try KeyFile.read(keyPath)
        let pool: DatabasePool
        do {
            // The probe closes once the pool is open: closed first, as the file's last
            // connection, it would checkpoint and remove a WAL for the pool to make again.
            pool = try withExtendedLifetime(probe) { try DatabasePool(path: path, configuration: makeConfiguration()) }
            // Before the upgrades, which would add Minga's tables to another WAL database.
            guard try pool.read({ try $0.tableExists("minga_node") }) else { throw notAReplica(path) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB || error.resultCode == .SQLITE_CORRUPT {
            throw unreadable(path, keyPath: keyPath, error)
        }
        try upgradeCapture(pool)
        try upgradeHeld(pool)
        try upgradeSchemaTable(pool)
        try upgradeRowStates(pool)
        return try open(pool, key: key, keyPath: keyPath)
    }

    /// Whether the file is an SQLite database in WAL mode, as every replica is: its header
    /// starts `SQLite format 3` and gives 2 as its read and write versions (sqlite.org/fileformat.html §1.3).
    static func isWALDatabase(_ path: String) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let header = Array(try handle.read(upToCount: 20) ?? Data())
        return header.count == 20 && header.starts(with: Array("SQLite format 3\0".utf8)) && header[18] == 2 && header[19] == 2
    }

    /// Refuses a file that is not a WAL database and not a replica before anything writes to
    /// it: a pool would switch a plain SQLite database to WAL, and the upgrades would add
    /// Minga's tables to it. Only reads, through one connection in the file's own journal
    /// mode. Returns the connection, for the caller to close once its own are open.
    static func checkIsReplica(at path: String, keyPath: String) throws -> DatabaseQueue {
        do {
            let probe = try DatabaseQueue(path: path, configuration: makeConfiguration())
            guard try probe.read({ try $0.tableExists("minga_node") }) else { throw notAReplica(path) }
            return probe
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB || error.resultCode == .SQLITE_CORRUPT {
            throw unreadable(path, keyPath: keyPath, error)
        }
    }

    static func notAReplica(_ path: String) -> MingaError {
        MingaError(.invalidInput, "\(path) is an SQLite database but not a Minga replica (it has no minga_node table); Minga leaves it as it is")
    }

    /// A file SQLite cannot read: beside its replica key, a damaged replica; else some other file.
    static func unreadable(_ path: String, keyPath: String, _ error: DatabaseError) -> MingaError {
        guard FileManager.default.fileExists(atPath: keyPath) else {
            return MingaError(.invalidInput, "\(path) is not a Minga replica: it is not an SQLite database; point --db / MINGA_DB at a replica")
        }
        return MingaError(
            .damaged,
            "the replica \(path) is damaged (\(error.message ?? "\(error.resultCode)")); restore it from a backup with `minga restore`"
        )
    }

    /// A replica made by a Minga that neither stamped write times, nor refused writes no peer
    /// accepts, nor recorded table shapes (its `minga_tables` has no `shape`) gets all three
    /// when first opened, in one transaction: its capture triggers are made anew and the
    /// shapes recorded. Writes pending from the old triggers keep no time and are stamped
    /// when sealed, as before.
    static func upgradeCapture(_ writer: any DatabaseWriter) throws {
        func needed(_ db: Database) throws -> Bool {
            try db.tableExists("minga_tables") && !db.columns(in: "minga_tables").contains(where: { $0.name == "shape" })
        }
        guard try writer.read(needed) else { return }  // every open asks; a write lock only when needed
        try writer.write { db in
            guard try needed(db) else { return }
            try db.execute(sql: "ALTER TABLE minga_tables ADD COLUMN shape TEXT")
            if try !db.columns(in: "minga_pending").contains(where: { $0.name == "at" }) {
                try db.execute(sql: "ALTER TABLE minga_pending ADD COLUMN at INTEGER")
            }
            var tables: [TrackedTable] = []
            for json in try String.fetchAll(db, sql: "SELECT definition FROM minga_tables ORDER BY name") {
                let table = try JSONDecoder().decode(TrackedTable.self, from: Data(json.utf8))
                try makeTriggers(db, for: table)
                tables.append(table)
            }
            try recordShapes(db, tables)
        }
    }

    /// A replica in memory, for tests, with a fresh key or the one given.
    public static func inMemory(nodeID: NodeID, schemaSQL: String, key: SigningKey = SigningKey()) throws -> Replica {
        let queue = try DatabaseQueue(configuration: makeConfiguration())
        try initialize(queue, nodeID: nodeID, schemaSQL: schemaSQL, publicKey: key.publicKey)
        return try open(queue, key: key, keyPath: nil)
    }

    /// The private key file of the replica at `path`.
    public static func keyPath(for path: String) -> String { path + ".key" }

    static func makeConfiguration() -> Configuration {
        var config = Configuration()
        // Sync applies rows in causal order, not in foreign-key order; like the sqlite3
        // shell, Minga leaves foreign keys unenforced.
        config.foreignKeysEnabled = false
        // `minga sync` and `minga serve` may write to one replica at the same time.
        config.busyMode = .timeout(30)
        // A quota on the replica's size, in pages: an operator's cap, and how the fault-injection
        // suite makes SQLite report a full disk (scripts/chaos).
        if let pages = ProcessInfo.processInfo.environment["MINGA_MAX_PAGE_COUNT"].flatMap(Int.init), pages > 0 {
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA max_page_count = \(pages)") }
        }
        return config
    }

    static func open(_ writer: any DatabaseWriter, key: SigningKey?, keyPath: String?) throws -> Replica {
        try writer.read { db in
            guard try db.tableExists("minga_node"),
                let node = try Row.fetchOne(db, sql: "SELECT node_id, schema_version FROM minga_node")
            else { throw MingaError(.invalidInput, "this database is not a Minga replica (no minga_node table)") }
            let tables = try loadTables(db)
            let nodeID = try NodeID(node["node_id"])
            if let key, let listed = try String.fetchOne(db, sql: "SELECT public_key FROM minga_roster WHERE node = ?", arguments: [nodeID.rawValue]),
                listed != key.publicKey.base64
            {
                throw MingaError(
                    .invalidInput,
                    "the private key in \(keyPath ?? "memory") does not belong to node \(nodeID) (its public key is not the one in the roster)"
                )
            }
            let genesis: String = node["schema_version"]
            let version = try String.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'schema_version'") ?? genesis
            return Replica(
                writer: writer,
                nodeID: nodeID,
                genesisVersion: genesis,
                live: LiveSchema(LiveSchema.Snapshot(cookie: try schemaCookie(db), version: version, tables: tables)),
                signingKey: key,
                keyPath: keyPath
            )
        }
    }

    static func initialize(_ writer: any DatabaseWriter, nodeID: NodeID, schemaSQL: String, publicKey: PublicKey) throws {
        try writer.write { db in
            do {
                try db.execute(sql: schemaSQL)
            } catch let error as DatabaseError {
                throw MingaError(.invalidInput, "the schema file does not run: \(error.message ?? "\(error)")")
            }
            if let trigger = try String.fetchOne(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'") {
                throw MingaError(
                    .invalidInput,
                    "the schema file creates trigger \(trigger): triggers would run again on every node that applies a change, so Minga refuses them; keep derived data in views"
                )
            }
            var tables: [TrackedTable] = []
            for row in try Row.fetchAll(
                db,
                sql: "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            ) {
                let name: String = row["name"]
                if name.lowercased().hasPrefix("minga_") {
                    throw MingaError(.invalidInput, "table \(name): names starting with minga_ are reserved for Minga's own tables")
                }
                let table = try TrackedTable.inspect(db, name: name, sql: row["sql"])
                if table.columns.count > Capture.maxColumns {
                    throw MingaError(
                        .invalidInput,
                        "table \(name) has \(table.columns.count) columns; Minga tracks tables of at most \(Capture.maxColumns) (split it into tables that share its key)"
                    )
                }
                if try Int.fetchOne(db, sql: "SELECT count(*) FROM \(SQL.id(name))")! > 0 {
                    throw MingaError(
                        .invalidInput,
                        "the schema file inserts rows into \(name); create the tables only, then load data with `minga put` or an import so that it is captured"
                    )
                }
                tables.append(table)
            }
            guard !tables.isEmpty else { throw MingaError(.invalidInput, "the schema file creates no tables") }

            try db.execute(sql: metadataSQL)
            try db.execute(
                sql: Capture.pendingSQL(keyWidth: tables.map(\.keyColumns.count).max()!, width: tables.map(\.columns.count).max()!)
            )
            try db.execute(
                sql: "INSERT INTO minga_roster(node, public_key, added_at) VALUES (?, ?, datetime('now'))",
                arguments: [nodeID.rawValue, publicKey.base64]
            )
            let schemaVersion = genesisVersion(of: schemaSQL)
            try db.execute(
                sql: "INSERT INTO minga_node(id, node_id, schema_sql, schema_version, created_at) VALUES (1, ?, ?, ?, datetime('now'))",
                arguments: [nodeID.rawValue, schemaSQL, schemaVersion]
            )
            for table in tables {
                try track(db, table)
            }
            try recordShapes(db, tables)
            try createSchemaTable(db)
            try setMeta(db, "schema_cookie", try schemaCookie(db))
        }
    }

    /// Minga's own tables. `minga_changes.id` is the local log order, which is causal:
    /// a change is appended only after everything it depends on. `link` is the origin's hash
    /// chain up to the change and `sig` the origin's signature where it signed (``OriginChain``).
    /// `minga_meta` holds `epoch` (see ``Replica/backup(to:progress:)``), `integrated`, `last_hlc`
    /// and `schema_cookie` (see ``Replica/guardSchema(_:)``); `minga_tables.shape` each
    /// table's recorded ``TableShape``.
    static let metadataSQL = """
        CREATE TABLE minga_node(
            id INTEGER PRIMARY KEY CHECK (id = 1),
            node_id TEXT NOT NULL, schema_sql TEXT NOT NULL, schema_version TEXT NOT NULL, created_at TEXT NOT NULL);
        CREATE TABLE minga_tables(name TEXT PRIMARY KEY, definition TEXT NOT NULL, shape TEXT);
        CREATE TABLE minga_capture(id INTEGER PRIMARY KEY CHECK (id = 1), suppress INTEGER NOT NULL);
        INSERT INTO minga_capture(id, suppress) VALUES (1, 0);
        CREATE TABLE minga_meta(key TEXT PRIMARY KEY, value);
        CREATE TABLE minga_changes(
            id INTEGER PRIMARY KEY,
            origin TEXT NOT NULL, seq INTEGER NOT NULL, hlc INTEGER NOT NULL,
            tbl TEXT NOT NULL, pk TEXT NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
            mask TEXT NOT NULL, ctx TEXT NOT NULL, link BLOB NOT NULL, sig BLOB);
        CREATE UNIQUE INDEX minga_changes_dot ON minga_changes(origin, seq);
        CREATE INDEX minga_changes_row ON minga_changes(tbl, pk, origin, seq);
        CREATE INDEX minga_changes_hlc ON minga_changes(hlc);
        CREATE TABLE minga_conflicts(
            id TEXT PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, key TEXT NOT NULL, col TEXT,
            winner_origin TEXT NOT NULL, winner_seq INTEGER NOT NULL, winner_hlc INTEGER NOT NULL,
            loser_origin TEXT NOT NULL, loser_seq INTEGER NOT NULL, loser_hlc INTEGER NOT NULL,
            resolved_origin TEXT, resolved_seq INTEGER, resolved_hlc INTEGER);
        CREATE INDEX minga_conflicts_row ON minga_conflicts(tbl, pk);
        CREATE TABLE minga_roster(node TEXT PRIMARY KEY, public_key TEXT NOT NULL, added_at TEXT NOT NULL);
        """ + "\n" + peersSQL + ";\n" + heldSQL + "\n" + RowStates.tableSQL

    /// The version of a schema file's text: the first 16 hex digits of its SHA-256.
    public static func genesisVersion(of schemaSQL: String) -> String {
        String(SHA256Digest.hex(Array(schemaSQL.utf8)).prefix(16))
    }

    /// Sets one of Minga's own values in `minga_meta`.
    static func setMeta(_ db: Database, _ key: String, _ value: some DatabaseValueConvertible) throws {
        try db.execute(
            sql: "INSERT INTO minga_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            arguments: [key, value]
        )
    }

    public func table(named name: String) throws -> TrackedTable {
        guard let table = tables[name] else {
            throw MingaError(.invalidInput, "unknown table \(name); tracked tables: \(tableNames.joined(separator: ", "))")
        }
        return table
    }
}
