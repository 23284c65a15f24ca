import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MingaCore
import MingaStore
import MingaSync
import MingaTestSupport
import NIOCore
import Testing

@testable import MingaConsole

extension Fixture {
    /// The operator token the console apps accept by default.
    static let token = "operator-secret-0123456789"

    /// A replica on ``initiativesSchema`` whose key derives from its id and whose roster lists
    /// mx.amexcid and co.apc.
    static func replica(_ id: String) throws -> Replica {
        try replica(id, schema: initiativesSchema, roster: ["mx.amexcid", "co.apc"])
    }

    /// mx.amexcid holding one open conflict on initiatives.title (co.apc's value against its own).
    static func conflicted() async throws -> (Replica, ConflictRecord) {
        let mx = try replica("mx.amexcid")
        let co = try replica("co.apc")
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("Agua potable")])
        _ = try await co.apply(ChangeBatch(changes: try await mx.changes(above: VersionVector(), limit: 100, maxBytes: 1 << 20)))
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("Agua potable rural")])
        try co.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("Agua y saneamiento")])
        _ = try await mx.apply(ChangeBatch(changes: try await co.changes(above: VersionVector(), limit: 100, maxBytes: 1 << 20)))
        let record = try #require(try mx.conflicts().first)
        return (mx, record)
    }

    /// The node's app with the console added, taking `tokens` as operator tokens and setting
    /// `Secure` on its cookies when `secure`.
    static func consoleApp(_ replica: Replica, tokens: Set<String> = [token], secure: Bool = false) throws -> some ApplicationProtocol {
        var console = ConsoleConfiguration()
        console.tokens = tokens
        console.secureCookies = secure
        return try app(
            replica,
            moreRoutes: { addConsole(to: $0, replica: replica, configuration: console, version: "test", logger: Logger(label: "test")) }
        )
    }

    /// `fields` as an `application/x-www-form-urlencoded` body.
    static func form(_ fields: [String: String]) -> ByteBuffer {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return ByteBuffer(
            string: fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
        )
    }

    /// The `Content-Type` header of a form's body.
    static let formType: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    /// Signs in; returns the `Cookie` header value of the session.
    static func signIn(_ client: some TestClientProtocol) async throws -> String {
        let answer = try await client.execute(uri: "/console/signin", method: .post, headers: formType, body: form(["token": token]))
        #expect(answer.status == .seeOther)
        let setCookie = try #require(answer.headers[.setCookie])
        return String(setCookie.split(separator: ";")[0])
    }

    /// The CSRF token a page's forms carry.
    static func csrf(_ page: String) throws -> String {
        let match = try #require(page.firstMatch(of: /name="csrf" value="([^"]+)"/))
        return String(match.1)
    }
}

@Suite struct ConsoleAccessTests {
    @Test func signingInTakesAnOperatorTokenAndSetsAStrictHttpOnlyCookie() async throws {
        let (node, _) = try await Fixture.conflicted()
        try await Fixture.consoleApp(node).test(.router) { client in
            let anonymous = try await client.execute(uri: "/console", method: .get)
            #expect(anonymous.status == .seeOther && anonymous.headers[.location] == "/console/signin")
            let wrong = try await client.execute(
                uri: "/console/signin",
                method: .post,
                headers: Fixture.formType,
                body: Fixture.form(["token": "guess"])
            )
            #expect(wrong.status == .unauthorized && wrong.headers[.setCookie] == nil)
            #expect(String(buffer: wrong.body).contains(#"class="error""#))

            let answer = try await client.execute(
                uri: "/console/signin",
                method: .post,
                headers: Fixture.formType,
                body: Fixture.form(["token": Fixture.token])
            )
            let cookie = try #require(answer.headers[.setCookie])
            #expect(
                cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/console") && !cookie.contains("Secure")
            )
            let session = String(cookie.split(separator: ";")[0])
            let overview = try await client.execute(uri: "/console", method: .get, headers: [.cookie: session])
            #expect(overview.status == .ok)
            let page = String(buffer: overview.body)
            #expect(page.contains(#"<span id="node-id" class="value">mx.amexcid</span>"#))
            #expect(page.contains(#"<span id="open-conflicts" class="value">1</span>"#))
            #expect(overview.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
        }
    }

    @Test func aPeersBearerTokenDoesNotOpenTheConsole() async throws {
        let node = try Fixture.replica("mx.amexcid")
        var server = ServerConfiguration()
        server.tokens = ["peer-token"]
        let app = try buildApplication(
            replica: node,
            configuration: server,
            metrics: SyncMetrics(),
            logger: Logger(label: "test"),
            moreRoutes: { router in
                var console = ConsoleConfiguration()
                console.tokens = [Fixture.token]
                addConsole(to: router, replica: node, configuration: console, version: "test", logger: Logger(label: "test"))
            }
        )
        try await app.test(.router) { client in
            let signIn = try await client.execute(
                uri: "/console/signin",
                method: .post,
                headers: Fixture.formType,
                body: Fixture.form(["token": "peer-token"])
            )
            #expect(signIn.status == .unauthorized)
            let bearer = try await client.execute(uri: "/console", method: .get, headers: [.authorization: "Bearer peer-token"])
            #expect(bearer.status == .seeOther)
        }
    }

    @Test func underTLSTheCookieIsSecure() async throws {
        try await Fixture.consoleApp(try Fixture.replica("mx.amexcid"), secure: true).test(.router) { client in
            let answer = try await client.execute(
                uri: "/console/signin",
                method: .post,
                headers: Fixture.formType,
                body: Fixture.form(["token": Fixture.token])
            )
            #expect(answer.headers[.setCookie]?.contains("Secure") == true)
        }
    }

    @Test func anActionWithoutSessionOrCSRFTokenChangesNothing() async throws {
        let (node, record) = try await Fixture.conflicted()
        let resolve = "/console/conflicts/\(record.conflict.id)/resolve"
        @Sendable func stillOpen() throws -> Bool { try node.conflict(id: record.conflict.id).conflict.status == .open }
        try await Fixture.consoleApp(node).test(.router) { client in
            let noSession = try await client.execute(
                uri: resolve,
                method: .post,
                headers: Fixture.formType,
                body: Fixture.form(["action": "take-loser"])
            )
            #expect(noSession.status == .forbidden)
            #expect(try stillOpen())

            let session = try await Fixture.signIn(client)
            var headers = Fixture.formType
            headers[.cookie] = session
            let noToken = try await client.execute(uri: resolve, method: .post, headers: headers, body: Fixture.form(["action": "take-loser"]))
            #expect(noToken.status == .forbidden)
            let wrongToken = try await client.execute(
                uri: resolve,
                method: .post,
                headers: headers,
                body: Fixture.form(["action": "take-loser", "csrf": "forged"])
            )
            #expect(wrongToken.status == .forbidden)
            let sync = try await client.execute(
                uri: "/console/peers/sync",
                method: .post,
                headers: Fixture.formType,
                body: Fixture.form(["peer": "http://127.0.0.1:9"])
            )
            #expect(sync.status == .forbidden)
            #expect(try stillOpen())

            // The same request with the page's token goes through: the token is what gated it.
            let page = try await client.execute(uri: "/console/conflicts/\(record.conflict.id)", method: .get, headers: [.cookie: session])
            let csrf = try Fixture.csrf(String(buffer: page.body))
            let done = try await client.execute(
                uri: resolve,
                method: .post,
                headers: headers,
                body: Fixture.form(["action": "take-loser", "csrf": csrf])
            )
            #expect(done.status == .seeOther)
            #expect(try !stillOpen())
            #expect(try node.get(table: "initiatives", key: [.text("XM-1")])?.first { $0.0 == "title" }?.1 == record.loser.value)
        }
    }

    @Test func withoutOperatorTokensTheConsoleAnswersOnlyOnLoopback() async throws {
        let node = try Fixture.replica("mx.amexcid")
        // The in-process router has no client address: not loopback.
        try await Fixture.consoleApp(node, tokens: []).test(.router) { client in
            let answer = try await client.execute(uri: "/console", method: .get)
            #expect(answer.status == .forbidden)
        }
        try await Fixture.consoleApp(node, tokens: []).test(.live) { client in
            let answer = try await client.execute(uri: "/console", method: .get)
            #expect(answer.status == .ok)
            #expect(answer.headers[.setCookie]?.contains("minga_session=") == true, "a session for the CSRF token, without signing in")
        }
    }

    @Test func aSignedOutSessionNoLongerWorks() async throws {
        try await Fixture.consoleApp(try Fixture.replica("mx.amexcid")).test(.router) { client in
            let session = try await Fixture.signIn(client)
            let page = try await client.execute(uri: "/console", method: .get, headers: [.cookie: session])
            var headers = Fixture.formType
            headers[.cookie] = session
            let out = try await client.execute(
                uri: "/console/signout",
                method: .post,
                headers: headers,
                body: Fixture.form(["csrf": try Fixture.csrf(String(buffer: page.body))])
            )
            #expect(out.status == .seeOther)
            #expect(out.headers[.setCookie]?.contains("minga_session=;") == true && out.headers[.setCookie]?.contains("Max-Age=0") == true)
            let after = try await client.execute(uri: "/console", method: .get, headers: [.cookie: session])
            #expect(after.status == .seeOther && after.headers[.location] == "/console/signin")
        }
    }
}

@Suite struct ConsolePageTests {
    @Test func everyPageRendersWithItsRecords() async throws {
        let (node, record) = try await Fixture.conflicted()
        try await Fixture.consoleApp(node).test(.router) { client in
            let session = try await Fixture.signIn(client)
            func page(_ uri: String) async throws -> String {
                let answer = try await client.execute(uri: uri, method: .get, headers: [.cookie: session])
                #expect(answer.status == .ok, "\(uri)")
                return String(buffer: answer.body)
            }
            let conflicts = try await page("/console/conflicts")
            #expect(conflicts.contains(#"data-id="\#(record.conflict.id)" data-status="open""#))
            #expect(try await page("/console/conflicts?status=resolved").contains(#"id="no-conflicts""#))
            #expect(try await page("/console/conflicts?table=nothing").contains(#"id="no-conflicts""#))
            let conflict = try await page("/console/conflicts/\(record.conflict.id)")
            #expect(conflict.contains(#"<pre id="winner-value" class="value">&quot;"#))
            #expect(conflict.contains("Agua potable rural") && conflict.contains("Agua y saneamiento"))
            #expect(conflict.contains(#"id="take-loser""#) && conflict.contains(#"id="enter-value""#))
            #expect(conflict.contains("verified (signed at"))
            #expect(conflict.contains(#"<table id="row"><tbody><tr><th>id</th><td class="value">XM-1</td>"#), "the row as it stands")
            let row = try await page("/console/records/row?table=initiatives&key=XM-1")
            #expect(row.components(separatedBy: #"<tr class="change">"#).count - 1 == 3)
            #expect(try await page("/console/records").contains(#"data-table="initiatives""#))
            #expect(try await page("/console/roster").contains(#"data-node="co.apc""#))
            let missing = try await client.execute(uri: "/console/records/row?table=initiatives&key=nope", method: .get, headers: [.cookie: session])
            #expect(missing.status == .notFound)
            #expect(String(buffer: missing.body).contains("nope"))
            #expect(try await page("/console/records?table=initiatives&page=9223372036854775807").contains(#"id="previous""#))
            try node.put(table: "initiatives", row: ["id": .text("a&lang=es#x"), "title": .text("tricky key")])
            #expect(
                try await page("/console/records?table=initiatives").contains(
                    #"href="/console/records/row?key=a%26lang%3Des%23x&amp;table=initiatives""#
                )
            )
            let listing = try await page("/console/records?table=initiatives")
            #expect(listing.contains(#"<a href="/console/records/row?key=XM-1&amp;table=initiatives">XM-1</a>"#))
            let unknown = try await client.execute(uri: "/console/nothing/here", method: .get, headers: [.cookie: session])
            #expect(unknown.status == .notFound && unknown.headers[.contentType]?.hasPrefix("text/html") == true)
            // The language switch keeps what the page shows.
            #expect(try await page("/console/conflicts?status=resolved").contains(#"href="/console/conflicts?lang=es&amp;status=resolved""#))
        }
    }

    @Test func aDeleteAgainstAnUpdateSaysWhatEachChoiceDoes() async throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        try mx.put(table: "initiatives", row: ["id": .text("XM-2"), "title": .text("Riego")])
        _ = try await co.apply(ChangeBatch(changes: try await mx.changes(above: VersionVector(), limit: 100, maxBytes: 1 << 20)))
        try mx.transaction { _ = try $0.delete(table: "initiatives", key: [.text("XM-2")]) }
        try co.put(table: "initiatives", row: ["id": .text("XM-2"), "title": .text("Riego tecnificado")])
        _ = try await mx.apply(ChangeBatch(changes: try await co.changes(above: try await mx.vector(), limit: 100, maxBytes: 1 << 20)))
        let record = try #require(try mx.conflicts().first)
        #expect(record.conflict.column == nil)
        try await Fixture.consoleApp(mx).test(.router) { client in
            let session = try await Fixture.signIn(client)
            let page = try await client.execute(uri: "/console/conflicts/\(record.conflict.id)", method: .get, headers: [.cookie: session])
            let text = String(buffer: page.body)
            #expect(text.contains(#"id="row-conflict-help""#) && text.contains("deleted the row"))
        }
        let (column, _) = try await Fixture.conflicted()
        try await Fixture.consoleApp(column).test(.router) { client in
            let session = try await Fixture.signIn(client)
            let id = try #require(try column.conflicts().first).conflict.id
            let page = try await client.execute(uri: "/console/conflicts/\(id)", method: .get, headers: [.cookie: session])
            #expect(!String(buffer: page.body).contains(#"id="row-conflict-help""#), "a column conflict deletes nothing")
        }
    }

    @Test func theValueAnOperatorTypesIsWrittenAsTheResolution() async throws {
        let (node, record) = try await Fixture.conflicted()
        try await Fixture.consoleApp(node).test(.router) { client in
            let session = try await Fixture.signIn(client)
            let page = try await client.execute(uri: "/console/conflicts/\(record.conflict.id)", method: .get, headers: [.cookie: session])
            var headers = Fixture.formType
            headers[.cookie] = session
            let csrf = try Fixture.csrf(String(buffer: page.body))
            let bad = try await client.execute(
                uri: "/console/conflicts/\(record.conflict.id)/resolve",
                method: .post,
                headers: headers,
                body: Fixture.form(["action": "value", "value": "not json", "csrf": csrf])
            )
            #expect(bad.status == .badRequest)
            let answer = try await client.execute(
                uri: "/console/conflicts/\(record.conflict.id)/resolve",
                method: .post,
                headers: headers,
                body: Fixture.form(["action": "value", "value": "\"Agua, saneamiento e higiene\"", "csrf": csrf])
            )
            #expect(answer.status == .seeOther)
            let after = try await client.execute(uri: answer.headers[.location]!, method: .get, headers: [.cookie: session])
            let text = String(buffer: after.body)
            #expect(text.contains(#"data-status="resolved""#) && text.contains(#"id="flash""#))
            #expect(try node.get(table: "initiatives", key: [.text("XM-1")])?.first { $0.0 == "title" }?.1 == .text("Agua, saneamiento e higiene"))
        }
    }

    @Test func theLanguageFollowsTheBrowserAndTheSwitchSticks() async throws {
        try await Fixture.consoleApp(try Fixture.replica("mx.amexcid")).test(.router) { client in
            let spanish = try await client.execute(uri: "/console/signin", method: .get, headers: [.acceptLanguage: "es-CO,es;q=0.9,en;q=0.5"])
            #expect(String(buffer: spanish.body).contains(#"<html lang="es">"#))
            #expect(String(buffer: spanish.body).contains("Iniciar sesión"))
            let portuguese = try await client.execute(uri: "/console/signin", method: .get, headers: [.acceptLanguage: "fr, pt-BR;q=0.8, es;q=0.5"])
            #expect(String(buffer: portuguese.body).contains(#"<html lang="pt">"#))
            let unknown = try await client.execute(uri: "/console/signin", method: .get, headers: [.acceptLanguage: "de"])
            #expect(String(buffer: unknown.body).contains(#"<html lang="en">"#))
            let switched = try await client.execute(uri: "/console/signin?lang=pt", method: .get, headers: [.acceptLanguage: "es"])
            #expect(String(buffer: switched.body).contains(#"<html lang="pt">"#))
            let cookie = try #require(switched.headers[.setCookie])
            #expect(cookie.hasPrefix("minga_lang=pt"))
            let kept = try await client.execute(uri: "/console/signin", method: .get, headers: [.acceptLanguage: "es", .cookie: "minga_lang=pt"])
            #expect(String(buffer: kept.body).contains(#"<html lang="pt">"#))
        }
    }

    @Test func anyAcceptLanguageIsReadWithoutFault() {
        for header in [";", ",;", ";;", "", ",", "es;q=", "es;q=abc", "-", "*", "pt-BR;q=0.9;x=y"] {
            _ = ConsoleText.negotiate(choice: nil, acceptLanguage: header)
        }
        #expect(ConsoleText.negotiate(choice: nil, acceptLanguage: ";, es;q=0.5") == "es")
        #expect(ConsoleText.negotiate(choice: nil, acceptLanguage: ";") == "en")
    }

    @Test func formsAndQueriesAreDecodedAsBrowsersEncodeThem() {
        let fields = ConsoleRoutes.fields("key=%5B%22XM-1%22%2C+%22title%22%5D&plus=a%2Bb&empty=&key=second")
        #expect(fields["key"] == #"["XM-1", "title"]"#)
        #expect(fields["plus"] == "a+b" && fields["empty"] == "")
        #expect(ConsoleRoutes.fields(ConsoleRoutes.encode(["key": #"["a", "b"]"#, "t": "x&y=z"])) == ["key": #"["a", "b"]"#, "t": "x&y=z"])
    }

    @Test func everyLanguageHasEveryWordTheTemplatesUse() throws {
        let english = Set(ConsoleText.catalogs["en"]!.keys)
        #expect(english.count > 50)
        for language in ConsoleText.languages {
            #expect(Set(ConsoleText.catalogs[language]!.keys) == english, "\(language) has the same keys as en")
        }
        let templates = [
            PackageResources.layout_top_mustache, PackageResources.layout_bottom_mustache, PackageResources.signin_mustache,
            PackageResources.overview_mustache, PackageResources.conflicts_mustache, PackageResources.conflict_mustache,
            PackageResources.records_mustache, PackageResources.record_mustache, PackageResources.roster_mustache,
            PackageResources.message_mustache,
        ].map { String(decoding: $0, as: UTF8.self) }.joined()
        let used = Set(templates.matches(of: /\{\{t\.([a-z_]+)\}\}/).map { String($0.1) })
        #expect(used.count > 40)
        #expect(used.subtracting(english).isEmpty, "templates use words no catalog has: \(used.subtracting(english).sorted())")
    }
}
