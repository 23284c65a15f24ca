import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MingaCore
import MingaStore
import MingaTestSupport
import NIOCore
import Synchronization
import Testing

@testable import MingaSync

/// Every bound on a node's input refuses with its status and code, and applies nothing.
@Suite struct LimitsTests {
    /// A replica with `count` rows from `origin`, and its changes in log order.
    func source(_ origin: String, rows count: Int, title: (Int) -> String = { "Agua \($0)" }) async throws -> (Replica, [Change]) {
        let replica = try Fixture.replica(origin)
        // Sealed one by one, so every change is signed and any prefix is a verifiable batch.
        for i in 0..<count {
            try replica.put(table: "initiatives", row: ["id": .text("\(origin)-\(i)"), "title": .text(title(i))])
            _ = try await replica.vector()
        }
        return (replica, try await replica.changes(above: VersionVector(), limit: 1000, maxBytes: 1 << 30))
    }

    @Test func anOversizedBatchIsRefusedWholeAndAnOversizedValueHeld() async throws {
        // The first title is exactly at the protocol's value limit.
        let (_, changes) = try await source("mx.amexcid", rows: 6) {
            $0 == 0 ? String(repeating: "x", count: ContentRules.maxValueBytes) : "Agua \($0)"
        }
        var longText = changes[0]
        longText.columns["title"] = .text(String(repeating: "é", count: ContentRules.maxValueBytes / 2) + "x")  // one byte over
        var bigBlob = changes[0]
        bigBlob.columns["budget"] = .blob(Data(repeating: 7, count: ContentRules.maxValueBytes + 1))
        let node = try Fixture.replica("co.apc")
        try node.put(table: "initiatives", row: ["id": .text("local")])
        let before = (try node.dump(), try await node.vector())
        // A batch over the node's limit is 413, refused whole; a value over the protocol's is a
        // change no node accepts (protocol §13): it is held with its origin, the answer 200.
        let limits = Fixture.limits { $0.maxBatchChanges = 5 }
        let oversized = [
            ("long text", longText, ["initiatives.title", "1048576 bytes"]), ("big blob", bigBlob, ["initiatives.budget", "1048576 bytes"]),
        ]
        try await Fixture.app(node, limits: limits).test(.router) { client in
            let tooMany = try await client.execute(uri: "/v1/push", method: .post, body: try Fixture.json(ChangeBatch(changes: changes)))
            #expect(tooMany.status == .contentTooLarge)
            let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(buffer: tooMany.body))
            #expect(
                envelope?.code == .tooLarge && envelope?.error.message.contains("6 changes") == true
                    && envelope?.error.message.contains("at most 5") == true
            )
            try OpenAPITests().check("POST", "/v1/push", tooMany)
            for (name, bad, words) in oversized {
                let response = try await client.execute(uri: "/v1/push", method: .post, body: try Fixture.json(ChangeBatch(changes: [bad])))
                #expect(response.status == .ok, "\(name)")
                let answer = try JSONDecoder().decode(PushResponse.self, from: Data(buffer: response.body))
                let held = try #require(answer.held?.first, "\(name)")
                #expect(
                    answer.applied == 0 && held.origin.rawValue == "mx.amexcid" && held.seq == 1 && held.code == MingaError.Code.badContent.rawValue
                )
                for word in words { #expect(held.reason.contains(word), "\(name): \(held.reason)") }
                try OpenAPITests().check("POST", "/v1/push", response)
            }
            // Five changes and a value of exactly the limit pass.
            let fine = try await client.execute(uri: "/v1/push", method: .post, body: try Fixture.json(ChangeBatch(changes: Array(changes[0..<5]))))
            #expect(fine.status == .ok, "\(String(buffer: fine.body))")
            // A pull asking for more than the batch limit (six changes are due) gets the limit.
            let pull = try await client.execute(
                uri: "/v1/pull",
                method: .post,
                body: try Fixture.json(PullRequest(vector: VersionVector(), limit: 50))
            )
            let answer = try JSONDecoder().decode(PullResponse.self, from: Data(buffer: pull.body))
            #expect(answer.changes.count == 5 && answer.more)
        }
        let held = try await node.vector()
        #expect(held[try NodeID("mx.amexcid")] == 5, "only the batch within the limits was applied")
        #expect(held[try NodeID("co.apc")] == before.1[try NodeID("co.apc")])
        #expect(try node.heldOrigins().isEmpty, "the valid copy of mx:1 replaced the held one")
    }

    @Test func aRequestThatDoesNotArriveInTimeIsAnswered408AndAppliesNothing() async throws {
        let (_, changes) = try await source("mx.amexcid", rows: 1)
        let body = Array(try JSONEncoder.wire.encode(ChangeBatch(changes: changes)))
        let node = try Fixture.replica("co.apc")
        let metrics = SyncMetrics()
        let limits = Fixture.limits { $0.requestTimeout = .milliseconds(300) }
        try await LiveServer.serve(node, limits: limits, metrics: metrics) { port in
            let connection = try RawConnection(port: port)
            connection.post("/v1/push", length: body.count, close: false)
            connection.write(body.prefix(10))
            let response = await connection.readResponse()
            #expect(response.status == 408)
            #expect(response.envelope?.error.code == "timeout")
            #expect(response.headers["connection"] == "close")
            try OpenAPITests.check("POST", "/v1/push", status: response.status, body: response.body)
            // The rest of the body, too late, is not applied either; the connection is closed.
            connection.write(body.dropFirst(10))
            #expect(await connection.readToEnd() != nil, "the server closes the connection")
            try await LiveServer.waitUntil("the session is released") { LiveServer.metric("minga_sync_sessions", metrics) == 0 }
        }
        #expect(try await node.vector().isEmpty)
    }

    @Test func idleAndStalledConnectionsAreClosed() async throws {
        let node = try Fixture.replica("co.apc")
        let limits = Fixture.limits { $0.idleTimeout = .milliseconds(200) }
        try await LiveServer.serve(node, limits: limits) { port in
            let silent = try RawConnection(port: port)
            #expect(await silent.readToEnd() == Data(), "a connection that never sends a request is closed")

            let kept = try RawConnection(port: port)
            kept.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(await kept.readResponse().status == 200)
            #expect(await kept.readToEnd() == Data(), "a keep-alive connection left idle is closed")

            let stalled = try RawConnection(port: port)
            stalled.post("/v1/push", length: 1000)
            stalled.write("{\"protocol\":1,")
            #expect(await stalled.readToEnd() != nil, "a request that stalls halfway is closed")
        }
        #expect(try await node.vector().isEmpty)
    }

    @Test func theNinthConcurrentSyncRequestIsToldToRetryLaterWhileEightProceed() async throws {
        let (_, changes) = try await source("mx.amexcid", rows: 2)
        let first = Array(try JSONEncoder.wire.encode(ChangeBatch(changes: [changes[0]])))
        let both = Array(try JSONEncoder.wire.encode(ChangeBatch(changes: changes)))
        let node = try Fixture.replica("co.apc")
        let metrics = SyncMetrics()
        try await LiveServer.serve(node, metrics: metrics) { port in
            // Eight pushes whose bodies have only begun to arrive hold the eight places.
            let held = try (0..<8).map { _ in try RawConnection(port: port) }
            for connection in held {
                connection.post("/v1/push", length: first.count)
                connection.write(first.prefix(1))
            }
            try await LiveServer.waitUntil("eight sessions are open") { LiveServer.metric("minga_sync_sessions", metrics) == 8 }

            for (path, body) in [("/v1/push", both), ("/v1/pull", Array(#"{"vector":{}}"#.utf8))] {
                let ninth = try RawConnection(port: port)
                ninth.post(path, length: body.count)
                ninth.write(body)
                let response = await ninth.readResponse()
                #expect(response.status == 429, "\(path)")
                #expect(response.envelope?.error.code == "busy")
                #expect(response.headers["retry-after"] == "1")
                try OpenAPITests.check("POST", path, status: response.status, body: response.body)
            }
            let health = try RawConnection(port: port)
            health.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            #expect(await health.readResponse().status == 200, "only pulls and pushes count")

            for connection in held { connection.write(first.dropFirst()) }
            for connection in held {
                let response = await connection.readResponse()
                #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
            }
        }
        #expect(try await node.vector()[try NodeID("mx.amexcid")] == 1, "the refused push applied nothing")
        #expect(LiveServer.metric("minga_sync_sessions", metrics) == 0)
    }

    @Test func aLongSyncReportsItsProgressPageByPage() async throws {
        let (node, _) = try await source("mx.amexcid", rows: 5)
        let local = try Fixture.replica("co.apc")
        try local.put(table: "initiatives", row: ["id": .text("CO-1")])
        let seen = Mutex<[SyncProgress]>([])
        try await LiveServer.serve(node) { port in
            var session = SyncSession(replica: local, client: PeerClient(url: "http://127.0.0.1:\(port)", token: nil), logger: Logger(label: "test"))
            session.batchSize = 2
            session.progress = { p in seen.withLock { $0.append(p) } }
            let summary = await session.run()
            #expect(summary.succeeded, "\(summary.error ?? "")")
        }
        #expect(
            seen.withLock { $0 } == [
                SyncProgress(received: 2, toReceive: 5, sent: 0), SyncProgress(received: 4, toReceive: 5, sent: 0),
                SyncProgress(received: 5, toReceive: 5, sent: 0), SyncProgress(received: 5, toReceive: 5, sent: 1),
            ]
        )
    }

    @Test func aBusyPeerMeansRetryLaterNotFailure() async throws {
        let (_, changes) = try await source("mx.amexcid", rows: 1)
        let body = Array(try JSONEncoder.wire.encode(ChangeBatch(changes: changes)))
        let node = try Fixture.replica("co.apc")
        try node.put(table: "initiatives", row: ["id": .text("CO-1")])
        let local = try Fixture.replica("pe.apci")
        let metrics = SyncMetrics()
        try await LiveServer.serve(node, limits: Fixture.limits { $0.maxSessions = 1 }, metrics: metrics) { port in
            let holder = try RawConnection(port: port)
            holder.post("/v1/push", length: body.count)
            holder.write(body.prefix(1))
            try await LiveServer.waitUntil("the one session is open") { LiveServer.metric("minga_sync_sessions", metrics) == 1 }

            let session = SyncSession(replica: local, client: PeerClient(url: "http://127.0.0.1:\(port)", token: nil), logger: Logger(label: "test"))
            let busy = await session.run()
            #expect(!busy.succeeded && busy.retryLater)
            #expect(busy.retryAfter == .seconds(1))
            #expect(busy.errorCode == .busy, "\(busy.error ?? "")")

            holder.write(body.dropFirst())
            #expect(await holder.readResponse().status == 200)
            let again = await session.run()
            #expect(again.succeeded, "\(again.error ?? "")")
            #expect(!again.retryLater)
        }
        #expect(try local.dump() == node.dump())
    }
}

/// HTTPS between a node and its peer client: verified against the CA file, refused otherwise.
@Suite struct TLSServerTests {
    @Test func httpsPeersAreVerifiedAgainstTheCAFileAndRefusedWithoutIt() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let tls = try TLSFiles.server(certificateFile: certificates.path("server.pem"), keyFile: certificates.path("server.key"))
        let node = try Fixture.replica("co.apc")
        try node.put(table: "initiatives", row: ["id": .text("CO-1"), "title": .text("Bosques")])
        let local = try Fixture.replica("mx.amexcid")
        let servingTLS: (inout ServerConfiguration) -> Void = { $0.tls = tls }
        try await LiveServer.serve(node, servingTLS) { port in
            let url = "https://127.0.0.1:\(port)"
            func sync(trusting caFile: String?) async throws -> SyncSummary {
                let client = PeerClient(url: url, token: nil, tls: try TLSFiles.client(caFile: caFile))
                return await SyncSession(replica: local, client: client, logger: Logger(label: "test")).run()
            }
            for caFile in [nil, certificates.path("other-ca.pem")] {
                let refused = try await sync(trusting: caFile)
                #expect(!refused.succeeded && !refused.retryLater)
                let error = refused.error ?? ""
                #expect(error.contains(url) && error.contains("certificate is not trusted") && error.contains("--ca-file"), "\(error)")
            }
            #expect(try local.dump() != node.dump())
            let trusted = try await sync(trusting: certificates.path("ca.pem"))
            #expect(trusted.succeeded, "\(trusted.error ?? "")")
            #expect(trusted.received == 1)
        }
        #expect(try local.dump() == node.dump())
    }

    @Test func unusableTLSFilesAreNamed() throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        // A file that cannot be read is the world's failure; one that holds the wrong thing is the operator's.
        let cases: [(String, MingaError.Code, () throws -> Void)] = [
            ("missing.pem", .failed, { _ = try TLSFiles.client(caFile: certificates.path("missing.pem")) }),
            ("server.key", .invalidInput, { _ = try TLSFiles.client(caFile: certificates.path("server.key")) }),
            (
                "ca.key", .invalidInput,
                { _ = try TLSFiles.server(certificateFile: certificates.path("server.pem"), keyFile: certificates.path("ca.key")) }
            ),
            (
                "server.pem", .invalidInput,
                { _ = try TLSFiles.server(certificateFile: certificates.path("server.pem"), keyFile: certificates.path("server.pem")) }
            ),
        ]
        for (file, code, load) in cases {
            let error = #expect(throws: MingaError.self) { try load() }
            #expect(error?.code == code && error?.message.contains(file) == true, "\(error?.message ?? "")")
        }
    }
}
