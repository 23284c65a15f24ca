import Foundation
import Testing

/// A cooperation-registry node made by the previous release (Fixtures/previous-release,
/// made with commit c076219) opened by this one: its data, log and signatures intact, and
/// it takes part in migrations (protocol/README.md §20).
@Suite struct RegistryUpgradeEndToEndTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/previous-release").standardized

    @Test func aRegistryNodeOfThePreviousReleaseUpgradesInPlace() throws {
        let box = try Sandbox("registry-upgrade")
        defer { box.remove() }
        let restore = try box.run(
            "/bin/sh",
            ["-c", "gunzip -c \"$1\" | sqlite3 \"$2\"", "sh", Self.fixtures.appendingPathComponent("mx.registry.sql.gz").path, box.path("mx.db")],
            env: ProcessInfo.processInfo.environment,
            timeout: 120
        )
        #expect(restore.status == 0, "\(restore.stderr)")
        try FileManager.default.copyItem(atPath: Self.fixtures.appendingPathComponent("mx.registry.db.key").path, toPath: box.path("mx.db.key"))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: box.path("mx.db.key"))
        let logBefore = try box.sqlite("mx.db", "SELECT origin, seq, hex(link), hex(sig) FROM minga_changes ORDER BY id")

        // Opening it applies this release's 18 migrations (IATI's tables and columns) as its own changes.
        let status = try box.ok("mx.db", "status")
        #expect(status.contains("(18 migrations; the last: table iati_part, by mx.registry"), "\(status)")
        #expect(status.contains("changes    62 in the log"), "\(status)")
        let logAfter = try box.sqlite("mx.db", "SELECT origin, seq, hex(link), hex(sig) FROM minga_changes ORDER BY id")
        #expect(
            logAfter.hasPrefix(logBefore) && logAfter.split(separator: "\n").count == logBefore.split(separator: "\n").count + 18,
            "the old log is untouched; the migrations are appended"
        )

        // A node of this release joins from the upgraded one's bundle: every old signature verifies.
        try box.ok("mx.db", "bundle", "export", "-o", "mx.bundle")
        try box.ok("co.db", "init", "--node-id", "co.apc", "--from", box.path("mx.bundle"))
        try box.federate(["mx.db", "co.db"])
        let imported = try box.ok("co.db", "bundle", "import", box.path("mx.bundle"))
        #expect(imported.contains("applied 62 new changes") && !imported.contains("HELD"), "\(imported)")
        #expect(try box.ok("co.db", "dump") == box.ok("mx.db", "dump"))

        // The upgraded node migrates like any other, and the migration reaches the new one.
        try box.write("m.sql", "ALTER TABLE initiative ADD COLUMN gender_marker TEXT;")
        try box.ok("mx.db", "schema", "apply", "m.sql")
        try box.sqlite("mx.db", "UPDATE initiative SET gender_marker = '1'")
        try box.ok("mx.db", "bundle", "export", "-o", "mx2.bundle")
        let second = try box.ok("co.db", "bundle", "import", box.path("mx2.bundle"))
        #expect(!second.contains("HELD"), "\(second)")
        let dump = try box.ok("co.db", "dump")
        #expect(dump == (try box.ok("mx.db", "dump")) && dump.contains(#""gender_marker":"1""#), "\(dump)")
        let versions = try ["mx.db", "co.db"].map { (try box.json(try box.ok($0, "status", "--json")) as! [String: Any])["schemaVersion"] as! String }
        #expect(versions[0] == versions[1] && versions[0] != "bde0d99738de21bc")
    }
}
