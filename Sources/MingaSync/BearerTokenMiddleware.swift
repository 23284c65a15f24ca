import Hummingbird
import MingaCore

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
