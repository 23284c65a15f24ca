import Foundation
import GRDB
import MingaCore
import MingaStore
import MingaTestSupport
import Testing

@Suite struct CaptureTests {
    @Test func anySQLClientsWritesAreCapturedInTheSameTransaction() throws {
        let r = try Fixture.replica("mx.amexcid")
        // Plain SQL, as the sqlite3 shell or a ministry's own program would write it.
        try r.writer.write { db in
            try db.execute(sql: "INSERT INTO initiatives(id, title, budget) VALUES ('XM-1', 'Agua', 10)")
            try db.execute(sql: "UPDATE initiatives SET budget = 20 WHERE id = 'XM-1'")
            try db.execute(sql: "UPDATE initiatives SET budget = 20 WHERE id = 'XM-1'")  // changes nothing
            try db.execute(sql: "INSERT INTO participation VALUES ('XM-1', 'MX-1', 'provider')")
            try db.execute(sql: "DELETE FROM participation")
        }
        let log = try Fixture.allChanges(r)
        #expect(log.map(\.op) == [.insert, .update, .insert, .delete])
        #expect(log.map(\.seq) == [1, 2, 3, 4])
        #expect(log.allSatisfy { $0.origin.rawValue == "mx.amexcid" })
        #expect(zip(log, log.dropFirst()).allSatisfy { $0.hlc < $1.hlc })
        #expect(log[0].columns == ["title": .text("Agua"), "budget": .integer(10), "ratio": .null, "doc": .null])
        #expect(log[1].columns == ["budget": .integer(20)], "an update records only the columns it changed")
        #expect(log[1].context == VersionVector([try NodeID("mx.amexcid"): 1]), "the context is the row's vector as the writer saw it")
        #expect(log[2].key == [.text("XM-1"), .text("MX-1")])
        let mx = try NodeID("mx.amexcid")
        #expect(log[3].columns.isEmpty)
        #expect(log[3].context[mx] == 3)
        #expect(try r.vector() == VersionVector([try NodeID("mx.amexcid"): 4]))
    }

    /// The update trigger compares byte for byte and type for type: an edit that SQLite's
    /// `=` would call no change is still an edit another node would store differently.
    @Test func anEditThatOnlyLooksEqualIsCaptured() throws {
        let r = try Fixture.replica("mx.amexcid", schema: "CREATE TABLE t(id TEXT PRIMARY KEY, name TEXT COLLATE NOCASE, raw, note VARCHAR(9));")
        try r.writer.write { db in
            try db.execute(sql: "INSERT INTO t VALUES ('a', 'agua', 1, 'abc')")
            try db.execute(sql: "UPDATE t SET name = 'AGUA'")  // equal under NOCASE
            try db.execute(sql: "UPDATE t SET raw = 1.0")  // equal as numbers, another type
            try db.execute(sql: "UPDATE t SET note = CAST('abc' AS BLOB)")  // the same bytes as a blob
            try db.execute(sql: "UPDATE t SET note = CAST(note AS BLOB), name = 'AGUA', raw = 1.0")  // truly nothing
            try db.execute(sql: "UPDATE t SET note = 7")  // text affinity: stored as the text '7'
        }
        let updates = try Fixture.allChanges(r).dropFirst().map(\.columns)
        #expect(updates == [["name": .text("AGUA")], ["raw": .real(1.0)], ["note": .blob(Data("abc".utf8))], ["note": .text("7")]])
    }

    @Test func aRolledBackWriteLeavesNoChange() throws {
        let r = try Fixture.replica("mx.amexcid")
        #expect(throws: (any Error).self) {
            try r.writer.write { db in
                try db.execute(sql: "INSERT INTO initiatives(id) VALUES ('XM-1')")
                try db.execute(sql: "INSERT INTO nowhere VALUES (1)")
            }
        }
        #expect(try Fixture.allChanges(r).isEmpty)
        #expect(try r.get(table: "initiatives", key: [.text("XM-1")]) == nil)
    }

    @Test func changingAKeyIsADeleteAndAnInsert() throws {
        let r = try Fixture.replica("mx.amexcid")
        try r.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("Agua")])
        try r.writer.write { db in try db.execute(sql: "UPDATE initiatives SET id = 'XM-2' WHERE id = 'XM-1'") }
        let log = try Fixture.allChanges(r)
        #expect(log.map(\.op) == [.insert, .delete, .insert])
        #expect(log[1].key == [.text("XM-1")] && log[2].key == [.text("XM-2")])
        #expect(log[2].columns["title"] == .text("Agua"))
        let b = try Fixture.replica("co.apc")
        try Fixture.sync(from: r, to: b)
        #expect(try b.dump() == r.dump())
    }

    @Test func changesAppliedFromAPeerAreNotCapturedAgain() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("Agua")])
        try mx.delete(table: "initiatives", key: [.text("XM-1")])
        try mx.put(table: "initiatives", row: ["id": .text("XM-2")])
        try Fixture.sync(from: mx, to: co)
        #expect(try co.vector() == mx.vector())
        #expect(try Fixture.allChanges(co).allSatisfy { $0.origin.rawValue == "mx.amexcid" })
        #expect(try co.dump() == mx.dump())
        // co's next own write starts its own sequence at 1 and is later than everything it holds.
        try co.put(table: "initiatives", row: ["id": .text("XM-2"), "title": .text("Nuevo")])
        let last = try Fixture.allChanges(co).last!
        #expect(last.origin.rawValue == "co.apc" && last.seq == 1)
        #expect(try Fixture.allChanges(mx).allSatisfy { $0.hlc < last.hlc })
    }

    @Test func valuesSurviveExactly() throws {
        let values: [Value] = [
            .null, .integer(Int64.max), .integer(Int64.min), .integer(9_007_199_254_740_993),
            .real(0.1), .real(1e-300), .real(-0.0), .real(Double.greatestFiniteMagnitude), .real(.infinity),
            .text("Cooperação Sul-Sul 🤝 ñandú \u{1}x"), .blob(Data([0, 1, 2, 255])), .blob(Data()),
        ]
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        for (i, value) in values.enumerated() {
            try mx.writer.write { db in
                try db.execute(sql: "INSERT INTO initiatives(id, doc) VALUES (?, ?)", arguments: ["k\(i)", value.databaseValue])
            }
        }
        // Through the wire encoding, into another replica.
        let wire = try JSONEncoder.wire.encode(ChangeBatch(changes: try Fixture.allChanges(mx)))
        try co.apply(try JSONDecoder().decode(ChangeBatch.self, from: wire))
        for (i, value) in values.enumerated() {
            let row = try #require(try co.get(table: "initiatives", key: [.text("k\(i)")]))
            #expect(row.first { $0.0 == "doc" }?.1 == value)
        }
        #expect(try co.dump() == mx.dump())
    }

    @Test func textWithNULIsRefusedRatherThanTruncated() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let change = Change(
            origin: try NodeID("co.apc"),
            seq: 1,
            hlc: HLC(millis: 1, counter: 0),
            table: "initiatives",
            key: [.text("x")],
            op: .insert,
            columns: ["title": .text("a\u{0}b")]
        )
        let held = try mx.apply(ChangeBatch(changes: [change])).held
        #expect(held.first?.code == .badContent && held.first?.reason.contains("NUL") == true, "\(held)")
    }

    @Test func putUpdatesOnlyTheGivenColumns() throws {
        let r = try Fixture.replica("mx.amexcid")
        #expect(try r.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("Agua"), "budget": .integer(5)]))
        #expect(try !r.put(table: "initiatives", row: ["id": .text("XM-1"), "budget": .integer(6)]))
        #expect(try Fixture.allChanges(r).last?.columns == ["budget": .integer(6)])
        #expect(try r.get(table: "initiatives", key: [.text("XM-1")])?.first { $0.0 == "title" }?.1 == .text("Agua"))
        let noKey = #expect(throws: MingaError.self) { try r.put(table: "initiatives", row: ["title": .text("no key")]) }
        #expect(noKey?.code == .invalidInput, "\(noKey?.message ?? "")")
        let unknownColumn = #expect(throws: MingaError.self) { try r.put(table: "initiatives", row: ["id": .text("x"), "nope": .null]) }
        #expect(unknownColumn?.code == .invalidInput, "\(unknownColumn?.message ?? "")")
        let unknownTable = #expect(throws: MingaError.self) { try r.put(table: "nowhere", row: ["id": .text("x")]) }
        #expect(unknownTable?.code == .invalidInput, "\(unknownTable?.message ?? "")")
    }

    @Test func queryIsReadOnly() throws {
        let r = try Fixture.replica("mx.amexcid")
        try r.put(table: "initiatives", row: ["id": .text("XM-1")])
        #expect(try r.query("SELECT count(*) AS n FROM initiatives").rows == [[.integer(1)]])
        let write = #expect(throws: MingaError.self) { try r.query("DELETE FROM initiatives") }
        #expect(write?.code == .invalidInput, "\(write?.message ?? "")")
        #expect(try r.query("SELECT count(*) FROM initiatives").rows == [[.integer(1)]])
    }
}

@Suite struct InitTests {
    @Test(arguments: [
        ("CREATE TABLE t(x TEXT);", "no primary key"),
        ("CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT);", "rowid"),
        ("CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, x TEXT);", "rowid"),
        ("CREATE TABLE minga_t(id TEXT PRIMARY KEY);", "reserved"),
        ("CREATE TABLE t(id TEXT PRIMARY KEY); INSERT INTO t VALUES ('a');", "inserts rows"),
        ("CREATE TABLE t(id TEXT PRIMARY KEY); CREATE TRIGGER x AFTER INSERT ON t BEGIN SELECT 1; END;", "trigger"),
        ("CREATE TABLE t(id TEXT PRIMARY KEY", "does not run"),
        ("CREATE INDEX nothing ON nowhere(x);", "does not run"),
        ("", "no tables"),
    ])
    func unsafeSchemasAreRefusedWithAReason(_ sql: String, _ reason: String) throws {
        let error = #expect(throws: MingaError.self) { try Replica.inMemory(nodeID: try NodeID("mx.amexcid"), schemaSQL: sql) }
        #expect(error?.code == .invalidInput && error?.message.contains(reason) == true, "\(error?.message ?? "")")
    }

    @Test func compositeAndNonRowidIntegerKeysAreAccepted() throws {
        let r = try Replica.inMemory(
            nodeID: try NodeID("mx.amexcid"),
            schemaSQL: """
                CREATE TABLE a(x INTEGER, y TEXT, v TEXT, PRIMARY KEY (x, y));
                CREATE TABLE b(id INTEGER PRIMARY KEY, v TEXT) WITHOUT ROWID;
                CREATE TABLE c(year INTEGER, code TEXT, PRIMARY KEY (year, code));
                """
        )
        #expect(r.tableNames == ["a", "b", "c"])
        #expect(r.tables["a"]?.keyColumns == ["x", "y"])
    }

    @Test func initRefusesToOverwriteAnExistingFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("minga-init-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("node.db").path
        _ = try Replica.create(at: path, nodeID: try NodeID("mx.amexcid"), schemaSQL: Fixture.storeSchema)
        let existing = #expect(throws: MingaError.self) {
            try Replica.create(at: path, nodeID: try NodeID("co.apc"), schemaSQL: Fixture.storeSchema)
        }
        #expect(existing?.code == .invalidInput, "\(existing?.message ?? "")")
        #expect(try Replica.open(at: path).nodeID.rawValue == "mx.amexcid")
        // A failed init leaves no file behind.
        let bad = dir.appendingPathComponent("bad.db").path
        let unsafe = #expect(throws: MingaError.self) {
            try Replica.create(at: bad, nodeID: try NodeID("mx.amexcid"), schemaSQL: "CREATE TABLE t(x);")
        }
        #expect(unsafe?.code == .invalidInput, "\(unsafe?.message ?? "")")
        #expect(!FileManager.default.fileExists(atPath: bad))
    }

    /// `--db` pointed at the wrong file: a ministry's own SQLite database (in either journal
    /// mode), a text file, an empty file. Opening refuses each and adds nothing to it: no WAL
    /// switch, no Minga table. Every byte of a file not in WAL mode stays as it was; a WAL
    /// database is opened as a replica is (the check costs no connection of its own on the
    /// replicas every command opens), which may reorganise its pages but not its contents.
    @Test func openingAFileThatIsNotAReplicaRefusesItAndLeavesItAlone() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("minga-open-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = dir.appendingPathComponent("plain.db").path
        try DatabaseQueue(path: plain).write { db in
            try db.execute(sql: "CREATE TABLE projects(id TEXT PRIMARY KEY, title TEXT); INSERT INTO projects VALUES ('P-1', 'Agua')")
        }
        let text = dir.appendingPathComponent("notes.db").path
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: text))
        let empty = dir.appendingPathComponent("empty.db").path
        try Data().write(to: URL(fileURLWithPath: empty))
        for path in [plain, text, empty] {
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let error = #expect(throws: MingaError.self) { try Replica.open(at: path) }
            #expect(error?.code == .invalidInput && error?.message.contains("not a Minga replica") == true, "\(error?.message ?? "")")
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "\(path) was changed")
            #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        }

        let wal = dir.appendingPathComponent("wal.db").path
        let contents = { (path: String) throws -> [Row] in
            try DatabaseQueue(path: path).read { try Row.fetchAll($0, sql: "SELECT type, name, sql FROM sqlite_master ORDER BY name") }
        }
        try DatabasePool(path: wal).write { db in
            try db.execute(
                sql: "CREATE TABLE minga_tables(name TEXT); CREATE TABLE projects(id TEXT PRIMARY KEY); INSERT INTO projects VALUES ('P-1')"
            )
        }
        let schema = try contents(wal)
        let error = #expect(throws: MingaError.self) { try Replica.open(at: wal) }
        #expect(error?.code == .invalidInput && error?.message.contains("not a Minga replica") == true, "\(error?.message ?? "")")
        #expect(try contents(wal) == schema)
        #expect(try DatabaseQueue(path: wal).read { try String.fetchAll($0, sql: "SELECT id FROM projects") } == ["P-1"])
        try Data(SigningKey().rawRepresentation).write(to: URL(fileURLWithPath: Replica.keyPath(for: text)))
        let damaged = #expect(throws: MingaError.self) { try Replica.open(at: text) }
        #expect(damaged?.code == .damaged && damaged?.message.contains("minga restore") == true, "\(damaged?.message ?? "")")
    }
}
