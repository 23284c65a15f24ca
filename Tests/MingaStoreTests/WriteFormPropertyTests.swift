import Foundation
import GRDB
import MingaCore
import MingaStore
import MingaTestSupport
import PropertyBased
import Testing

/// Random sequences of every SQLite write form, run as plain SQL (as the sqlite3 shell or a
/// ministry's own program would) on two replicas, with `recursive_triggers` and
/// `foreign_keys` switched at random and syncs in between: after a full exchange both hold
/// equal rows and conflicts; a statement either applied whole or was refused and left nothing.
@Suite struct WriteFormPropertyTests {
    static let schema = """
        CREATE TABLE item(id TEXT PRIMARY KEY NOT NULL, name TEXT, qty INTEGER CHECK (qty >= 0));
        CREATE TABLE part(item TEXT NOT NULL REFERENCES item(id) ON DELETE CASCADE ON UPDATE CASCADE, n INTEGER NOT NULL, note, PRIMARY KEY (item, n)) WITHOUT ROWID;
        CREATE TABLE tag(name TEXT PRIMARY KEY, color TEXT);
        """

    static let keys = ["a", "b", "c", "d"]
    static let names = ["'x'", "'y'", "NULL", "'ñ🤝'", "x'00ff'", "1.5", "'a' || char(0)"]

    /// One statement of the menu, from a random number.
    static func statement(_ x: Int) -> String {
        let k = "'\(keys[(x / 16) % keys.count])'"
        let k2 = "'\(keys[(x / 64) % keys.count])'"
        let name = names[(x / 256) % names.count]
        let qty = (x / 2048) % 4 - 1  // -1 breaks the CHECK
        let n = (x / 8192) % 2
        switch x % 16 {
        case 0: return "INSERT INTO item VALUES(\(k), \(name), \(qty))"
        case 1: return "INSERT OR REPLACE INTO item VALUES(\(k), \(name), \(qty))"
        case 2: return "REPLACE INTO item VALUES(\(k), \(name), \(qty))"
        case 3: return "INSERT INTO item VALUES(\(k), \(name), \(qty)) ON CONFLICT(id) DO UPDATE SET name = excluded.name, qty = qty + 1"
        case 4: return "INSERT INTO item VALUES(\(k), \(name), \(qty)) ON CONFLICT DO NOTHING"
        case 5: return "INSERT OR IGNORE INTO item VALUES(\(k), \(name), \(qty))"
        case 6: return "UPDATE item SET name = \(name) WHERE id = \(k)"
        case 7: return "UPDATE OR REPLACE item SET id = \(k2) WHERE id = \(k)"
        case 8: return "UPDATE item SET id = \(k2) WHERE id = \(k)"
        case 9: return "DELETE FROM item WHERE id = \(k)"
        case 10: return "INSERT OR REPLACE INTO part VALUES(\(k), \(n), \(name))"
        case 11: return "DELETE FROM part WHERE item = \(k)"
        case 12: return "INSERT OR REPLACE INTO tag VALUES(\((x / 16) % 5 == 0 ? "NULL" : k), \(name))"
        case 13: return "PRAGMA recursive_triggers = \((x / 16) % 2 == 0 ? "ON" : "OFF")"
        case 14: return "PRAGMA foreign_keys = \((x / 16) % 2 == 0 ? "ON" : "OFF")"
        default: return "SYNC"
        }
    }

    @Test func everyStatementConvergesOrIsRefusedLeavingNothing() async throws {
        await propertyCheck(count: 150, input: Gen.int(in: 0...Int(Int32.max)).array(of: 5...40)) { script in
            let replicas = [try Fixture.replica("mx.amexcid", schema: Self.schema), try Fixture.replica("co.apc", schema: Self.schema)]
            // The writing program's pragmas, per replica; Minga itself always runs with both off.
            var pragmas = ["", ""]
            for (i, x) in script.enumerated() {
                let which = (x / 1_000_000) % 2
                let r = replicas[which]
                let sql = Self.statement(x)
                if sql == "SYNC" {
                    try Fixture.sync(from: replicas[0], to: replicas[1])
                    try Fixture.sync(from: replicas[1], to: replicas[0])
                    continue
                }
                if sql.hasPrefix("PRAGMA") {
                    pragmas[which] += sql + "; "
                    continue
                }
                let before = try r.dump()
                do {
                    // Outside a transaction, like the shell: each statement commits on its own.
                    try r.writer.writeWithoutTransaction { db in
                        defer { try? db.execute(sql: "PRAGMA foreign_keys = OFF; PRAGMA recursive_triggers = OFF") }
                        try db.execute(sql: pragmas[which] + sql)
                    }
                } catch let error as DatabaseError {
                    #expect(error.resultCode.primaryResultCode == .SQLITE_CONSTRAINT, "step \(i) \(sql): \(error)")
                    #expect(try r.dump() == before, "step \(i) \(sql) was refused but left a change")
                }
            }
            for _ in 0..<2 {
                try Fixture.sync(from: replicas[0], to: replicas[1])
                try Fixture.sync(from: replicas[1], to: replicas[0])
            }
            #expect(Array(try replicas[0].dump().utf8) == Array(try replicas[1].dump().utf8), "dumps differ after \(script.map(Self.statement))")
            #expect(try Fixture.conflictSummary(replicas[0]) == Fixture.conflictSummary(replicas[1]))
            #expect(try replicas[0].vector() == replicas[1].vector())
            for r in replicas { try Fixture.expectMergeStatesMatchHistory(r) }
        }
    }

    /// The refusals the menu can meet say what is wrong, in the writer's statement.
    @Test func refusalsNameTheRule() throws {
        let r = try Fixture.replica("mx.amexcid", schema: Self.schema)
        func message(_ sql: String) -> String? {
            do {
                try r.writer.writeWithoutTransaction { db in try db.execute(sql: sql) }
                return nil
            } catch let error as DatabaseError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        #expect(message("INSERT INTO tag VALUES(NULL, 'red')")?.hasPrefix("minga: tag.name is NULL, but it is part of the key") == true)
        #expect(message("INSERT INTO item VALUES('a', 'a' || char(0), 1)")?.hasPrefix("minga: item.name: text with a NUL character") == true)
        #expect(message("INSERT INTO item VALUES('a', 'ok', 1)") == nil)
        #expect(message("UPDATE item SET name = 'a' || char(0)")?.hasPrefix("minga: item.name: text with a NUL character") == true)
        #expect(message("INSERT INTO part VALUES('a', 1, 'x')") == nil)
        #expect(message("UPDATE part SET n = 2.5")?.hasPrefix("minga: key column part.n takes integer values only") == true)
        #expect(
            try r.dump() == "table item\n{\"id\":\"a\",\"name\":\"ok\",\"qty\":1}\ntable part\n{\"item\":\"a\",\"n\":1,\"note\":\"x\"}\ntable tag\n"
        )
    }
}
