import Foundation
import Testing

/// One node's clock a day fast (protocol/README.md §13): what it relays still flows, its own
/// changes are held with the reason shown wherever they arrive, no sync fails, and they apply
/// unasked once the receivers' clocks have caught up. Clocks are shifted with faketime.
@Suite(.serialized) struct IsolationTests {
    static let schema = "CREATE TABLE item(id TEXT PRIMARY KEY NOT NULL, v TEXT);"
    static let ahead = "+1d"
    static let dayLater = "+25h"

    /// a.db (mx.amexcid), b.db (co.apc) and c.db (cl.agcid), federated.
    static func nodes(_ name: String) throws -> Sandbox {
        try Sandbox.federation(name, schema: schema, [("a.db", "mx.amexcid"), ("b.db", "co.apc"), ("c.db", "cl.agcid")])
    }

    func rows(_ box: Sandbox, _ db: String) throws -> String {
        try box.sqlite(db, "SELECT group_concat(id, ',') FROM (SELECT id FROM item ORDER BY id)")
    }

    func held(_ box: Sandbox, _ db: String) throws -> [[String: Any]] {
        try (box.json(try box.ok(db, "status", "--json")) as! [String: Any])["held"] as! [[String: Any]]
    }

    @Test func aNodeADayAheadIsHeldWhileWhatItRelaysFlowsAndAppliesOnceClocksCatchUp() throws {
        let box = try Self.nodes("clock-ahead")
        defer { box.remove() }
        try box.sqlite("a.db", "INSERT INTO item VALUES ('a1', 'A'), ('a2', 'A'), ('a3', 'A')")
        let a = try box.serve("a.db")
        defer { a.stop() }

        // C, its clock a day fast, pulls A's changes, then writes one row of its own.
        let first = try box.minga(at: Self.ahead, "c.db", ["sync", "--peer", a.url, "--quiet"])
        #expect(first.status == 0 && first.stdout.contains("received 3, sent 0"), "\(first.stdout) \(first.stderr)")
        #expect(try box.minga(at: Self.ahead, "c.db", ["put", "item", #"{"id":"c1","v":"C"}"#]).status == 0)
        let c = try box.serve("c.db", clockOffset: Self.ahead)
        defer { c.stop() }

        // B pulls from C: A's changes arrive through C; C's own change is held, and said so.
        let pull = try box.minga("b.db", ["sync", "--peer", c.url, "--quiet"])
        #expect(pull.status == 0, "holding a change is no failure: \(pull.stdout) \(pull.stderr)")
        #expect(pull.stdout.contains("received 3 (and 1 held back), sent 0"), "\(pull.stdout)")
        #expect(pull.stdout.contains("HELD here: cl.agcid from change cl.agcid:1") && pull.stdout.contains("[clock_ahead]"), "\(pull.stdout)")
        #expect(try rows(box, "b.db") == "a1,a2,a3\n")
        let onB = try #require(try held(box, "b.db").first)
        #expect(onB["origin"] as? String == "cl.agcid" && onB["firstSeq"] as? Int == 1 && onB["code"] as? String == "clock_ahead")
        #expect(onB["source"] as? String == "pull \(c.url)")
        #expect((onB["reason"] as? String)?.contains("ahead of this node's clock") == true, "\(onB)")
        #expect(try box.ok("b.db", "status").contains("HELD       cl.agcid from change cl.agcid:1"))
        // Syncing again moves nothing, fails nothing, and the held change stays held.
        let again = try box.minga("b.db", ["sync", "--peer", c.url, "--quiet"])
        #expect(again.status == 0 && again.stdout.contains("received 0, sent 0"), "\(again.stdout)")
        #expect(try held(box, "b.db").count == 1)

        // C pushes to A: A holds C's change, and C hears so; A's metrics show it.
        let push = try box.minga(at: Self.ahead, "c.db", ["sync", "--peer", a.url, "--quiet"])
        #expect(push.status == 0 && push.stdout.contains("HELD by the peer: cl.agcid from change cl.agcid:1"), "\(push.stdout) \(push.stderr)")
        // C does not push it again while A holds it, and C's status says A holds it.
        let repeated = try box.minga(at: Self.ahead, "c.db", ["sync", "--peer", a.url, "--json", "--quiet"])
        let summary = try #require((try box.json(repeated.stdout) as? [[String: Any]])?.first)
        #expect(summary["sent"] as? Int == 0 && (summary["heldByPeer"] as? [Any])?.isEmpty == true, "\(repeated.stdout)")
        #expect(try box.minga(at: Self.ahead, "c.db", ["status"]).stdout.contains("HELD by this peer since"))
        let onA = try #require(try held(box, "a.db").first)
        #expect(onA["code"] as? String == "clock_ahead" && onA["source"] as? String == "push from cl.agcid", "\(onA)")
        let metrics = try box.run("/usr/bin/curl", ["-s", "\(a.url)/metrics"], env: [:], timeout: 30).stdout
        #expect(metrics.contains(#"minga_held_changes{origin="cl.agcid",first="1",code="clock_ahead"} 1"#), "\(metrics)")
        #expect(metrics.contains("minga_held_origins 1"), "\(metrics)")

        // A day later, the receivers' clocks have caught up: the held change applies at the
        // next sync without being sent again, and every node holds the same rows.
        let later = try box.minga(at: Self.dayLater, "b.db", ["sync", "--peer", c.url, "--quiet"])
        #expect(later.status == 0 && later.stdout.contains("received 0 (and 1 held earlier, now applied), sent 0"), "\(later.stdout) \(later.stderr)")
        #expect(try box.minga(at: Self.dayLater, "a.db", ["sync", "--peer", c.url, "--quiet"]).status == 0)
        for db in ["a.db", "b.db", "c.db"] {
            #expect(try rows(box, db) == "a1,a2,a3,c1\n", "\(db)")
            #expect(try held(box, db).isEmpty, "\(db)")
        }
        let dump = try box.ok("a.db", "dump")
        #expect(try box.ok("b.db", "dump") == dump && box.ok("c.db", "dump") == dump)
    }

    /// The same by bundle: the import applies what it can, prints the held origin, and a
    /// later import (the clock caught up) applies the held change without the first file.
    @Test func aBundleFromANodeADayAheadIsHeldThenAppliesAtALaterImport() throws {
        let box = try Self.nodes("clock-ahead-bundle")
        defer { box.remove() }
        try box.sqlite("a.db", "INSERT INTO item VALUES ('a1', 'A')")
        try box.ok("a.db", "bundle", "export", "-o", "a.bundle")
        #expect(try box.minga(at: Self.ahead, "c.db", ["bundle", "import", "a.bundle", "--quiet"]).status == 0)
        #expect(try box.minga(at: Self.ahead, "c.db", ["put", "item", #"{"id":"c1","v":"C"}"#]).status == 0)
        #expect(try box.minga(at: Self.ahead, "c.db", ["bundle", "export", "-o", "c.bundle"]).status == 0)
        try FileManager.default.removeItem(atPath: box.path("a.bundle"))

        let first = try box.minga("b.db", ["bundle", "import", "c.bundle", "--quiet"])
        #expect(first.status == 0 && first.stdout.contains("applied 1 new change "), "\(first.stdout) \(first.stderr)")
        #expect(first.stdout.contains("HELD  cl.agcid from change cl.agcid:1") && first.stdout.contains("from bundle c.bundle"), "\(first.stdout)")
        try FileManager.default.removeItem(atPath: box.path("c.bundle"))

        try box.ok("a.db", "bundle", "export", "-o", "again.bundle")
        let later = try box.minga(at: Self.dayLater, "b.db", ["bundle", "import", "again.bundle", "--quiet"])
        #expect(later.status == 0 && later.stdout.contains("1 held change(s) of earlier imports applied"), "\(later.stdout) \(later.stderr)")
        #expect(try rows(box, "b.db") == "a1,c1\n" && held(box, "b.db").isEmpty)
    }
}
