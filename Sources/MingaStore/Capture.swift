import Foundation
import GRDB
import MingaCore

/// The SQLite triggers that capture every local write, by any SQLite client (invariant 2).
///
/// A trigger only appends one row to `minga_pending`: the table, the operation, which
/// columns it set, and their values exactly as SQLite stored them. Everything that needs the
/// log — sequence number, HLC, causal context, hash chain and signature — is assigned later
/// by ``Replica/seal(_:)``, in the first transaction that reads or extends the log. That
/// keeps a local write within a small multiple of a plain one (scripts/bench, W1), and the
/// write is still durable in the same transaction as the data.
struct Capture {
    let table: TrackedTable

    /// One pending row per local write; `c0…` hold the table's columns in declared order.
    static func pendingSQL(width: Int) -> String {
        let columns = (0..<width).map { ", c\($0)" }.joined()
        return "CREATE TABLE minga_pending(id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, op TEXT NOT NULL, mask TEXT NOT NULL\(columns));"
    }

    /// The statement that records one write. `mask` is an SQL expression giving one '0'/'1'
    /// per column (key columns always '0'); `value` gives each column's value.
    func statement(op: ChangeOp, ref: (String) -> String, mask: String, value: (String) -> String) -> String {
        """
        INSERT INTO minga_pending(tbl, op, mask, \(valueColumns)) VALUES (\(SQL.literal(table.name)), '\(op.rawValue)', \(mask), \
        \(table.columns.map { table.keyColumns.contains($0) ? ref($0) : value($0) }.joined(separator: ", ")));
        """
    }

    var valueColumns: String { (0..<table.columns.count).map { "c\($0)" }.joined(separator: ", ") }

    func constantMask(_ bit: (String) -> Bool) -> String {
        SQL.literal(String(table.columns.map { bit($0) ? "1" : "0" }))
    }

    /// The shadow values table of the sealed log, and the capture triggers of a tracked table.
    var schemaSQL: String {
        let t = table
        let new = { (c: String) in "NEW." + SQL.id(c) }
        let old = { (c: String) in "OLD." + SQL.id(c) }
        let active = "(SELECT suppress FROM minga_capture) = 0"
        // Byte-exact comparison: a column's collation (NOCASE …) or numeric equality across
        // types (1 and 1.0) must not hide an edit that other nodes would store differently.
        let changed = { (c: String) in "(\(new(c)) IS NOT \(old(c)) COLLATE BINARY OR typeof(\(new(c))) IS NOT typeof(\(old(c))))" }
        let keyUnchanged = t.keyColumns.map { "NOT \(changed($0))" }.joined(separator: " AND ")
        let anyChanged = t.nonKeyColumns.isEmpty ? "0" : t.nonKeyColumns.map(changed).joined(separator: " OR ")
        let updateMask = t.columns.map { t.keyColumns.contains($0) ? "'0'" : "(CASE WHEN \(changed($0)) THEN '1' ELSE '0' END)" }
            .joined(separator: " || ")
        let isKey = { (c: String) in t.keyColumns.contains(c) }
        return """
            CREATE TABLE \(SQL.id(t.valuesTable))(change_id INTEGER PRIMARY KEY, \(valueColumns));
            CREATE TRIGGER \(SQL.id("minga_insert_" + t.name)) AFTER INSERT ON \(SQL.id(t.name)) WHEN \(active) BEGIN
            \(statement(op: .insert, ref: new, mask: constantMask { !isKey($0) }, value: new))
            END;
            CREATE TRIGGER \(SQL.id("minga_update_" + t.name)) AFTER UPDATE ON \(SQL.id(t.name))
            WHEN \(active) AND \(keyUnchanged) AND (\(anyChanged)) BEGIN
            \(statement(op: .update, ref: new, mask: updateMask, value: { "CASE WHEN \(changed($0)) THEN \(new($0)) END" }))
            END;
            CREATE TRIGGER \(SQL.id("minga_rekey_" + t.name)) AFTER UPDATE ON \(SQL.id(t.name))
            WHEN \(active) AND NOT (\(keyUnchanged)) BEGIN
            \(statement(op: .delete, ref: old, mask: constantMask { _ in false }, value: { _ in "NULL" }))
            \(statement(op: .insert, ref: new, mask: constantMask { !isKey($0) }, value: new))
            END;
            CREATE TRIGGER \(SQL.id("minga_delete_" + t.name)) AFTER DELETE ON \(SQL.id(t.name)) WHEN \(active) BEGIN
            \(statement(op: .delete, ref: old, mask: constantMask { _ in false }, value: { _ in "NULL" }))
            END;
            """
    }
}
