import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import MingaCore
import MingaStore
import NIOCore
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
    replica: Replica,
    configuration: ServerConfiguration,
    limits: ServerLimits = ServerLimits(),
    metrics: SyncMetrics,
    logger: Logger,
    services: [any Service] = [],
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
    moreRoutes: (Router<MingaRequestContext>) -> Void = { _ in }
) throws -> some ApplicationProtocol {
    let router = Router(context: MingaRequestContext.self)
    router.add(middleware: ErrorEnvelopeMiddleware(logger: logger))
    let routes = SyncRoutes(replica: replica, configuration: configuration, limits: limits, metrics: metrics)
    router.get("/health") { request, _ in try routes.encode(Health(nodeId: replica.nodeID.rawValue), to: request) }
    router.get("/metrics") { request, _ in try await routes.metrics(request) }
    let v1 = router.group("v1").add(middleware: BearerTokenMiddleware(tokens: configuration.tokens))
    let timeout = RequestTimeoutMiddleware<MingaRequestContext>(timeout: limits.requestTimeout)
    v1.group().add(middleware: timeout)
        .get("node") { request, _ in try await routes.node(request) }
        .get("schema") { request, _ in try routes.encode(try await replica.schemaDescription(), to: request) }
        .get("conflicts") { request, _ in try await routes.conflicts(request) }
    v1.group()
        .add(middleware: SessionLimitMiddleware(limit: limits.maxSessions, gauge: metrics.sessions))
        .add(middleware: timeout)
        .post("pull") { request, _ in try await routes.pull(request) }
        .post("push") { request, _ in try await routes.push(request) }
    moreRoutes(router)
    let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: TimeAmount(limits.idleTimeout)))
    return Application(
        router: router,
        server: try configuration.tls.map { try .tls(http1, tlsConfiguration: $0) } ?? http1,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "minga/\(replica.nodeID)"),
        services: services,
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: logger
    )
}
