import Hummingbird
import MingaCore

/// Answers a request within `timeout`, or refuses it with 408 `timeout` (protocol/README.md
/// §16). When the deadline passes the handler is cancelled and awaited: if it finished anyway
/// (a batch committed) its answer stands, otherwise nothing of the request was applied.
struct RequestTimeoutMiddleware<Context: RequestContext>: RouterMiddleware {
    let timeout: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The handler runs in a child task so that the deadline can cancel it. `next` does not
        // escape: the task group awaits that child before it returns, whatever happens.
        try await withoutActuallyEscaping(next) { next in
            let handler = Unchecked((next, context))
            return try await withThrowingTaskGroup(of: Response?.self) { group in
                group.addTask { try await handler.value.0(request, handler.value.1) }
                group.addTask {
                    try await Task.sleep(for: timeout)
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
                    "the request took longer than \(timeout) to arrive and be answered; nothing of it was applied"
                )
            }
        }
    }
}

/// The handler and its context, handed to the one child task that uses them while the
/// parent only waits: they are never used from two tasks at once.
private struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
