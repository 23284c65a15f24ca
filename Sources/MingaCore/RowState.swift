import Foundation

/// What the merge rule keeps of one row's writes, so that the next write is merged without
/// reading the row's history (protocol/README.md §13, "Merge state"): per column the write
/// that wins it, the row's greatest insert or update and greatest delete, and the row's
/// version vector.
///
/// ``absorb(_:op:positions:)`` is the merge rule itself (``Merge``): a column is won by the write
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
    /// Per column, by its position in the row's column order, the greatest write that set
    /// it: the one whose value the row holds; `nil` for a column no write set. A store numbers
    /// the columns in its table's order; ``init(folding:columns:)`` by a list of names. It
    /// ends on a column some write set (a state has one form), so it may be shorter than the
    /// table. Positions rather than names, because every write sealed or applied takes its
    /// columns in, and an index costs less than hashing a name (`scripts/bench` W1, W5).
    public var winners: [WriteRef?] = []

    public init() {}

    /// The state of a row whose writes are `writes`, its columns numbered by their place in
    /// `columns` (a column not named there is left out).
    public init(folding writes: some Sequence<Change>, columns: [String]) {
        let position = Dictionary(uniqueKeysWithValues: columns.enumerated().map { ($1, $0) })
        for write in writes { absorb(WriteRef(write), op: write.op, positions: write.columns.keys.compactMap { position[$0] }) }
    }

    /// Whether the row exists: it has an insert or update, and no delete after it.
    public var exists: Bool {
        guard let upsert else { return false }
        return delete.map { !upsert.precedes($0) } ?? true
    }

    /// Takes one more write of the row into the state: `positions` are the columns it sets.
    /// Returns the columns it now wins, in the order `positions` gives them (none for a delete).
    @discardableResult
    public mutating func absorb(_ write: WriteRef, op: ChangeOp, positions: [Int]) -> [Int] {
        vector.raise(write.dot)
        if op == .delete {
            if delete.map({ $0.precedes(write) }) ?? true { delete = write }
            return []
        }
        if upsert.map({ $0.precedes(write) }) ?? true { upsert = write }
        if let widest = positions.max(), widest >= winners.count { winners += repeatElement(nil, count: widest + 1 - winners.count) }
        var won: [Int] = []
        won.reserveCapacity(positions.count)
        for position in positions {
            if winners[position].map({ $0.precedes(write) }) ?? true {
                winners[position] = write
                won.append(position)
            }
        }
        return won
    }

    /// Whether `write` may conflict with a write this row holds: some held write of another
    /// origin is outside its causal context, so the two may be concurrent. When it returns
    /// false, `write`'s writer had seen every held write and it conflicts with none of them.
    public func mayConflict(with write: Change) -> Bool {
        vector.entries.contains { origin, seq in origin != write.origin && write.context[origin] < seq }
    }
}
