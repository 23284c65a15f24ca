import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MingaCore
import MingaStore
import MingaTestSupport
import NIOCore
import Testing

@testable import MingaSync

extension Fixture {
    /// A replica on ``initiativesSchema`` whose key derives from its id and whose roster lists
    /// the test nodes.
    static func replica(_ id: String) throws -> Replica {
        try replica(id, schema: initiativesSchema, roster: ["mx.amexcid", "co.apc", "cl.agcid"])
    }

    /// Default server limits as `configure` leaves them.
    static func limits(_ configure: (inout ServerLimits) -> Void) -> ServerLimits {
        var limits = ServerLimits()
        configure(&limits)
        return limits
    }

    /// `value` encoded as the wire's JSON.
    static func json(_ value: some Encodable) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONEncoder.wire.encode(value))
    }
}

@Suite struct ServerTests {
    @Test func badInputIsRefusedWholeWithTheEnvelopeAndChangesNothing() async throws {
        let source = try Fixture.replica("mx.amexcid")
        for i in 0..<3 { try source.put(table: "initiatives", row: ["id": .text("k\(i)"), "title": .text(String(repeating: "x", count: 50))]) }
        let changes = try await source.changes(above: VersionVector(), limit: 1000, maxBytes: 1 << 30)
        let node = try Fixture.replica("co.apc")
        try node.put(table: "initiatives", row: ["id": .text("local")])
        let before = (try node.dump(), try await node.vector())
        let big = ByteBuffer(bytes: Array(repeating: UInt8(ascii: " "), count: 10_000))
        let bomb = try Gzip.compress(ByteBuffer(bytes: Array(repeating: UInt8(ascii: " "), count: 1_000_000)))
        let justOver = try Gzip.compress(ByteBuffer(bytes: Array(repeating: UInt8(ascii: " "), count: 4097)))
        let cases: [(String, ByteBuffer, HTTPFields, HTTPResponse.Status, String)] = [
            ("not JSON", ByteBuffer(string: "{not json"), [:], .badRequest, "malformed"),
            ("missing changes", ByteBuffer(string: #"{"protocol":1}"#), [:], .badRequest, "malformed"),
            ("future protocol", ByteBuffer(string: #"{"protocol":2,"changes":[]}"#), [:], .badRequest, "malformed"),
            ("bad value", ByteBuffer(string: #"{"protocol":1,"changes":[{"origin":"Bad Node","seq":1}]}"#), [:], .badRequest, "malformed"),
            ("sequence gap", try Fixture.json(ChangeBatch(changes: [changes[0], changes[2]])), [:], .unprocessableContent, "rejected"),
            ("too large", big, [:], .contentTooLarge, "too_large"),
            ("gzip bomb", bomb, [.contentEncoding: "gzip"], .contentTooLarge, "too_large"),
            ("gzip a byte over", justOver, [.contentEncoding: "gzip"], .contentTooLarge, "too_large"),
            ("not gzip", ByteBuffer(string: "plain"), [.contentEncoding: "gzip"], .badRequest, "malformed"),
            ("unknown encoding", ByteBuffer(string: "{}"), [.contentEncoding: "br"], .badRequest, "malformed"),
        ]
        try await Fixture.app(node, limits: Fixture.limits { $0.maxBodyBytes = 4096 }).test(.router) { client in
            for (name, body, headers, status, code) in cases {
                do {
                    let response = try await client.execute(uri: "/v1/push", method: .post, headers: headers, body: body)
                    #expect(response.status == status, "\(name)")
                    let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(buffer: response.body))
                    #expect(envelope?.error.code == code, "\(name): \(String(buffer: response.body))")
                    #expect(envelope?.error.message.isEmpty == false)
                }
            }
            do {
                let response = try await client.execute(uri: "/v1/pull", method: .post, body: ByteBuffer(string: #"{"vector":{"X":1}}"#))
                #expect(response.status == .badRequest)
            }
            do {
                let response = try await client.execute(uri: "/v1/nothing", method: .get)
                #expect(response.status == .notFound)
                #expect(try JSONDecoder().decode(ErrorEnvelope.self, from: Data(buffer: response.body)).error.code == "not_found")
            }
        }
        #expect(try node.dump() == before.0)
        #expect(try await node.vector() == before.1)
    }

    @Test func pullServesBoundedBatchesInOrderAndSaysWhetherMoreRemain() async throws {
        let node = try Fixture.replica("mx.amexcid")
        // Sealed one by one, so every change is signed and a batch may end after any of them.
        for i in 0..<25 {
            try node.put(table: "initiatives", row: ["id": .text("k\(i)")])
            _ = try await node.vector()
        }
        let receiver = try Fixture.replica("co.apc")
        try await Fixture.app(node, limits: Fixture.limits { $0.maxBatchChanges = 10 }).test(.router) { client in
            var pulls = 0
            while true {
                let request = try Fixture.json(PullRequest(vector: try await receiver.vector(), limit: 50))
                let response = try await client.execute(uri: "/v1/pull", method: .post, body: request)
                let answer = try JSONDecoder().decode(PullResponse.self, from: Data(buffer: response.body))
                pulls += 1
                #expect(answer.changes.count <= 10, "the server's own limit bounds the batch")
                _ = try await receiver.apply(ChangeBatch(changes: answer.changes))
                if !answer.more { break }
            }
            #expect(pulls == 3)
        }
        #expect(try receiver.dump() == node.dump())
    }

    @Test func bodiesTravelGzipCompressedBothWays() async throws {
        let source = try Fixture.replica("mx.amexcid")
        for i in 0..<40 { try source.put(table: "initiatives", row: ["id": .text("k\(i)"), "title": .text("Cooperación Sur-Sur \(i)")]) }
        let node = try Fixture.replica("co.apc")
        let batch = try JSONEncoder.wire.encode(
            ChangeBatch(changes: try await source.changes(above: VersionVector(), limit: 1000, maxBytes: 1 << 30))
        )
        let compressed = try Gzip.compress(ByteBuffer(bytes: batch))
        #expect(compressed.readableBytes * 3 < batch.count, "change batches compress well")
        try await Fixture.app(node).test(.router) { client in
            do {
                let response = try await client.execute(uri: "/v1/push", method: .post, headers: [.contentEncoding: "gzip"], body: compressed)
                #expect(response.status == .ok)
                #expect(try JSONDecoder().decode(PushResponse.self, from: Data(buffer: response.body)).applied == 40)
            }
            let pull = try Fixture.json(PullRequest(vector: VersionVector()))
            do {
                let response = try await client.execute(uri: "/v1/pull", method: .post, headers: [.acceptEncoding: "gzip"], body: pull)
                #expect(response.headers[.contentEncoding] == "gzip")
                let inflated = try Gzip.decompress(response.body, limit: 1 << 20)
                #expect(try JSONDecoder().decode(PullResponse.self, from: Data(buffer: inflated)).changes.count == 40)
            }
            do {
                let response = try await client.execute(uri: "/v1/pull", method: .post, body: pull)
                #expect(response.headers[.contentEncoding] == nil, "no gzip unless the client accepts it")
            }
        }
        #expect(try node.dump() == source.dump())
    }

    @Test func tokensGuardTheSyncAndConflictEndpointsOnly() async throws {
        let node = try Fixture.replica("mx.amexcid")
        try await Fixture.app(node) { $0.tokens = ["s3cret", "other"] }.test(.router) { client in
            for uri in ["/v1/node", "/v1/conflicts"] {
                for headers: HTTPFields in [[:], [.authorization: "Bearer wrong"], [.authorization: "Bearer s3cre"], [.authorization: "s3cret"]] {
                    do {
                        let response = try await client.execute(uri: uri, method: .get, headers: headers)
                        #expect(response.status == .unauthorized)
                        #expect(try JSONDecoder().decode(ErrorEnvelope.self, from: Data(buffer: response.body)).error.code == "unauthorized")
                    }
                }
                do {
                    let response = try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer s3cret"])
                    #expect(response.status == .ok)
                }
            }
            do {
                let response = try await client.execute(uri: "/v1/push", method: .post, body: ByteBuffer(string: "{}"))
                #expect(response.status == .unauthorized)
            }
            do {
                let response = try await client.execute(uri: "/health", method: .get)
                #expect(response.status == .ok)
            }
            do {
                let response = try await client.execute(uri: "/metrics", method: .get)
                #expect(String(buffer: response.body).contains("minga_open_conflicts"))
            }
        }
    }

    @Test func backoffGrowsIsCappedAndJittered() {
        let interval = Duration.seconds(2)
        let cap = Duration.seconds(60)
        #expect(SyncDaemon.backoff(failures: 1, interval: interval, cap: cap, jitter: 1) == .seconds(2))
        #expect(SyncDaemon.backoff(failures: 3, interval: interval, cap: cap, jitter: 1) == .seconds(8))
        #expect(SyncDaemon.backoff(failures: 30, interval: interval, cap: cap, jitter: 1) == cap)
        #expect(SyncDaemon.backoff(failures: 3, interval: interval, cap: cap, jitter: 0.5) == .seconds(4))
        #expect(SyncDaemon.backoff(failures: 3, interval: interval, cap: cap, jitter: 0.1) == .seconds(4), "jitter never shrinks below half")
    }

    @Test func aBusyPeerIsAskedAgainWhenItSaidNotEverLater() {
        let interval = Duration.seconds(2)
        let cap = Duration.seconds(300)
        #expect(SyncDaemon.busyDelay(asked: .seconds(1), interval: interval, cap: cap, jitter: 0) == .seconds(1))
        #expect(SyncDaemon.busyDelay(asked: .seconds(1), interval: interval, cap: cap, jitter: 0.5) == .milliseconds(1500))
        #expect(SyncDaemon.busyDelay(asked: nil, interval: interval, cap: cap, jitter: 0) == interval)
        #expect(SyncDaemon.busyDelay(asked: .seconds(3600), interval: interval, cap: cap, jitter: 0) == cap)
        #expect(SyncDaemon.busyDelay(asked: .seconds(1), interval: interval, cap: cap, jitter: 9) == .milliseconds(1500))
    }
}

@Suite struct GzipNegotiationTests {
    @Test(arguments: [("gzip", true), ("deflate, gzip;q=0.5", true), ("gzip;q=0", false), ("GZIP", true), ("br", false), ("", false)])
    func acceptEncodingIsRead(_ header: String, _ accepted: Bool) {
        #expect(Gzip.accepts(header) == accepted)
    }

    /// A newer peer may hold an origin back with a code this node does not know: the origin
    /// is still left out of later pushes to it (not pushed again at every sync), and the
    /// peer's code is kept in the reason an operator reads.
    @Test func anOriginHeldByThePeerUnderAnUnknownCodeStaysHeld() throws {
        let node = try Fixture.replica("mx.amexcid")
        let session = SyncSession(replica: node, client: PeerClient(url: "http://127.0.0.1:9", token: nil), logger: Logger(label: "test"))
        let info = try JSONDecoder().decode(
            NodeInfo.self,
            from: Data(#"{"nodeId":"co.apc","protocol":1,"schemaVersion":"x","vector":{},"acceptsEncodings":[]}"#.utf8)
        )
        var exchange = SyncExchange(session: session, info: info, summary: SyncSummary(peer: "p"), state: PeerState(url: "p"), traffic: .init())
        for code in ["quota_exceeded", "clock_ahead"] {
            let held = try JSONDecoder().decode(
                PushResponse.HeldBack.self,
                from: Data(#"{"origin":"cl.agcid","seq":3,"count":2,"code":"\#(code)","reason":"why"}"#.utf8)
            )
            exchange.state.heldByPeer = []
            exchange.recordHeldByPeer(held)
            let kept = try #require(exchange.state.heldByPeer.first)
            #expect(kept.origin.rawValue == "cl.agcid" && kept.firstSeq == 3)
            if code == "clock_ahead" {
                #expect(kept.code == .clockAhead && kept.reason == "why")
            } else {
                #expect(kept.code == .failed && kept.reason == "[quota_exceeded] why")
            }
        }
    }
}
