import CSV
import Foundation
import MingaCore
import MingaStore

/// Writes one tracked table as CSV that ``CSVImporter`` reads back to the same values.
public struct CSVExporter: Sendable {
    public let replica: Replica

    /// Marks a blob field: CSV has only text, and base64 keeps any bytes intact.
    public static let blobPrefix = "base64:"

    public init(replica: Replica) { self.replica = replica }

    /// The table as CSV: a header of all columns in table order, then rows sorted by key so
    /// that equal tables export equal bytes (and diffs between exports are meaningful).
    public func export(table: String) throws -> Data {
        let shape = try replica.table(named: table)
        let id = { (name: String) in "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        let result = try replica.query(
            "SELECT \(shape.columns.map(id).joined(separator: ", ")) FROM \(id(table)) ORDER BY \(shape.keyColumns.map(id).joined(separator: ", "))"
        )
        let stream = OutputStream.toMemory()
        let writer = try CSVWriter(stream: stream)
        try writer.write(row: shape.columns)
        for row in result.rows { try writer.write(row: row.map(Self.field)) }
        guard var data = stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data else {
            throw MingaError(.failed, "could not write \(table) as CSV")
        }
        data.append(contentsOf: Array("\n".utf8))  // the writer separates rows; a text file ends with a line break
        return data
    }

    /// Writes the table to `path` atomically: a reader never sees half a file, and a failed
    /// export leaves an earlier file in place.
    public func export(table: String, to path: String) throws {
        let data = try export(table: table)
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw MingaError(.failed, "cannot write \(path): \(error.localizedDescription)")
        }
    }

    static func field(_ value: Value) -> String {
        switch value {
        case .null: return ""
        case .integer(let i): return String(i)
        case .real(let d): return "\(d)"  // shortest round-trip; inf and -inf read back too
        case .text(let s): return s
        case .blob(let b): return blobPrefix + b.base64EncodedString()
        }
    }
}
