import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import Logging
import MingaCore
import MingaStore
import MingaSync

/// Mounts the operator's console on a node's router, under `/console`.
///
/// Pages are rendered on the server from the templates in Templates/ and need no script.
/// Reading pages answer GET; every action (sign in and out, resolve a conflict, sync with a
/// peer) is a POST that must carry the session cookie and the session's CSRF token, and is
/// logged with the client's address. A resolution is written exactly as `minga conflicts
/// resolve` writes it: a new signed change in the log, which syncs to every node.
public func addConsole(
    to router: Router<MingaRequestContext>,
    replica: Replica,
    configuration: ConsoleConfiguration,
    version: String,
    logger: Logger
) {
    let console = ConsoleRoutes(
        replica: replica,
        configuration: configuration,
        version: version,
        logger: logger,
        sessions: ConsoleSessions(idle: configuration.idleSession)
    )
    let group = router.group("console")
    group.get { request, context in await console.page(request, context) { try console.overview($0) } }
    group.get("conflicts") { request, context in await console.page(request, context) { try console.conflictList($0) } }
    group.get("conflicts/:id") { request, context in
        let id = context.parameters.get("id") ?? ""
        return await console.page(request, context) { try console.conflict($0, id: id) }
    }
    group.post("conflicts/:id/resolve") { request, context in
        let id = context.parameters.get("id") ?? ""
        return await console.action(request, context) { try await console.resolve($0, id: id) }
    }
    group.post("peers/sync") { request, context in await console.action(request, context) { try await console.syncNow($0) } }
    group.get("records") { request, context in await console.page(request, context) { try console.records($0) } }
    group.get("records/row") { request, context in await console.page(request, context) { try console.record($0) } }
    group.get("roster") { request, context in await console.page(request, context) { try console.roster($0) } }
    group.get("signin") { request, context in await console.signInPage(request, context) }
    group.post("signin") { request, context in await console.signIn(request, context) }
    group.post("signout") { request, context in await console.action(request, context) { try await console.signOut($0) } }
    group.get("**") { request, context in
        await console.page(request, context) { visit in
            .page(
                status: .notFound,
                title: visit.text("not_found_title"),
                template: "message",
                body: MessageBody(
                    heading: visit.text("not_found_title"),
                    message: visit.text("not_found"),
                    back: "/console",
                    backLabel: visit.text("nav_overview")
                )
            )
        }
    }
    group.get("static/console.css") { _, _ in
        Response(
            status: .ok,
            headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
            body: .init(byteBuffer: ByteBuffer(bytes: ConsoleTemplates.stylesheet))
        )
    }
}

/// One request as the console sees it: who (the session), in which language, and the
/// cookies to set on the answer.
struct Visit {
    let request: Request
    let text: ConsoleText
    let sessionID: String
    let session: ConsoleSessions.Session
    var cookies: [Cookie]
    /// The form fields of a POST.
    var form: [String: String] = [:]

    /// A query parameter, decoded as browsers encode forms (`+` for a space).
    func query(_ name: String) -> String? { ConsoleRoutes.fields(request.uri.query ?? "")[name] }
}

/// A request let in, or the answer that refuses it.
enum ConsoleAdmission {
    case admitted(Visit)
    case refused(Response)
}

/// What a handler answers: a page to render in the common frame, or a redirect.
enum Outcome {
    case page(status: HTTPResponse.Status = .ok, title: String, template: String, body: any Sendable)
    case redirect(String)
    /// A redirect that also tells the browser to forget the session cookie.
    case signedOut(String)
}

struct ConsoleRoutes: Sendable {
    let replica: Replica
    let configuration: ConsoleConfiguration
    let version: String
    let logger: Logger
    let sessions: ConsoleSessions

    static let sessionCookie = "minga_session"
    static let languageCookie = "minga_lang"
    /// The largest form a console POST may bring.
    static let maxFormBytes = 256 << 10

    // MARK: Access

    /// Admits a request, or answers it: off loopback without operator tokens, 403; without a
    /// session, sign in first (or, with no tokens, a session is opened for a page view).
    func admit(_ request: Request, _ context: MingaRequestContext, changing: Bool) -> ConsoleAdmission {
        var cookies: [Cookie] = []
        let text = language(request, &cookies)
        guard !configuration.tokens.isEmpty || Self.isLocal(request, context) else {
            return .refused(message(text, cookies, .forbidden, text("loopback_only_title"), text("loopback_only")))
        }
        guard !changing || Self.isSameOrigin(request) else {
            return .refused(message(text, cookies, .forbidden, text("forbidden_title"), text("bad_csrf")))
        }
        let cookieID = request.cookies[Self.sessionCookie]?.value
        if let cookieID, let session = sessions.session(cookieID) {
            return .admitted(Visit(request: request, text: text, sessionID: cookieID, session: session, cookies: cookies))
        }
        if changing {
            return .refused(
                message(text, cookies, .forbidden, text("forbidden_title"), text("no_session"), back: ("/console/signin", text("signin_title")))
            )
        }
        guard configuration.tokens.isEmpty else { return .refused(redirect("/console/signin", cookies)) }
        let id = sessions.open()
        cookies.append(sessionCookie(id))
        return .admitted(Visit(request: request, text: text, sessionID: id, session: sessions.session(id)!, cookies: cookies))
    }

    /// A request from a person on this machine: from a loopback address, to a loopback name
    /// (a page of another site that rebinds its DNS name to 127.0.0.1 reaches the address, but
    /// under its own name), and not relayed by a proxy on this machine for someone elsewhere.
    static func isLocal(_ request: Request, _ context: MingaRequestContext) -> Bool {
        guard context.isLoopback else { return false }
        for header in ["Forwarded", "X-Forwarded-For", "X-Real-IP"] where request.headers[HTTPField.Name(header)!] != nil { return false }
        guard let authority = request.head.authority else { return false }
        let host = authority.hasPrefix("[") ? String(authority.prefix { $0 != "]" }.dropFirst()) : String(authority.split(separator: ":").first ?? "")
        return ["localhost", "127.0.0.1", "::1"].contains(host.lowercased())
    }

    /// Whether a POST comes from the console's own pages: a browser names the page's origin
    /// (`Origin`, and `Sec-Fetch-Site`), which must be this very host; a client that names
    /// none (curl, a script) is judged by its session and CSRF token alone.
    static func isSameOrigin(_ request: Request) -> Bool {
        if request.headers[HTTPField.Name("Sec-Fetch-Site")!]?.lowercased() == "cross-site" { return false }
        guard let origin = request.headers[HTTPField.Name("Origin")!], origin != "null" else { return true }
        guard let authority = request.head.authority, let url = URL(string: origin), let host = url.host else { return false }
        let named = url.port.map { "\(host):\($0)" } ?? host
        let bracketed = host.contains(":") ? "[\(host)]" + (url.port.map { ":\($0)" } ?? "") : named
        return authority.lowercased() == named.lowercased() || authority.lowercased() == bracketed.lowercased()
    }

    /// The language of the answer; `?lang=` also sets the cookie that keeps the choice.
    func language(_ request: Request, _ cookies: inout [Cookie]) -> ConsoleText {
        let asked = request.uri.queryParameters["lang"].map(String.init)
        if let asked, ConsoleText.languages.contains(asked) {
            cookies.append(
                Cookie(
                    name: Self.languageCookie,
                    value: asked,
                    maxAge: 365 * 86400,
                    path: "/console",
                    secure: configuration.secureCookies,
                    httpOnly: true,
                    sameSite: .strict
                )
            )
        }
        let chosen = asked ?? request.cookies[Self.languageCookie]?.value
        return ConsoleText(language: ConsoleText.negotiate(choice: chosen, acceptLanguage: request.headers[.acceptLanguage]))
    }

    func sessionCookie(_ id: String, expired: Bool = false) -> Cookie {
        Cookie(
            name: Self.sessionCookie,
            value: expired ? "" : id,
            maxAge: expired ? 0 : nil,
            path: "/console",
            secure: configuration.secureCookies,
            httpOnly: true,
            sameSite: .strict
        )
    }

    /// A page view: admitted, then rendered in the frame; a failure shows as a page.
    func page(_ request: Request, _ context: MingaRequestContext, _ handler: (Visit) throws -> Outcome) async -> Response {
        switch admit(request, context, changing: false) {
        case .refused(let response): return response
        case .admitted(let visit):
            do { return answer(try handler(visit), visit) } catch {
                return message(visit.text, visit.cookies, Self.status(of: error), visit.text("error_title"), Self.explain(error), visit: visit)
            }
        }
    }

    /// An action: admitted with a session, its form read, its CSRF token checked, then run
    /// and logged. Whatever fails changes nothing and says why.
    func action(_ request: Request, _ context: MingaRequestContext, _ handler: (Visit) async throws -> Outcome) async -> Response {
        var request = request
        switch admit(request, context, changing: true) {
        case .refused(let response): return response
        case .admitted(var visit):
            guard let form = await Self.form(&request) else {
                return message(visit.text, visit.cookies, .contentTooLarge, visit.text("error_title"), visit.text("form_unreadable"))
            }
            visit.form = form
            guard SecretComparison.matches(form["csrf"] ?? "", any: [visit.session.csrf]) else {
                logger.warning("console: \(request.method) \(request.uri.path) from \(Self.client(context)) refused: no valid CSRF token")
                return message(visit.text, visit.cookies, .forbidden, visit.text("forbidden_title"), visit.text("bad_csrf"))
            }
            do {
                let outcome = try await handler(visit)
                logger.notice("console: \(request.method) \(request.uri.path) from \(Self.client(context)) done")
                return answer(outcome, visit)
            } catch {
                logger.notice("console: \(request.method) \(request.uri.path) from \(Self.client(context)) failed: \(Self.explain(error))")
                // Back to the page the form was on (a conflict's, for a resolution).
                let path = request.uri.path
                let back = path.hasSuffix("/resolve") ? String(path.dropLast("/resolve".count)) : "/console"
                return message(
                    visit.text,
                    visit.cookies,
                    .badRequest,
                    visit.text("error_title"),
                    Self.explain(error),
                    visit: visit,
                    back: (back, visit.text("back"))
                )
            }
        }
    }

    static func client(_ context: MingaRequestContext) -> String { context.remoteAddress?.description ?? "an unknown address" }

    /// An error in words for the operator: the database's own message without the SQL it ran.
    static func explain(_ error: any Error) -> String {
        if let error = error as? MingaError { return error.message }
        if let explained = StoreFailure.explain(error) { return explained }
        if let error = error as? DatabaseError { return error.message ?? "\(error.resultCode)" }
        return "\(error)"
    }

    /// 404 for what does not exist, 400 for what the operator asked wrongly, 500 for the node's own trouble.
    static func status(of error: any Error) -> HTTPResponse.Status {
        guard let error = error as? MingaError else { return error is DatabaseError ? .badRequest : .internalServerError }
        switch error.code {
        case .notFound: return .notFound
        case .damaged, .failed: return .internalServerError
        case .unavailable: return .serviceUnavailable
        default: return .badRequest
        }
    }

    /// The fields of an `application/x-www-form-urlencoded` body; `nil` if it is too large or unreadable.
    static func form(_ request: inout Request) async -> [String: String]? {
        guard let body = try? await request.collectBody(upTo: maxFormBytes) else { return nil }
        return fields(String(buffer: body))
    }

    /// `a=1&b=x+y` as browsers send forms (WHATWG URL, application/x-www-form-urlencoded):
    /// `+` is a space, `%XX` a byte of UTF-8. A name given twice keeps its first value.
    static func fields(_ encoded: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in encoded.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                $0.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            if fields[parts[0]] == nil { fields[parts[0]] = parts.count > 1 ? parts[1] : "" }
        }
        return fields
    }

    // MARK: Answers

    func answer(_ outcome: Outcome, _ visit: Visit) -> Response {
        switch outcome {
        case .redirect(let location): return redirect(location, visit.cookies)
        case .signedOut(let location): return redirect(location, visit.cookies + [sessionCookie("", expired: true)])
        case .page(let status, let title, let template, let body):
            let view = frame(visit.text, title: title, body: body, visit: visit)
            return html(ConsoleTemplates.render(view, template), status: status, cookies: visit.cookies)
        }
    }

    func frame<Body: Sendable>(_ text: ConsoleText, title: String, body: Body, visit: Visit?) -> PageView<Body> {
        let request = visit?.request
        // The path as the router matched it, without the doubled slashes a client may send
        // (a link to `//console` would name another host).
        let path =
            request?.method == .get
            ? "/" + request!.uri.path.split(separator: "/").joined(separator: "/") : "/console"
        let section = path.split(separator: "/").dropFirst().first.map(String.init) ?? "overview"
        var query = request?.method == .get ? Self.fields(request!.uri.query ?? "") : [:]
        query["lang"] = nil
        return PageView(
            lang: text.language,
            t: text.words,
            title: title,
            node: replica.nodeID.rawValue,
            version: version,
            csrf: visit?.session.csrf ?? "",
            signedIn: visit != nil,
            signOut: visit != nil && !configuration.tokens.isEmpty,
            flash: visit.flatMap { sessions.takeFlash($0.sessionID) },
            active: [section: true],
            languages: ConsoleText.languages.map { language in
                var link = query
                link["lang"] = language
                return LanguageLink(
                    code: language,
                    name: ConsoleText(language: language)("language_name"),
                    current: language == text.language,
                    href: path + "?" + Self.encode(link)
                )
            },
            body: body
        )
    }

    /// Form fields as a query string, sorted by name.
    static func encode(_ fields: [String: String]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.keys.sorted().map { "\($0)=\(fields[$0]!.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
    }

    func message(
        _ text: ConsoleText,
        _ cookies: [Cookie],
        _ status: HTTPResponse.Status,
        _ heading: String,
        _ message: String,
        visit: Visit? = nil,
        back: (href: String, label: String)? = nil
    ) -> Response {
        let link = back ?? visit.map { _ in ("/console", text("back")) }
        let body = MessageBody(heading: heading, message: message, back: link?.0, backLabel: link?.1)
        let view = frame(text, title: heading, body: body, visit: visit)
        return html(ConsoleTemplates.render(view, "message"), status: status, cookies: cookies)
    }

    func html(_ page: String, status: HTTPResponse.Status, cookies: [Cookie]) -> Response {
        var response = Response(status: status, headers: Self.securityHeaders, body: .init(byteBuffer: ByteBuffer(string: page)))
        response.headers[.contentType] = "text/html; charset=utf-8"
        for cookie in cookies { response.setCookie(cookie) }
        return response
    }

    func redirect(_ location: String, _ cookies: [Cookie]) -> Response {
        var response = Response(status: .seeOther, headers: Self.securityHeaders)
        response.headers[.location] = location
        for cookie in cookies { response.setCookie(cookie) }
        return response
    }

    /// No scripts, no framing, nothing cached: the pages show a registry's records.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .xContentTypeOptions: "nosniff", .cacheControl: "no-store", HTTPField.Name("Referrer-Policy")!: "no-referrer",
    ]

    // MARK: Signing in

    func signInPage(_ request: Request, _ context: MingaRequestContext) async -> Response {
        var cookies: [Cookie] = []
        let text = language(request, &cookies)
        guard !configuration.tokens.isEmpty else { return redirect("/console", cookies) }
        let view = frame(text, title: text("signin_title"), body: SignInBody(error: nil), visit: nil)
        return html(ConsoleTemplates.render(view, "signin"), status: .ok, cookies: cookies)
    }

    /// Checks an operator token. A wrong one waits a second before the answer, so guessing is slow.
    func signIn(_ request: Request, _ context: MingaRequestContext) async -> Response {
        var request = request
        var cookies: [Cookie] = []
        let text = language(request, &cookies)
        guard !configuration.tokens.isEmpty else { return redirect("/console", cookies) }
        let token = (await Self.form(&request))?["token"] ?? ""
        guard SecretComparison.matches(token.trimmingCharacters(in: .whitespaces), any: configuration.tokens) else {
            logger.warning("console: sign-in from \(Self.client(context)) refused: wrong token")
            guard let slot = sessions.nextFailedSignIn() else {
                let view = frame(text, title: text("signin_title"), body: SignInBody(error: text("signin_too_many")), visit: nil)
                return html(ConsoleTemplates.render(view, "signin"), status: .tooManyRequests, cookies: cookies)
            }
            try? await Task.sleep(until: slot)
            let view = frame(text, title: text("signin_title"), body: SignInBody(error: text("signin_wrong")), visit: nil)
            return html(ConsoleTemplates.render(view, "signin"), status: .unauthorized, cookies: cookies)
        }
        let id = sessions.open()
        logger.notice("console: operator signed in from \(Self.client(context))")
        return redirect("/console", cookies + [sessionCookie(id)])
    }

    func signOut(_ visit: Visit) async throws -> Outcome {
        sessions.close(visit.sessionID)
        return .signedOut(configuration.tokens.isEmpty ? "/console" : "/console/signin")
    }
}
