extension Value {
    /// A value as a table cell reads: text as itself, NULL as SQL writes it, any other value as
    /// its JSON (``plainJSON``). What `minga query` prints and the console shows.
    public var cellText: String {
        switch self {
        case .null: "NULL"
        case .text(let text): text
        default: plainJSON
        }
    }
}

extension Array where Element == Value {
    /// A row's key as an operator reads it and gives it back (`minga get TABLE KEY`, the
    /// console's row search; `Replica.key(for:argument:)` parses it): a one-column text key
    /// as itself, unless it would read as a JSON array; any other key as the JSON array of its
    /// values, e.g. `["XM-1","MX"]` or `[42]`.
    public var keyText: String {
        if count == 1, case .text(let text) = self[0], !text.hasPrefix("[") { return text }
        return "[" + map(\.plainJSON).joined(separator: ",") + "]"
    }
}

extension Dictionary where Key == String, Value == MingaCore.Value {
    /// Columns and their values as one line, by column name: `budget = 2, title = "Agua"`.
    public var columnsText: String {
        keys.sorted().map { "\($0) = \(self[$0]!.plainJSON)" }.joined(separator: ", ")
    }
}
