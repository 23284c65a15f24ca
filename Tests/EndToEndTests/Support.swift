import Foundation
import Testing

/// Runs the real `minga` binary (built by `swift test` next to the test bundle) and the
/// `sqlite3` shell as separate processes, in a fresh folder per test.
struct Sandbox {
    let dir: URL

    init(_ name: String) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("minga-e2e-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: path(name), atomically: true, encoding: .utf8)
    }

    static let binary: String = {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("minga").path
        if FileManager.default.isExecutableFile(atPath: besideTests) { return besideTests }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/debug/minga").standardized.path
    }()

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs `minga ARGS` against replica `db` (through $MINGA_DB, as an operator would set it).
    @discardableResult
    func minga(_ db: String?, _ args: [String], timeout: TimeInterval = 300) throws -> Result {
        var env = ProcessInfo.processInfo.environment
        if let db { env["MINGA_DB"] = path(db) }
        return try run(Sandbox.binary, args, env: env, timeout: timeout)
    }

    /// `minga ARGS` with its wall clock shifted by `offset` (Debian's faketime: "+1d", "+25h";
    /// the monotonic clock stays true, so timeouts behave).
    @discardableResult
    func minga(at offset: String, _ db: String?, _ args: [String], timeout: TimeInterval = 300) throws -> Result {
        var env = ProcessInfo.processInfo.environment
        if let db { env["MINGA_DB"] = path(db) }
        return try run("/usr/bin/faketime", Sandbox.shifted(offset) + [Sandbox.binary] + args, env: env, timeout: timeout)
    }

    /// faketime's arguments for `offset`. A faketime wrapper that was killed leaves its shared
    /// clock in /dev/shm, named after its pid, and a new wrapper given that pid fails ("sem_open:
    /// File exists"): those of pids no longer running are removed first.
    static func shifted(_ offset: String) -> [String] {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []
        where name.hasPrefix("faketime_shm_") || name.hasPrefix("sem.faketime_sem_") {
            guard let pid = name.split(separator: "_").last, pid.allSatisfy(\.isNumber), !FileManager.default.fileExists(atPath: "/proc/\(pid)")
            else { continue }
            try? FileManager.default.removeItem(atPath: "/dev/shm/\(name)")
        }
        return ["--exclude-monotonic", "-f", offset]
    }

    /// `minga` that must succeed; returns its standard output.
    @discardableResult
    func ok(_ db: String?, _ args: String..., sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try minga(db, args)
        #expect(result.status == 0, "minga \(args.joined(separator: " ")) failed: \(result.stderr)", sourceLocation: sourceLocation)
        return result.stdout
    }

    /// A sandbox whose replicas `db → node id` are created from `schema` and federated.
    static func federation(_ name: String, schema: String, _ ids: [(db: String, node: String)]) throws -> Sandbox {
        let box = try Sandbox(name)
        try box.write("schema.sql", schema)
        for (db, node) in ids { try box.ok(db, "init", "--node-id", node, "--schema", "schema.sql") }
        try box.federate(ids.map(\.db))
        return box
    }

    /// Every replica lists every other's public key in its roster, as agencies that agreed to
    /// sync would after exchanging keys.
    func federate(_ dbs: [String]) throws {
        let members = try dbs.map { db -> (db: String, node: String, key: String) in
            let status = try json(try ok(db, "status", "--json")) as! [String: Any]
            return (db, status["nodeId"] as! String, status["publicKey"] as! String)
        }
        for member in members {
            for other in members where other.db != member.db { try ok(member.db, "roster", "add", other.node, other.key) }
        }
    }

    @discardableResult
    func sqlite(_ db: String, _ sql: String) throws -> String {
        // Like any program sharing a replica with a running node, the shell waits for the
        // node's short write transactions instead of failing with "database is locked".
        let result = try run("/usr/bin/sqlite3", ["-cmd", ".timeout 30000", path(db), sql], env: ProcessInfo.processInfo.environment, timeout: 120)
        #expect(result.status == 0, "sqlite3 failed: \(result.stderr)")
        return result.stdout
    }

    func run(_ executable: String, _ args: [String], env: [String: String], timeout: TimeInterval) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        process.environment = env
        process.currentDirectoryURL = dir
        let out = dir.appendingPathComponent(".out-\(UUID().uuidString)")
        let err = dir.appendingPathComponent(".err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            Issue.record("\(executable) \(args) timed out after \(timeout) s")
        }
        process.waitUntilExit()
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        return Result(
            status: process.terminationStatus,
            stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        )
    }

    /// Starts `minga ARGS` in the background.
    func start(_ db: String, _ args: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Sandbox.binary)
        process.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["MINGA_DB"] = path(db)
        process.environment = env
        process.currentDirectoryURL = dir
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }
}

/// A `minga serve` process, with the port it bound.
struct Server {
    let process: Process
    let port: Int
    let log: String
    var url: String { "http://127.0.0.1:\(port)" }

    func stop() {
        if process.isRunning {
            // Under faketime, the server is faketime's child: it is the one to stop.
            if process.executableURL?.lastPathComponent == "faketime" {
                let pkill = Process()
                pkill.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
                pkill.arguments = ["-INT", "-P", String(process.processIdentifier)]
                try? pkill.run()
                pkill.waitUntilExit()
            }
            process.interrupt()
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
    }
}

extension Sandbox {
    /// Starts `minga serve` on `db` and waits for its "listening on" line; with its clock
    /// shifted by `clockOffset` (see ``minga(at:_:_:timeout:)``) when one is given.
    func serve(_ db: String, port: Int = 0, _ extra: [String] = [], clockOffset: String? = nil) throws -> Server {
        try serve(arguments: ["serve", "--db", path(db), "--port", "\(port)"] + extra, name: db, clockOffset: clockOffset)
    }

    /// Starts `minga ARGUMENTS` (a `serve` command line), logging to a file named after `name`.
    func serve(arguments: [String], name: String, clockOffset: String? = nil) throws -> Server {
        let db = name
        let log = path("\(db).serve-\(UUID().uuidString.prefix(6)).log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: clockOffset == nil ? Sandbox.binary : "/usr/bin/faketime")
        process.arguments = clockOffset.map { Sandbox.shifted($0) + [Sandbox.binary] + arguments } ?? arguments
        process.currentDirectoryURL = dir
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"listening on https?://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                let port = Int(text[range].split(separator: ":").last!)!
                return Server(process: process, port: port, log: log)
            }
            if !process.isRunning { break }
            usleep(50_000)
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        process.terminate()
        throw TestFailure("minga serve on \(db) did not start: \(text)")
    }

    /// A port that was free a moment ago (for daemons that must know their peers' ports up front).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Polls `condition` until it holds or `seconds` pass.
    func eventually(_ seconds: TimeInterval, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(200_000)
        }
        return try condition()
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Server {
    /// The address of a server started with --tls-cert and --tls-key.
    var httpsURL: String { "https://127.0.0.1:\(port)" }
}

extension Sandbox {
    /// Throwaway certificates in the sandbox, made by Tests/certificates.sh (openssl): ca.pem,
    /// server.pem and server.key for 127.0.0.1, and other-ca.pem.
    func makeCertificates() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../certificates.sh").standardized.path
        let result = try run("/bin/sh", [script, dir.path], env: ProcessInfo.processInfo.environment, timeout: 60)
        guard result.status == 0 else { throw TestFailure("Tests/certificates.sh failed (is openssl installed?): \(result.stderr)") }
    }
}
