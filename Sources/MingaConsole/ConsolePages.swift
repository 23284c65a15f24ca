import Foundation
import MingaCore
import MingaStore

// The pages' own models: what each template opens as `{{#body}}` (see PageView).

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
