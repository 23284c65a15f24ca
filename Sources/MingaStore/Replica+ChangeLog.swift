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

    static let changeColumns = "c.id, c.origin, c.seq, c.hlc, c.tbl, c.op, c.mask, c.ctx, c.sig"

    /// Builds a ``Change`` from a change row and its values row.
    func change(_ row: Row, values: Row, table: TrackedTable) throws -> Change {
        let mask = Array((row["mask"] as String).utf8)
        var columns: [String: Value] = [:]
        for (i, column) in table.columns.enumerated() where i < mask.count && mask[i] == UInt8(ascii: "1") {
            columns[column] = Value(values["c\(i)"] as DatabaseValue)
        }
        let key = table.keyColumns.map { Value(values["c\(table.position(of: $0)!)"] as DatabaseValue) }
        guard let op = ChangeOp(rawValue: row["op"]) else { throw MingaError("change log holds an unknown operation \(row["op"] as String)") }
        return Change(
            origin: try NodeID(row["origin"]), seq: row["seq"], hlc: HLC(packed: row["hlc"]), table: table.name,
            key: key, op: op, columns: columns,
            context: try VersionVector(canonicalJSON: row["ctx"]),
            signature: row["sig"])
    }

    /// Every write of one row, in log order, with their log ids.
    func history(_ db: Database, table: TrackedTable, pk: String) throws -> [(id: Int64, change: Change)] {
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT \(Replica.changeColumns), v.* FROM minga_changes c JOIN \(SQL.id(table.valuesTable)) v ON v.change_id = c.id WHERE c.tbl = ? AND c.pk = ? ORDER BY c.id"),
            arguments: [table.name, pk])
        return try rows.map { (id: $0["id"], change: try change($0, values: $0, table: table)) }
    }

    /// The log's text form of a row key, computed by SQLite exactly as the triggers compute it.
    func pk(_ db: Database, _ key: [Value]) throws -> String {
        let placeholders = key.map { _ in "?" }.joined(separator: ", ")
        return try String.fetchOne(
            db.cachedStatement(sql: "SELECT json_array(\(placeholders))"), arguments: StatementArguments(key.map(\.databaseValue)))!
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
            guard let last = rows.last else { break }
            cursor = (last["id"] as Int64) + 1
            for row in rows {
                guard (row["seq"] as Int64) > vector[try NodeID(row["origin"])] else { continue }
                let table = try self.table(named: row["tbl"])
                let lookup = try db.cachedStatement(sql: "SELECT * FROM \(SQL.id(table.valuesTable)) WHERE change_id = ?")
                guard let values = try Row.fetchOne(lookup, arguments: [row["id"]]) else {
                    throw MingaError("change log is damaged: change \(row["origin"] as String):\(row["seq"] as Int64) has no values")
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
        var size = 160 + change.table.utf8.count + change.context.entries.count * 24
        for value in change.key + Array(change.columns.values) {
            switch value {
            case .null, .integer, .real: size += 24
            case .text(let s): size += s.utf8.count + 4
            case .blob(let b): size += b.count * 4 / 3 + 12
            }
        }
        return size + change.columns.keys.reduce(0) { $0 + $1.utf8.count + 4 }
    }
}
