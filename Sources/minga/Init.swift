import ArgumentParser
import Foundation
import MingaCore
import MingaCooperation
import MingaStore

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new replica for this node.",
        discussion: """
            Every table the schema file creates becomes a tracked table: each insert, update and \
            delete by any program (minga, your own application, the sqlite3 shell) is recorded \
            in the change log by SQLite triggers. Tables need a primary key that all nodes agree \
            on: a text key such as an IATI identifier or a UUID, or a composite key. A rowid \
            (INTEGER PRIMARY KEY) is refused, since two nodes would number rows on their own; \
            so are a key with a collation other than BINARY (COLLATE NOCASE), a NUMERIC or \
            REAL key, and UNIQUE columns or unique indexes besides the key: each would let \
            two nodes hold different rows for what one of them treats as the same.

            Once tracked, a write that no other node could accept (a NULL key, a key of the \
            wrong type or not in UTF-8, text with a NUL character, a value over 1 MiB, a row \
            over 2 MiB) is \
            refused in the writing statement, whichever program runs it. Change the tables \
            only through Minga: an ALTER TABLE made in the shell stops sealing and syncing \
            until it is undone (minga status explains).

            Without --schema, the node holds the cooperation registry (organisations, \
            initiatives, participation, recipient countries and regions, classifications, \
            financing instruments and flows), with the IATI codelists as reference data. \
            All nodes that sync with each other must be created from the same schema.

            init also creates the node's Ed25519 key pair: the private key in PATH.key (owner-\
            only, never synced), the public key printed and shown by `minga status --json`. \
            Every change the node makes is signed with it; other nodes accept them once they \
            list this node in their roster (minga roster add).
            """
    )

    @OptionGroup var replica: ReplicaOptions

    @Option(help: ArgumentHelp("This node's id: 1-63 characters of a-z, 0-9, '.', '-' (e.g. mx.amexcid).", valueName: "id"))
    var nodeID: String

    @Option(help: ArgumentHelp("`cooperation` (the default: the South-South cooperation registry with IATI codelists), or an SQL file of CREATE TABLE (and CREATE INDEX / VIEW) statements.", valueName: "cooperation|file.sql"))
    var schema = "cooperation"

    func run() async throws {
        try operate {
            let node = try NodeID(name: nodeID)
            let created: Replica
            if schema == "cooperation" {
                created = try Cooperation.createReplica(at: replica.path, nodeID: node)
            } else {
                guard let sql = try? String(contentsOfFile: schema, encoding: .utf8) else {
                    throw MingaError("cannot read the schema file \(schema)")
                }
                created = try Replica.create(at: replica.path, nodeID: node, schemaSQL: sql)
            }
            print("created replica \(replica.path) for node \(node)")
            print("private key: \(Replica.keyPath(for: replica.path)) (owner-only; keep a copy safe, it is not part of backups)")
            print("public key:  \(created.publicKey!.base64)")
            print("  give it to the other agencies: minga roster add \(node) \(created.publicKey!.base64)")
            print("tracked tables: " + created.tableNames.map { name in
                "\(name) (key: \(created.tables[name]!.keyColumns.joined(separator: ", ")))"
            }.joined(separator: "; "))
        }
    }
}
