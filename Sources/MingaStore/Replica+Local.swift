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
                throw MingaError("table \(table.name) has a key of \(table.keyColumns.count) column(s): \(table.keyColumns.joined(separator: ", "))")
            }
            return values.map(\.value)
        }
        guard table.keyColumns.count == 1 else {
            throw MingaError(
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
                guard statement.isReadonly else { throw MingaError("query runs read-only statements only; use put, delete or an import to write") }
                let rows = try Row.fetchAll(statement)
                return (statement.columnNames, rows.map { row in (0..<row.count).map { Value(row[$0] as DatabaseValue) } })
            } catch let error as DatabaseError {
                throw MingaError("query failed: \(error.message ?? "\(error)")")
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

/// A change as `minga log` shows it to an auditor.
public struct AuditedChange: Sendable {
    public enum Signature: Sendable, Equatable {
        /// The origin's signature at `signedAt` (this change or a later one of the same origin)
        /// verifies, and the hash chain links this change to it.
        case verified(signedAt: Dot)
        case unknownOrigin
        case broken(String)

        public var text: String {
            switch self {
            case .verified(let dot): return "verified (signed at \(dot))"
            case .unknownOrigin: return "unverifiable: origin not in the roster"
            case .broken(let why): return "NOT VERIFIED: \(why)"
            }
        }

        public var isVerified: Bool {
            if case .verified = self { return true }
            return false
        }
    }

    public let change: Change
    public let signature: Signature
}

/// A value as a person types it in JSON: numbers, strings, booleans, null, and the tagged
/// objects of the wire form (`{"int":"…"}`, `{"real":"…"}`, `{"blob":"…"}`) for exactness.
public struct PlainValue: Decodable, Sendable {
    public let value: Value

    public init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            value = .null
            return
        }
        if let b = try? single.decode(Bool.self) {
            value = .integer(b ? 1 : 0)
            return
        }
        if let i = try? single.decode(Int64.self) {
            value = .integer(i)
            return
        }
        if let d = try? single.decode(Double.self) {
            value = .real(d)
            return
        }
        if let s = try? single.decode(String.self) {
            value = .text(s)
            return
        }
        value = try Value(from: decoder)
    }

    /// Parses a JSON object of column values, as `minga put` takes it.
    public static func row(_ json: String) throws -> [String: Value] {
        do {
            return try JSONDecoder().decode([String: PlainValue].self, from: Data(json.utf8)).mapValues(\.value)
        } catch let error as DecodingError {
            throw MingaError("the row is not a JSON object of column values: \(error.explanation)")
        }
    }
}

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
            throw MingaError("unknown column \(column) in table \(name); its columns are \(table.columns.joined(separator: ", "))")
        }
        var key: [Value] = []
        for column in table.keyColumns {
            guard let value = row[column], value != .null else {
                throw MingaError("the row needs its key column \(column) (key of \(name): \(table.keyColumns.joined(separator: ", ")))")
            }
            key.append(value)
        }
        if let violation = try replica.codeViolations(db, table: name, row: row, rules: codeRules).first {
            throw MingaError(
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
            throw MingaError(message.hasPrefix(trigger) ? String(message.dropFirst(trigger.count)) : "\(name): \(message)")
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
        guard table.position(of: column) != nil else { throw MingaError("unknown column \(column) in table \(name)") }
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
