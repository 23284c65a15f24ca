import Foundation
import GRDB
import MingaCore

/// A user table whose every write is captured in the change log and merged on sync.
/// Immutable; a class, because the apply path looks one up for every change and copying a
/// struct of this many arrays and strings retained and released each of them.
public final class TrackedTable: Codable, Sendable, Hashable {
    public let name: String
    /// All replicated columns, in the table's declared order.
    public let columns: [String]
    /// The primary-key columns, in key order.
    public let keyColumns: [String]
    /// What each key column accepts, by its declared type's affinity (protocol §3, Keys).
    /// Every node files a row under the same key only if the key's values have the same types.
    public let keyKinds: [KeyKind]

    public let nonKeyColumns: [String]
    /// The non-key columns as a set: how many an insert sets, and which name a change got wrong.
    let nonKeyColumnSet: Set<String>
    /// The non-key columns in canonical order (by the bytes of their names), the order of a
    /// change's ``Columns``, and where each sits in ``columns``.
    public let canonicalColumnOrder: [String]
    let canonicalPositions: [Int]
    /// Where each key column sits in ``columns``.
    let keyPositions: [Int]
    /// For each column, its index in the key, if it is a key column.
    let keyIndex: [Int?]
    /// Writes a merged row that has every column (the common case): insert or update by key,
    /// with the arguments in column order, as the values table holds them.
    let upsertRowSQL: String
    /// Writes whole rows from the values rows of a range of change ids (`?1` to `?2`): a page
    /// of new rows in one statement instead of one bound upsert per row.
    let copyRowsSQL: String
    /// Reads back the values rows of a range of change ids.
    let selectValuesSQL: String
    /// What a change of this table may carry (``ColumnContentRule``), checked in order.
    let contentRules: [ColumnContentRule]
    /// The columns schema migrations added (protocol/README.md §20), by position in
    /// ``columns``, with the value SQLite gives a row that never set them: their constant
    /// DEFAULT, or NULL. An insert written before such a column reached its writer leaves it
    /// out, and its row holds this value, as on the writer once the migration arrives there.
    let addedDefaults: [Int: DatabaseValue]

    init(name: String, columns: [String], keyColumns: [String], keyKinds: [KeyKind], added: [String: DatabaseValue] = [:]) {
        self.name = name
        self.columns = columns
        self.keyColumns = keyColumns
        self.keyKinds = keyKinds
        addedDefaults = Dictionary(uniqueKeysWithValues: added.compactMap { column, value in columns.firstIndex(of: column).map { ($0, value) } })
        nonKeyColumns = columns.filter { !keyColumns.contains($0) }
        nonKeyColumnSet = Set(nonKeyColumns)
        canonicalColumnOrder = nonKeyColumns.sorted(by: JSONText.precedes)
        canonicalPositions = canonicalColumnOrder.map { columns.firstIndex(of: $0)! }
        keyPositions = keyColumns.map { columns.firstIndex(of: $0)! }
        keyIndex = columns.map { keyColumns.firstIndex(of: $0) }
        upsertRowSQL = TrackedTable.upsertSQL(name: name, keyColumns: keyColumns, arguments: columns)
        copyRowsSQL = TrackedTable.upsertSQL(
            name: name,
            keyColumns: keyColumns,
            arguments: columns,
            source:
                "SELECT \(columns.indices.map { "c\($0)" }.joined(separator: ", ")) FROM \(SQL.id(TrackedTable.valuesTable(of: name))) WHERE change_id BETWEEN ?1 AND ?2 ORDER BY change_id"
        )
        selectValuesSQL = "SELECT * FROM \(SQL.id(TrackedTable.valuesTable(of: name))) WHERE change_id BETWEEN ? AND ?"
        contentRules = ColumnContentRule.rules(
            table: name,
            columns: columns,
            keys: zip(keyColumns, keyKinds).map { (columns.firstIndex(of: $0)!, $1) }
        )
    }

    enum CodingKeys: String, CodingKey {
        case name, columns, keyColumns
        case keyKinds = "keyTypes"
        case added
    }

    /// Decodes a table's recorded definition; the added columns' defaults are NULL until
    /// ``Replica/loadTables(_:)`` reads them from SQLite.
    public convenience init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let added = try c.decodeIfPresent([String].self, forKey: .added) ?? []
        self.init(
            name: try c.decode(String.self, forKey: .name),
            columns: try c.decode([String].self, forKey: .columns),
            keyColumns: try c.decode([String].self, forKey: .keyColumns),
            keyKinds: try c.decode([KeyKind].self, forKey: .keyKinds),
            added: Dictionary(uniqueKeysWithValues: added.map { ($0, DatabaseValue.null) })
        )
    }

    /// The same table with its added columns' defaults.
    func with(added: [String: DatabaseValue]) -> TrackedTable {
        TrackedTable(name: name, columns: columns, keyColumns: keyColumns, keyKinds: keyKinds, added: added)
    }

    /// The names of the columns migrations added, in column order.
    public var addedColumns: [String] { addedDefaults.keys.sorted().map { columns[$0] } }

    /// The columns in the order dumps and exports show them, the same on every node whatever
    /// order migrations arrived in: the table's own columns in their declared order, then
    /// the columns migrations added, by name.
    public var displayColumns: [String] {
        columns.indices.filter { addedDefaults[$0] == nil }.map { columns[$0] } + addedColumns.sorted(by: JSONText.precedes)
    }

    /// Tables are equal when their shapes are: everything else derives from these.
    public static func == (a: TrackedTable, b: TrackedTable) -> Bool {
        a.name == b.name && a.columns == b.columns && a.keyColumns == b.keyColumns && a.keyKinds == b.keyKinds
            && a.addedColumns == b.addedColumns
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(columns)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(columns, forKey: .columns)
        try c.encode(keyColumns, forKey: .keyColumns)
        try c.encode(keyKinds, forKey: .keyKinds)
        if !addedDefaults.isEmpty { try c.encode(addedColumns, forKey: .added) }
    }

    /// `INSERT … ON CONFLICT(key) DO UPDATE SET` the non-key columns among `arguments`, which
    /// name the statement's arguments (or `source`'s result columns) in order and include every
    /// key column. A `source` SELECT must have a WHERE clause (SQLite's upsert grammar).
    static func upsertSQL(name: String, keyColumns: [String], arguments all: [String], source: String? = nil) -> String {
        let columns = all.filter { !keyColumns.contains($0) }
        let update =
            columns.isEmpty
            ? "NOTHING"
            : "UPDATE SET " + columns.map { "\(SQL.id($0)) = excluded.\(SQL.id($0))" }.joined(separator: ", ")
        return """
            INSERT INTO \(SQL.id(name))(\(all.map(SQL.id).joined(separator: ", "))) \
            \(source ?? "VALUES (\(all.map { _ in "?" }.joined(separator: ", ")))") \
            ON CONFLICT(\(keyColumns.map(SQL.id).joined(separator: ", "))) DO \(update)
            """
    }

    /// `"k1" = ? AND "k2" = ?`: the WHERE clause that finds one row by its key values.
    /// Sets `columns` (then the key's values, as arguments) of the row with that key.
    func updateSQL(columns: [String]) -> String {
        "UPDATE \(SQL.id(name)) SET \(columns.map { "\(SQL.id($0)) = ?" }.joined(separator: ", ")) WHERE \(keyMatch)"
    }

    var keyMatch: String { keyColumns.map { "\(SQL.id($0)) = ?" }.joined(separator: " AND ") }

    /// The shadow table that holds each change's values, typed exactly as SQLite stored them.
    var valuesTable: String { TrackedTable.valuesTable(of: name) }
    static func valuesTable(of table: String) -> String { "minga_values_" + table }

    func position(of column: String) -> Int? { columns.firstIndex(of: column) }

    /// A change's column values by position in ``columns`` (`nil` where it sets none), found
    /// by walking its columns and ``canonicalColumnOrder`` together (both in canonical order),
    /// without hashing a name. Also returns how many of its columns are this table's non-key
    /// columns: fewer than it holds means it names a key column or an unknown one.
    func positionedValues(of columns: Columns) -> (values: [Value?], known: Int) {
        var slots = [Value?](repeating: nil, count: self.columns.count)
        var known = 0
        var next = 0
        for (name, value) in columns {
            while next < canonicalColumnOrder.count {
                let column = canonicalColumnOrder[next]
                if column == name {
                    slots[canonicalPositions[next]] = value
                    known += 1
                    next += 1
                    break
                }
                guard JSONText.precedes(column, name) else { break }  // `name` is not a non-key column
                next += 1
            }
        }
        return (slots, known)
    }

    /// The non-key columns that `isSet` picks (by position in ``columns``), with their values,
    /// built in canonical order without a sort: how the log and the capture turn a row's
    /// values back into a change's ``Columns``.
    func changeColumns(where isSet: (Int) -> Bool, value: (Int) -> Value) -> Columns {
        var picked = Columns()
        picked.reserveCapacity(canonicalPositions.count)
        for (i, position) in canonicalPositions.enumerated() where isSet(position) {
            picked.append(canonicalColumnOrder[i], value(position))
        }
        return picked
    }

    /// Reads a table's shape from SQLite, refusing shapes that cannot replicate safely
    /// (protocol/README.md §1, "What init refuses").
    static func inspect(_ db: Database, name: String, sql: String) throws -> TrackedTable {
        let normalized = sql.uppercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
        if normalized.hasPrefix("CREATE VIRTUAL") {
            throw MingaError(.invalidInput, "table \(name) is a virtual table; Minga tracks ordinary tables only")
        }
        let withoutRowID = normalized.contains("WITHOUT ROWID")
        var columns: [String] = []
        var keys: [(Int, String, String)] = []
        for row in try Row.fetchAll(db, sql: "SELECT name, type, pk, hidden FROM pragma_table_xinfo(?)", arguments: [name]) {
            let column: String = row["name"]
            let hidden: Int = row["hidden"]
            if hidden == 2 || hidden == 3 { continue }  // generated columns are derived, not replicated
            columns.append(column)
            let pk: Int = row["pk"]
            if pk > 0 { keys.append((pk, column, (row["type"] as String).uppercased())) }
        }
        keys.sort { $0.0 < $1.0 }
        guard !keys.isEmpty else {
            throw MingaError(
                .invalidInput,
                "table \(name) has no primary key: every tracked row needs a key that all nodes agree on; declare one, e.g. `id TEXT PRIMARY KEY` holding an IATI identifier or a UUID"
            )
        }
        if keys.count == 1, keys[0].2 == "INTEGER", !withoutRowID {
            throw MingaError(
                .invalidInput,
                "table \(name): `\(keys[0].1) INTEGER PRIMARY KEY` is SQLite's rowid, which each node would number on its own, so two agencies would mint the same key for different rows; use a TEXT key such as an IATI identifier or a UUID (or a composite key)"
            )
        }
        // A STRICT table's ANY column keeps every value as given, like no affinity.
        let strict = try Bool.fetchOne(db, sql: "SELECT strict FROM pragma_table_list WHERE schema = 'main' AND name = ?", arguments: [name]) ?? false
        let affinity = { (type: String) in strict && type == "ANY" ? Affinity.blob : Affinity(declaredType: type) }
        for (_, column, type) in keys {
            let affinity = affinity(type)
            if affinity == .real || affinity == .numeric {
                throw MingaError(
                    .invalidInput,
                    "table \(name): key column \(column) is declared \(type), whose \(affinity) affinity makes SQLite convert values on the way in ('12' to 12\(affinity == .real ? ", 12 to 12.0" : "")), so keys that differ on one node would be one row on another; declare it TEXT (or INTEGER for whole numbers)"
                )
            }
        }
        for (column, collation) in try keyCollations(db, table: name) where collation.uppercased() != "BINARY" {
            let (differ, oneForm) =
                switch collation.uppercased() {
                case "NOCASE": ("differ only in case", ", e.g. lower(...)")
                case "RTRIM": ("differ only in trailing spaces", ", e.g. rtrim(...)")
                default: ("differ in what it ignores", "")
                }
            throw MingaError(
                .invalidInput,
                "table \(name): key column \(column) uses COLLATE \(collation), under which keys that \(differ) are one row: a node that receives both writes would hold one row where their writers hold two; remove the COLLATE from the key (and store keys in one form\(oneForm)), or keep a separate column for display"
            )
        }
        if let unique = try uniqueIndexes(db, table: name).first {
            throw MingaError(
                .invalidInput,
                "table \(name): \(unique) besides the primary key: two agencies working offline could each give the same value to different rows, and no merge could keep both, so nodes would stop at that change; drop the UNIQUE (find duplicates with a query, e.g. `SELECT col, count(*) FROM \(name) GROUP BY col HAVING count(*) > 1`), or make that column the key"
            )
        }
        return TrackedTable(name: name, columns: columns, keyColumns: keys.map(\.1), keyKinds: keys.map { KeyKind(affinity: affinity($0.2)) })
    }

    /// The collation of each key column, as the primary key's index compares it.
    static func keyCollations(_ db: Database, table: String) throws -> [(column: String, collation: String)] {
        guard let index = try String.fetchOne(db, sql: "SELECT name FROM pragma_index_list(?) WHERE origin = 'pk'", arguments: [table]) else {
            return []
        }
        return try Row.fetchAll(db, sql: "SELECT name, coll FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno", arguments: [index])
            .map { ($0["name"] ?? "", $0["coll"] ?? "BINARY") }
    }

    /// The table's unique indexes and UNIQUE constraints other than its primary key, each
    /// described as `UNIQUE (columns)`. One over every key column (and more) is left out:
    /// rows with different keys never collide in it.
    static func uniqueIndexes(_ db: Database, table: String) throws -> [String] {
        let key = Set(try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?) WHERE pk > 0", arguments: [table]))
        return try String.fetchAll(
            db,
            sql: "SELECT name FROM pragma_index_list(?) WHERE \"unique\" AND origin <> 'pk' ORDER BY name",
            arguments: [table]
        )
        .compactMap { index in
            let columns = try String.fetchAll(
                db,
                sql: "SELECT coalesce(name, 'an expression') FROM pragma_index_info(?) ORDER BY seqno",
                arguments: [index]
            )
            guard key.isEmpty || !key.isSubset(of: columns) else { return nil }
            return "UNIQUE (\(columns.joined(separator: ", ")))" + (index.hasPrefix("sqlite_autoindex_") ? "" : " (index \(index))")
        }
    }

    /// SQLite's type affinity of a declared type (sqlite.org/datatype3.html §3.1, its rules in order).
    public enum Affinity: String, CustomStringConvertible, Sendable {
        case integer = "INTEGER"
        case text = "TEXT"
        case blob = "BLOB"
        case real = "REAL"
        case numeric = "NUMERIC"

        public init(declaredType: String) {
            let type = declaredType.uppercased()
            if type.contains("INT") {
                self = .integer
            } else if type.contains("CHAR") || type.contains("CLOB") || type.contains("TEXT") {
                self = .text
            } else if type.contains("BLOB") || type.isEmpty {
                self = .blob
            } else if type.contains("REAL") || type.contains("FLOA") || type.contains("DOUB") {
                self = .real
            } else {
                self = .numeric
            }
        }

        public var description: String { rawValue }
    }

    /// The columns of `table` with text affinity. SQLite stores only text (or a blob, or NULL)
    /// in them, so two of their values that compare equal byte for byte also have the same
    /// type, and the capture trigger can skip its type check there.
    static func textColumns(_ db: Database, table: String) throws -> Set<String> {
        Set(
            try Row.fetchAll(db, sql: "SELECT name, type FROM pragma_table_xinfo(?)", arguments: [table])
                .filter { Affinity(declaredType: $0["type"]) == .text }.map { $0["name"] as String }
        )
    }
}

extension KeyKind {
    /// The key values a column of this affinity keeps exactly (protocol §3, Keys). REAL and
    /// NUMERIC keys are refused when a table is tracked; were one met, it would take either.
    init(affinity: TrackedTable.Affinity) {
        switch affinity {
        case .integer: self = .integer
        case .text: self = .text
        case .blob, .real, .numeric: self = .any
        }
    }
}

/// SQL identifiers and literals, quoted once here.
enum SQL {
    // Hot: statement texts are rebuilt per row on the apply path (then found in GRDB's
    // statement cache), so the common case of nothing to escape skips Foundation.
    static func id(_ name: String) -> String {
        "\"" + (name.utf8.contains(UInt8(ascii: "\"")) ? name.replacingOccurrences(of: "\"", with: "\"\"") : name) + "\""
    }
    static func literal(_ text: String) -> String {
        "'" + (text.utf8.contains(UInt8(ascii: "'")) ? text.replacingOccurrences(of: "'", with: "''") : text) + "'"
    }
}

extension Value {
    /// Conversions to and from GRDB, exact for every storage class.
    public init(_ dbValue: DatabaseValue) {
        switch dbValue.storage {
        case .null: self = .null
        case .int64(let i): self = .integer(i)
        case .double(let d): self = .real(d)
        case .string(let s): self = .text(s)
        case .blob(let b): self = .blob(b)
        }
    }

    public var databaseValue: DatabaseValue {
        switch self {
        case .null: return .null
        case .integer(let i): return i.databaseValue
        case .real(let d): return d.databaseValue
        case .text(let s): return s.databaseValue
        case .blob(let b): return b.databaseValue
        }
    }
}

extension Statement {
    /// Runs the statement with positional `values`, bound through GRDB's public
    /// `StatementBinding` (strings and blobs copied by SQLite). The hot paths use it because
    /// building `StatementArguments` instantiates generic metadata on every call, about a
    /// tenth of applying a batch in the profile.
    func run(_ values: some Collection<DatabaseValue>) throws {
        try bind(values)
        try execute()
    }

    /// Binds positional `values` the same way, for a query fetched next without arguments.
    /// Binding from argument 1 first resets the statement and clears its bindings.
    func bind(_ values: some Collection<DatabaseValue>, from first: Int = 1) throws {
        if first == 1 { setUncheckedArguments(StatementArguments()) }  // resets, clears the bindings, marks them set
        for (i, value) in values.enumerated() {
            let code = value.bind(to: sqliteStatement, at: CInt(first + i))
            guard code == 0 else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "cannot bind argument \(first + i)", sql: sql)
            }
        }
    }
}
