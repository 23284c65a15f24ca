import Foundation
import Hummingbird
import Logging
import MingaStore
import MingaTestSupport
import ServiceLifecycle
import Testing

@testable import MingaSync

/// The node's app served for real on 127.0.0.1 and a free port, for what the in-process
/// router cannot show: connections, timeouts, concurrency, TLS. Stopped when `body` returns.
enum LiveServer {
    static func serve<T>(
        _ replica: Replica,
        limits: ServerLimits = ServerLimits(),
        metrics: SyncMetrics = SyncMetrics(),
        _ configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: (Int) async throws -> T
    ) async throws -> T {
        guard #available(macOS 15, *) else { return try await run(replica, limits, metrics, configure, body) }
        return try await withTaskExecutorPreference(OwnThreadExecutor.shared) { try await run(replica, limits, metrics, configure, body) }
    }

    static func run<T>(
        _ replica: Replica,
        _ limits: ServerLimits,
        _ metrics: SyncMetrics,
        _ configure: (inout ServerConfiguration) -> Void,
        _ body: (Int) async throws -> T
    ) async throws -> T {
        let (ports, port) = AsyncStream.makeStream(of: Int.self)
        let app = try Fixture.app(replica, limits: limits, metrics: metrics, configure, onServerRunning: { port.yield($0) })
        let services = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "test")))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { port.finish() }
                try await services.run()
            }
            var iterator = ports.makeAsyncIterator()
            guard let bound = await iterator.next() else { throw TestFailure("the server did not start") }
            do {
                let value = try await body(bound)
                await services.triggerGracefulShutdown()
                try await group.waitForAll()
                return value
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
        }
    }

    /// The current value of a metric of `metrics` (0 when absent).
    static func metric(_ name: String, _ metrics: SyncMetrics) -> Double {
        let line = metrics.text().split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// Waits until `condition` holds; gives up (and fails the test) after 60 s, a safety net only.
    static func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        for _ in 0..<3000 where !condition() { try await Task.sleep(for: .milliseconds(20)) }
        guard condition() else { throw TestFailure("gave up waiting until \(what)") }
    }
}

/// Runs the jobs of the tasks that prefer it on a thread of its own. The end-to-end tests, in
/// the same process, block the threads of the shared pool while they wait for `minga`; a live
/// server's handlers would be starved meanwhile, and its deadlines would fire at random.
@available(macOS 15, *)
final class OwnThreadExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = OwnThreadExecutor()
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []  // guarded by `condition`

    private init() {
        Thread { OwnThreadExecutor.shared.loop() }.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// A bare TCP connection, for what no HTTP client sends: a body that stops halfway, or
/// silence. Reads block, so they run on a thread of their own; each gives up after 60 s, a
/// safety net so that a broken server fails the test rather than hanging it.
final class RawConnection: Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw TestFailure("cannot connect to 127.0.0.1:\(port)")
        }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// 127.0.0.1:`port` as the socket calls take it (port 0: any free one).
    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return address
    }

    /// Sends bytes; a connection the server already closed is not an error here.
    func write(_ bytes: some Collection<UInt8>) {
        let array = Array(bytes)
        var sent = 0
        while sent < array.count {
            let n = array[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    func write(_ text: String) { write(Array(text.utf8)) }

    /// The head of a POST whose body is `length` bytes long.
    func post(_ path: String, length: Int, close: Bool = true) {
        write(
            "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(length)\r\n"
                + (close ? "Connection: close\r\n" : "") + "\r\n"
        )
    }

    /// Everything until the server closes the connection; nil when it stayed open (safety net).
    func readToEnd() async -> Data? {
        await blocking {
            var data = Data()
            while true {
                switch self.receive() {
                case .bytes(let chunk): data.append(chunk)
                case .closed: return data
                case .stuck: return nil
                }
            }
        }
    }

    struct Response: Sendable {
        var status = 0
        var headers: [String: String] = [:]
        var body = Data()
        var envelope: ErrorEnvelope? { try? JSONDecoder().decode(ErrorEnvelope.self, from: body) }
    }

    /// One response: the head, then a Content-Length body. Status 0 when none came whole.
    func readResponse() async -> Response {
        await blocking {
            var data = Data()
            var response = Response()
            while true {
                if let end = data.range(of: Data("\r\n\r\n".utf8)) {
                    let head = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
                    for line in head.dropFirst() {
                        guard let colon = line.firstIndex(of: ":") else { continue }
                        response.headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    }
                    let length = Int(response.headers["content-length"] ?? "0") ?? 0
                    if data.count - end.upperBound >= length {
                        response.status = Int(head[0].split(separator: " ")[1]) ?? 0
                        response.body = data[end.upperBound..<(end.upperBound + length)]
                        return response
                    }
                }
                guard case .bytes(let chunk) = self.receive() else { return Response() }
                data.append(chunk)
            }
        }
    }

    enum Received {
        case bytes(Data)
        case closed, stuck
    }

    func receive() -> Received {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var n = recv(fd, &buffer, buffer.count, 0)
        while n < 0 && errno == EINTR { n = recv(fd, &buffer, buffer.count, 0) }
        if n > 0 { return .bytes(Data(buffer[..<n])) }
        return n == 0 || errno == ECONNRESET ? .closed : .stuck
    }

    func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: work()) }.start()
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Throwaway certificates made by Tests/certificates.sh (openssl): ca.pem, server.pem and
/// server.key for 127.0.0.1, other-ca.pem. Removed by `remove()`.
struct TestCertificates {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("minga-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../certificates.sh").standardized
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [script.path, dir.path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("Tests/certificates.sh failed; is openssl installed?") }
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func remove() { try? FileManager.default.removeItem(at: dir) }
}
