import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new replica for this node.",
        discussion: """
            Every table the schema file creates becomes a tracked table: each insert, update and
            delete by any program (minga, your own application, the sqlite3 shell) is recorded
            in the change log by SQLite triggers. Tables need a primary key that all nodes agree
            on: a text key such as an IATI identifier or a UUID, or a composite key. A rowid
            (INTEGER PRIMARY KEY) is refused, since two nodes would number rows on their own.

            All nodes that sync with each other must be created from the same schema file.
            """
    )

    @OptionGroup var replica: ReplicaOptions

    @Option(help: ArgumentHelp("This node's id: 1-63 characters of a-z, 0-9, '.', '-' (e.g. mx.amexcid).", valueName: "id"))
    var nodeID: String

    @Option(help: ArgumentHelp("An SQL file of CREATE TABLE (and CREATE INDEX / VIEW) statements.", valueName: "file.sql"))
    var schema: String

    func run() async throws {
        try operate {
            let node = try NodeID(nodeID)
            guard let sql = try? String(contentsOfFile: schema, encoding: .utf8) else {
                throw MingaError("cannot read the schema file \(schema)")
            }
            let created = try Replica.create(at: replica.path, nodeID: node, schemaSQL: sql)
            print("created replica \(replica.path) for node \(node)")
            print("tracked tables: " + created.tableNames.map { name in
                "\(name) (key: \(created.tables[name]!.keyColumns.joined(separator: ", ")))"
            }.joined(separator: "; "))
        }
    }
}
