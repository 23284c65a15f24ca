import ArgumentParser
import AsyncHTTPClient
import Foundation
import Synchronization
import Hummingbird
import Logging
import MingaCore
import MingaStore
import MingaSync

/// Options shared by `serve` and `sync` for reaching peers.
struct PeerOptions: ParsableArguments {
    @Option(name: .customLong("peer"), help: ArgumentHelp("A peer node's base URL, e.g. http://10.0.0.5:8701 (repeatable).", valueName: "url"))
    var peers: [String] = []

    @Option(help: ArgumentHelp("A file of `URL TOKEN` lines: the bearer token to send to each peer.", valueName: "file"))
    var peerTokens: String?

    @Option(help: ArgumentHelp(
        "PEM certificates to trust for https:// peers instead of the system's (a private CA, or a peer's self-signed certificate).",
        valueName: "file"))
    var caFile: String?

    func validate() throws {
        for url in peers where !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ValidationError("peer \(url) must be an http:// or https:// URL")
        }
    }

    func tokens() throws -> [String: String] {
        guard let peerTokens else { return [:] }
        return try PeerOptions.readTokens(peerTokens)
    }

    /// A file of `URL TOKEN` lines, by normalised URL.
    static func readTokens(_ peerTokens: String) throws -> [String: String] {
        guard let text = try? String(contentsOfFile: peerTokens, encoding: .utf8) else {
            throw MingaError("cannot read the peer token file \(peerTokens)")
        }
        var tokens: [String: String] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let parts = trimmed.split(separator: " ", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[1].isEmpty else {
                throw MingaError("\(peerTokens), line \(number + 1): expected `URL TOKEN`")
            }
            tokens[PeerOptions.normalize(parts[0])] = parts[1]
        }
        return tokens
    }

    static func normalize(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

    func clients() throws -> [PeerClient] {
        let tokens = try tokens()
        let tls = try TLSFiles.client(caFile: caFile)
        return peers.map { PeerClient(url: $0, token: tokens[PeerOptions.normalize($0)], tls: tls) }
    }
}

func makeLogger(_ level: String) -> Logger {
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    var logger = Logger(label: "minga")
    logger.logLevel = Logger.Level(rawValue: level) ?? .info
    return logger
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve this node to its peers over HTTP or HTTPS, and sync with peers in the background.",
        discussion: """
            Peers pull and push changes with the v1 protocol (protocol/openapi.yaml). With \
            --peer and --sync-interval the node also syncs with each peer on that interval and \
            soon after every local write; a peer that fails, or is busy, is retried with growing \
            delays (capped at 5 minutes) without holding up the others. SIGTERM or Ctrl-C stops \
            the server gracefully: a batch in flight is either committed whole or not at all.

            With --token-file, the sync and conflict endpoints require `Authorization: Bearer \
            TOKEN` with one of the file's tokens (one per line). /health and /metrics stay open.

            With --tls-cert and --tls-key (PEM) the node serves HTTPS. Peers then use an \
            https:// URL, and --ca-file on their side when a private CA signed the certificate \
            or it is self-signed; certificates are always verified.

            Limits: a request over one of them is refused with a 4xx and the error envelope, \
            and nothing of it is applied. A body over --max-body-bytes, or a pushed batch of \
            more than --max-batch-changes changes: 413 too_large. (A value over 1 MiB, or a \
            change over 2 MiB, is refused by every node alike, and by the writer's own \
            statement where it is made: protocol section 3.) A request not arrived and answered within \
            --request-timeout: 408 timeout, and the connection is closed. More than \
            --max-sessions pulls and pushes at once: 429 busy with Retry-After, and peers retry \
            later. A connection idle, or stalled inside a request, for --idle-timeout is closed.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @OptionGroup var peerOptions: PeerOptions
    @OptionGroup var clockOptions: ClockOptions
    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port to listen on (0 picks a free one).") var port = 8701
    @Option(help: ArgumentHelp("Seconds between background syncs with each --peer.", valueName: "seconds")) var syncInterval: Double = 30
    @Option(help: ArgumentHelp("A file of accepted bearer tokens, one per line.", valueName: "file")) var tokenFile: String?
    @Option(help: ArgumentHelp("Serve HTTPS with this PEM certificate chain (with --tls-key).", valueName: "file")) var tlsCert: String?
    @Option(help: ArgumentHelp("The PEM private key of --tls-cert.", valueName: "file")) var tlsKey: String?
    @Option(help: ArgumentHelp("Largest request body accepted, in bytes, after decompression.", valueName: "bytes"))
    var maxBodyBytes = ServerLimits().maxBodyBytes
    @Option(help: ArgumentHelp("Most changes in one pushed batch; also the most one pull answers.", valueName: "n"))
    var maxBatchChanges = ServerLimits().maxBatchChanges
    @Option(help: ArgumentHelp("Seconds a request may take to arrive and be answered.", valueName: "seconds")) var requestTimeout: Double = 60
    @Option(help: ArgumentHelp("Seconds a connection may stay idle (or stall in a request) before it is closed.", valueName: "seconds"))
    var idleTimeout: Double = 60
    @Option(help: ArgumentHelp("Most pulls and pushes served at once; more are told to retry later.", valueName: "n"))
    var maxSessions = ServerLimits().maxSessions
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func validate() throws {
        guard syncInterval >= 0.1 else { throw ValidationError("--sync-interval must be at least 0.1 seconds") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        for (name, value) in [("--max-body-bytes", maxBodyBytes), ("--max-batch-changes", maxBatchChanges), ("--max-sessions", maxSessions)]
        where value < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
        guard requestTimeout > 0, idleTimeout > 0 else { throw ValidationError("--request-timeout and --idle-timeout must be positive") }
    }

    var limits: ServerLimits {
        var limits = ServerLimits()
        limits.maxBodyBytes = maxBodyBytes
        limits.maxBatchChanges = maxBatchChanges
        limits.requestTimeout = .milliseconds(Int(requestTimeout * 1000))
        limits.idleTimeout = .milliseconds(Int(idleTimeout * 1000))
        limits.maxSessions = maxSessions
        return limits
    }

    func run() async throws {
        let logger = makeLogger(logLevel)
        var server = ServerConfiguration()
        var daemon: SyncDaemon?
        var replica: Replica?
        try operate {
            var r = try self.replica.open()
            clockOptions.apply(to: &r)
            replica = r
            if maxBodyBytes < ContentRules.maxChangeWireBytes {
                logger.warning("--max-body-bytes \(maxBodyBytes) is below the \(ContentRules.maxChangeWireBytes) bytes the largest change the protocol allows may take as JSON: peers will not push this node a change larger than the limit (they say so), and it must pull those instead")
            }
            server.host = host
            server.port = port
            if let tlsCert, let tlsKey { server.tls = try TLSFiles.server(certificateFile: tlsCert, keyFile: tlsKey) }
            if let tokenFile {
                guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                    throw MingaError("cannot read the token file \(tokenFile)")
                }
                server.tokens = Set(text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") })
                guard !server.tokens.isEmpty else { throw MingaError("the token file \(tokenFile) holds no tokens") }
            }
            let clients = try peerOptions.clients()
            if !clients.isEmpty {
                daemon = SyncDaemon(replica: r, clients: clients, interval: .milliseconds(Int(syncInterval * 1000)), metrics: metrics, logger: logger)
            }
        }
        guard let replica else { return }
        let node = replica.nodeID
        let listening = "\(server.tls == nil ? "http" : "https")://\(host)"
        do {
            let app = try buildApplication(
                replica: replica, configuration: server, limits: limits, metrics: metrics, logger: logger, services: daemon.map { [$0] } ?? [],
                onServerRunning: { port in
                    // Scripts and tests wait for this line to learn the port.
                    FileHandle.standardOutput.write(Data("minga: node \(node) listening on \(listening):\(port)\n".utf8))
                })
            try await app.runService()
        } catch {
            printErr("minga: the server stopped: \(error)")
            throw ExitCode.failure
        }
    }

    var metrics: SyncMetrics { Serve.sharedMetrics }
    static let sharedMetrics = SyncMetrics()
}

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sync with peers now: pull then push, until neither side has more.",
        discussion: """
            Each peer in turn; a peer that fails is reported and the others still sync. Prints a \
            line per peer (changes received and sent, new conflicts, bytes on the wire, \
            duration) and exits 1 if any peer failed; a peer too busy to serve now says BUSY: \
            try again later. Safe to run while `minga serve` runs on the same replica, and safe \
            to interrupt: the next sync resumes where this one stopped.

            A change that is bad on its own (its origin's clock too far ahead, an origin not in \
            the roster, a signature or content refused) does not stop the rest: it is held, with \
            its origin's later changes and whatever depends on them, and everything else syncs. \
            Each held origin gets a HELD line (here, or by the peer) with the reason; holding is \
            no failure. Held changes are tried again at every sync and apply by themselves once \
            the cause is gone; `minga status` lists them. What the peer holds is not pushed to it \
            again. A change larger as JSON than the peer's --max-body-bytes is not pushed either \
            (a NOT SENT line says so): the peer can pull it, or take larger bodies.

            https:// peers are verified against the system's trust store, or with --ca-file \
            against the certificates in that file.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @OptionGroup var peerOptions: PeerOptions
    @OptionGroup var clockOptions: ClockOptions
    @Flag(help: "Print a JSON array of per-peer summaries.") var json = false
    @Flag(help: "Do not print progress lines (on stderr) while a long sync runs.") var quiet = false

    func validate() throws {
        guard !peerOptions.peers.isEmpty else { throw ValidationError("give at least one --peer URL") }
    }

    func run() async throws {
        var summaries: [SyncSummary] = []
        var failed = false
        var loaded: (Replica, [PeerClient])?
        try operate {
            var r = try replica.open()
            clockOptions.apply(to: &r)
            loaded = (r, try peerOptions.clients())
        }
        guard let (r, clients) = loaded else { return }
        var logger = Logger(label: "minga")
        logger.logLevel = .critical
        for client in clients {
            var session = SyncSession(replica: r, client: client, logger: logger)
            if !quiet { session.progress = Sync.progressLine(peer: client.url) }
            let summary = await session.run()
            summaries.append(summary)
            failed = failed || !summary.succeeded
            if !json { print(Sync.line(summary)) }
        }
        if json { print("[" + summaries.map(Sync.json).joined(separator: ",") + "]") }
        if failed { throw ExitCode.failure }
    }

    /// A progress line on stderr at most every two seconds, so that a new node's first sync
    /// (minutes for a million changes) does not look hung.
    static func progressLine(peer: String) -> @Sendable (SyncProgress) -> Void {
        let last = Mutex(ContinuousClock.now)
        return { p in
            let due = last.withLock { shown in
                guard ContinuousClock.now - shown >= .seconds(2) else { return false }
                shown = ContinuousClock.now
                return true
            }
            if due { printErr("minga: \(peer): received \(p.received) of \(p.toReceive) changes, sent \(p.sent)") }
        }
    }

    static func seconds(_ d: Duration) -> String {
        String(format: "%.2fs", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }

    static func line(_ s: SyncSummary) -> String {
        let who = s.peerNode.map { "\(s.peer) (\($0))" } ?? s.peer
        if let error = s.error, s.retryLater { return "\(who): BUSY, try again later: \(error)" }
        if let error = s.error { return "\(who): FAILED after \(seconds(s.duration)): \(error)" }
        let heldHere = s.heldReceived > 0 ? " (and \(s.heldReceived) held back)" : ""
        let heldThere = s.heldByPeer.isEmpty ? "" : " (and \(s.heldByPeer.reduce(0) { $0 + $1.count }) held back by the peer)"
        var line = "\(who): received \(s.received)\(heldHere), sent \(s.sent)\(heldThere), \(s.newConflicts) new conflicts, "
            + "\(s.bytesReceived) bytes in / \(s.bytesSent) bytes out, \(seconds(s.duration))"
        // Held changes are no failure of the sync, but a person must see them (protocol §13).
        for held in s.held { line += "\n  HELD here: " + Output.held(held) }
        for altered in s.alteredCopies {
            line += "\n  ALTERED copies refused: \(altered.count) of \(altered.origin)'s changes from \(altered.first) on, which this node holds in their signed form: \(altered.reason)"
        }
        for big in s.tooLargeForPeer {
            line += "\n  NOT SENT: \(big.dot.origin) from change \(big.dot) (\(big.bytes) bytes as JSON; the peer takes bodies of at most "
                + "\(big.limit) bytes): the peer can pull it, or raise its --max-body-bytes to at least \(big.bytes + 65536)"
        }
        for held in s.heldByPeer {
            line += "\n  HELD by the peer: \(held.origin) from change \(held.origin):\(held.seq) (\(held.count) of those sent) [\(held.code)]; the peer says: \(held.reason)"
        }
        return line
    }

    static func json(_ s: SyncSummary) -> String {
        "{\"peer\":\(JSONText.quote(s.peer)),\"nodeId\":\(s.peerNode.map { JSONText.quote($0.rawValue) } ?? "null"),"
            + "\"ok\":\(s.succeeded),\"received\":\(s.received),\"heldReceived\":\(s.heldReceived),\"sent\":\(s.sent),\"newConflicts\":\(s.newConflicts),"
            + "\"bytesReceived\":\(s.bytesReceived),\"bytesSent\":\(s.bytesSent),\"seconds\":\(seconds(s.duration).dropLast()),"
            + "\"retryLater\":\(s.retryLater),\"error\":\(s.error.map(JSONText.quote) ?? "null"),"
            + "\"held\":[\(s.held.map(Output.heldJSON).joined(separator: ","))],"
            + "\"tooLargeForPeer\":[\(s.tooLargeForPeer.map { "{\"change\":\(JSONText.quote($0.dot.description)),\"bytes\":\($0.bytes),\"limit\":\($0.limit)}" }.joined(separator: ","))],"
            + "\"heldByPeer\":[\(s.heldByPeer.map { "{\"origin\":\(JSONText.quote($0.origin.rawValue)),\"firstSeq\":\($0.seq),\"count\":\($0.count),\"code\":\(JSONText.quote($0.code)),\"reason\":\(JSONText.quote($0.reason))}" }.joined(separator: ","))]}"
    }
}
