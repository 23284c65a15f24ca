import Foundation
import Testing

/// Forty photos of 1 MB each: every change fits one request, and syncs over HTTP (with the
/// default limits and with a 2 MiB body limit on the server) and bundles carry them all,
/// both ways (protocol/README.md §12, Cutting batches; §16, `/v1/node`).
@Suite(.serialized) struct LargeValuesTests {
    static let schema = "CREATE TABLE photo(id TEXT PRIMARY KEY NOT NULL, caption TEXT, image BLOB);"

    func photos(_ box: Sandbox, _ db: String, prefix: String) throws {
        try box.sqlite(
            db,
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) INSERT INTO photo SELECT '\(prefix)-' || i, 'photo ' || i, randomblob(1000000) FROM n"
        )
    }

    /// Federated nodes `db → id` created from ``schema``.
    func nodes(_ name: String, _ ids: [(db: String, node: String)]) throws -> Sandbox {
        try Sandbox.federation(name, schema: Self.schema, ids)
    }

    func digest(_ box: Sandbox, _ db: String) throws -> String {
        try box.sqlite(db, "SELECT id, length(image), hex(substr(image, 1, 16)), hex(substr(image, -16)) FROM photo ORDER BY id")
    }

    @Test(arguments: [[], ["--max-body-bytes", "2097152"]]) func fortyPhotosSyncBothWaysOverHTTP(limits: [String]) throws {
        let box = try nodes("photos", [("a.db", "mx.amexcid"), ("b.db", "co.apc")])
        defer { box.remove() }
        try photos(box, "a.db", prefix: "a")
        try photos(box, "b.db", prefix: "b")
        let server = try box.serve("b.db", limits)
        defer { server.stop() }
        let sync = try box.minga("a.db", ["sync", "--peer", server.url, "--quiet"], timeout: 600)
        #expect(sync.status == 0, "\(sync.stderr)")
        #expect(sync.stdout.contains("received 40, sent 40"), "\(sync.stdout)")
        #expect(try box.sqlite("a.db", "SELECT count(*), sum(length(image)) FROM photo") == "80|80000000\n")
        #expect(try box.sqlite("b.db", "SELECT count(*), sum(length(image)) FROM photo") == "80|80000000\n")
        #expect(try digest(box, "a.db") == digest(box, "b.db"))
        #expect(Array(try box.ok("a.db", "dump").utf8) == Array(try box.ok("b.db", "dump").utf8))
        // Nothing left to send: the next sync moves nothing.
        #expect(try box.ok("a.db", "sync", "--peer", server.url, "--quiet").contains("received 0, sent 0"))
    }

    /// A row at the protocol's 2 MiB limit takes about 2.4 MB as JSON: a node that takes 2 MiB
    /// bodies is never pushed it (the sync says so and succeeds, the photos still go), and
    /// gets it by pulling.
    @Test func aRowTooLargeForThePeersBodyLimitIsNotSentAndCanBePulled() throws {
        let box = try nodes("too-large", [("a.db", "mx.amexcid"), ("b.db", "co.apc")])
        defer { box.remove() }
        try box.sqlite("a.db", "INSERT INTO photo VALUES ('big', hex(randomblob(524000)), randomblob(1048576))")
        try box.sqlite("a.db", "INSERT INTO photo VALUES ('small', 'small', randomblob(1000))")
        let b = try box.serve("b.db", ["--max-body-bytes", "2097152"])
        defer { b.stop() }
        let push = try box.minga("a.db", ["sync", "--peer", b.url, "--quiet"], timeout: 300)
        #expect(push.status == 0, "\(push.stdout) \(push.stderr)")
        #expect(
            push.stdout.contains("NOT SENT: mx.amexcid from change mx.amexcid:1")
                && push.stdout.contains("the peer takes bodies of at most 2097152 bytes"),
            "\(push.stdout)"
        )
        #expect(try box.sqlite("b.db", "SELECT count(*) FROM photo") == "0\n", "mx:2 waits behind mx:1")
        b.stop()
        let a = try box.serve("a.db")
        defer { a.stop() }
        #expect(try box.ok("b.db", "sync", "--peer", a.url, "--quiet").contains("received 2"))
        #expect(try digest(box, "a.db") == digest(box, "b.db"))
    }

    @Test func fortyPhotosTravelByBundle() throws {
        let box = try nodes("photo-bundle", [("a.db", "mx.amexcid"), ("c.db", "cl.agcid")])
        defer { box.remove() }
        try photos(box, "a.db", prefix: "a")
        try box.ok("a.db", "bundle", "export", "-o", "a.bundle")
        try box.ok("c.db", "bundle", "import", "a.bundle")
        #expect(try digest(box, "a.db") == digest(box, "c.db"))
        #expect(try box.sqlite("c.db", "SELECT count(*) FROM photo") == "40\n")
    }
}
