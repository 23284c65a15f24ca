import ArgumentParser
import Foundation
import Logging
import MingaCore
import MingaStore
import MingaSync
import Synchronization

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

            With --config FILE (the node's `minga serve --config` file), the replica, peers, \
            peer tokens, CA file and clock skew come from it, so a service's operator runs \
            `minga sync --config /etc/minga/minga.json`; flags given here override it.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @OptionGroup var peerOptions: PeerOptions
    @OptionGroup var clockOptions: ClockOptions
    @Option(help: ArgumentHelp("Take the replica and peers from this `minga serve --config` file.", valueName: "file"))
    var config: String?
    @Flag(help: "Print a JSON array of per-peer summaries.") var json = false
    @Flag(help: "Do not print progress lines (on stderr) while a long sync runs.") var quiet = false

    func validate() throws {
        guard config != nil || !peerOptions.peers.isEmpty else { throw ValidationError("give at least one --peer URL (or --config FILE)") }
    }

    func run() async throws {
        var summaries: [SyncSummary] = []
        var failed = false
        var loaded: (Replica, [PeerClient])?
        var file: ServeConfigFile?
        do {
            if let config { file = try await ServeConfigFile.load(config) }
        } catch let error as MingaError {
            printErr("minga: \(error.message)")
            throw ExitCode.failure
        }
        try await operate {
            var peers = peerOptions
            var path = replica.path
            var skew = clockOptions.maxClockSkew
            if let file {
                peers = try file.peers(over: peers)
                path = try replica.db ?? file.text("db") ?? path
                skew = try skew ?? file.number("max-clock-skew")
            }
            guard !peers.peers.isEmpty else {
                throw MingaError(.invalidInput, "no peer to sync with: the config file \(config ?? "") has no \"peer\", and no --peer was given")
            }
            try peers.validate()
            var r = try ReplicaOptions.parse(["--db", path]).open()
            r.maxClockSkewMillis = Int64((skew ?? ClockOptions.defaultSkew) * 60_000)
            loaded = (r, try peers.clients())
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
        if json { try JSONOutput.print(summaries.map(SyncSummaryJSON.init)) }
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

    static func line(_ s: SyncSummary) -> String {
        let who = s.peerNode.map { "\(s.peer) (\($0))" } ?? s.peer
        if let error = s.error, s.retryLater { return "\(who): BUSY, try again later: \(error)" }
        if let error = s.error { return "\(who): FAILED after \(s.duration.secondsText(decimals: 2))s: \(error)" }
        let heldHere =
            (s.heldReceived > 0 ? " (and \(s.heldReceived) held back)" : "")
            + (s.released > 0 ? " (and \(s.released) held earlier, now applied)" : "")
        let heldThere = s.heldByPeer.isEmpty ? "" : " (and \(s.heldByPeer.reduce(0) { $0 + $1.count }) held back by the peer)"
        var line =
            "\(who): received \(s.received)\(heldHere), sent \(s.sent)\(heldThere), \(counted(s.newConflicts, "new conflict")), "
            + "\(s.bytesReceived) bytes in / \(s.bytesSent) bytes out, \(s.duration.secondsText(decimals: 2))s"
        // Held changes are no failure of the sync, but a person must see them (protocol §13).
        for held in s.held { line += "\n  HELD here: " + Output.held(held) }
        for altered in s.alteredCopies {
            line +=
                "\n  ALTERED copies refused: \(altered.count) of \(altered.origin)'s changes from \(altered.first) on, which this node holds in their signed form: \(altered.reason)"
        }
        for big in s.tooLargeForPeer {
            line +=
                "\n  NOT SENT: \(big.dot.origin) from change \(big.dot) (\(big.bytes) bytes as JSON; the peer takes bodies of at most "
                + "\(big.limit) bytes): the peer can pull it, or raise its --max-body-bytes to at least \(big.bytes + 65536)"
        }
        for held in s.heldByPeer {
            line +=
                "\n  HELD by the peer: \(held.origin) from change \(held.origin):\(held.seq) (\(held.count) of those sent) [\(held.code)]; the peer says: \(held.reason)"
        }
        return line
    }
}
