import ArgumentParser

// Being written: `minga import csv TABLE FILE` and `minga export csv TABLE`.
struct ImportCSV: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "csv", abstract: "Import a CSV file into a table.")
}

struct ExportCSV: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "csv", abstract: "Export a table as CSV.")
}
