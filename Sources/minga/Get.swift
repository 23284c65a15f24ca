import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one row as JSON.",
        discussion: "KEY is the key's text, or a JSON array for a composite key: '[\"XM-1\",\"MX\"]'. Exits 1 if there is no such row."
    )

    @OptionGroup var replica: ReplicaOptions
    @OptionGroup var row: RowArguments

    func run() async throws {
        try await operate {
            let r = try replica.open()
            guard let found = try r.get(table: row.table, key: try row.key(in: r)) else {
                throw row.notFound
            }
            print(Output.object(found))
        }
    }
}
