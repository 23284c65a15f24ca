import CSV
import Foundation
import MingaCore
import MingaStore

// CSV import and export of any tracked table, for agencies whose data lives in spreadsheets.
//
// The format is the one `minga export csv` writes and `minga import csv` reads: UTF-8,
// comma-separated, RFC 4180 quoting (so fields may hold commas, quotes and line breaks), a
// header row of column names, then one row per line. An empty field is NULL, reals are in
// Swift's shortest round-trip form and blobs are `base64:…`, so that export → import into
// another replica gives the same `dump`. Two values CSV cannot tell apart are the exception:
// empty text reads back as NULL, and in a column declared without a type (or BLOB) every
// field other than `base64:…` reads back as text.

/// How a field becomes a value: by the column's declared type, with SQLite's affinity rules
/// (https://sqlite.org/datatype3.html §3.1), so a field is typed as SQLite itself would store it.
enum CSVColumnKind: Equatable {
    case integer, real, text, blob

    init(declaredType: String) {
        switch TrackedTable.Affinity(declaredType: declaredType) {
        case .integer: self = .integer
        case .text: self = .text
        case .blob: self = .blob
        case .real: self = .real
        // NUMERIC affinity: SQLite turns well-formed numbers into numbers and keeps the rest
        // as text, which is unambiguous, so the text goes in as is.
        case .numeric: self = .text
        }
    }

    /// What a field of this kind must look like, for the bad-row report.
    var expectation: String {
        switch self {
        case .integer: return "an integer"
        case .real: return "a number"
        case .text: return "text"
        case .blob: return "base64 after `base64:`"
        }
    }

    /// The value of a non-empty field, or `nil` if it cannot be one of this kind.
    func value(of field: String) -> Value? {
        switch self {
        case .integer:
            if let i = Int64(field) { return .integer(i) }
            // An INTEGER column may hold a real (SQLite stores 1.5 as a real there); accepting
            // it lets such a table round-trip. Text such as "abc" is refused.
            return Self.real(field).map(Value.real)
        case .real:
            return Self.real(field).map(Value.real)
        case .text:
            return .text(field)
        case .blob:
            guard field.hasPrefix(CSVExporter.blobPrefix) else { return .text(field) }
            return Data(base64Encoded: String(field.dropFirst(CSVExporter.blobPrefix.count))).map(Value.blob)
        }
    }

    /// A decimal number, `inf` or `-inf` (what the exporter writes); never NaN, which SQLite
    /// would silently store as NULL.
    private static func real(_ field: String) -> Double? {
        guard let d = Double(field), !d.isNaN else { return nil }
        return d
    }
}

/// One row of a CSV file that cannot be imported, and why.
public struct CSVBadRow: Sendable, Hashable, CustomStringConvertible {
    /// The physical line in the file where the row starts, the header being line 1.
    public let line: Int
    public let reason: String

    public var description: String { "line \(line): \(reason)" }
}

/// A CSV file with bad rows: every bad row is listed, and nothing was imported, so the
/// operator fixes them all in one pass and runs the same command again.
public struct CSVImportError: Error, Sendable, CustomStringConvertible {
    public let source: String
    public let table: String
    public let badRows: [CSVBadRow]

    /// How many bad rows the message lists; a file with a systematic mistake would otherwise
    /// print one line per row.
    public static let listed = 50

    public var description: String {
        var text = "\(source): \(badRows.count) bad row\(badRows.count == 1 ? "" : "s"); nothing was imported into \(table)"
        for row in badRows.prefix(Self.listed) { text += "\n  \(row)" }
        if badRows.count > Self.listed { text += "\n  and \(badRows.count - Self.listed) more" }
        return text
    }
}

/// What an import did.
public struct CSVImportSummary: Sendable, Hashable, CustomStringConvertible {
    public let table: String
    public let inserted: Int
    public let updated: Int

    public init(table: String, inserted: Int, updated: Int) {
        self.table = table
        self.inserted = inserted
        self.updated = updated
    }

    public var rows: Int { inserted + updated }
    public var description: String { "imported \(rows) rows into \(table) (\(inserted) new, \(updated) updated)" }
}

/// Reads a CSV file into one tracked table, all or nothing.
///
/// The whole file is one ``Replica/transaction(checkingCodes:_:)``: the capture triggers record its writes
/// like any other local edit, and one bad row (a field of the wrong type, or a row the
/// replica refuses: a code not in its IATI codelist, a CHECK constraint) rolls the whole file
/// back, after every bad row has been found. Rows are written with put semantics, so
/// importing a corrected file again updates rows in place rather than duplicating them.
public struct CSVImporter: Sendable {
    public let replica: Replica

    public init(replica: Replica) { self.replica = replica }

    /// A row to write, with the physical line where it starts.
    private typealias Row = (line: Int, values: [String: Value])

    /// Imports the CSV file at `path` into `table`.
    public func importCSV(file path: String, into table: String) throws -> CSVImportSummary {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw MingaError("cannot read \(path): \(error.localizedDescription)")
        }
        return try importCSV(data, into: table, source: path)
    }

    /// Imports CSV text into `table`; `source` names it in messages (the file's path).
    ///
    /// Line numbers in reports are physical lines: a quoted field that spans lines moves the
    /// following rows down, as in an editor. They are counted from the line breaks inside the
    /// fields the CSV library returns, which is exact for well-formed quoting.
    public func importCSV(_ data: Data, into table: String, source: String = "CSV") throws -> CSVImportSummary {
        let shape = try replica.table(named: table)
        guard var text = String(data: data, encoding: .utf8) else {
            throw MingaError("\(source) is not UTF-8 text; save it as \"CSV UTF-8\" and import it again")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }  // spreadsheets often start UTF-8 files with a BOM
        let reader: CSVReader
        do {
            reader = try CSVReader(string: text, hasHeaderRow: true)
        } catch CSVError.cannotReadHeaderRow {
            throw MingaError("\(source) is empty; its first line must name columns of \(table): \(shape.columns.joined(separator: ","))")
        }
        let header = reader.headerRow ?? []
        try checkHeader(header, of: shape, source: source)
        let kinds = try columnKinds(shape)
        let (rows, bad) = readRows(reader, header: header, shape: shape, kinds: kinds)
        let inserted = try write(rows, into: table, badRows: bad, source: source)
        return CSVImportSummary(table: table, inserted: inserted, updated: rows.count - inserted)
    }

    /// Reads the records after the header: the rows to write, each with its line, and the
    /// bad rows, each with why.
    private func readRows(
        _ reader: CSVReader,
        header: [String],
        shape: TrackedTable,
        kinds: [String: CSVColumnKind]
    ) -> (rows: [Row], bad: [CSVBadRow]) {
        var rows: [Row] = []
        var bad: [CSVBadRow] = []
        var firstLineOfKey: [[Value]: Int] = [:]
        var nextLine = 2 + Self.lineBreaks(in: header)
        while let fields = reader.next() {
            let line = nextLine
            nextLine += 1 + Self.lineBreaks(in: fields)
            if fields == [""] { continue }  // a blank line, e.g. at the end of a hand-edited file
            guard fields.count == header.count else {
                bad.append(
                    CSVBadRow(
                        line: line,
                        reason: "\(fields.count) field\(fields.count == 1 ? "" : "s"), but the header names \(header.count) columns"
                    )
                )
                continue
            }
            let typed = Self.values(of: fields, header: header, shape: shape, kinds: kinds)
            var reasons = typed.reasons
            if reasons.isEmpty {
                // A key twice in one file is almost always a mistake that put would hide (the
                // later row would silently win), so it is reported instead.
                let key = shape.keyColumns.map { typed.values[$0]! }
                if let first = firstLineOfKey[key] {
                    reasons.append("repeats the key of line \(first)")
                } else {
                    firstLineOfKey[key] = line
                }
            }
            if reasons.isEmpty {
                rows.append((line, typed.values))
            } else {
                bad.append(CSVBadRow(line: line, reason: reasons.joined(separator: "; ")))
            }
        }
        return (rows, bad)
    }

    /// A record's fields as values of their columns' kinds (an empty field is NULL), and why
    /// the record cannot be imported: fields not of their column's kind, empty key columns.
    private static func values(
        of fields: [String],
        header: [String],
        shape: TrackedTable,
        kinds: [String: CSVColumnKind]
    ) -> (values: [String: Value], reasons: [String]) {
        var values: [String: Value] = [:]
        var reasons: [String] = []
        for (column, field) in zip(header, fields) {
            if field.isEmpty {
                values[column] = .null
            } else if let value = kinds[column]!.value(of: field) {
                values[column] = value
            } else {
                reasons.append("\(column) = \(Self.shown(field)) is not \(kinds[column]!.expectation)")
            }
        }
        let missing = shape.keyColumns.filter { values[$0] == Value.null }
        if !missing.isEmpty {
            reasons.append(
                "the key column\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", ")) \(missing.count == 1 ? "is" : "are") empty"
            )
        }
        return (values, reasons)
    }

    /// Writes the rows in one transaction and returns how many were new. The well-formed rows
    /// are written even when others are bad, so that the replica's own checks (codelists, CHECK
    /// constraints) report their rows in the same pass; any bad row throws, which rolls the
    /// whole transaction back.
    private func write(
        _ rows: [Row],
        into table: String,
        badRows: [CSVBadRow],
        source: String
    ) throws -> Int {
        var bad = badRows
        return try replica.transaction { tx in
            var inserted = 0
            for row in rows {
                do {
                    if try tx.put(table: table, row: row.values) { inserted += 1 }
                } catch let error as MingaError {
                    bad.append(CSVBadRow(line: row.line, reason: error.message))
                }
            }
            if !bad.isEmpty {
                throw CSVImportError(source: source, table: table, badRows: bad.sorted { $0.line < $1.line })
            }
            return inserted
        }
    }

    /// Refuses a header that names unknown columns, names one twice, or lacks a key column,
    /// listing the table's columns so that the operator can fix it at once.
    private func checkHeader(_ header: [String], of shape: TrackedTable, source: String) throws {
        var problems: [String] = []
        var unknown: [String] = []
        for name in header where !shape.columns.contains(name) && !unknown.contains(name) { unknown.append(name) }
        if !unknown.isEmpty { problems.append("unknown column\(unknown.count == 1 ? "" : "s") \(unknown.map(Self.shown).joined(separator: ", "))") }
        let repeated = shape.columns.filter { column in header.filter { $0 == column }.count > 1 }
        if !repeated.isEmpty { problems.append("column\(repeated.count == 1 ? "" : "s") named twice: \(repeated.joined(separator: ", "))") }
        let missing = shape.keyColumns.filter { !header.contains($0) }
        if !missing.isEmpty { problems.append("missing key column\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", "))") }
        guard problems.isEmpty else {
            throw MingaError(
                """
                \(source): the header row (line 1) has \(problems.joined(separator: "; ")); \
                the columns of \(shape.name) are \(shape.columns.joined(separator: ",")) \
                (key: \(shape.keyColumns.joined(separator: ",")); the others may be left out)
                """
            )
        }
    }

    /// Each column's kind, from the type the schema declares for it.
    private func columnKinds(_ shape: TrackedTable) throws -> [String: CSVColumnKind] {
        let literal = "'" + shape.name.replacingOccurrences(of: "'", with: "''") + "'"
        var kinds: [String: CSVColumnKind] = [:]
        for row in try replica.query("SELECT name, type FROM pragma_table_info(\(literal))").rows {
            guard case .text(let name) = row[0] else { continue }
            if case .text(let type) = row[1] { kinds[name] = CSVColumnKind(declaredType: type) } else { kinds[name] = .blob }
        }
        return kinds
    }

    /// Line breaks inside a record's fields: LF, CRLF or a lone CR, as the CSV library reads them.
    static func lineBreaks(in fields: [String]) -> Int {
        var count = 0
        for field in fields {
            var afterCR = false
            for scalar in field.unicodeScalars {
                if scalar == "\r" || (scalar == "\n" && !afterCR) { count += 1 }
                afterCR = scalar == "\r"
            }
        }
        return count
    }

    /// A field as a message shows it: quoted, escaped, and cut short if long.
    static func shown(_ field: String) -> String {
        JSONText.quote(field.count > 40 ? String(field.prefix(40)) + "…" : field)
    }
}

/// Writes one tracked table as CSV that ``CSVImporter`` reads back to the same values.
public struct CSVExporter: Sendable {
    public let replica: Replica

    /// Marks a blob field: CSV has only text, and base64 keeps any bytes intact.
    public static let blobPrefix = "base64:"

    public init(replica: Replica) { self.replica = replica }

    /// The table as CSV: a header of all columns in table order, then rows sorted by key so
    /// that equal tables export equal bytes (and diffs between exports are meaningful).
    public func export(table: String) throws -> Data {
        let shape = try replica.table(named: table)
        let id = { (name: String) in "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        let result = try replica.query(
            "SELECT \(shape.columns.map(id).joined(separator: ", ")) FROM \(id(table)) ORDER BY \(shape.keyColumns.map(id).joined(separator: ", "))"
        )
        let stream = OutputStream.toMemory()
        let writer = try CSVWriter(stream: stream)
        try writer.write(row: shape.columns)
        for row in result.rows { try writer.write(row: row.map(Self.field)) }
        guard var data = stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data else {
            throw MingaError("could not write \(table) as CSV")
        }
        data.append(contentsOf: Array("\n".utf8))  // the writer separates rows; a text file ends with a line break
        return data
    }

    /// Writes the table to `path` atomically: a reader never sees half a file, and a failed
    /// export leaves an earlier file in place.
    public func export(table: String, to path: String) throws {
        let data = try export(table: table)
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw MingaError("cannot write \(path): \(error.localizedDescription)")
        }
    }

    static func field(_ value: Value) -> String {
        switch value {
        case .null: return ""
        case .integer(let i): return String(i)
        case .real(let d): return "\(d)"  // shortest round-trip; inf and -inf read back too
        case .text(let s): return s
        case .blob(let b): return blobPrefix + b.base64EncodedString()
        }
    }
}
