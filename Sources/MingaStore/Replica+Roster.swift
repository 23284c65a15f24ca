import Foundation
import GRDB
import MingaCore

/// One member of the federation as this node knows it.
public struct RosterEntry: Sendable, Equatable {
    public var node: NodeID
    public var publicKey: PublicKey
    public var addedAt: String
}

/// The roster: the nodes whose changes this node accepts, with the public keys their
/// changes must be signed with. It is local configuration — never synced — so each agency
/// decides for itself whom it trusts. A node's own key is in it from `minga init` on.
extension Replica {
    func roster(_ db: Database) throws -> [NodeID: PublicKey] {
        var roster: [NodeID: PublicKey] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT node, public_key FROM minga_roster")) {
            roster[try NodeID(row["node"])] = try PublicKey(base64: row["public_key"])
        }
        return roster
    }

    public func rosterEntries() throws -> [RosterEntry] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT node, public_key, added_at FROM minga_roster ORDER BY node").map {
                RosterEntry(node: try NodeID($0["node"]), publicKey: try PublicKey(base64: $0["public_key"]), addedAt: $0["added_at"])
            }
        }
    }

    /// Adds a node, or replaces its key (a key rotation). The node's own entry is fixed: it
    /// must match the private key file. A key already listed for another node is refused:
    /// each node signs with its own, so that no node can sign as another (a pasted key of
    /// the wrong agency, most often). Returns the key it replaced, if any.
    @discardableResult
    public func addToRoster(_ node: NodeID, key: PublicKey) throws -> PublicKey? {
        guard NodeID.isValidName(node.rawValue) else {
            throw MingaError(.invalidInput, "roster entries name nodes, not epochs: use \(node.node)")
        }
        if node == nodeID, key != signingKey?.publicKey {
            throw MingaError(.invalidInput, "\(node) is this node; its roster entry is its own public key and cannot be replaced")
        }
        return try writer.write { db in
            if let other = try String.fetchOne(
                db,
                sql: "SELECT node FROM minga_roster WHERE public_key = ? AND node != ?",
                arguments: [key.base64, node.rawValue]
            ) {
                throw MingaError(
                    .invalidInput,
                    "that public key is already \(other)'s in the roster; every node has its own key: check that it is \(node)'s"
                )
            }
            let replaced = try String.fetchOne(db, sql: "SELECT public_key FROM minga_roster WHERE node = ?", arguments: [node.rawValue])
            try db.execute(
                sql: """
                    INSERT INTO minga_roster(node, public_key, added_at) VALUES (?, ?, datetime('now'))
                    ON CONFLICT(node) DO UPDATE SET public_key = excluded.public_key, added_at = excluded.added_at
                    """,
                arguments: [node.rawValue, key.base64]
            )
            return try replaced.flatMap { $0 == key.base64 ? nil : try PublicKey(base64: $0) }
        }
    }

    /// Removes a node: changes from it are held back from now on (protocol §13). Those
    /// already applied stay.
    public func removeFromRoster(_ node: NodeID) throws {
        guard node != nodeID else { throw MingaError(.invalidInput, "\(node) is this node; it cannot leave its own roster") }
        try writer.write { db in
            try db.execute(sql: "DELETE FROM minga_roster WHERE node = ?", arguments: [node.rawValue])
            guard db.changesCount > 0 else { throw MingaError(.notFound, "\(node) is not in the roster; `minga roster list` shows who is") }
        }
    }

    /// This node's public key, as `minga status --json` shows it and peers add it.
    public var publicKey: PublicKey? { signingKey?.publicKey }
}
