import Foundation
import GRDB
import MingaCore

/// The tracked tables and the schema version as this process last read them from the
/// replica. Shared by every copy of a ``Replica``, so that a migration applied by one
/// request (or by another process: SQLite's schema cookie tells) is seen by the next.
final class LiveSchema: @unchecked Sendable {
    struct Snapshot {
        /// SQLite's schema cookie (`PRAGMA schema_version`) when read.
        var cookie: Int64
        /// The schema version (``Replica/schemaVersion``).
        var version: String
        var tables: [String: TrackedTable]
    }

    private let lock = NSLock()
    private var current: Snapshot
    /// Whether the current transaction already put the snapshot back should it roll back.
    private var guarded = false

    init(_ snapshot: Snapshot) { current = snapshot }

    /// Before a transaction changes the schema: should it roll back, the snapshot goes back
    /// to what it was before its first change, as the tables do.
    func restoreOnRollback(_ db: Database) {
        lock.lock()
        defer { lock.unlock() }
        guard !guarded else { return }
        guarded = true
        let before = current
        db.afterNextTransaction(
            onCommit: { [self] _ in settle(nil) },
            onRollback: { [self] _ in settle(before) }
        )
    }

    private func settle(_ restored: Snapshot?) {
        lock.lock()
        defer { lock.unlock() }
        guarded = false
        if let restored { current = restored }
    }

    var snapshot: Snapshot {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    func replace(_ snapshot: Snapshot) {
        lock.lock()
        current = snapshot
        lock.unlock()
    }
}
