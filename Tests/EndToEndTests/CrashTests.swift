import Foundation
import Testing

/// `kill -9` in the middle of importing a 30,000-change bundle: the replica opens cleanly and
/// holds exactly the changes at or below its vector; importing again completes it.
@Suite(.serialized) struct CrashTests {
    @Test func killDuringALargeImportLosesNothingAndResumes() throws {
        let box = try Sandbox("crash")
        defer { box.remove() }
        try box.write("schema.sql", BundleExchangeTests.schema)
        try box.ok("a.db", "init", "--node-id", "mx.amexcid", "--schema", "schema.sql")
        try box.ok("b.db", "init", "--node-id", "co.apc", "--schema", "schema.sql")
        try box.federate(["a.db", "b.db"])
        // 30,000 inserts from the sqlite3 shell, captured by the triggers alone.
        try box.sqlite(
            "a.db",
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000)
            INSERT INTO initiatives SELECT printf('XM-%06d', i), 'Iniciativa ' || i, 'active', i * 1000 FROM n;
            """
        )
        // Captured as pending writes; the next read of the log seals them (seq, HLC, signatures).
        #expect(try box.sqlite("a.db", "SELECT count(*) FROM minga_pending").trimmingCharacters(in: .whitespacesAndNewlines) == "30000")
        try box.ok("a.db", "status")
        #expect(
            try box.sqlite("a.db", "SELECT count(*), max(seq) FROM minga_changes").trimmingCharacters(in: .whitespacesAndNewlines) == "30000|30000"
        )
        try box.ok("a.db", "bundle", "export", "-o", "all.bundle")

        let importer = try box.start("b.db", ["bundle", "import", "--quiet", "all.bundle"])
        // Wait until some batches are committed, then kill without warning.
        let deadline = Date().addingTimeInterval(600)
        while importer.isRunning && Date() < deadline {
            let held = Int(try box.sqlite("b.db", "SELECT count(*) FROM minga_changes").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            if held >= 2000 { break }
            usleep(30_000)
        }
        #expect(importer.isRunning, "the import finished before it could be interrupted")
        kill(importer.processIdentifier, SIGKILL)
        importer.waitUntilExit()

        #expect(try box.sqlite("b.db", "PRAGMA integrity_check").trimmingCharacters(in: .whitespacesAndNewlines) == "ok")
        let status = try box.json(box.ok("b.db", "status", "--json")) as! [String: Any]
        let held = (status["vector"] as? [String: Int])?["mx.amexcid"] ?? 0
        #expect(held > 0 && held < 30_000, "interrupted part-way: holds \(held)")
        // Exactly the changes at or below the vector, each one applied to the table.
        let counts = try box.sqlite(
            "b.db",
            "SELECT count(*), coalesce(max(seq), 0), (SELECT count(*) FROM initiatives), (SELECT count(*) FROM minga_values_initiatives) FROM minga_changes"
        )
        #expect(counts.trimmingCharacters(in: .whitespacesAndNewlines) == "\(held)|\(held)|\(held)|\(held)")

        try box.ok("b.db", "bundle", "import", "--quiet", "all.bundle")
        #expect(try box.ok("b.db", "dump") == box.ok("a.db", "dump"))
        let again = try box.ok("b.db", "bundle", "import", "--quiet", "all.bundle")
        #expect(again.contains("applied 0 new changes"))
    }
}

/// The fault-injection suite's short form (scripts/chaos runs 50 rounds): kill -9 of the sync
/// client and the server at random moments, a proxy cutting connections, a full disk during
/// a local write and an import; after each round every replica opens, nothing committed is
/// lost and all converge.
@Suite(.serialized) struct ChaosTests {
    @Test func threeRoundsOfKillsCutsAndFullDisksLoseNothing() throws {
        let box = try Sandbox("chaos")
        defer { box.remove() }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/chaos").standardized.path
        let result = try box.run(
            "/usr/bin/python3",
            [
                script, "--rounds", "3", "--seed", "20261127", "--binary", Sandbox.binary, "--require-disk-full-hook",
                "--workdir", box.path(""), "--json", box.path("chaos.json"),
            ],
            env: ProcessInfo.processInfo.environment,
            timeout: 600
        )
        #expect(result.status == 0, "scripts/chaos failed:\n\(result.stdout)\n\(result.stderr.suffix(3000))")
        let summary = try #require(try box.json(try String(contentsOfFile: box.path("chaos.json"), encoding: .utf8)) as? [String: Any])
        #expect(summary["changesLost"] as? Int == 0)
        let kills = summary["kills"] as? [String: Int] ?? [:]
        // Every round kills the client or the server; a client kill that came after its sync had
        // ended is counted as missed (how fast a sync is varies), but some must land mid-sync.
        #expect((kills["client"] ?? 0) + (kills["server"] ?? 0) + (kills["missed"] ?? 0) >= 3 && (kills["midSync"] ?? 0) >= 1, "\(kills)")
        let disk = summary["diskFull"] as? [String: Any] ?? [:]
        #expect((disk["events"] as? Int ?? 0) >= 3 && disk["refusedCleanly"] as? Int == disk["events"] as? Int, "\(disk)")
    }
}
