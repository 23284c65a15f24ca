import ArgumentParser
import Foundation
import MingaCooperation
import MingaCore
import MingaStore

/// `minga import csv TABLE FILE`: a spreadsheet's rows into one table, all or nothing.
struct ImportCSV: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csv",
        abstract: "Import a CSV file into one table (all rows or none).",
        discussion: """
            The first line names the columns, e.g. for the initiative table:
              iati_identifier,status,hierarchy,planned_start
            They must be columns of TABLE and include its key columns; columns \
            left out are left untouched in existing rows. Each following line is \
            a row: a new key inserts it, a key already in the table updates that \
            row in place. Every change is recorded and syncs like any other edit.

            Fields: UTF-8, separated by commas; quote a field that holds a comma, \
            a quote or a line break ("Agua, saneamiento"; "" inside quotes is a \
            quote). An empty field is NULL. INTEGER and REAL columns take \
            numbers; blob columns take base64:<base64>. `minga export csv TABLE` \
            writes exactly this format.

            If any row is bad (a value of the wrong type, an empty key, a key \
            repeated in the file, a code not in its IATI codelist), every bad row \
            is listed with its line number and nothing is imported: fix the file \
            and run the same command again.

            Example:
              minga import csv initiative initiatives.csv
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: "A tracked table (`minga status` lists them).") var table: String
    @Argument(help: "The CSV file, or - for standard input.", completion: .file(extensions: ["csv"])) var file: String

    func run() async throws {
        try await operate {
            let importer = CSVImporter(replica: try replica.open())
            let summary =
                file == "-"
                ? try importer.importCSV(FileHandle.standardInput.readDataToEndOfFile(), into: table, source: "standard input")
                : try importer.importCSV(file: file, into: table)
            print(summary)
        }
    }
}

/// `minga export csv TABLE [-o FILE]`: one table for a spreadsheet, or for `import csv` elsewhere.
struct ExportCSV: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csv",
        abstract: "Export one table as CSV.",
        discussion: """
            A header line of all the table's columns in table order, then one \
            line per row sorted by key, so the same data always exports the same \
            bytes. NULL is an empty field, reals print in their shortest exact \
            form, blobs as base64:<base64>. `minga import csv TABLE FILE` on \
            another replica reads the file back to the same values (except empty \
            text, which comes back as NULL).

            Examples:
              minga export csv initiative -o initiatives.csv
              minga export csv participation | less
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: "A tracked table (`minga status` lists them).") var table: String
    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file, replaced atomically (default: standard output).", valueName: "file"))
    var output: String?

    func run() async throws {
        try await operate {
            let exporter = CSVExporter(replica: try replica.open())
            if let output {
                try exporter.export(table: table, to: output)
            } else {
                FileHandle.standardOutput.write(try exporter.export(table: table))
            }
        }
    }
}
