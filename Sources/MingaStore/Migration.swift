import Foundation
import MingaCore
import Synchronization

/// One additive schema migration (protocol/README.md §20): a statement that adds a table, a
/// column or an index, and nothing else. It travels as a change to Minga's own tracked table
/// `minga_schema`, keyed by what it adds, so that two nodes adding the same thing write the
/// same row: the same definition merges into one, two definitions are a conflict with one
/// winner (§9) shown in the conflict log.
public struct Migration: Sendable, Equatable, Hashable {
    /// What a migration adds; the raw value is the `kind` column of `minga_schema`.
    public enum Kind: String, Sendable, CaseIterable {
        case table, column, index
    }

    public let kind: Kind
    /// The table it creates, adds the column to, or indexes.
    public let table: String
    /// The column's or the index's name; empty for a table.
    public let name: String
    /// The statement in canonical form: its tokens, one space apart (``canonical(_:)``).
    public let sql: String

    /// `minga_schema`'s key for this migration: kind, table, name, with names in lower case
    /// (SQLite compares names without regard to ASCII case, so `Budget` and `budget` are one
    /// column), and no table for an index (index names are the database's, not a table's).
    public var key: [Value] { [.text(keyValues.kind), .text(keyValues.table), .text(keyValues.name)] }

    var keyValues: (kind: String, table: String, name: String) {
        (kind.rawValue, kind == .index ? "" : Migration.folded(table), Migration.folded(name))
    }

    /// A name as SQLite compares it: ASCII letters in lower case.
    static func folded(_ name: String) -> String {
        String(decoding: name.utf8.map { (65...90).contains($0) ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// What it adds, for people: `column item.budget`, `table result`, `index item_status`.
    public var subject: String {
        switch kind {
        case .table: "table \(table)"
        case .column: "column \(table).\(name)"
        case .index: "index \(name) on \(table)"
        }
    }

    public init(kind: Kind, table: String, name: String, sql: String) {
        (self.kind, self.table, self.name, self.sql) = (kind, table, name, sql)
    }

    /// The migrations in an SQL text, one per statement, in order; refuses anything that is
    /// not additive, saying why and what to do instead. Only the text is read here: whether
    /// the table exists, and what SQLite makes of the statement, is checked when it runs.
    ///
    /// - Throws: ``MingaError`` with code `.badContent`.
    public static func parse(_ text: String) throws(MingaError) -> [Migration] {
        // A file wrapped in BEGIN … COMMIT, as SQL scripts often are: it applies whole anyway.
        let statements = try SQLTokens.statements(text).filter { !["BEGIN", "COMMIT", "END"].contains($0[0].text.uppercased()) || $0[0].isQuoted }
        guard !statements.isEmpty else { throw MingaError(.badContent, "the migration holds no statement") }
        return try statements.map(migration)
    }

    /// Checks that `sql` (one statement, as a `minga_schema` row holds it) is the migration
    /// the row's key names.
    static func verify(kind: String, table: String, name: String, sql: String) throws(MingaError) -> Migration {
        let key = [kind, table, name, sql].map { Array($0.utf8) }  // bytes: SQLite tells apart what Swift's == may not
        if let known = verified.withLock({ $0[key] }) { return known }
        let migration = try parseVerified(kind: kind, table: table, name: name, sql: sql)
        verified.withLock { known in
            if known.count >= 1024 { known.removeAll() }
            known[key] = migration
        }
        return migration
    }

    /// Migrations verified before, by key and statement. Each node of a federation issues
    /// the registry's built-in migrations itself, so a node receives every statement once per
    /// origin, and checks each change when it is pulled and again when it applies.
    private static let verified = Mutex<[[[UInt8]]: Migration]>([:])

    private static func parseVerified(kind: String, table: String, name: String, sql: String) throws(MingaError) -> Migration {
        let parsed = try parse(sql)
        guard parsed.count == 1, let migration = parsed.first, migration.keyValues == (kind, table, name) else {
            throw MingaError(
                .badContent,
                "the migration's statement does not add the \(kind) its key names (\(table)\(name.isEmpty ? "" : ".\(name)"))"
            )
        }
        guard migration.sql == sql else {
            throw MingaError(.badContent, "the migration's statement is not in canonical form (protocol §20): `\(migration.sql)`")
        }
        return migration
    }

    /// The column definition of an `ALTER TABLE … ADD [COLUMN]` statement in canonical form:
    /// what SQLite appends to the table's CREATE statement.
    static func columnDefinition(_ sql: String) -> String? {
        guard let tokens = try? SQLTokens.statements(sql).first else { return nil }
        guard let add = tokens.firstIndex(where: { !$0.isQuoted && $0.text.uppercased() == "ADD" }) else { return nil }
        let start = add + 1 < tokens.count && !tokens[add + 1].isQuoted && tokens[add + 1].text.uppercased() == "COLUMN" ? add + 2 : add + 1
        return start < tokens.count ? SQLTokens.canonical(Array(tokens[start...])) : nil
    }

    /// SQLite's refusal of a migration's statement, with what to do instead.
    static func advice(forSQLiteMessage message: String, _ migration: Migration) -> String {
        let advice: String? =
            switch message {
            case let m where m.hasPrefix("Cannot add a UNIQUE column"):
                "two agencies working offline could give the same value to different rows, and no merge could keep both; add the column without UNIQUE"
            case let m where m.hasPrefix("Cannot add a column with non-constant default"):
                "give it a constant DEFAULT (or none), and set values with an UPDATE after the migration"
            case let m where m.hasPrefix("Cannot add a NOT NULL column with default value NULL"):
                "give it a constant DEFAULT, or leave out NOT NULL"
            case let m where m.hasPrefix("duplicate column name"):
                "the table has that column already; to change its type, add a column with a new name, copy the values across with an UPDATE after the migration, and stop using the old one"
            case let m where m.hasPrefix("no such table"), let m where m.hasPrefix("no such column"):
                "check the name (minga status lists the tracked tables)"
            default: nil
            }
        return advice.map { "\(message): \($0)" } ?? message
    }

    private static func migration(_ tokens: [SQLTokens.Token]) throws(MingaError) -> Migration {
        try MigrationStatement(tokens).migration()
    }
}

/// One statement of a migration read as the ``Migration`` it adds, or refused with why
/// (protocol/README.md §20): only CREATE TABLE, CREATE INDEX and ALTER TABLE … ADD COLUMN
/// change every node the same way.
private struct MigrationStatement {
    let tokens: [SQLTokens.Token]
    /// The tokens' words in upper case ("" for a quoted one), padded so that look-ahead past
    /// the end reads empty words.
    let words: [String]
    /// The statement's canonical text (``SQLTokens/canonical(_:)``).
    let sql: String

    init(_ tokens: [SQLTokens.Token]) {
        self.tokens = tokens
        words = tokens.map { $0.isQuoted ? "" : $0.text.uppercased() } + Array(repeating: "", count: 8)
        sql = SQLTokens.canonical(tokens)
    }

    func migration() throws(MingaError) -> Migration {
        switch (words[0], words[1], words[2]) {
        case ("CREATE", "TABLE", _): return try createTable()
        case ("CREATE", "INDEX", _): return try createIndex()
        case ("ALTER", "TABLE", _): return try alterTable()
        case ("CREATE", "UNIQUE", "INDEX"):
            throw refuse(
                "a unique index lets two agencies working offline each give the same value to different rows, and no merge could keep both; create the index without UNIQUE"
            )
        case ("CREATE", "TEMP", _), ("CREATE", "TEMPORARY", _):
            throw refuse("temporary objects live on one connection only; nothing to migrate")
        case ("CREATE", "VIRTUAL", _):
            throw refuse("Minga tracks ordinary tables only")
        case ("CREATE", "TRIGGER", _), ("CREATE", "TEMP", "TRIGGER"):
            throw refuse("a trigger would run again on every node that applies a change; keep derived data in views")
        case ("CREATE", "VIEW", _):
            throw refuse("views are not replicated; create them on each node with the sqlite3 shell (they do not change the tracked tables)")
        case ("DROP", _, _):
            throw refuse("dropping loses what other nodes still write; stop using it instead")
        case ("INSERT", _, _), ("UPDATE", _, _), ("DELETE", _, _), ("REPLACE", _, _):
            throw refuse(
                "a migration changes the tables, not their rows; run data changes separately, after the migration (they are captured and synced like any write)"
            )
        default:
            throw refuse(
                "a migration adds a table (CREATE TABLE), a column (ALTER TABLE … ADD COLUMN) or an index (CREATE INDEX), and nothing else; a change of type or key needs a new column or table, its values copied with an UPDATE after the migration"
            )
        }
    }

    private func createTable() throws(MingaError) -> Migration {
        let table = try name(at: afterIfNotExists(2))
        if try words[qualified(afterIfNotExists(2)) + 1] == "AS" {
            throw refuse("CREATE TABLE … AS SELECT copies rows on one node only; create the table, then write its rows so they are captured")
        }
        return Migration(kind: .table, table: table, name: "", sql: sql)
    }

    private func createIndex() throws(MingaError) -> Migration {
        let start = try afterIfNotExists(2)
        let index = try name(at: start)
        let on = qualified(start) + 1
        guard words[on] == "ON" else { throw refuse("ON TABLE was expected") }
        return Migration(kind: .index, table: try name(at: on + 1), name: index, sql: sql)
    }

    private func alterTable() throws(MingaError) -> Migration {
        let table = try name(at: 2)
        let verb = qualified(2) + 1
        switch (words[verb], words[verb + 1]) {
        case ("ADD", "COLUMN"): return Migration(kind: .column, table: table, name: try name(at: verb + 2), sql: sql)
        case ("ADD", _): return Migration(kind: .column, table: table, name: try name(at: verb + 1), sql: sql)
        case ("RENAME", _):
            throw refuse(
                "a rename would strand every change other nodes make under the old name; add a new column or table, copy the values across with an UPDATE, and stop using the old one"
            )
        case ("DROP", _):
            throw refuse("dropping a column loses what other nodes still write to it; stop using it instead (it may stay empty)")
        default:
            throw refuse(
                "only ALTER TABLE … ADD COLUMN is a migration; to change a column's type, add a column with a new name, copy the values across with an UPDATE after the migration, and stop using the old one"
            )
        }
    }

    private func refuse(_ why: String) -> MingaError { MingaError(.badContent, "\(sql): \(why)") }

    /// The name at token `i` (after `main.` if given), refused if it is missing, in another
    /// schema or reserved.
    private func name(at i: Int) throws(MingaError) -> String {
        guard i < tokens.count, tokens[i].isName else { throw refuse("a name was expected after \(tokens[i - 1].text)") }
        if i + 1 < tokens.count, tokens[i + 1].text == "." {
            guard tokens[i].text.lowercased() == "main" else {
                throw refuse("migrations change the replica's own tables (schema main), not \(tokens[i].text)")
            }
            return try name(at: i + 2)
        }
        let name = tokens[i].name
        if name.lowercased().hasPrefix("minga_") || name.lowercased().hasPrefix("sqlite_") {
            throw refuse("names starting with minga_ or sqlite_ are reserved")
        }
        return name
    }

    /// The token after an optional `IF NOT EXISTS`, which a migration does not take: it would
    /// make a statement that did nothing on one node count as applied everywhere.
    private func afterIfNotExists(_ i: Int) throws(MingaError) -> Int {
        if words[i] == "IF" { throw refuse("IF NOT EXISTS is not taken: a migration adds what does not exist yet, on every node") }
        return i
    }

    /// The index of the name that starts at token `i`: past `schema.` when it is qualified.
    private func qualified(_ i: Int) -> Int { i + 1 < tokens.count && tokens[i + 1].text == "." ? i + 2 : i }
}

/// A small SQL tokenizer: enough to split a file into statements, find the names a
/// migration adds, and write a statement in one canonical form. SQLite itself parses the
/// statement when it runs.
enum SQLTokens {
    struct Token: Equatable {
        var text: String
        /// A quoted identifier ("…", `…`, […]) or a string literal ('…').
        var quote: Character?

        var isQuoted: Bool { quote != nil }
        var isName: Bool { quote != "'" && (quote != nil || text.first.map { $0.isLetter || $0 == "_" } == true) }
        /// The identifier without its quotes.
        var name: String {
            guard let quote, quote != "'" else { return text }
            let inner = String(text.dropFirst().dropLast())
            return quote == "[" ? inner : inner.replacingOccurrences(of: String(quote) + String(quote), with: String(quote))
        }
    }

    /// The statements of a text, each its tokens; comments dropped, empty statements skipped.
    static func statements(_ text: String) throws(MingaError) -> [[Token]] {
        var statements: [[Token]] = []
        var current: [Token] = []
        var scanner = Scanner(Array(text))
        while let token = try scanner.next() {
            if token.text == ";" && token.quote == nil {
                if !current.isEmpty { statements.append(current) }
                current = []
            } else {
                current.append(token)
            }
        }
        if !current.isEmpty { statements.append(current) }
        return statements
    }

    /// Reads a text's tokens one at a time, skipping spaces and comments.
    private struct Scanner {
        let chars: [Character]
        var i = 0

        init(_ chars: [Character]) { self.chars = chars }

        /// The next token, `;` included; nil at the end.
        mutating func next() throws(MingaError) -> Token? {
            try skipSpaceAndComments()
            guard i < chars.count else { return nil }
            let c = chars[i]
            if let close: Character = ["\"": "\"", "'": "'", "`": "`", "[": "]"][c] { return try quoted(closedBy: close) }
            if c == "x" || c == "X", at(i + 1) == "'" { return try blobLiteral() }
            if c.isNumber || (c == "." && at(i + 1)?.isNumber == true) { return number() }
            if c.isLetter || c == "_" || c == "$" { return take { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "$" } }
            // Operators of two characters stay one token, so the canonical form keeps them.
            if let next = at(i + 1), ["<=", ">=", "<>", "!=", "==", "||", "<<", ">>"].contains(String([c, next])) {
                i += 2
                return Token(text: String([c, next]))
            }
            i += 1
            return Token(text: String(c))
        }

        private func at(_ index: Int) -> Character? { index < chars.count ? chars[index] : nil }

        private mutating func skipSpaceAndComments() throws(MingaError) {
            while let c = at(i) {
                if c.isWhitespace {
                    i += 1
                } else if c == "-", at(i + 1) == "-" {
                    while let c = at(i), c != "\n" { i += 1 }
                } else if c == "/", at(i + 1) == "*" {
                    guard let end = (i + 2..<max(i + 2, chars.count - 1)).first(where: { chars[$0] == "*" && chars[$0 + 1] == "/" }) else {
                        throw MingaError(.badContent, "a /* comment is not closed")
                    }
                    i = end + 2
                } else {
                    return
                }
            }
        }

        /// A quoted name or string literal; a doubled closing quote inside is one character.
        private mutating func quoted(closedBy close: Character) throws(MingaError) -> Token {
            let open = chars[i]
            var j = i + 1
            while true {
                guard j < chars.count else { throw MingaError(.badContent, "a quote \(open) is not closed") }
                if chars[j] == close {
                    guard close != "]", at(j + 1) == close else { break }
                    j += 2  // doubled: one quote character
                    continue
                }
                j += 1
            }
            defer { i = j + 1 }
            return Token(text: String(chars[i...j]), quote: open)
        }

        /// `X'00'`.
        private mutating func blobLiteral() throws(MingaError) -> Token {
            guard let end = chars[(i + 2)...].firstIndex(of: "'") else { throw MingaError(.badContent, "a quote ' is not closed") }
            defer { i = end + 1 }
            return Token(text: String(chars[i...end]))
        }

        /// `12`, `1.5`, `.5`, `1e-3`, `0x1F`.
        private mutating func number() -> Token {
            let start = i
            while let c = at(i) {
                let exponentSign =
                    (c == "-" || c == "+") && (chars[i - 1] == "e" || chars[i - 1] == "E") && !chars[start...].starts(with: ["0", "x"])
                guard c.isNumber || c == "." || c.isLetter || exponentSign else { break }
                i += 1
            }
            return Token(text: String(chars[start..<i]))
        }

        private mutating func take(while accepts: (Character) -> Bool) -> Token {
            let start = i
            while let c = at(i), accepts(c) { i += 1 }
            return Token(text: String(chars[start..<i]))
        }
    }

    /// One canonical text for a statement, whatever its spacing and comments: tokens one space
    /// apart, none after `(` or before `)`, `,` and `.`, nor after `.`.
    static func canonical(_ tokens: [Token]) -> String {
        var text = ""
        for (i, token) in tokens.enumerated() {
            if i > 0, ![")", ",", "."].contains(token.text), !["(", "."].contains(tokens[i - 1].text) { text += " " }
            text += token.text
        }
        return text
    }
}
