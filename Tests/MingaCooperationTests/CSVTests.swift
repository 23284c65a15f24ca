import Foundation
import MingaCooperation
import MingaCore
import MingaStore
import MingaTestSupport
import Testing

@Suite struct CSVTests {
    static func importing(_ csv: String, into table: String, _ r: Replica) throws -> CSVImportSummary {
        try CSVImporter(replica: r).importCSV(Data(csv.utf8), into: table, source: "test.csv")
    }

    /// Text that CSV has to quote, and text that only looks like a number.
    static let tricky: [String] = [
        "Agua potable, saneamiento y \"gestión\" comunitaria",
        "Línea uno\nLínea dos\r\nLínea tres, con coma",
        "Cooperación Sur-Sur 🇲🇽🇨🇱 — 日本語 ñandú",
        "  spaces kept  ",
        "007",
        "\"",
        ",",
    ]

    static func seed(_ r: Replica) throws {
        for (i, title) in tricky.enumerated() {
            try r.put(
                table: "initiative",
                row: [
                    "iati_identifier": .text("XM-DAC-41114-\(i)"),
                    "reporting_org": .text(title),
                    "default_lang": i.isMultiple(of: 2) ? .text("es") : .null,
                    "hierarchy": i == 0 ? .integer(9_007_199_254_740_993) : .integer(Int64(i)),
                    "status": .text("2"),
                    "modality": .text("triangular"),
                    "planned_start": .text("2026-01-1\(i)"),
                ]
            )
            try r.put(
                table: "participation",
                row: [
                    "initiative": .text("XM-DAC-41114-\(i)"), "org_ref": .text("CL-GOV-\(i)"), "iati_role": .text("1"),
                    "segib_role": .text("first provider"), "name": .text(title), "org_type": i == 3 ? .null : .text("10"),
                ]
            )
        }
        for (country, percentage) in [("MX", 0.1), ("CL", 33.333333333333336), ("CO", 1e-300), ("PE", 100.0), ("BO", 1.7976931348623157e308)] {
            try r.put(
                table: "recipient_country",
                row: ["initiative": .text("XM-DAC-41114-0"), "country": .text(country), "percentage": .real(percentage)]
            )
        }
    }

    @Test func exportThenImportIntoAnotherReplicaGivesTheSameDump() throws {
        let (a, dirA) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dirA) }
        let (b, dirB) = try Fixture.cooperationReplica("co.apc")
        defer { try? FileManager.default.removeItem(at: dirB) }
        try Self.seed(a)
        for table in ["initiative", "participation", "recipient_country"] {
            let csv = try CSVExporter(replica: a).export(table: table)
            let summary = try CSVImporter(replica: b).importCSV(csv, into: table)
            #expect(summary.inserted == summary.rows && summary.updated == 0)
            #expect(try CSVExporter(replica: b).export(table: table) == csv, "equal tables export equal bytes")
        }
        #expect(try a.dump() == b.dump())
        #expect(try b.get(table: "initiative", key: [.text("XM-DAC-41114-1")])?.first { $0.0 == "reporting_org" }?.1 == .text(Self.tricky[1]))
    }

    @Test func theExportFormat() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        try r.put(table: "recipient_country", row: ["initiative": .text("B"), "country": .text("MX"), "percentage": .real(0.1)])
        try r.put(table: "recipient_country", row: ["initiative": .text("A"), "country": .text("CL"), "percentage": .null])
        try r.put(table: "recipient_country", row: ["initiative": .text("A, \"b\""), "country": .text("CO"), "percentage": .real(50)])
        let text = String(decoding: try CSVExporter(replica: r).export(table: "recipient_country"), as: UTF8.self)
        #expect(text == "initiative,country,percentage\nA,CL,\n\"A, \"\"b\"\"\",CO,50.0\nB,MX,0.1\n")
    }

    @Test func blobsRealsInIntegerColumnsAndInfinitiesRoundTripInAnySchema() throws {
        let schema = "CREATE TABLE t(k TEXT, n INTEGER, x REAL, b BLOB, d NUMERIC, m INTEGER, PRIMARY KEY (k, n)) WITHOUT ROWID;"
        let a = try Replica.inMemory(nodeID: try NodeID("a"), schemaSQL: schema)
        let b = try Replica.inMemory(nodeID: try NodeID("b"), schemaSQL: schema)
        try a.put(
            table: "t",
            row: ["k": .text("1"), "n": .integer(-9_223_372_036_854_775_808), "x": .real(.infinity), "b": .blob(Data([0, 255, 10, 44, 34]))]
        )
        try a.put(table: "t", row: ["k": .text("2"), "n": .integer(2), "x": .real(-.infinity), "b": .blob(Data()), "d": .real(2.5)])
        try a.put(
            table: "t",
            row: ["k": .text("3"), "n": .integer(3), "x": .real(.leastNonzeroMagnitude), "b": .text("plain text"), "d": .integer(12)]
        )
        try a.writer.write { db in try db.execute(sql: "INSERT INTO t(k, n, m) VALUES ('4', 4, 1.5)") }  // an INTEGER column may hold a real
        let csv = try CSVExporter(replica: a).export(table: "t")
        #expect(String(decoding: csv, as: UTF8.self).contains("base64:AP8KLCI="))
        _ = try CSVImporter(replica: b).importCSV(csv, into: "t")
        #expect(try a.dump() == b.dump())
    }

    @Test func badRowsAreAllReportedByLineAndNothingIsImported() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.seed(r)
        let dump = try r.dump()
        let vector = try r.vector()
        let changes = try Fixture.changeCount(r)
        let csv = #"""
            iati_identifier,reporting_org,hierarchy,status,modality
            XM-NEW-1,"spans
            two lines, ""quoted""",1,2,bilateral
            XM-DAC-41114-0,updated but rolled back,2,3,
            XM-NEW-2,ok,abc,2,
            ,no key,1,2,
            XM-NEW-3,unknown code,1,9,
            XM-NEW-4,"a CHECK constraint
            over
            three lines",1,2,sideways

            XM-NEW-5,too few fields
            XM-NEW-1,repeated key,1,2,
            XM-NEW-6,not a real,1.5.1,2,

            """#
        let error = #expect(throws: CSVImportError.self) { try Self.importing(csv, into: "initiative", r) }
        #expect(error?.badRows.map(\.line) == [5, 6, 7, 8, 12, 13, 14])
        let reasons = Dictionary(uniqueKeysWithValues: (error?.badRows ?? []).map { ($0.line, $0.reason) })
        #expect(reasons[5]?.contains("hierarchy = \"abc\" is not an integer") == true)
        #expect(reasons[6]?.contains("iati_identifier") == true && reasons[6]?.contains("empty") == true)
        #expect(reasons[7]?.contains("\"9\"") == true && reasons[7]?.contains("ActivityStatus") == true)
        #expect(reasons[8]?.contains("CHECK") == true)
        #expect(reasons[12]?.contains("2 fields") == true)
        #expect(reasons[13]?.contains("repeats the key of line 2") == true)
        #expect(error?.description.contains("nothing was imported into initiative") == true)
        #expect(try r.dump() == dump)
        #expect(try r.vector() == vector)
        #expect(try Fixture.changeCount(r) == changes)
    }

    @Test func aBadHeaderIsRefusedWithTheTablesColumns() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.seed(r)
        let dump = try r.dump()
        let vector = try r.vector()
        for (header, problem) in [
            ("iati_identifier,titel", "unknown column \"titel\""),
            ("reporting_org,status", "missing key column iati_identifier"),
            ("iati_identifier,status,status", "named twice: status"),
        ] {
            let error = #expect(throws: MingaError.self) { try Self.importing(header + "\nXM-1,2,2\n", into: "initiative", r) }
            #expect(error?.code == .invalidInput && error?.message.contains(problem) == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("iati_identifier,reporting_org,reporting_org_type") == true)
        }
        let empty = #expect(throws: MingaError.self) { try Self.importing("", into: "initiative", r) }
        #expect(empty?.code == .invalidInput, "\(empty?.message ?? "")")
        let noTable = #expect(throws: MingaError.self) { try Self.importing("a\n", into: "no_such_table", r) }
        #expect(noTable?.code == .invalidInput, "\(noTable?.message ?? "")")
        #expect(try r.dump() == dump && r.vector() == vector)
    }

    @Test func manyBadRowsAreListedUpToFifty() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = "iati_identifier,hierarchy\n" + (1...60).map { "XM-\($0),x\n" }.joined()
        let error = #expect(throws: CSVImportError.self) { try Self.importing(csv, into: "initiative", r) }
        #expect(error?.badRows.count == 60)
        #expect(error?.description.contains("line 51:") == true && error?.description.contains("line 52:") == false)
        #expect(error?.description.hasSuffix("and 10 more") == true)
        #expect(try Fixture.changeCount(r) == 0)
    }

    @Test func reimportingUpdatesInPlaceAndIsCaptured() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = "\u{FEFF}iati_identifier,status,hierarchy\r\nXM-1,2,1\r\nXM-2,2,\r\n"  // a spreadsheet's BOM and CRLF
        #expect(try Self.importing(first, into: "initiative", r) == CSVImportSummary(table: "initiative", inserted: 2, updated: 0))
        let afterFirst = try Fixture.changeCount(r)
        #expect(afterFirst == 2)

        // Same file again: put semantics, nothing new to capture.
        #expect(try Self.importing(first, into: "initiative", r) == CSVImportSummary(table: "initiative", inserted: 0, updated: 2))
        #expect(try Fixture.changeCount(r) == afterFirst)

        // Only the named columns change; the others are left as they were.
        try r.put(table: "initiative", row: ["iati_identifier": .text("XM-1"), "default_lang": .text("es")])
        let beforeUpdate = try Fixture.changeCount(r)
        let summary = try Self.importing("iati_identifier,status\nXM-1,3\nXM-3,1\n", into: "initiative", r)
        #expect(summary.description == "imported 2 rows into initiative (1 new, 1 updated)")
        #expect(try Fixture.changeCount(r) == beforeUpdate + 2)
        let row = try #require(try r.get(table: "initiative", key: [.text("XM-1")]))
        let values = Dictionary(uniqueKeysWithValues: row)
        #expect(values["status"] == .text("3") && values["hierarchy"] == .integer(1) && values["default_lang"] == .text("es"))
        let log = try r.log(table: "initiative", key: [.text("XM-1")])
        #expect(log.last?.change.op == .update && log.last?.change.columns.keys.sorted() == ["status"])
    }

    @Test func exportToAFileAndBack() throws {
        let (a, dirA) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dirA) }
        let (b, dirB) = try Fixture.cooperationReplica("co.apc")
        defer { try? FileManager.default.removeItem(at: dirB) }
        try Self.seed(a)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("minga-csv-\(UUID().uuidString).csv").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try CSVExporter(replica: a).export(table: "participation", to: path)
        #expect(try CSVImporter(replica: b).importCSV(file: path, into: "participation").inserted == Self.tricky.count)
        #expect(try CSVExporter(replica: b).export(table: "participation") == Data(contentsOf: URL(fileURLWithPath: path)))
        let missing = #expect(throws: MingaError.self) { try CSVImporter(replica: b).importCSV(file: path + ".missing", into: "participation") }
        #expect(missing?.code == .failed, "\(missing?.message ?? "")")
    }
}
