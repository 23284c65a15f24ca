import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a read-only SQL query.",
        discussion: "Prints a header line and one line per row, columns separated by ' | '; --json prints an array of objects."
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: "One SELECT statement.") var sql: String
    @Flag(help: "Print a JSON array of row objects.") var json = false

    func run() async throws {
        try await operate {
            let result = try replica.open().query(sql)
            if json {
                print("[" + result.rows.map { Output.object(Array(zip(result.columns, $0))) }.joined(separator: ",") + "]")
            } else {
                print(result.columns.joined(separator: " | "))
                for row in result.rows { print(row.map(\.cellText).joined(separator: " | ")) }
            }
        }
    }
}
