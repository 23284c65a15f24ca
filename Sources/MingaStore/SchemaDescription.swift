import Foundation
import GRDB
import MingaCore

/// What a new node needs to join a federation on its latest schema (`GET /v1/schema`, a
/// bundle's header): the schema the federation was created from, and the migrations
/// applied since, in the order they were applied (protocol/README.md §20).
public struct SchemaDescription: Codable, Sendable, Equatable {
    public var genesisVersion: String
    public var schemaVersion: String
    /// The `init` schema file's text.
    public var schemaSQL: String
    /// Each migration's statement, in canonical form.
    public var migrations: [String]

    public init(genesisVersion: String, schemaVersion: String, schemaSQL: String, migrations: [String]) {
        (self.genesisVersion, self.schemaVersion, self.schemaSQL, self.migrations) = (genesisVersion, schemaVersion, schemaSQL, migrations)
    }
}

extension Replica {
    /// This node's schema, for a node that joins from it.
    public func schemaDescription() throws -> SchemaDescription {
        try writer.read { db in try schemaDescription(db) }
    }

    /// ``schemaDescription()`` for a server's request handlers.
    public func schemaDescription() async throws -> SchemaDescription {
        try await writer.read { db in try self.schemaDescription(db) }
    }

    private func schemaDescription(_ db: Database) throws -> SchemaDescription {
        try refreshSchema(db)
        return SchemaDescription(
            genesisVersion: genesisVersion,
            schemaVersion: schemaVersion,
            schemaSQL: try String.fetchOne(db, sql: "SELECT schema_sql FROM minga_node")!,
            migrations: try String.fetchAll(db, sql: "SELECT sql FROM minga_schema_applied WHERE error IS NULL ORDER BY rowid")
        )
    }

    /// Creates a replica that joins a federation on its latest schema: the schema it was
    /// created from, then its migrations run here. The migration changes themselves arrive
    /// with the first sync or bundle and find their tables there already.
    public static func create(at path: String, nodeID: NodeID, joining schema: SchemaDescription) throws -> Replica {
        let replica = try create(at: path, nodeID: nodeID, schemaSQL: schema.schemaSQL)
        do {
            try replica.writer.write { db in
                for sql in schema.migrations {
                    for migration in try Migration.parse(sql) { try replica.runDDL(db, migration) }
                }
            }
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            try? FileManager.default.removeItem(atPath: keyPath(for: path))
            throw error
        }
        return replica
    }

    /// Applies those of `migrations` this node does not hold yet as its own (the schema
    /// changes a new release of an application brings, e.g. the cooperation registry's):
    /// every node that opens the replica with that release issues the same migrations, which
    /// merge into one (§20). Returns the ones applied here.
    @discardableResult
    public func applyBuiltInMigrations(_ migrations: [String]) throws -> [Migration] {
        guard !migrations.isEmpty else { return [] }
        let held = Set(
            try writer.read { db in
                try Row.fetchAll(db, sql: "SELECT kind, tbl, name FROM minga_schema_applied WHERE error IS NULL").map {
                    [$0[0], $0[1], $0[2]] as [String]
                }
            }
        )
        var applied: [Migration] = []
        for sql in migrations {
            let missing = try Migration.parse(sql).filter { !held.contains([$0.keyValues.kind, $0.keyValues.table, $0.keyValues.name]) }
            guard !missing.isEmpty else { continue }
            applied += try migrate(missing.map(\.sql).joined(separator: ";\n"))
        }
        return applied
    }
}
