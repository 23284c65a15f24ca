import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MingaCore
import MingaStore
import MingaTestSupport
import NIOCore
import PropertyBased
import Testing

@testable import MingaSync

/// The HTTP endpoints on hostile input: mutated, truncated and random bodies get a 4xx with
/// the error envelope, never a 5xx, and the replica stays exactly as it was. scripts/fuzz-http
/// does the same against a real `minga serve`, with schemathesis on top.
@Suite struct HTTPFuzzTests {
    /// A valid push body (a signed batch from mx) and a valid pull body.
    static func bodies() async throws -> (push: [UInt8], pull: [UInt8]) {
        let mx = try Fixture.replica("mx.amexcid")
        for i in 0..<3 {
            try mx.put(table: "initiatives", row: ["id": .text("XM-\(i)"), "title": .text("Agua ñ \(i)"), "budget": .integer(Int64(i))])
        }
        let changes = try await mx.changes(above: VersionVector(), limit: 100, maxBytes: 1 << 20)
        return (Array(try JSONEncoder.wire.encode(ChangeBatch(changes: changes))), Array(#"{"vector":{"co.apc":1},"limit":10}"#.utf8))
    }

    /// Splices: cut the body at one point, drop up to `drop` bytes, insert `insert` there.
    static func splice(_ body: [UInt8], at: Int, drop: Int, insert: [UInt8]) -> [UInt8] {
        let at = at % (body.count + 1)
        return Array(body[..<at]) + insert + Array(body[min(body.count, at + drop)...])
    }

    @Test func mutatedBodiesGetAnEnvelopedFourHundredAndChangeNothing() async throws {
        let (push, pull) = try await Self.bodies()
        let node = try Fixture.replica("co.apc")
        try node.put(table: "initiatives", row: ["id": .text("CO-1")])
        let before = (try node.dump(), try await node.vector())
        let original = try JSONDecoder().decode(ChangeBatch.self, from: Data(push))
        try await Fixture.app(node).test(.router) { client in
            await propertyCheck(
                count: 300,
                input: Gen.int(in: 0...1),
                Gen.int(in: 0...100_000),
                Gen.int(in: 0...8),
                Gen.int(in: 0...255).array(of: 0...6)
            ) { which, at, drop, insert in
                let body = Self.splice(which == 0 ? push : pull, at: at, drop: drop, insert: insert.map(UInt8.init))
                let uri = which == 0 ? "/v1/push" : "/v1/pull"
                let response = try await client.execute(uri: uri, method: .post, body: ByteBuffer(bytes: body))
                if response.status == .ok {
                    // A push whose mutation left its changes intact (say, a space added) applies;
                    // a mutated change is held (protocol §13), never applied: checked below.
                    return
                }
                #expect((400..<500).contains(response.status.code), "\(uri): \(response.status) for \(String(decoding: body, as: UTF8.self))")
                let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(buffer: response.body))
                #expect(envelope?.error.message.isEmpty == false, "\(uri): no envelope in \(String(buffer: response.body))")
            }
        }
        // Nothing but the original changes can have been applied.
        let mx = try NodeID("mx.amexcid")
        let applied = try await node.changes(above: VersionVector([node.nodeID: before.1[node.nodeID]]), limit: 100, maxBytes: 1 << 30)
        let unsigned = { (changes: [Change]) in
            changes.map {
                var c = $0
                c.signature = nil
                return c
            }
        }
        #expect(unsigned(applied) == unsigned(Array(original.changes.prefix(applied.count))), "\(applied)")
        #expect(try await node.vector()[node.nodeID] == before.1[node.nodeID] && applied.allSatisfy { $0.origin == mx })
    }

    @Test func withoutCredentialsEverySyncEndpointAnswers401AndNothingIsReadOrWritten() async throws {
        let (push, pull) = try await Self.bodies()
        let node = try Fixture.replica("co.apc")
        try node.put(table: "initiatives", row: ["id": .text("CO-1"), "title": .text("secreto")])
        let before = (try node.dump(), try await node.vector())
        try await Fixture.app(node) { $0.tokens = ["s3cret"] }.test(.router) { client in
            let requests: [(String, HTTPRequest.Method, [UInt8])] = [
                ("/v1/node", .get, []), ("/v1/pull", .post, pull), ("/v1/push", .post, push), ("/v1/conflicts", .get, []),
                ("/v1/conflicts?status=all", .get, []),
            ]
            for (uri, method, body) in requests {
                for headers: HTTPFields in [[:], [.authorization: "Bearer nope"], [.authorization: "Basic czNjcmV0"]] {
                    let response = try await client.execute(uri: uri, method: method, headers: headers, body: ByteBuffer(bytes: body))
                    #expect(response.status == .unauthorized, "\(method) \(uri)")
                    let text = String(buffer: response.body)
                    #expect(!text.contains("secreto") && !text.contains("CO-1"), "\(uri) leaked data: \(text)")
                    #expect(try JSONDecoder().decode(ErrorEnvelope.self, from: Data(buffer: response.body)).error.code == "unauthorized")
                }
            }
        }
        #expect(try node.dump() == before.0)
        #expect(try await node.vector() == before.1)
    }
}
