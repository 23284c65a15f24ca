import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete one row by key.",
        discussion: "The delete is recorded and syncs like any other change. Exits 1 if there is no such row."
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: "A tracked table.") var table: String
    @Argument(help: "The row's key (text, or a JSON array for a composite key).") var key: String

    func run() async throws {
        try await operate {
            let r = try replica.open()
            let t = try r.table(named: table)
            guard try r.delete(table: table, key: try r.key(for: t, argument: key)) else {
                throw MingaError("no row with key \(key) in \(table)")
            }
            print("deleted from \(table)")
        }
    }
}
