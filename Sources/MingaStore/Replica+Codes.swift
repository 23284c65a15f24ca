import Foundation
import GRDB
import MingaCore

/// A column whose values must be codes of a codelist, optionally only in rows where other
/// columns hold the given values.
public struct CodeRule: Sendable, Hashable, Codable {
    public let table: String
    public let column: String
    public let list: String
    public let when: [String: String]

    public init(table: String, column: String, list: String, when: [String: String] = [:]) {
        self.table = table
        self.column = column
        self.list = list
        self.when = when
    }
}

public struct CodelistItem: Sendable, Hashable {
    public let list: String
    public let code: String
    public let name: String

    public init(list: String, code: String, name: String) {
        self.list = list
        self.code = code
        self.name = name
    }
}

/// A value that is not a code of the codelist its column requires.
public struct CodeViolation: Sendable, Hashable, CustomStringConvertible {
    public let table: String
    public let key: [Value]
    public let column: String
    public let value: String
    public let list: String

    public var description: String {
        "\(table) \(Change.keyJSON(key)): \(column) = \"\(value)\" is not a code of the IATI codelist \(list)"
    }
}

/// Reference data (codelists) lives in `minga_` tables: read-only for operators, never
/// captured or synced as user data; every node gets the same lists from its own binary.
extension Replica {
    public func installReferenceData(codelists: [CodelistItem], rules: [CodeRule]) throws {
        try writer.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS minga_codelist(list TEXT NOT NULL, code TEXT NOT NULL, name TEXT, PRIMARY KEY (list, code));
                    CREATE TABLE IF NOT EXISTS minga_code_rule(tbl TEXT NOT NULL, col TEXT NOT NULL, list TEXT NOT NULL, cond TEXT NOT NULL);
                    DELETE FROM minga_codelist; DELETE FROM minga_code_rule;
                    """
            )
            let item = try db.makeStatement(sql: "INSERT INTO minga_codelist(list, code, name) VALUES (?, ?, ?)")
            for i in codelists { try item.execute(arguments: [i.list, i.code, i.name]) }
            for rule in rules {
                guard let table = tables[rule.table], table.columns.contains(rule.column),
                    rule.when.keys.allSatisfy(table.columns.contains)
                else { throw MingaError(.invalidInput, "code rule for \(rule.table).\(rule.column) names an unknown table or column") }
                try db.execute(
                    sql: "INSERT INTO minga_code_rule(tbl, col, list, cond) VALUES (?, ?, ?, ?)",
                    arguments: [rule.table, rule.column, rule.list, String(decoding: try JSONEncoder.wire.encode(rule.when), as: UTF8.self)]
                )
            }
        }
    }

    func codeRules(_ db: Database) throws -> [CodeRule] {
        guard try db.tableExists("minga_code_rule") else { return [] }
        return try Row.fetchAll(db, sql: "SELECT tbl, col, list, cond FROM minga_code_rule").map {
            CodeRule(
                table: $0["tbl"],
                column: $0["col"],
                list: $0["list"],
                when: try JSONDecoder().decode([String: String].self, from: Data(($0["cond"] as String).utf8))
            )
        }
    }

    /// The violations in one row (as column values), for `put` and the importers.
    func codeViolations(_ db: Database, table name: String, row: [String: Value], rules: [CodeRule]? = nil) throws -> [CodeViolation] {
        guard let table = tables[name] else { return [] }
        var found: [CodeViolation] = []
        for rule in try rules ?? codeRules(db) where rule.table == name {
            guard let value = row[rule.column], value != .null else { continue }
            let applies = rule.when.allSatisfy { column, expected in
                if case .text(let text) = row[column] ?? .null { return text == expected }
                if case .integer(let i) = row[column] ?? .null { return String(i) == expected }
                return false
            }
            guard applies else { continue }
            let text: String
            switch value {
            case .text(let s): text = s
            case .integer(let i): text = String(i)
            default: text = value.plainJSON
            }
            let exists = try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM minga_codelist WHERE list = ? AND code = ?)"),
                arguments: [rule.list, text]
            )!
            if !exists {
                found.append(
                    CodeViolation(table: name, key: table.keyColumns.map { row[$0] ?? .null }, column: rule.column, value: text, list: rule.list)
                )
            }
        }
        return found
    }

    /// Every row of every tracked table checked against the code rules, whoever wrote it.
    public func codeViolations() throws -> [CodeViolation] {
        try writer.read { db in
            var found: [CodeViolation] = []
            let rules = try codeRules(db)
            for name in Set(rules.map(\.table)).sorted() {
                let table = tables[name]!
                let cursor = try Row.fetchCursor(
                    db,
                    sql:
                        "SELECT \(table.columns.map(SQL.id).joined(separator: ", ")) FROM \(SQL.id(name)) ORDER BY \(table.keyColumns.map(SQL.id).joined(separator: ", "))"
                )
                while let row = try cursor.next() {
                    var values: [String: Value] = [:]
                    for (i, column) in table.columns.enumerated() { values[column] = Value(row[i] as DatabaseValue) }
                    found += try codeViolations(db, table: name, row: values, rules: rules)
                }
            }
            return found
        }
    }

    /// The name of a code, for people.
    package func codeName(list: String, code: String) throws -> String? {
        try writer.read { db in
            guard try db.tableExists("minga_codelist") else { return nil }
            return try String.fetchOne(db, sql: "SELECT name FROM minga_codelist WHERE list = ? AND code = ?", arguments: [list, code])
        }
    }
}
