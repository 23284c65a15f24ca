import Foundation
import GRDB
import MingaCore

/// What this node knows of a peer from its last sync attempts (never its token).
public struct PeerState: Sendable, Equatable {
    public var url: String
    public var nodeID: NodeID?
    public var lastAttempt: Date?
    public var lastSuccess: Date?
    public var lastError: String?
    /// The peer's vector when last heard from.
    public var vector: VersionVector?
    /// The origins the peer said it holds back of what this node pushed (protocol §13), each
    /// from its first held change: left out of later pushes to it until its vector moves
    /// past that change, since the peer keeps them and applies them itself.
    public var heldByPeer: [HeldOrigin] = []

    public init(url: String) { self.url = url }

    /// Changes the peer holds that this node lacked at last contact, and the other way round.
    public func lag(local: VersionVector) -> (behind: Int64, ahead: Int64)? {
        guard let vector else { return nil }
        let origins = Set(vector.origins + local.origins)
        let behind = origins.reduce(Int64(0)) { $0 + max(0, vector[$1] - local[$1]) }
        let ahead = origins.reduce(Int64(0)) { $0 + max(0, local[$1] - vector[$1]) }
        return (behind, ahead)
    }
}

extension Replica {
    static let peersSQL = """
        CREATE TABLE IF NOT EXISTS minga_peers(
            url TEXT PRIMARY KEY, node_id TEXT, last_attempt REAL, last_success REAL, last_error TEXT, vector TEXT)
        """

    /// Records the outcome of a sync attempt with a peer.
    public func recordPeer(_ state: PeerState) async throws {
        try await writer.write { db in
            try db.execute(sql: Replica.peersSQL)
            try db.execute(
                sql: """
                    INSERT INTO minga_peers(url, node_id, last_attempt, last_success, last_error, vector) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(url) DO UPDATE SET node_id = excluded.node_id, last_attempt = excluded.last_attempt,
                        last_success = excluded.last_success, last_error = excluded.last_error, vector = excluded.vector
                    """,
                arguments: [
                    state.url, state.nodeID?.rawValue, state.lastAttempt?.timeIntervalSince1970, state.lastSuccess?.timeIntervalSince1970,
                    state.lastError, state.vector?.canonicalJSON,
                ]
            )
            let key = "held_by " + state.url
            if state.heldByPeer.isEmpty {
                try db.execute(sql: "DELETE FROM minga_meta WHERE key = ?", arguments: [key])
            } else {
                try Replica.setMeta(db, key, String(decoding: try JSONEncoder().encode(state.heldByPeer), as: UTF8.self))
            }
        }
    }

    public func peers() throws -> [PeerState] {
        try writer.read { db in
            guard try db.tableExists("minga_peers") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT * FROM minga_peers ORDER BY url").map { row in
                var state = PeerState(url: row["url"])
                state.nodeID = (row["node_id"] as String?).flatMap { try? NodeID($0) }
                state.lastAttempt = (row["last_attempt"] as Double?).map(Date.init(timeIntervalSince1970:))
                state.lastSuccess = (row["last_success"] as Double?).map(Date.init(timeIntervalSince1970:))
                state.lastError = row["last_error"]
                state.vector = (row["vector"] as String?).flatMap { try? JSONDecoder().decode(VersionVector.self, from: Data($0.utf8)) }
                let held = try String.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = ?", arguments: ["held_by " + state.url])
                state.heldByPeer = held.flatMap { try? JSONDecoder().decode([HeldOrigin].self, from: Data($0.utf8)) } ?? []
                return state
            }
        }
    }

    public func peer(url: String) throws -> PeerState {
        try peers().first { $0.url == url } ?? PeerState(url: url)
    }

    // MARK: Async forms for servers: the work runs on GRDB's queues, not the caller's threads.

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

extension ConflictRecord {
    /// The JSON shape of `minga conflicts list --json` and `GET /v1/conflicts`.
    public var json: String {
        let c = conflict
        func side(_ s: ConflictSide) -> String {
            "{\"origin\":\(JSONText.quote(s.write.origin.rawValue)),\"seq\":\(s.write.seq),\"hlc\":\(JSONText.quote(s.write.hlc.description)),"
                + "\"op\":\(JSONText.quote(s.op.rawValue)),\"value\":\(s.value?.plainJSON ?? "null")}"
        }
        let resolved =
            c.resolvedBy.map {
                "{\"origin\":\(JSONText.quote($0.origin.rawValue)),\"seq\":\($0.seq),\"hlc\":\(JSONText.quote($0.hlc.description))}"
            } ?? "null"
        return "{\"id\":\(JSONText.quote(c.id)),\"table\":\(JSONText.quote(c.table)),\"key\":[\(c.key.map(\.plainJSON).joined(separator: ","))],"
            + "\"column\":\(c.column.map(JSONText.quote) ?? "null"),\"status\":\(JSONText.quote(c.status.rawValue)),"
            + "\"winner\":\(side(winner)),\"loser\":\(side(loser)),\"resolvedBy\":\(resolved)}"
    }
}
