import Foundation
import Testing

/// Real `minga serve` processes on loopback, synced by `minga sync` and by their daemons.
@Suite(.serialized) struct HTTPSyncTests {
    static let nodes = [("mx", "mx.amexcid"), ("co", "co.apc"), ("cl", "cl.agcid")]

    func setUp(_ box: Sandbox) throws {
        try box.write("schema.sql", BundleExchangeTests.schema)
        for (db, id) in Self.nodes { try box.ok("\(db).db", "init", "--node-id", id, "--schema", "schema.sql") }
        try box.federate(Self.nodes.map { "\($0.0).db" })
        try box.ok("mx.db", "put", "initiatives", #"{"id":"XM-DAC-1","title":"Agua potable","status":"draft","budget":100000}"#)
    }

    @Test func aRingOfThreeServersConvergesThroughTheMiddle() throws {
        let box = try Sandbox("ring")
        defer { box.remove() }
        try setUp(box)
        // Written as an editor on Windows saves them (CRLF), comment line and all.
        try box.write("tokens", "# the ring's token\r\nring-secret\r\n")
        let servers = try Self.nodes.map { try box.serve("\($0.0).db", ["--token-file", "tokens"]) }
        defer { for server in servers { server.stop() } }
        let (mx, co, _) = (servers[0], servers[1], servers[2])
        try box.write("peer-tokens", servers.map { "\($0.url) ring-secret" }.joined(separator: "\r\n") + "\r\n")
        func sync(_ db: String, _ peer: Server, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
            try box.ok("\(db).db", "sync", "--peer", peer.url, "--peer-tokens", "peer-tokens", sourceLocation: sourceLocation)
        }

        // mx's row reaches cl only through co.
        _ = try sync("co", mx)
        _ = try sync("cl", co)
        #expect(try box.ok("cl.db", "get", "initiatives", "XM-DAC-1").contains("Agua potable"))

        // Concurrent edits on all three, while their servers run.
        try box.ok("mx.db", "put", "initiatives", #"{"id":"XM-DAC-1","title":"Agua potable rural"}"#)
        try box.ok("co.db", "put", "initiatives", #"{"id":"XM-DAC-1","title":"Agua y saneamiento"}"#)
        try box.ok("cl.db", "put", "initiatives", #"{"id":"XM-DAC-1","status":"active"}"#)
        try box.sqlite("cl.db", "INSERT INTO participation VALUES ('XM-DAC-1', 'CL-RUT-60', 'recipient')")

        let first = try sync("mx", co)  // mx ↔ co
        #expect(first.contains("received 1, sent 1"), "\(first)")
        _ = try sync("cl", co)  // co ↔ cl: cl gets mx's and co's, co gets cl's
        _ = try sync("mx", co)  // mx gets cl's edits through co
        let dumps = try ["mx", "co", "cl"].map { try box.ok("\($0).db", "dump") }
        #expect(dumps[0] == dumps[1] && dumps[1] == dumps[2])
        let lists = try ["mx", "co", "cl"].map { try box.json(box.ok("\($0).db", "conflicts", "list", "--json")) as! [[String: Any]] }
        #expect(lists.allSatisfy { $0.count == 1 })
        let id = try #require(lists[0].first?["id"] as? String)
        #expect(lists.allSatisfy { $0.first?["id"] as? String == id })

        // The conflict endpoint says the same, with the token only.
        let remote = try box.run("/usr/bin/curl", ["-s", "-H", "Authorization: Bearer ring-secret", "\(mx.url)/v1/conflicts"], env: [:], timeout: 30)
        #expect((try box.json(remote.stdout) as? [[String: Any]])?.first?["id"] as? String == id)
        let denied = try box.run("/usr/bin/curl", ["-s", "-w", "%{http_code}", "\(mx.url)/v1/conflicts"], env: [:], timeout: 30)
        #expect(denied.stdout.hasSuffix("401") && denied.stdout.contains(#""code":"unauthorized""#))

        // Resolved on cl, the resolution reaches mx through co.
        try box.ok("cl.db", "conflicts", "resolve", id, "--value", #""Agua potable y saneamiento""#)
        _ = try sync("cl", co)
        _ = try sync("mx", co)
        for db in ["mx", "co", "cl"] {
            #expect(try box.ok("\(db).db", "conflicts", "list", "--json").trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
            #expect(try box.ok("\(db).db", "get", "initiatives", "XM-DAC-1").contains("Agua potable y saneamiento"))
        }
        #expect(Set(try ["mx", "co", "cl"].map { try box.ok("\($0).db", "dump") }).count == 1)
        for server in servers {
            let log = (try? String(contentsOfFile: server.log, encoding: .utf8)) ?? ""
            #expect(!log.contains("ring-secret"), "tokens never appear in logs")
            #expect(!log.contains("database is locked"))
        }
        #expect(!(try box.ok("mx.db", "status")).contains("ring-secret"))
    }

    @Test func daemonsAloneConvergeAndADownPeerCatchesUpWhenItReturns() throws {
        let box = try Sandbox("daemons")
        defer { box.remove() }
        try setUp(box)
        let ports = (0..<3).map { _ in Sandbox.freePort() }
        let urls = ports.map { "http://127.0.0.1:\($0)" }
        func start(_ i: Int) throws -> Server {
            let peers = (0..<3).filter { $0 != i }.flatMap { ["--peer", urls[$0]] }
            return try box.serve("\(Self.nodes[i].0).db", port: ports[i], peers + ["--sync-interval", "0.5"])
        }
        var servers = try (0..<3).map(start)
        defer { for server in servers { server.stop() } }

        // Writes on every node; no manual sync.
        try box.ok("co.db", "put", "initiatives", #"{"id":"CO-1","title":"Bosques"}"#)
        try box.sqlite("cl.db", "INSERT INTO initiatives(id, title) VALUES ('CL-1', 'Glaciares')")
        let converged = try box.eventually(30) {
            let dumps = try ["mx", "co", "cl"].map { try box.ok("\($0).db", "dump") }
            return Set(dumps).count == 1 && dumps[0].contains("CO-1") && dumps[0].contains("CL-1") && dumps[0].contains("XM-DAC-1")
        }
        #expect(converged, "daemons converge within a few intervals")

        // cl goes down; the others go on syncing and report it.
        servers[2].stop()
        try box.ok("mx.db", "put", "initiatives", #"{"id":"MX-2","title":"Energía"}"#)
        #expect(try box.eventually(20) { try box.ok("co.db", "dump").contains("MX-2") })
        #expect(
            try box.eventually(20) {
                let status = try box.json(box.ok("mx.db", "status", "--json")) as! [String: Any]
                let peers = status["peers"] as? [[String: Any]] ?? []
                return peers.contains { ($0["url"] as? String) == urls[2] && (($0["lastError"] as? String) ?? "").contains("cannot reach") }
            },
            "mx's status names the unreachable peer"
        )
        let manual = try box.minga("co.db", ["sync", "--peer", urls[0], "--peer", urls[2]])
        #expect(manual.status != 0 && manual.stdout.contains("FAILED") && manual.stdout.contains("received"), "\(manual.stdout)")

        // cl returns and catches up.
        servers[2] = try start(2)
        #expect(try box.eventually(40) { try box.ok("cl.db", "dump").contains("MX-2") })
        #expect(try box.eventually(20) { Set(try ["mx", "co", "cl"].map { try box.ok("\($0).db", "dump") }).count == 1 })
    }

    @Test func aLocalWriteWakesTheDaemonLongBeforeItsInterval() throws {
        let box = try Sandbox("wake")
        defer { box.remove() }
        try setUp(box)
        let mx = try box.serve("mx.db")
        defer { mx.stop() }
        // An hour between syncs: only the first sync, then a write, can move anything.
        let co = try box.serve("co.db", ["--peer", mx.url, "--sync-interval", "3600"])
        defer { co.stop() }
        #expect(try box.eventually(20) { try box.ok("co.db", "dump").contains("XM-DAC-1") }, "the first sync runs at start")

        try box.sqlite("co.db", "INSERT INTO initiatives(id, title) VALUES ('CO-9', 'Manglares')")
        #expect(try box.eventually(20) { try box.ok("mx.db", "dump").contains("CO-9") }, "a write by any SQLite client wakes the daemon")
        try box.sqlite("co.db", "UPDATE initiatives SET title = 'Manglares del Pacífico' WHERE id = 'CO-9'")
        #expect(try box.eventually(20) { try box.ok("mx.db", "dump").contains("Manglares del Pacífico") }, "and so does the next one")
    }
}
