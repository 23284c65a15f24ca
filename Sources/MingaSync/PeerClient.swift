import AsyncHTTPClient
import Foundation
import MingaCore
import MingaStore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Talks wire protocol v1 to one peer. Sends the peer's bearer token when one is configured
/// (never logs it), gzips request bodies when the peer accepts it, and counts bytes as they
/// travel on the wire. An `https://` peer's certificate is always verified, against `tls`'s
/// trust roots when given (see ``TLSFiles/client(caFile:)``), else the system's.
public final class PeerClient: Sendable {
    public let url: String
    let token: String?
    let tls: TLSConfiguration?
    let http: HTTPClient
    let maxResponseBytes: Int
    let timeout: TimeAmount

    /// The process's client for peers: it leaves gzip to us (so that bytes on the wire can be
    /// counted and inflation bounded) and gives up connecting after 10 seconds. A refused
    /// connection or an untrusted certificate fails at once: the daemon has its own backoff.
    public static let sharedHTTP: HTTPClient = {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(120)),
            decompression: .disabled
        )
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public init(
        url: String,
        token: String?,
        tls: TLSConfiguration? = nil,
        http: HTTPClient = PeerClient.sharedHTTP,
        maxResponseBytes: Int = 64 << 20,
        timeout: TimeAmount = .seconds(60)
    ) {
        self.url = PeerClient.normalize(url)
        self.token = token
        self.tls = tls
        self.http = http
        self.maxResponseBytes = maxResponseBytes
        self.timeout = timeout
    }

    /// A peer's base URL as this node names it: without a trailing slash, so that
    /// `http://host:8701/` and `http://host:8701` are one peer (tokens, peer records, the console).
    public static func normalize(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

    /// Bytes sent and received by one call, as on the wire.
    public struct Traffic: Sendable {
        public var sent = 0
        public var received = 0

        public init() {}
    }

    /// The first call of a sync: short deadline, because an unreachable peer is retried by the
    /// HTTP client until the deadline and the operator should hear about it promptly.
    public func node(_ traffic: inout Traffic) async throws -> NodeInfo {
        try await call("GET", "/v1/node", body: nil, gzip: false, traffic: &traffic, as: NodeInfo.self, timeout: .seconds(10))
    }

    /// `GET /v1/schema`: what a new node needs to join on the peer's latest schema.
    public func schema(_ traffic: inout Traffic) async throws -> SchemaDescription {
        try await call("GET", "/v1/schema", body: nil, gzip: false, traffic: &traffic, as: SchemaDescription.self, timeout: .seconds(30))
    }

    public func pull(_ request: PullRequest, gzip: Bool, traffic: inout Traffic) async throws -> PullResponse {
        try await call("POST", "/v1/pull", body: try JSONEncoder.wire.encode(request), gzip: gzip, traffic: &traffic, as: PullResponse.self)
    }

    /// The header a pushing node names itself in, so that the server can say where the
    /// changes it holds came from (protocol §16).
    public static let nodeHeader = "Minga-Node"

    public func push(_ batch: ChangeBatch, from node: NodeID? = nil, gzip: Bool, traffic: inout Traffic) async throws -> PushResponse {
        try await call(
            "POST",
            "/v1/push",
            body: try JSONEncoder.wire.encode(batch),
            gzip: gzip,
            traffic: &traffic,
            as: PushResponse.self,
            headers: node.map { [(PeerClient.nodeHeader, $0.rawValue)] } ?? []
        )
    }

    func call<T: Decodable>(
        _ method: String,
        _ path: String,
        body: Data?,
        gzip: Bool,
        traffic: inout Traffic,
        as type: T.Type,
        timeout: TimeAmount? = nil,
        headers: [(String, String)] = []
    ) async throws -> T {
        let request = try makeRequest(method, path, body: body, gzip: gzip, traffic: &traffic, headers: headers)
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout ?? self.timeout)
        } catch {
            throw MingaError(.failed, "cannot reach peer \(url): \(PeerClient.describe(error))")
        }
        var buffer: ByteBuffer
        do {
            buffer = try await response.body.collect(upTo: maxResponseBytes)
        } catch {
            throw MingaError(.failed, "peer \(url) answered, but its answer could not be read whole: \(PeerClient.describe(error))")
        }
        traffic.received += buffer.readableBytes
        if response.headers.first(name: "Content-Encoding")?.lowercased() == "gzip" {
            buffer = try Gzip.decompress(buffer, limit: maxResponseBytes)
        }
        let data = Data(buffer: buffer)
        guard (200..<300).contains(Int(response.status.code)) else { throw refusal(response, data, method, path) }
        return try JSONDecoder.wire(type, from: data, what: "the answer of peer \(url) to \(path)")
    }

    /// The request with this client's headers (`Accept`, gzip, the bearer token) and its
    /// body, gzipped when asked and over 512 bytes; the body's bytes are counted as sent.
    private func makeRequest(
        _ method: String,
        _ path: String,
        body: Data?,
        gzip: Bool,
        traffic: inout Traffic,
        headers: [(String, String)]
    ) throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url + path)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.tlsConfiguration = tls
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "Accept-Encoding", value: "gzip")
        request.headers.add(name: "User-Agent", value: "minga")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            var buffer = ByteBuffer(bytes: body)
            if gzip, body.count > 512 {
                buffer = try Gzip.compress(buffer)
                request.headers.add(name: "Content-Encoding", value: "gzip")
            }
            request.headers.add(name: "Content-Type", value: "application/json")
            traffic.sent += buffer.readableBytes
            request.body = .bytes(buffer)
        }
        return request
    }

    /// Why a peer answered other than 2xx: ``PeerBusy`` for 429 and 503 (come back later), else
    /// the envelope's code and message when it sent one.
    private func refusal(_ response: HTTPClientResponse, _ data: Data, _ method: String, _ path: String) -> any Error {
        let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: data)
        if [.tooManyRequests, .serviceUnavailable].contains(response.status) {
            let seconds = response.headers.first(name: "Retry-After").flatMap { Int($0) }
            let reason = envelope.map { "\($0.error.code): \($0.error.message)" } ?? "HTTP \(response.status.code)"
            return PeerBusy(
                code: response.status == .tooManyRequests ? .busy : .unavailable,
                message: "peer \(url) cannot serve \(method) \(path) now (\(reason))",
                retryAfter: seconds.map { .seconds($0) }
            )
        }
        // The whole URL: a peer given as `http://host:8701/v1` is asked for `/v1/v1/node`.
        let asked = "\(method) \(url)\(path)"
        let hint =
            switch response.status {
            case .notFound where URL(string: url).map({ !$0.path.isEmpty && $0.path != "/" }) ?? false:
                "; give the peer's base URL: scheme, host and port, with no path"
            case .unauthorized where token == nil: "; no token was sent to it: give the peer's with --peer-tokens FILE (`URL TOKEN` lines)"
            case .unauthorized: "; the token sent to it is not one the peer accepts"
            default: ""
            }
        guard let envelope else { return MingaError(.failed, "peer \(url) answered \(asked) with HTTP \(response.status.code)\(hint)") }
        return MingaError(
            envelope.code ?? .failed,
            "peer \(url) refused \(asked) (\(response.status.code) \(envelope.error.code)): \(envelope.error.message)\(hint)"
        )
    }

    /// Why a peer could not be reached or read, in words an operator can act on.
    static func describe(_ error: any Error) -> String {
        if let error = error as? MingaError { return error.message }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "connection timed out"
            case .deadlineExceeded, .readTimeout: return "the peer did not answer in time"
            case .remoteConnectionClosed: return "the peer closed the connection without answering (if it serves HTTPS, use an https:// URL)"
            default: break
            }
        }
        if isRefused(error) { return "connection refused (is minga serve running there?)" }
        if (error as? NIOSSLExtraError) == .failedToValidateHostname {
            return "its TLS certificate is not valid for this address (\(error))"
        }
        if let error = error as? BoringSSLError { return describeHandshake(error) }
        switch error as? NIOSSLError {
        case .unableToValidateCertificate: return "its TLS certificate is not valid for this address (\(error))"
        case .handshakeFailed(let reason): return describeHandshake(reason)
        case .some(let error): return "TLS failed: \(error)"
        case nil: return String(describing: error)
        }
    }

    /// Whether nobody listens at the peer's address: an IP address's one refused connection,
    /// or every address a host name resolved to refusing (NIO's Happy Eyeballs connector).
    static func isRefused(_ error: any Error) -> Bool {
        if let error = error as? IOError { return error.errnoCode == ECONNREFUSED }
        guard let error = error as? NIOConnectionError, error.dnsAError == nil || error.dnsAAAAError == nil else { return false }
        return !error.connectionErrors.isEmpty && error.connectionErrors.allSatisfy { isRefused($0.error) }
    }

    /// A failed TLS handshake. BoringSSL's reason names (`CERTIFICATE_VERIFY_FAILED`) are the
    /// only part of its error that NIOSSL makes public.
    static func describeHandshake(_ reason: BoringSSLError) -> String {
        let text = String(describing: reason)
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return
                "its TLS certificate is not trusted here (certificate verify failed); if a private CA signed it, or it is self-signed, pass that certificate with --ca-file"
        }
        if text.contains("WRONG_VERSION_NUMBER") { return "TLS handshake failed; does the peer serve plain http:// at this address?" }
        return "TLS handshake failed: \(text)"
    }
}

/// A peer that answered 429 (serving as many syncs as it will) or 503 (cannot serve now): no
/// fault of this node's or the data's, a reason to come back later.
public struct PeerBusy: Error, Sendable, CustomStringConvertible {
    /// ``MingaError/Code/busy`` (429) or ``MingaError/Code/unavailable`` (503).
    public let code: MingaError.Code
    public let message: String
    /// The wait the peer asked for (`Retry-After`, in seconds), if any.
    public let retryAfter: Duration?

    public var description: String { message }
}
