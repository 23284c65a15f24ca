import Foundation
import MingaCore

/// One row of a CSV file that cannot be imported, and why.
public struct CSVBadRow: Sendable, Hashable, CustomStringConvertible {
    /// The physical line in the file where the row starts, the header being line 1.
    public let line: Int
    public let reason: String

    public var description: String { "line \(line): \(reason)" }
}

/// A CSV file with bad rows: every bad row is listed, and nothing was imported, so the
/// operator fixes them all in one pass and runs the same command again.
public struct CSVImportError: Error, Sendable, CustomStringConvertible {
    public let source: String
    public let table: String
    public let badRows: [CSVBadRow]

    /// How many bad rows the message lists; a file with a systematic mistake would otherwise
    /// print one line per row.
    public static let listed = 50

    public var description: String {
        var text = "\(source): \(counted(badRows.count, "bad row")); nothing was imported into \(table)"
        for row in badRows.prefix(Self.listed) { text += "\n  \(row)" }
        if badRows.count > Self.listed { text += "\n  and \(badRows.count - Self.listed) more" }
        return text
    }
}

/// What an import did.
public struct CSVImportSummary: Sendable, Hashable, CustomStringConvertible {
    public let table: String
    public let inserted: Int
    public let updated: Int

    public init(table: String, inserted: Int, updated: Int) {
        self.table = table
        self.inserted = inserted
        self.updated = updated
    }

    public var rows: Int { inserted + updated }
    public var description: String { "imported \(rows) rows into \(table) (\(inserted) new, \(updated) updated)" }
}
