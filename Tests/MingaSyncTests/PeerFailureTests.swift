import Foundation
import Logging
import MingaCore
import MingaStore
import MingaTestSupport
import NIOCore
import Testing

@testable import MingaSync

/// A peer this node cannot talk to is said in words an operator can act on, whichever way the
/// connection fails: nobody listening, a peer that never answers, or HTTP and HTTPS crossed.
@Suite struct PeerFailureTests {
    /// The message of the error that asking `url` for `/v1/node` ends in.
    static func failure(_ url: String, caFile: String? = nil, timeout: TimeAmount = .seconds(60)) async throws -> MingaError? {
        let client = PeerClient(url: url, token: nil, tls: try TLSFiles.client(caFile: caFile), timeout: timeout)
        var traffic = PeerClient.Traffic()
        do {
            _ = try await client.node(&traffic)
            return nil
        } catch {
            return error as? MingaError
        }
    }

    @Test func nobodyListeningIsAConnectionRefused() async throws {
        let port = try Listener().port  // bound, then closed: nobody listens there
        // By address, and by a host name whose every address refuses (IPv4 and IPv6 alike).
        for url in ["http://127.0.0.1:\(port)", "http://localhost:\(port)"] {
            let error = try await Self.failure(url)
            #expect(
                error?.code == .failed && error?.message.contains("connection refused (is minga serve running there?)") == true,
                "\(url): \(String(describing: error))"
            )
        }
    }

    @Test func aPeerThatNeverAnswersTimesOut() async throws {
        let silent = try Listener(listening: true)  // accepts into its backlog, never answers
        let error = try await Self.failure("http://127.0.0.1:\(silent.port)", timeout: .milliseconds(500))
        #expect(error?.code == .failed && error?.message.contains("the peer did not answer in time") == true, "\(String(describing: error))")
    }

    @Test func httpAndHttpsCrossedSayWhichToUse() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let node = try Fixture.replica("co.apc")
        try await LiveServer.serve(node) { port in
            let error = try await Self.failure("https://127.0.0.1:\(port)", caFile: certificates.path("ca.pem"))
            #expect(error?.message.contains("does the peer serve plain http://") == true, "\(String(describing: error))")
        }
        let tls = try TLSFiles.server(certificateFile: certificates.path("server.pem"), keyFile: certificates.path("server.key"))
        let servingTLS: (inout ServerConfiguration) -> Void = { $0.tls = tls }
        try await LiveServer.serve(node, servingTLS) { port in
            let error = try await Self.failure("http://127.0.0.1:\(port)")
            #expect(error?.message.contains("use an https:// URL") == true, "\(String(describing: error))")
        }
    }
}

/// A TCP socket bound to a free port on 127.0.0.1; listening (accepting nothing) when asked,
/// closed when released.
final class Listener {
    let fd: Int32
    let port: Int

    init(listening: Bool = false) throws {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = RawConnection.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, length) == 0 && getsockname(socketFD, $0, &length) == 0 }
        }
        guard bound, !listening || Glibc.listen(socketFD, 16) == 0 else {
            close(socketFD)
            throw TestFailure("cannot bind a socket on 127.0.0.1")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        if !listening { close(socketFD) }
        fd = listening ? socketFD : -1
    }

    deinit { if fd >= 0 { close(fd) } }
}
