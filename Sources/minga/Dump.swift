import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct Dump: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every tracked table in a canonical form.",
        discussion: """
            Tables in name order, rows sorted by key, one JSON object per row. Two nodes that \
            hold the same data print exactly the same bytes, so dumps can be compared with diff.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Flag(help: "Print one JSON object: table name to an array of rows.") var json = false

    func run() async throws {
        try await operate {
            FileHandle.standardOutput.write(Data(try replica.open().dump(json: json).utf8))
        }
    }
}
