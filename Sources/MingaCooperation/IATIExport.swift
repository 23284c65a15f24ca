import Foundation
import MingaCore
import MingaStore

/// An initiative the export left out because the IATI 2.03 schema requires something the
/// registry does not hold for it.
public struct IATISkippedActivity: Sendable, Equatable {
    public let identifier: String
    /// What is missing, e.g. "a description", "an activity-status".
    public let missing: [String]

    public init(identifier: String, missing: [String]) {
        self.identifier = identifier
        self.missing = missing
    }
}

/// What an IATI export wrote.
public struct IATIExportResult: Sendable, Equatable {
    public var activities = 0
    public var skipped: [IATISkippedActivity] = []
    /// Values left out of the file or repaired (e.g. a missing value-date taken from the
    /// transaction date), with how often.
    public var notes: [String: Int] = [:]

    public init() {}
}

/// Writes the registry as IATI 2.03 activity XML that validates against the 2.03 schema:
/// every initiative in key order, each as an `iati-activity` with the elements its columns
/// hold and its parts kept as written (protocol/README.md §21), in the order the schema requires.
///
/// What an import reads, an export writes back, so that import → export → import gives the
/// same rows. The registry's own columns that IATI has no element for (SEGIB modality,
/// instrument and roles, SDGs, financing instruments and their members, flows' instruments,
/// organisations' countries) are not written.
///
/// All initiatives are read in one transaction, so the file is one consistent snapshot even
/// while the node syncs; the XML goes to a file first so that a slow reader of the output
/// never holds that transaction open.
public struct IATIExporter {
    public let replica: Replica
    /// The file's `generated-datetime`.
    public var generated: Date
    /// Refuse to write anything if an initiative would be left out.
    public var strict = false

    public init(replica: Replica, generated: Date = Date()) {
        self.replica = replica
        self.generated = generated
    }

    /// Writes the file at `path` atomically: a temporary file next to it, renamed over it once
    /// complete, so that a failure never leaves a partial file (or destroys the previous one).
    @discardableResult
    public func export(toFile path: String) throws -> IATIExportResult {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).minga-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
            let handle = FileHandle(forWritingAtPath: temporary.path)
        else { throw MingaError(.failed, "cannot write \(path): cannot create a file in \(url.deletingLastPathComponent().path)") }
        do {
            let result = try export { chunk in try handle.write(contentsOf: Data(chunk.utf8)) }
            try handle.synchronize()
            try handle.close()
            guard rename(temporary.path, path) == 0 else {
                throw MingaError(.failed, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            return result
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// The whole file as a string (tests, small registries).
    public func exportString() throws -> (xml: String, result: IATIExportResult) {
        var xml = ""
        let result = try export { xml += $0 }
        return (xml, result)
    }

    /// Writes the file in chunks to `sink`.
    public func export(to sink: (String) throws -> Void) throws -> IATIExportResult {
        let identifiers = try replica.query("SELECT iati_identifier FROM initiative ORDER BY iati_identifier").rows.compactMap {
            $0.first?.iatiString
        }
        return try replica.transaction { tx in
            var writer = IATIXMLWriter()
            var result = IATIExportResult()
            var organisationNames: [String: String?] = [:]
            writer.startDocument(generated: generated)
            for identifier in identifiers {
                let id = Value.text(identifier)
                guard let initiative = try tx.rows(table: "initiative", where: "iati_identifier", equals: id).first else { continue }
                var reportingOrgName: String?
                if let ref = initiative["reporting_org"]?.iatiString {
                    if organisationNames[ref] == nil {
                        organisationNames[ref] = try tx.rows(table: "organisation", where: "ref", equals: .text(ref)).first?["name"]?.iatiString
                    }
                    reportingOrgName = organisationNames[ref] ?? nil
                }
                var children: [String: [[String: Value]]] = [:]
                for table in IATIColumns.childTables { children[table] = try tx.rows(table: table, where: "initiative", equals: id) }
                let activity = IATIActivity(initiative: initiative, reportingOrgName: reportingOrgName, children: children)
                let missing = writer.write(activity)
                if missing.isEmpty {
                    result.activities += 1
                } else {
                    result.skipped.append(IATISkippedActivity(identifier: identifier, missing: missing))
                }
                if writer.out.utf8.count > 1 << 16 { try sink(writer.take()) }
            }
            guard result.activities > 0 else {
                throw MingaError(
                    .invalidInput,
                    identifiers.isEmpty
                        ? "the registry holds no initiative; an IATI file needs at least one iati-activity, so none was written"
                        : "none of the \(identifiers.count) initiatives has what the IATI 2.03 schema requires (e.g. \(result.skipped[0].identifier) lacks \(result.skipped[0].missing.joined(separator: ", "))); no file was written"
                )
            }
            if strict, !result.skipped.isEmpty {
                let listed = result.skipped.prefix(10).map { "\($0.identifier) lacks \($0.missing.joined(separator: ", "))" }
                throw MingaError(
                    .invalidInput,
                    "\(result.skipped.count) initiative(s) cannot be written as IATI 2.03: \(listed.joined(separator: "; "))\(result.skipped.count > 10 ? "; …" : ""); nothing was written (without --strict they are left out)"
                )
            }
            writer.endDocument()
            try sink(writer.take())
            result.notes = writer.notes
            return result
        }
    }
}
