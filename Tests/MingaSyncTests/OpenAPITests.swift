import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MingaCore
import MingaStore
import MingaTestSupport
import NIOCore
import Testing

@testable import MingaSync

/// Real responses of the server, checked against protocol/openapi.yaml by
/// protocol/check_openapi.py (jsonschema + PyYAML; .ci/run installs them).
@Suite struct OpenAPITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    func check(_ method: String, _ path: String, _ response: TestResponse, contentType: String = "application/json") throws {
        try Self.check(method, path, status: response.status.code, body: Data(buffer: response.body), contentType: contentType)
    }

    static func check(_ method: String, _ path: String, status: Int, body: Data, contentType: String = "application/json") throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("minga-openapi-\(UUID().uuidString)")
        try body.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", Self.root.appendingPathComponent("protocol/check_openapi.py").path,
            method, path, String(status), file.path, contentType,
        ]
        let err = Pipe()
        process.standardError = err
        try process.run()
        process.waitUntilExit()
        let reason = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(method) \(path) \(status): \(reason)")
    }

    @Test func realResponsesMatchTheSpecification() async throws {
        let source = try Fixture.replica("mx.amexcid")
        try source.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("Agua"), "budget": .integer(9_007_199_254_740_993)])
        try source.put(table: "initiatives", row: ["id": .text("XM-2")])
        let node = try Fixture.replica("co.apc")
        try node.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("Suelo")])
        let batch = try Fixture.json(ChangeBatch(changes: try await source.changes(above: VersionVector(), limit: 100, maxBytes: 1 << 20)))
        try await Fixture.app(node) { $0.tokens = ["t"] }.test(.router) { client in
            let auth: HTTPFields = [.authorization: "Bearer t"]
            try check("GET", "/v1/node", try await client.execute(uri: "/v1/node", method: .get, headers: auth))
            try check("POST", "/v1/push", try await client.execute(uri: "/v1/push", method: .post, headers: auth, body: batch))
            let pull = try Fixture.json(PullRequest(vector: VersionVector(), limit: 2))
            try check("POST", "/v1/pull", try await client.execute(uri: "/v1/pull", method: .post, headers: auth, body: pull))
            let conflicts = try await client.execute(uri: "/v1/conflicts?status=all", method: .get, headers: auth)
            #expect(String(buffer: conflicts.body).contains("\"column\":\"title\""), "the check below sees a real conflict")
            try check("GET", "/v1/conflicts", conflicts)
            try check("GET", "/v1/node", try await client.execute(uri: "/v1/node", method: .get))
            try check("POST", "/v1/push", try await client.execute(uri: "/v1/push", method: .post, headers: auth, body: ByteBuffer(string: "[")))
            try check("GET", "/health", try await client.execute(uri: "/health", method: .get))
            try check("GET", "/metrics", try await client.execute(uri: "/metrics", method: .get), contentType: "text/plain")
        }
    }
}
