import Foundation
import GRDB
import MingaCore

/// Backups and restores (protocol/README.md, "Restoring from a backup").
///
/// A restored node must never issue again a sequence number it issued after the backup was
/// taken: its peers may hold those changes, and two different changes with one dot would
/// split the federation. So a backup file is inert — it carries the mark `backup` and
/// refuses to seal local writes — and `restore` starts a new *epoch*: the restored node
/// writes under the origin `id~EPOCH` (EPOCH is the restore time in milliseconds, later than
/// any earlier epoch), a fresh sequence that nobody can hold yet. The changes the node made
/// after the backup are not lost: they come back from its peers under the old origin and
/// are applied like anyone else's, verified with the same key.
extension Replica {
    /// Copies the replica to `path` with SQLite's online backup while the node keeps serving:
    /// the copy is one consistent snapshot. Pages are copied in steps for `progress`.
    public func backup(to path: String, progress: @escaping (Int, Int) -> Void = { _, _ in }) throws {
        if FileManager.default.fileExists(atPath: path) {
            throw MingaError(.invalidInput, "\(path) already exists; choose a new file for the backup")
        }
        // Seal first, so the backup holds the node's writes as the changes its peers know.
        try writer.write { db in try integrateLocalWrites(db) }
        do {
            let destination = try DatabaseQueue(path: path)
            try writer.backup(to: destination, pagesPerStep: 1024) { step in
                progress(step.completedPageCount, step.totalPageCount)
            }
            try destination.write { db in
                try db.execute(sql: "INSERT INTO minga_meta(key, value) VALUES ('backup', 1) ON CONFLICT(key) DO UPDATE SET value = 1")
                try db.execute(
                    sql:
                        "INSERT INTO minga_meta(key, value) VALUES ('backup_taken_at', datetime('now')) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
                )
            }
            try destination.close()
        } catch {
            for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            throw error
        }
    }

    /// Restores the backup at `backup` into a new replica at `path`, in a new epoch. The node's
    /// private key file must be at `path`.key (it is never part of a backup).
    public static func restore(backup: String, to path: String, nowMillis: Int64) throws -> (replica: Replica, origin: NodeID) {
        guard FileManager.default.fileExists(atPath: backup) else { throw MingaError(.notFound, "no backup at \(backup)") }
        if FileManager.default.fileExists(atPath: path) {
            throw MingaError(
                .invalidInput,
                "\(path) already exists; move the damaged or old replica aside (with its -wal and -shm files) and restore to its path"
            )
        }
        var readOnly = Configuration()
        readOnly.readonly = true
        let source = try DatabaseQueue(path: backup, configuration: readOnly)
        let isBackup = try source.read { db in
            try db.tableExists("minga_meta") && Int.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'backup'") == 1
        }
        guard isBackup else { throw MingaError(.invalidInput, "\(backup) is not a backup made by `minga backup`") }
        do {
            let target = try DatabasePool(path: path, configuration: makeConfiguration())
            try source.backup(to: target)
            try target.write { db in
                try db.execute(sql: "DELETE FROM minga_meta WHERE key IN ('backup', 'backup_taken_at')")
                let old = try Int64.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'epoch'") ?? 0
                try db.execute(
                    sql: "INSERT INTO minga_meta(key, value) VALUES ('epoch', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    arguments: [max(old + 1, nowMillis)]
                )
            }
            try source.close()
            try target.close()
            let replica = try Replica.open(at: path)
            return (replica, try replica.writer.read { db in try replica.currentOrigin(db) })
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            throw error
        }
    }
}
