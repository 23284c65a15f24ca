import Hummingbird
import MingaCore

/// The two bounds every v1 request runs within: the session limit (pull and push) and the
/// request timeout (all of them), refusing with the error envelope rather than queueing.
extension SyncRoutes {
    /// Runs a pull or push as one of at most `maxSessions`, refusing (429) rather than
    /// queueing beyond: a queued request would hold its connection and memory while it waits.
    func session(_ handler: @escaping @Sendable () async throws -> Response) async throws -> Response {
        guard sessions.enter() else {
            throw ErrorEnvelope(
                .busy,
                "this node is serving \(limits.maxSessions) sync requests already; retry in \(ServerLimits.retryAfterSeconds) s"
            )
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
            group.addTask {
                try await Task.sleep(for: limits.requestTimeout)
                return nil
            }
            if let response = try await group.next()! {
                group.cancelAll()
                return response
            }
            group.cancelAll()
            if let late = try? await group.next(), let response = late { return response }
            throw ErrorEnvelope(
                .timeout,
                "the request took longer than \(limits.requestTimeout) to arrive and be answered; nothing of it was applied"
            )
        }
    }
}
