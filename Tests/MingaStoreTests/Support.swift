import Foundation
import GRDB
import MingaCore
import MingaStore

enum Fixture {
    static let schema = """
        CREATE TABLE initiatives(id TEXT PRIMARY KEY, title TEXT, budget INTEGER, ratio REAL, doc BLOB);
        CREATE TABLE participation(initiative TEXT NOT NULL, org TEXT NOT NULL, role TEXT, PRIMARY KEY (initiative, org));
        """

    static func replica(_ id: String, schema: String = Fixture.schema) throws -> Replica {
        try Replica.inMemory(nodeID: try NodeID(id), schemaSQL: schema)
    }

    /// Everything `to` lacks from `from`, in batches of `limit`.
    @discardableResult
    static func sync(from: Replica, to: Replica, limit: Int = 1000) throws -> Int {
        var applied = 0
        while true {
            let changes = try from.changes(above: try to.vector(), limit: limit)
            if changes.isEmpty { return applied }
            applied += try to.apply(ChangeBatch(changes: changes)).applied
        }
    }

    /// mx creates XM-1 and co receives it; then both retitle it without seeing each other.
    static func concurrentTitles() throws -> (mx: Replica, co: Replica) {
        let mx = try replica("mx.amexcid"), co = try replica("co.apc")
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("A")])
        try sync(from: mx, to: co)
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("MX")])
        try co.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("CO")])
        return (mx, co)
    }

    /// Everything the replica's log holds, in log order.
    static func allChanges(_ replica: Replica) throws -> [Change] {
        try replica.changes(above: VersionVector(), limit: .max, maxBytes: .max)
    }

    /// A comparable picture of the conflict log: id, status, resolver.
    static func conflictSummary(_ replica: Replica) throws -> [String] {
        try replica.conflicts(includeResolved: true).map {
            "\($0.conflict.id) \($0.conflict.status.rawValue) \($0.conflict.resolvedBy.map { "\($0.dot)" } ?? "-")"
        }.sorted()
    }
}
