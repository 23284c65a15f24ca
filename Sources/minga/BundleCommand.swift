import ArgumentParser
import Foundation
import MingaCore
import MingaStore
import MingaSync

struct BundleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Move changes between nodes as files, where no network reaches.",
        discussion: """
            A bundle holds changes in the same JSON batches the HTTP protocol sends, with a \
            checksum: a truncated or altered file is refused whole. Importing the same bundle \
            twice changes nothing, and an interrupted import resumes when run again. \
            To send only what a peer lacks, export with --since and the vector from the peer's \
            `minga status --json` (its "vector" field, or the whole status object).
            """,
        subcommands: [Export.self, Import.self]
    )

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the changes this node holds to a bundle file.")

        @OptionGroup var replica: ReplicaOptions
        @Option(name: .shortAndLong, help: ArgumentHelp("The bundle file to write.", valueName: "file")) var output: String
        @Option(help: ArgumentHelp("Only changes above this version vector (a JSON file).", valueName: "vector.json")) var since: String?

        func run() async throws {
            try await operate {
                var vector = VersionVector()
                if let since {
                    guard let data = FileManager.default.contents(atPath: since) else { throw MingaError(.failed, "cannot read \(since)") }
                    vector = try Export.parseVector(data, file: since)
                }
                let summary = try ChangeBundle.export(from: try replica.open(), to: output, since: vector)
                print("wrote \(counted(summary.changes, "change")) in \(counted(summary.batches, "batch", plural: "batches")) to \(output)")
            }
        }

        /// A bare vector `{"mx.amexcid":12}`, or an object with a `vector` field (`minga status --json`).
        static func parseVector(_ data: Data, file: String) throws -> VersionVector {
            struct Wrapped: Decodable { let vector: VersionVector }
            if let wrapped = try? JSONDecoder().decode(Wrapped.self, from: data) { return wrapped.vector }
            do { return try JSONDecoder().decode(VersionVector.self, from: data) } catch let error as DecodingError {
                throw MingaError(.invalidInput, "\(file) is not a version vector (a JSON object of node id to sequence number): \(error.explanation)")
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply a bundle file's changes to this node.",
            discussion: """
                The whole file is checked first: a truncated, altered or incompatible bundle \
                changes nothing. A change that is bad on its own (its origin's clock ahead, an \
                origin not in the roster, a signature or content refused) is held with what \
                depends on it, printed as a HELD line, and the rest applied; held changes are \
                tried again at every import and sync, and apply once the cause is gone.
                """
        )

        @OptionGroup var replica: ReplicaOptions
        @OptionGroup var clockOptions: ClockOptions
        @Argument(help: "The bundle file.") var file: String
        @Flag(help: "Do not print progress.") var quiet = false

        func run() async throws {
            try await operate {
                var lastShown = Date.distantPast
                var r = try replica.open()
                clockOptions.apply(to: &r)
                let summary = try await ChangeBundle.import(into: r, from: file) { done, total in
                    guard !quiet, Date().timeIntervalSince(lastShown) > 0.5 || done == total else { return }
                    lastShown = Date()
                    FileHandle.standardError.write(Data("\rimporting: \(done)/\(total) changes".utf8) + (done == total ? Data("\n".utf8) : Data()))
                }
                print(
                    "applied \(counted(summary.applied, "new change")) (\(summary.duplicates) already present), \(counted(summary.newConflicts, "new conflict"))"
                        + (summary.retried > 0 ? "; \(summary.retried) held change(s) of earlier imports applied" : "")
                )
                for held in summary.held { print("HELD  " + Output.held(held)) }
            }
        }
    }
}
