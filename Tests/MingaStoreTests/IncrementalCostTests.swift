import Foundation
import GRDB
import MingaCore
import MingaStore
import MingaTestSupport
import Testing

/// An incremental sync costs the same on a small and on a large replica. Timing that in a
/// unit test would be flaky, so this checks its cause instead: every query a sync runs finds
/// its rows through an index and never walks the log, the values, the conflicts or a user
/// table. (A GROUP BY that SQLite answers by walking the whole row index is such a walk: it
/// makes every sync grow with the replica.)
@Suite struct IncrementalCostTests {
    static let growing = ["minga_changes", "minga_values_", "minga_conflicts", "initiatives", "participation"]

    @Test func anIncrementalSyncOnlySearchesIndexes() throws {
        let (mx, co) = try Fixture.concurrentTitles()  // an open conflict, so that its row is looked at too
        for i in 0..<200 { try mx.put(table: "initiatives", row: ["id": .text("XM-\(i + 2)"), "title": .text("t\(i)")]) }
        try Fixture.sync(from: mx, to: co)
        try Fixture.sync(from: co, to: mx)
        #expect(try !co.conflicts().isEmpty)
        for i in 0..<10 { try mx.put(table: "initiatives", row: ["id": .text("XM-\(i + 2)"), "budget": .integer(Int64(i))]) }

        let seen = Statements()
        for replica in [mx, co] {
            replica.writer.writeWithoutTransaction { db in
                db.trace { event in if case .statement(let statement) = event { seen.add(statement.sql, statement.expandedSQL) } }
            }
        }
        #expect(try Fixture.sync(from: mx, to: co) == 10)
        #expect(try Fixture.sync(from: co, to: mx) == 0)
        for replica in [mx, co] { replica.writer.writeWithoutTransaction { db in db.trace(options: [], nil) } }

        let queries = seen.all.filter { sql in ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"].contains { sql.uppercased().hasPrefix($0) } }
        #expect(queries.count >= 10, "the trace did not see the sync")
        var scans: [String] = []
        try co.writer.read { db in
            for sql in queries {
                let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String }
                for detail in plan where detail.hasPrefix("SCAN") && Self.growing.contains(where: { detail.contains($0) }) {
                    scans.append("\(detail) in: \(sql)")
                }
            }
        }
        #expect(scans.isEmpty, "queries that grow with the replica:\n\(scans.joined(separator: "\n"))")
    }
}

/// The statements a trace saw, by their SQL, each kept with its arguments spelled out.
private final class Statements: @unchecked Sendable {
    private let lock = NSLock()
    private var bySQL: [String: String] = [:]

    func add(_ sql: String, _ expanded: String) { lock.withLock { bySQL[sql] = expanded } }
    var all: [String] { lock.withLock { Array(bySQL.values) } }
}
