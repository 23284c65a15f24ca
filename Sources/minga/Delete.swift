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
    @OptionGroup var row: RowArguments

    func run() async throws {
        try await operate {
            let r = try replica.open()
            guard try r.delete(table: row.table, key: try row.key(in: r)) else {
                throw row.notFound
            }
            print("deleted from \(row.table)")
        }
    }
}
