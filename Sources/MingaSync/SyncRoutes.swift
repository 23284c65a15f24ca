import Foundation
import HTTPTypes
import Hummingbird
import MingaCore
import MingaStore
import NIOCore

/// The handlers of the v1 endpoints.
struct SyncRoutes: Sendable {
    let replica: Replica
    let configuration: ServerConfiguration
    let limits: ServerLimits
    let metrics: SyncMetrics

    /// A JSON (or text) answer, gzip-compressed when the client accepts it and it is worth it.
    func respond(_ data: Data, to request: Request, contentType: String = "application/json") -> Response {
        var headers: HTTPFields = [.contentType: contentType]
        var buffer = ByteBuffer(bytes: data)
        if data.count > 512, Gzip.accepts(request.headers[.acceptEncoding]), let compressed = try? Gzip.compress(buffer) {
            buffer = compressed
            headers[.contentEncoding] = "gzip"
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: buffer))
    }

    func encode(_ value: some Encodable, to request: Request) throws -> Response {
        respond(try JSONEncoder.wire.encode(value), to: request)
    }

    /// The request body, inflated when it came gzip-compressed; bounded either way. A body
    /// over the limit is still read to its end, briefly, and dropped (``RequestDrain``), so
    /// that a client that sends it whole before reading gets its 413.
    func body(_ request: Request) async throws -> Data {
        var chunks = request.body.makeAsyncIterator()
        let identity = (request.headers[.contentEncoding]?.lowercased() ?? "identity") == "identity"
        if identity, let length = request.headers[.contentLength].flatMap(Int.init), length > limits.maxBodyBytes {
            // Said up front: a client waiting for 100-continue gets the answer without sending.
            throw await RequestDrain.refusing(
                ErrorEnvelope(.tooLarge, "the request body of \(length) bytes exceeds the limit of this node (\(limits.maxBodyBytes) bytes)"),
                request,
                &chunks
            )
        }
        var buffer = ByteBuffer()
        while let chunk = try await chunks.next() {
            guard buffer.readableBytes + chunk.readableBytes <= limits.maxBodyBytes else {
                // The body is coming whatever the client expected: drop the rest of it.
                throw await RequestDrain.refusing(
                    ErrorEnvelope(.tooLarge, "the request body exceeds the limit of this node (\(limits.maxBodyBytes) bytes)"),
                    nil,
                    &chunks
                )
            }
            buffer.writeImmutableBuffer(chunk)
        }
        guard let encoding = request.headers[.contentEncoding]?.lowercased(), encoding != "identity" else { return Data(buffer: buffer) }
        guard encoding == "gzip" else {
            throw ErrorEnvelope(.malformed, "unsupported Content-Encoding \(encoding); use gzip or none")
        }
        return Data(buffer: try Gzip.decompress(buffer, limit: limits.maxBodyBytes))
    }

    func node(_ request: Request) async throws -> Response {
        // The version as of this process's last transaction: peers compare the genesis,
        // which never changes; the version is for people.
        try encode(
            NodeInfo(
                nodeId: replica.nodeID,
                protocol: ChangeBatch.protocolVersion,
                schemaVersion: replica.schemaVersion,
                genesisVersion: replica.genesisVersion,
                vector: try await replica.vector(),
                acceptsEncodings: ["gzip"],
                maxBodyBytes: limits.maxBodyBytes,
                maxBatchChanges: limits.maxBatchChanges
            ),
            to: request
        )
    }

    /// Decodes a request body; a body that does not decode is the client's error (400).
    func decode<T: Decodable>(_ type: T.Type, _ request: Request, what: String) async throws -> T {
        let data = try await body(request)
        do { return try JSONDecoder.wire(type, from: data, what: what) } catch {
            throw ErrorEnvelope(.malformed, error.message)
        }
    }

    func pull(_ request: Request) async throws -> Response {
        let pull = try await decode(PullRequest.self, request, what: "the pull request")
        let limit = min(max(pull.limit ?? limits.maxBatchChanges, 1), limits.maxBatchChanges)
        let maxBytes = min(max(pull.maxBytes ?? configuration.maxBatchBytes, 1024), configuration.maxBatchBytes)
        let excluded = Set(pull.exclude ?? [])
        let (changes, own) = try await replica.pull(above: pull.vector, limit: limit, maxBytes: maxBytes, excluding: excluded)
        var reached = pull.vector.raised(by: changes)
        for origin in excluded { reached.raise(Dot(origin: origin, seq: own[origin])) }  // none of theirs is due
        metrics.changesServed.increment(by: Int64(changes.count))
        let answer = PullResponse(protocol: ChangeBatch.protocolVersion, changes: changes, vector: own, more: !own.isIncluded(in: reached))
        return respond(Data(answer.wireBytes), to: request)
    }

    func push(_ request: Request) async throws -> Response {
        let batch = try await decode(ChangeBatch.self, request, what: "the pushed batch")
        try refuseOversized(batch)
        // Not the batch's fault: this node's tables drifted, and it takes nothing until they are back.
        let drift = try replica.schemaDrift()
        guard drift.isEmpty else { throw ErrorEnvelope(.unavailable, Replica.driftMessage(drift)) }
        let source = "push from " + (request.headers[HTTPField.Name(PeerClient.nodeHeader)!].map { String($0.prefix(80)) } ?? "a client")
        let result: ApplyResult
        do {
            // What this node held before may apply now, and what this batch brings may depend on it.
            result = try await replica.apply(batch, source: source, retryingHeld: true)
        } catch let error as MingaError where error.code == .rejected {
            throw ErrorEnvelope(.rejected, "batch refused: \(error.message)")
        }
        metrics.changesApplied.increment(by: Int64(result.applied + result.retried))
        let answer = PushResponse(
            vector: result.vector,
            applied: result.applied,
            duplicates: result.duplicates,
            newConflicts: result.newConflicts,
            held: result.held.isEmpty ? nil : result.held.map(PushResponse.HeldBack.init)
        )
        return try encode(answer, to: request)
    }

    /// Refuses a pushed batch with more changes than this node takes at once. (Values larger
    /// than the protocol allows are refused by the batch's check, as in a bundle: §13.)
    func refuseOversized(_ batch: ChangeBatch) throws {
        guard batch.changes.count <= limits.maxBatchChanges else {
            throw ErrorEnvelope(
                .tooLarge,
                "the batch carries \(batch.changes.count) changes; this node accepts at most \(limits.maxBatchChanges) in one batch; send smaller batches"
            )
        }
    }

    func conflicts(_ request: Request) async throws -> Response {
        let status = request.uri.queryParameters["status"].map(String.init) ?? "open"
        guard ["open", "resolved", "all"].contains(status) else {
            throw ErrorEnvelope(.malformed, "status must be open, resolved or all")
        }
        let list = try replica.conflicts(includeResolved: status != "open").filter { status != "resolved" || $0.conflict.status == .resolved }
        return respond(Data(("[" + list.map(\.json).joined(separator: ",") + "]").utf8), to: request)
    }

    func metrics(_ request: Request) async throws -> Response {
        metrics.openConflicts.set(Int64(try replica.status().openConflicts))
        metrics.held(try replica.heldOrigins())
        return respond(Data(metrics.text().utf8), to: request, contentType: "text/plain; version=0.0.4")
    }
}
