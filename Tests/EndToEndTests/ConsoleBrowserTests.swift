import Foundation
import Testing

/// The operator's console in a real browser: Browser/console_browser.py runs two real
/// `minga serve` nodes and drives headless Chromium through chromedriver (Selenium) over sign-in,
/// the overview, languages, settling a conflict, sync, records, roster and sign-out, then checks
/// with plain HTTP that writes without a session or CSRF token are refused. Its screenshots go
/// to .build/test-output/console.
@Suite(.serialized) struct ConsoleBrowserTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
    static let packages = "chromium chromium-driver python3-selenium"

    @Test func theConsoleWorksInARealBrowser() throws {
        let box = try Sandbox("console-browser")
        defer { box.remove() }
        let env = ProcessInfo.processInfo.environment

        // Never skipped: a machine without the browser fails, and says what to install.
        var missing: [String] = []
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") { missing.append("chromium (/usr/bin/chromium)") }
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") { missing.append("chromedriver (/usr/bin/chromedriver)") }
        var selenium = false
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") {
            selenium = try box.run("/usr/bin/python3", ["-c", "import selenium"], env: env, timeout: 60).status == 0
        }
        if !selenium { missing.append("Python's selenium module for /usr/bin/python3") }
        guard missing.isEmpty else {
            Issue.record("The console's browser test needs \(missing.joined(separator: ", ")): apt-get install -y \(Self.packages)")
            return
        }

        let script = Self.repo.appendingPathComponent("Tests/EndToEndTests/Browser/console_browser.py").path
        let out = Self.repo.appendingPathComponent(".build/test-output/console").path
        let result = try box.run(
            "/usr/bin/python3",
            [script, "--minga", Sandbox.binary, "--out", out, "--timeout", "220"],
            env: env,
            timeout: 240
        )
        #expect(result.status == 0, "console_browser.py exited \(result.status):\n\(result.stdout.suffix(20000))\n\(result.stderr.suffix(5000))")
        if result.status == 3 { Issue.record("Install the Debian packages: apt-get install -y \(Self.packages)") }
    }
}
