import Foundation
import MingaCore
import MingaStore
import Mustache

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

/// The templates, compiled once from the files embedded in the binary (Templates/), so a
/// node installed as one file still has its console.
enum ConsoleTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        let files: [(String, [UInt8])] = [
            ("layout-top", PackageResources.layout_top_mustache), ("layout-bottom", PackageResources.layout_bottom_mustache),
            ("signin", PackageResources.signin_mustache), ("overview", PackageResources.overview_mustache),
            ("conflicts", PackageResources.conflicts_mustache), ("conflict", PackageResources.conflict_mustache),
            ("records", PackageResources.records_mustache), ("record", PackageResources.record_mustache),
            ("roster", PackageResources.roster_mustache), ("message", PackageResources.message_mustache),
        ]
        for (name, bytes) in files {
            // A template that does not parse is a build defect; ConsoleTests render every page.
            try! library.register(String(decoding: bytes, as: UTF8.self), named: name)
        }
        return library
    }()

    static let stylesheet = PackageResources.console_css

    static func render(_ view: Any, _ template: String) -> String {
        library.render(view, withTemplate: template) ?? "template \(template) is missing"
    }
}

// MARK: The pages' models

/// A link and what it reads, built in Swift so that its query is encoded.
struct Link: Sendable {
    let href: String
    let text: String
}

struct OverviewBody: Sendable {
    struct Peer: Sendable {
        let url: String
        let nodeID: String?
        let lastSuccess: String
        let lastAttempt: String
        let lastError: String?
        let lag: String?
        let canSync: Bool
        let heldByPeer: [String]
    }
    struct Held: Sendable {
        let origin: String
        let first: String
        let count: Int
        let code: String
        let explanation: String
        let reason: String
        let since: String
        let source: String
    }
    struct TableCount: Sendable {
        let table: String
        let rows: Int
        let href: String
    }
    let nodeID: String
    let origin: String?
    let schemaVersion: String
    let vector: String
    let changes: Int
    let lastChange: String?
    let openConflicts: Int
    let tables: [TableCount]
    let peers: [Peer]
    let hasPeers: Bool
    let held: [Held]
    let drift: [String]
    let pending: Int
    let hasHeld: Bool
    let hasDrift: Bool
}

struct ConflictListBody: Sendable {
    struct Item: Sendable {
        let id: String
        let shortID: String
        let status: String
        let open: Bool
        let table: String
        let key: String
        let column: String?
        let winner: String
        let loser: String
        let when: String
    }
    struct Choice: Sendable {
        let value: String
        let label: String
        let selected: Bool
    }
    let items: [Item]
    let statuses: [Choice]
    let tables: [Choice]
    let shown: Int
    let total: Int
    let truncated: Bool
    let hasItems: Bool
}

struct ConflictBody: Sendable {
    struct Side: Sendable {
        let value: String
        let origin: String
        let time: String
        let change: String
        let signature: String
        let verified: Bool
    }
    let id: String
    let status: String
    let open: Bool
    let table: String
    let key: String
    /// The row's page.
    let rowHref: String
    let column: String?
    let rowConflict: Bool
    let winner: Side
    let loser: Side
    let resolvedBy: String?
    let resolvedAt: String?
    /// The row as it stands now (none once deleted).
    let cells: [RecordBody.Cell]
    let rowExists: Bool
}

struct RecordsBody: Sendable {
    struct Table: Sendable {
        let name: String
        let rows: Int
        let key: String
        let selected: Bool
        let href: String
    }
    struct Row: Sendable {
        let key: String
        let href: String
        let values: String
    }
    let tables: [Table]
    let key: String
    let error: String?
    /// The table whose rows are listed, a page at a time.
    let table: String?
    let rows: [Row]
    let hasRows: Bool
    let previous: String?
    let next: String?
}

struct RecordBody: Sendable {
    struct Cell: Sendable {
        let column: String
        let value: String
    }
    struct Entry: Sendable {
        let time: String
        let change: String
        let op: String
        let values: String
        let signature: String
        let verified: Bool
    }
    let table: String
    let key: String
    let exists: Bool
    let cells: [Cell]
    let history: [Entry]
    /// Said when only the newest changes are shown.
    let historyNote: String?
}

struct RosterBody: Sendable {
    struct Member: Sendable {
        let node: String
        let publicKey: String
        let addedAt: String
        let this: Bool
    }
    let members: [Member]
}

struct MessageBody: Sendable {
    let heading: String
    let message: String
    let back: String?
    let backLabel: String?
}

struct SignInBody: Sendable {
    let error: String?
}

/// How values and times read on a page.
enum Shown {
    static func time(_ date: Date?) -> String {
        guard let date else { return "—" }
        return date.formatted(.iso8601)
    }

    static func key(_ key: [Value]) -> String {
        key.count == 1 ? cell(key[0]) : "[" + key.map(\.plainJSON).joined(separator: ", ") + "]"
    }

    /// A key as `minga get` and the row search take it back.
    static func keyArgument(_ key: [Value]) -> String {
        if key.count == 1, case .text(let text) = key[0], !text.hasPrefix("[") { return text }
        return "[" + key.map(\.plainJSON).joined(separator: ",") + "]"
    }

    /// A cell as text, and NULL as SQL writes it.
    static func cell(_ value: Value) -> String {
        if case .text(let text) = value { return text }
        if value == .null { return "NULL" }
        return value.plainJSON
    }

    static func vector(_ vector: VersionVector) -> String {
        vector.isEmpty ? "—" : vector.origins.map { "\($0):\(vector[$0])" }.joined(separator: "  ")
    }

    static func columns(_ columns: [String: Value]) -> String {
        columns.keys.sorted().map { "\($0) = \(columns[$0]!.plainJSON)" }.joined(separator: ", ")
    }
}
