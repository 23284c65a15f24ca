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
        try await operate {
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
        try await operate {
            let r = try replica.open()
            let node = try NodeID(name: nodeID)
            if let old = try r.addToRoster(node, key: try PublicKey(base64: publicKey)) {
                print("roster: \(node)'s key replaced (it was \(old.base64)); changes signed with the new key are accepted")
            } else {
                print("roster: \(node) added; changes signed with its key are accepted")
            }
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
        try await operate {
            let node = try NodeID(name: nodeID)
            try replica.open().removeFromRoster(node)
            print("roster: \(node) removed; its new changes are held back from now on (those already applied stay)")
        }
    }
}
