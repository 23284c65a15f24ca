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
}
