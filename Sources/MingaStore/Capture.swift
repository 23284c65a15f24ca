import Foundation
import GRDB
import MingaCore

/// The SQL that records a local write in the change log. Triggers use it with `NEW.`/`OLD.`
/// column references, so that any SQLite client's writes are captured (invariant 2);
/// ``Replica`` uses it with bound parameters for writes it records itself (resolutions).
///
/// Origin, sequence number, HLC and causal context are all computed inside the same
/// statement, in the same transaction as the data.
struct Capture {
    let node: NodeID
    let table: TrackedTable

    /// `max(now << 16, highest HLC held + 1)`: the HLC rule of ``HLC/next(after:nowMillis:)``.
    static let hlcExpression =
        "max(CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) << 16, (SELECT coalesce(max(hlc), 0) + 1 FROM minga_changes))"

    var seqExpression: String {
        "(SELECT coalesce(max(seq), 0) + 1 FROM minga_changes WHERE origin = \(SQL.literal(node.rawValue)))"
    }

    func keyExpression(_ ref: (String) -> String) -> String {
        "json_array(" + table.keyColumns.map(ref).joined(separator: ", ") + ")"
    }

    /// The row's version vector as this node holds it: the write's causal context.
    func contextExpression(_ ref: (String) -> String) -> String {
        """
        (SELECT coalesce(json_group_object(origin, m), '{}') FROM (SELECT origin, max(seq) AS m FROM minga_changes \
        WHERE tbl = \(SQL.literal(table.name)) AND pk = \(keyExpression(ref)) GROUP BY origin))
        """
    }

    /// Two statements: the change row, then its values row. `mask` is an SQL expression giving
    /// one '0'/'1' per column (key columns always '0'); `value` gives each column's value.
    func statements(op: ChangeOp, ref: (String) -> String, mask: String, value: (String) -> String) -> String {
        """
        INSERT INTO minga_changes(origin, seq, hlc, tbl, pk, op, mask, ctx) VALUES (\
        \(SQL.literal(node.rawValue)), \(seqExpression), \(Capture.hlcExpression), \(SQL.literal(table.name)), \
        \(keyExpression(ref)), '\(op.rawValue)', \(mask), \(contextExpression(ref)));
        INSERT INTO \(SQL.id(table.valuesTable))(change_id, \(valueColumns)) VALUES (last_insert_rowid(), \
        \(table.columns.map { table.keyColumns.contains($0) ? ref($0) : value($0) }.joined(separator: ", ")));
        """
    }

    var valueColumns: String { (0..<table.columns.count).map { "c\($0)" }.joined(separator: ", ") }

    func constantMask(_ bit: (String) -> Bool) -> String {
        SQL.literal(String(table.columns.map { bit($0) ? "1" : "0" }))
    }

    /// The shadow values table and the three capture triggers of a tracked table.
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
            \(statements(op: .insert, ref: new, mask: constantMask { !isKey($0) }, value: new))
            END;
            CREATE TRIGGER \(SQL.id("minga_update_" + t.name)) AFTER UPDATE ON \(SQL.id(t.name))
            WHEN \(active) AND \(keyUnchanged) AND (\(anyChanged)) BEGIN
            \(statements(op: .update, ref: new, mask: updateMask, value: { "CASE WHEN \(changed($0)) THEN \(new($0)) END" }))
            END;
            CREATE TRIGGER \(SQL.id("minga_rekey_" + t.name)) AFTER UPDATE ON \(SQL.id(t.name))
            WHEN \(active) AND NOT (\(keyUnchanged)) BEGIN
            \(statements(op: .delete, ref: old, mask: constantMask { _ in false }, value: { _ in "NULL" }))
            \(statements(op: .insert, ref: new, mask: constantMask { !isKey($0) }, value: new))
            END;
            CREATE TRIGGER \(SQL.id("minga_delete_" + t.name)) AFTER DELETE ON \(SQL.id(t.name)) WHEN \(active) BEGIN
            \(statements(op: .delete, ref: old, mask: constantMask { _ in false }, value: { _ in "NULL" }))
            END;
            """
    }
}
