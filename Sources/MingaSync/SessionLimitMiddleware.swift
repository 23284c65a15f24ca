import Hummingbird
import MingaCore
import NIOConcurrencyHelpers
import Prometheus

/// Serves at most `limit` sync requests (pull and push) at once and refuses the next with
/// 429 `busy` and `Retry-After` rather than queueing it: a queued request would hold its
/// connection and memory while it waits (protocol/README.md §16).
struct SessionLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let limit: Int
    /// The sync requests in progress, shared by every copy of the middleware.
    private let active = NIOLockedValueBox(0)
    /// `minga_sync_sessions`, set to the requests in progress.
    let gauge: Gauge

    init(limit: Int, gauge: Gauge) {
        self.limit = limit
        self.gauge = gauge
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard enter() else {
            throw ErrorEnvelope(
                .busy,
                "this node is serving \(limit) sync requests already; retry in \(ServerLimits.retryAfterSeconds) s"
            )
        }
        defer { leave() }
        return try await next(request, context)
    }

    /// Takes a place if one is free.
    private func enter() -> Bool {
        active.withLockedValue { active in
            guard active < limit else { return false }
            active += 1
            gauge.set(Int64(active))
            return true
        }
    }

    private func leave() {
        active.withLockedValue { active in
            active -= 1
            gauge.set(Int64(active))
        }
    }
}
