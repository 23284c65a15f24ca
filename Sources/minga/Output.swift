import Foundation
import MingaCore
import MingaStore

/// How the command line prints things: JSON built from ``Value/plainJSON`` so that values
/// print exactly, and short human text otherwise.
enum Output {
    static func object(_ pairs: [(String, Value)]) -> String {
        "{" + pairs.map { JSONText.quote($0.0) + ":" + $0.1.plainJSON }.joined(separator: ",") + "}"
    }

    /// An instant as ISO 8601 (`2026-12-01T10:38:08Z`), in text and JSON alike.
    static func time(_ date: Date) -> String { date.formatted(.iso8601) }

    static func vector(_ vector: VersionVector) -> String {
        vector.isEmpty ? "(empty)" : vector.origins.map { "\($0):\(vector[$0])" }.joined(separator: " ")
    }

    static func conflictText(_ record: ConflictRecord) -> String {
        let c = record.conflict
        func side(_ s: ConflictSide) -> String {
            let what = s.op == .delete ? "deleted the row" : (c.column == nil ? "changed the row: \(s.columns.columnsText)" : s.value!.plainJSON)
            return "\(what)  — \(s.write.origin) at \(s.write.hlc.readable) (change \(s.write.dot))"
        }
        var text = """
            conflict \(c.id)  \(c.status.rawValue)
              \(c.table) \(c.key.keyText)  \(c.column.map { "column \($0)" } ?? "the whole row (delete against update)")
              winner: \(side(record.winner))
              loser:  \(side(record.loser))
            """
        if let by = c.resolvedBy { text += "\n  resolved by change \(by.dot) at \(by.hlc.readable)" }
        return text
    }
}

extension Output {
    /// One held origin, for an operator (protocol §13): which change waits, how many, why,
    /// since when and from where.
    static func held(_ h: HeldOrigin) -> String {
        "\(h.origin) from change \(h.first) (\(counted(h.count, "change"))), held since "
            + "\(time(h.since)), from \(h.source.isEmpty ? "this node" : h.source): "
            + "\(h.code.explanation) [\(h.code.rawValue)]: \(h.reason)"
    }
}
