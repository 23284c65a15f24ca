import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every row against the IATI codelists, whoever wrote it.",
        discussion: """
            minga put and `minga import csv` refuse unknown codes. `minga import iati` imports \
            them as written and counts them (--strict refuses them), and rows written by other \
            programs (the sqlite3 shell, a ministry's own application) are not checked when \
            written, so this reports them all: table, key, column, value and the codelist it \
            should come from. Exits 1 when anything is reported.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Flag(help: "Print a JSON array.") var json = false

    func run() async throws {
        var found: [CodeViolation] = []
        try await operate { found = try replica.open().codeViolations() }
        if json {
            // Not JSONOutput: the key's values print exactly, as every row value does
            // (``Value/plainJSON``; JSONEncoder writes the real 2.0 as the integer 2).
            print(
                "["
                    + found.map {
                        "{\"table\":\(JSONText.quote($0.table)),\"key\":[\($0.key.map(\.plainJSON).joined(separator: ","))],\"column\":\(JSONText.quote($0.column)),\"value\":\(JSONText.quote($0.value)),\"codelist\":\(JSONText.quote($0.list))}"
                    }.joined(separator: ",") + "]"
            )
        } else {
            print(found.isEmpty ? "all codes are known" : found.map(\.description).joined(separator: "\n"))
        }
        if !found.isEmpty { throw ExitCode.failure }
    }
}
