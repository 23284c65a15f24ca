import ArgumentParser
import Foundation
import MingaCore
import MingaStore

@main
struct Minga: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "minga",
        abstract: "Minga: an offline-first registry replica that syncs between cooperation agencies.",
        discussion: """
            Each agency runs a node: a local SQLite replica it can always read and write. Changes \
            travel to other nodes over HTTP (minga serve, minga sync) or as bundle files (minga \
            bundle), and every node arrives at the same data; where two agencies edited the same thing at once, both values are kept in \
            the conflict log for a person to settle (minga conflicts).

            The replica is --db PATH, else $MINGA_DB, else ./minga.db.
            """,
        version: MingaVersion.string,
        subcommands: [
            Init.self, Serve.self, Sync.self, Status.self, Put.self, Get.self, Delete.self, Query.self, Dump.self,
            Conflicts.self, BundleCommand.self, Log.self, ImportCommand.self, ExportCommand.self, Check.self, Generate.self,
            RosterCommand.self, SchemaCommand.self, Backup.self, Restore.self,
        ]
    )
}

/// This release of Minga: `minga --version` prints it.
enum MingaVersion {
    static let string = "0.10.0"
}

/// Runs a command body and turns library errors into one clear line on stderr and exit code 1.
func operate(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as MingaError {
        FileHandle.standardError.write(Data("minga: \(error.message)\n".utf8))
        throw ExitCode.failure
    } catch let error as ExitCode {
        throw error
    } catch let error as DecodingError {
        FileHandle.standardError.write(Data("minga: \(error.explanation)\n".utf8))
        throw ExitCode.failure
    } catch {
        FileHandle.standardError.write(Data("minga: \(StoreFailure.explain(error) ?? "\(error)")\n".utf8))
        throw ExitCode.failure
    }
}

func printErr(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
