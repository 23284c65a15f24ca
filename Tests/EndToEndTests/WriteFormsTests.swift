import Foundation
import Testing

/// Every write reaches every node, or is refused where it is made (protocol/README.md §1
/// "What init refuses", "Drift"; §3 "Sizes"; §4 "Write time"): the sqlite3 shell on two real
/// nodes, synced by bundles, with the exact values asserted.
@Suite(.serialized) struct WriteFormsTests {
    /// Two federated nodes created from `schema`.
    func pair(_ name: String, schema: String) throws -> Sandbox {
        try Sandbox.federation(name, schema: schema, [("a.db", "mx.amexcid"), ("b.db", "co.apc")])
    }

    /// Both ways, by bundle, until each holds what the other has.
    func sync(_ box: Sandbox) throws {
        for (from, to) in [("a", "b"), ("b", "a")] {
            try box.ok("\(from).db", "bundle", "export", "-o", "\(from).bundle")
            try box.ok("\(to).db", "bundle", "import", "\(from).bundle")
        }
    }

    /// Equal dumps and equal conflict lists (open and resolved) on both nodes; returns the dump.
    @discardableResult
    func expectConverged(_ box: Sandbox, _ step: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let dumps = try ["a", "b"].map { try box.ok("\($0).db", "dump") }
        // Byte for byte: Swift's String == would call "é" and "e\u{301}" equal.
        #expect(Array(dumps[0].utf8) == Array(dumps[1].utf8), "\(step): dumps differ\n\(dumps[0])---\n\(dumps[1])", sourceLocation: sourceLocation)
        let conflicts = try ["a", "b"].map { try box.ok("\($0).db", "conflicts", "list", "--all", "--json") }
        #expect(conflicts[0] == conflicts[1], "\(step): conflict lists differ", sourceLocation: sourceLocation)
        return dumps[0]
    }

    /// The shell's statement, which may be refused: its exit status and error text.
    func shell(_ box: Sandbox, _ db: String, _ sql: String) throws -> Sandbox.Result {
        try box.run("/usr/bin/sqlite3", ["-cmd", ".timeout 30000", box.path(db), sql], env: ProcessInfo.processInfo.environment, timeout: 120)
    }

    // MARK: Writes other nodes would hold differently: refused where made, or shown

    @Test func replaceThroughAUniqueColumnIsRefusedAtInit() throws {
        let box = try Sandbox("unique")
        defer { box.remove() }
        try box.write("schema.sql", "CREATE TABLE person(id TEXT PRIMARY KEY NOT NULL, email TEXT UNIQUE, name TEXT);")
        let result = try box.minga("a.db", ["init", "--node-id", "mx.amexcid", "--schema", "schema.sql"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("table person: UNIQUE (email) besides the primary key"), "\(result.stderr)")
        #expect(result.stderr.contains("make that column the key"))
        #expect(!FileManager.default.fileExists(atPath: box.path("a.db")), "nothing is left behind")
        // A unique index, too.
        try box.write(
            "index.sql",
            "CREATE TABLE person(id TEXT PRIMARY KEY NOT NULL, email TEXT, name TEXT); CREATE UNIQUE INDEX person_email ON person(email);"
        )
        let index = try box.minga("a.db", ["init", "--node-id", "mx.amexcid", "--schema", "index.sql"])
        #expect(index.status == 1 && index.stderr.contains("UNIQUE (email) (index person_email)"), "\(index.stderr)")
    }

    @Test func aNullKeyIsRefusedInTheWritersStatementAndTheNodeStillSyncs() throws {
        let box = try pair("nullkey", schema: "CREATE TABLE tag(name TEXT PRIMARY KEY, color TEXT);")
        defer { box.remove() }
        let refused = try shell(box, "a.db", "INSERT INTO tag VALUES(NULL,'red')")
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("minga: tag.name is NULL, but it is part of the key"), "\(refused.stderr)")
        #expect(try box.sqlite("a.db", "SELECT count(*) FROM tag") == "0\n", "the statement left nothing")
        // A whole statement is refused: the good row in it too.
        #expect(try shell(box, "a.db", "INSERT INTO tag VALUES('blue','#00f'),(NULL,'red')").status != 0)
        try box.sqlite("a.db", "INSERT INTO tag VALUES('green','#0f0')")
        try sync(box)
        let dump = try expectConverged(box, "after the refusal")
        #expect(dump == "table tag\n{\"name\":\"green\",\"color\":\"#0f0\"}\n")
    }

    @Test func keysOfOtherKindsNULTextAndOversizedValuesAreRefusedWhereWritten() throws {
        let box = try pair(
            "content",
            schema: """
                CREATE TABLE doc(id TEXT PRIMARY KEY NOT NULL, n INTEGER, body BLOB);
                CREATE TABLE pair(a INTEGER NOT NULL, b BLOB NOT NULL, PRIMARY KEY (a, b)) WITHOUT ROWID;
                """
        )
        defer { box.remove() }
        let cases: [(String, String)] = [
            ("INSERT INTO doc VALUES(x'01', 1, NULL)", "key column doc.id takes text values only"),
            ("INSERT INTO pair VALUES('one', 'x')", "key column pair.a takes integer values only"),
            ("INSERT INTO pair VALUES(1, 2.5)", "key column pair.b takes text or integer values only"),
            ("INSERT INTO doc VALUES('d1', 1, 'a' || char(0) || 'b')", "doc.body: text with a NUL character"),
            ("INSERT INTO doc VALUES('d2', 1, zeroblob(1048577))", "doc.body: a value over 1048576 bytes"),
            ("INSERT INTO doc VALUES('d3', randomblob(1048576), randomblob(1048576))", "a row of doc over 2097152 bytes"),
        ]
        for (sql, message) in cases {
            let result = try shell(box, "a.db", sql)
            #expect(result.status != 0 && result.stderr.contains("minga: " + message), "\(sql): \(result.stderr)")
        }
        // At the limits, and a blob with zero bytes, are fine; so is an update that stays within.
        try box.sqlite("a.db", "INSERT INTO doc VALUES('ok', randomblob(1048576), zeroblob(1048574))")  // 2 MiB with the key
        try box.sqlite("a.db", "INSERT INTO pair VALUES(1, 'x'), (2, 7)")
        let grow = try shell(box, "a.db", "UPDATE doc SET body = zeroblob(1048575) WHERE id = 'ok'")
        #expect(grow.status != 0 && grow.stderr.contains("a row of doc over 2097152 bytes"), "\(grow.stderr)")
        let nul = try shell(box, "a.db", "UPDATE doc SET body = 'a' || char(0) WHERE id = 'ok'")
        #expect(nul.status != 0 && nul.stderr.contains("doc.body: text with a NUL"), "\(nul.stderr)")
        try box.sqlite("a.db", "UPDATE doc SET body = zeroblob(10) WHERE id = 'ok'")
        try sync(box)
        try expectConverged(box, "content rules")
        #expect(try box.sqlite("b.db", "SELECT id, length(n), length(body) FROM doc") == "ok|1048576|10\n")
    }

    /// Bytes of another encoding written as text (a Latin-1 program): refused in a key, and
    /// in a value stored as every node will hold it, shown by status, never a silent split.
    @Test func textThatIsNotUTF8IsRefusedInKeysAndRepairedVisiblyInValues() throws {
        let box = try pair("utf8", schema: "CREATE TABLE t(k TEXT PRIMARY KEY NOT NULL, v TEXT);")
        defer { box.remove() }
        for bad in ["ff", "61ff", "80", "c0af", "e282", "eda080", "f4908080", "e282ac80"] {
            let result = try shell(box, "a.db", "INSERT INTO t VALUES(CAST(x'\(bad)' AS TEXT), 'x')")
            #expect(result.status != 0 && result.stderr.contains("minga: key column t.k: the text is not valid UTF-8"), "\(bad): \(result.stderr)")
        }
        try box.sqlite("a.db", "INSERT INTO t VALUES('cañón 🤝', 'ok'), ('latin1', CAST(x'436f6f706572616369f36e' AS TEXT)), ('real', 'a\u{FFFD}b')")
        let status = try box.ok("a.db", "status")
        #expect(status.contains("repaired   1 local write(s) held text that is not valid UTF-8"), "\(status)")
        try sync(box)
        try expectConverged(box, "after the repair")
        let hex = "SELECT k, hex(v) FROM t ORDER BY k"
        let rows = "ca\u{F1}\u{F3}n \u{1F91D}|6F6B\nlatin1|436F6F706572616369EFBFBD6E\nreal|61EFBFBD62\n"
        #expect(try box.sqlite("a.db", hex) == rows)
        #expect(try box.sqlite("b.db", hex) == rows, "both nodes hold the same bytes")
    }

    @Test func aCaseInsensitiveOrNumericKeyIsRefusedAtInit() throws {
        let box = try Sandbox("nocase")
        defer { box.remove() }
        let shapes = [
            ("CREATE TABLE handle(handle TEXT PRIMARY KEY NOT NULL COLLATE NOCASE, name TEXT);", "key column handle uses COLLATE NOCASE"),
            ("CREATE TABLE h(k TEXT NOT NULL, v TEXT, PRIMARY KEY (k COLLATE NOCASE));", "key column k uses COLLATE NOCASE"),
            ("CREATE TABLE amount(k NUMERIC PRIMARY KEY NOT NULL, v TEXT);", "key column k is declared NUMERIC"),
            ("CREATE TABLE rate(k REAL NOT NULL, v TEXT, PRIMARY KEY (k)) WITHOUT ROWID;", "key column k is declared REAL"),
        ]
        for (schema, message) in shapes {
            try box.write("schema.sql", schema)
            let result = try box.minga("a.db", ["init", "--node-id", "mx.amexcid", "--schema", "schema.sql"])
            #expect(result.status == 1 && result.stderr.contains(message), "\(schema): \(result.stderr)")
        }
        // What still works: foreign keys, composite keys, WITHOUT ROWID, CHECK, a non-unique index.
        try box.write(
            "schema.sql",
            """
            CREATE TABLE org(ref TEXT PRIMARY KEY NOT NULL, name TEXT CHECK (length(name) < 200));
            CREATE TABLE member(org TEXT NOT NULL REFERENCES org(ref) ON DELETE CASCADE, n INTEGER NOT NULL, PRIMARY KEY (org, n)) WITHOUT ROWID;
            CREATE INDEX org_name ON org(name);
            """
        )
        try box.ok("a.db", "init", "--node-id", "mx.amexcid", "--schema", "schema.sql")
    }

    @Test func schemaChangedBehindMingasBackStopsSealingUntilUndone() throws {
        let box = try pair("drift", schema: "CREATE TABLE friend(id TEXT PRIMARY KEY NOT NULL, name TEXT);")
        defer { box.remove() }
        try box.sqlite("a.db", "INSERT INTO friend VALUES('f1', 'Ana')")
        try sync(box)
        try box.sqlite("a.db", "ALTER TABLE friend ADD COLUMN nick TEXT; CREATE TABLE pet(id TEXT PRIMARY KEY, name TEXT)")
        try box.sqlite("a.db", "UPDATE friend SET name = 'Ana María', nick = 'Anita' WHERE id = 'f1'; INSERT INTO pet VALUES('p1', 'Rex')")

        let status = try box.ok("a.db", "status")
        #expect(status.contains("untracked  pet"), "\(status)")
        #expect(status.contains("DRIFT"), "\(status)")
        #expect(
            status.contains(
                "table friend: column nick was added, and writes to it are not captured (undo: ALTER TABLE \"friend\" DROP COLUMN \"nick\"; then put the ALTER TABLE in a file and run `minga schema apply FILE.sql`"
            ),
            "\(status)"
        )
        #expect(status.contains("1 local write(s) captured and kept"), "\(status)")
        let json = try box.json(try box.ok("a.db", "status", "--json")) as! [String: Any]
        #expect(json["untracked"] as? [String] == ["pet"])
        #expect((json["drift"] as? [String])?.count == 1 && json["pending"] as? Int == 1)

        let export = try box.minga("a.db", ["bundle", "export", "-o", "a.bundle"])
        #expect(
            export.status == 1 && export.stderr.contains("the tracked tables were changed outside Minga: table friend: column nick was added"),
            "\(export.stderr)"
        )
        // A local write is still captured (and kept), with a warning.
        let put = try box.minga("a.db", ["put", "friend", #"{"id":"f2","name":"Luis"}"#])
        #expect(put.status == 0 && put.stderr.contains("warning: the tracked tables were changed outside Minga"), "\(put.stderr)")

        // Undone, the write made meanwhile is sealed and reaches the other node; pet stays here.
        try box.sqlite("a.db", "ALTER TABLE friend DROP COLUMN nick")
        #expect(!(try box.ok("a.db", "status")).contains("DRIFT"))
        try sync(box)
        let dump = try expectConverged(box, "after the undo")
        #expect(dump == "table friend\n{\"id\":\"f1\",\"name\":\"Ana María\"}\n{\"id\":\"f2\",\"name\":\"Luis\"}\n")

        // A unique index, then a trigger of another program's, are drift too.
        try box.sqlite("a.db", "CREATE UNIQUE INDEX friend_name ON friend(name)")
        let unique = try box.ok("a.db", "status")
        #expect(
            unique.contains(
                "table friend: UNIQUE (name) (index friend_name) was added: two nodes could each accept the same value offline (undo: DROP INDEX \"friend_name\")"
            ),
            "\(unique)"
        )
        try box.sqlite("a.db", "DROP INDEX friend_name; CREATE TRIGGER audit AFTER INSERT ON friend BEGIN SELECT 1; END")
        #expect(try box.ok("a.db", "status").contains("trigger audit was added"))
        try box.sqlite("a.db", "DROP TRIGGER audit")
        #expect(!(try box.ok("a.db", "status")).contains("DRIFT"))

        // Minga's own triggers are part of the recorded shape.
        try box.sqlite("a.db", "DROP TRIGGER minga_delete_friend")
        let dropped = try box.minga("a.db", ["bundle", "export", "-o", "a.bundle"])
        #expect(dropped.stderr.contains("Minga's capture trigger minga_delete_friend was dropped"), "\(dropped.stderr)")
    }

    @Test func aWriteIsStampedWithTheTimeItWasMadeNotSealed() throws {
        let box = try pair("when", schema: "CREATE TABLE item(id TEXT PRIMARY KEY NOT NULL, title TEXT);")
        defer { box.remove() }
        try box.sqlite("a.db", "INSERT INTO item VALUES('i1', 'first')")
        try sync(box)

        // a's write comes first and b's later, but b seals first and a long after.
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        try box.sqlite("a.db", "UPDATE item SET title = 'from a' WHERE id = 'i1'")
        let after = Int64(Date().timeIntervalSince1970 * 1000)
        Thread.sleep(forTimeInterval: 0.3)
        try box.sqlite("b.db", "UPDATE item SET title = 'from b' WHERE id = 'i1'")
        try box.ok("b.db", "status")
        Thread.sleep(forTimeInterval: 2.5)
        let log = try box.ok("a.db", "log", "item", "i1", "--json").split(separator: "\n").map { try box.json(String($0)) as! [String: Any] }
        let update = try #require(log.last?["change"] as? [String: Any])
        let millis = Int64(String((update["hlc"] as! String).prefix(13)))!
        #expect(
            millis >= before - 50 && millis <= after + 50,
            "the update's time \(millis) is when it was written [\(before), \(after)], not when sealed"
        )

        try sync(box)
        let dump = try expectConverged(box, "last writer")
        #expect(dump.contains(#""title":"from b""#), "the later write wins, whenever it was sealed: \(dump)")
        let conflicts = try box.json(try box.ok("a.db", "conflicts", "list", "--json")) as! [[String: Any]]
        #expect((conflicts.first?["winner"] as? [String: Any])?["value"] as? String == "from b")
    }

    // MARK: Every SQLite write form

    static let formsSchema = """
        CREATE TABLE item(id TEXT PRIMARY KEY NOT NULL, name TEXT, qty INTEGER CHECK (qty >= 0));
        CREATE TABLE part(item TEXT NOT NULL REFERENCES item(id) ON DELETE CASCADE, n INTEGER NOT NULL, note TEXT, PRIMARY KEY (item, n)) WITHOUT ROWID;
        """

    @Test(arguments: [false, true]) func everyWriteFormConvergesOrIsRefused(recursiveTriggers: Bool) throws {
        let box = try pair("forms-\(recursiveTriggers)", schema: Self.formsSchema)
        defer { box.remove() }
        let pragma = "PRAGMA recursive_triggers = \(recursiveTriggers ? "ON" : "OFF"); "
        func write(_ db: String, _ sql: String) throws { try box.sqlite(db, pragma + sql) }
        try write(
            "a.db",
            "INSERT INTO item VALUES('i1','bolt',5),('i2','nut',7),('i3','gear',1); INSERT INTO part VALUES('i1',1,'x'),('i1',2,'y'),('i2',1,'z')"
        )
        try sync(box)
        let steps: [(String, String, String)] = [
            ("INSERT OR REPLACE on the key", "a.db", "INSERT OR REPLACE INTO item VALUES('i1','bolt M8',6)"),
            ("REPLACE INTO", "b.db", "REPLACE INTO item VALUES('i4','washer',3)"),
            ("UPSERT DO UPDATE", "a.db", "INSERT INTO item VALUES('i2','nut',0) ON CONFLICT(id) DO UPDATE SET qty = qty + excluded.qty + 1"),
            ("UPSERT DO NOTHING", "b.db", "INSERT INTO item VALUES('i2','other',99) ON CONFLICT DO NOTHING"),
            ("INSERT OR IGNORE", "a.db", "INSERT OR IGNORE INTO item VALUES('i3','other',99),('i5','spring',2)"),
            ("UPDATE OR REPLACE onto another key", "b.db", "UPDATE OR REPLACE item SET id = 'i4' WHERE id = 'i3'"),
            ("UPDATE of a key", "a.db", "UPDATE item SET id = 'i6' WHERE id = 'i5'"),
            ("DELETE", "b.db", "DELETE FROM item WHERE id = 'i6'"),
            ("cascading delete, foreign keys on", "a.db", "PRAGMA foreign_keys = ON; DELETE FROM item WHERE id = 'i1'"),
            ("delete with foreign keys off", "b.db", "DELETE FROM item WHERE id = 'i2'"),
            ("CHECK refused", "a.db", "UPDATE item SET qty = -1 WHERE id = 'i4'"),
        ]
        for (name, db, sql) in steps {
            let result = try shell(box, db, pragma + sql)
            if name == "CHECK refused" {
                #expect(result.status != 0 && result.stderr.contains("CHECK constraint failed"), "\(name): \(result.stderr)")
            } else {
                #expect(result.status == 0, "\(name): \(result.stderr)")
            }
            try sync(box)
            try expectConverged(box, name)
        }
        // Concurrent: the same key replaced on both nodes, and an edit against a delete.
        try write("a.db", "REPLACE INTO item VALUES('i7','from a',1); UPDATE item SET name = 'a' WHERE id = 'i4'")
        try write("b.db", "REPLACE INTO item VALUES('i7','from b',2); DELETE FROM item WHERE id = 'i4'")
        try sync(box)
        try expectConverged(box, "concurrent writes")
        let dump = try box.ok("a.db", "dump")
        #expect(dump.contains(#"{"item":"i2","n":1,"note":"z"}"#), "foreign keys off: the child row stays, on both nodes: \(dump)")
        #expect(!dump.contains(#""item":"i1""#), "the cascade's deletes travelled: \(dump)")
        #expect(!dump.contains(#""id":"i4""#), "b's delete came after a's edit: \(dump)")
        #expect(dump.contains(#"{"id":"i7","name":"from b","qty":2}"#), "\(dump)")
        let open = try box.json(try box.ok("a.db", "conflicts", "list", "--json")) as! [[String: Any]]
        #expect(open.count == 3, "both columns of the replaced key, and the edit against the delete: \(open)")
    }
}
