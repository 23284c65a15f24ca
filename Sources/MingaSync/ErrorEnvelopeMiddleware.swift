import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import MingaCore
import MingaStore
import NIOCore
import NIOHTTP1

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
