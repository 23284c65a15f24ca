import Foundation
import Testing

/// The node core as operators run it: three ministries, bundles exchanged in different
/// orders, edits from the sqlite3 shell, a conflict resolved on one node reaching all.
@Suite(.serialized) struct BundleExchangeTests {
    static let schema = """
        CREATE TABLE initiatives(id TEXT PRIMARY KEY, title TEXT, status TEXT, budget INTEGER);
        CREATE TABLE participation(initiative TEXT NOT NULL, org TEXT NOT NULL, role TEXT, PRIMARY KEY (initiative, org));
        """

    @Test func threeMinistriesConvergeAndShareOneConflict() throws {
        let box = try Sandbox("three")
        defer { box.remove() }
        try box.write("schema.sql", Self.schema)
        let nodes = ["mx": "mx.amexcid", "co": "co.apc", "cl": "cl.agcid"]
        for (db, id) in nodes { try box.ok("\(db).db", "init", "--node-id", id, "--schema", "schema.sql") }
        try box.federate(nodes.keys.map { "\($0).db" })

        // mx creates a row; bundles take it to the others.
        try box.ok("mx.db", "put", "initiatives", #"{"id":"XM-DAC-1","title":"Agua potable","status":"draft","budget":100000}"#)
        try box.ok("mx.db", "bundle", "export", "-o", "mx-1.bundle")
        try box.ok("co.db", "bundle", "import", "mx-1.bundle")
        try box.ok("cl.db", "bundle", "import", "mx-1.bundle")

        // mx and co change the same column; cl another column, and writes a row with the sqlite3 shell.
        try box.ok("mx.db", "put", "initiatives", #"{"id":"XM-DAC-1","title":"Agua potable rural"}"#)
        try box.ok("co.db", "put", "initiatives", #"{"id":"XM-DAC-1","title":"Agua y saneamiento"}"#)
        try box.ok("cl.db", "put", "initiatives", #"{"id":"XM-DAC-1","status":"active"}"#)
        try box.sqlite("cl.db", "INSERT INTO participation VALUES ('XM-DAC-1', 'CL-RUT-60', 'recipient')")

        // Exchange in different orders, with relays, until everyone holds everything.
        func export(_ from: String, _ file: String) throws { try box.ok("\(from).db", "bundle", "export", "-o", file) }
        func take(_ to: String, _ file: String) throws { try box.ok("\(to).db", "bundle", "import", file) }
        try export("cl", "cl-2.bundle")
        try take("co", "cl-2.bundle")  // co now holds cl's edits
        try export("co", "co-2.bundle")
        try take("mx", "co-2.bundle")  // mx learns cl's edits through co
        try take("mx", "co-2.bundle")  // twice: changes nothing
        try export("mx", "mx-2.bundle")
        try take("cl", "mx-2.bundle")
        try take("co", "mx-2.bundle")

        let dumps = try ["mx", "co", "cl"].map { try box.ok("\($0).db", "dump") }
        #expect(dumps[0] == dumps[1] && dumps[1] == dumps[2])
        #expect(dumps[0].contains(#""status":"active""#) && dumps[0].contains("CL-RUT-60"))

        let lists = try ["mx", "co", "cl"].map { try box.json(box.ok("\($0).db", "conflicts", "list", "--json")) as! [[String: Any]] }
        for list in lists {
            #expect(list.count == 1, "exactly the title conflict, on every node")
            #expect(list.first?["id"] as? String == lists[0].first?["id"] as? String)
            #expect(list.first?["column"] as? String == "title" && list.first?["status"] as? String == "open")
            #expect(list.first?["key"] as? [String] == ["XM-DAC-1"] && list.first?["table"] as? String == "initiatives")
        }
        let conflict = try #require(lists[0].first)
        let loser = try #require(conflict["loser"] as? [String: Any])
        let winner = try #require(conflict["winner"] as? [String: Any])
        #expect(Set([loser["value"] as? String, winner["value"] as? String]) == ["Agua potable rural", "Agua y saneamiento"])

        // Resolve on cl (which wrote neither side) by taking the loser; bundles carry it.
        let id = try #require(conflict["id"] as? String)
        try box.ok("cl.db", "conflicts", "resolve", id, "--take-loser")
        try export("cl", "cl-3.bundle")
        try take("co", "cl-3.bundle")
        try export("co", "co-3.bundle")
        try take("mx", "co-3.bundle")
        for db in ["mx", "co", "cl"] {
            #expect(try box.ok("\(db).db", "conflicts", "list", "--json").trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
            let all = try box.json(box.ok("\(db).db", "conflicts", "list", "--all", "--json")) as! [[String: Any]]
            #expect(all.count == 1 && all.first?["status"] as? String == "resolved" && all.first?["id"] as? String == id)
            let row = try box.json(box.ok("\(db).db", "get", "initiatives", "XM-DAC-1")) as! [String: Any]
            #expect(row["title"] as? String == loser["value"] as? String)
        }
        let final = try ["mx", "co", "cl"].map { try box.ok("\($0).db", "dump") }
        #expect(final[0] == final[1] && final[1] == final[2])

        let status = try box.json(box.ok("mx.db", "status", "--json")) as! [String: Any]
        #expect(status["nodeId"] as? String == "mx.amexcid")
        #expect((status["vector"] as? [String: Int]) == ["mx.amexcid": 2, "co.apc": 1, "cl.agcid": 3])
    }

    @Test func badInputIsRefusedWithAMessageAndChangesNothing() throws {
        let box = try Sandbox("bad")
        defer { box.remove() }
        try box.write("schema.sql", Self.schema)
        try box.ok("a.db", "init", "--node-id", "mx.amexcid", "--schema", "schema.sql")
        try box.ok("b.db", "init", "--node-id", "co.apc", "--schema", "schema.sql")
        try box.federate(["a.db", "b.db"])
        try box.ok("a.db", "put", "initiatives", #"{"id":"X","title":"Agua","budget":9007199254740993}"#)
        try box.ok("a.db", "bundle", "export", "-o", "good.bundle")
        let good = try String(contentsOfFile: box.path("good.bundle"), encoding: .utf8)
        try box.write("altered.bundle", good.replacingOccurrences(of: "Agua", with: "Agux"))
        try box.write("truncated.bundle", String(good.prefix(good.count - 40)))
        try box.write("malformed.bundle", good.replacingOccurrences(of: "\"changes\":[", with: "\"changes\":{"))
        try box.write("empty.bundle", "")
        let before = try box.sqlite("b.db", ".dump")
        for (file, words) in [
            ("altered.bundle", "altered"), ("truncated.bundle", "truncated"), ("malformed.bundle", "malformed"), ("empty.bundle", "empty"),
            ("missing.bundle", "cannot read"),
        ] {
            let result = try box.minga("b.db", ["bundle", "import", file])
            #expect(result.status != 0)
            #expect(result.stderr.contains(words), "\(file): \(result.stderr)")
        }
        #expect(try box.sqlite("b.db", ".dump") == before, "the replica is byte-for-byte as before")
        try box.ok("b.db", "bundle", "import", "good.bundle")
        #expect(try box.ok("b.db", "get", "initiatives", "X").contains("9007199254740993"))

        let refused = try box.minga("b.db", ["init", "--node-id", "co.apc", "--schema", "schema.sql"])
        #expect(refused.status != 0 && refused.stderr.contains("already exists"))
        try box.write("rowid.sql", "CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT);")
        let rowid = try box.minga("c.db", ["init", "--node-id", "cl.agcid", "--schema", "rowid.sql"])
        #expect(rowid.status != 0 && rowid.stderr.contains("UUID"))
        #expect(!FileManager.default.fileExists(atPath: box.path("c.db")))
        let badID = try box.minga("c.db", ["init", "--node-id", "CL_AGCID", "--schema", "schema.sql"])
        #expect(badID.status != 0 && badID.stderr.contains("invalid node id"))
    }

    @Test func aBundleSinceAPeersVectorCarriesOnlyWhatThePeerLacks() throws {
        let box = try Sandbox("since")
        defer { box.remove() }
        try box.write("schema.sql", Self.schema)
        try box.ok("a.db", "init", "--node-id", "mx.amexcid", "--schema", "schema.sql")
        try box.ok("b.db", "init", "--node-id", "co.apc", "--schema", "schema.sql")
        try box.federate(["a.db", "b.db"])
        for i in 1...5 { try box.ok("a.db", "put", "initiatives", #"{"id":"X\#(i)","title":"t"}"#) }
        try box.ok("a.db", "bundle", "export", "-o", "first.bundle")
        try box.ok("b.db", "bundle", "import", "first.bundle")
        for i in 6...8 { try box.ok("a.db", "put", "initiatives", #"{"id":"X\#(i)","title":"t"}"#) }
        try box.write("b-status.json", try box.ok("b.db", "status", "--json"))
        let wrote = try box.ok("a.db", "bundle", "export", "--since", "b-status.json", "-o", "delta.bundle")
        #expect(wrote.contains("wrote 3 changes"), "\(wrote)")
        try box.write("vector.json", #"{"mx.amexcid":7}"#)
        #expect(try box.ok("a.db", "bundle", "export", "--since", "vector.json", "-o", "one.bundle").contains("wrote 1 change in"))
        try box.ok("b.db", "bundle", "import", "delta.bundle")
        #expect(try box.ok("b.db", "dump") == box.ok("a.db", "dump"))
        try box.write("bad.json", #"{"mx.amexcid":"seven"}"#)
        let bad = try box.minga("a.db", ["bundle", "export", "--since", "bad.json", "-o", "x.bundle"])
        #expect(bad.status != 0 && bad.stderr.contains("not a version vector"))
    }

    @Test func everyCommandExplainsItself() throws {
        let box = try Sandbox("help")
        defer { box.remove() }
        for command in [
            [], ["init"], ["put"], ["get"], ["delete"], ["query"], ["dump"], ["status"], ["log"],
            ["conflicts"], ["conflicts", "list"], ["conflicts", "show"], ["conflicts", "resolve"],
            ["bundle"], ["bundle", "export"], ["bundle", "import"], ["serve"], ["sync"], ["check"], ["generate"],
            ["import"], ["import", "iati"], ["import", "csv"], ["export"], ["export", "iati"], ["export", "csv"],
        ] {
            let result = try box.minga(nil, command + ["--help"])
            #expect(result.status == 0 && result.stdout.contains("USAGE"), "minga \(command) --help")
        }
    }
}
