import Foundation
import GRDB
import MingaCore
import MingaStore
import MingaTestSupport
import PropertyBased
import Testing

/// Schema migrations (protocol/README.md §20): additive statements only, applied where made
/// and on every node that receives them, before the changes written under them.
@Suite struct MigrationTests {
    static let schema = "CREATE TABLE item(id TEXT PRIMARY KEY, title TEXT);"

    static func replica(_ id: String) throws -> Replica { try Fixture.replica(id, schema: schema) }

    /// One column of one row of `item`.
    static func value(_ r: Replica, _ id: String, _ column: String) throws -> Value? {
        try r.get(table: "item", key: [.text(id)])?.first { $0.0 == column }?.1
    }

    static func refusal(_ body: () throws -> Void) -> MingaError? {
        do { try body() } catch let error as MingaError { return error } catch { return nil }
        return nil
    }

    @Test func onlyAdditiveStatementsAreMigrations() throws {
        let refused: [(String, String)] = [
            ("DROP TABLE item", "dropping loses"),
            ("ALTER TABLE item RENAME TO things", "a rename would strand"),
            ("ALTER TABLE item RENAME COLUMN title TO name", "a rename would strand"),
            ("ALTER TABLE item DROP COLUMN title", "dropping a column"),
            ("CREATE UNIQUE INDEX item_title ON item(title)", "a unique index"),
            ("CREATE TABLE IF NOT EXISTS t(id TEXT PRIMARY KEY)", "IF NOT EXISTS"),
            ("CREATE INDEX IF NOT EXISTS i ON item(title)", "IF NOT EXISTS"),
            ("CREATE VIEW v AS SELECT * FROM item", "views are not replicated"),
            ("CREATE TRIGGER t AFTER INSERT ON item BEGIN SELECT 1; END", "a trigger would run again"),
            ("CREATE TABLE copy AS SELECT * FROM item", "copies rows on one node"),
            ("CREATE TABLE minga_x(id TEXT PRIMARY KEY)", "reserved"),
            ("ALTER TABLE aux.item ADD COLUMN x TEXT", "schema main"),
            ("UPDATE item SET title = 'x'", "not their rows; run data changes separately"),
            ("", "holds no statement"),
        ]
        for (sql, says) in refused {
            let error = Self.refusal { _ = try Migration.parse(sql) }
            #expect(error?.code == .badContent && error?.message.contains(says) == true, "\(sql): \(String(describing: error))")
        }
        let parsed = try Migration.parse(
            """
            -- a file of three, wrapped as SQL scripts often are
            BEGIN TRANSACTION;
            ALTER TABLE item ADD COLUMN   status TEXT DEFAULT 'new';
            CREATE TABLE "result" (id TEXT PRIMARY KEY, item TEXT /* the initiative */, title TEXT);
            create index result_item on result(item);
            COMMIT;
            """
        )
        #expect(parsed.map(\.subject) == ["column item.status", "table result", "index result_item on result"])
        #expect(
            parsed.map(\.sql) == [
                "ALTER TABLE item ADD COLUMN status TEXT DEFAULT 'new'",
                "CREATE TABLE \"result\" (id TEXT PRIMARY KEY, item TEXT, title TEXT)",
                "create index result_item on result (item)",
            ]
        )
    }

    @Test func aFileThatDoesNotRunWholeChangesNothing() throws {
        let r = try Self.replica("mx.amexcid")
        try r.put(table: "item", row: ["id": .text("a"), "title": .text("A")])
        let before = try Fixture.allChanges(r).count
        for (sql, says) in [
            ("ALTER TABLE item ADD COLUMN x TEXT; ALTER TABLE nowhere ADD COLUMN y TEXT", "there is no tracked table nowhere"),
            ("ALTER TABLE item ADD COLUMN x TEXT; ALTER TABLE item ADD COLUMN x INTEGER", "the column item.x exists already"),
            ("ALTER TABLE item ADD COLUMN x TEXT DEFAULT (datetime('now'))", "non-constant default"),
            ("CREATE TABLE counter(n INTEGER PRIMARY KEY)", "rowid"),
            ("CREATE TABLE tag(id TEXT PRIMARY KEY, name TEXT UNIQUE)", "UNIQUE"),
            ("ALTER TABLE item ADD COLUMN g TEXT GENERATED ALWAYS AS (upper(title)) VIRTUAL", "generated column"),
        ] {
            let error = Self.refusal { try r.migrate(sql) }
            #expect(error?.code == .badContent && error?.message.contains(says) == true, "\(sql): \(String(describing: error))")
            #expect(r.tables["item"]!.columns == ["id", "title"] && r.tables["counter"] == nil && r.tables["tag"] == nil, "\(sql)")
            #expect(try Fixture.allChanges(r).count == before && r.schemaVersion == r.genesisVersion, "\(sql)")
        }
        #expect(try r.query("SELECT name FROM pragma_table_info('item')").rows.map { $0[0] } == [.text("id"), .text("title")])
        // A writer other than `minga schema apply` cannot record a migration.
        #expect(throws: (any Error).self) {
            try r.put(
                table: "minga_schema",
                row: ["kind": .text("column"), "tbl": .text("item"), "name": .text("z"), "sql": .text("ALTER TABLE item ADD COLUMN z")]
            )
        }
    }

    @Test func aMigrationAppliesWhereMadeAndTravelsAsASignedChange() throws {
        let mx = try Self.replica("mx.amexcid")
        let co = try Self.replica("co.apc")
        try mx.put(table: "item", row: ["id": .text("old"), "title": .text("before")])
        try mx.migrate("ALTER TABLE item ADD COLUMN status TEXT DEFAULT 'new'; CREATE TABLE result(id TEXT PRIMARY KEY, item TEXT)")
        try mx.put(table: "item", row: ["id": .text("a"), "title": .text("A"), "status": .text("done")])
        try mx.put(table: "result", row: ["id": .text("r1"), "item": .text("a")])
        let changes = try Fixture.allChanges(mx)
        let migrations = changes.filter { $0.table == Replica.schemaTable }
        #expect(migrations.map(\.seq) == [2, 3] && migrations.allSatisfy { $0.op == .insert })
        #expect(migrations[1].context == VersionVector([mx.nodeID: 2]), "a migration names the migrations its writer held")

        let applied = try co.apply(ChangeBatch(changes: changes))
        #expect(applied.applied == changes.count && applied.held.isEmpty)
        #expect(try co.dump() == mx.dump())
        #expect(try Self.value(co, "old", "status") == .text("new"), "a row from before takes the default")
        #expect(co.schemaVersion == mx.schemaVersion && co.schemaVersion != co.genesisVersion)
        #expect(
            try co.migrations().map { "\($0.writer!.origin) \($0.migration.subject)" } == [
                "mx.amexcid column item.status", "mx.amexcid table result",
            ]
        )
        // The receiver captures writes to what arrived, and they travel back.
        try co.put(table: "result", row: ["id": .text("r2"), "item": .text("old")])
        try Fixture.sync(from: co, to: mx)
        #expect(try co.dump() == mx.dump())
    }

    @Test func aChangeWrittenUnderAMigrationIsHeldUntilTheMigrationArrives() throws {
        let mx = try Self.replica("mx.amexcid")
        let co = try Self.replica("co.apc")
        let cl = try Self.replica("cl.agcid")
        try mx.migrate("ALTER TABLE item ADD COLUMN status TEXT")
        try Fixture.sync(from: mx, to: co)
        try co.put(table: "item", row: ["id": .text("c1"), "title": .text("C"), "status": .text("draft")])
        try co.put(table: "item", row: ["id": .text("c2"), "title": .text("D")])
        // cl gets co's changes before mx's migration (a relay that holds mx back).
        let result = try cl.apply(ChangeBatch(changes: try co.changes(above: cl.vector(), excluding: [mx.nodeID])))
        let held = try #require(result.held.first)
        #expect(held.code == .needsMigration && held.origin == co.nodeID && held.count == 2, "\(held)")
        #expect(held.reason.contains("no column status"), "\(held.reason)")
        #expect(try cl.vector()[co.nodeID] == 0, "never marked received")
        #expect(try cl.get(table: "item", key: [.text("c1")]) == nil, "never stored without its new column")
        // The migration arrives: the held changes apply in the same transaction.
        let arrival = try cl.apply(ChangeBatch(changes: try mx.changes(above: cl.vector())))
        #expect(arrival.held.isEmpty && arrival.applied == 3)
        #expect(try cl.heldOrigins().isEmpty)
        #expect(try cl.vector() == co.vector())
        #expect(try cl.dump() == co.dump())
    }

    @Test func aMigrationFromOutsideTheRosterIsHeldAndDoesNotRun() throws {
        let outsider = try Replica.inMemory(nodeID: try NodeID("xx.outsider"), schemaSQL: Self.schema, key: TestKeys.key("xx.outsider"))
        let co = try Self.replica("co.apc")
        try outsider.migrate("ALTER TABLE item ADD COLUMN secret TEXT")
        let result = try co.apply(ChangeBatch(changes: try Fixture.allChanges(outsider)))
        #expect(result.held.first?.code == .unknownOrigin)
        #expect(co.tables["item"]!.columns == ["id", "title"] && co.schemaVersion == co.genesisVersion)
        // Once the roster lists it, the held migration runs.
        try co.addToRoster(outsider.nodeID, key: TestKeys.key("xx.outsider").publicKey)
        try co.retryHeld()
        #expect(co.tables["item"]!.columns == ["id", "title", "secret"] && co.schemaVersion == outsider.schemaVersion)
    }

    @Test func concurrentMigrationsOfDifferentColumnsEndWithBothInEitherOrder() throws {
        let mx = try Self.replica("mx.amexcid")
        let co = try Self.replica("co.apc")
        try mx.put(table: "item", row: ["id": .text("a"), "title": .text("A")])
        try Fixture.sync(from: mx, to: co)
        try mx.migrate("ALTER TABLE item ADD COLUMN zeta INTEGER DEFAULT 3")
        try co.migrate("ALTER TABLE item ADD COLUMN alpha TEXT DEFAULT 'x'")
        try mx.put(table: "item", row: ["id": .text("m"), "title": .text("M"), "zeta": .integer(9)])
        try co.put(table: "item", row: ["id": .text("c"), "title": .text("C"), "alpha": .text("y")])
        try Fixture.sync(from: mx, to: co)
        try Fixture.sync(from: co, to: mx)
        #expect(mx.tables["item"]!.columns == ["id", "title", "zeta", "alpha"])
        #expect(co.tables["item"]!.columns == ["id", "title", "alpha", "zeta"])
        #expect(mx.tables["item"]!.displayColumns == ["id", "title", "alpha", "zeta"])
        let dump = try mx.dump()
        #expect(try co.dump() == dump)
        #expect(
            dump == """
                table item
                {"id":"a","title":"A","alpha":"x","zeta":3}
                {"id":"c","title":"C","alpha":"y","zeta":3}
                {"id":"m","title":"M","alpha":"x","zeta":9}

                """
        )
        #expect(mx.schemaVersion == co.schemaVersion)
        #expect(try mx.conflicts(includeResolved: true).isEmpty)
    }

    @Test func theSameColumnAddedTwiceTheSameWayIsOne() throws {
        let mx = try Self.replica("mx.amexcid")
        let co = try Self.replica("co.apc")
        try mx.migrate("ALTER TABLE item ADD COLUMN status TEXT")
        try co.migrate("ALTER TABLE item\n  ADD COLUMN status TEXT -- why: the review asked for it")
        try mx.migrate("CREATE INDEX item_title ON item(title)")
        try co.migrate("CREATE INDEX item_title ON item ( title )")
        try Fixture.sync(from: mx, to: co)
        try Fixture.sync(from: co, to: mx)
        #expect(try mx.conflicts(includeResolved: true).isEmpty)
        #expect(try co.conflicts(includeResolved: true).isEmpty)
        #expect(try mx.dump() == co.dump())
        #expect(mx.schemaVersion == co.schemaVersion)
        #expect(try mx.migrations().allSatisfy { $0.error == nil })
        #expect(try co.migrations().allSatisfy { $0.error == nil })
    }

    @Test func differentDefinitionsOfOneColumnEndAsTheWinnersEverywhere() throws {
        let mx = try Self.replica("mx.amexcid")
        let co = try Self.replica("co.apc")
        try mx.put(table: "item", row: ["id": .text("a"), "title": .text("A")])
        try Fixture.sync(from: mx, to: co)
        try mx.migrate("ALTER TABLE item ADD COLUMN score INTEGER DEFAULT 0")
        try co.migrate("ALTER TABLE item ADD COLUMN score TEXT DEFAULT 'none'")
        try mx.put(table: "item", row: ["id": .text("m"), "title": .text("M"), "score": .text("12")])  // INTEGER affinity: 12
        try co.put(table: "item", row: ["id": .text("c"), "title": .text("C"), "score": .text("07")])
        try Fixture.sync(from: mx, to: co)
        try Fixture.sync(from: co, to: mx)
        let record = try #require(try mx.conflicts().first)
        let winner = record.winner.write.origin
        #expect(record.conflict.table == Replica.schemaTable && record.conflict.column == "sql")
        #expect(try co.conflicts().first?.winner.write.origin == winner)
        let dump = try mx.dump()
        #expect(try co.dump() == dump, "one outcome on every node")
        let expected: Value = winner == co.nodeID ? .text("none") : .integer(0)
        #expect(try Self.value(mx, "a", "score") == expected, "a row no change set takes the winner's default")
        #expect(mx.schemaVersion == co.schemaVersion)
        #expect(try mx.migrations().allSatisfy { $0.error == nil })
        #expect(try co.migrations().allSatisfy { $0.error == nil })
    }

    @Test func literalsAndNamesAreReadAsSQLiteReadsThem() throws {
        let parsed = try Migration.parse("ALTER TABLE item ADD COLUMN ratio REAL DEFAULT 1e-3; ALTER TABLE item ADD doc BLOB DEFAULT X'00ff'")
        #expect(parsed.map(\.sql) == ["ALTER TABLE item ADD COLUMN ratio REAL DEFAULT 1e-3", "ALTER TABLE item ADD doc BLOB DEFAULT X'00ff'"])
        let r = try Self.replica("mx.amexcid")
        try r.migrate(parsed.map(\.sql).joined(separator: ";"))
        try r.put(table: "item", row: ["id": .text("a")])
        #expect(try Self.value(r, "a", "ratio") == .real(0.001) && Self.value(r, "a", "doc") == .blob(Data([0, 255])))
        // SQLite's names ignore ASCII case: `Budget` and `budget` are one column, one key.
        #expect(
            try Migration.parse("ALTER TABLE Item ADD COLUMN Budget INTEGER")[0].key
                == Migration.parse("alter table item add column budget integer")[0].key
        )
        // Index names are the database's: one key whichever table is indexed.
        #expect(try Migration.parse("CREATE INDEX i ON item(title)")[0].key == Migration.parse("CREATE INDEX I ON other(x)")[0].key)
    }

    @Test func aChangeWhoseMigrationIsNotInCanonicalFormIsHeld() throws {
        let mx = try Self.replica("mx.amexcid")
        let co = try Self.replica("co.apc")
        try mx.migrate("ALTER TABLE item ADD COLUMN status TEXT")
        var changes = try Fixture.allChanges(mx)
        changes[0].columns["sql"] = .text("ALTER TABLE item ADD COLUMN status  TEXT")
        let result = try co.apply(ChangeBatch(changes: try TestKeys.signed(changes)))
        #expect(result.held.first?.code == .badContent && result.held.first?.reason.contains("canonical form") == true, "\(result.held)")
        #expect(co.tables["item"]!.columns == ["id", "title"])
    }

    @Test func aMigrationThatCannotRunHereIsShownAndRunsOnceItsCauseIsGone() throws {
        let mx = try Self.replica("mx.amexcid")
        let co = try Self.replica("co.apc")
        try co.writer.write { try $0.execute(sql: "CREATE TABLE result(id TEXT PRIMARY KEY, note TEXT)") }  // another program's table of that name
        try mx.migrate("CREATE TABLE result(id TEXT PRIMARY KEY, item TEXT)")
        try mx.put(table: "result", row: ["id": .text("r1"), "item": .text("a")])
        let result = try co.apply(ChangeBatch(changes: try Fixture.allChanges(mx)))
        #expect(result.held.first?.code == .needsMigration, "the change under it waits: \(result.held)")
        let record = try #require(try co.migrations().first)
        #expect(
            record.error?.contains("a table result of its own, which Minga does not track; rename it") == true,
            "\(String(describing: record.error))"
        )
        #expect(co.schemaVersion == co.genesisVersion, "a migration that did not run does not count")
        // The operator moves the other program's table away; the next retry runs the migration.
        try co.writer.write { try $0.execute(sql: "DROP TABLE result") }
        try co.retryHeld()
        #expect(try co.migrations().first?.error == nil && co.heldOrigins().isEmpty)
        #expect(try co.dump() == mx.dump() && co.schemaVersion == mx.schemaVersion)
    }

    @Test func resolvingAMigrationConflictAppliesTheChosenDefinitionAtOnce() throws {
        let mx = try Self.replica("mx.amexcid")
        let co = try Self.replica("co.apc")
        try mx.migrate("ALTER TABLE item ADD COLUMN score INTEGER")
        try co.migrate("ALTER TABLE item ADD COLUMN score TEXT")
        try Fixture.sync(from: mx, to: co)
        try Fixture.sync(from: co, to: mx)
        let record = try #require(try mx.conflicts().first)
        try mx.resolve(conflictID: record.conflict.id, with: .takeLoser)
        let chosen = try #require(record.loser.value)
        #expect(
            try mx.query("SELECT 'ALTER TABLE item ADD COLUMN ' || name || ' ' || type FROM pragma_table_info('item') WHERE name = 'score'").rows == [
                [chosen]
            ]
        )
        try Fixture.sync(from: mx, to: co)
        #expect(
            try co.query("SELECT 'ALTER TABLE item ADD COLUMN ' || name || ' ' || type FROM pragma_table_info('item') WHERE name = 'score'").rows == [
                [chosen]
            ]
        )
        #expect(mx.schemaVersion == co.schemaVersion)
    }

    /// A definition run here by `schema apply` after two others conflicted is a local write
    /// that saw both: it settles their conflict here at once, as on every node it reaches.
    @Test func aDefinitionRunHereSettlesTheConflictOfTwoOthers() throws {
        let (mx, co, cl) = (try Self.replica("mx.amexcid"), try Self.replica("co.apc"), try Self.replica("cl.agcid"))
        try cl.writer.write { try $0.execute(sql: "CREATE TABLE result(id TEXT PRIMARY KEY, note TEXT)") }  // another program's
        try mx.migrate("CREATE TABLE result(id TEXT PRIMARY KEY, item TEXT)")
        try co.migrate("CREATE TABLE result(id TEXT PRIMARY KEY, item INTEGER)")
        try Fixture.sync(from: mx, to: co)
        try Fixture.sync(from: co, to: mx)
        try Fixture.sync(from: mx, to: cl)
        try Fixture.sync(from: co, to: cl)
        #expect(try cl.conflicts().count == 1, "two definitions of one column of result")
        #expect(try cl.migrations().contains { $0.error != nil }, "neither could run beside the other program's table")
        // The operator moves the other program's table away and gives the definition to keep.
        try cl.writer.write { try $0.execute(sql: "DROP TABLE result") }
        try cl.migrate("CREATE TABLE result(id TEXT PRIMARY KEY, item TEXT)")
        let open = try cl.conflicts()
        #expect(open.isEmpty, "\(open.map(\.conflict))")
        try Fixture.sync(from: cl, to: mx)
        #expect(try mx.conflicts().isEmpty && mx.conflicts(includeResolved: true) == cl.conflicts(includeResolved: true))
    }

    @Test func aTableCreatedTwoWaysBecomesTheirUnionEverywhere() throws {
        let mx = try Self.replica("mx.amexcid")
        let co = try Self.replica("co.apc")
        let cl = try Self.replica("cl.agcid")
        try mx.migrate("CREATE TABLE contact(id TEXT PRIMARY KEY, name TEXT, email TEXT)")
        try co.migrate("CREATE TABLE contact(id TEXT PRIMARY KEY, full_name TEXT, phone TEXT DEFAULT 'none')")
        try mx.put(table: "contact", row: ["id": .text("mx-1"), "name": .text("Ana"), "email": .text("ana@amexcid.mx")])
        try co.put(table: "contact", row: ["id": .text("co-1"), "full_name": .text("Luis"), "phone": .text("+57 1")])
        try mx.put(table: "item", row: ["id": .text("after"), "title": .text("an unrelated write")])
        // cl relays: it gets co's table first, then mx's; mx and co exchange directly.
        try Fixture.sync(from: co, to: cl)
        try Fixture.sync(from: mx, to: cl)
        try Fixture.sync(from: cl, to: mx)
        try Fixture.sync(from: cl, to: co)
        let dump = try mx.dump()
        for r in [co, cl] { #expect(try r.dump() == dump, "\(r.nodeID)") }
        for r in [mx, co, cl] {
            let held = try r.heldOrigins()
            #expect(held.isEmpty, "\(r.nodeID): \(held)")
            #expect(Set(r.tables["contact"]!.columns) == ["id", "name", "email", "full_name", "phone"], "\(r.nodeID)")
            #expect(try r.migrations().allSatisfy { $0.error == nil })
            #expect(r.schemaVersion == mx.schemaVersion)
            #expect(try r.conflicts().count == 1, "the two definitions are shown as a conflict")
        }
        #expect(dump.contains(#"{"id":"mx-1","email":"ana@amexcid.mx","full_name":null,"name":"Ana","phone":"none"}"#), "\(dump)")
        #expect(dump.contains(#"{"id":"co-1","email":null,"full_name":"Luis","name":null,"phone":"+57 1"}"#), "\(dump)")
        // Rows written after under either definition travel too.
        try mx.put(table: "contact", row: ["id": .text("mx-2"), "name": .text("Eva"), "phone": .text("+52 5")])
        try Fixture.sync(from: mx, to: co)
        #expect(try co.dump() == mx.dump())
    }

    @Test func aRedefinitionTheRowsDoNotFitIsShownAndTheBatchGoesOn() throws {
        let mx = try Self.replica("mx.amexcid")
        let co = try Self.replica("co.apc")
        try mx.migrate("ALTER TABLE item ADD COLUMN rating INTEGER NOT NULL DEFAULT 0")
        try co.migrate("ALTER TABLE item ADD COLUMN rating TEXT DEFAULT 'unrated'")  // later: it wins
        try Fixture.sync(from: mx, to: co)
        try Fixture.sync(from: co, to: mx)
        try mx.put(table: "item", row: ["id": .text("g5"), "title": .text("Cinco"), "rating": .null])  // fits the winner
        try Fixture.sync(from: mx, to: co)
        // co settles for mx's NOT NULL definition, which mx's own row no longer fits.
        let conflict = try #require(try co.conflicts().first)
        try co.resolve(conflictID: conflict.conflict.id, with: .takeLoser)
        try co.put(table: "item", row: ["id": .text("c1"), "title": .text("after")])
        let result = try mx.apply(ChangeBatch(changes: try co.changes(above: mx.vector())))
        #expect(result.applied > 0, "the batch applies: the failure is the migration's alone")
        let failed = try mx.migrations().first { $0.error != nil }
        #expect(failed?.error?.contains("the rows here do not fit it") == true, "\(String(describing: failed))")
        #expect(try Self.value(mx, "c1", "title") == .text("after"))
    }

    /// Random interleavings of migrations and writes on three replicas, exchanged in random
    /// partial batches (every delivery order the protocol allows, relays included), then in
    /// full: every replica ends with the same tables, rows and schema version, and nothing held.
    @Test func migrationsAndWritesConvergeUnderAnyDeliveryOrder() async throws {
        let columns = [("a1", "TEXT"), ("a2", "INTEGER DEFAULT 7"), ("a3", "TEXT DEFAULT 'x'")]
        await propertyCheck(count: 60, input: Gen.int(in: 0...Int(Int32.max)).array(of: 5...40)) { script in
            let replicas = try ["mx.amexcid", "co.apc", "cl.agcid"].map(Self.replica)
            for x in script {
                let r = replicas[x % 3]
                let key = Value.text("k\((x / 3) % 4)")
                switch (x / 12) % 6 {
                case 0:
                    let (name, type) = columns[(x / 72) % columns.count]
                    if r.tables["item"]!.columns.contains(name) { continue }
                    try r.migrate("ALTER TABLE item ADD COLUMN \(name) \(type)")
                case 1:
                    if r.tables["extra"] == nil { try r.migrate("CREATE TABLE extra(id TEXT PRIMARY KEY, v TEXT)") }
                    try r.put(table: "extra", row: ["id": key, "v": .integer(Int64(x % 5))])
                case 2, 3:
                    var row: [String: Value] = ["id": key, "title": .integer(Int64(x % 11))]
                    for (name, _) in columns where r.tables["item"]!.columns.contains(name) && (x / 7) % 2 == 0 { row[name] = .text("v\(x % 13)") }
                    try r.put(table: "item", row: row)
                case 4:
                    try r.delete(table: "item", key: [key])
                default:
                    let to = replicas[(x / 1000) % 3]
                    guard to.nodeID != r.nodeID else { continue }
                    let batch = ChangeBatch(changes: try r.changes(above: try to.vector(), limit: 1 + (x / 10_000) % 4))
                    try to.apply(batch)
                }
            }
            for _ in 0..<2 {
                for to in replicas { for from in replicas where from.nodeID != to.nodeID { try Fixture.sync(from: from, to: to, limit: 7) } }
            }
            let dump = try replicas[0].dump()
            for r in replicas {
                #expect(try r.dump() == dump, "dumps of \(r.nodeID) and \(replicas[0].nodeID) differ")
                #expect(r.schemaVersion == replicas[0].schemaVersion)
                #expect(try r.vector() == replicas[0].vector())
                let held = try r.heldOrigins()
                #expect(held.isEmpty, "\(held)")
                #expect(try r.migrations().allSatisfy { $0.error == nil })
                try Fixture.expectMergeStatesMatchHistory(r)
            }
        }
    }
}
