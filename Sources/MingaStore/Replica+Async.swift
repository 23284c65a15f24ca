import Foundation
import GRDB
import MingaCore

/// The async forms servers and sync sessions call: the work runs on GRDB's queues, not the
/// caller's threads. Those that read or extend the log first integrate pending local writes in
/// the same transaction (``integrateLocalWrites(_:)``), as the synchronous forms do.
extension Replica {
    public func vector() async throws -> VersionVector {
        try await writer.write { db in
            try self.integrateLocalWrites(db)
            return try Replica.vector(db)
        }
    }

    public func changes(above vector: VersionVector, limit: Int, maxBytes: Int, excluding: Set<NodeID> = []) async throws -> [Change] {
        try await writer.write { db in
            try self.integrateLocalWrites(db)
            return try self.changes(db, above: vector, limit: limit, maxBytes: maxBytes, excluding: excluding)
        }
    }

    /// A pull answer's two parts from one transaction: the changes above `vector` and this
    /// node's own vector.
    /// The node serving the pull first tries its held changes again (protocol §13).
    public func pull(
        above vector: VersionVector,
        limit: Int,
        maxBytes: Int,
        excluding: Set<NodeID> = []
    ) async throws -> (changes: [Change], own: VersionVector) {
        try await writer.write { db in
            try self.integrateLocalWrites(db)
            _ = try self.retryHeldWithin(db)
            return (try self.changes(db, above: vector, limit: limit, maxBytes: maxBytes, excluding: excluding), try Replica.vector(db))
        }
    }

    /// Where a sync's checks start: this node's admission, with pending local writes sealed.
    public func sealedAdmission() async throws -> Admission {
        try await writer.write { db in
            try self.integrateLocalWrites(db)
            return try self.admission(db)
        }
    }

    /// `retryingHeld`: first try the held changes again in the same transaction (a node
    /// serving a push does, protocol §13), counted in the result's `retried`.
    public func apply(_ batch: ChangeBatch, source: String = "", retryingHeld: Bool = false) async throws -> ApplyResult {
        try await writer.write { db in
            let retried = retryingHeld ? try self.retryHeldWithin(db) : ApplyResult()
            var result = try self.apply(db, batch, source: source)
            result.retried = retried.applied
            result.newConflicts += retried.newConflicts
            return result
        }
    }

    /// How many local writes this node has made, sealed or not: it grows with every local
    /// write, whichever SQLite client made it, and sealing does not change it.
    public func localSequence() async throws -> Int64 {
        try await writer.read { db in
            let sealed =
                try Int64.fetchOne(db, sql: "SELECT max(seq) FROM minga_changes WHERE origin = ?", arguments: [try self.currentOrigin(db).rawValue])
                ?? 0
            return sealed + Int64(try self.pendingCount(db))
        }
    }
}
