import Foundation
import Testing

/// A request refused before its body is read gets its answer within 2 s, even from a client
/// that writes the whole body before reading (Python's urllib, a raw socket), over HTTP and
/// HTTPS (protocol/README.md §16): the node reads and drops the rest, as nginx does.
@Suite(.serialized) struct PromptRefusalTests {
    /// Posts 64 MiB the way `client` does; prints `STATUS SECONDS`.
    static let script = #"""
        import socket, ssl, sys, time, urllib.request, urllib.error
        client, url, token, cafile = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
        body = b"x" * (64 << 20)
        start = time.time()
        if client == "urllib":
            headers = {"Content-Type": "application/json"}
            if token != "-": headers["Authorization"] = "Bearer " + token
            context = ssl.create_default_context(cafile=cafile) if cafile != "-" else None
            try:
                status = urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=30, context=context).status
            except urllib.error.HTTPError as e:
                status = e.code
        else:  # the whole body on a plain socket, then read the answer
            host, port = url.split("//")[1].split("/")[0].split(":")
            s = socket.create_connection((host, int(port)), timeout=30)
            auth = b"Authorization: Bearer %s\r\n" % token.encode() if token != "-" else b""
            s.sendall(b"POST /v1/push HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n" % (auth, len(body)) + body)
            status = int(s.recv(64).split()[1])
        print(status, round(time.time() - start, 2))
        """#

    func post(_ box: Sandbox, _ client: String, _ url: String, token: String = "-", cafile: String = "-") throws -> (status: Int, seconds: Double) {
        let result = try box.run(
            "/usr/bin/env",
            ["python3", box.path("post.py"), client, url, token, cafile],
            env: ProcessInfo.processInfo.environment,
            timeout: 60
        )
        let words = result.stdout.split(separator: " ")
        guard result.status == 0, words.count == 2, let status = Int(words[0]),
            let seconds = Double(words[1].trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw TestFailure("post.py \(client) \(url) failed: \(result.stdout) \(result.stderr)")
        }
        return (status, seconds)
    }

    @Test func sixtyFourMiBGetsItsRefusalWithinTwoSeconds() throws {
        let box = try Sandbox("prompt")
        defer { box.remove() }
        try box.write("post.py", Self.script)
        try box.write("tokens", "secret\n")
        try box.ok("a.db", "init", "--node-id", "mx.amexcid")
        try box.makeCertificates()
        let plain = try box.serve("a.db", ["--token-file", "tokens"])
        defer { plain.stop() }
        let cases: [(String, String, String, Int)] = [
            ("urllib", "\(plain.url)/v1/push", "secret", 413),
            ("urllib", "\(plain.url)/v1/push", "-", 401),
            ("urllib", "\(plain.url)/v1/elsewhere", "secret", 404),
            ("socket", "\(plain.url)/v1/push", "-", 401),
            ("socket", "\(plain.url)/v1/push", "secret", 413),
        ]
        for (client, url, token, expected) in cases {
            let (status, seconds) = try post(box, client, url, token: token)
            #expect(status == expected && seconds < 2, "\(client) \(url): \(status) after \(seconds) s")
        }
        plain.stop()
        let tls = try box.serve("a.db", ["--tls-cert", "server.pem", "--tls-key", "server.key"])
        defer { tls.stop() }
        let (status, seconds) = try post(box, "urllib", "\(tls.httpsURL)/v1/push", cafile: box.path("ca.pem"))
        #expect(status == 413 && seconds < 2, "HTTPS: \(status) after \(seconds) s")
    }
}
