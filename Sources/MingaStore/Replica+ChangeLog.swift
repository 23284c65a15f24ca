import Foundation
import GRDB
import MingaCore

/// Reading the change log: the vector, a row's history, and the changes above a vector.
extension Replica {
    /// The node's version vector, read from the log (which is contiguous per origin by
    /// construction) after sealing pending local writes.
    public func vector() throws -> VersionVector {
        try writer.write { db in
            try integrateLocalWrites(db)
            return try Replica.vector(db)
        }
    }

    static func vector(_ db: Database) throws -> VersionVector {
        var vector = VersionVector()
        // One index probe per origin, however long the log.
        let next = try db.cachedStatement(sql: "SELECT min(origin) FROM minga_changes WHERE origin > ?")
        let highest = try db.cachedStatement(sql: "SELECT max(seq) FROM minga_changes WHERE origin = ?")
        var origin = try String.fetchOne(next, arguments: [""])
        while let current = origin {
            vector[try NodeID(current)] = try Int64.fetchOne(highest, arguments: [current]) ?? 0
            origin = try String.fetchOne(next, arguments: [current])
        }
        return vector
    }

    /// The chain link this node holds for `origin` up to `seq`: the genesis link for 0, `nil`
    /// when it does not hold that change.
    func heldLink(_ db: Database, _ origin: NodeID, _ seq: Int64) throws -> [UInt8]? {
        guard seq > 0 else { return OriginChain.genesis }
        return try Data.fetchOne(
            db.cachedStatement(sql: "SELECT link FROM minga_changes WHERE origin = ? AND seq = ?"),
            arguments: [origin.rawValue, seq]
        ).map { Array($0) }
    }

    /// The change columns every log query selects first, in this order: ``change(_:values:table:)``
    /// reads them by position (GRDB's lookup by name lowercases every name, for every change).
    static let changeColumns = "c.id, c.origin, c.seq, c.hlc, c.tbl, c.op, c.mask, c.ctx, c.sig"

    /// Builds a ``Change`` from a change row and its values row (the values table's columns
    /// end `values`, whether it is a row of its own or joined after the change columns).
    func change(_ row: Row, values: Row, table: TrackedTable) throws -> Change {
        try change(LogEntry(row), stored: Array(values.databaseValues.suffix(table.columns.count)), table: table)
    }

    /// Builds a ``Change`` from its log entry and its values in column order.
    func change(_ entry: LogEntry, stored: [DatabaseValue], table: TrackedTable) throws -> Change {
        // The mask flags the columns set, by position.
        var mask = entry.mask
        let columns = mask.withUTF8 { flags in
            table.changeColumns(
                where: { $0 < flags.count && $0 < stored.count && flags[$0] == UInt8(ascii: "1") },
                value: { Value(stored[$0]) }
            )
        }
        let key = table.keyPositions.map { Value(stored[$0]) }
        guard let op = ChangeOp(rawValue: entry.op) else { throw MingaError(.damaged, "change log holds an unknown operation \(entry.op)") }
        return Change(
            origin: try NodeID(entry.origin),
            seq: entry.seq,
            hlc: HLC(packed: entry.hlc),
            table: table.name,
            key: key,
            op: op,
            columns: columns,
            context: try VersionVector(canonicalJSON: entry.context),
            signature: entry.signature
        )
    }

    /// Every write of one row, in log order, with their log ids.
    func history(_ db: Database, table: TrackedTable, pk: String) throws -> [(id: Int64, change: Change)] {
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql:
                    "SELECT \(Replica.changeColumns), v.* FROM minga_changes c JOIN \(SQL.id(table.valuesTable)) v ON v.change_id = c.id WHERE c.tbl = ? AND c.pk = ? ORDER BY c.id"
            ),
            arguments: [table.name, pk]
        )
        return try rows.map { (id: $0[0], change: try change($0, values: $0, table: table)) }
    }

    /// The log's text form of a row key, exactly as SQLite's `json_array` (which the triggers
    /// use) writes it. Integers and text that needs no escaping are written here; anything
    /// else asks SQLite, so there is one definition of the form.
    func pk(_ db: Database, _ key: [Value]) throws -> String {
        var text = "["
        for (i, value) in key.enumerated() {
            if i > 0 { text += "," }
            switch value {
            case .integer(let n): text += String(n)
            case .text(let s) where JSONText.needsNoEscape(s): text += "\"" + s + "\""
            default:
                let placeholders = key.map { _ in "?" }.joined(separator: ", ")
                return try String.fetchOne(
                    db.cachedStatement(sql: "SELECT json_array(\(placeholders))"),
                    arguments: StatementArguments(key.map(\.databaseValue))
                )!
            }
        }
        return text + "]"
    }

    /// Changes this node holds above `vector`, in log order, about `limit` of them and roughly
    /// at most `maxBytes` of wire JSON (always at least one change when any is due). Seals
    /// pending local writes first.
    ///
    /// The batch ends where every origin in it ends on a signed change, so that the receiver
    /// can verify all of it (``OriginChain``): it is cut back to the last such point within the
    /// limits, or, when there is none, extended to the first one after (an origin signs at
    /// least every ``OriginChain/signingInterval`` changes and ``OriginChain/signingBytes``
    /// bytes, and each batch this node applied ended on such a point, so the extension is
    /// short: a batch passes `maxBytes` by at most one change and 256 KiB).
    ///
    /// Changes of the origins in `excluding` are left out: those the receiver holds back
    /// (protocol §13), which it would only hold again; and so is every change that depends on
    /// one left out, with its origin's changes after it.
    public func changes(above vector: VersionVector, limit: Int = 1000, maxBytes: Int = 4 << 20, excluding: Set<NodeID> = []) throws -> [Change] {
        try writer.write { db in
            try integrateLocalWrites(db)
            return try changes(db, above: vector, limit: limit, maxBytes: maxBytes, excluding: excluding)
        }
    }

    func changes(_ db: Database, above vector: VersionVector, limit: Int, maxBytes: Int, excluding: Set<NodeID> = []) throws -> [Change] {
        // Per origin left out, its first change left out: the excluded origins' first above
        // `vector`, and, for a change that depends on a change left out, the first change of
        // its origin no signature vouches for yet (so the batch still verifies). When that
        // reaches back into changes already taken, the scan starts again.
        var cut = Dictionary(uniqueKeysWithValues: excluding.map { ($0, vector[$0] + 1) })
        while true {
            if let batch = try changes(db, above: vector, limit: limit, maxBytes: maxBytes, cut: &cut) { return batch }
        }
    }

    private func changes(_ db: Database, above vector: VersionVector, limit: Int, maxBytes: Int, cut: inout [NodeID: Int64]) throws -> [Change]? {
        guard var cursor = try firstDueID(db, above: vector, cut: cut) else { return [] }
        var batch = VerifiableBatch(limit: limit, maxBytes: maxBytes)
        reading: while true {
            let (entries, values) = try logPage(db, from: cursor, count: max(limit, 64))
            guard let last = entries.last else { break }
            cursor = last.id + 1
            for entry in entries {
                let origin = try NodeID(entry.origin)
                guard entry.seq > vector[origin], entry.seq < cut[origin] ?? .max else { continue }
                guard let stored = values[entry.id] else {
                    throw MingaError(.damaged, "change log is damaged: change \(entry.origin):\(entry.seq) has no values")
                }
                let change = try change(entry, stored: stored, table: try self.table(named: entry.table))
                if !cut.isEmpty, change.context.entries.contains(where: { $0.key != origin && $0.value >= cut[$0.key] ?? .max }) {
                    let from = batch.unverifiedFrom[origin] ?? change.seq
                    cut[origin] = from
                    if from < change.seq { return nil }
                    continue
                }
                if batch.append(change) { break reading }
            }
        }
        return batch.changes
    }

    /// The log id of the first change due above `vector`: per origin not cut, the change right
    /// above the vector's entry; nil when there is none.
    private func firstDueID(_ db: Database, above vector: VersionVector, cut: [NodeID: Int64]) throws -> Int64? {
        let own = try Replica.vector(db)
        var start: Int64?
        for origin in own.origins where own[origin] > vector[origin] && vector[origin] + 1 < cut[origin] ?? .max {
            let id = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT id FROM minga_changes WHERE origin = ? AND seq = ?"),
                arguments: [origin.rawValue, vector[origin] + 1]
            )
            if let id { start = min(start ?? id, id) }
        }
        return start
    }

    /// Up to `count` log rows from id `cursor` on, and their values by change id.
    ///
    /// Read straight from the statements' current rows, not copied into `Row`s and back out:
    /// serving a pull reads every change (`scripts/bench` W2). The values come in one range
    /// query per table (a values row's id is its change's id), not a lookup per change.
    private func logPage(_ db: Database, from cursor: Int64, count: Int) throws -> ([LogEntry], [Int64: [DatabaseValue]]) {
        let page = try db.cachedStatement(sql: "SELECT \(Replica.changeColumns) FROM minga_changes c WHERE c.id >= ? ORDER BY c.id LIMIT ?")
        var entries: [LogEntry] = []
        let stepper = try Int64.fetchCursor(page, arguments: [cursor, count])
        while try stepper.next() != nil { entries.append(LogEntry(page.sqliteStatement)) }
        guard let first = entries.first, let last = entries.last else { return ([], [:]) }
        var values: [Int64: [DatabaseValue]] = [:]
        for name in Set(entries.map(\.table)) {
            let table = try self.table(named: name)
            let range = try db.cachedStatement(sql: table.selectValuesSQL)
            let ids = try Int64.fetchCursor(range, arguments: [first.id, last.id])
            while let id = try ids.next() {
                values[id] = (1...table.columns.count).map { DatabaseValue(sqliteStatement: range.sqliteStatement, index: CInt($0)) }
            }
        }
        return (entries, values)
    }
}

/// The changes of one served batch as they are read in log order: the batch ends on signed
/// changes only, so that it verifies (protocol/README.md §12, "Cutting batches"), and within
/// its limits where it can.
private struct VerifiableBatch {
    let limit: Int
    let maxBytes: Int
    private var read: [Change] = []
    private var bytes = 0
    /// Per origin whose last change read is not signed, its first such.
    private(set) var unverifiedFrom: [NodeID: Int64] = [:]
    /// The longest prefix of what was read that ends on signed changes only.
    private var verifiable = 0
    /// The longest such prefix within `limit` and `maxBytes`.
    private var withinLimits = 0

    init(limit: Int, maxBytes: Int) { (self.limit, self.maxBytes) = (limit, maxBytes) }

    /// Adds the next change; true once the batch is full and has a verifiable prefix.
    mutating func append(_ change: Change) -> Bool {
        read.append(change)
        bytes += change.estimatedWireSize
        unverifiedFrom[change.origin] = change.signature == nil ? (unverifiedFrom[change.origin] ?? change.seq) : nil
        if unverifiedFrom.isEmpty {
            verifiable = read.count
            if read.count <= limit && bytes <= maxBytes { withinLimits = read.count }
        }
        return (read.count >= limit || bytes >= maxBytes) && verifiable > 0
    }

    /// What to serve: the longest verifiable prefix within the limits, or, when even the first
    /// verifiable prefix exceeds them, that prefix.
    var changes: [Change] { Array(read.prefix(withinLimits > 0 ? withinLimits : verifiable)) }
}

/// A change row of the log, with the columns ``Replica/changeColumns`` selects, in that order.
struct LogEntry {
    let id: Int64
    let origin: String
    let seq: Int64
    let hlc: Int64
    let table: String
    let op: String
    let mask: String
    let context: String
    let signature: Data?

    init(_ row: Row) {
        (id, origin, seq, hlc, table, op, mask, context, signature) = (row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8])
    }

    /// Reads the statement's current row in place.
    init(_ statement: SQLiteStatement) {
        id = Int64(sqliteStatement: statement, index: 0)
        origin = String(sqliteStatement: statement, index: 1)
        seq = Int64(sqliteStatement: statement, index: 2)
        hlc = Int64(sqliteStatement: statement, index: 3)
        table = String(sqliteStatement: statement, index: 4)
        op = String(sqliteStatement: statement, index: 5)
        mask = String(sqliteStatement: statement, index: 6)
        context = String(sqliteStatement: statement, index: 7)
        signature = Data.fromDatabaseValue(DatabaseValue(sqliteStatement: statement, index: 8))
    }
}
