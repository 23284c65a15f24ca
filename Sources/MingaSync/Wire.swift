import Foundation
import MingaCore
import MingaStore

/// `GET /v1/node`: who a node is, and what it holds.
public struct NodeInfo: Codable, Sendable {
    public var nodeId: NodeID
    public var `protocol`: Int
    /// The node's schema version: the schema it was created from with the migrations it
    /// holds (protocol §20).
    public var schemaVersion: String
    /// The version of the schema it was created from, which nodes that sync share. Absent
    /// from nodes that predate migrations, whose `schemaVersion` is that.
    public var genesisVersion: String?
    public var vector: VersionVector
    /// Request encodings the node accepts, e.g. `["gzip"]`.
    public var acceptsEncodings: [String]
    /// The largest request body the node accepts, after decompression, in bytes; a client
    /// never sends a larger one. Absent from nodes that predate it.
    public var maxBodyBytes: Int?
    /// The most changes the node accepts in one pushed batch. Absent from nodes that predate it.
    public var maxBatchChanges: Int?
}

/// `POST /v1/pull` body: the caller's vector, how much it wants at once, and the origins it
/// holds back (protocol §13), whose changes the server leaves out.
public struct PullRequest: Codable, Sendable {
    public var vector: VersionVector
    public var limit: Int?
    public var maxBytes: Int?
    public var exclude: [NodeID]?

    public init(vector: VersionVector, limit: Int? = nil, maxBytes: Int? = nil, exclude: [NodeID]? = nil) {
        self.vector = vector
        self.limit = limit
        self.maxBytes = maxBytes
        self.exclude = exclude
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

extension PullResponse {
    /// The answer's wire JSON, keys sorted, built by hand like ``ChangeBatch/wireJSON``: a
    /// pull's answer is mostly changes, and writing them directly keeps serving a pull near the
    /// cost of reading the log (`scripts/bench` W2 guards it).
    public var wireBytes: [UInt8] {
        var body = JSONWriter(capacity: changes.count * 512 + 256)
        body.raw("{\"changes\":[")
        body.changes(changes)
        body.raw("],\"more\":")
        body.raw(more ? "true" : "false")
        body.raw(",\"protocol\":")
        body.raw(String(`protocol`))
        body.raw(",\"vector\":")
        body.vector(vector)
        body.raw("}")
        return body.bytes
    }
}

extension PullResponse: WireReadable {
    /// Reads a pull answer with ``WireReader`` (the receiving side's hot path).
    public init?(wire data: Data) {
        guard
            let answer = WireReader.read(
                data,
                { reader -> PullResponse? in
                    var version: Int?
                    var changes: [Change]?
                    var vector: VersionVector?
                    var more: Bool?
                    guard
                        reader.object({ member, r in
                            switch member {
                            case "changes": WireReader.once(&changes) { r.changes() }
                            case "more": WireReader.once(&more) { r.bool() }
                            case "protocol": WireReader.once(&version) { r.integer().flatMap { Int(exactly: $0) } }
                            case "vector": WireReader.once(&vector) { r.vector() }
                            default: false
                            }
                        }), let version, let changes, let vector, let more
                    else { return nil }
                    return PullResponse(protocol: version, changes: changes, vector: vector, more: more)
                }
            )
        else { return nil }
        self = answer
    }
}

/// `POST /v1/push` answer. `held` names each origin the server held changes of (protocol
/// §13): the pusher leaves that origin out of the rest of the sync.
public struct PushResponse: Codable, Sendable {
    public var vector: VersionVector
    public var applied: Int
    public var duplicates: Int
    public var newConflicts: Int
    public var held: [HeldBack]?

    /// One held origin as the wire says it: its first held change, how many of the batch's
    /// changes were held, and why (a ``MingaError/Code`` raw value and a sentence).
    public struct HeldBack: Codable, Sendable, Equatable {
        public var origin: NodeID
        public var seq: Int64
        public var count: Int
        public var code: String
        public var reason: String

        public init(_ held: HeldOrigin) {
            (origin, seq, count, code, reason) = (held.origin, held.firstSeq, held.count, held.code.rawValue, held.reason)
        }
    }
}

/// The error envelope every 4xx/5xx answer carries: `{"error":{"code":…,"message":…}}`.
public struct ErrorEnvelope: Codable, Sendable, Error {
    public struct Body: Codable, Sendable {
        public var code: String
        public var message: String
    }
    public var error: Body
    /// The server closes the connection after this answer: what is left of the request is
    /// not worth reading (not part of the JSON).
    public var closesConnection = false

    enum CodingKeys: String, CodingKey { case error }

    public init(_ code: MingaError.Code, _ message: String) { error = Body(code: code.rawValue, message: message) }

    /// The code, when it is one this node knows.
    public var code: MingaError.Code? { MingaError.Code(rawValue: error.code) }
}

extension JSONDecoder {
    /// Decodes wire JSON, turning decoding failures into one operator-readable sentence.
    static func wire<T: Decodable>(_ type: T.Type, from data: Data, what: String) throws(MingaError) -> T {
        do {
            if let fast = type as? any WireReadable.Type, let value = fast.init(wire: data) as? T { return value }
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw MingaError(.malformed, "\(what) is malformed: \(error.explanation)")
        } catch {
            throw MingaError(.malformed, "\(what) is malformed: \(error)")
        }
    }
}
