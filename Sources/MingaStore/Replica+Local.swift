import Foundation
import GRDB
import MingaCore

/// What `minga status` shows.
public struct ReplicaStatus: Sendable {
    public let nodeID: NodeID
    /// The origin this node's new changes carry: its id, or `id~EPOCH` after a restore.
    public let origin: NodeID
    public let schemaVersion: String
    public let vector: VersionVector
    public let changes: Int
    public let openConflicts: Int
    public let rows: [String: Int]
    public let lastHLC: HLC?
    /// Local writes captured but not sealed yet (there are some only while drift stops sealing).
    public let pending: Int
    /// How the tracked tables were changed outside Minga (``Replica/schemaDrift()``); while
    /// this is not empty the node seals and syncs nothing.
    public let drift: [String]
    /// Tables in the file that Minga does not track.
    public let untracked: [String]
    /// Local writes whose text was not valid UTF-8, sealed with U+FFFD in place of each bad
    /// sequence (``Replica/repairText(_:_:)``).
    public let repairedText: Int
}

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

    /// The node's state. Seals pending local writes first, unless the tracked tables drifted:
    /// then it reports the drift instead of failing.
    public func status() throws -> ReplicaStatus {
        let untracked = try untrackedTables()
        return try writer.write { db in
            let drift = try schemaDrift(db)
            if drift.isEmpty { try integrateLocalWrites(db) }
            var rows: [String: Int] = [:]
            for name in tableNames {
                if !drift.isEmpty, try !TableShape.exists(db, table: name) { continue }  // a drifted table may be gone
                rows[name] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(SQL.id(name))") ?? 0
            }
            return ReplicaStatus(
                nodeID: nodeID,
                origin: try currentOrigin(db),
                schemaVersion: schemaVersion,
                vector: try Replica.vector(db),
                changes: try Int.fetchOne(db, sql: "SELECT count(*) FROM minga_changes") ?? 0,
                openConflicts: try Int.fetchOne(db, sql: "SELECT count(*) FROM minga_conflicts WHERE resolved_origin IS NULL") ?? 0,
                rows: rows,
                lastHLC: try Int64.fetchOne(db, sql: "SELECT max(hlc) FROM minga_changes").map(HLC.init(packed:)),
                pending: try pendingCount(db),
                drift: drift,
                untracked: untracked,
                repairedText: try Int.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'repaired_text'") ?? 0
            )
        }
    }

    /// Every change of one row, oldest first in log order, each with its signature checked
    /// again: who changed what, and when, and whether the origin vouches for it. With
    /// `newest`, only that many of the latest (a page for a person; a row edited thousands of
    /// times is audited in part).
    public func log(table name: String, key: [Value], newest: Int? = nil) throws -> [AuditedChange] {
        let table = try table(named: name)
        return try writer.write { db in
            try integrateLocalWrites(db)
            let roster = try roster(db)
            let changes = try history(db, table: table, pk: try pk(db, key)).map(\.change)
            var audited: [Dot: AuditedChange.Signature] = [:]
            // Newest first, so that an older change's walk to its signature stops at one audited.
            return try changes.suffix(newest ?? changes.count).reversed().map { change in
                let signature = try audit(db, change, roster: roster, known: audited)
                audited[change.dot] = signature
                return AuditedChange(change: change, signature: signature)
            }.reversed()
        }
    }

    /// The signature status of the changes `dots` name (those the log holds), as ``log(table:key:newest:)`` gives it.
    public func signatures(of dots: [Dot]) throws -> [Dot: AuditedChange.Signature] {
        try writer.write { db in
            try integrateLocalWrites(db)
            let roster = try roster(db)
            var result: [Dot: AuditedChange.Signature] = [:]
            for dot in dots {
                if let change = try change(db, dot) { result[dot] = try audit(db, change, roster: roster) }
            }
            return result
        }
    }

    /// Recomputes the origin's chain from the held link before `change` up to the next change
    /// the origin signed, and checks that signature with the roster's key. A walk that reaches
    /// a change already audited (`known`), its link matching, takes that change's verdict.
    func audit(
        _ db: Database,
        _ change: Change,
        roster: [NodeID: PublicKey],
        known: [Dot: AuditedChange.Signature] = [:]
    ) throws -> AuditedChange.Signature {
        guard let key = roster[change.origin.node] else { return .unknownOrigin }
        guard let previous = try heldLink(db, change.origin, change.seq - 1) else { return .broken("the change before it is missing") }
        var link = OriginChain.link(after: previous, change)
        var current = change
        while true {
            guard try heldLink(db, current.origin, current.seq) == link else {
                return .broken("its content does not match the hash chain stored at \(current.dot)")
            }
            if current.dot != change.dot, let verdict = known[current.dot] { return verdict }
            if let signature = current.signature {
                return key.isValid(signature: signature, link: link)
                    ? .verified(signedAt: current.dot) : .broken("the signature at \(current.dot) does not verify")
            }
            guard let next = try self.change(db, Dot(origin: current.origin, seq: current.seq + 1)) else {
                return .broken("no signature follows it")
            }
            link = OriginChain.link(after: link, next)
            current = next
        }
    }

    /// One change by its dot, as held.
    func change(_ db: Database, _ dot: Dot) throws -> Change? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT \(Replica.changeColumns) FROM minga_changes c WHERE c.origin = ? AND c.seq = ?"),
                arguments: [dot.origin.rawValue, dot.seq]
            )
        else { return nil }
        let table = try self.table(named: try String.fetchOne(db, sql: "SELECT tbl FROM minga_changes WHERE id = ?", arguments: [row["id"]])!)
        guard
            let values = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM \(SQL.id(table.valuesTable)) WHERE change_id = ?"),
                arguments: [row["id"]]
            )
        else { return nil }
        return try change(row, values: values, table: table)
    }
}
