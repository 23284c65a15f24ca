import Foundation
import GRDB
import MingaCore
import MingaStore
import MingaTestSupport
import Testing

/// What init accepts, what drift looks like, and replica states that could split or stall
/// nodes without a word: every node holds the same rows and keeps syncing, or the operator is
/// told why not (protocol/README.md §1, §13).
@Suite struct SchemaShapeTests {
    func refusal(_ schema: String) -> String? {
        do {
            _ = try Replica.inMemory(nodeID: try NodeID("mx.amexcid"), schemaSQL: schema)
            return nil
        } catch let error as MingaError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func initAcceptsWhatCannotSplitAndRefusesWhatCan() {
        #expect(refusal("CREATE TABLE t(k TEXT PRIMARY KEY NOT NULL, u TEXT, UNIQUE (k, u));") == nil, "a unique index over the key cannot collide")
        #expect(refusal("CREATE TABLE t(k ANY PRIMARY KEY NOT NULL, v ANY) STRICT;") == nil, "STRICT ANY keeps values as given")
        #expect(
            refusal("CREATE TABLE t(k TEXT PRIMARY KEY COLLATE RTRIM, v TEXT);")?.contains(
                "uses COLLATE RTRIM, under which keys that differ only in trailing spaces are one row"
            ) == true
        )
        #expect(
            refusal("CREATE TABLE t(k TEXT PRIMARY KEY, u TEXT, v TEXT, UNIQUE (u, v));")?.contains("UNIQUE (u, v) besides the primary key") == true
        )
        #expect(
            refusal("CREATE TABLE t(k TEXT PRIMARY KEY, u TEXT); CREATE UNIQUE INDEX t_u ON t(lower(u)) WHERE u IS NOT NULL;")?.contains(
                "UNIQUE (an expression) (index t_u)"
            ) == true
        )
        #expect(refusal("CREATE TABLE t(k DATE PRIMARY KEY, v TEXT);")?.contains("key column k is declared DATE, whose NUMERIC affinity") == true)
    }

    /// Swift's `String ==` is canonical equivalence; SQLite and the protocol compare code
    /// points. Two keys that only look alike are two rows on every node.
    @Test func keysThatOnlyLookAlikeStayTwoRowsEverywhere() throws {
        let a = try Fixture.replica("mx.amexcid")
        let b = try Fixture.replica("co.apc")
        try a.put(table: "initiatives", row: ["id": .text("caf\u{E9}"), "title": .text("nfc")])
        try a.put(table: "initiatives", row: ["id": .text("cafe\u{301}"), "title": .text("nfd")])
        try Fixture.sync(from: a, to: b)
        let hex = "SELECT hex(id) || ':' || title FROM initiatives ORDER BY id"
        #expect(try b.query(hex).rows.map { $0[0] } == [.text("63616665CC81:nfd"), .text("636166C3A9:nfc")])
        #expect(Array(try a.dump().utf8) == Array(try b.dump().utf8))
    }

    /// Two valid edits of different columns can merge into a row that breaks a CHECK over
    /// both: every node applies the merged row (no node stops there), and the next local edit
    /// must satisfy the CHECK again.
    @Test func aMergeThatBreaksATableCheckStillApplies() throws {
        let schema = "CREATE TABLE r(k TEXT PRIMARY KEY NOT NULL, lo INTEGER, hi INTEGER, CHECK (lo <= hi));"
        let a = try Fixture.replica("mx.amexcid", schema: schema)
        let b = try Fixture.replica("co.apc", schema: schema)
        try a.put(table: "r", row: ["k": .text("x"), "lo": .integer(1), "hi": .integer(10)])
        try Fixture.sync(from: a, to: b)
        try a.put(table: "r", row: ["k": .text("x"), "lo": .integer(8)])
        try b.put(table: "r", row: ["k": .text("x"), "hi": .integer(5)])
        try Fixture.sync(from: a, to: b)
        try Fixture.sync(from: b, to: a)
        #expect(try a.dump() == "table r\n{\"k\":\"x\",\"lo\":8,\"hi\":5}\n")
        #expect(try b.dump() == a.dump())
        let broken = #expect(throws: MingaError.self) { try a.put(table: "r", row: ["k": .text("x"), "lo": .integer(9)]) }
        #expect(broken?.code == .invalidInput, "\(broken?.message ?? "")")
        try a.put(table: "r", row: ["k": .text("x"), "hi": .integer(10)])
        // The pragma is off again for local writes.
        let refusedLocally = #expect(throws: MingaError.self) {
            try b.put(table: "r", row: ["k": .text("y"), "lo": .integer(2), "hi": .integer(1)])
        }
        #expect(refusedLocally?.code == .invalidInput, "\(refusedLocally?.message ?? "")")
    }

    func sql(_ r: Replica, _ sql: String) throws {
        try r.writer.writeWithoutTransaction { db in try db.execute(sql: sql) }
    }

    @Test func driftSaysWhatChangedAndHowToUndoIt() throws {
        let r = try Fixture.replica("mx.amexcid")
        try sql(r, "INSERT INTO initiatives(id, title) VALUES ('x', 'a')")
        #expect(try r.schemaDrift().isEmpty)

        try sql(r, "ALTER TABLE initiatives RENAME COLUMN title TO name")
        #expect(
            try r.schemaDrift() == [
                "table initiatives: column title was renamed to name (undo: ALTER TABLE \"initiatives\" RENAME COLUMN \"name\" TO \"title\")"
            ]
        )
        let refused = #expect(throws: MingaError.self) { try r.vector() }
        #expect(refused?.code == .unavailable && refused?.message.contains("seals and syncs nothing until they are back") == true)
        try sql(r, "ALTER TABLE initiatives RENAME COLUMN name TO title")
        #expect(try r.schemaDrift().isEmpty, "renamed back, the triggers read as before")

        try sql(r, "ALTER TABLE initiatives RENAME TO activity")
        #expect(try r.schemaDrift() == ["table initiatives was renamed to activity (undo: ALTER TABLE \"activity\" RENAME TO \"initiatives\")"])
        #expect(try r.status().drift.count == 1, "status reports drift instead of failing on the missing table")
        try sql(r, "ALTER TABLE activity RENAME TO initiatives")

        try sql(r, "UPDATE minga_capture SET suppress = 1")
        #expect(try r.schemaDrift().first?.hasPrefix("capture was switched off by hand") == true)
        let suppressed = #expect(throws: MingaError.self) { try r.vector() }
        #expect(suppressed?.code == .unavailable, "\(suppressed?.message ?? "")")
        try sql(r, "UPDATE minga_capture SET suppress = 0")

        try sql(r, "CREATE TRIGGER eat AFTER INSERT ON minga_pending BEGIN DELETE FROM minga_pending; END")
        #expect(try r.schemaDrift() == ["trigger eat was added on Minga's own table minga_pending (undo: DROP TRIGGER \"eat\")"])
        try sql(r, "DROP TRIGGER eat")

        try sql(r, "CREATE INDEX by_title ON initiatives(title); CREATE TABLE notes(id TEXT PRIMARY KEY)")
        #expect(try r.schemaDrift().isEmpty, "an ordinary index and another program's table are no drift")
        #expect(try r.untrackedTables() == ["notes"])
        #expect(try r.vector()[try NodeID("mx.amexcid")] == 1, "the write made before all this is sealed")
    }
}

/// A replica made before writes were stamped, checked and their tables' shapes recorded: its
/// `minga_tables` has no `shape`, its `minga_pending` no `at`, its triggers neither. Opened,
/// it gets all three; the write it had pending is sealed, and a bad write is refused.
@Suite struct UpgradeTests {
    @Test func aReplicaFromAnEarlierBuildIsUpgradedWhenOpened() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("minga-upgrade-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("old.db").path
        let created = try Replica.create(at: path, nodeID: try NodeID("mx.amexcid"), schemaSQL: Fixture.storeSchema)
        // Back to the earlier layout: no shapes, no write times, an old capture trigger only.
        try created.writer.writeWithoutTransaction { db in
            for trigger in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'") {
                try db.execute(sql: "DROP TRIGGER \"\(trigger)\"")
            }
            try db.execute(
                sql: """
                    ALTER TABLE minga_tables DROP COLUMN shape;
                    ALTER TABLE minga_pending DROP COLUMN at;
                    INSERT INTO minga_pending(tbl, op, mask, c0, c1, c2, c3, c4) VALUES ('initiatives', 'insert', 30, 'XM-1', 'Agua', NULL, NULL, NULL);
                    INSERT INTO initiatives(id, title) VALUES ('XM-1', 'Agua');
                    """
            )
        }
        try (created.writer as? DatabasePool)?.close()

        let replica = try Replica.open(at: path)
        #expect(try replica.schemaDrift().isEmpty)
        #expect(try replica.vector()[try NodeID("mx.amexcid")] == 1, "the old pending write is sealed")
        #expect(try Fixture.allChanges(replica).first?.columns["title"] == .text("Agua"))
        #expect(throws: DatabaseError.self) {
            try replica.writer.writeWithoutTransaction { db in try db.execute(sql: "INSERT INTO initiatives(id) VALUES (NULL)") }
        }
        try replica.writer.writeWithoutTransaction { db in try db.execute(sql: "UPDATE initiatives SET title = 'Agua potable'") }
        #expect(try Fixture.allChanges(replica).last?.columns == ["title": .text("Agua potable")], "captured by the new triggers")
    }
}
