import ArgumentParser
import Foundation
import MingaCooperation
import MingaCore
import MingaStore

/// `--db`, shared by every command that opens a replica.
struct ReplicaOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The replica file (default: $MINGA_DB, then ./minga.db).", valueName: "path"))
    var db: String?

    var path: String { db ?? ProcessInfo.processInfo.environment["MINGA_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? "minga.db" }

    /// Opens the replica, and warns on stderr when its tracked tables drifted (the command
    /// may still read; sealing and syncing refuse).
    func open(warnOnDrift: Bool = true) throws -> Replica {
        let replica = try Replica.open(at: path)
        let drift = warnOnDrift ? try replica.schemaDrift() : []
        if !drift.isEmpty {
            printErr(
                "minga: warning: the tracked tables were changed outside Minga; this node seals and syncs nothing until they are back (`minga status` says what changed and how to undo it)"
            )
        } else {
            // A registry node opened by a newer release takes that release's schema (protocol §20).
            for migration in try Cooperation.upgrade(replica) {
                printErr("minga: this release of the cooperation registry added \(migration.subject); it reaches the other nodes with the next sync")
            }
        }
        return replica
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

/// The row a command works on: a tracked table and the row's key.
struct RowArguments: ParsableArguments {
    @Argument(help: "A tracked table.") var table: String
    @Argument(help: "The row's key: its text, or a JSON array for a composite key ('[\"XM-1\",\"MX\"]').") var key: String

    /// The key's values in `replica`'s table (refused when the table is not tracked or the key does not fit it).
    func key(in replica: Replica) throws -> [Value] {
        try replica.key(for: try replica.table(named: table), argument: key)
    }

    /// The refusal when the table holds no such row.
    var notFound: MingaError { MingaError(.notFound, "no row with key \(key) in \(table)") }
}
