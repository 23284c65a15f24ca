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
    @Argument(help: "A tracked table.") var table: String
    @Argument(help: "The row's key.") var key: String

    func run() async throws {
        try await operate {
            let r = try replica.open()
            let t = try r.table(named: table)
            guard let row = try r.get(table: table, key: try r.key(for: t, argument: key)) else {
                throw MingaError("no row with key \(key) in \(table)")
            }
            print(Output.object(row))
        }
    }
}
