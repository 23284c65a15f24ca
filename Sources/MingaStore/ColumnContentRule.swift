import Foundation
import MingaCore

/// One of ``ContentRules`` applied to one column of a tracked table, in the two forms it is
/// checked in: on an incoming change (``Replica/validate(_:)``, protocol §13) and, as SQL, in
/// the capture trigger, which refuses a local write that breaks it with
/// `RAISE(ABORT, 'minga: …')` in the writer's own statement. Both forms come from here.
struct ColumnContentRule: Sendable {
    enum Test: Sendable {
        /// A key column holds a value (protocol §3, Keys).
        case present
        /// A key column's value is of the kind its declared type takes (§3, Keys).
        case kind(KeyKind)
        /// A key column's text is valid UTF-8 (§3). A `String` always is, so only the origin's
        /// trigger can meet a break: bytes of another encoding (Latin-1) written as text.
        case validUTF8
        /// Text holds no U+0000 (§3).
        case noNUL
        /// At most ``ContentRules/maxValueBytes`` (§3, Sizes).
        case maxBytes
    }

    let table: String
    let column: String
    /// Where the column sits in the table's columns.
    let position: Int
    let test: Test

    /// Whether `value` breaks the rule.
    func isBroken(by value: Value) -> Bool {
        switch test {
        case .present: return value == .null
        case .kind(let kind): return !kind.admits(value)
        case .validUTF8: return false
        case .noNUL: return ContentRules.holdsNUL(value)
        case .maxBytes: return ContentRules.size(of: value) > ContentRules.maxValueBytes
        }
    }

    /// An SQL condition, true when the value of expression `v` breaks the rule. A number's
    /// text is far below the size limit, so `length(CAST(v AS BLOB))` (the bytes of a text or
    /// blob, without copying it) decides the size as ``ContentRules/size(of:)`` does.
    func sqlBroken(_ v: String) -> String {
        switch test {
        case .present: return "\(v) IS NULL"
        case .kind(let kind): return "typeof(\(v)) NOT IN (\(kind.sqliteTypes.map(SQL.literal).joined(separator: ", ")))"
        case .noNUL: return "(instr(\(v), x'00') > 0 AND typeof(\(v)) = 'text')"  // instr first: a blob's zero bytes are no NUL
        case .validUTF8: return "(typeof(\(v)) = 'text' AND \(v) GLOB \(ColumnContentRule.nonASCII) AND NOT \(ColumnContentRule.sqlValidUTF8(v)))"
        case .maxBytes: return "length(CAST(\(v) AS BLOB)) > \(ContentRules.maxValueBytes)"
        }
    }

    /// What is wrong and what to do, for the writer and for a receiver's refusal.
    var message: String {
        let name = "\(table).\(column)"
        switch test {
        case .present:
            return
                "\(name) is NULL, but it is part of the key: every node finds the row by its key, so each key column needs a value (declare it NOT NULL)"
        case .kind(let kind):
            return
                "key column \(name) takes \(kind.described) values only (by its declared type), so that every node files the row under the same key; write the key as \(kind == .integer ? "a whole number" : kind == .text ? "text" : "text or a whole number")"
        case .validUTF8:
            return
                "key column \(name): the text is not valid UTF-8 (bytes of another encoding, such as Latin-1, written as text), so other nodes could not find the row by it; write the key as UTF-8"
        case .noNUL:
            return "\(name): text with a NUL character (U+0000) cannot travel; store it as a blob"
        case .maxBytes:
            return "\(name): a value over \(ContentRules.maxValueBytes) bytes (1 MiB) cannot travel; keep large files outside the replica"
        }
    }

    /// The rules of a table, in the order they are checked: per key column (by position in
    /// `columns`, with its kind) that it has a value and of its kind, then for every column no
    /// NUL and the size.
    static func rules(table: String, columns: [String], keys: [(position: Int, kind: KeyKind)]) -> [ColumnContentRule] {
        var rules: [ColumnContentRule] = []
        for (position, kind) in keys {
            rules.append(ColumnContentRule(table: table, column: columns[position], position: position, test: .present))
            rules.append(ColumnContentRule(table: table, column: columns[position], position: position, test: .kind(kind)))
            rules.append(ColumnContentRule(table: table, column: columns[position], position: position, test: .validUTF8))
        }
        for (position, column) in columns.enumerated() {
            rules.append(ColumnContentRule(table: table, column: column, position: position, test: .noNUL))
            rules.append(ColumnContentRule(table: table, column: column, position: position, test: .maxBytes))
        }
        return rules
    }

    /// The message when a row's (or a change's) values exceed ``ContentRules/maxChangeBytes``.
    static func changeSizeMessage(table: String) -> String {
        "a row of \(table) over \(ContentRules.maxChangeBytes) bytes (2 MiB) of text and blobs cannot travel; move large columns to a table sharing its key"
    }

    /// The SQL expression of the bytes a row's values count towards the limits (text and blobs
    /// only, as ``ContentRules/size(of:)``). A text-affinity column holds no numbers (SQLite
    /// stores them as text), so those are concatenated and measured at once (as a blob: its
    /// bytes, not its characters); only the other columns need their type looked at.
    static func sqlRowBytes(_ table: TrackedTable, textColumns: Set<String>, _ ref: (String) -> String) -> String {
        let text = table.columns.filter(textColumns.contains).map { "ifnull(\(ref($0)), '')" }
        let others = table.columns.filter { !textColumns.contains($0) }.map { c in
            "ifnull(length(CAST(\(ref(c)) AS BLOB)) * (typeof(\(ref(c))) IN ('text', 'blob')), 0)"
        }
        return ((text.isEmpty ? [] : ["length(CAST(\(text.joined(separator: " || ")) AS BLOB))"]) + others).joined(separator: " + ")
    }

    /// `WHEN <broken> THEN RAISE(ABORT, 'minga: <message>')`: the CASE branch that refuses a
    /// write breaking this rule.
    func sqlRefusal(_ ref: (String) -> String) -> String {
        "WHEN \(sqlBroken(ref(column))) THEN RAISE(ABORT, \(SQL.literal("minga: " + message)))"
    }

    /// The refusal of each of `rules`, then of the row's size.
    static func sqlRefusals(_ rules: [ColumnContentRule], _ table: TrackedTable, textColumns: Set<String>, _ ref: (String) -> String) -> String {
        let each = rules.map { $0.sqlRefusal(ref) }
        let row =
            "WHEN (\(sqlRowBytes(table, textColumns: textColumns, ref))) > \(ContentRules.maxChangeBytes) THEN RAISE(ABORT, \(SQL.literal("minga: " + changeSizeMessage(table: table.name))))"
        return (each + [row]).joined(separator: " ")
    }

    /// The insert trigger's statement: refuses a row that breaks any rule of `table`, with the
    /// message of the first rule it breaks; `ref` names a column's new value (`NEW."c"`).
    /// The common case costs a test or two per key column and one look at all the row's bytes
    /// together (concatenated as a blob): only a row with a zero byte somewhere or over 1 MiB
    /// has its values checked one by one.
    static func insertCheck(_ table: TrackedTable, textColumns: Set<String>, _ ref: (String) -> String) -> String {
        let keyRules = table.contentRules.filter(\.isKeyRule)
        let valueRules = table.contentRules.filter { !$0.isKeyRule }
        let allBytes = table.columns.map { "ifnull(\(ref($0)), '')" }.joined(separator: " || ")
        return """
            SELECT CASE \(keyRules.map { $0.sqlRefusal(ref) }.joined(separator: " ")) \
            WHEN instr(x, x'00') > 0 OR length(x) > \(ContentRules.maxValueBytes) THEN CASE \(sqlRefusals(valueRules, table, textColumns: textColumns, ref)) END END \
            FROM (SELECT CAST(\(allBytes) AS BLOB) AS x);
            """
    }

    /// The update check of one column: a trigger `AFTER UPDATE OF` it, which SQLite runs only
    /// for statements that set it, so an update pays for the columns it writes. It looks closer
    /// when the new value holds a zero byte or grew (the row's size can only grow by a value
    /// that grew), or always for a key column. Whether capture is on is asked last: it reads
    /// a table, and most updates stop before.
    static func updateCheck(_ table: TrackedTable, column: Int, textColumns: Set<String>, active: String) -> String {
        let name = table.columns[column]
        let new = { (c: String) in "NEW." + SQL.id(c) }
        let rules = table.contentRules.filter { $0.position == column }
        let when =
            table.keyIndex[column] != nil
            ? active
            : "(instr(CAST(\(new(name)) AS BLOB), x'00') > 0 OR length(CAST(\(new(name)) AS BLOB)) > ifnull(length(CAST(OLD.\(SQL.id(name)) AS BLOB)), 0)) AND \(active)"
        return """
            CREATE TRIGGER \(SQL.id("minga_check_\(table.name)_\(column)")) AFTER UPDATE OF \(SQL.id(name)) ON \(SQL.id(table.name)) WHEN \(when) BEGIN
            SELECT CASE \(sqlRefusals(rules, table, textColumns: textColumns, new)) END;
            END;
            """
    }

    /// A GLOB pattern that matches text holding a character outside U+0001…U+007F, written
    /// with those two bytes in the literal: a trigger evaluates its constant expressions on
    /// every run, and `char(1)` and `||` would cost a function call and an allocation each.
    static let nonASCII = "'*[^\u{01}-\u{7F}]*'"

    /// An SQL condition, true when the non-ASCII text `v` is valid UTF-8: a walk over its
    /// characters in which each must be exactly the bytes SQLite writes for the code point it
    /// reads there (`char(unicode(…))`), so a byte of another encoding, a stray continuation
    /// byte, a short or long sequence, an overlong form or a surrogate each fail. It takes a
    /// few microseconds a character: the key rule walks only non-ASCII keys, which are short.
    static func sqlValidUTF8(_ v: String) -> String {
        let bytes = "CAST(\(v) AS BLOB)"
        let width = "length(CAST(char(u) AS BLOB))"
        return """
            (WITH RECURSIVE w(i, u, ok) AS (SELECT 1, unicode(CAST(substr(\(bytes), 1, 4) AS TEXT)), 1 UNION ALL \
            SELECT i + \(width), unicode(CAST(substr(\(bytes), i + \(width), 4) AS TEXT)), substr(\(bytes), i, \(width)) = CAST(char(u) AS BLOB) \
            FROM w WHERE ok AND i <= length(\(bytes))) SELECT min(ok) FROM w)
            """
    }

    var isKeyRule: Bool {
        switch test {
        case .present, .kind, .validUTF8: return true
        case .noNUL, .maxBytes: return false
        }
    }

    /// The first rule a change breaks, as a message, or `nil`. `values` are the change's
    /// values by position in the table's columns, key included (`nil` where it sets none).
    /// One pass over the values with the rules' own tests finds whether any is broken (the
    /// common case: none); only then are the rules walked in order for the message.
    static func refusal(_ values: [Value?], in table: TrackedTable) -> String? {
        var total = 0
        var broken = false
        for (position, kind) in zip(table.keyPositions, table.keyKinds) where !kind.admits(values[position] ?? .null) {
            broken = true
        }
        for case let value? in values {
            let size = ContentRules.size(of: value)
            total += size
            if size > ContentRules.maxValueBytes || ContentRules.holdsNUL(value) { broken = true }
        }
        if broken {
            for rule in table.contentRules {
                if let value = values[rule.position], rule.isBroken(by: value) { return rule.message }
            }
        }
        return total > ContentRules.maxChangeBytes ? changeSizeMessage(table: table.name) : nil
    }
}
