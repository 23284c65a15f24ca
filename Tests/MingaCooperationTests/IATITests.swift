import Foundation
import MingaCooperation
import MingaCore
import MingaStore
import MingaTestSupport
import Testing

@Suite struct IATITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let example = fixtures.appendingPathComponent("activity-standard-example-annotated.xml")
    static let schema = fixtures.appendingPathComponent("schema/iati-activities-schema.xsd")
    static let id = "AA-AAA-123456789-ABC123"

    static func exampleXML() throws -> String { try String(contentsOf: example, encoding: .utf8) }

    static func importing(_ xml: String, into r: Replica) throws -> IATIImportResult {
        try IATIImporter(replica: r).importData(Data(xml.utf8))
    }

    static func rows(_ r: Replica, _ sql: String) throws -> [[Value]] { try r.query(sql).rows }

    /// Validates with Debian's xmllint against the 2.03 schema; a missing xmllint fails the test.
    static func validate(_ xml: String, in dir: URL) throws {
        let xmllint = "/usr/bin/xmllint"
        try #require(FileManager.default.isExecutableFile(atPath: xmllint), "xmllint is missing: apt-get install -y libxml2-utils")
        let file = dir.appendingPathComponent("export-\(UUID().uuidString).xml")
        try Data(xml.utf8).write(to: file)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: xmllint)
        process.arguments = ["--noout", "--schema", schema.path, file.path]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "xmllint: \(output)")
        #expect(output.contains("validates"), "xmllint: \(output)")
    }

    // MARK: Import

    @Test func theStandardsExampleImportsWhole() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try IATIImporter(replica: r).importFile(at: Self.example.path)
        #expect(result.activities == 1)
        #expect(result.rowsWritten == result.inserted && result.updated == 0 && result.deleted == 0)

        let initiative = try #require(try r.get(table: "initiative", key: [.text(Self.id)]))
        let columns = Dictionary(uniqueKeysWithValues: initiative)
        #expect(columns["reporting_org"] == .text("AA-AAA-123456789") && columns["reporting_org_type"] == .text("40"))
        #expect(columns["default_lang"] == .text("en") && columns["default_currency"] == .text("USD"))
        #expect(columns["hierarchy"] == .integer(1) && columns["last_updated"] == .text("2014-09-10T07:15:37Z"))
        #expect(columns["status"] == .text("2") && columns["collaboration_type"] == .text("1"))
        #expect(columns["flow_type"] == .text("10") && columns["finance_type"] == .text("110") && columns["aid_type"] == .text("A01"))
        #expect(columns["planned_start"] == .text("2012-04-15") && columns["actual_start"] == .text("2012-04-28"))
        #expect(columns["planned_end"] == .text("2015-12-31") && columns["actual_end"] == .null)
        #expect(columns["parent"] == .text("AA-AAA-123456789-6789"))

        #expect(
            try Self.rows(r, "SELECT lang, text FROM initiative_text WHERE element = 'title' ORDER BY lang") == [
                [.text("en"), .text("Activity title")], [.text("es"), .text("Título de la actividad")],
                [.text("fr"), .text("Titre de l'activité")],
            ]
        )
        #expect(
            try Self.rows(r, "SELECT element, count(*) FROM initiative_text WHERE element LIKE 'description/%' GROUP BY element") == [
                [.text("description/1"), .integer(2)], [.text("description/2"), .integer(2)], [.text("description/3"), .integer(2)],
            ]
        )
        #expect(
            try Self.rows(r, "SELECT org_ref, iati_role, segib_role, org_type, activity_id, name FROM participation ORDER BY iati_role") == [
                [.text("BB-BBB-123456789"), .text("1"), .text("provider"), .text("40"), .text("BB-BBB-123456789-1234"), .text("Name of Agency B")],
                [.text("CC-CCC-123456789"), .text("2"), .null, .text("10"), .text("CC-CCC-123456789-1234"), .text("Name of Agency C")],
                [.text("AA-AAA-123456789"), .text("3"), .null, .text("21"), .text("AA-AAA-123456789-1234"), .text("Name of Agency A")],
            ]
        )
        #expect(
            try Self.rows(r, "SELECT ref, name, type FROM organisation ORDER BY ref") == [
                [.text("AA-AAA-123456789"), .text("Organisation name"), .text("40")],  // as it reports itself
                [.text("BB-BBB-123456789"), .text("Name of Agency B"), .text("40")],
                [.text("CC-CCC-123456789"), .text("Name of Agency C"), .text("10")],
            ]
        )
        #expect(
            try Self.rows(r, "SELECT country, percentage FROM recipient_country ORDER BY country") == [
                [.text("AF"), .real(25)], [.text("AG"), .real(25)],
            ]
        )
        #expect(
            try Self.rows(r, "SELECT vocabulary, region, percentage FROM recipient_region ORDER BY vocabulary") == [
                [.text("1"), .text("489"), .real(25)], [.text("99"), .text("A1"), .real(25)],
            ]
        )
        #expect(
            try Self.rows(r, "SELECT scheme, vocabulary, code, percentage FROM classification ORDER BY scheme, vocabulary, code") == [
                [.text("sector"), .text("2"), .text("111"), .real(50)], [.text("sector"), .text("2"), .text("112"), .real(50)],
                [.text("sector"), .text("99"), .text("A1"), .real(100)],
                [.text("tag"), .text("1"), .text("1"), .null], [.text("tag"), .text("99"), .text("T1"), .null],
            ]
        )
        #expect(
            try Self.rows(
                r,
                "SELECT id, budget_type, budget_status, period_start, period_end, value, currency, value_date FROM flow WHERE kind = 'budget'"
            ) == [
                [
                    .text("\(Self.id)/budget/1"), .text("1"), .text("1"), .text("2014-01-01"), .text("2014-12-31"), .real(3000), .text("EUR"),
                    .text("2014-01-01"),
                ]
            ]
        )
        #expect(
            try Self.rows(
                r,
                "SELECT id, budget_type, value, provider_org, provider_activity, receiver_org, receiver_activity FROM flow WHERE kind = 'planned-disbursement' ORDER BY id"
            ) == [
                [
                    .text("\(Self.id)/planned-disbursement/1"), .text("1"), .real(3000), .text("BB-BBB-123456789"), .text("BB-BBB-123456789-1234AA"),
                    .text("AA-AAA-123456789"), .text("AA-AAA-123456789-1234"),
                ],
                [.text("\(Self.id)/planned-disbursement/2"), .text("1"), .real(3000), .null, .null, .null, .null],
            ]
        )
        #expect(
            try Self.rows(
                r,
                "SELECT id, ref, transaction_type, transaction_date, value, currency, value_date, description, provider_org, provider_activity, receiver_org, receiver_activity FROM flow WHERE kind = 'transaction'"
            ) == [
                [
                    .text("\(Self.id)/transaction/1234"), .text("1234"), .text("1"), .text("2012-01-01"), .real(1000), .text("EUR"),
                    .text("2012-01-01"),
                    .text("Transaction description text"), .text("BB-BBB-123456789"), .text("BB-BBB-123456789-1234AA"), .text("AA-AAA-123456789"),
                    .text("AA-AAA-123456789-1234"),
                ]
            ]
        )

        // Results, locations, document-links, policy markers and a transaction's details as columns.
        #expect(
            try Self.rows(r, "SELECT result_no, type, aggregation_status, title FROM result") == [
                [.integer(1), .text("1"), .text("1"), .text("Result title")]
            ]
        )
        #expect(
            try Self.rows(r, "SELECT measure, ascending, title, baseline_year, baseline_date, baseline_value FROM result_indicator") == [
                [.text("1"), .text("1"), .text("Indicator title"), .text("2012"), .text("2012-01-01"), .real(10)]
            ]
        )
        #expect(
            try Self.rows(r, "SELECT period_start, period_end, target, actual FROM indicator_period") == [
                [.text("2013-01-01"), .text("2013-03-31"), .real(10), .real(11)]
            ]
        )
        #expect(
            try Self.rows(r, "SELECT location_no, ref, name, point FROM location") == [
                [.integer(1), .text("AF-KAN"), .text("Location name"), .text("31.616944 65.716944")],
                [.integer(2), .text("KH-PNH"), .text("Location #2 name"), .text("11.5500 104.9167")],
            ]
        )
        #expect(
            try Self.rows(r, "SELECT url, category, language, document_date FROM document_link") == [
                [.text("http:www.example.org/docs/report_en.odt"), .text("A01"), .text("en"), .text("2014-02-05")]
            ]
        )
        #expect(
            try Self.rows(r, "SELECT vocabulary, code, significance FROM policy_marker") == [
                [.text("1"), .text("2"), .text("3")], [.text("1"), .text("9"), .text("4")], [.text("99"), .text("A1"), .text("3")],
            ]
        )
        #expect(
            try Self.rows(
                r,
                "SELECT humanitarian, sector, recipient_country, flow_type, finance_type, aid_type, tied_status FROM flow WHERE kind = 'transaction'"
            ) == [
                [.text("1"), .text("111"), .text("TM"), .text("10"), .text("110"), .text("A01"), .text("3")]
            ]
        )

        // What no column holds is kept as written, one iati_part row per element, and reported.
        #expect(result.unheld == ["iati-activities/@linked-data-default": 1], "only what is outside every activity is not imported")
        #expect(
            try Self.rows(r, "SELECT path, own, attributes FROM iati_part WHERE path GLOB 'result(1)/indicator(1)/period(1)/target/dimension*'") == [
                [.text("result(1)/indicator(1)/period(1)/target/dimension[1]"), .integer(1), .text(#"{"name":"sex","value":"female"}"#)],
                [.text("result(1)/indicator(1)/period(1)/target/dimension[2]"), .integer(1), .text(#"{"name":"age","value":"adult"}"#)],
            ]
        )
        #expect(
            try Self.rows(r, "SELECT path, own, attributes FROM iati_part WHERE path GLOB 'transaction(1234)/aid-type*'") == [
                [.text("transaction(1234)/aid-type"), .integer(0), .text(#"{"vocabulary":"1"}"#)],
                [.text("transaction(1234)/aid-type[1]"), .integer(1), .text(#"{"code":"1","vocabulary":"2"}"#)],
            ],
            "a written default vocabulary, and the second aid-type (another vocabulary)"
        )
        for path in [
            "iati-activity/contact-info", "iati-activity/crs-add", "iati-activity/fss", "iati-activity/other-identifier",
            "iati-activity/@humanitarian", "iati-activity/default-aid-type[@vocabulary!='1']",
            "iati-activity/result/indicator/period/target/dimension",
        ] {
            #expect(result.verbatim[path] != nil, "\(path) is reported")
        }
        #expect(result.verbatim.keys.allSatisfy { !$0.hasPrefix("iati-activity/title") && !$0.hasPrefix("iati-activity/budget") })
    }

    @Test func whatHasNoPlaceInTheRegistryIsReportedNotDropped() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        let xml = """
            <iati-activities version="2.01" xmlns:usg="http://www.usaid.gov/">
             <iati-activity xml:lang="en">
              <iati-identifier> XM-1 </iati-identifier>
              <reporting-org ref="XM" type="10">Written 1.x style</reporting-org>
              <title><narrative>One</narrative><narrative xml:lang="en">Two</narrative></title>
              <description><narrative>ok</narrative></description>
              <participating-org role="4"><narrative>No ref</narrative></participating-org>
              <activity-status code="2"/>
              <usg:treasury-account>019</usg:treasury-account>
             </iati-activity>
             <iati-activity><iati-identifier>XM-1</iati-identifier><activity-status code="3"/></iati-activity>
            </iati-activities>
            """
        let result = try Self.importing(xml, into: r)
        #expect(
            result.verbatim == [
                "iati-activity/reporting-org/text()": 1,
                "iati-activity/title/narrative (repeated language)": 1,
                "iati-activity/participating-org[not(@ref)]": 1,
                "iati-activity/usg:treasury-account": 1,
            ]
        )
        #expect(result.unheld == ["iati-activity (repeated iati-identifier: the last one is kept)": 1])
        // The later activity with the same identifier replaced the earlier one's rows.
        #expect(try Self.rows(r, "SELECT iati_identifier, status FROM initiative") == [[.text("XM-1"), .text("3")]])
        #expect(try Self.rows(r, "SELECT count(*) FROM initiative_text") == [[.integer(0)]])
        #expect(try Self.rows(r, "SELECT ref, name FROM organisation") == [[.text("XM"), .text("XM")]])
    }

    @Test func reimportingAnUpdatedFileUpdatesInPlaceAndIsCaptured() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = try Self.exampleXML()
        _ = try Self.importing(original, into: r)
        let afterFirst = try Fixture.changeCount(r)
        #expect(afterFirst > 0)

        // The same file again: nothing changes, nothing is recorded.
        let again = try Self.importing(original, into: r)
        #expect(again.rowsWritten == 0 && again.unchanged > 0)
        #expect(try Fixture.changeCount(r) == afterFirst)

        // A registry-only column survives re-imports.
        try r.put(table: "initiative", row: ["iati_identifier": .text(Self.id), "modality": .text("triangular")])
        let start = original.range(of: "<transaction ref=\"1234\"")!.lowerBound
        let end = original.range(of: "</transaction>")!.upperBound
        var modified = original.replacingCharacters(in: start..<end, with: "")
        modified = modified.replacingOccurrences(
            of: "<narrative>Activity title</narrative>",
            with: "<narrative>Activity title &amp; more</narrative>"
        )
        modified = modified.replacingOccurrences(of: "<recipient-country code=\"AG\" percentage=\"25\" />", with: "")
        modified = modified.replacingOccurrences(of: "<activity-date iso-date=\"2012-04-28\" type=\"2\" />", with: "")
        let before = try Fixture.changeCount(r)
        // The parts of the transaction and of AG (their other attributes, sectors, narratives …) go with them.
        let goneParts = try Self.rows(r, "SELECT count(*) FROM iati_part WHERE path GLOB 'transaction(1234)*' OR path GLOB 'recipient-country(AG)*'")
        guard case .integer(let partCount)? = goneParts.first?.first, partCount > 5 else {
            Issue.record("\(goneParts)")
            return
        }
        let result = try Self.importing(modified, into: r)
        #expect(result.deleted == 2 + Int(partCount) && result.updated == 2, "transaction and AG gone; title and actual_start changed")
        #expect(try Fixture.changeCount(r) == before + 4 + Int(partCount))
        #expect(try Self.rows(r, "SELECT count(*) FROM iati_part WHERE path GLOB 'transaction(1234)*'") == [[.integer(0)]])
        #expect(try r.get(table: "flow", key: [.text("\(Self.id)/transaction/1234")]) == nil)
        #expect(try r.get(table: "recipient_country", key: [.text(Self.id), .text("AG")]) == nil)
        #expect(try Self.rows(r, "SELECT text FROM initiative_text WHERE element = 'title' AND lang = 'en'") == [[.text("Activity title & more")]])
        #expect(try Self.rows(r, "SELECT actual_start, modality FROM initiative") == [[.null, .text("triangular")]])
        let changes = try r.changes(above: VersionVector(), limit: 1_000_000, maxBytes: .max)
        #expect(changes.contains { $0.table == "flow" && $0.op == .delete && $0.key == [.text("\(Self.id)/transaction/1234")] })
    }

    @Test func aBadFileChangesNothing() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try Self.importing(Self.generated(count: 3), into: r)
        let dump = try r.dump()
        let vector = try r.vector()

        // Strict: an unknown code in the second of three activities; the first is rolled back too.
        let badCode = Self.generated(
            count: 3,
            tweak: { i, xml in
                i == 1 ? xml.replacingOccurrences(of: "<activity-status code=\"2\"/>", with: "<activity-status code=\"9\"/>") : xml
            }
        )
        let codeError = #expect(throws: MingaError.self) { try IATIImporter(replica: r, strict: true).importData(Data(badCode.utf8)) }
        let message = codeError?.message ?? ""
        #expect(codeError?.code == .badContent)
        #expect(message.contains("activity XM-DAC-41114-TEST-1") && message.contains("activity-status"), "\(message)")
        #expect(message.contains("\"9\"") && message.contains("ActivityStatus") && message.contains("line "), "\(message)")

        // Malformed XML halfway: the file breaks off inside the third activity.
        let full = Self.generated(count: 3)
        let truncated = String(full[..<full.range(of: "XM-DAC-41114-TEST-2</iati-identifier>")!.upperBound])
        let xmlError = #expect(throws: MingaError.self) { try Self.importing(truncated, into: r) }
        #expect(
            xmlError?.code == .invalidInput && xmlError?.message.contains("line ") == true
                && xmlError?.message.contains("XM-DAC-41114-TEST-2") == true,
            "\(xmlError?.message ?? "")"
        )
        let mismatched = full.replacingOccurrences(of: "</title>", with: "</titel>")
        let mismatchedError = #expect(throws: MingaError.self) { try Self.importing(mismatched, into: r) }
        #expect(mismatchedError?.code == .invalidInput, "\(mismatchedError?.message ?? "")")
        // A missing value, an unknown activity-date type, a file that is not IATI, an empty file.
        for (name, xml) in [
            ("a missing value", full.replacingOccurrences(of: ">1500.5</value>", with: "></value>")),
            ("an unknown activity-date type", full.replacingOccurrences(of: "<activity-date type=\"1\"", with: "<activity-date type=\"7\"")),
            ("an organisation file", "<iati-organisations version=\"2.03\"/>"),
            ("an empty file", ""),
        ] {
            let error = #expect(throws: MingaError.self, "\(name)") { try Self.importing(xml, into: r) }
            #expect(error?.code == .invalidInput, "\(name): \(error?.message ?? "")")
        }
        // An IATI 1.x file stays refused, saying what to do.
        let old = full.replacingOccurrences(of: "version=\"2.03\"", with: "version=\"1.05\"")
        let oldError = #expect(throws: MingaError.self) { try Self.importing(old, into: r) }
        #expect(
            oldError?.code == .invalidInput && oldError?.message.contains("IATI version 1.05") == true
                && oldError?.message.contains("convert 1.x files to 2.03") == true,
            "\(oldError?.message ?? "")"
        )

        #expect(try r.dump() == dump)
        #expect(try r.vector() == vector)
    }

    @Test func anUnknownCodeIsImportedCountedAndListedByCheck() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A publisher's "RD" for the Dominican Republic (DO), and an activity status that does not exist.
        let xml = Self.generated(
            count: 3,
            tweak: { i, xml in
                var xml = xml.replacingOccurrences(of: "<recipient-country code=\"", with: "<recipient-country code=\"R")
                if i == 2 { xml = xml.replacingOccurrences(of: "<activity-status code=\"2\"/>", with: "<activity-status code=\"9\"/>") }
                return xml
            }
        )
        let result = try Self.importing(xml, into: r)
        #expect(result.activities == 3)
        #expect(result.unknownCodes["ActivityStatus"] == 1, "\(result.unknownCodes)")
        #expect((result.unknownCodes["Country"] ?? 0) >= 3, "\(result.unknownCodes)")
        #expect(result.unknownCodeExamples["ActivityStatus"]?.contains("activity-status") == true)
        #expect(try Self.rows(r, "SELECT status FROM initiative WHERE iati_identifier = 'XM-DAC-41114-TEST-2'") == [[.text("9")]])
        let listed = try r.codeViolations()
        #expect(listed.contains { $0.list == "ActivityStatus" && $0.value == "9" })
        #expect(listed.filter { $0.list == "Country" }.count == result.unknownCodes["Country"])
        // The export writes them back as they came: the schema does not check codes.
        let (exported, _) = try IATIExporter(replica: r).exportString()
        try Self.validate(exported, in: dir)
    }

    /// A value is exported as the file wrote it (`215000.50`, `50.0`) until the registry's
    /// column is edited to another value: then the column wins, in the export's own spelling.
    @Test func valuesKeepTheirSpellingUntilEdited() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        let xml = """
            <iati-activities version="2.03"><iati-activity xml:lang="es" default-currency="USD">
             <iati-identifier>XM-1</iati-identifier><reporting-org ref="XM" type="10"><narrative>XM</narrative></reporting-org>
             <title><narrative>Uno</narrative></title><description><narrative>D</narrative></description>
             <participating-org ref="XM" role="1"/><activity-status code="2"/><activity-date type="1" iso-date="2024-01-01"/>
             <recipient-country code="DO" percentage="50.0"/><recipient-country code="HT" percentage="50.0"/>
             <transaction><transaction-type code="2"/><transaction-date iso-date="2024-02-01"/>
              <value value-date="2024-02-01">215000.50</value></transaction>
            </iati-activity></iati-activities>
            """
        _ = try Self.importing(xml, into: r)
        #expect(try Self.rows(r, "SELECT value FROM flow") == [[.real(215000.5)]], "the column holds the number")
        var out = try IATIExporter(replica: r).exportString().xml
        #expect(out.contains(">215000.50</value>") && out.contains(#"code="DO" percentage="50.0""#), "\(out)")

        try r.put(table: "flow", row: ["id": .text("XM-1/transaction/1"), "value": .real(9.25)])
        try r.put(table: "recipient_country", row: ["initiative": .text("XM-1"), "country": .text("DO"), "percentage": .real(60)])
        out = try IATIExporter(replica: r).exportString().xml
        #expect(
            out.contains(">9.25</value>") && out.contains(#"code="DO" percentage="60""#) && out.contains(#"code="HT" percentage="50.0""#),
            "\(out)"
        )
    }

    /// Parts are rows anyone can write (the sqlite3 shell, a peer): what XML could not carry as
    /// it stands is left out and noted, and the file stays well-formed and schema-valid.
    @Test func partsThatXMLCannotCarryAreLeftOutNotWritten() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try Self.importing(Self.generated(count: 1), into: r)
        let id = Value.text("XM-DAC-41114-TEST-0")
        func part(_ path: String, _ attributes: String?, own: Int64 = 1) throws {
            try r.put(
                table: "iati_part",
                row: ["initiative": id, "path": .text(path), "own": .integer(own), "attributes": attributes.map(Value.text) ?? .null]
            )
        }
        try part("activity-scope[1]", #"{"code":"4","x=\"1\"/><injected a":"2"}"#)  // an attribute name that would inject markup
        try part("activity-scope[2]", #"{"a b":"1"}"#)
        try part("foo:bar[1]", #"{"foo:x":"1"}"#)  // a prefix nobody declares
        try part("bogus[1]", nil)  // not IATI's, in no namespace
        try part("iati-identifier", #"{"xmlns":"http://evil.example"}"#, own: 0)  // moving a held element out of IATI
        try part("ext:note[1]", #"{"xmlns:ext":"http://example.org/ext","ext:k":"v"}"#)  // a proper extension: kept
        let (xml, result) = try IATIExporter(replica: r).exportString()
        try Self.validate(xml, in: dir)
        #expect(!xml.contains("injected") && !xml.contains("bogus") && !xml.contains("foo:") && !xml.contains("evil"), "\(xml)")
        #expect(xml.contains(#"<ext:note xmlns:ext="http://example.org/ext" ext:k="v"/>"#), "\(xml)")
        #expect(result.notes.filter { $0.key.contains("XML cannot carry") }.values.reduce(0, +) == 4, "\(result.notes)")
        #expect(result.notes.contains { $0.key.contains("<bogus>") }, "\(result.notes)")
    }

    /// An edit that leaves an element without what the 2.03 schema requires (a result's title,
    /// an indicator's measure, a point's reference system …) leaves that element out, noted;
    /// the rest of the activity is written, and the file validates.
    @Test func anElementAnEditLeftIncompleteIsLeftOutAndNoted() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try Self.importing(try Self.exampleXML(), into: r)
        try r.put(
            table: "result_indicator",
            row: ["initiative": .text(Self.id), "result_no": .integer(1), "indicator_no": .integer(1), "measure": .null]
        )
        try r.put(table: "document_link", row: ["initiative": .text(Self.id), "link_no": .integer(2), "url": .text("https://example.org/x.pdf")])
        try r.put(table: "location", row: ["initiative": .text(Self.id), "location_no": .integer(3), "ref": .text("NEW"), "point": .text("1.5 2.5")])
        let (xml, result) = try IATIExporter(replica: r).exportString()
        try Self.validate(xml, in: dir)
        #expect(result.activities == 1)
        #expect(result.notes["result/indicator without @measure, which the IATI 2.03 schema requires (left out)"] == 1, "\(result.notes)")
        #expect(
            result.notes["result without indicator, which the IATI 2.03 schema requires (left out)"] == 1,
            "its only indicator gone, the result goes: \(result.notes)"
        )
        #expect(
            result.notes["document-link without @format, title, category, which the IATI 2.03 schema requires (left out)"] == 1,
            "\(result.notes)"
        )
        #expect(
            xml.contains(#"<location ref="NEW">"#) && xml.contains(#"srsName="http://www.opengis.net/def/crs/EPSG/0/4326""#),
            "a new point gets WGS 84's name"
        )
    }

    @Test func aDeclaredEntityOrADeepNestRefusesTheFile() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = Self.generated(count: 1)
        let entity = full.replacingOccurrences(of: "<iati-activities", with: "<!DOCTYPE iati-activities [<!ENTITY e \"TEXT\">]>\n<iati-activities")
            .replacingOccurrences(of: "<narrative>AMEXCID</narrative>", with: "<narrative>A &e; B</narrative>")
        let entityError = #expect(throws: MingaError.self) { try Self.importing(entity, into: r) }
        #expect(entityError?.code == .invalidInput && entityError?.message.contains("declares entities") == true, "\(entityError?.message ?? "")")
        let deep = full.replacingOccurrences(
            of: "</iati-activity>",
            with: String(repeating: "<x:d xmlns:x=\"http://example.org/x\">", count: 40)
                + String(repeating: "</x:d>", count: 40) + "</iati-activity>"
        )
        let deepError = #expect(throws: MingaError.self) { try Self.importing(deep, into: r) }
        #expect(deepError?.code == .invalidInput && deepError?.message.contains("nested more than 32 levels") == true, "\(deepError?.message ?? "")")
        #expect(try Fixture.changeCount(r) == 0)
    }

    /// A target no column can hold as a number ("130,000.00", as a real publisher wrote it) is
    /// exported as written, with its comment; once an agency enters the number, that replaces it.
    @Test func aTargetThatIsNoNumberIsKeptUntilOneIsEntered() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        var xml = try Self.exampleXML()
        xml = xml.replacingOccurrences(of: "<target value=\"10\">", with: "<target value=\"130,000.00\">")
        _ = try Self.importing(xml, into: r)
        #expect(try Self.rows(r, "SELECT target FROM indicator_period") == [[.null]])
        var out = try IATIExporter(replica: r).exportString()
        #expect(out.xml.contains(#"<target value="130,000.00">"#) && out.xml.contains("Target comment text"), "\(out.xml)")
        try r.put(
            table: "indicator_period",
            row: [
                "initiative": .text(Self.id), "result_no": .integer(1), "indicator_no": .integer(1),
                "period_no": .integer(1), "target": .real(130_000),
            ]
        )
        out = try IATIExporter(replica: r).exportString()
        #expect(
            out.xml.contains(#"<target value="130000">"#) && !out.xml.contains("130,000.00") && out.xml.contains("Target comment text"),
            "\(out.xml)"
        )
        #expect(out.xml.components(separatedBy: "<target ").count == 2, "one target")
        try Self.validate(out.xml, in: dir)
    }

    /// A cleared column does not bring its file spelling back; no part's namespace
    /// declarations or attribute values make the export not well-formed or not valid; and one
    /// organisation named two ways in a file keeps both names, so importing it again writes nothing.
    @Test func clearedColumnsStayClearedAndPartsStayValid() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        let xml = Self.generated(count: 2).replacingOccurrences(of: #"code="CO" percentage="100""#, with: #"code="CO" percentage="100.0""#)
        _ = try Self.importing(xml, into: r)
        let id = Value.text("XM-DAC-41114-TEST-0")
        #expect(
            try Self.rows(r, "SELECT spelling FROM iati_part WHERE initiative = 'XM-DAC-41114-TEST-0' AND path = 'recipient-country(CO)'")
                == [[.text(#"{"percentage":"100.0"}"#)]]
        )
        try r.put(table: "recipient_country", row: ["initiative": id, "country": .text("CO"), "percentage": .null])
        func part(_ path: String, _ attributes: String, text: String? = nil, own: Int64 = 1) throws {
            try r.put(
                table: "iati_part",
                row: [
                    "initiative": id, "path": .text(path), "own": .integer(own), "attributes": .text(attributes),
                    "text": text.map(Value.text) ?? .null,
                ]
            )
        }
        try part("usg:x[1]", #"{"xmlns:foo":"","xmlns:usg":"http://u"}"#)  // undeclaring a prefix
        try part("usg:y[1]", #"{"xmlns:usg":"http://www.w3.org/XML/1998/namespace"}"#)  // binding the xml namespace
        try part("usg:z[1]", #"{"xmlns:usg":"http://u","xmlns:u2":"http://u","usg:a":"1","u2:a":"2"}"#)  // one expanded name twice
        try part("", #"{"humanitarian":"maybe","bogus":"1"}"#, own: 0)  // not a boolean; not IATI's
        try part("activity-status", "{}", text: "Implementation", own: 0)  // text where the schema has none
        let (out, result) = try IATIExporter(replica: r).exportString()
        try Self.validate(out, in: dir)
        #expect(out.components(separatedBy: #"percentage="100.0""#).count == 2, "only the activity whose column still holds 100 spells it 100.0")
        #expect(!out.contains("usg:") && !out.contains("maybe") && !out.contains("bogus") && !out.contains(">Implementation<"), "\(out)")
        #expect(result.notes.keys.contains("@humanitarian on <iati-activity> that is no xsd:boolean (left out)"), "\(result.notes)")
        #expect(result.notes.keys.contains("text in <activity-status>, which holds none in the IATI 2.03 schema (left out)"), "\(result.notes)")

        // Two activities naming their reporting organisation differently: the first describes it,
        // the second keeps its own name; importing the file again writes nothing.
        let named = Self.generated(
            count: 2,
            tweak: { i, xml in
                i == 1 ? xml.replacingOccurrences(of: "<narrative>AMEXCID</narrative>", with: "<narrative>Agencia Mexicana</narrative>") : xml
            }
        )
        _ = try Self.importing(named, into: r)
        #expect(try Self.importing(named, into: r).rowsWritten == 0)
        let again = try IATIExporter(replica: r).exportString().xml
        #expect(again.contains("<narrative>AMEXCID</narrative>") && again.contains("<narrative>Agencia Mexicana</narrative>"))
    }

    @Test func cdataLineEndsAreXMLsAndANameInAnotherLanguageIsNotRelabelled() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        let xml =
            "<iati-activities version=\"2.03\">\r\n<iati-activity xml:lang=\"es\" default-currency=\"USD\">\r\n"
            + "<iati-identifier>XM-DAC-41114-CR</iati-identifier>\r\n<reporting-org ref=\"XM-DAC-41114\" type=\"40\"><narrative>PNUD</narrative></reporting-org>\r\n"
            + "<title><narrative>Agua</narrative></title>\r\n"
            + "<description><narrative><![CDATA[Primera línea\r\nsegunda & <tercera>\rcuarta]]></narrative></description>\r\n"
            + "<participating-org ref=\"CO-NIT-1\" role=\"4\"><narrative xml:lang=\"en\">Water board</narrative></participating-org>\r\n"
            + "<activity-status code=\"2\"/>\r\n<activity-date type=\"1\" iso-date=\"2024-01-01\"/>\r\n"
            + "</iati-activity>\r\n</iati-activities>\r\n"
        let result = try Self.importing(xml, into: r)
        #expect(
            try Self.rows(r, "SELECT text FROM initiative_text WHERE element LIKE 'description%'") == [
                [.text("Primera línea\nsegunda & <tercera>\ncuarta")]
            ]
        )
        #expect(try Self.rows(r, "SELECT name FROM participation") == [[.null]], "an English name is not kept as the Spanish one")
        #expect(result.verbatim["iati-activity/participating-org/narrative (other languages)"] == 1, "\(result.verbatim)")
        #expect(
            try Self.rows(r, "SELECT path, attributes, text FROM iati_part WHERE path GLOB 'participating-org*'") == [
                [.text("participating-org(CO-NIT-1,4)/narrative[1]"), .text(#"{"xml:lang":"en"}"#), .text("Water board")]
            ],
            "kept as written, in its language"
        )
        #expect(
            try Self.rows(r, "SELECT path, text FROM iati_part WHERE path GLOB 'reporting-org*'") == [
                [.text("reporting-org/narrative[1]"), .text("PNUD")]
            ],
            "the activity's own name for its reporting organisation (the organisation row is shared)"
        )
    }

    // MARK: Export

    @Test func theExportValidatesAgainstTheSchema() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try IATIImporter(replica: r).importFile(at: Self.example.path)
        _ = try Self.importing(Self.generated(count: 5), into: r)
        let (xml, result) = try IATIExporter(replica: r).exportString()
        #expect(result.activities == 6 && result.skipped.isEmpty)
        try Self.validate(xml, in: dir)

        // Written atomically to a file, the same bytes.
        let file = dir.appendingPathComponent("registry.xml")
        let generated = Date(timeIntervalSince1970: 1_700_000_000)
        let exporter = IATIExporter(replica: r, generated: generated)
        try exporter.export(toFile: file.path)
        #expect(try String(contentsOf: file, encoding: .utf8) == exporter.exportString().xml)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".minga-") }.isEmpty)
    }

    @Test func initiativesTheSchemaCannotCarryAreLeftOutAndListed() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try Self.importing(Self.generated(count: 2), into: r)
        try r.put(table: "initiative", row: ["iati_identifier": .text("XM-DAC-41114-BARE"), "status": .text("2")])
        // Values that cannot be written as they are: a date-time as a date, a flow without value-date.
        try r.put(table: "initiative", row: ["iati_identifier": .text("XM-DAC-41114-TEST-0"), "planned_end": .text("2020-12-31T00:00:00Z")])
        try r.put(
            table: "flow",
            row: [
                "id": .text("XM-DAC-41114-TEST-0/transaction/x"), "initiative": .text("XM-DAC-41114-TEST-0"),
                "kind": .text("transaction"), "ref": .text("x"), "transaction_type": .text("3"), "value": .real(1e20),
                "transaction_date": .text("2020-01-01"),
            ]
        )
        let (xml, result) = try IATIExporter(replica: r).exportString()
        #expect(result.activities == 2)
        #expect(
            result.skipped == [
                IATISkippedActivity(
                    identifier: "XM-DAC-41114-BARE",
                    missing: [
                        "a reporting-org (initiative.reporting_org is empty)", "a title", "a description", "a participating-org", "an activity-date",
                    ]
                )
            ]
        )
        #expect(result.notes["transaction without value-date (the transaction-date was written)"] == 1)
        #expect(result.notes["activity-date given as a date-time (its date part was written)"] == 1)
        #expect(xml.contains(">100000000000000000000</value>"))
        try Self.validate(xml, in: dir)

        var strict = IATIExporter(replica: r)
        strict.strict = true
        let file = dir.appendingPathComponent("strict.xml")
        let error = #expect(throws: MingaError.self) { try strict.export(toFile: file.path) }
        #expect(error?.code == .invalidInput && error?.message.contains("XM-DAC-41114-BARE lacks") == true)
        #expect(!FileManager.default.fileExists(atPath: file.path))

        let (empty, emptyDir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: emptyDir) }
        let nothing = #expect(throws: MingaError.self) { try IATIExporter(replica: empty).exportString() }
        #expect(nothing?.code == .invalidInput, "\(nothing?.message ?? "")")
    }

    // MARK: Round trip

    @Test func importExportImportGivesTheSameRows() throws {
        for xml in [try Self.exampleXML(), Self.generated(count: 20), Self.edgeCases] {
            let (a, dirA) = try Fixture.cooperationReplica("mx.amexcid")
            let (b, dirB) = try Fixture.cooperationReplica("co.apc")
            defer {
                try? FileManager.default.removeItem(at: dirA)
                try? FileManager.default.removeItem(at: dirB)
            }
            _ = try Self.importing(xml, into: a)
            let exported = try IATIExporter(replica: a).exportString()
            #expect(exported.result.skipped.isEmpty && exported.result.notes.isEmpty, "\(exported.result)")
            try Self.validate(exported.xml, in: dirA)
            let again = try Self.importing(exported.xml, into: b)
            #expect(again.unheld.isEmpty, "the export holds only what the registry holds: \(again.unheld)")
            #expect(try b.dump() == a.dump())
            // And importing the export back into the first replica changes nothing.
            let back = try Self.importing(exported.xml, into: a)
            #expect(back.rowsWritten == 0)
        }
    }

    // MARK: Scale

    @Test func twoThousandActivitiesImportInOneTransaction() throws {
        let (r, dir) = try Fixture.cooperationReplica()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("big.xml")
        try Data(Self.generated(count: 2_000, lean: true).utf8).write(to: file)
        var progress: [Int] = []
        let clock = ContinuousClock()
        var result = IATIImportResult()
        let elapsed = try clock.measure {
            result = try IATIImporter(replica: r).importFile(at: file.path) { progress.append($0) }
        }
        #expect(result.activities == 2_000)
        #expect(progress.count == 2_000 && progress.last == 2_000)
        #expect(try Self.rows(r, "SELECT count(*) FROM initiative") == [[.integer(2_000)]])
        #expect(try Self.rows(r, "SELECT count(*) FROM flow") == [[.integer(2_000)]])
        // About 10 s in a debug build on two cores; the bound only catches a pathological slowdown.
        #expect(elapsed < .seconds(60), "imported 2,000 activities in \(elapsed)")
        let (xml, exported) = try IATIExporter(replica: r).exportString()
        #expect(exported.activities == 2_000)
        try Self.validate(xml, in: dir)
    }

    // MARK: Test data

    /// `count` activities in the shape Minga's partners publish, numbered from 0; `tweak`
    /// may rewrite one activity's XML. A `lean` activity has only what the schema requires and
    /// one transaction (five rows instead of fifteen).
    static func generated(count: Int, lean: Bool = false, tweak: (Int, String) -> String = { $1 }) -> String {
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<iati-activities version=\"2.03\" generated-datetime=\"2024-03-01T12:00:00Z\">\n"
        for i in 0..<count where lean {
            xml += """
                 <iati-activity xml:lang="es" default-currency="MXN">
                  <iati-identifier>XM-DAC-41114-LEAN-\(i)</iati-identifier>
                  <reporting-org ref="XM-DAC-41114" type="10"><narrative>AMEXCID</narrative></reporting-org>
                  <title><narrative>Cooperación técnica \(i)</narrative></title>
                  <description><narrative>Intercambio de experiencias, fase \(i).</narrative></description>
                  <participating-org ref="CO-1-830115297" role="4" type="10"><narrative>APC-Colombia</narrative></participating-org>
                  <activity-status code="2"/>
                  <activity-date type="1" iso-date="2024-01-15"/>
                  <transaction>
                   <transaction-type code="3"/><transaction-date iso-date="2024-03-01"/>
                   <value value-date="2024-03-01">\(i).5</value>
                  </transaction>
                 </iati-activity>

                """
        }
        for i in 0..<count where !lean {
            xml += tweak(
                i,
                """
                 <iati-activity xml:lang="es" default-currency="MXN" last-updated-datetime="2024-02-\(String(format: "%02d", i % 28 + 1))T10:00:00Z">
                  <iati-identifier>XM-DAC-41114-TEST-\(i)</iati-identifier>
                  <reporting-org ref="XM-DAC-41114" type="10"><narrative>AMEXCID</narrative></reporting-org>
                  <title><narrative>Cooperación técnica \(i)</narrative><narrative xml:lang="en">Technical cooperation \(i)</narrative></title>
                  <description type="1"><narrative>Intercambio de experiencias en gestión del agua, fase \(i).</narrative></description>
                  <participating-org ref="XM-DAC-41114" role="1" type="10"><narrative>AMEXCID</narrative></participating-org>
                  <participating-org ref="CO-1-830115297" role="4" type="10"><narrative>APC-Colombia</narrative></participating-org>
                  <activity-status code="2"/>
                  <activity-date type="1" iso-date="2024-01-15"/>
                  <recipient-country code="CO" percentage="100"/>
                  <sector vocabulary="1" code="14030" percentage="100"/>
                  <collaboration-type code="1"/>
                  <budget type="1" status="2">
                   <period-start iso-date="2024-01-01"/><period-end iso-date="2024-12-31"/>
                   <value currency="USD" value-date="2024-01-01">25000</value>
                  </budget>
                  <transaction ref="C-\(i)">
                   <transaction-type code="2"/><transaction-date iso-date="2024-01-20"/>
                   <value value-date="2024-01-20">1500.5</value>
                  </transaction>
                  <transaction>
                   <transaction-type code="3"/><transaction-date iso-date="2024-03-01"/>
                   <value value-date="2024-03-01">700</value>
                   <provider-org ref="XM-DAC-41114" provider-activity-id="XM-DAC-41114-TEST-\(i)"/>
                   <receiver-org ref="CO-1-830115297"/>
                  </transaction>
                  <transaction>
                   <transaction-type code="4"/><transaction-date iso-date="2024-04-01"/>
                   <value value-date="2024-04-01">650.25</value>
                  </transaction>
                 </iati-activity>

                """
            )
        }
        return xml + "</iati-activities>\n"
    }

    /// Text that needs escaping, flows that only their position tells apart (more than nine,
    /// and a repeated ref), a language only the narratives declare, decimals of every size.
    static var edgeCases: String {
        var transactions = ""
        for i in 1...12 {
            transactions += """
                  <transaction>
                   <transaction-type code="3"/><transaction-date iso-date="2023-\(String(format: "%02d", i))-01"/>
                   <value currency="CLP" value-date="2023-01-01">\(i * 1000).0\(i)</value>
                  </transaction>

                """
        }
        for ref in ["R-1", "R-1", "3"] {
            transactions += """
                  <transaction ref="\(ref)">
                   <transaction-type code="1"/><transaction-date iso-date="2023-06-30"/>
                   <value currency="USD" value-date="2023-06-30">0.000001</value>
                   <description><narrative>Aporte "inicial" &lt;fase 1&gt; &amp; cofinanciamiento
                de contraparte</narrative></description>
                  </transaction>

                """
        }
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <iati-activities version="2.03">
             <iati-activity hierarchy="2">
              <iati-identifier>CL-GOV-1-AGCID-2023-\u{00D1}</iati-identifier>
              <reporting-org ref="CL-GOV-1" type="10"><narrative xml:lang="es">Agencia Chilena de Cooperación &amp; Desarrollo</narrative></reporting-org>
              <title><narrative xml:lang="es">Fondo Chile–México: "Agua &amp; saneamiento"</narrative><narrative xml:lang="pt-BR">Água</narrative></title>
              <description type="2"><narrative xml:lang="es">Objetivo: 100% &lt; 200%</narrative></description>
              <description type="10"><narrative xml:lang="es">Tipo diez</narrative></description>
              <participating-org ref="CL-GOV-1" role="3"/>
              <participating-org ref="CL-GOV-1" role="1" type="10" activity-id="CL-GOV-1-X"><narrative xml:lang="es">AGCID</narrative></participating-org>
              <participating-org ref="MX-SRE" role="2"><narrative xml:lang="es">SRE</narrative></participating-org>
              <activity-status code="3"/>
              <activity-date type="4" iso-date="2023-12-31Z"/>
              <recipient-region code="380" vocabulary="1" percentage="33.333333333333336"/>
              <sector vocabulary="7" code="6" percentage="12.5"/>
              <tag vocabulary="2" code="6"/>
              <default-finance-type code="110"/>
              <budget>
               <period-start iso-date="2023-01-01"/><period-end iso-date="2023-12-31"/>
               <value value-date="2023-01-01">123456789012345678</value>
              </budget>
              <planned-disbursement>
               <period-start iso-date="2023-01-01"/>
               <value value-date="2023-01-01">-5</value>
               <receiver-org receiver-activity-id="MX-SRE-77"/>
              </planned-disbursement>
            \(transactions) </iati-activity>
            </iati-activities>

            """
    }
}
