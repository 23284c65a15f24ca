import Foundation

/// What the merge rule keeps of one row's writes, so that the next write is merged without
/// reading the row's history (protocol/README.md §13, "Merge state"): per column the write
/// that wins it, the row's greatest insert or update and greatest delete, and the row's
/// version vector.
///
/// ``absorb(_:op:columns:)`` is the merge rule itself (``Merge``): a column is won by the write
/// with the greatest (HLC, origin) that set it; the row exists unless its greatest delete
/// follows its greatest insert or update. Every step takes a maximum, so the state is a
/// function of the *set* of writes absorbed, whatever their order.
public struct RowState: Hashable, Sendable {
    /// Per origin, the greatest sequence number of its writes to this row: the causal
    /// context a new local write to the row carries (protocol §8).
    public var vector = VersionVector()
    /// The greatest insert or update in merge order.
    public var upsert: WriteRef?
    /// The greatest delete in merge order.
    public var delete: WriteRef?
    /// Per column, the greatest write that set it: the one whose value the row holds.
    public var winners: [String: WriteRef] = [:]

    public init() {}

    /// The state of a row whose writes are `writes`.
    public init(folding writes: some Sequence<Change>) {
        for write in writes { absorb(write) }
    }

    /// Whether the row exists: it has an insert or update, and no delete after it.
    public var exists: Bool {
        guard let upsert else { return false }
        return delete.map { !upsert.precedes($0) } ?? true
    }

    /// Takes one more write of the row into the state. Returns the columns it now wins, in
    /// the order `columns` gives them (none for a delete).
    @discardableResult
    public mutating func absorb(_ write: WriteRef, op: ChangeOp, columns: some Sequence<String>) -> [String] {
        vector.raise(write.dot)
        if op == .delete {
            if delete.map({ $0.precedes(write) }) ?? true { delete = write }
            return []
        }
        if upsert.map({ $0.precedes(write) }) ?? true { upsert = write }
        var won: [String] = []
        for column in columns where winners[column].map({ $0.precedes(write) }) ?? true {
            winners[column] = write
            won.append(column)
        }
        return won
    }

    /// ``absorb(_:op:columns:)`` for a whole change.
    @discardableResult
    public mutating func absorb(_ write: Change) -> [String] {
        absorb(WriteRef(write), op: write.op, columns: write.columns.keys)
    }

    /// Whether `write` may conflict with a write this row holds: some held write of another
    /// origin is outside its causal context, so the two may be concurrent. When it returns
    /// false, `write`'s writer had seen every held write and it conflicts with none of them.
    public func mayConflict(with write: Change) -> Bool {
        vector.entries.contains { origin, seq in origin != write.origin && write.context[origin] < seq }
    }
}

extension VersionVector {
    /// Raises the entry of `dot`'s origin to `dot`'s sequence number if it is below it.
    public mutating func raise(_ dot: Dot) {
        if self[dot.origin] < dot.seq { self[dot.origin] = dot.seq }
    }
}
