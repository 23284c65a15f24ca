import Foundation

/// A write as a conflict remembers it: which write, and where it stands in the merge order.
public struct WriteRef: Hashable, Sendable, Codable {
    public let origin: NodeID
    public let seq: Int64
    public let hlc: HLC

    public init(origin: NodeID, seq: Int64, hlc: HLC) {
        self.origin = origin
        self.seq = seq
        self.hlc = hlc
    }

    public init(_ change: Change) { self.init(origin: change.origin, seq: change.seq, hlc: change.hlc) }

    public var dot: Dot { Dot(origin: origin, seq: seq) }

    public var mergeOrder: MergeOrder { MergeOrder(hlc: hlc, origin: origin) }

    func precedes(_ other: WriteRef) -> Bool { mergeOrder < other.mergeOrder }
}

/// The total order of the merge rule (protocol §9): by HLC, then by origin node id, so that
/// two writes with the same HLC still have one winner everywhere. Every "which write wins"
/// compares this key.
public struct MergeOrder: Comparable, Hashable, Sendable {
    public let hlc: HLC
    public let origin: NodeID

    public static func < (a: MergeOrder, b: MergeOrder) -> Bool { (a.hlc, a.origin) < (b.hlc, b.origin) }
}

/// Two concurrent writes that disagreed on one column of one row (or a delete against
/// a change of the row). The merge rule already picked `winner`; the conflict keeps the
/// loser visible until a person settles it.
public struct Conflict: Hashable, Sendable {
    public enum Status: String, Codable, Sendable { case open, resolved }

    /// Derived from the two writes, so every node that holds them names it the same way.
    public let id: String
    public let table: String
    public let key: [Value]
    /// The disputed column; `nil` when one write deleted the row the other changed.
    public let column: String?
    public let winner: WriteRef
    public let loser: WriteRef
    /// The earliest write (in merge order) that settled it (see ``settle(with:)``).
    public private(set) var resolvedBy: WriteRef?

    public var status: Status { resolvedBy == nil ? .open : .resolved }

    public init(table: String, key: [Value], column: String?, winner: Change, loser: Change) {
        self.init(table: table, key: key, column: column, winner: WriteRef(winner), loser: WriteRef(loser), resolvedBy: nil)
    }

    public init(table: String, key: [Value], column: String?, winner: WriteRef, loser: WriteRef, resolvedBy: WriteRef?) {
        self.table = table
        self.key = key
        self.column = column
        self.winner = winner
        self.loser = loser
        self.resolvedBy = resolvedBy
        id = Conflict.id(table: table, key: key, column: column, winner: winner.dot, loser: loser.dot)
    }

    /// Marks the conflict resolved if `write` settles it: it touches the disputed column (or
    /// row) and its writer had seen at least one side. Having seen both, it resolves the
    /// dispute; having seen one, it is a later version of that side, and the disagreement
    /// lives on in the pair it forms with the other side — so only the latest pair stays open
    /// and two agencies editing a title n times offline see one open conflict, not n².
    /// Returns whether anything changed.
    @discardableResult
    public mutating func settle(with write: Change) -> Bool {
        guard write.touches(column), write.dot != winner.dot, write.dot != loser.dot,
            write.covers(winner.dot) || write.covers(loser.dot)
        else { return false }
        let candidate = WriteRef(write)
        if let current = resolvedBy, !candidate.precedes(current) { return false }
        resolvedBy = candidate
        return true
    }

    /// `sha256("minga.conflict.v1" LF table LF key LF column LF winner LF loser)`, first 16 hex digits.
    public static func id(table: String, key: [Value], column: String?, winner: Dot, loser: Dot) -> String {
        let text = [
            "minga.conflict.v1", table, Change.keyJSON(key), column.map(JSONText.quote) ?? "null",
            winner.description, loser.description,
        ].joined(separator: "\n")
        return String(SHA256Digest.hex(Array(text.utf8)).prefix(16))
    }
}
