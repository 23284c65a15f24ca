import Foundation
import GRDB
import MingaCore

/// The SQLite triggers that capture every local write, by any SQLite client (architecture invariant 2).
///
/// A trigger first refuses a write that no other node could accept (``ColumnContentRule``: a NULL
/// key, a key of the wrong kind, text with NUL, a value or row over the size limits) with
/// `RAISE(ABORT, 'minga: …')`, which fails the writer's own statement. Otherwise it only
/// appends one row to `minga_pending`: the table, the operation, a bit mask of the columns it
/// changed, the wall-clock time of the write in milliseconds (`at`, protocol §4 "Write time"),
/// and the new values exactly as SQLite stored them (`c0…` in the table's declared column
/// order; for a change of key, the old key in `k0…`).
/// Everything that needs the log — sequence number, HLC, causal context, hash chain and
/// signature — is assigned later by ``Replica/seal(_:)``, in the first transaction that
/// reads or extends the log. That keeps a local write within a small multiple of a plain
/// one (scripts/bench, W1), and the write is still durable in the same transaction as the
/// data.
struct Capture {
    let table: TrackedTable
    /// Columns with text affinity (``TrackedTable/textColumns(_:table:)``): no type check needed.
    var textColumns: Set<String> = []

    /// Bit `i` of a mask stands for column `i`; a table has at most this many columns.
    static let maxColumns = 62

    /// One pending row per local write.
    static func pendingSQL(keyWidth: Int, width: Int) -> String {
        let keys = (0..<keyWidth).map { ", k\($0)" }.joined()
        let columns = (0..<width).map { ", c\($0)" }.joined()
        return
            "CREATE TABLE minga_pending(id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, op TEXT NOT NULL, mask INTEGER NOT NULL, at INTEGER\(keys)\(columns));"
    }

    /// The mask with every non-key column set: what an insert sets.
    var insertMask: Int64 {
        table.columns.enumerated().reduce(0) { mask, column in table.keyColumns.contains(column.element) ? mask : mask | 1 << column.offset }
    }

    /// The time of a write in milliseconds since the Unix epoch, as SQL. `julianday('now')` is
    /// read once per statement, so every row of one statement gets the same time (SQLite
    /// 3.40 has no `unixepoch('subsec')`).
    static let nowMillisSQL = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"

    /// The statement that records one write: `op`, `mask` and `at` are SQL expressions,
    /// `value` gives each column's new value, `oldKey` the old key's values (for a change of key).
    func statement(
        op: String,
        mask: String,
        at: String = Capture.nowMillisSQL,
        value: (String) -> String,
        oldKey: ((String) -> String)? = nil
    ) -> String {
        let keys = oldKey.map { ref in table.keyColumns.enumerated().map { (name: "k\($0.offset)", value: ref($0.element)) } } ?? []
        let columns = table.columns.enumerated().map { (name: "c\($0.offset)", value: value($0.element)) }
        let all = keys + columns
        return """
            INSERT INTO minga_pending(tbl, op, mask, at, \(all.map(\.name).joined(separator: ", "))) \
            VALUES (\(SQL.literal(table.name)), \(op), \(mask), \(at), \(all.map(\.value).joined(separator: ", ")));
            """
    }

    /// The shadow values table of the sealed log, and the capture triggers of a tracked table.
    var schemaSQL: String {
        let valuesColumns = (0..<table.columns.count).map { "c\($0)" }.joined(separator: ", ")
        return "CREATE TABLE \(SQL.id(table.valuesTable))(change_id INTEGER PRIMARY KEY, \(valuesColumns));\n" + triggersSQL
    }

    /// The capture triggers of a tracked table: its insert, update and delete triggers, and one
    /// update check per column (``ColumnContentRule/updateCheck(_:column:textColumns:active:)``).
    var triggersSQL: String {
        let t = table
        let new = { (c: String) in "NEW." + SQL.id(c) }
        let old = { (c: String) in "OLD." + SQL.id(c) }
        let active = "(SELECT suppress FROM minga_capture) = 0"
        // Byte-exact comparison: a column's collation (NOCASE …) or numeric equality across
        // types (1 and 1.0) must not hide an edit that other nodes would store differently.
        // Only a text column cannot hold two types that compare equal; there the type check
        // (two function calls for every unchanged column of every update, `scripts/bench`
        // W1) is left out.
        let changed = { (c: String) in
            self.textColumns.contains(c)
                ? "(\(new(c)) IS NOT \(old(c)) COLLATE BINARY)"
                : "(\(new(c)) IS NOT \(old(c)) COLLATE BINARY OR typeof(\(new(c))) IS NOT typeof(\(old(c))))"
        }
        let keyChanged = t.keyColumns.map(changed).joined(separator: " OR ")
        // Each changed column's bit, computed once per write; an update that changes nothing
        // has mask 0 and is dropped when sealed.
        let updateMask = t.columns.enumerated().filter { !t.keyColumns.contains($0.element) }
            .map { "(\(changed($0.element)) << \($0.offset))" }.joined(separator: " | ")
        return """
            CREATE TRIGGER \(SQL.id("minga_insert_" + t.name)) AFTER INSERT ON \(SQL.id(t.name)) WHEN \(active) BEGIN
            \(ColumnContentRule.insertCheck(t, textColumns: textColumns, new))
            \(statement(op: "'insert'", mask: String(insertMask), value: new))
            END;
            CREATE TRIGGER \(SQL.id("minga_update_" + t.name)) AFTER UPDATE ON \(SQL.id(t.name)) WHEN \(active) BEGIN
            \(statement(op: "CASE WHEN \(keyChanged) THEN 'rekey' ELSE 'update' END", mask: updateMask.isEmpty ? "0" : updateMask, value: new, oldKey: old))
            END;
            \(t.columns.indices.map { ColumnContentRule.updateCheck(t, column: $0, textColumns: textColumns, active: active) }.joined(separator: "\n"))
            CREATE TRIGGER \(SQL.id("minga_delete_" + t.name)) AFTER DELETE ON \(SQL.id(t.name)) WHEN \(active) BEGIN
            \(statement(op: "'delete'", mask: "0", value: { t.keyColumns.contains($0) ? old($0) : "NULL" }))
            END;
            """
    }
}
