import ArgumentParser
import Foundation
import Hummingbird
import Logging
import MingaConsole
import MingaCore
import MingaStore
import MingaSync
import Synchronization

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

            The operator's console is under /console on the same address: the node's state, \
            its peers (with "sync now"), held changes, conflicts to settle, each row's history \
            and the roster, in English, Spanish or Portuguese. With --console-token-file, an \
            operator signs in with one of that file's tokens (one per line; never a peer's \
            token, at least 16 characters); without it, the console answers only on this \
            machine (loopback). --no-console turns it off ("console": false in a --config file).

            With --token-file, the sync and conflict endpoints require `Authorization: Bearer \
            TOKEN` with one of the file's tokens (one per line). /health and /metrics stay open.

            With --tls-cert and --tls-key (PEM) the node serves HTTPS. Peers then use an \
            https:// URL, and --ca-file on their side when a private CA signed the certificate \
            or it is self-signed; certificates are always verified.

            With --config FILE, every setting can come from a JSON file instead (keys named as \
            the flags without dashes: {"db": "amexcid.db", "port": 8701, "peer": \
            ["https://10.0.0.5:8701"], "console-token-file": "console-tokens"}); flags given \
            on the command line override it. Relative paths are relative to the file.

            Limits: a request over one of them is refused with a 4xx and the error envelope, \
            and nothing of it is applied. A body over --max-body-bytes, or a pushed batch of \
            more than --max-batch-changes changes: 413 too_large. (A value over 1 MiB, or a \
            change over 2 MiB, is refused by every node alike, and by the writer's own \
            statement where it is made: protocol section 3.) A request not arrived and answered \
            within --request-timeout: 408 timeout, and the connection is closed. More than \
            --max-sessions pulls and pushes at once: 429 busy with Retry-After, and peers retry \
            later. A connection idle, or stalled inside a request, for --idle-timeout is closed.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @OptionGroup var peerOptions: PeerOptions
    @OptionGroup var clockOptions: ClockOptions
    @Option(help: ArgumentHelp("Read the settings from this JSON file; flags given here override it.", valueName: "file"))
    var config: String?
    @Option(help: "The address to listen on (default 127.0.0.1).") var host: String?
    @Option(help: "The port to listen on; 0 picks a free one (default 8701).") var port: Int?
    @Option(help: ArgumentHelp("Seconds between background syncs with each --peer (default 30).", valueName: "seconds"))
    var syncInterval: Double?
    @Option(help: ArgumentHelp("A file of accepted bearer tokens for peers, one per line.", valueName: "file")) var tokenFile: String?
    @Option(help: ArgumentHelp("A file of operator tokens for the console, one per line (not a peer's token).", valueName: "file"))
    var consoleTokenFile: String?
    @Flag(inversion: .prefixedNo, help: "Serve the operator's console under /console (default: on).") var console: Bool?
    @Option(help: ArgumentHelp("Serve HTTPS with this PEM certificate chain (with --tls-key).", valueName: "file")) var tlsCert: String?
    @Option(help: ArgumentHelp("The PEM private key of --tls-cert.", valueName: "file")) var tlsKey: String?
    @Option(
        help: ArgumentHelp(
            "Largest request body accepted, in bytes, after decompression (default \(ServerLimits().maxBodyBytes)).",
            valueName: "bytes"
        )
    )
    var maxBodyBytes: Int?
    @Option(
        help: ArgumentHelp(
            "Most changes in one pushed batch; also the most one pull answers (default \(ServerLimits().maxBatchChanges)).",
            valueName: "n"
        )
    )
    var maxBatchChanges: Int?
    @Option(help: ArgumentHelp("Seconds a request may take to arrive and be answered (default 60).", valueName: "seconds")) var requestTimeout:
        Double?
    @Option(help: ArgumentHelp("Seconds a connection may stay idle (or stall in a request) before it is closed (default 60).", valueName: "seconds"))
    var idleTimeout: Double?
    @Option(
        help: ArgumentHelp(
            "Most pulls and pushes served at once; more are told to retry later (default \(ServerLimits().maxSessions)).",
            valueName: "n"
        )
    )
    var maxSessions: Int?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info).") var logLevel: String?

    func run() async throws {
        var settings: ServeSettings?
        do {
            settings = try await ServeSettings(self)
        } catch let error as MingaError {
            printErr("minga: \(error.message)")
            throw ExitCode.failure
        }
        try await settings!.serve()
    }
}

/// What `minga serve` runs with: each setting from its flag, else the --config file, else its default.
struct ServeSettings {
    var db: String
    var host = "127.0.0.1"
    var port = 8701
    var syncInterval: Double = 30
    var tokenFile: String?
    var consoleTokenFile: String?
    var console = true
    var tlsCert: String?
    var tlsKey: String?
    var limits = ServerLimits()
    var logLevel = "info"
    var peers: PeerOptions
    var maxClockSkew: Double

    init(_ flags: Serve) async throws {
        var file: ServeConfigFile?
        if let path = flags.config { file = try await ServeConfigFile.load(path) }
        func pick<T>(_ flag: T?, _ key: String, _ read: (ServeConfigFile) -> (String) throws -> T?) throws -> T? {
            if let flag { return flag }
            guard let file else { return nil }
            return try read(file)(key)
        }
        db = try flags.replica.db ?? file?.text("db") ?? flags.replica.path
        host = try pick(flags.host, "host", ServeConfigFile.text) ?? host
        port = try pick(flags.port, "port", ServeConfigFile.integer) ?? port
        syncInterval = try pick(flags.syncInterval, "sync-interval", ServeConfigFile.number) ?? syncInterval
        tokenFile = try pick(flags.tokenFile, "token-file", ServeConfigFile.text)
        consoleTokenFile = try pick(flags.consoleTokenFile, "console-token-file", ServeConfigFile.text)
        console = try pick(flags.console, "console", ServeConfigFile.flag) ?? console
        tlsCert = try pick(flags.tlsCert, "tls-cert", ServeConfigFile.text)
        tlsKey = try pick(flags.tlsKey, "tls-key", ServeConfigFile.text)
        limits.maxBodyBytes = try pick(flags.maxBodyBytes, "max-body-bytes", ServeConfigFile.integer) ?? limits.maxBodyBytes
        limits.maxBatchChanges = try pick(flags.maxBatchChanges, "max-batch-changes", ServeConfigFile.integer) ?? limits.maxBatchChanges
        limits.maxSessions = try pick(flags.maxSessions, "max-sessions", ServeConfigFile.integer) ?? limits.maxSessions
        let requestTimeout = try pick(flags.requestTimeout, "request-timeout", ServeConfigFile.number) ?? 60
        let idleTimeout = try pick(flags.idleTimeout, "idle-timeout", ServeConfigFile.number) ?? 60
        logLevel = try pick(flags.logLevel, "log-level", ServeConfigFile.text) ?? logLevel
        peers = try file?.peers(over: flags.peerOptions) ?? flags.peerOptions
        maxClockSkew = try pick(flags.clockOptions.maxClockSkew, "max-clock-skew", ServeConfigFile.number) ?? ClockOptions.defaultSkew
        try validate(requestTimeout: requestTimeout, idleTimeout: idleTimeout)
        limits.requestTimeout = .milliseconds(Int(requestTimeout * 1000))
        limits.idleTimeout = .milliseconds(Int(idleTimeout * 1000))
    }

    /// Checks the settings, wherever they came from; a message names the flag (its config
    /// key is the same name without the dashes).
    func validate(requestTimeout: Double, idleTimeout: Double) throws {
        guard syncInterval >= 0.1 else { throw MingaError(.invalidInput, "--sync-interval must be at least 0.1 seconds") }
        guard (0...65535).contains(port) else { throw MingaError(.invalidInput, "--port must be between 0 and 65535") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw MingaError(.invalidInput, "--tls-cert and --tls-key go together") }
        for (name, value) in [
            ("max-body-bytes", limits.maxBodyBytes), ("max-batch-changes", limits.maxBatchChanges), ("max-sessions", limits.maxSessions),
        ]
        where value < 1 {
            throw MingaError(.invalidInput, "--\(name) must be at least 1")
        }
        guard requestTimeout > 0, idleTimeout > 0 else { throw MingaError(.invalidInput, "--request-timeout and --idle-timeout must be positive") }
        guard maxClockSkew > 0, maxClockSkew <= 1e9 else {
            throw MingaError(.invalidInput, "--max-clock-skew must be a positive number of minutes, at most 1000000000")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw MingaError(.invalidInput, "--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        try peers.validate()
    }

    /// The shortest operator token accepted: it opens every action on the node's data.
    static let minimumConsoleToken = 16

    /// One token per line (``TokenFile/lines(_:)``).
    static func readTokens(_ path: String, what: String) throws -> Set<String> {
        let text = String(decoding: try ServeConfigFile.contents(of: path, what: what), as: UTF8.self)
        var tokens: Set<String> = []
        for (number, token) in TokenFile.lines(text) {
            guard !token.contains(where: \.isWhitespace) else {
                throw MingaError(
                    .invalidInput,
                    "the \(what) file \(path), line \(number): a token has no spaces; this file holds one token per line (`URL TOKEN` lines belong in a --peer-tokens file)"
                )
            }
            tokens.insert(token)
        }
        guard !tokens.isEmpty else { throw MingaError(.invalidInput, "the \(what) file \(path) holds no tokens") }
        return tokens
    }

    func serve() async throws {
        let logger = makeLogger(logLevel)
        var setup: Setup?
        try await operate { setup = try prepare(logger) }
        guard let setup else { return }
        do {
            let app = try buildApplication(
                replica: setup.replica,
                configuration: setup.server,
                limits: limits,
                metrics: Serve.sharedMetrics,
                logger: logger,
                services: setup.daemon.map { [$0] } ?? [],
                onServerRunning: { port in FileHandle.standardOutput.write(Data(setup.listeningLines(port: port).utf8)) },
                moreRoutes: { router in
                    guard setup.withConsole else { return }
                    addConsole(to: router, replica: setup.replica, configuration: setup.console, version: MingaVersion.string, logger: logger)
                }
            )
            try await app.runService()
        } catch {
            if "\(error)".contains("Address already in use") {
                printErr("minga: cannot listen on \(host):\(port): the port is in use (another minga serve?); choose another with --port")
            } else {
                printErr("minga: the server stopped: \(error)")
            }
            throw ExitCode.failure
        }
    }

    /// What `serve` runs: the replica, the server's and the console's configuration, and the
    /// daemon that syncs with `--peer`s (none without them).
    struct Setup: Sendable {
        let replica: Replica
        let server: ServerConfiguration
        let console: ConsoleConfiguration
        let withConsole: Bool
        let daemon: SyncDaemon?
        let listening: String

        /// The lines printed once the server listens; scripts and tests wait for the first to
        /// learn the port.
        func listeningLines(port: Int) -> String {
            var lines = "minga: node \(replica.nodeID) listening on \(listening):\(port)\n"
            if withConsole {
                let scope = console.tokens.isEmpty ? " (for this machine only: no --console-token-file)" : ""
                lines += "minga: the operator's console is at \(listening):\(port)/console\(scope)\n"
            }
            return lines
        }
    }

    private func prepare(_ logger: Logger) throws -> Setup {
        var replica = try ReplicaOptions.parse(["--db", db]).open()
        replica.maxClockSkewMillis = Int64(maxClockSkew * 60_000)
        let server = try serverConfiguration(logger)
        var console = try consoleConfiguration()
        console.secureCookies = server.tls != nil
        let clients = try peers.clients()
        console.peers = clients
        let daemon =
            clients.isEmpty
            ? nil
            : SyncDaemon(
                replica: replica,
                clients: clients,
                interval: .milliseconds(Int(syncInterval * 1000)),
                metrics: Serve.sharedMetrics,
                logger: logger
            )
        let listening = "\(server.tls == nil ? "http" : "https")://\(host)"
        return Setup(replica: replica, server: server, console: console, withConsole: self.console, daemon: daemon, listening: listening)
    }

    /// The address, TLS and peer tokens, with a warning for each setting that leaves the node
    /// open or unable to take the largest changes.
    private func serverConfiguration(_ logger: Logger) throws -> ServerConfiguration {
        if limits.maxBodyBytes < ContentRules.maxChangeWireBytes {
            logger.warning(
                "--max-body-bytes \(limits.maxBodyBytes) is below the \(ContentRules.maxChangeWireBytes) bytes the largest change the protocol allows may take as JSON: peers will not push this node a change larger than the limit (they say so), and it must pull those instead"
            )
        }
        if !["127.0.0.1", "::1", "localhost"].contains(host), tokenFile == nil {
            logger.warning(
                "serving on \(host) without --token-file: any client that reaches this address can pull this node's changes and push its own (give peers tokens with --token-file)"
            )
        }
        var server = ServerConfiguration()
        server.host = host
        server.port = port
        if let tlsCert, let tlsKey { server.tls = try TLSFiles.server(certificateFile: tlsCert, keyFile: tlsKey) }
        if let tokenFile { server.tokens = try Self.readTokens(tokenFile, what: "token") }
        return server
    }

    /// The console's operator tokens, each at least ``minimumConsoleToken`` characters.
    private func consoleConfiguration() throws -> ConsoleConfiguration {
        var console = ConsoleConfiguration()
        guard let consoleTokenFile else { return console }
        console.tokens = try Self.readTokens(consoleTokenFile, what: "console token")
        if let short = console.tokens.first(where: { $0.count < Self.minimumConsoleToken }) {
            throw MingaError(
                .invalidInput,
                "a token in \(consoleTokenFile) has \(short.count) characters; an operator token needs at least \(Self.minimumConsoleToken) (e.g. `head -c 32 /dev/urandom | base64`)"
            )
        }
        return console
    }
}

extension Serve {
    static let sharedMetrics = SyncMetrics()
}
