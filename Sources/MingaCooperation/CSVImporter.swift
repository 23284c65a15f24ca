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
            throw MingaError(.failed, "cannot read \(path): \(error.localizedDescription)")
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
            throw MingaError(.invalidInput, "\(source) is not UTF-8 text; save it as \"CSV UTF-8\" and import it again")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }  // spreadsheets often start UTF-8 files with a BOM
        let reader: CSVReader
        do {
            reader = try CSVReader(string: text, hasHeaderRow: true)
        } catch CSVError.cannotReadHeaderRow {
            throw MingaError(
                .invalidInput,
                "\(source) is empty; its first line must name columns of \(table): \(shape.columns.joined(separator: ","))"
            )
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
                        reason: "\(counted(fields.count, "field")), but the header names \(header.count) columns"
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
                .invalidInput,
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
