import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct Put: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Insert a row, or update only the given columns of an existing row.",
        discussion: """
            ROW is a JSON object of column values and must include the key columns, e.g.
              minga put initiative '{"iati_identifier":"XM-DAC-1-PR-1","status":"2"}'
            Integers, reals, text and null are written as JSON; for exact values use \
            {"int":"9007199254740993"}, {"real":"0.1"} or {"blob":"<base64>"}.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: "A tracked table.") var table: String
    @Argument(help: "The row as a JSON object.") var row: String

    func run() async throws {
        try await operate {
            let r = try replica.open()
            let inserted = try r.put(table: table, row: try PlainValue.row(row))
            print(inserted ? "inserted into \(table)" : "updated \(table)")
        }
    }
}
