import Foundation
import GRDB
import MingaCore

/// What `minga status` shows.
public struct ReplicaStatus: Sendable {
    public let nodeID: NodeID
    /// The origin this node's new changes carry: its id, or `id~EPOCH` after a restore.
    public let origin: NodeID
    public let schemaVersion: String
    public let vector: VersionVector
    public let changes: Int
    public let openConflicts: Int
    public let rows: [String: Int]
    public let lastHLC: HLC?
    /// Local writes captured but not sealed yet (there are some only while drift stops sealing).
    public let pending: Int
    /// How the tracked tables were changed outside Minga (``Replica/schemaDrift()``); while
    /// this is not empty the node seals and syncs nothing.
    public let drift: [String]
    /// Tables in the file that Minga does not track.
    public let untracked: [String]
    /// Local writes whose text was not valid UTF-8, sealed with U+FFFD in place of each bad
    /// sequence (``Replica/repairText(_:_:)``).
    public let repairedText: Int
}

extension Replica {
    /// The node's state. Seals pending local writes first, unless the tracked tables drifted:
    /// then it reports the drift instead of failing.
    public func status() throws -> ReplicaStatus {
        let untracked = try untrackedTables()
        return try writer.write { db in
            let drift = try schemaDrift(db)
            if drift.isEmpty { try integrateLocalWrites(db) }
            var rows: [String: Int] = [:]
            for name in tableNames {
                if !drift.isEmpty, try !TableShape.exists(db, table: name) { continue }  // a drifted table may be gone
                rows[name] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(SQL.id(name))") ?? 0
            }
            return ReplicaStatus(
                nodeID: nodeID,
                origin: try currentOrigin(db),
                schemaVersion: schemaVersion,
                vector: try Replica.vector(db),
                changes: try Int.fetchOne(db, sql: "SELECT count(*) FROM minga_changes") ?? 0,
                openConflicts: try Int.fetchOne(db, sql: "SELECT count(*) FROM minga_conflicts WHERE resolved_origin IS NULL") ?? 0,
                rows: rows,
                lastHLC: try Int64.fetchOne(db, sql: "SELECT max(hlc) FROM minga_changes").map(HLC.init(packed:)),
                pending: try pendingCount(db),
                drift: drift,
                untracked: untracked,
                repairedText: try Int.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'repaired_text'") ?? 0
            )
        }
    }
}
