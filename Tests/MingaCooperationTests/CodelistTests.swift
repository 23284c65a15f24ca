import Foundation
import MingaCooperation
import MingaCore
import MingaStore
import MingaTestSupport
import Testing

@Suite struct CodelistTests {
    @Test func theCooperationSchemaIsTrackedAndItsCodelistsAreReferenceData() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(r.tableNames.contains("initiative") && r.tableNames.contains("flow") && r.tableNames.contains("financing_instrument"))
        #expect(!r.tableNames.contains { $0.hasPrefix("minga_") }, "codelists are not user data")
        #expect(try r.codeName(list: "ActivityStatus", code: "2") == "Implementation")
        #expect(try r.codeName(list: "Country", code: "MX") != nil)
        #expect(try Set(r.query("SELECT DISTINCT list FROM minga_codelist").rows.map { $0[0] }).count == 18)
        let changes = try r.changes(above: VersionVector(), limit: 100, maxBytes: .max)
        let migrations = try Cooperation.migrations.flatMap { try Migration.parse($0) }
        #expect(
            migrations.count == 18 && changes.count == migrations.count && changes.allSatisfy { $0.table == "minga_schema" },
            "the registry's migrations are the only changes: installing reference data captures none"
        )
    }

    @Test func unknownCodesAreRefusedWithFieldValueAndList() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        try r.put(table: "initiative", row: ["iati_identifier": .text("XM-DAC-1-1"), "status": .text("2"), "default_currency": .text("MXN")])
        let error = #expect(throws: MingaError.self) {
            try r.put(table: "initiative", row: ["iati_identifier": .text("XM-DAC-1-2"), "status": .text("9")])
        }
        #expect(
            error?.code == .badContent && error?.message.contains("status") == true && error?.message.contains("\"9\"") == true
                && error?.message.contains("ActivityStatus") == true
        )
        // Sector codes are checked only under the DAC vocabulary; SDG goals under vocabulary 7.
        try r.put(
            table: "classification",
            row: ["initiative": .text("XM-DAC-1-1"), "scheme": .text("sector"), "vocabulary": .text("1"), "code": .text("14030")]
        )
        try r.put(
            table: "classification",
            row: ["initiative": .text("XM-DAC-1-1"), "scheme": .text("sector"), "vocabulary": .text("99"), "code": .text("LOCAL-7")]
        )
        let goal = #expect(throws: MingaError.self) {
            try r.put(
                table: "classification",
                row: ["initiative": .text("XM-DAC-1-1"), "scheme": .text("sector"), "vocabulary": .text("7"), "code": .text("99")]
            )
        }
        #expect(goal?.code == .badContent, "\(goal?.message ?? "")")
        // Rows written by another SQLite client are reported by check.
        try r.writer.write { db in try db.execute(sql: "UPDATE initiative SET default_currency = 'ZZZ' WHERE iati_identifier = 'XM-DAC-1-1'") }
        let violations = try r.codeViolations()
        #expect(violations.count == 1)
        #expect(violations.first?.column == "default_currency" && violations.first?.list == "Currency" && violations.first?.value == "ZZZ")
    }
}
