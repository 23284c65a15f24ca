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
            db.cachedStatement(sql: "SELECT link FROM minga_changes WHERE origin = ? AND seq = ?"), arguments: [origin.rawValue, seq]
        ).map { Array($0) }
    }

    /// The change columns every log query selects first, in this order: ``change(_:values:table:)``
    /// reads them by position (reading by name lowercased every name, a tenth of serving a pull).
    static let changeColumns = "c.id, c.origin, c.seq, c.hlc, c.tbl, c.op, c.mask, c.ctx, c.sig"

    /// Builds a ``Change`` from a change row and its values row (the values table's columns
    /// end `values`, whether it is a row of its own or joined after the change columns).
    func change(_ row: Row, values: Row, table: TrackedTable) throws -> Change {
        let mask = (row[6] as String).utf8
        // The row's own values, read once in order (a typed read per column went through
        // GRDB's generic decoding, a twelfth of serving a page).
        let stored = Array(values.databaseValues.suffix(table.columns.count))
        var columns: [String: Value] = [:]
        columns.reserveCapacity(table.columns.count)
        for (i, flag) in mask.enumerated() where i < stored.count && flag == UInt8(ascii: "1") {
            columns[table.columns[i]] = Value(stored[i])
        }
        let key = table.keyPositions.map { Value(stored[$0]) }
        guard let op = ChangeOp(rawValue: row[5]) else { throw MingaError("change log holds an unknown operation \(row[5] as String)") }
        return Change(
            origin: try NodeID(row[1]), seq: row[2], hlc: HLC(packed: row[3]), table: table.name,
            key: key, op: op, columns: columns,
            context: try VersionVector(canonicalJSON: row[7]),
            signature: row[8])
    }

    /// Every write of one row, in log order, with their log ids.
    func history(_ db: Database, table: TrackedTable, pk: String) throws -> [(id: Int64, change: Change)] {
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT \(Replica.changeColumns), v.* FROM minga_changes c JOIN \(SQL.id(table.valuesTable)) v ON v.change_id = c.id WHERE c.tbl = ? AND c.pk = ? ORDER BY c.id"),
            arguments: [table.name, pk])
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
                    db.cachedStatement(sql: "SELECT json_array(\(placeholders))"), arguments: StatementArguments(key.map(\.databaseValue)))!
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
    /// least every ``OriginChain/signingInterval`` changes, and each batch this node applied
    /// ended on such a point, so the extension is short).
    public func changes(above vector: VersionVector, limit: Int = 1000, maxBytes: Int = 4 << 20) throws -> [Change] {
        try writer.write { db in
            try integrateLocalWrites(db)
            return try changes(db, above: vector, limit: limit, maxBytes: maxBytes)
        }
    }

    func changes(_ db: Database, above vector: VersionVector, limit: Int, maxBytes: Int) throws -> [Change] {
        let held = try Replica.vector(db)
        // The first log id of any change due: per origin, the change right above `vector`.
        var start: Int64?
        for origin in held.origins where held[origin] > vector[origin] {
            let id = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT id FROM minga_changes WHERE origin = ? AND seq = ?"), arguments: [origin.rawValue, vector[origin] + 1])
            if let id { start = min(start ?? id, id) }
        }
        guard var cursor = start else { return [] }
        var result: [Change] = []
        var bytes = 0
        var unsigned: Set<NodeID> = []  // origins whose last change in `result` is not signed
        var verifiable = 0  // the longest prefix of `result` that ends on signed changes only
        reading: while true {
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT \(Replica.changeColumns), c.pk FROM minga_changes c WHERE c.id >= ? ORDER BY c.id LIMIT ?"),
                arguments: [cursor, max(limit, 64)])
            guard let first = rows.first, let last = rows.last else { break }
            cursor = (last[0] as Int64) + 1
            // The page's values, one range query per table (a values row's id is its change's
            // id); a lookup per change cost an eighth of serving a pull.
            var pageValues: [Int64: Row] = [:]
            for name in Set(rows.map { $0[4] as String }) {
                let range = try db.cachedStatement(sql: try self.table(named: name).selectValuesSQL)
                for values in try Row.fetchAll(range, arguments: [first[0], last[0]]) { pageValues[values[0]] = values }
            }
            for row in rows {
                guard (row[2] as Int64) > vector[try NodeID(row[1])] else { continue }
                let table = try self.table(named: row[4])
                guard let values = pageValues[row[0]] else {
                    throw MingaError("change log is damaged: change \(row[1] as String):\(row[2] as Int64) has no values")
                }
                let change = try change(row, values: values, table: table)
                result.append(change)
                bytes += Replica.estimatedSize(change)
                if change.signature == nil { unsigned.insert(change.origin) } else { unsigned.remove(change.origin) }
                if unsigned.isEmpty { verifiable = result.count }
                if (result.count >= limit || bytes >= maxBytes) && verifiable > 0 { break reading }
            }
        }
        return Array(result.prefix(verifiable))
    }

    static func estimatedSize(_ change: Change) -> Int {
        func size(_ value: Value) -> Int {
            switch value {
            case .null, .integer, .real: return 24
            case .text(let s): return s.utf8.count + 4
            case .blob(let b): return b.count * 4 / 3 + 12
            }
        }
        var total = 160 + change.table.utf8.count + change.context.entries.count * 24
        for value in change.key { total += size(value) }
        for (name, value) in change.columns { total += name.utf8.count + 4 + size(value) }
        return total
    }
}
