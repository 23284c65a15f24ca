import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import MingaCore
import MingaStore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Prometheus
import ServiceLifecycle

/// How a node serves its peers.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8701
    /// Bearer tokens accepted on the sync and conflict endpoints; empty means no authentication.
    public var tokens: Set<String> = []
    /// Roughly the most bytes of changes one pull answer carries.
    public var maxBatchBytes = 4 << 20
    /// Serve HTTPS with this certificate and key (see ``TLSFiles/server(certificateFile:keyFile:)``); plain HTTP when nil.
    public var tls: TLSConfiguration?

    public init() {}
}

/// What one request may bring, and how many sync requests are served at once. A node on the
/// open network meets slow, huge or too many requests; each is refused with a 4xx and the
/// error envelope before anything of it is applied.
public struct ServerLimits: Sendable {
    /// Largest request body accepted, after decompression (413 `too_large`).
    public var maxBodyBytes = 16 << 20
    /// Most changes in one pushed batch (413 `too_large`); a pull's `limit` is clamped to it.
    public var maxBatchChanges = 5000
    /// Longest a request may take to arrive and be answered (408 `timeout`).
    public var requestTimeout: Duration = .seconds(60)
    /// Longest a connection may sit idle between requests, or stall inside one, before it is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// Most `/v1/pull` and `/v1/push` requests served at once; more are answered 429 `busy`.
    public var maxSessions = 8

    /// What a busy node asks clients to wait, in seconds (`Retry-After`).
    public static let retryAfterSeconds = 1

    public init() {}
}

/// Builds the node's HTTP application (wire protocol v1, protocol/openapi.yaml). Tests build
/// the very same app with port 0.
public func buildApplication(
    replica: Replica, configuration: ServerConfiguration, limits: ServerLimits = ServerLimits(), metrics: SyncMetrics, logger: Logger,
    services: [any Service] = [], onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
    moreRoutes: (Router<MingaRequestContext>) -> Void = { _ in }
) throws -> some ApplicationProtocol {
    let router = Router(context: MingaRequestContext.self)
    router.add(middleware: ErrorEnvelopeMiddleware(logger: logger))
    let routes = SyncRoutes(
        replica: replica, configuration: configuration, limits: limits, metrics: metrics,
        sessions: SessionLimiter(limit: limits.maxSessions, gauge: metrics.sessions))
    router.get("/health") { request, _ in
        routes.respond(Data(#"{"status":"ok","nodeId":\#(JSONText.quote(replica.nodeID.rawValue))}"#.utf8), to: request)
    }
    router.get("/metrics") { request, _ in try await routes.metrics(request) }
    let v1 = router.group("v1").add(middleware: BearerTokenMiddleware(tokens: configuration.tokens))
    v1.get("node") { request, _ in try await routes.bounded { try await routes.node(request) } }
    v1.post("pull") { request, _ in try await routes.session { try await routes.pull(request) } }
    v1.post("push") { request, _ in try await routes.session { try await routes.push(request) } }
    v1.get("schema") { request, _ in try await routes.bounded { try routes.encode(try await replica.schemaDescription(), to: request) } }
    v1.get("conflicts") { request, _ in try await routes.bounded { try await routes.conflicts(request) } }
    moreRoutes(router)
    let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: TimeAmount(limits.idleTimeout)))
    return Application(
        router: router,
        server: try configuration.tls.map { try .tls(http1, tlsConfiguration: $0) } ?? http1,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "minga/\(replica.nodeID)"),
        services: services,
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: logger)
}

/// The handlers of the v1 endpoints.
struct SyncRoutes: Sendable {
    let replica: Replica
    let configuration: ServerConfiguration
    let limits: ServerLimits
    let metrics: SyncMetrics
    let sessions: SessionLimiter

    /// Runs a pull or push as one of at most `maxSessions`, refusing (429) rather than
    /// queueing beyond: a queued request would hold its connection and memory while it waits.
    func session(_ handler: @escaping @Sendable () async throws -> Response) async throws -> Response {
        guard sessions.enter() else {
            throw ErrorEnvelope(.busy, "this node is serving \(limits.maxSessions) sync requests already; retry in \(ServerLimits.retryAfterSeconds) s")
        }
        defer { sessions.leave() }
        return try await bounded(handler)
    }

    /// Runs a handler within the request timeout. When the deadline passes the handler is
    /// cancelled and awaited: if it finished anyway (a batch committed) its answer stands,
    /// otherwise nothing of the request was applied and the answer is 408.
    func bounded(_ handler: @escaping @Sendable () async throws -> Response) async throws -> Response {
        try await withThrowingTaskGroup(of: Response?.self) { group in
            group.addTask { try await handler() }
            group.addTask { try await Task.sleep(for: limits.requestTimeout); return nil }
            if let response = try await group.next()! {
                group.cancelAll()
                return response
            }
            group.cancelAll()
            if let late = try? await group.next(), let response = late { return response }
            throw ErrorEnvelope(.timeout, "the request took longer than \(limits.requestTimeout) to arrive and be answered; nothing of it was applied")
        }
    }

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
                request, &chunks)
        }
        var buffer = ByteBuffer()
        while let chunk = try await chunks.next() {
            guard buffer.readableBytes + chunk.readableBytes <= limits.maxBodyBytes else {
                // The body is coming whatever the client expected: drop the rest of it.
                throw await RequestDrain.refusing(
                    ErrorEnvelope(.tooLarge, "the request body exceeds the limit of this node (\(limits.maxBodyBytes) bytes)"),
                    nil, &chunks)
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
        try encode(NodeInfo(
            nodeId: replica.nodeID, protocol: ChangeBatch.protocolVersion, schemaVersion: replica.schemaVersion,
            genesisVersion: replica.genesisVersion, vector: try await replica.vector(), acceptsEncodings: ["gzip"],
            maxBodyBytes: limits.maxBodyBytes, maxBatchChanges: limits.maxBatchChanges), to: request)
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
        let (changes, held) = try await replica.pull(above: pull.vector, limit: limit, maxBytes: maxBytes, excluding: excluded)
        var reached = pull.vector
        for change in changes { reached[change.origin] = max(reached[change.origin], change.seq) }
        for origin in excluded { reached[origin] = max(reached[origin], held[origin]) }  // none of theirs is due
        metrics.changesServed.increment(by: Int64(changes.count))
        // Built by hand: Codable encoding of the changes was most of the cost of a pull.
        var body = JSONWriter(capacity: changes.count * 512 + 256)
        body.raw("{\"changes\":[")
        body.changes(changes)
        body.raw("],\"more\":")
        body.raw(held.isIncluded(in: reached) ? "false" : "true")
        body.raw(",\"protocol\":")
        body.raw(String(ChangeBatch.protocolVersion))
        body.raw(",\"vector\":")
        body.vector(held)
        body.raw("}")
        return respond(Data(body.bytes), to: request)
    }

    func push(_ request: Request) async throws -> Response {
        let batch = try await decode(ChangeBatch.self, request, what: "the pushed batch")
        try check(batch)
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
            vector: result.vector, applied: result.applied, duplicates: result.duplicates, newConflicts: result.newConflicts,
            held: result.held.isEmpty ? nil : result.held.map(PushResponse.HeldBack.init))
        return try encode(answer, to: request)
    }

    /// Refuses a pushed batch with more changes than this node takes at once. (Values larger
    /// than the protocol allows are refused by the batch's check, as in a bundle: §13.)
    func check(_ batch: ChangeBatch) throws {
        guard batch.changes.count <= limits.maxBatchChanges else {
            throw ErrorEnvelope(.tooLarge, "the batch carries \(batch.changes.count) changes; this node accepts at most \(limits.maxBatchChanges) in one batch; send smaller batches")
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

extension ErrorEnvelope: HTTPResponseError {
    public var status: HTTPResponse.Status { HTTPResponse.Status(code: code?.httpStatus ?? 400) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = (try? JSONEncoder.wire.encode(self)) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"minga\"" }
        if status == .tooManyRequests { headers[.retryAfter] = String(ServerLimits.retryAfterSeconds) }
        // What is left of a request that timed out is not worth reading.
        if status == .requestTimeout || closesConnection { headers[.connection] = "close" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Every error leaves as `{"error":{"code":…,"message":…}}`, whatever raised it.
struct ErrorEnvelopeMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await answer(request, context: context, next: next)
        } catch let refusal as ErrorEnvelope where refusal.code.map(RequestDrain.refusedUnread.contains) ?? false {
            // Refused before its body was read (no token, busy, no such path).
            var chunks = request.body.makeAsyncIterator()
            throw await RequestDrain.refusing(refusal, request, &chunks)
        }
    }

    func answer(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ErrorEnvelope {
            logger.notice("\(request.method) \(request.uri.path): \(error.status.code) \(error.error.message)")
            throw error
        } catch let error as MingaError {
            // Client mistakes are already envelopes; a MingaError here is this node's own trouble.
            logger.error("\(request.method) \(request.uri.path) failed: \(error.message)")
            throw ErrorEnvelope(.unavailable, "the node could not complete the request: \(error.message)")
        } catch is NIOTooManyBytesError {
            throw ErrorEnvelope(.tooLarge, "the request body exceeds the limit of this node")
        } catch let error as HTTPParserError {
            // The client garbled its request or broke off while sending it: its doing, not the node's.
            logger.notice("\(request.method) \(request.uri.path): the request could not be read: \(error)")
            throw ErrorEnvelope(.malformed, "the request could not be read: \(error)")
        } catch let error as HTTPError {
            let code: MingaError.Code = error.status == .notFound ? .notFound : (error.status == .contentTooLarge ? .tooLarge : .malformed)
            throw ErrorEnvelope(code, error.body ?? error.status.reasonPhrase)
        } catch let error as any HTTPResponseError {
            throw ErrorEnvelope(error.status == .notFound ? .notFound : .malformed, error.status.reasonPhrase)
        } catch {
            logger.error("\(request.method) \(request.uri.path) failed: \(StoreFailure.explain(error) ?? "\(error)")")
            // A full disk or a busy replica is said as such (nothing was applied); anything else stays vague.
            throw ErrorEnvelope(.unavailable, StoreFailure.explain(error) ?? "the node could not complete the request; try again")
        }
    }
}

/// Reading what is left of a refused request, as nginx's lingering close does: a client that
/// does not send `Expect: 100-continue` (Python's urllib, many others) writes its whole body
/// before it reads the answer, so a server that stops reading leaves it blocked until the
/// idle timeout, and it never sees the refusal (protocol/README.md §16).
enum RequestDrain {
    /// The refusals answered before the body is read.
    static let refusedUnread: Set<MingaError.Code> = [.unauthorized, .busy, .notFound]
    /// How long, and how much, to read before giving up and closing the connection instead.
    static let time: Duration = .milliseconds(1500)
    static let bytes = 1 << 30

    /// `refusal`, after reading and dropping the rest of the body within the bounds; marked to
    /// close the connection when the body did not end by then (or broke off). A client that
    /// sent `Expect: 100-continue` for `request` waits for the answer and sends nothing:
    /// nothing is read (`nil` for a body already on its way).
    static func refusing(_ refusal: ErrorEnvelope, _ request: Request?, _ chunks: inout RequestBody.AsyncIterator) async -> ErrorEnvelope {
        if request?.headers[.expect]?.lowercased() == "100-continue" { return refusal }
        var answer = refusal
        answer.closesConnection = true
        let deadline = ContinuousClock.now + time
        var read = 0
        do {
            while let chunk = try await chunks.next() {
                read += chunk.readableBytes
                if read > bytes || ContinuousClock.now > deadline { return answer }
            }
        } catch {
            return answer
        }
        answer.closesConnection = false
        return answer
    }
}

/// Requires `Authorization: Bearer TOKEN` with one of the accepted tokens. Tokens are never logged.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !tokens.isEmpty else { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            SecretComparison.matches(String(header.dropFirst(7)), any: tokens)
        else {
            throw ErrorEnvelope(.unauthorized, "this node requires a valid bearer token (Authorization: Bearer …)")
        }
        return try await next(request, context)
    }
}

/// Counts the sync requests in progress against the node's limit.
final class SessionLimiter: Sendable {
    let limit: Int
    let active = NIOLockedValueBox(0)
    let gauge: Gauge

    init(limit: Int, gauge: Gauge) {
        self.limit = limit
        self.gauge = gauge
    }

    /// Takes a place if one is free.
    func enter() -> Bool {
        active.withLockedValue { active in
            guard active < limit else { return false }
            active += 1
            gauge.set(Int64(active))
            return true
        }
    }

    func leave() {
        active.withLockedValue { active in
            active -= 1
            gauge.set(Int64(active))
        }
    }
}
