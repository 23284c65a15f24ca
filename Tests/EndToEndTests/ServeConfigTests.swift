import Foundation
import Testing

/// `minga serve --config FILE` as a service manager runs it, and the command line's own
/// manners: `--version`, and help that wraps as ArgumentParser wraps it.
@Suite(.serialized) struct ServeConfigTests {
    @Test func aConfigFileSetsWhatServeTakesAndFlagsOverrideIt() throws {
        let box = try Sandbox.federation("config", schema: "CREATE TABLE t(id TEXT PRIMARY KEY, v TEXT);", [("a.db", "mx.amexcid")])
        defer { box.remove() }
        try FileManager.default.createDirectory(atPath: box.path("etc"), withIntermediateDirectories: true)
        try box.write("etc/console.tokens", "operator-token-of-amexcid\n")
        let port = Sandbox.freePort()
        // Paths relative to the file's folder, as an operator writes them in /etc/minga.
        try box.write(
            "etc/node.json",
            #"{"db": "../a.db", "port": \#(port), "max-batch-changes": 123, "console-token-file": "console.tokens", "sync-interval": 5}"#
        )

        let server = try box.serve(arguments: ["serve", "--config", box.path("etc/node.json")], name: "a.db")
        #expect(server.port == port)
        let node = try box.json(try box.curl("http://127.0.0.1:\(port)/v1/node").body) as! [String: Any]
        #expect(node["nodeId"] as? String == "mx.amexcid" && node["maxBatchChanges"] as? Int == 123)
        // The console token file was read: the console asks to sign in, even on loopback.
        #expect(try box.curl("http://127.0.0.1:\(port)/console").status == 303)
        server.stop()

        let overridden = try box.serve(
            arguments: ["serve", "--config", box.path("etc/node.json"), "--port", "0", "--max-batch-changes", "77", "--no-console"],
            name: "a.db"
        )
        let again = try box.json(try box.curl("http://127.0.0.1:\(overridden.port)/v1/node").body) as! [String: Any]
        #expect(overridden.port != port && again["maxBatchChanges"] as? Int == 77)
        #expect(try box.curl("http://127.0.0.1:\(overridden.port)/console").status == 404)
        overridden.stop()
    }

    @Test func syncTakesTheReplicaAndPeersFromTheSameFile() throws {
        let box = try Sandbox.federation(
            "config-sync",
            schema: "CREATE TABLE t(id TEXT PRIMARY KEY, v TEXT);",
            [("a.db", "mx.amexcid"), ("b.db", "co.apc")]
        )
        defer { box.remove() }
        let b = try box.serve("b.db")
        defer { b.stop() }
        try box.ok("a.db", "put", "t", #"{"id":"1","v":"from the config"}"#)
        try box.write("a.json", #"{"db": "a.db", "peer": ["http://127.0.0.1:\#(b.port)"], "port": 8701}"#)
        let result = try box.minga(nil, ["sync", "--config", box.path("a.json"), "--quiet"])
        #expect(result.status == 0 && result.stdout.contains("sent 1"), "\(result.stdout) \(result.stderr)")
        #expect(try box.ok("b.db", "get", "t", "1").contains("from the config"))
        try box.write("none.json", #"{"db": "a.db"}"#)
        let none = try box.minga(nil, ["sync", "--config", box.path("none.json")])
        #expect(none.status == 1 && none.stderr.contains("no peer to sync with"), "\(none.stderr)")
    }

    /// Without operator tokens the console is for a person on this machine: a loopback
    /// address is not enough when the request names another host (DNS rebinding) or comes
    /// through a proxy, and a browser's form from another origin is refused.
    @Test func theLoopbackConsoleRefusesRebindingProxiesAndOtherOrigins() throws {
        let box = try Sandbox.federation("console-local", schema: "CREATE TABLE t(id TEXT PRIMARY KEY, v TEXT);", [("a.db", "mx.amexcid")])
        defer { box.remove() }
        // A peer that is not there gives the overview a form (sync now) to take a CSRF token from.
        let server = try box.serve("a.db", ["--peer", "http://127.0.0.1:9", "--sync-interval", "3600"])
        defer { server.stop() }
        func curl(_ args: [String]) throws -> String {
            try box.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}"] + args, env: [:], timeout: 30).stdout
        }
        #expect(try curl(["\(server.url)/console"]) == "200")
        #expect(try curl(["-H", "Host: localhost:\(server.port)", "\(server.url)/console"]) == "200")
        #expect(try curl(["-H", "Host: attacker.example:\(server.port)", "\(server.url)/console"]) == "403")
        #expect(try curl(["-H", "X-Forwarded-For: 203.0.113.9", "\(server.url)/console"]) == "403")
        // A session and its token, then a form posted from another origin.
        let jar = box.path("jar")
        let page = try box.run("/usr/bin/curl", ["-s", "-c", jar, "\(server.url)/console"], env: [:], timeout: 30).stdout
        let csrf = try #require(page.firstMatch(of: /name="csrf" value="([^"]+)"/)).1
        let post = ["-b", jar, "--data", "csrf=\(csrf)&peer=http://127.0.0.1:9", "\(server.url)/console/peers/sync"]
        #expect(try curl(["-H", "Origin: http://attacker.example"] + post) == "403")
        #expect(try curl(["-H", "Sec-Fetch-Site: cross-site"] + post) == "403")
        #expect(try curl(["-H", "Origin: \(server.url)"] + post) == "303")
        // A doubled slash is served, and its language links stay on this host.
        let doubled = try box.run("/usr/bin/curl", ["-s", "--path-as-is", "\(server.url)//console//roster"], env: [:], timeout: 30).stdout
        #expect(!doubled.contains(#"href="//"#) && doubled.contains(#"href="/console/roster?lang=es""#), "\(doubled.prefix(2000))")
        #expect(try curl(["-H", "Accept-Language: en,;", "\(server.url)/console"]) == "200", "a malformed Accept-Language is no fault")
    }

    @Test func aMistakeInTheConfigFileIsRefusedByName() throws {
        let box = try Sandbox("config-bad")
        defer { box.remove() }
        let cases = [
            (#"{"prot": 8701}"#, "unknown key(s) prot"),
            (#"{"port": "8701"}"#, #""port" must be an integer"#),
            (#"{"peer": "http://10.0.0.5:8701"}"#, #""peer" must be an array of strings"#),
            ("port = 8701", "is not valid JSON"),
            (#"[8701]"#, "is not a JSON object of settings"),
        ]
        for (text, message) in cases {
            try box.write("node.json", text)
            let result = try box.minga(nil, ["serve", "--config", box.path("node.json"), "--db", box.path("none.db")], timeout: 30)
            #expect(result.status == 1 && result.stderr.contains(message), "\(text): \(result.stderr)")
        }
        let missing = try box.minga(nil, ["serve", "--config", box.path("absent.json")], timeout: 30)
        #expect(
            missing.status == 1 && missing.stderr.contains("cannot read the config file") && missing.stderr.contains("No such file"),
            "\(missing.stderr)"
        )
        // Token files are read once the replica opens: a real one, so that each refusal is the token file's.
        _ = try box.ok("node.db", "init", "--node-id", "mx.amexcid")
        try box.write("short.tokens", "secret\n")
        let short = try box.minga("node.db", ["serve", "--console-token-file", box.path("short.tokens")], timeout: 30)
        #expect(short.status == 1 && short.stderr.contains("an operator token needs at least 16"), "\(short.stderr)")
        // A --peer-tokens file (`URL TOKEN` lines) given as the server's own token file.
        try box.write("peers.tokens", "http://10.0.0.5:8701 ring-secret\n")
        let swapped = try box.minga("node.db", ["serve", "--token-file", box.path("peers.tokens")], timeout: 30)
        #expect(swapped.status == 1 && swapped.stderr.contains("peers.tokens, line 1: a token has no spaces"), "\(swapped.stderr)")
    }

    @Test func versionAndHelpThatWraps() throws {
        let box = try Sandbox("help")
        defer { box.remove() }
        let version = try box.run(Sandbox.binary, ["--version"], env: [:], timeout: 30)
        #expect(version.status == 0 && version.stdout.range(of: #"^\d+\.\d+\.\d+\n$"#, options: .regularExpression) != nil)
        let commands = [
            [], ["serve"], ["sync"], ["status"], ["put"], ["conflicts"], ["conflicts", "resolve"], ["bundle"], ["bundle", "import"],
            ["log"], ["import", "iati"], ["export", "iati"], ["import", "csv"], ["check"], ["roster"], ["schema", "apply"],
            ["backup"], ["restore"], ["init"], ["generate"],
        ]
        for command in commands {
            let help = try box.run(Sandbox.binary, ["help"] + command, env: [:], timeout: 30)
            #expect(help.status == 0, "minga help \(command)")
            for line in Self.raggedLines(help.stdout) {
                Issue.record("minga help \(command.joined(separator: " ")): a hard line break mid-paragraph: \(line)")
            }
        }
    }

    /// Lines ArgumentParser did not break: within a paragraph (same indentation), the next
    /// line's first word would have fit on this one, so a line break in the, so a line break in the
    /// source text put it there.
    static func raggedLines(_ text: String) -> [String] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var ragged: [String] = []
        for (line, next) in zip(lines, lines.dropFirst()) {
            let indent = line.prefix { $0 == " " }.count
            let following = next.trimmingCharacters(in: .whitespaces)
            // Not a paragraph: list items, the two columns of commands and options, examples.
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty, next.prefix(while: { $0 == " " }).count == indent,
                let word = following.split(separator: " ").first, !following.hasPrefix("-"), !following.hasPrefix("<"),
                !following.contains("  "), !line.hasSuffix(":"), !line.hasSuffix(";"),
                !line.trimmingCharacters(in: .whitespaces).hasPrefix("minga ")
            else { continue }
            // ArgumentParser fills lines up to 79 columns.
            if line.count + 1 + word.count <= 79 { ragged.append("\(line) ⏎ \(next)") }
        }
        return ragged
    }
}

extension Sandbox {
    /// GET `url` with curl: the status and the body.
    func curl(_ url: String) throws -> (status: Int, body: String) {
        let result = try run("/usr/bin/curl", ["-s", "-w", "\\n%{http_code}", url], env: [:], timeout: 30)
        let status = Int(result.stdout.split(separator: "\n").last ?? "") ?? 0
        return (status, String(result.stdout.dropLast(String(status).count + 1)))
    }
}
