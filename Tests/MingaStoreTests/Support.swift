import Foundation
import GRDB
import MingaCore
import MingaStore
import MingaTestSupport
import Testing

extension Fixture {
    /// The store tests' schema: initiatives with a column of each storage class, and
    /// participation, keyed by two columns.
    static let storeSchema = """
        CREATE TABLE initiatives(id TEXT PRIMARY KEY, title TEXT, budget INTEGER, ratio REAL, doc BLOB);
        CREATE TABLE participation(initiative TEXT NOT NULL, org TEXT NOT NULL, role TEXT, PRIMARY KEY (initiative, org));
        """

    /// A replica in the test federation on ``storeSchema``: its key is derived from its id,
    /// and its roster lists every id of ``TestKeys/members``.
    static func replica(_ id: String) throws -> Replica {
        try replica(id, schema: storeSchema)
    }

    /// mx creates XM-1 and co receives it; then both retitle it without seeing each other.
    static func concurrentTitles() throws -> (mx: Replica, co: Replica) {
        let mx = try replica("mx.amexcid")
        let co = try replica("co.apc")
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

    /// The merge state the store keeps (``RowState`` in `minga_rows`, updated change by
    /// change as writes are sealed and applied) equals the merge rule folded over each row's
    /// whole history (read from `minga_rows`, or from the log for a row one origin wrote a few times), and
    /// no state is kept of a row the log holds no change of.
    static func expectMergeStatesMatchHistory(_ replica: Replica) throws {
        let rows = Dictionary(grouping: try allChanges(replica)) { "\($0.table) \($0.keyJSON)" }
        for (row, writes) in rows {
            let kept = try replica.mergeState(table: writes[0].table, key: writes[0].key)
            #expect(
                kept == RowState(folding: writes, columns: replica.tables[writes[0].table]!.columns),
                "the merge state of \(row) on \(replica.nodeID) is not its history's"
            )
        }
        let strays = try replica.writer.read {
            try Int.fetchOne(
                $0,
                sql: "SELECT count(*) FROM minga_rows r WHERE NOT EXISTS (SELECT 1 FROM minga_changes c WHERE c.tbl = r.tbl AND c.pk = r.pk)"
            )
        }
        #expect(strays == 0, "\(replica.nodeID) keeps merge states of rows its log does not hold")
    }

    /// A comparable picture of the conflict log: id, status, resolver.
    static func conflictSummary(_ replica: Replica) throws -> [String] {
        try replica.conflicts(includeResolved: true).map {
            "\($0.conflict.id) \($0.conflict.status.rawValue) \($0.conflict.resolvedBy.map { "\($0.dot)" } ?? "-")"
        }.sorted()
    }
}
