import Foundation
import MingaCore

/// `GET /v1/node`: who a node is, and what it holds.
public struct NodeInfo: Codable, Sendable {
    public var nodeId: NodeID
    public var `protocol`: Int
    public var schemaVersion: String
    public var vector: VersionVector
    /// Request encodings the node accepts, e.g. `["gzip"]`.
    public var acceptsEncodings: [String]
}

/// `POST /v1/pull` body: the caller's vector and how much it wants at once.
public struct PullRequest: Codable, Sendable {
    public var vector: VersionVector
    public var limit: Int?
    public var maxBytes: Int?

    public init(vector: VersionVector, limit: Int? = nil, maxBytes: Int? = nil) {
        self.vector = vector
        self.limit = limit
        self.maxBytes = maxBytes
    }
}

/// `POST /v1/pull` answer: the changes above the caller's vector, in the server's log
/// order, the server's vector, and whether more remain.
public struct PullResponse: Codable, Sendable {
    public var `protocol`: Int
    public var changes: [Change]
    public var vector: VersionVector
    public var more: Bool
}

/// `POST /v1/push` answer.
public struct PushResponse: Codable, Sendable {
    public var vector: VersionVector
    public var applied: Int
    public var duplicates: Int
    public var newConflicts: Int
}

/// The error envelope every 4xx/5xx answer carries: `{"error":{"code":…,"message":…}}`.
public struct ErrorEnvelope: Codable, Sendable, Error {
    public struct Body: Codable, Sendable {
        public var code: String
        public var message: String
    }
    public var error: Body

    public init(code: String, message: String) { error = Body(code: code, message: message) }
}

extension JSONDecoder {
    /// Decodes wire JSON, turning decoding failures into one operator-readable sentence.
    static func wire<T: Decodable>(_ type: T.Type, from data: Data, what: String) throws(MingaError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw MingaError("\(what) is malformed: \(error.explanation)")
        } catch {
            throw MingaError("\(what) is malformed: \(error)")
        }
    }
}
