import ArgumentParser
import Foundation
import MingaCooperation
import MingaCore
import MingaStore
import MingaSync

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
            only with `minga schema apply FILE.sql`, which reaches every node: an ALTER \
            TABLE made in the shell stops sealing and syncing until it is undone (minga \
            status explains).

            Without --schema, the node holds the cooperation registry (organisations, \
            initiatives, participation, recipient countries and regions, classifications, \
            financing instruments and flows), with the IATI codelists as reference data. \
            All nodes that sync with each other must be created from the same schema; to \
            join a federation whose schema has grown since, use --from with a peer's URL or \
            a bundle: the node starts on its latest schema.

            init also creates the node's Ed25519 key pair: the private key in PATH.key (owner-\
            only, never synced), the public key printed and shown by `minga status --json`. \
            Every change the node makes is signed with it; other nodes accept them once they \
            list this node in their roster (minga roster add).
            """
    )

    @OptionGroup var replica: ReplicaOptions

    @Option(help: ArgumentHelp("This node's id: 1-63 characters of a-z, 0-9, '.', '-' (e.g. mx.amexcid).", valueName: "id"))
    var nodeID: String

    @Option(
        help: ArgumentHelp(
            "`cooperation` (the default: the South-South cooperation registry with IATI codelists), or an SQL file of CREATE TABLE (and CREATE INDEX / VIEW) statements.",
            valueName: "cooperation|file.sql"
        )
    )
    var schema: String?

    @Option(
        help: ArgumentHelp(
            "Join an existing federation on its latest schema instead: a peer's URL (its schema and migrations are read from it) or a bundle file (from its header). Sync or import afterwards to receive the data.",
            valueName: "url|bundle"
        )
    )
    var from: String?

    @Option(help: ArgumentHelp("With --from URL: a file of `URL TOKEN` lines, the bearer token to send to the peer.", valueName: "file"))
    var peerTokens: String?

    @Option(help: ArgumentHelp("With --from https://…: PEM certificates to trust instead of the system's.", valueName: "file"))
    var caFile: String?

    func validate() throws {
        if schema != nil, from != nil { throw ValidationError("give --schema or --from, not both") }
    }

    /// The schema of the federation to join, from a peer or a bundle's header.
    func joining(_ from: String) async throws -> SchemaDescription {
        if from.hasPrefix("http://") || from.hasPrefix("https://") {
            let token = try peerTokens.map(PeerOptions.readTokens)?[PeerClient.normalize(from)]
            let client = PeerClient(url: from, token: token, tls: try TLSFiles.client(caFile: caFile))
            var traffic = PeerClient.Traffic()
            do { return try await client.schema(&traffic) } catch let error as MingaError {
                // The peer client's message says what to do about a missing or refused token.
                throw MingaError(error.code, "cannot read the schema of \(from): \(error.message)")
            }
        }
        guard let joining = try ChangeBundle.header(of: from).joining else {
            throw MingaError(
                .invalidInput,
                "bundle \(from) was made by a Minga without schema migrations, so it does not carry its schema; create the node with --schema FILE.sql (the same file its writer was created from)"
            )
        }
        return joining
    }

    func run() async throws {
        var joining: SchemaDescription?
        if let from {
            do { joining = try await self.joining(from) } catch { try await operate { throw error } }
        }
        try await operate {
            let node = try NodeID(name: nodeID)
            let created: Replica
            if let joining {
                created = try Replica.create(at: replica.path, nodeID: node, joining: joining)
                if joining.genesisVersion == Cooperation.genesisVersion { try Cooperation.installReferenceData(created) }
            } else if (schema ?? "cooperation") == "cooperation" {
                created = try Cooperation.createReplica(at: replica.path, nodeID: node)
            } else {
                guard let schema, let sql = try? String(contentsOfFile: schema, encoding: .utf8) else {
                    throw MingaError(.failed, "cannot read the schema file \(schema ?? "")")
                }
                created = try Replica.create(at: replica.path, nodeID: node, schemaSQL: sql)
            }
            print("created replica \(replica.path) for node \(node)")
            print("private key: \(Replica.keyPath(for: replica.path)) (owner-only; keep a copy safe, it is not part of backups)")
            print("public key:  \(created.publicKey!.base64)")
            print("  give it to the other agencies: minga roster add \(node) \(created.publicKey!.base64)")
            if let joining {
                print(
                    "joined on schema version \(joining.schemaVersion) (\(counted(joining.migrations.count, "migration"))); add the federation's nodes to the roster, then sync or import a bundle"
                )
            }
            print(
                "tracked tables: "
                    + created.tableNames.map { name in
                        "\(name) (key: \(created.tables[name]!.keyColumns.joined(separator: ", ")))"
                    }.joined(separator: "; ")
            )
        }
    }
}
