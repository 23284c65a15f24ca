import Foundation
import MingaCore
import MingaStore

/// How a field becomes a value: by the column's declared type, with SQLite's affinity rules
/// (https://sqlite.org/datatype3.html §3.1), so a field is typed as SQLite itself would store it.
enum CSVColumnKind: Equatable {
    case integer, real, text, blob

    init(declaredType: String) {
        switch TrackedTable.Affinity(declaredType: declaredType) {
        case .integer: self = .integer
        case .text: self = .text
        case .blob: self = .blob
        case .real: self = .real
        // NUMERIC affinity: SQLite turns well-formed numbers into numbers and keeps the rest
        // as text, which is unambiguous, so the text goes in as is.
        case .numeric: self = .text
        }
    }

    /// What a field of this kind must look like, for the bad-row report.
    var expectation: String {
        switch self {
        case .integer: return "an integer"
        case .real: return "a number"
        case .text: return "text"
        case .blob: return "base64 after `base64:`"
        }
    }

    /// The value of a non-empty field, or `nil` if it cannot be one of this kind.
    func value(of field: String) -> Value? {
        switch self {
        case .integer:
            if let i = Int64(field) { return .integer(i) }
            // An INTEGER column may hold a real (SQLite stores 1.5 as a real there); accepting
            // it lets such a table round-trip. Text such as "abc" is refused.
            return Self.real(field).map(Value.real)
        case .real:
            return Self.real(field).map(Value.real)
        case .text:
            return .text(field)
        case .blob:
            guard field.hasPrefix(CSVExporter.blobPrefix) else { return .text(field) }
            return Data(base64Encoded: String(field.dropFirst(CSVExporter.blobPrefix.count))).map(Value.blob)
        }
    }

    /// A decimal number, `inf` or `-inf` (what the exporter writes); never NaN, which SQLite
    /// would silently store as NULL.
    private static func real(_ field: String) -> Double? {
        guard let d = Double(field), !d.isNaN else { return nil }
        return d
    }
}
