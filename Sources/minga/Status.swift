import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show this node: its id, version vector, change log and open conflicts.",
        discussion: """
            Seals local writes made since the last command first. If a tracked table was changed \
            outside Minga (ALTER TABLE, a new trigger or unique index ...), status says what \
            changed and how to undo it: until then the node seals and syncs nothing, and keeps the \
            writes it captured. Tables Minga does not track (another program's) are listed as \
            untracked: their rows stay on this node.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Flag(
        help:
            "Print a JSON object (nodeId, origin, publicKey, vector, schemaVersion, genesisVersion, migrations, lastMigration, migrationsNotApplied, changes, pending, repairedText, openConflicts, lastHlc, rows, untracked, drift, held, alteredCopies, lastAlteredCopy, peers)."
    ) var json = false

    func run() async throws {
        try await operate {
            let report = try StatusReport(try replica.open(warnOnDrift: false))  // drift is shown below instead
            if json { try JSONOutput.print(StatusJSON(report)) } else { Status.printText(report, path: replica.path) }
        }
    }

    /// The status for a person: one line per fact, warnings in capitals.
    static func printText(_ report: StatusReport, path: String) {
        let (r, s, peers, held, altered, migrations) = (
            report.replica, report.status, report.peers, report.held, report.altered, report.migrations
        )
        let notApplied = report.notApplied
        print("node       \(s.nodeID)" + (s.origin != s.nodeID ? " (writing as \(s.origin) since its restore)" : ""))
        print("public key \(r.publicKey?.base64 ?? "unknown: the private key file \(Replica.keyPath(for: path)) is missing")")
        print("replica    \(path)")
        print(
            "schema     \(s.schemaVersion)"
                + (migrations.last.map {
                    " (\(counted(migrations.count, "migration")); the last: \($0.migration.subject), \($0.author))"
                } ?? " (as created; no migrations)")
        )
        for m in notApplied {
            print(
                "MIGRATION  \(m.migration.sql) (\(m.author)) could not run here: \(m.error!); the changes that need it are held (minga schema history)"
            )
        }
        print("vector     \(Output.vector(s.vector))")
        print("changes    \(s.changes) in the log" + (s.lastHLC.map { ", latest at \($0.readable)" } ?? ""))
        print("conflicts  \(s.openConflicts) open" + (s.openConflicts > 0 ? " (minga conflicts list)" : ""))
        print("tables     " + s.rows.keys.sorted().map { "\($0) \(counted(s.rows[$0]!, "row"))" }.joined(separator: ", "))
        if s.repairedText > 0 {
            print(
                "repaired   \(s.repairedText) local write(s) held text that is not valid UTF-8 (another encoding, such as Latin-1); each bad sequence was stored as U+FFFD (\u{FFFD}), as every node holds it; `minga log` shows the rows"
            )
        }
        if !s.untracked.isEmpty {
            print(
                "untracked  \(s.untracked.joined(separator: ", ")) (not synced: Minga tracks the tables of `minga init` and `minga schema apply`)"
            )
        }
        if !s.drift.isEmpty {
            print("DRIFT      the tracked tables were changed outside Minga; nothing is sealed or synced until they are back:")
            for line in s.drift { print("           - \(line)") }
            print("           \(s.pending) local write(s) captured and kept, waiting to be sealed")
        }
        for h in held { print("HELD       " + Output.held(h)) }
        if altered.count > 0, let last = altered.last {
            print(
                "ALTERED    \(altered.count) copies of changes this node holds arrived altered and were refused (a relay changed them after their origin signed them); the last: \(last)"
            )
        }
        if !held.isEmpty {
            print("           held changes are tried again at every sync and bundle import, and apply once the cause is gone")
        }
        for peer in peers { print(Status.peerLine(peer, local: s.vector)) }
    }

    static func time(_ date: Date?) -> String { date.map(Output.time) ?? "never" }

    static func peerLine(_ p: PeerState, local: VersionVector) -> String {
        let who = p.nodeID.map { "\(p.url) (\($0))" } ?? p.url
        var line = "peer       \(who): last success \(time(p.lastSuccess))"
        if let lag = p.lag(local: local) { line += "; this node lacks \(lag.behind), the peer lacks \(lag.ahead) (as of last contact)" }
        if let error = p.lastError { line += "\n           last error at \(time(p.lastAttempt)): \(error)" }
        for held in p.heldByPeer {
            line +=
                "\n           HELD by this peer since \(time(held.since)): \(held.origin) from change \(held.first) [\(held.code.rawValue)]; the peer says: \(held.reason)"
        }
        return line
    }
}

/// Everything `minga status` shows, read once from the replica.
struct StatusReport {
    let replica: Replica
    let status: ReplicaStatus
    let peers: [PeerState]
    let held: [HeldOrigin]
    let altered: (count: Int, last: String?)
    let migrations: [MigrationRecord]

    init(_ replica: Replica) throws {
        self.replica = replica
        status = try replica.status()
        peers = try replica.peers()
        held = try replica.heldOrigins()
        altered = try replica.alteredCopies()
        migrations = try replica.migrations()
    }

    /// Migrations that arrived but could not run here.
    var notApplied: [MigrationRecord] { migrations.filter { $0.error != nil } }
}
