import Foundation
import Testing

/// IATI in and out without loss, as a reviewer checks it (protocol/README.md §21): the
/// round-trip measurer on the standard's example and on a fixture for each hard case, then
/// real `minga serve` nodes syncing an imported registry, editing its parts with the plain
/// `sqlite3` shell on two nodes at once, and exporting byte-identical files.
@Suite(.serialized) struct IATILosslessTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
    static let fixtures = repo.appendingPathComponent("Tests/EndToEndTests/Fixtures/iati-roundtrip")
    static let files =
        [repo.appendingPathComponent("Tests/MingaCooperationTests/Fixtures/activity-standard-example-annotated.xml").path]
        + ["results-locations", "participating-org-no-ref", "unknown-code", "extension-element", "crlf-cdata", "many-languages"]
        .map { fixtures.appendingPathComponent("\($0).xml").path }

    /// scripts/iati-roundtrip through its acceptance test: every file imports, every export
    /// validates against the 2.03 XSD, and 100% of each activity's facts come back.
    @Test func everyFactOfEveryFileComesBack() throws {
        let box = try Sandbox("iati-roundtrip")
        defer { box.remove() }
        var env = ProcessInfo.processInfo.environment
        env["MINGA_BIN"] = Sandbox.binary
        env["TMPDIR"] = box.dir.path
        let result = try box.run("/usr/bin/python3", [Self.fixtures.appendingPathComponent("run_roundtrip_test.py").path], env: env, timeout: 600)
        #expect(result.status == 0, "run_roundtrip_test.py exited \(result.status):\n\(result.stdout.suffix(8000))\n\(result.stderr.suffix(8000))")
    }

    /// The export's child order and requirements come from the 2.03 XSD by a script: the
    /// generated Swift must be what the script writes from the schema in the repository.
    @Test func theSchemaOrderIsGeneratedFromTheXSD() throws {
        try Self.expectGenerated(by: "scripts/generate-iati-order")
    }

    /// The registry's schema and IATI codelists are embedded in the binary by a script: the
    /// generated Swift must be what the script writes from Resources/ in the repository.
    @Test func theCodelistsAndSchemaAreGeneratedFromTheirSources() throws {
        try Self.expectGenerated(by: "scripts/generate-cooperation")
    }

    /// Runs a generator script with `--check`: it exits 1 when the Swift it would write differs
    /// from the file in the repository.
    static func expectGenerated(by script: String) throws {
        let box = try Sandbox("generated")
        defer { box.remove() }
        let result = try box.run(
            "/usr/bin/python3",
            [repo.appendingPathComponent(script).path, "--check"],
            env: ProcessInfo.processInfo.environment,
            timeout: 120
        )
        #expect(result.status == 0, "\(script) --check: \(result.stderr)")
    }

    @Test func anImportedRegistrySyncsAndExportsTheSameOnThreeNodes() throws {
        let box = try Sandbox("iati-three")
        defer { box.remove() }
        let dbs = ["mx", "co", "cl", "direct"]
        for (db, id) in HTTPSyncTests.nodes + [("direct", "xx.direct")] { try box.ok("\(db).db", "init", "--node-id", id) }
        try box.federate(["mx.db", "co.db", "cl.db"])
        for file in Self.files {
            try box.ok("mx.db", "import", "iati", file, "--quiet")
            try box.ok("direct.db", "import", "iati", file, "--quiet")
        }
        let servers = try ["mx", "co", "cl"].map { try box.serve("\($0).db") }
        defer { for server in servers { server.stop() } }
        try box.ok("co.db", "sync", "--peer", servers[0].url)
        try box.ok("cl.db", "sync", "--peer", servers[1].url)
        let exports = try dbs.map { try export($0, box) }
        #expect(exports[0].contains("<result ") && exports[0].contains("<participating-org role=\"4\""), "parts are exported")
        #expect(exports[0] == exports[1] && exports[1] == exports[2], "the three nodes export the same bytes")
        #expect(exports[2] == exports[3], "and what a node that imported the files itself exports")

        // Three agencies edit one result with the sqlite3 shell, at once: an indicator's actual
        // value, another indicator's target (columns), and a comment on the first (a part).
        let id = "XM-DAC-41140-HN01-2021"
        let comment = "result(1)/indicator(1)/period(1)/actual/comment[1]/narrative[1]"
        _ = try box.sqlite(
            "co.db",
            "UPDATE indicator_period SET actual = 55.5 WHERE initiative = '\(id)' AND result_no = 1 AND indicator_no = 1 AND period_no = 1"
        )
        _ = try box.sqlite(
            "cl.db",
            "UPDATE indicator_period SET target = 7 WHERE initiative = '\(id)' AND result_no = 1 AND indicator_no = 2 AND period_no = 1"
        )
        _ = try box.sqlite("mx.db", "UPDATE iati_part SET text = 'Retrasos por lluvias' WHERE initiative = '\(id)' AND path = '\(comment)'")
        for _ in 0..<2 {
            try box.ok("co.db", "sync", "--peer", servers[0].url)
            try box.ok("cl.db", "sync", "--peer", servers[1].url)
        }
        try box.ok("mx.db", "sync", "--peer", servers[2].url)
        try box.ok("co.db", "sync", "--peer", servers[0].url)
        let edited = try dbs.prefix(3).map { try export($0, box) }
        #expect(edited[0] == edited[1] && edited[1] == edited[2], "the edits reach every node")
        #expect(
            edited[0].contains(#"<actual value="55.5">"#) && edited[0].contains(#"<target value="7"/>"#)
                && edited[0].contains(">Retrasos por lluvias</narrative>"),
            "the three edits are exported"
        )
        for db in ["mx", "co", "cl"] {
            #expect(
                try box.sqlite("\(db).db", "SELECT count(*) FROM minga_conflicts").trimmingCharacters(in: .whitespacesAndNewlines) == "0",
                "editing different elements of one initiative is no conflict"
            )
        }
        let valid = try box.run(
            "/usr/bin/xmllint",
            [
                "--noout", "--schema", Self.repo.appendingPathComponent("scripts/iati-schema/iati-activities-schema.xsd").path,
                box.path("cl.xml"),
            ],
            env: [:],
            timeout: 120
        )
        #expect(valid.status == 0, "\(valid.stderr)")
    }

    /// The node's export, without the one line that differs by the minute it was written.
    private func export(_ db: String, _ box: Sandbox) throws -> String {
        try box.ok("\(db).db", "export", "iati", "-o", "\(db).xml")
        return try String(contentsOfFile: box.path("\(db).xml"), encoding: .utf8)
            .replacingOccurrences(of: #"generated-datetime="[^"]*""#, with: "", options: .regularExpression)
    }
}
