import Foundation

/// What one change may carry, stated once (protocol/README.md §3 "Sizes" and §13 "What
/// holds a change back"). A receiver checks every incoming change against these rules, and an
/// origin's capture triggers refuse a local write that breaks them in the writer's own
/// statement (MingaStore's `ColumnContentRule` turns each rule into both checks), so no origin can
/// seal a change that an honest receiver refuses.
public enum ContentRules {
    /// The most bytes one value may hold: the UTF-8 bytes of a text, the bytes of a blob.
    /// 1 MiB (1,048,576 bytes); a protocol constant, the same on every node.
    public static let maxValueBytes = 1 << 20
    /// The most bytes of text and blob one change may carry in its key and columns together:
    /// 2 MiB (2,097,152 bytes). A protocol constant: with JSON's worst escaping (6 bytes for
    /// a control character) a change stays under 13 MiB of wire JSON, below any node's
    /// request limit (16 MiB by default).
    public static let maxChangeBytes = 2 << 20
    /// The request body every change fits in, as JSON with escapes and base64 at their worst
    /// (6 bytes per byte of control-character text): 13 MiB. A node whose body limit is
    /// lower cannot be pushed every legal change; senders leave such changes unsent to it
    /// and say so (protocol §16), and it can still pull them.
    public static let maxChangeWireBytes = 13 << 20

    /// The bytes a value counts towards the limits: a text's UTF-8 bytes, a blob's bytes,
    /// 0 for NULL and numbers.
    public static func size(of value: Value) -> Int {
        switch value {
        case .text(let text): return text.utf8.count
        case .blob(let data): return data.count
        case .null, .integer, .real: return 0
        }
    }

    /// Whether a text value holds U+0000, which SQLite text cannot hold intact (§3).
    public static func holdsNUL(_ value: Value) -> Bool {
        guard case .text(let text) = value else { return false }
        return text.utf8.contains(0)
    }
}

/// Which values a key column accepts, from its declared type's affinity (protocol §3, Keys).
public enum KeyKind: String, Codable, Sendable {
    /// `INT` in the declared type: integers only.
    case integer
    /// `CHAR`, `CLOB` or `TEXT`: text only.
    case text
    /// No affinity (`BLOB`, or no type): text or integers.
    case any

    /// SQLite's `typeof()` names of the values this kind accepts.
    public var sqliteTypes: [String] {
        switch self {
        case .integer: return ["integer"]
        case .text: return ["text"]
        case .any: return ["integer", "text"]
        }
    }

    public func admits(_ value: Value) -> Bool {
        switch (value, self) {
        case (.integer, .integer), (.text, .text), (.integer, .any), (.text, .any): return true
        default: return false
        }
    }

    /// What a person reads: "integer", "text", "text or integer".
    public var described: String { self == .any ? "text or integer" : rawValue }
}
