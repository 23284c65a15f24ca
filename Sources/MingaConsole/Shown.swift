import Foundation
import MingaCore

/// How values and times read on a page.
enum Shown {
    static func time(_ date: Date?) -> String {
        guard let date else { return "—" }
        return date.formatted(.iso8601)
    }

    static func key(_ key: [Value]) -> String {
        key.count == 1 ? cell(key[0]) : "[" + key.map(\.plainJSON).joined(separator: ", ") + "]"
    }

    /// A key as `minga get` and the row search take it back.
    static func keyArgument(_ key: [Value]) -> String {
        if key.count == 1, case .text(let text) = key[0], !text.hasPrefix("[") { return text }
        return "[" + key.map(\.plainJSON).joined(separator: ",") + "]"
    }

    /// A cell as text, and NULL as SQL writes it.
    static func cell(_ value: Value) -> String {
        if case .text(let text) = value { return text }
        if value == .null { return "NULL" }
        return value.plainJSON
    }

    static func vector(_ vector: VersionVector) -> String {
        vector.isEmpty ? "—" : vector.origins.map { "\($0):\(vector[$0])" }.joined(separator: "  ")
    }

    static func columns(_ columns: [String: Value]) -> String {
        columns.keys.sorted().map { "\($0) = \(columns[$0]!.plainJSON)" }.joined(separator: ", ")
    }
}
