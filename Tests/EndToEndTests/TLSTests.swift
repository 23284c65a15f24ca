import Foundation
import Testing

/// Real `minga serve` processes over HTTPS, with certificates made at test time by openssl.
@Suite(.serialized) struct TLSTests {
    func setUp(_ box: Sandbox) throws {
        try box.makeCertificates()
        try box.write("schema.sql", BundleExchangeTests.schema)
        for (db, id) in [("mx", "mx.amexcid"), ("co", "co.apc")] { try box.ok("\(db).db", "init", "--node-id", id, "--schema", "schema.sql") }
        try box.federate(["mx.db", "co.db"])
        try box.ok("mx.db", "put", "initiatives", #"{"id":"XM-DAC-1","title":"Agua potable"}"#)
        try box.ok("co.db", "put", "initiatives", #"{"id":"CO-1","title":"Bosques"}"#)
    }

    var tls: [String] { ["--tls-cert", "server.pem", "--tls-key", "server.key"] }

    @Test func twoServersSyncOverHTTPSTrustingTheirCA() throws {
        let box = try Sandbox("tls")
        defer { box.remove() }
        try setUp(box)
        let co = try box.serve("co.db", tls)
        defer { co.stop() }
        let mx = try box.serve("mx.db", tls + ["--peer", co.httpsURL, "--ca-file", "ca.pem", "--sync-interval", "0.5"])
        defer { mx.stop() }
        for server in [co, mx] {
            #expect(try String(contentsOfFile: server.log, encoding: .utf8).contains("listening on https://127.0.0.1:\(server.port)"))
        }

        // mx's daemon syncs with co over HTTPS; then co syncs with mx by hand.
        #expect(try box.eventually(30) { try box.ok("co.db", "dump").contains("XM-DAC-1") }, "mx's daemon reaches co")
        try box.ok("co.db", "put", "initiatives", #"{"id":"CO-2","title":"Glaciares"}"#)
        let manual = try box.ok("co.db", "sync", "--peer", mx.httpsURL, "--ca-file", "ca.pem")
        #expect(manual.contains("\(mx.httpsURL) (mx.amexcid): received"), "\(manual)")
        #expect(try box.eventually(30) { Set(try ["mx", "co"].map { try box.ok("\($0).db", "dump") }).count == 1 })
        #expect(try box.ok("mx.db", "dump").contains("CO-2"))
    }

    @Test func aClientThatDoesNotTrustTheCertificateIsRefusedClearly() throws {
        let box = try Sandbox("tls-refused")
        defer { box.remove() }
        try setUp(box)
        let co = try box.serve("co.db", tls)
        defer { co.stop() }
        let before = try box.ok("mx.db", "dump")
        for trust in [[], ["--ca-file", "other-ca.pem"]] {
            let result = try box.minga("mx.db", ["sync", "--peer", co.httpsURL] + trust)
            #expect(result.status != 0)
            #expect(result.stdout.contains("\(co.httpsURL): FAILED"), "\(result.stdout)")
            #expect(result.stdout.contains("certificate is not trusted") && result.stdout.contains("--ca-file"), "\(result.stdout)")
        }
        #expect(try box.ok("mx.db", "dump") == before, "nothing was exchanged")

        // A key that does not go with the certificate, or a lone certificate, stops serve at once.
        let mismatched = try box.minga("co.db", ["serve", "--port", "0", "--tls-cert", "server.pem", "--tls-key", "ca.key"], timeout: 60)
        #expect(mismatched.status != 0 && mismatched.stderr.contains("ca.key"), "\(mismatched.stderr)")
        let lone = try box.minga("co.db", ["serve", "--port", "0", "--tls-cert", "server.pem"], timeout: 60)
        #expect(lone.status != 0 && lone.stderr.contains("--tls-key"), "\(lone.stderr)")
    }
}
