import ArgumentParser

// Being written: `minga import iati FILE` and `minga export iati [-o FILE]`.
struct ImportIATI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "iati", abstract: "Import IATI 2.03 activity XML.")
}

struct ExportIATI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "iati", abstract: "Export IATI 2.03 activity XML.")
}
