import Foundation
import GRDB
import MingaCore

/// Sealing: turning the local writes the triggers left in `minga_pending` into signed changes.
///
/// Every transaction that reads or extends the change log seals first, inside the same
/// transaction, so the log never shows a half-sealed state and remote changes are never
/// interleaved with unsealed local ones: a pending write's causal context is exactly what the
/// node held when it was made. Sealing assigns, in write order,
/// - the next sequence number of this node's current origin (1, 2, 3 … with no gaps),
/// - an HLC later than every change held and than the last one issued, even when the wall
///   clock went back (``HLC/next(after:nowMillis:)``),
/// - the row's causal context,
/// - the origin's hash-chain link, and a signature at least every
///   ``OriginChain/signingInterval`` changes and on the last one sealed.
extension Replica {
    /// The origin this node writes under: its id, or `id~EPOCH` once restored from a backup.
    func currentOrigin(_ db: Database) throws -> NodeID {
        nodeID.inEpoch(try Int64.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'epoch'") ?? 0)
    }

    /// Local writes not sealed yet (made since the last read of the log).
    func pendingCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM minga_pending")) ?? 0
    }

    func seal(_ db: Database) throws {
        guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM minga_pending)")) == true else { return }
        guard let signingKey else {
            throw MingaError(
                "there are local writes to seal, but the node's private key file \(keyPath ?? "") is missing; put the node's key back (it is not part of backups), then try again")
        }
        if try Int.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'backup'") == 1 {
            throw MingaError(
                "this file is a backup made by `minga backup`: it never issues changes itself, so that a restore cannot reuse sequence numbers; restore it with `minga restore BACKUP --db NEW` and write there")
        }
        let origin = try currentOrigin(db)
        let last = try Row.fetchOne(
            db, sql: "SELECT seq, link FROM minga_changes WHERE origin = ? ORDER BY seq DESC LIMIT 1", arguments: [origin.rawValue])
        var seq: Int64 = last?["seq"] ?? 0
        var link: [UInt8] = (last?["link"] as Data?).map { Array($0) } ?? OriginChain.genesis
        var hlc = max(
            try Int64.fetchOne(db, sql: "SELECT max(hlc) FROM minga_changes") ?? 0,
            try Int64.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'last_hlc'") ?? 0)

        let keyCases = tableNames.map { name -> String in
            let t = tables[name]!
            return "WHEN \(SQL.literal(name)) THEN json_array(\(t.keyColumns.map { "p.c\(t.position(of: $0)!)" }.joined(separator: ", ")))"
        }.joined(separator: " ")
        let pending = try db.cachedStatement(
            sql: "SELECT p.*, CASE p.tbl \(keyCases) END AS pk FROM minga_pending p WHERE p.id > ? ORDER BY p.id LIMIT 1000")
        let rowContext = try db.cachedStatement(
            sql: "SELECT origin, max(seq) FROM minga_changes WHERE tbl = ? AND pk = ? GROUP BY origin")
        let insert = try db.cachedStatement(
            sql: "INSERT INTO minga_changes(origin, seq, hlc, tbl, pk, op, mask, ctx, link, sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        var cursor: Int64 = 0
        var lastSealed: (id: Int64, signed: Bool)?
        while true {
            let rows = try Row.fetchAll(pending, arguments: [cursor])
            guard !rows.isEmpty else { break }
            for row in rows {
                cursor = row["id"]
                let table = try self.table(named: row["tbl"])
                let pk: String = row["pk"]
                var context = VersionVector()
                for entry in try Row.fetchAll(rowContext, arguments: [table.name, pk]) {
                    context[try NodeID(entry[0])] = entry[1]
                }
                seq += 1
                hlc = HLC.next(after: HLC(packed: hlc), nowMillis: clock()).packed
                guard let op = ChangeOp(rawValue: row["op"]) else { throw MingaError("a pending write has an unknown operation") }
                let mask = Array((row["mask"] as String).utf8)
                var columns: [String: Value] = [:]
                for (i, column) in table.columns.enumerated() where i < mask.count && mask[i] == UInt8(ascii: "1") {
                    columns[column] = Value(row["c\(i)"] as DatabaseValue)
                }
                let change = Change(
                    origin: origin, seq: seq, hlc: HLC(packed: hlc), table: table.name,
                    key: table.keyColumns.map { Value(row["c\(table.position(of: $0)!)"] as DatabaseValue) },
                    op: op, columns: columns, context: context)
                link = OriginChain.link(after: link, change)
                let signature = seq % Int64(OriginChain.signingInterval) == 0 ? try signingKey.sign(link: link) : nil
                try insert.execute(arguments: [
                    origin.rawValue, seq, hlc, table.name, pk, op.rawValue, row["mask"] as String, context.canonicalJSON,
                    Data(link), signature,
                ])
                let id = db.lastInsertedRowID
                try db.cachedStatement(
                    sql: "INSERT INTO \(SQL.id(table.valuesTable))(change_id, \(Capture(table: table).valueColumns)) SELECT ?, \(Capture(table: table).valueColumns) FROM minga_pending WHERE id = ?"
                ).execute(arguments: [id, cursor])
                lastSealed = (id, signature != nil)
            }
        }
        if let lastSealed, !lastSealed.signed {
            try db.execute(sql: "UPDATE minga_changes SET sig = ? WHERE id = ?", arguments: [try signingKey.sign(link: link), lastSealed.id])
        }
        try db.execute(sql: "DELETE FROM minga_pending WHERE id <= ?", arguments: [cursor])
        try db.execute(
            sql: "INSERT INTO minga_meta(key, value) VALUES ('last_hlc', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            arguments: [hlc])
    }
}
