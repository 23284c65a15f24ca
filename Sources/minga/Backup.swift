import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the replica to FILE, consistently, while the node keeps serving.",
        discussion: """
            Uses SQLite's online backup: the copy is one consistent snapshot, taken without \
            stopping `minga serve` or other writers. The private key file is not copied; keep \
            a copy of it somewhere safe on its own.

            A backup file is inert: it never issues changes. To bring a node back from it, use \
            `minga restore FILE --db PATH`, which starts a new epoch so the node can never reuse \
            a sequence number it issued after the backup was taken; the changes it made since \
            come back from its peers.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: ArgumentHelp("The backup file to create.", valueName: "file")) var file: String

    func run() async throws {
        try await operate {
            let r = try replica.open()
            var shown = -1
            try r.backup(to: file) { done, total in
                let percent = total == 0 ? 100 : done * 100 / total
                if percent / 10 != shown / 10 {
                    printErr("backup: \(percent)% (\(done) of \(total) pages)")
                    shown = percent
                }
            }
            print("backup of node \(r.nodeID) written to \(file); restore it with `minga restore \(file) --db PATH`")
        }
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring a node back from a backup, in a new epoch.",
        discussion: """
            Copies BACKUP to --db (which must not exist: move the damaged replica aside first) \
            and starts a new epoch: from now on the node writes as NODE~EPOCH, a sequence that \
            nobody holds yet, so it never issues again a sequence number it had issued after \
            the backup was taken. Put the node's private key file at PATH.key (it is not part \
            of the backup), then sync: the changes the node made after the backup come back \
            from its peers.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: ArgumentHelp("A file made by `minga backup`.", valueName: "backup")) var backup: String

    func run() async throws {
        try await operate {
            let restored = try Replica.restore(
                backup: backup,
                to: replica.path,
                nowMillis: Int64(Date().timeIntervalSince1970 * 1000)
            )
            print("restored node \(restored.replica.nodeID) to \(replica.path); it now writes as \(restored.origin)")
            if restored.replica.signingKey == nil {
                print("put the node's private key file at \(Replica.keyPath(for: replica.path)) before writing or syncing")
            }
            print("sync with its peers to get back the changes made after the backup")
        }
    }
}
