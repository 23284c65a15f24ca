import Foundation
import GRDB
import MingaCore

/// A user table whose every write is captured in the change log and merged on sync.
public struct TrackedTable: Codable, Sendable, Hashable {
    public let name: String
    /// All replicated columns, in the table's declared order.
    public let columns: [String]
    /// The primary-key columns, in key order.
    public let keyColumns: [String]
    /// What each key column accepts, by its declared type's affinity: "integer", "text" or "any".
    /// Every node files a row under the same key only if the key's values have the same types.
    public let keyTypes: [String]

    public var nonKeyColumns: [String] { columns.filter { !keyColumns.contains($0) } }

    /// `"k1" = ? AND "k2" = ?`: the WHERE clause that finds one row by its key values.
    var keyMatch: String { keyColumns.map { "\(SQL.id($0)) = ?" }.joined(separator: " AND ") }

    /// The shadow table that holds each change's values, typed exactly as SQLite stored them.
    var valuesTable: String { "minga_values_" + name }

    func position(of column: String) -> Int? { columns.firstIndex(of: column) }

    /// Reads a table's shape from SQLite, refusing shapes that cannot replicate safely.
    static func inspect(_ db: Database, name: String, sql: String) throws -> TrackedTable {
        let normalized = sql.uppercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
        if normalized.hasPrefix("CREATE VIRTUAL") {
            throw MingaError("table \(name) is a virtual table; Minga tracks ordinary tables only")
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
        func affinity(_ type: String) -> String {
            if type.contains("INT") { return "integer" }
            if type.contains("CHAR") || type.contains("CLOB") || type.contains("TEXT") { return "text" }
            return "any"
        }
        keys.sort { $0.0 < $1.0 }
        guard !keys.isEmpty else {
            throw MingaError(
                "table \(name) has no primary key: every tracked row needs a key that all nodes agree on; declare one, e.g. `id TEXT PRIMARY KEY` holding an IATI identifier or a UUID")
        }
        if keys.count == 1, keys[0].2 == "INTEGER", !withoutRowID {
            throw MingaError(
                "table \(name): `\(keys[0].1) INTEGER PRIMARY KEY` is SQLite's rowid, which each node would number on its own, so two agencies would mint the same key for different rows; use a TEXT key such as an IATI identifier or a UUID (or a composite key)")
        }
        return TrackedTable(name: name, columns: columns, keyColumns: keys.map(\.1), keyTypes: keys.map { affinity($0.2) })
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
