import ArgumentParser

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load IATI activity XML or CSV into the registry (one transaction per file).",
        subcommands: [ImportIATI.self, ImportCSV.self]
    )
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the registry as IATI activity XML, or a table as CSV.",
        subcommands: [ExportIATI.self, ExportCSV.self]
    )
}
