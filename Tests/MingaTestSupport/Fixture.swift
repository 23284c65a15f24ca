import Foundation
import Hummingbird
import Logging
import MingaCore
import MingaStore
import MingaSync

/// What the test targets build their cases from. Declared once here with what they share;
/// each test target adds its own specifics in an `extension Fixture` of its own.
public enum Fixture {
    /// One small tracked table, initiatives: the schema the sync and console tests serve.
    public static let initiativesSchema = "CREATE TABLE initiatives(id TEXT PRIMARY KEY, title TEXT, budget INTEGER);"

    /// A replica in the test federation on `schema`: its key is derived from its id, and its
    /// roster lists `roster` (every id of ``TestKeys/members`` by default).
    public static func replica(_ id: String, schema: String, roster: [String] = TestKeys.members) throws -> Replica {
        try TestKeys.replica(id, schema: schema, roster: roster)
    }

    /// Everything `to` lacks from `from`, in batches of `limit`.
    @discardableResult
    public static func sync(from: Replica, to: Replica, limit: Int = 1000) throws -> Int {
        var applied = 0
        while true {
            let changes = try from.changes(above: try to.vector(), limit: limit)
            if changes.isEmpty { return applied }
            let result = try to.apply(ChangeBatch(changes: changes))
            // A batch that applies nothing (held) would be sent again for ever.
            guard result.applied > 0 else { return applied }
            applied += result.applied
        }
    }

    /// The node's HTTP app for `replica` on port 0 (the server's configuration as
    /// `configure` leaves it), with `moreRoutes` added to its router.
    public static func app(
        _ replica: Replica,
        limits: ServerLimits = ServerLimits(),
        metrics: SyncMetrics = SyncMetrics(),
        _ configure: (inout ServerConfiguration) -> Void = { _ in },
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
        moreRoutes: (Router<MingaRequestContext>) -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configure(&configuration)
        return try buildApplication(
            replica: replica,
            configuration: configuration,
            limits: limits,
            metrics: metrics,
            logger: Logger(label: "test"),
            onServerRunning: onServerRunning,
            moreRoutes: moreRoutes
        )
    }
}
