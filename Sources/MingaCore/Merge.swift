import Foundation

/// The merge rule (docs/architecture.md, invariants 5 and 6; protocol/README.md §9 and §10), written once. The store and every
/// transport call these functions; nothing else decides which write wins.
///
/// - A row's state is a function of the *set* of its writes: per column, the write with
///   the greatest (HLC, origin) that set the column wins. The row exists unless its
///   greatest delete is greater than its greatest insert/update; a later update revives
///   a deleted row with every column's winning value.
/// - Two writes conflict when neither had seen the other (their causal contexts say so;
///   timestamps are never used to guess) and they set the same column to different
///   values, or one deleted the row the other changed. A conflict is settled by any
///   other write to that column (or row) whose writer had seen one side or both
///   (``Conflict/settle(with:)``).
public enum Merge {
    /// The row that `writes` determine: column values, or `nil` when the row is absent.
    public static func row(of writes: [Change]) -> Columns? {
        if writes.count == 1 { return writes[0].op == .delete ? nil : writes[0].columns }  // a new row's usual history
        let columns = Set(writes.flatMap(\.columns.keys)).sorted(by: JSONText.precedes)
        let state = RowState(folding: writes, columns: columns)
        guard state.exists else { return nil }
        let byDot = Dictionary(writes.map { ($0.dot, $0) }, uniquingKeysWith: { first, _ in first })
        var row = Columns()
        for (column, winner) in zip(columns, state.winners) {
            guard let winner else { continue }
            row.append(column, byDot[winner.dot]!.columns[column]!)
        }
        return row
    }

    /// The conflicts `write` forms with the writes already held for its row, each with the
    /// status the union of both determines.
    public static func conflicts(introducedBy write: Change, history: ArraySlice<Change>) -> [Conflict] {
        var found: [Conflict] = []
        for other in history where other.dot != write.dot && write.isConcurrent(with: other) {
            for column in disputedColumns(write, other) {
                let (winner, loser) = other.precedes(write) ? (write, other) : (other, write)
                var conflict = Conflict(table: write.table, key: write.key, column: column, winner: winner, loser: loser)
                for resolver in history where resolver.dot != other.dot && resolver.dot != write.dot {
                    conflict.settle(with: resolver)
                }
                found.append(conflict)
            }
        }
        return found
    }

    /// Whether a row whose only write is `write` is that write's columns whole, so that a
    /// store may copy its values as the row: an insert sets every column (protocol §5), and
    /// ``row(of:)`` of one write is its columns.
    public static func isWholeRow(onlyWrite write: Change) -> Bool { write.op == .insert }

    /// Every conflict among `writes`, whatever order they arrived in; sorted by id: the
    /// conflict fold over the whole history.
    public static func conflicts(of writes: [Change]) -> [Conflict] {
        var all: [String: Conflict] = [:]
        fold(writes, into: &all)
        return all.values.sorted { $0.id < $1.id }
    }

    /// The conflict fold (protocol §10) over a row's history in log order: each write from
    /// index `first` on takes its step (``fold(_:into:earlier:)``) against the writes before
    /// it. `known` holds the row's conflicts so far and gains the new ones. Returns the ids
    /// of the conflicts settled or added, and how many were added.
    @discardableResult
    public static func fold(_ history: [Change], from first: Int = 0, into known: inout [String: Conflict]) -> (changed: Set<String>, added: Int) {
        var changed: Set<String> = []
        var added = 0
        for index in history.indices where index >= first {
            let step = fold(history[index], into: &known, earlier: history[..<index])
            changed.formUnion(step.changed)
            added += step.added
        }
        return (changed, added)
    }

    /// One step of the conflict fold (protocol §10), the one the store runs as each change
    /// arrives: `write` settles every conflict in `known` that it covers, and forms new ones
    /// with `earlier`, the row's writes before it (none, for a write that saw them all: a local
    /// write, or one whose context covers the row's vector). Returns the ids of the conflicts
    /// it settled or added, and how many it added.
    @discardableResult
    public static func fold(_ write: Change, into known: inout [String: Conflict], earlier: ArraySlice<Change>) -> (changed: Set<String>, added: Int)
    {
        var changed: Set<String> = []
        for id in known.keys where known[id]!.settle(with: write) { changed.insert(id) }
        var added = 0
        for conflict in conflicts(introducedBy: write, history: earlier) where known[conflict.id] == nil {
            known[conflict.id] = conflict
            changed.insert(conflict.id)
            added += 1
        }
        return (changed, added)
    }

    /// The columns two concurrent writes disagree on; `nil` stands for the row itself.
    static func disputedColumns(_ a: Change, _ b: Change) -> [String?] {
        switch (a.op == .delete, b.op == .delete) {
        case (true, true): return []
        case (true, false), (false, true): return [nil]
        case (false, false):
            return a.columns.keys.sorted().filter { column in
                guard let other = b.columns[column] else { return false }
                return other != a.columns[column]
            }
        }
    }
}
