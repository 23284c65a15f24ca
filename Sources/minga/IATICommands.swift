import ArgumentParser
import Foundation
import MingaCooperation
import MingaCore
import MingaStore

/// `minga import iati FILE`: an IATI activity file into the registry, all or nothing.
struct ImportIATI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iati",
        abstract: "Import IATI 2.03 activity XML (the whole file or nothing).",
        discussion: """
            Each iati-activity becomes an initiative (keyed by its iati-identifier) with \
            its titles and descriptions in every language, participating organisations, \
            status, dates, recipient countries and regions, sectors, tags, default \
            flow/finance/aid types, parent (related-activity type 1), budgets, planned \
            disbursements and transactions (with their sector, place, types and channel), \
            results with their indicators and periods (tables result, result_indicator, \
            indicator_period), locations, document-links and policy markers. Reporting and \
            participating organisations with a @ref get an organisation row.

            Importing an updated file again updates in place: the initiative takes the \
            file's values, and texts, participants, places, classifications and flows the \
            file no longer holds are deleted (results, locations and links are keyed by their \
            place in the file: result_no 1, 2, …). Only changed values are written, so \
            importing the same file twice records no change. Initiatives that are not in \
            the file are left alone, and so are the registry's own columns that IATI has \
            no element for (SEGIB modality, instrument and roles, SDGs).

            The whole file is one transaction. If anything is wrong — malformed XML, a \
            transaction without a value, an IATI 1.x file — the error names the activity and \
            the line, and nothing is imported: fix the file and run the same command again.

            A code outside its IATI codelist (say recipient-country "RD", where the \
            Dominican Republic's code is DO) does not stop the import: the row is imported \
            as written, the summary counts such codes by codelist with the first of each, and \
            `minga check` lists every one to correct. With --strict the file is refused for \
            it instead, and nothing is imported.

            Everything else of an activity — narratives in other languages, a result's \
            comments and dimensions, a second target, a transaction's second sector, \
            contact-info, humanitarian-scope, attributes such as @linked-data-uri, \
            elements in a publisher's own namespace — is kept as written in the table \
            iati_part, one row per element, found by its path below iati-activity (e.g. \
            'result(1)/indicator(2)/period(1)/actual/comment[1]': the first comment on the \
            actual value of period 1 of indicator 2 of result 1; protocol/README.md §21). \
            Those rows sync like any row and are exported back where they were. A value a \
            column cannot hold as a number (a target of "130,000.00") stays a part too. \
            The summary counts what was kept so by path. Only what lies outside every \
            iati-activity is not imported, and it is listed.

            Re-importing a file replaces each of its initiatives' rows with the file's: \
            results, locations or links an agency added since, and edits of the same \
            values, are deleted or overwritten (the summary counts the rows deleted).

            Examples:
              minga import iati activities.xml
              minga import iati --quiet export-2024.xml
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: "An IATI activity file (<iati-activities version=\"2.0x\">).", completion: .file(extensions: ["xml"]))
    var file: String
    @Flag(help: "Do not print progress while importing a big file.") var quiet = false
    @Flag(help: "Refuse the whole file, importing nothing, if any code is not in its IATI codelist.") var strict = false

    func run() async throws {
        try await operate {
            let importer = IATIImporter(replica: try replica.open(), strict: strict)
            let started = Date()
            var lastShown = started
            var shown = false
            let result = try importer.importFile(at: file) { done in
                guard !quiet, Date().timeIntervalSince(lastShown) >= 0.5 else { return }
                lastShown = Date()
                shown = true
                FileHandle.standardError.write(Data("\rimporting: \(done) activities".utf8))
            }
            if shown { FileHandle.standardError.write(Data("\rimporting: \(result.activities) activities\n".utf8)) }
            print(
                "imported \(result.activities) \(result.activities == 1 ? "activity" : "activities") from \(file): "
                    + "\(result.rowsWritten) rows written (\(result.inserted) inserted, \(result.updated) updated, "
                    + "\(result.deleted) deleted), \(result.unchanged) unchanged"
            )
            if !result.writtenByTable.isEmpty {
                print("  by table: " + result.writtenByTable.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
            if !result.unknownCodes.isEmpty {
                let total = result.unknownCodes.values.reduce(0, +)
                printErr("warning: \(counted(total, "code")) not in their IATI codelist, imported as written (`minga check` lists them):")
                for list in result.unknownCodes.keys.sorted() {
                    printErr("  \(list): \(result.unknownCodes[list]!), e.g. \(result.unknownCodeExamples[list] ?? "")")
                }
            }
            if !result.verbatim.isEmpty {
                let paths = result.verbatim.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
                let total = result.verbatim.values.reduce(0, +)
                printErr(
                    "kept as written in iati_part (no column of their own; exported back as they are): \(total) elements and attributes, most often:"
                )
                for (path, count) in paths.prefix(8) { printErr("  \(path): \(count)") }
                if paths.count > 8 { printErr("  … and \(paths.count - 8) more paths") }
            }
            let report = result.unheldReport
            if !report.isEmpty {
                printErr("warning: these parts of the file lie outside every iati-activity; they were not imported:")
                let width = report.map(\.path.count).max() ?? 0
                for (path, count) in report {
                    printErr("  " + path + ":" + String(repeating: " ", count: width - path.count + 1) + String(count))
                }
            }
        }
    }
}

/// `minga export iati [-o FILE]`: the registry as IATI activity XML.
struct ExportIATI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iati",
        abstract: "Export the registry as IATI 2.03 activity XML.",
        discussion: """
            Writes every initiative, in key order, as an iati-activity that validates \
            against the IATI 2.03 schema; check with Debian's libxml2-utils:
              xmllint --noout --schema iati-activities-schema.xsd FILE.xml
            Importing the file on another node gives the same rows back.

            The schema requires each activity to have a reporting-org (with a type, and \
            a name: the organisation row's name), a title, a description, a \
            participating-org, an activity-status and an activity-date. Initiatives \
            lacking any of these are left out and listed on standard error with what \
            they lack (with --strict, nothing is written instead). Values that cannot be \
            written validly, such as a malformed date, are left out and counted; a \
            missing value-date is taken from the transaction date or period start, as \
            IATI advises.

            What an import kept as written (iati_part) goes back where the schema puts \
            it, in the spelling the file used (215000.50 stays so) unless the registry's \
            column was edited since. A participating-org without @ref counts as one.

            Columns IATI has no element for (SEGIB modality, instrument and roles, SDGs, \
            financing instruments, organisations' countries) are not exported.

            Examples:
              minga export iati -o registry.xml
              minga export iati | xmllint --format - | less
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file, replaced atomically (default: standard output).", valueName: "file"))
    var output: String?
    @Flag(help: "Fail, writing nothing, if any initiative would be left out.") var strict = false

    func run() async throws {
        try await operate {
            var exporter = IATIExporter(replica: try replica.open())
            exporter.strict = strict
            let result: IATIExportResult
            if let output {
                result = try exporter.export(toFile: output)
                print("wrote \(result.activities) \(result.activities == 1 ? "activity" : "activities") to \(output)")
            } else {
                // Through a temporary file: the export's read transaction never waits on the reader of stdout.
                let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("minga-iati-\(UUID().uuidString).xml")
                defer { try? FileManager.default.removeItem(at: temporary) }
                result = try exporter.export(toFile: temporary.path)
                guard let input = FileHandle(forReadingAtPath: temporary.path) else {
                    throw MingaError(.failed, "cannot read back \(temporary.path)")
                }
                defer { try? input.close() }
                while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty { FileHandle.standardOutput.write(chunk) }
            }
            if !result.skipped.isEmpty {
                printErr("warning: \(result.skipped.count) initiative(s) left out, lacking what the IATI 2.03 schema requires:")
                for s in result.skipped { printErr("  \(s.identifier): lacks \(s.missing.joined(separator: ", "))") }
            }
            if !result.notes.isEmpty {
                printErr("note: values left out of the file or repaired:")
                for (text, count) in result.notes.sorted(by: { $0.key < $1.key }) { printErr("  \(text): \(count)") }
            }
        }
    }
}
