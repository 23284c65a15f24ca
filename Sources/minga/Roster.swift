import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct RosterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roster",
        abstract: "List, add or remove the nodes whose signed changes this node accepts.",
        discussion: """
            Every change is signed by the node that made it (its origin). This node accepts a \
            change — also one relayed through another agency — only if its origin is in the \
            roster and the signature verifies with the origin's public key listed here. A change \
            from an unknown origin, or one that was altered or forged on the way, is held back \
            with the rest of its origin's changes and what depends on them (`minga status` lists \
            them); everything else still syncs. Once the origin is added (or its key corrected), \
            its held changes apply at the next sync or bundle import.

            The roster is this node's own decision: it is never synced. Exchange public keys \
            through a channel you trust (each node prints its key at `minga init`, and \
            `minga status --json` shows it as publicKey), then on every node:

                minga roster add co.apc 6yJ1...=
            """,
        subcommands: [RosterList.self, RosterAdd.self, RosterRemove.self],
        defaultSubcommand: RosterList.self
    )
}

struct RosterList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Show the nodes in the roster and their public keys.")

    @OptionGroup var replica: ReplicaOptions
    @Flag(help: "Print a JSON array of {node, publicKey, addedAt}.") var json = false

    func run() async throws {
        try operate {
            let r = try replica.open()
            let entries = try r.rosterEntries()
            if json {
                try JSONOutput.print(entries.map(RosterEntryJSON.init))
            } else {
                for e in entries {
                    print(
                        "\(e.node.rawValue.padding(toLength: max(16, e.node.rawValue.count), withPad: " ", startingAt: 0))  \(e.publicKey.base64)  added \(e.addedAt)\(e.node == r.nodeID ? "  (this node)" : "")"
                    )
                }
            }
        }
    }
}

struct RosterAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Accept changes signed by NODE_ID with PUBLIC_KEY (adding again replaces its key)."
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: ArgumentHelp("The node's id, e.g. co.apc.", valueName: "node-id")) var nodeID: String
    @Argument(help: ArgumentHelp("Its public key: base64 of the raw 32-byte Ed25519 key, as its `minga init` printed it.", valueName: "public-key"))
    var publicKey: String

    func run() async throws {
        try operate {
            let r = try replica.open()
            let node = try NodeID(name: nodeID)
            try r.addToRoster(node, key: try PublicKey(base64: publicKey))
            print("roster: \(node) added; changes signed with its key are accepted")
        }
    }
}

struct RosterRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Stop accepting changes from NODE_ID (those already applied stay)."
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: ArgumentHelp("The node's id.", valueName: "node-id")) var nodeID: String

    func run() async throws {
        try operate {
            let node = try NodeID(name: nodeID)
            try replica.open().removeFromRoster(node)
            print("roster: \(node) removed; its new changes are held back from now on (those already applied stay)")
        }
    }
}

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
        try operate {
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
        try operate {
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

/// `--max-clock-skew`, for the commands that accept changes from other nodes.
struct ClockOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Refuse changes dated more than this many minutes ahead of this node's clock, which they would drag into the future (default 10).",
            valueName: "minutes"
        )
    )
    var maxClockSkew: Double?

    static let defaultSkew: Double = 10

    func validate() throws {
        guard let maxClockSkew else { return }
        guard maxClockSkew > 0, maxClockSkew <= 1e9 else {
            throw ValidationError("--max-clock-skew must be a positive number of minutes, at most 1000000000")
        }
    }

    func apply(to replica: inout Replica) { replica.maxClockSkewMillis = Int64((maxClockSkew ?? Self.defaultSkew) * 60_000) }
}
