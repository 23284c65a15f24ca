import Foundation
import MingaCore
import MingaStore

/// What an IATI import did.
public struct IATIImportResult: Sendable, Equatable {
    /// Activities read from the file (each one an initiative).
    public var activities = 0
    public var inserted = 0
    public var updated = 0
    public var deleted = 0
    /// Rows the file holds exactly as the registry already did (not written, so not synced).
    public var unchanged = 0
    /// Rows inserted, updated or deleted, by table.
    public var writtenByTable: [String: Int] = [:]
    /// What of the file lies outside every `iati-activity` (not imported), by path, with how often.
    public var unheld: [String: Int] = [:]
    /// Elements and attributes no column holds, kept as written in `iati_part` and exported
    /// back as they are, by path (e.g. `iati-activity/location`), with how often.
    public var verbatim: [String: Int] = [:]
    /// Codes outside their IATI codelist, imported as written, counted by codelist (e.g.
    /// `Country: 1`); `minga check` lists each. A ``IATIImporter/strict`` import refuses them.
    public var unknownCodes: [String: Int] = [:]
    /// The first unknown code of each codelist, where it was: `"RD" (recipient-country/@code,
    /// activity XM-1, line 12)`.
    public var unknownCodeExamples: [String: String] = [:]

    public init() {}

    /// Rows inserted, updated or deleted: the changes the import recorded.
    public var rowsWritten: Int { inserted + updated + deleted }

    /// ``unheld`` sorted by path, for printing.
    public var unheldReport: [(path: String, count: Int)] {
        unheld.sorted { $0.key < $1.key }.map { (path: $0.key, count: $0.value) }
    }
}

/// Imports IATI 2.03 activity XML into the cooperation registry.
///
/// A file is one transaction: a malformed file or any other failure leaves the replica
/// exactly as it was, and the error names the activity and the line. A code outside its
/// codelist (a publisher's "RD" for the Dominican Republic, whose code is DO) is imported as
/// written and counted in ``IATIImportResult/unknownCodes``; a ``strict`` import refuses the
/// file for it instead. Each
/// activity becomes an initiative with its texts, participants, places, classifications and
/// flows (see `Resources/cooperation.sql` for which element fills which column).
///
/// Re-importing an updated file updates in place: an initiative's IATI columns take the
/// file's values (NULL where the file has none), and rows of its child tables that the file no
/// longer holds are deleted. Only columns whose value actually changes are written, so an
/// unchanged file records no change and syncs nothing. The registry's own columns, which IATI
/// has no element for (SEGIB modality and instrument, SDGs, a flow's financing instrument, a
/// participation's SEGIB role once set), are never overwritten. Initiatives absent from the
/// file are left alone: a file need not hold the whole registry.
///
/// Organisations: the reporting-org describes itself, so its narrative and type update the
/// organisation row; a participating-org only creates a missing organisation (named by its
/// narrative, else its ref) or fills a missing type, so that curated names are not replaced by
/// every partner's spelling.
public struct IATIImporter {
    public let replica: Replica
    /// Refuse the whole file for one code outside its codelist, as releases before 0.9 did.
    public var strict = false

    public init(replica: Replica, strict: Bool = false) {
        self.replica = replica
        self.strict = strict
    }

    /// Imports the file at `path`. `progress` is called after each activity with the number
    /// of activities done so far.
    public func importFile(at path: String, progress: ((Int) -> Void)? = nil) throws -> IATIImportResult {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw MingaError(.notFound, "cannot read \(path): no such file")
        }
        guard FileManager.default.isReadableFile(atPath: path), let stream = InputStream(fileAtPath: path) else {
            throw MingaError(.failed, "cannot read \(path): permission denied")
        }
        if let handle = FileHandle(forReadingAtPath: path) {
            defer { try? handle.close() }
            try Self.refuseDeclaredEntities(try handle.read(upToCount: Self.prologLimit) ?? Data())
        }
        return try run(stream, progress: progress)
    }

    /// Imports XML held in memory.
    public func importData(_ data: Data, progress: ((Int) -> Void)? = nil) throws -> IATIImportResult {
        try Self.refuseDeclaredEntities(data.prefix(Self.prologLimit))
        return try run(InputStream(data: data), progress: progress)
    }

    /// How much of a file's start is searched for a DTD.
    static let prologLimit = 1 << 20

    /// Refuses a file whose DTD declares entities: the parser would drop their references
    /// silently (and must never fetch an external one), changing the text the file holds.
    /// IATI files have no DTD. Only the prolog, before the first element, is searched.
    static func refuseDeclaredEntities(_ start: Data) throws {
        let text = String(decoding: start, as: UTF8.self)
        guard let doctype = text.range(of: "<!DOCTYPE") else { return }
        let beforeRoot = text[..<(text.range(of: "<iati-activities")?.lowerBound ?? text.endIndex)]
        guard doctype.lowerBound < beforeRoot.endIndex, beforeRoot[doctype.lowerBound...].contains("<!ENTITY") else { return }
        let line = text[..<doctype.lowerBound].filter { $0 == "\n" }.count + 1
        throw MingaError(
            .invalidInput,
            "line \(line): the file's DOCTYPE declares entities; IATI files have no DTD, and Minga does not expand entities (their text would be lost); remove the DOCTYPE and write the text out; nothing was imported"
        )
    }

    private func run(_ stream: InputStream, progress: ((Int) -> Void)?) throws -> IATIImportResult {
        try replica.transaction(checkingCodes: strict) { tx in
            let writer = IATIRowWriter(tx: tx, strict: strict)
            let reader = IATIReader { activity in
                try writer.write(activity)
                progress?(writer.result.activities)
            }
            try reader.read(stream)
            var result = writer.result
            for (path, count) in reader.unheld { result.unheld[path, default: 0] += count }
            for (path, count) in reader.verbatim { result.verbatim[path, default: 0] += count }
            return result
        }
    }
}

/// Writes activities' rows inside one transaction, keeping the import's counts.
final class IATIRowWriter {
    private let tx: LocalTransaction
    private let strict: Bool
    private(set) var result = IATIImportResult()
    /// Identifiers read so far: a repeated one replaces the earlier activity, which is reported.
    private var identifiers: Set<String> = []

    init(tx: LocalTransaction, strict: Bool) {
        self.tx = tx
        self.strict = strict
    }

    func write(_ activity: IATIActivity) throws {
        let rows = activity.rows()
        let place = "activity \(activity.identifier)"
        if !identifiers.insert(activity.identifier).inserted {
            result.unheld["iati-activity (repeated iati-identifier: the last one is kept)", default: 0] += 1
        }
        for path in rows.repeated { result.verbatim[path, default: 0] += 1 }
        for unknown in IATICodes.unknown(rows, activity: activity.identifier) {
            if strict {
                throw MingaError(
                    .badContent,
                    "\(unknown.place): \(unknown.description); nothing was imported (`minga query \"SELECT code, name FROM minga_codelist WHERE list = '\(unknown.list)'\"` lists its codes)"
                )
            }
            result.unknownCodes[unknown.list, default: 0] += 1
            if result.unknownCodeExamples[unknown.list] == nil {
                result.unknownCodeExamples[unknown.list] = "\"\(unknown.code)\" (\(unknown.element), \(unknown.place))"
            }
        }

        let id = Value.text(activity.identifier)
        do {
            let existing = try tx.rows(table: "initiative", where: "iati_identifier", equals: id).first
            try upsert(rows.initiative, key: ["iati_identifier"], existing: existing)
            try replaceChildren(of: id, with: rows.children)
            // The reporting organisation's own description first: mentions only fill gaps.
            if let row = rows.reportingOrganisation { try upsertOrganisation(row) }
            for row in rows.mentionedOrganisations { try fillOrganisation(row) }
        } catch let error as MingaError {
            throw MingaError(error.code, "\(place): \(error.message)")
        }
        result.activities += 1
    }

    private static let keys: [String: [String]] = [
        "initiative_text": ["initiative", "element", "lang"],
        "participation": ["initiative", "org_ref", "iati_role"],
        "recipient_country": ["initiative", "country"],
        "recipient_region": ["initiative", "vocabulary", "region"],
        "classification": ["initiative", "scheme", "vocabulary", "code"],
        "flow": ["id"],
        "result": ["initiative", "result_no"],
        "result_indicator": ["initiative", "result_no", "indicator_no"],
        "indicator_period": ["initiative", "result_no", "indicator_no", "period_no"],
        "location": ["initiative", "location_no"],
        "document_link": ["initiative", "link_no"],
        "policy_marker": ["initiative", "vocabulary", "code"],
        "iati_part": ["initiative", "path"],
    ]

    /// Deletes the initiative's child rows the file no longer holds, then writes the file's.
    private func replaceChildren(of initiative: Value, with children: [String: [IATIRow]]) throws {
        for table in IATIColumns.childTables {
            let key = Self.keys[table]!
            let current = try tx.rows(table: table, where: "initiative", equals: initiative)  // in key order
            var existing: [[Value]: [String: Value]] = [:]
            for row in current { existing[key.map { row[$0] ?? .null }] = row }
            let incoming = children[table] ?? []
            let kept = Set(incoming.map { row in key.map { row.values[$0] ?? .null } })
            for row in current {
                let k = key.map { row[$0] ?? .null }
                guard !kept.contains(k) else { continue }
                try tx.delete(table: table, key: k)
                result.deleted += 1
                result.writtenByTable[table, default: 0] += 1
            }
            for var row in incoming {
                let old = existing[key.map { row.values[$0] ?? .null }]
                if table == "participation" {
                    // The SEGIB role is the registry's own judgement: derive it only for a new
                    // participation, and only where it is plain (a funder provides).
                    if old == nil, row.values["iati_role"] == .text("1") { row.values["segib_role"] = .text("provider") }
                }
                do {
                    try upsert(row, key: key, existing: old)
                } catch let error as MingaError {
                    throw MingaError(error.code, "line \(row.line): \(error.message)")
                }
            }
        }
    }

    /// Inserts the row, or writes only the columns whose value differs from `existing`.
    private func upsert(_ row: IATIRow, key: [String], existing: [String: Value]?) throws {
        if let existing {
            let changed = row.values.filter { column, value in !key.contains(column) && existing[column] != value }
            guard !changed.isEmpty else {
                result.unchanged += 1
                return
            }
            try tx.put(table: row.table, row: changed.merging(row.values.filter { key.contains($0.key) }) { a, _ in a })
            result.updated += 1
            result.writtenByTable[row.table, default: 0] += 1
        } else {
            try tx.put(table: row.table, row: row.values.filter { $0.value != .null })
            result.inserted += 1
            result.writtenByTable[row.table, default: 0] += 1
        }
    }

    /// Organisation rows as this import left them: the same few organisations recur in every
    /// activity of a file, and the transaction holds the write lock, so no one else changes them.
    private var organisations: [Value: [String: Value]] = [:]

    private func organisation(_ ref: Value) throws -> [String: Value]? {
        if let known = organisations[ref] { return known }
        let row = try tx.rows(table: "organisation", where: "ref", equals: ref).first
        organisations[ref] = row
        return row
    }

    private func writeOrganisation(_ values: [String: Value], existing: [String: Value]?, line: Int) throws {
        try upsert(IATIRow(table: "organisation", values: values, line: line), key: ["ref"], existing: existing)
        organisations[values["ref"]!] = (existing ?? [:]).merging(values) { _, new in new }
    }

    /// Reporting organisations this import has described: the first activity of a file that
    /// names one describes it (another that names it otherwise keeps its own name as a part),
    /// so importing a file again writes nothing.
    private var described: Set<Value> = []

    /// The reporting organisation: its name and type as the file gives them.
    private func upsertOrganisation(_ row: IATIRow) throws {
        let ref = row.values["ref"]!
        guard described.insert(ref).inserted else { return }
        var values = row.values
        let existing = try organisation(ref)
        if existing == nil, values["name"] == nil { values["name"] = ref }
        try writeOrganisation(values, existing: existing, line: row.line)
    }

    /// A participating organisation: creates the row if missing, else fills only what is missing
    /// (a type, or a name where the registry knows only the ref).
    private func fillOrganisation(_ row: IATIRow) throws {
        let ref = row.values["ref"]!
        guard let existing = try organisation(ref) else {
            var values = row.values
            if values["name"] == nil { values["name"] = ref }
            try writeOrganisation(values, existing: nil, line: row.line)
            return
        }
        var fill: [String: Value] = ["ref": ref]
        if let type = row.values["type"], (existing["type"] ?? .null) == .null { fill["type"] = type }
        if let name = row.values["name"], existing["name"] == ref { fill["name"] = name }
        try writeOrganisation(fill, existing: existing, line: row.line)
    }
}

/// Finds codes outside the IATI codelists before writing, to name the XML element and line.
/// (`LocalTransaction.put` checks them too, by column, when asked to.)
enum IATICodes {
    /// Codes by codelist, from the lists that ship with Minga.
    static let lists: [String: Set<String>] = {
        var lists: [String: Set<String>] = [:]
        for (list, code, _) in Codelists.items { lists[list, default: []].insert(code) }
        return lists
    }()

    static let rules: [String: [CodeRule]] = Dictionary(grouping: Cooperation.codeRules, by: \.table)

    /// A code outside its codelist, and where the file has it.
    struct Unknown {
        let list: String
        let code: String
        /// The XML path, e.g. `recipient-country/@code`.
        let element: String
        /// `activity XM-1, line 12`.
        let place: String

        var description: String { "\(element) \"\(code)\" is not in the IATI codelist \(list)" }
    }

    static func unknown(_ rows: IATIActivityRows, activity: String) -> [Unknown] {
        let all =
            [rows.initiative] + IATIColumns.childTables.flatMap { rows.children[$0] ?? [] }
            + rows.mentionedOrganisations + (rows.reportingOrganisation.map { [$0] } ?? [])
        var found: [Unknown] = []
        for row in all {
            for rule in rules[row.table] ?? [] {
                guard let value = row.values[rule.column]?.iatiString,
                    rule.when.allSatisfy({ row.values[$0.key]?.iatiString == $0.value }),
                    lists[rule.list]?.contains(value) == false
                else { continue }
                let line = row.columnLines[rule.column] ?? row.line
                found.append(
                    Unknown(
                        list: rule.list,
                        code: value,
                        element: IATIElements.path(table: row.table, column: rule.column, row: row.values),
                        place: "activity \(activity), line \(line)"
                    )
                )
            }
        }
        return found
    }
}
