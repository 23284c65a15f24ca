import ArgumentParser
import Foundation
import MingaCore
import MingaSync

/// Options shared by `serve` and `sync` for reaching peers.
struct PeerOptions: ParsableArguments {
    @Option(name: .customLong("peer"), help: ArgumentHelp("A peer node's base URL, e.g. http://10.0.0.5:8701 (repeatable).", valueName: "url"))
    var peers: [String] = []

    @Option(help: ArgumentHelp("A file of `URL TOKEN` lines: the bearer token to send to each peer.", valueName: "file"))
    var peerTokens: String?

    @Option(
        help: ArgumentHelp(
            "PEM certificates to trust for https:// peers instead of the system's (a private CA, or a peer's self-signed certificate).",
            valueName: "file"
        )
    )
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
            throw MingaError(.failed, "cannot read the peer token file \(peerTokens)")
        }
        var tokens: [String: String] = [:]
        for (number, line) in TokenFile.lines(text) {
            let parts = line.split(separator: " ", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[1].isEmpty else {
                throw MingaError(.invalidInput, "\(peerTokens), line \(number): expected `URL TOKEN`")
            }
            guard !parts[1].contains(where: \.isWhitespace) else {
                throw MingaError(.invalidInput, "\(peerTokens), line \(number): expected `URL TOKEN`; a bearer token has no spaces")
            }
            tokens[PeerClient.normalize(parts[0])] = parts[1]
        }
        return tokens
    }

    func clients() throws -> [PeerClient] {
        let tokens = try tokens()
        let tls = try TLSFiles.client(caFile: caFile)
        for url in peers where !tokens.isEmpty && tokens[PeerClient.normalize(url)] == nil {
            // Lines match a peer only as --peer names it: localhost is not 127.0.0.1.
            printErr("warning: \(peerTokens ?? "") has no line for peer \(url); no token is sent to it")
        }
        return peers.map { PeerClient(url: $0, token: tokens[PeerClient.normalize($0)], tls: tls) }
    }
}
