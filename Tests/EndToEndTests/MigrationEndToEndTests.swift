import Foundation
import Testing

/// Schema migrations as operators meet them (protocol/README.md §20): `minga schema apply`
/// on one node, carried by HTTP sync and by bundles through relays to every node, held where
/// they have not arrived yet, joined by new nodes with `init --from`, applied to a replica
/// made by the previous release, and refused when they are not additive. Real `minga`
/// processes and the sqlite3 shell, loopback only.
@Suite(.serialized) struct MigrationEndToEndTests {
    static let schema = "CREATE TABLE item(id TEXT PRIMARY KEY, title TEXT, budget INTEGER);"
    /// The schema version the previous release's fixtures were created from (their schema.sql).
    static let fixtureGenesis = "7d05a533e2fde9b3"
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/previous-release").path

    /// a.db (mx.a), b.db (co.b) and c.db (cl.c), from `schema`, federated, one row each.
    static func three(_ name: String) throws -> Sandbox {
        let box = try Sandbox.federation(name, schema: schema, [("a.db", "mx.a"), ("b.db", "co.b"), ("c.db", "cl.c")])
        try box.sqlite("a.db", "INSERT INTO item VALUES('a1', 'A one', 10)")
        try box.sqlite("b.db", "INSERT INTO item VALUES('b1', 'B one', 20)")
        try box.sqlite("c.db", "INSERT INTO item VALUES('c1', 'C one', 30)")
        return box
    }

    func status(_ box: Sandbox, _ db: String) throws -> [String: Any] {
        try box.json(try box.ok(db, "status", "--json")) as! [String: Any]
    }

    func held(_ box: Sandbox, _ db: String) throws -> [[String: Any]] {
        try status(box, db)["held"] as! [[String: Any]]
    }

    func history(_ box: Sandbox, _ db: String) throws -> [[String: Any]] {
        try box.json(try box.ok(db, "schema", "history", "--json")) as! [[String: Any]]
    }

    /// `minga roster add` on `db` of every node in `others`, with the key its status shows.
    func roster(_ box: Sandbox, _ db: String, _ others: [String]) throws {
        for other in others {
            let s = try status(box, other)
            try box.ok(db, "roster", "add", s["nodeId"] as! String, s["publicKey"] as! String)
        }
    }

    /// Nothing held, no altered copy refused, no migration that could not run, no drift.
    func expectClean(_ box: Sandbox, _ db: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let s = try status(box, db)
        #expect((s["held"] as? [Any])?.isEmpty == true, "\(db) holds changes: \(s["held"]!)", sourceLocation: sourceLocation)
        #expect(s["alteredCopies"] as? Int == 0, "\(db) refused altered copies: \(s["lastAlteredCopy"]!)", sourceLocation: sourceLocation)
        #expect((s["migrationsNotApplied"] as? [Any])?.isEmpty == true, "\(db): \(s["migrationsNotApplied"]!)", sourceLocation: sourceLocation)
        #expect((s["drift"] as? [Any])?.isEmpty == true, "\(db): \(s["drift"]!)", sourceLocation: sourceLocation)
    }

    /// The same dump, byte for byte, and the same schema version on every node; returns the dump.
    @discardableResult
    func expectConverged(_ box: Sandbox, _ dbs: [String], _ step: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let dumps = try dbs.map { try box.ok($0, "dump") }
        for (db, dump) in zip(dbs, dumps).dropFirst() {
            #expect(
                Array(dump.utf8) == Array(dumps[0].utf8),
                "\(step): \(db) differs from \(dbs[0])\n\(dump)---\n\(dumps[0])",
                sourceLocation: sourceLocation
            )
        }
        let versions = try dbs.map { try status(box, $0)["schemaVersion"] as! String }
        #expect(Set(versions).count == 1, "\(step): schema versions differ: \(versions)", sourceLocation: sourceLocation)
        return dumps[0]
    }

    func columns(_ box: Sandbox, _ db: String, _ table: String) throws -> String {
        try box.sqlite(db, "SELECT group_concat(name, ',') FROM pragma_table_info('\(table)')")
    }

    // MARK: 1. Relay over HTTP

    /// B adds a table and a column; A only ever talks to C, and gets both through it.
    @Test func aMigrationRelaysThroughAServingNodeToANodeThatNeverMetItsAuthor() throws {
        let box = try Self.three("relay-http")
        defer { box.remove() }
        try box.write(
            "migration.sql",
            """
            -- results of each item, and a status with a default for the rows already there
            CREATE TABLE result(id TEXT PRIMARY KEY, item TEXT, score INTEGER);
            ALTER TABLE item ADD COLUMN status TEXT DEFAULT 'open';
            """
        )
        let applied = try box.ok("b.db", "schema", "apply", "migration.sql")
        #expect(applied.contains("added table result\nadded column item.status\nschema version "), "\(applied)")
        try box.sqlite(
            "b.db",
            """
            INSERT INTO result VALUES('r1', 'b1', 5);
            INSERT INTO item VALUES('b2', 'B two', 21, 'closed');
            UPDATE item SET status = 'done' WHERE id = 'b1';
            """
        )
        let c = try box.serve("c.db")
        defer { c.stop() }

        let first = try box.ok("b.db", "sync", "--peer", c.url, "--quiet")
        #expect(first.contains("received 1, sent 6, 0 new conflicts"), "b1, 2 migrations, r1, b2, b1's status: \(first)")
        let a = try box.ok("a.db", "sync", "--peer", c.url, "--quiet")
        #expect(a.contains("received 7, sent 1, 0 new conflicts") && !a.contains("HELD"), "\(a)")
        let again = try box.ok("b.db", "sync", "--peer", c.url, "--quiet")
        #expect(again.contains("received 1, sent 0, 0 new conflicts"), "a1 reaches B through C: \(again)")

        let dump = try expectConverged(box, ["a.db", "b.db", "c.db"], "after the relay")
        #expect(
            dump == """
                table item
                {"id":"a1","title":"A one","budget":10,"status":"open"}
                {"id":"b1","title":"B one","budget":20,"status":"done"}
                {"id":"b2","title":"B two","budget":21,"status":"closed"}
                {"id":"c1","title":"C one","budget":30,"status":"open"}
                table result
                {"id":"r1","item":"b1","score":5}

                """,
            "\(dump)"
        )
        // The old rows on A hold the default in the table itself, not only in the dump.
        #expect(try box.sqlite("a.db", "SELECT id, status FROM item ORDER BY id") == "a1|open\nb1|done\nb2|closed\nc1|open\n")
        for db in ["a.db", "c.db"] {
            let migrations = try history(box, db)
            #expect(
                migrations.map { $0["sql"] as? String } == [
                    "CREATE TABLE result (id TEXT PRIMARY KEY, item TEXT, score INTEGER)",
                    "ALTER TABLE item ADD COLUMN status TEXT DEFAULT 'open'",
                ],
                "\(db): \(migrations)"
            )
            #expect(migrations.map { $0["origin"] as? String } == ["co.b", "co.b"], "\(db): \(migrations)")
            #expect(migrations.map { $0["kind"] as? String } == ["table", "column"], "\(db): \(migrations)")
            #expect(migrations.allSatisfy { $0["error"] is NSNull }, "\(db): \(migrations)")
            try expectClean(box, db)
        }
        let onA = try box.ok("a.db", "status")
        #expect(onA.contains("(2 migrations; the last: column item.status, by co.b at ") && !onA.contains("HELD"), "\(onA)")
        #expect(try status(box, "a.db")["migrations"] as? Int == 2)
    }

    // MARK: 2. Over bundles, one node offline until the end

    @Test func aChangeUnderAMigrationThatHasNotArrivedIsHeldUntilItDoes() throws {
        let box = try Self.three("relay-bundle")
        defer { box.remove() }
        try box.write("migration.sql", "ALTER TABLE item ADD COLUMN status TEXT DEFAULT 'open';")
        try box.ok("b.db", "schema", "apply", "migration.sql")
        try box.sqlite("b.db", "UPDATE item SET status = 'done' WHERE id = 'b1'")
        #expect(try box.ok("b.db", "bundle", "export", "-o", "b.bundle").contains("wrote 3 changes"))
        try box.ok("c.db", "bundle", "import", "b.bundle")
        #expect(try columns(box, "c.db", "item") == "id,title,budget,status\n")
        // C writes under the migration it received: a new row, and the new column of its old one.
        try box.sqlite("c.db", "INSERT INTO item VALUES('c2', 'C two', 31, 'review'); UPDATE item SET status = 'funded' WHERE id = 'c1'")
        try box.write("b-status.json", try box.ok("b.db", "status", "--json"))
        // Only C's own changes (cl.c:1 from before the migration, cl.c:2 and 3 under it), none of B's.
        #expect(try box.ok("c.db", "bundle", "export", "--since", "b-status.json", "-o", "c-only.bundle").contains("wrote 3 changes"))
        #expect(try box.ok("c.db", "bundle", "export", "-o", "c.bundle").contains("wrote 6 changes"))

        // A meets C's change before the migration: what does not need it applies, the rest is held.
        let early = try box.minga("a.db", ["bundle", "import", "c-only.bundle", "--quiet"])
        #expect(early.status == 0, "holding is no failure: \(early.stdout) \(early.stderr)")
        #expect(early.stdout.contains("applied 1 new change "), "\(early.stdout)")
        #expect(
            early.stdout.contains("HELD  cl.c from change cl.c:2") && early.stdout.contains("needs a schema migration")
                && early.stdout.contains("[needs_migration]"),
            "\(early.stdout)"
        )
        let onA = try #require(try held(box, "a.db").first)
        #expect(onA["origin"] as? String == "cl.c" && onA["firstSeq"] as? Int == 2 && onA["count"] as? Int == 2, "\(onA)")
        #expect(onA["code"] as? String == "needs_migration" && onA["source"] as? String == "bundle c-only.bundle", "\(onA)")
        #expect((onA["reason"] as? String)?.contains("no column status") == true, "\(onA)")
        #expect(try box.ok("a.db", "status").contains("HELD       cl.c from change cl.c:2 (2 changes)"))
        #expect(
            try box.ok("a.db", "dump") == """
                table item
                {"id":"a1","title":"A one","budget":10}
                {"id":"c1","title":"C one","budget":30}

                """
        )

        // B's bundle brings the migration: it runs first, then the held change applies.
        let late = try box.minga("a.db", ["bundle", "import", "b.bundle", "--quiet"])
        #expect(late.status == 0 && !late.stdout.contains("HELD"), "\(late.stdout) \(late.stderr)")
        try expectClean(box, "a.db")
        #expect(try box.sqlite("a.db", "SELECT id, status FROM item ORDER BY id") == "a1|open\nb1|done\nc1|funded\nc2|review\n")
        #expect(try history(box, "a.db").map { $0["origin"] as? String } == ["co.b"])

        // E meets C's changes first too, then pulls the migration from B over HTTP: the held
        // changes apply at that sync, without C's bundle again.
        try box.ok("e.db", "init", "--node-id", "pe.e", "--schema", "schema.sql")
        try roster(box, "e.db", ["b.db", "c.db"])
        let onE = try box.ok("e.db", "bundle", "import", "c-only.bundle", "--quiet")
        #expect(onE.contains("HELD  cl.c from change cl.c:2") && onE.contains("[needs_migration]"), "\(onE)")
        let b = try box.serve("b.db")
        let pulled = try box.ok("e.db", "sync", "--peer", b.url, "--quiet")
        b.stop()
        // B's 3 changes and the 2 held ones applied; E passes C's 3 changes on to B.
        #expect(pulled.contains("received 5, sent 3") && !pulled.contains("HELD"), "\(pulled)")
        try expectClean(box, "e.db")
        #expect(try box.sqlite("e.db", "SELECT id, status FROM item ORDER BY id") == "b1|done\nc1|funded\nc2|review\n")

        // D, offline too, gets B's migration only inside C's bundle: nothing waits.
        try box.ok("d.db", "init", "--node-id", "pe.d", "--schema", "schema.sql")
        try roster(box, "d.db", ["a.db", "b.db", "c.db"])
        let relayed = try box.ok("d.db", "bundle", "import", "c.bundle", "--quiet")
        #expect(relayed.contains("applied 6 new changes") && !relayed.contains("HELD"), "\(relayed)")
        try expectClean(box, "d.db")

        // A's row goes out at last; B takes C's bundle: every node holds the same.
        try roster(box, "a.db", ["d.db"])
        try roster(box, "b.db", ["d.db"])
        try roster(box, "c.db", ["d.db"])
        try box.ok("a.db", "bundle", "export", "-o", "a.bundle")
        for db in ["b.db", "c.db", "d.db"] { try box.ok(db, "bundle", "import", "a.bundle", "--quiet") }
        try box.ok("b.db", "bundle", "import", "c.bundle", "--quiet")
        let dump = try expectConverged(box, ["a.db", "b.db", "c.db", "d.db"], "at the end")
        #expect(
            dump == """
                table item
                {"id":"a1","title":"A one","budget":10,"status":"open"}
                {"id":"b1","title":"B one","budget":20,"status":"done"}
                {"id":"c1","title":"C one","budget":30,"status":"funded"}
                {"id":"c2","title":"C two","budget":31,"status":"review"}

                """,
            "\(dump)"
        )
        for db in ["a.db", "b.db", "c.db", "d.db"] { try expectClean(box, db) }
    }

    /// Two nodes add a column each, so the columns stand in a different order in each node's
    /// table: the dump lists added columns by name, and the nodes agree.
    @Test func columnsAddedOnTwoNodesInEitherOrderDumpAlike() throws {
        let box = try Sandbox.federation("two-columns", schema: Self.schema, [("a.db", "mx.a"), ("b.db", "co.b")])
        defer { box.remove() }
        try box.sqlite("a.db", "INSERT INTO item VALUES('a1', 'A', 1)")
        try box.write("zone.sql", "ALTER TABLE item ADD COLUMN zone TEXT DEFAULT 'z';")
        try box.write("area.sql", "ALTER TABLE item ADD COLUMN area INTEGER DEFAULT 7;")
        try box.ok("a.db", "schema", "apply", "zone.sql")
        try box.ok("b.db", "schema", "apply", "area.sql")
        try box.sqlite("a.db", "UPDATE item SET zone = 'north' WHERE id = 'a1'")
        try box.sqlite("b.db", "INSERT INTO item VALUES('b1', 'B', 2, 3)")
        try box.ok("a.db", "bundle", "export", "-o", "a.bundle")
        try box.ok("b.db", "bundle", "export", "-o", "b.bundle")
        try box.ok("b.db", "bundle", "import", "a.bundle")
        try box.ok("a.db", "bundle", "import", "b.bundle")
        #expect(try columns(box, "a.db", "item") == "id,title,budget,zone,area\n")
        #expect(try columns(box, "b.db", "item") == "id,title,budget,area,zone\n")
        let dump = try expectConverged(box, ["a.db", "b.db"], "two columns")
        #expect(
            dump == """
                table item
                {"id":"a1","title":"A","budget":1,"area":7,"zone":"north"}
                {"id":"b1","title":"B","budget":2,"area":3,"zone":"z"}

                """,
            "\(dump)"
        )
        for db in ["a.db", "b.db"] { try expectClean(box, db) }
    }

    /// The node that serves keeps serving while `minga schema apply` runs on its replica in
    /// another process: what it sends and takes next is under the new schema.
    @Test func aMigrationAppliedBesideARunningServerIsServedAtOnce() throws {
        let box = try Sandbox.federation("beside-serve", schema: Self.schema, [("a.db", "mx.a"), ("b.db", "co.b")])
        defer { box.remove() }
        try box.sqlite("b.db", "INSERT INTO item VALUES('b1', 'B one', 20)")
        let b = try box.serve("b.db")
        defer { b.stop() }
        #expect(try box.ok("a.db", "sync", "--peer", b.url, "--quiet").contains("received 1, sent 0"))
        try box.write("migration.sql", "ALTER TABLE item ADD COLUMN status TEXT DEFAULT 'open';\nCREATE TABLE result(id TEXT PRIMARY KEY, v TEXT);")
        try box.ok("b.db", "schema", "apply", "migration.sql")
        try box.sqlite("b.db", "UPDATE item SET status = 'done' WHERE id = 'b1'; INSERT INTO result VALUES('r1', 'x')")
        let pulled = try box.ok("a.db", "sync", "--peer", b.url, "--quiet")
        #expect(pulled.contains("received 4, sent 0, 0 new conflicts") && !pulled.contains("HELD"), "\(pulled)")
        // A writes under it, then adds a column of its own, and pushes both to the running server.
        try box.sqlite("a.db", "INSERT INTO item VALUES('a1', 'A one', 10, 'new'); INSERT INTO result VALUES('r2', 'y')")
        try box.write("score.sql", "ALTER TABLE result ADD COLUMN score INTEGER DEFAULT 0;")
        try box.ok("a.db", "schema", "apply", "score.sql")
        try box.sqlite("a.db", "UPDATE result SET score = 9 WHERE id = 'r1'")
        let pushed = try box.ok("a.db", "sync", "--peer", b.url, "--quiet")
        #expect(pushed.contains("received 0, sent 4, 0 new conflicts") && !pushed.contains("HELD"), "\(pushed)")
        try expectClean(box, "b.db")
        // ... and B's next write under A's column goes back.
        try box.sqlite("b.db", "UPDATE result SET score = 5 WHERE id = 'r2'")
        #expect(try box.ok("a.db", "sync", "--peer", b.url, "--quiet").contains("received 1, sent 0"))
        let dump = try expectConverged(box, ["a.db", "b.db"], "beside the server")
        #expect(
            dump == """
                table item
                {"id":"a1","title":"A one","budget":10,"status":"new"}
                {"id":"b1","title":"B one","budget":20,"status":"done"}
                table result
                {"id":"r1","v":"x","score":9}
                {"id":"r2","v":"y","score":5}

                """,
            "\(dump)"
        )
    }

    /// A migration that cannot run on a node (a table of that name is there already, one
    /// Minga does not track) is shown by status and history, the changes that need it wait,
    /// and once the obstacle is gone the next sync runs it and applies them.
    @Test func aMigrationThatCannotRunHereIsShownAndRunsOnceTheObstacleIsGone() throws {
        let box = try Sandbox.federation("blocked", schema: Self.schema, [("a.db", "mx.a"), ("b.db", "co.b")])
        defer { box.remove() }
        try box.sqlite("a.db", "CREATE TABLE result(x); INSERT INTO result VALUES(1)")
        #expect(try box.ok("a.db", "status").contains("untracked  result"))
        try box.write("migration.sql", "CREATE TABLE result(id TEXT PRIMARY KEY, v TEXT);")
        try box.ok("b.db", "schema", "apply", "migration.sql")
        try box.sqlite("b.db", "INSERT INTO result VALUES('r1', 'v')")
        let b = try box.serve("b.db")
        defer { b.stop() }
        let first = try box.minga("a.db", ["sync", "--peer", b.url, "--quiet"])
        #expect(
            first.status == 0 && first.stdout.contains("HELD here: co.b from change co.b:2") && first.stdout.contains("[needs_migration]"),
            "\(first.stdout) \(first.stderr)"
        )
        let shown = try box.ok("a.db", "status")
        #expect(
            shown.contains("MIGRATION  CREATE TABLE result (id TEXT PRIMARY KEY, v TEXT) (by co.b at ")
                && shown.contains("could not run here: ")
                && shown.contains("a table result of its own, which Minga does not track; rename it"),
            "\(shown)"
        )
        let listed = try history(box, "a.db")
        #expect(listed.count == 1 && (listed.first?["error"] as? String)?.contains("a table result of its own") == true, "\(listed)")
        #expect(try box.ok("a.db", "schema", "history").contains("NOT APPLIED here: "))
        #expect(
            try status(box, "a.db")["schemaVersion"] as? String == status(box, "a.db")["genesisVersion"] as? String,
            "a migration not run does not count"
        )

        try box.sqlite("a.db", "DROP TABLE result")
        let second = try box.ok("a.db", "sync", "--peer", b.url, "--quiet")
        // The migration held since the first sync applies now; the peer sends nothing again.
        #expect(second.contains("received 0 (and 1 held earlier, now applied), sent 0") && !second.contains("HELD"), "\(second)")
        try expectClean(box, "a.db")
        #expect(try history(box, "a.db").first?["error"] is NSNull)
        let dump = try expectConverged(box, ["a.db", "b.db"], "after the obstacle is gone")
        #expect(dump == "table item\ntable result\n{\"id\":\"r1\",\"v\":\"v\"}\n", "\(dump)")
    }

    /// Two nodes add the same column with different defaults: one definition wins on both
    /// (a conflict in both conflict logs), the rows no one wrote take the winner's default,
    /// and both nodes tell the same history: the winner's statement, by its author.
    @Test func twoNodesAddingOneColumnDifferentlyConvergeOnTheWinnersDefinition() throws {
        let box = try Sandbox.federation("same-column", schema: Self.schema, [("a.db", "mx.a"), ("b.db", "co.b"), ("c.db", "cl.c")])
        defer { box.remove() }
        try box.sqlite("a.db", "INSERT INTO item VALUES('a1', 'A one', 10)")
        try box.sqlite("b.db", "INSERT INTO item VALUES('b1', 'B one', 20)")
        try box.write("open.sql", "ALTER TABLE item ADD COLUMN status TEXT DEFAULT 'open';")
        try box.write("new.sql", "ALTER TABLE item ADD COLUMN status TEXT DEFAULT 'new';")
        try box.ok("a.db", "schema", "apply", "open.sql")
        try box.ok("b.db", "schema", "apply", "new.sql")  // later: its definition wins
        try box.sqlite("a.db", "INSERT INTO item VALUES('a2', 'A two', 11, 'set-by-a')")
        try box.sqlite("b.db", "UPDATE item SET status = 'set-by-b' WHERE id = 'b1'")
        try box.ok("a.db", "bundle", "export", "-o", "a.bundle")
        try box.ok("b.db", "bundle", "export", "-o", "b.bundle")
        #expect(try box.ok("b.db", "bundle", "import", "a.bundle").contains("1 new conflict"))
        #expect(try box.ok("a.db", "bundle", "import", "b.bundle").contains("1 new conflict"))
        // C receives both definitions at once, in B's bundle, and runs only the winner.
        try box.ok("b.db", "bundle", "export", "-o", "both.bundle")
        try box.ok("c.db", "bundle", "import", "both.bundle")

        let dump = try expectConverged(box, ["a.db", "b.db", "c.db"], "one definition")
        #expect(
            dump == """
                table item
                {"id":"a1","title":"A one","budget":10,"status":"new"}
                {"id":"a2","title":"A two","budget":11,"status":"set-by-a"}
                {"id":"b1","title":"B one","budget":20,"status":"set-by-b"}

                """,
            "\(dump)"
        )
        let conflicts = try ["a.db", "b.db", "c.db"].map { try box.ok($0, "conflicts", "list", "--json") }
        #expect(conflicts[0] == conflicts[1] && conflicts[1] == conflicts[2], "\(conflicts)")
        #expect(conflicts[0].contains(#""table":"minga_schema""#) && conflicts[0].contains(#""winner":{"origin":"co.b","seq":2"#), "\(conflicts[0])")
        #expect(try columns(box, "c.db", "item") == "id,title,budget,status\n")
        for db in ["a.db", "b.db", "c.db"] {
            let listed = try history(box, db)
            #expect(listed.map { $0["sql"] as? String } == ["ALTER TABLE item ADD COLUMN status TEXT DEFAULT 'new'"], "\(db): \(listed)")
            #expect(
                listed.map { $0["origin"] as? String } == ["co.b"] && listed.map { $0["seq"] as? Int } == [2],
                "\(db): the winning statement is co.b's change co.b:2, not the losing one's: \(listed)"
            )
            try expectClean(box, db)
        }
    }

    // MARK: 3. A replica of the previous release

    /// Restores a replica the previous release made (`sqlite3 NEW.db < X.sql`) with its key.
    func restore(_ box: Sandbox, _ fixture: String, as db: String) throws {
        let sql = "\(Self.fixtures)/\(fixture).sql"
        let restored = try box.run(
            "/bin/sh",
            ["-c", "/usr/bin/sqlite3 \"$1\" < \"$2\"", "sh", box.path(db), sql],
            env: ProcessInfo.processInfo.environment,
            timeout: 60
        )
        #expect(restored.status == 0, "sqlite3 < \(sql): \(restored.stderr)")
        try FileManager.default.copyItem(atPath: "\(Self.fixtures)/\(fixture).db.key", toPath: box.path("\(db).key"))
        // git does not keep the owner-only mode the key reader demands.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: box.path("\(db).key"))
    }

    @Test func aReplicaOfThePreviousReleaseUpgradesInPlaceAndItsSignaturesStillVerify() throws {
        let box = try Sandbox("previous-release")
        defer { box.remove() }
        try restore(box, "mx.old", as: "mx.db")
        try restore(box, "co.old", as: "co.db")

        let mx = try box.ok("mx.db", "status")
        #expect(mx.contains("node       mx.old\n") && mx.contains("vector     co.old:1 mx.old:3\n"), "\(mx)")
        #expect(mx.contains("schema     \(Self.fixtureGenesis) (as created; no migrations)"), "\(mx)")
        try expectClean(box, "mx.db")
        try expectClean(box, "co.db")
        #expect(
            try box.ok("mx.db", "dump") == """
                table item
                {"id":"CO-1","title":"Educación","budget":300}
                {"id":"MX-1","title":"Agua potable","budget":150}
                {"id":"MX-2","title":"Salud","budget":200}

                """
        )
        #expect(try box.ok("co.db", "dump") == "table item\n{\"id\":\"CO-1\",\"title\":\"Educación\",\"budget\":300}\n")
        #expect(try history(box, "mx.db").isEmpty)

        try box.write("sector.sql", "ALTER TABLE item ADD COLUMN sector TEXT;")
        #expect(try box.ok("mx.db", "schema", "apply", "sector.sql").contains("added column item.sector"))
        try box.sqlite("mx.db", "UPDATE item SET sector = 'WASH' WHERE id = 'MX-1'")

        // co.old pulls every old change of mx.old (signed by the previous release) and the migration.
        let server = try box.serve("mx.db")
        defer { server.stop() }
        let pulled = try box.ok("co.db", "sync", "--peer", server.url, "--quiet")
        #expect(pulled.contains("received 5, sent 0, 0 new conflicts") && !pulled.contains("HELD"), "\(pulled)")
        try expectClean(box, "co.db")
        #expect(try history(box, "co.db").map { $0["origin"] as? String } == ["mx.old"])
        // ... and writes under it; its old change and its new one verify on mx.old.
        try box.sqlite("co.db", "UPDATE item SET sector = 'EDU' WHERE id = 'CO-1'")
        let pushed = try box.ok("co.db", "sync", "--peer", server.url, "--quiet")
        #expect(pushed.contains("received 0, sent 1, 0 new conflicts") && !pushed.contains("HELD"), "\(pushed)")
        try expectClean(box, "mx.db")

        // A brand-new node joins from mx.old's bundle, rosters both old nodes, and takes it all.
        #expect(try box.ok("mx.db", "bundle", "export", "-o", "mx.bundle").contains("wrote 7 changes"))
        let joined = try box.ok("new.db", "init", "--node-id", "pe.new", "--from", "mx.bundle")
        #expect(joined.contains("(1 migration)"), "\(joined)")
        #expect(try columns(box, "new.db", "item") == "id,title,budget,sector\n")
        try roster(box, "new.db", ["mx.db", "co.db"])
        let taken = try box.ok("new.db", "bundle", "import", "mx.bundle", "--quiet")
        #expect(taken.contains("applied 7 new changes") && !taken.contains("HELD"), "\(taken)")
        try expectClean(box, "new.db")

        let dump = try expectConverged(box, ["mx.db", "co.db", "new.db"], "after the upgrade")
        #expect(
            dump == """
                table item
                {"id":"CO-1","title":"Educación","budget":300,"sector":"EDU"}
                {"id":"MX-1","title":"Agua potable","budget":150,"sector":"WASH"}
                {"id":"MX-2","title":"Salud","budget":200,"sector":null}

                """,
            "\(dump)"
        )
    }

    // MARK: 4. Joining on the latest schema

    @Test func aNodeJoiningFromAURLOrABundleStartsOnTheLatestSchema() throws {
        let box = try Sandbox.federation("join", schema: Self.schema, [("a.db", "mx.a"), ("b.db", "co.b")])
        defer { box.remove() }
        try box.sqlite("b.db", "INSERT INTO item VALUES('b1', 'B one', 20)")
        try box.ok("b.db", "bundle", "export", "-o", "b.bundle")
        try box.ok("a.db", "bundle", "import", "b.bundle")
        try box.write(
            "migration.sql",
            """
            CREATE TABLE result(id TEXT PRIMARY KEY, item TEXT, score INTEGER);
            ALTER TABLE item ADD COLUMN status TEXT DEFAULT 'open';
            CREATE INDEX item_status ON item(status);
            """
        )
        try box.ok("a.db", "schema", "apply", "migration.sql")
        try box.sqlite("a.db", "INSERT INTO result VALUES('r1', 'b1', 5); UPDATE item SET status = 'done' WHERE id = 'b1'")
        let version = try status(box, "a.db")["schemaVersion"] as! String
        let genesis = try status(box, "a.db")["genesisVersion"] as! String
        let genesisOfB = try status(box, "b.db")["genesisVersion"] as? String
        #expect(version != genesis && genesis == genesisOfB)
        let statements = [
            "CREATE TABLE result (id TEXT PRIMARY KEY, item TEXT, score INTEGER)",
            "ALTER TABLE item ADD COLUMN status TEXT DEFAULT 'open'",
            "CREATE INDEX item_status ON item (status)",
        ]
        #expect(try history(box, "a.db").map { $0["sql"] as? String } == statements)

        try box.write("tokens.txt", "join-secret\n")
        let server = try box.serve("a.db", ["--token-file", "tokens.txt"])
        defer { server.stop() }
        try box.write("peer-tokens.txt", "\(server.url) join-secret\n")

        // Without the token the server refuses, and nothing is left behind.
        let refused = try box.minga("url.db", ["init", "--node-id", "pe.url", "--from", server.url])
        #expect(
            refused.status == 1 && refused.stderr.contains("cannot read the schema of \(server.url)") && refused.stderr.contains("401"),
            "\(refused.stderr)"
        )
        // The peer's `unauthorized` reaches the command as that code, which says what to do.
        #expect(refused.stderr.contains("no token was sent to it: give the peer's with --peer-tokens FILE"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: box.path("url.db")))

        let fromURL = try box.ok("url.db", "init", "--node-id", "pe.url", "--from", server.url, "--peer-tokens", "peer-tokens.txt")
        #expect(fromURL.contains("joined on schema version \(version) (3 migrations)"), "\(fromURL)")
        #expect(fromURL.contains("tracked tables: item (key: id); result (key: id)"), "\(fromURL)")
        try box.ok("a.db", "bundle", "export", "-o", "a.bundle")
        let fromBundle = try box.ok("bundle.db", "init", "--node-id", "pe.bundle", "--from", "a.bundle")
        #expect(fromBundle.contains("joined on schema version \(version) (3 migrations)"), "\(fromBundle)")

        // Before any sync: the tables, the index and the version of the federation, and the
        // migrations listed.
        for db in ["url.db", "bundle.db"] {
            #expect(try status(box, db)["schemaVersion"] as? String == version, "\(db)")
            #expect(try status(box, db)["genesisVersion"] as? String == genesis, "\(db)")
            #expect(try columns(box, db, "item") == "id,title,budget,status\n", "\(db)")
            #expect(try columns(box, db, "result") == "id,item,score\n", "\(db)")
            #expect(
                try box.sqlite(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'item' AND name = 'item_status'")
                    == "item_status\n",
                "\(db)"
            )
            let listed = try box.ok(db, "schema", "history")
            #expect(listed.hasPrefix("schema version \(version) (created from \(genesis))\n"), "\(db): \(listed)")
            #expect(
                statements.allSatisfy(listed.contains) && !listed.contains("no migrations"),
                "\(db): a node that joined on the latest schema lists the migrations it holds before any sync:\n\(listed)"
            )
            #expect(try box.sqlite(db, "SELECT count(*) FROM item") == "0\n", "\(db): no data before a sync")
        }

        try roster(box, "url.db", ["a.db", "b.db"])
        try roster(box, "bundle.db", ["a.db", "b.db"])
        try roster(box, "a.db", ["url.db", "bundle.db"])
        let synced = try box.ok("url.db", "sync", "--peer", server.url, "--peer-tokens", "peer-tokens.txt", "--quiet")
        #expect(synced.contains("received 6, sent 0, 0 new conflicts") && !synced.contains("HELD"), "\(synced)")
        let imported = try box.ok("bundle.db", "bundle", "import", "a.bundle", "--quiet")
        #expect(imported.contains("applied 6 new changes") && !imported.contains("HELD"), "\(imported)")
        let dump = try expectConverged(box, ["a.db", "url.db", "bundle.db"], "after joining")
        #expect(
            dump == """
                table item
                {"id":"b1","title":"B one","budget":20,"status":"done"}
                table result
                {"id":"r1","item":"b1","score":5}

                """,
            "\(dump)"
        )
        for db in ["url.db", "bundle.db"] {
            try expectClean(box, db)
            #expect(try history(box, db).map { $0["origin"] as? String } == ["mx.a", "mx.a", "mx.a"], "\(db)")
            #expect(try history(box, db).map { $0["sql"] as? String } == statements, "\(db)")
        }
        // The new node's own writes under the migration go back to A.
        try box.sqlite("url.db", "INSERT INTO result VALUES('r2', 'b1', 9)")
        let back = try box.ok("url.db", "sync", "--peer", server.url, "--peer-tokens", "peer-tokens.txt", "--quiet")
        #expect(back.contains("received 0, sent 1, 0 new conflicts"), "\(back)")
        #expect(try box.sqlite("a.db", "SELECT id, score FROM result ORDER BY id") == "r1|5\nr2|9\n")

        // A node created from another schema file is refused both ways, saying why.
        try box.write("other.sql", "CREATE TABLE thing(id TEXT PRIMARY KEY, v TEXT);")
        try box.ok("other.db", "init", "--node-id", "pe.other", "--schema", "other.sql")
        let bundle = try box.minga("other.db", ["bundle", "import", "a.bundle", "--quiet"])
        #expect(
            bundle.status == 1 && bundle.stderr.contains("created from schema \(genesis)") && bundle.stderr.contains("minga init --from BUNDLE"),
            "\(bundle.stderr)"
        )
        let sync = try box.minga("other.db", ["sync", "--peer", server.url, "--peer-tokens", "peer-tokens.txt", "--quiet"])
        #expect(sync.status == 1 && (sync.stdout + sync.stderr).contains("was created from schema \(genesis)"), "\(sync.stdout) \(sync.stderr)")
    }

    // MARK: 5. Refusals

    @Test func whatIsNotAnAdditiveMigrationIsRefusedAndChangesNothing() throws {
        let box = try Sandbox.federation("refusals", schema: Self.schema, [("a.db", "mx.a"), ("b.db", "co.b")])
        defer { box.remove() }
        try box.sqlite("a.db", "INSERT INTO item VALUES('a1', 'A one', 10)")
        try box.ok("a.db", "status")  // sealed
        func snapshot() throws -> [String] {
            try [
                box.ok("a.db", "dump"), box.ok("a.db", "schema", "history", "--json"), status(box, "a.db")["schemaVersion"] as! String,
                (status(box, "a.db")["vector"] as! [String: Int]).sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "),
                box.sqlite("a.db", "SELECT type, name, sql FROM sqlite_master ORDER BY name"),
            ]
        }
        let before = try snapshot()
        let cases: [(sql: String, why: String)] = [
            ("DROP TABLE item;", "DROP TABLE item: dropping loses what other nodes still write; stop using it instead"),
            ("ALTER TABLE item RENAME COLUMN title TO name;", "a rename would strand every change other nodes make under the old name"),
            (
                "CREATE UNIQUE INDEX item_title ON item(title);",
                "a unique index lets two agencies working offline each give the same value to different rows"
            ),
            ("ALTER TABLE item ADD COLUMN x TEXT DEFAULT (datetime('now'));", "non-constant default"),
            ("ALTER TABLE item ADD COLUMN x TEXT DEFAULT CURRENT_TIMESTAMP;", "non-constant default"),
            ("ALTER TABLE item ADD COLUMN x TEXT NOT NULL;", "NOT NULL column with default value NULL"),
            ("CREATE INDEX IF NOT EXISTS item_title ON item(title);", "IF NOT EXISTS is not taken"),
            // The second statement fails: nothing of the first is applied either.
            ("ALTER TABLE item ADD COLUMN y TEXT;\nDROP TABLE item;", "dropping loses what other nodes still write"),
            ("ALTER TABLE item ADD COLUMN y TEXT;\nALTER TABLE nosuch ADD COLUMN z TEXT;", "there is no tracked table nosuch; tracked: item"),
            ("CREATE TABLE note(id TEXT PRIMARY KEY, v TEXT);\nALTER TABLE item ADD COLUMN y TEXT DEFAULT (random());", "non-constant default"),
        ]
        for (i, (sql, why)) in cases.enumerated() {
            try box.write("m\(i).sql", sql)
            let result = try box.minga("a.db", ["schema", "apply", "m\(i).sql"])
            #expect(result.status == 1, "\(sql) was not refused: \(result.stdout)")
            #expect(result.stderr.hasPrefix("minga: ") && result.stderr.contains(why), "\(sql): \(result.stderr)")
            #expect(result.stdout.isEmpty, "\(sql): \(result.stdout)")
            #expect(try snapshot() == before, "\(sql) changed something")
        }
        #expect(try columns(box, "a.db", "item") == "id,title,budget\n")
        // What the refused files tried applies fine on its own, and B receives exactly that.
        try box.write("ok.sql", "ALTER TABLE item ADD COLUMN y TEXT;")
        #expect(try box.ok("a.db", "schema", "apply", "ok.sql").contains("added column item.y"))
        let again = try box.minga("a.db", ["schema", "apply", "ok.sql"])
        #expect(again.status == 1 && again.stderr.contains("the column item.y exists already"), "\(again.stderr)")
        try box.ok("a.db", "bundle", "export", "-o", "a.bundle")
        try box.ok("b.db", "bundle", "import", "a.bundle")
        #expect(try history(box, "b.db").map { $0["sql"] as? String } == ["ALTER TABLE item ADD COLUMN y TEXT"])
        try expectConverged(box, ["a.db", "b.db"], "after the one migration")
    }

    @Test func anAlterTableInTheShellStopsSyncAndExportNamingSchemaApply() throws {
        let box = try Sandbox.federation("shell-alter", schema: Self.schema, [("a.db", "mx.a"), ("b.db", "co.b")])
        defer { box.remove() }
        try box.sqlite("a.db", "INSERT INTO item VALUES('a1', 'A one', 10)")
        try box.ok("a.db", "status")
        try box.sqlite("a.db", "ALTER TABLE item ADD COLUMN x TEXT")
        try box.sqlite("a.db", "INSERT INTO item VALUES('a2', 'A two', 11, 'lost?')")

        let export = try box.minga("a.db", ["bundle", "export", "-o", "a.bundle"])
        #expect(
            export.status == 1 && export.stderr.contains("column x was added") && export.stderr.contains("minga schema apply FILE.sql"),
            "\(export.stderr)"
        )
        #expect(!FileManager.default.fileExists(atPath: box.path("a.bundle")))
        let b = try box.serve("b.db")
        defer { b.stop() }
        let sync = try box.minga("a.db", ["sync", "--peer", b.url, "--quiet"])
        #expect(sync.status == 1 && (sync.stdout + sync.stderr).contains("minga schema apply FILE.sql"), "\(sync.stdout) \(sync.stderr)")
        #expect(try box.sqlite("b.db", "SELECT count(*) FROM item") == "0\n", "nothing reached B")
        let shown = try box.ok("a.db", "status")
        #expect(shown.contains("DRIFT") && shown.contains(#"undo: ALTER TABLE "item" DROP COLUMN "x""#), "\(shown)")

        // Undone, the writes captured meanwhile go out, and the column goes the right way.
        try box.sqlite("a.db", #"ALTER TABLE "item" DROP COLUMN "x""#)
        try box.write("x.sql", "ALTER TABLE item ADD COLUMN x TEXT;")
        try box.ok("a.db", "schema", "apply", "x.sql")
        try box.sqlite("a.db", "UPDATE item SET x = 'kept' WHERE id = 'a2'")
        let synced = try box.ok("a.db", "sync", "--peer", b.url, "--quiet")
        #expect(synced.contains("received 0, sent 4, 0 new conflicts"), "a1, a2, the migration, a2's x: \(synced)")
        let dump = try expectConverged(box, ["a.db", "b.db"], "after the undo")
        #expect(
            dump == """
                table item
                {"id":"a1","title":"A one","budget":10,"x":null}
                {"id":"a2","title":"A two","budget":11,"x":"kept"}

                """,
            "\(dump)"
        )
    }
}
