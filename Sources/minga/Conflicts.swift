import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct Conflicts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect and settle conflicts: concurrent edits the merge rule had to decide.",
        discussion: """
            When two nodes change the same column of the same row without having seen each \
            other's change, every node picks the same winner (the later HLC, then the node id) \
            and records the conflict with both values under the same id. Nothing is lost: settle \
            it with `minga conflicts resolve ID`, and the resolution syncs to every node.
            """,
        subcommands: [List.self, Show.self, Resolve.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List open conflicts (all with --all).")

        @OptionGroup var replica: ReplicaOptions
        @Flag(help: "Include resolved conflicts.") var all = false
        @Flag(help: "Print a JSON array.") var json = false

        func run() async throws {
            try await operate {
                let records = try replica.open().conflicts(includeResolved: all)
                if json {
                    print("[" + records.map(\.json).joined(separator: ",") + "]")
                } else if records.isEmpty {
                    print(all ? "no conflicts" : "no open conflicts")
                } else {
                    print(records.map(Output.conflictText).joined(separator: "\n\n"))
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one conflict (a unique prefix of its id is enough).")

        @OptionGroup var replica: ReplicaOptions
        @Argument(help: "The conflict's id.") var id: String
        @Flag(help: "Print a JSON object.") var json = false

        func run() async throws {
            try await operate {
                let record = try replica.open().conflict(id: id)
                print(json ? record.json : Output.conflictText(record))
            }
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Settle a conflict with a new change that has seen both sides.",
            discussion: """
                Choose exactly one of --keep-winner, --take-loser or --value. For a conflict on a \
                column, --value is the column's new value as JSON ('"Agua y saneamiento"', 42, \
                null). For a delete against an update, --value is a row object of column values, \
                or null to delete the row.
                """
        )

        @OptionGroup var replica: ReplicaOptions
        @Argument(help: "The conflict's id (a unique prefix is enough).") var id: String
        @Flag(help: "Keep the value the merge rule chose.") var keepWinner = false
        @Flag(help: "Take the losing value instead.") var takeLoser = false
        @Option(help: ArgumentHelp("Write this JSON value instead of either side.", valueName: "json")) var value: String?

        func validate() throws {
            guard [keepWinner, takeLoser, value != nil].filter({ $0 }).count == 1 else {
                throw ValidationError("choose exactly one of --keep-winner, --take-loser or --value JSON")
            }
        }

        func run() async throws {
            try await operate {
                let resolution: Resolution
                if keepWinner {
                    resolution = .keepWinner
                } else if takeLoser {
                    resolution = .takeLoser
                } else if let value, value.trimmingCharacters(in: .whitespaces).hasPrefix("{"),
                    let row = try? PlainValue.row(value)
                {
                    resolution = .row(row)
                } else {
                    do {
                        resolution = .value(try JSONDecoder().decode(PlainValue.self, from: Data(value!.utf8)).value)
                    } catch {
                        throw MingaError(
                            .invalidInput,
                            "--value must be JSON, e.g. '\"text\"', 42 or null (text needs its quotes inside the shell's quotes)"
                        )
                    }
                }
                let record = try replica.open().resolve(conflictID: id, with: resolution)
                print("resolved conflict \(record.conflict.id) with change \(record.conflict.resolvedBy.map { "\($0.dot)" } ?? "?")")
            }
        }
    }
}
