import MingaCore

/// What every page shows around its body: the language, the navigation, the session's
/// CSRF token for forms, a message left by the last action. `body` is the page's own model;
/// templates open it with `{{#body}}`, and reach `t` (the words) from inside.
struct PageView<Body>: Sendable where Body: Sendable {
    let lang: String
    let t: [String: String]
    let title: String
    let node: String
    let version: String
    let csrf: String
    let signedIn: Bool
    let signOut: Bool
    let flash: ConsoleSessions.Flash?
    let active: [String: Bool]
    let languages: [LanguageLink]
    let body: Body
}

struct LanguageLink: Sendable {
    let code: String
    let name: String
    let current: Bool
    let href: String
}
