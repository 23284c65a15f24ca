import Foundation
import MingaCore
import MingaStore
import MingaSync

/// The documents `--json` prints, as Encodable types: one type per shape, so a field is
/// named and typed in one place. Every member is always present; an unknown one is `null`
/// (``Nullable``), so that a script reads the same keys whatever the node's state. Row
/// values print through ``Output/object(_:)`` instead: their exact form (protocol §3) is not
/// what `JSONEncoder` writes for a number.
enum JSONOutput {
    /// Prints `document` as one line of JSON, keys sorted (so a vector or a table's row
    /// counts print the same every time).
    static func print(_ document: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        Swift.print(String(decoding: try encoder.encode(document), as: UTF8.self))
    }
}

/// An optional member that is written as `null` when absent, where synthesized `Encodable`
/// would leave the key out.
struct Nullable<Wrapped: Encodable>: Encodable {
    let value: Wrapped?

    init(_ value: Wrapped?) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}

/// A held origin (protocol §13), as `minga status --json` and `minga sync --json` list it.
struct HeldJSON: Encodable {
    let origin: String
    let firstSeq: Int64
    let count: Int
    let code: String
    let reason: String
    let since: String
    let source: String

    init(_ h: HeldOrigin) {
        (origin, firstSeq, count, code, reason) = (h.origin.rawValue, h.firstSeq, h.count, h.code.rawValue, h.reason)
        (since, source) = (Output.time(h.since), h.source)
    }
}

/// A migration this node holds, as `minga status --json` lists it.
struct MigrationJSON: Encodable {
    let subject: String
    let sql: String
    let origin: Nullable<String>
    let hlc: Nullable<String>
    let error: Nullable<String>

    init(_ m: MigrationRecord) {
        (subject, sql) = (m.migration.subject, m.migration.sql)
        origin = Nullable(m.writer?.origin.rawValue)
        hlc = Nullable(m.writer?.hlc.description)
        error = Nullable(m.error)
    }
}

/// A migration as `minga schema history --json` lists it: what it is, who wrote it, and why
/// it could not run here, if it could not.
struct MigrationHistoryJSON: Encodable {
    let kind: String
    let table: String
    let name: String
    let sql: String
    let origin: Nullable<String>
    let seq: Nullable<Int64>
    let hlc: Nullable<String>
    let error: Nullable<String>

    init(_ m: MigrationRecord) {
        (kind, table, name, sql) = (m.migration.kind.rawValue, m.migration.table, m.migration.name, m.migration.sql)
        origin = Nullable(m.writer?.origin.rawValue)
        seq = Nullable(m.writer?.seq)
        hlc = Nullable(m.writer?.hlc.description)
        error = Nullable(m.error)
    }
}

/// A peer as this node last saw it; `behind` and `peerBehind` count the changes each side
/// lacked of the other at the last contact.
struct PeerJSON: Encodable {
    let url: String
    let nodeId: Nullable<String>
    let lastSuccess: Nullable<String>
    let lastAttempt: Nullable<String>
    let lastError: Nullable<String>
    let heldByPeer: [HeldJSON]
    let behind: Nullable<Int64>
    let peerBehind: Nullable<Int64>

    init(_ p: PeerState, local: VersionVector) {
        let lag = p.lag(local: local)
        (url, nodeId) = (p.url, Nullable(p.nodeID?.rawValue))
        lastSuccess = Nullable(p.lastSuccess.map(Output.time))
        lastAttempt = Nullable(p.lastAttempt.map(Output.time))
        lastError = Nullable(p.lastError)
        heldByPeer = p.heldByPeer.map(HeldJSON.init)
        (behind, peerBehind) = (Nullable(lag?.behind), Nullable(lag?.ahead))
    }
}

/// `minga status --json`.
struct StatusJSON: Encodable {
    let nodeId: String
    let origin: String
    let publicKey: Nullable<String>
    let schemaVersion: String
    let genesisVersion: String
    let migrations: Int
    let lastMigration: Nullable<MigrationJSON>
    let migrationsNotApplied: [MigrationJSON]
    let vector: VersionVector
    let changes: Int
    let openConflicts: Int
    let lastHlc: Nullable<String>
    let rows: [String: Int]
    let pending: Int
    let repairedText: Int
    let untracked: [String]
    let drift: [String]
    let held: [HeldJSON]
    let alteredCopies: Int
    let lastAlteredCopy: Nullable<String>
    let peers: [PeerJSON]

    init(_ report: StatusReport) {
        let (r, s) = (report.replica, report.status)
        (nodeId, origin, publicKey) = (s.nodeID.rawValue, s.origin.rawValue, Nullable(r.publicKey?.base64))
        (schemaVersion, genesisVersion, migrations) = (s.schemaVersion, r.genesisVersion, report.migrations.count)
        lastMigration = Nullable(report.migrations.last.map(MigrationJSON.init))
        migrationsNotApplied = report.notApplied.map(MigrationJSON.init)
        (vector, changes, openConflicts, lastHlc) = (s.vector, s.changes, s.openConflicts, Nullable(s.lastHLC?.description))
        (rows, pending, repairedText, untracked, drift) = (s.rows, s.pending, s.repairedText, s.untracked, s.drift)
        held = report.held.map(HeldJSON.init)
        (alteredCopies, lastAlteredCopy) = (report.altered.count, Nullable(report.altered.last))
        peers = report.peers.map { PeerJSON($0, local: s.vector) }
    }
}

/// One line of `minga sync --json` (and of `minga serve`'s sync log with `--json`).
struct SyncSummaryJSON: Encodable {
    struct TooLarge: Encodable {
        let change: String
        let bytes: Int
        let limit: Int
    }

    struct HeldByPeer: Encodable {
        let origin: String
        let firstSeq: Int64
        let count: Int
        let code: String
        let reason: String
    }

    let peer: String
    let nodeId: Nullable<String>
    let ok: Bool
    let received: Int
    let heldReceived: Int
    /// Held before this sync and applied during it (``SyncSummary/released``).
    let released: Int
    let sent: Int
    let newConflicts: Int
    let bytesReceived: Int
    let bytesSent: Int
    /// Seconds, to the hundredth.
    let seconds: Double
    let retryLater: Bool
    let error: Nullable<String>
    /// The failure's ``MingaError/Code`` raw value (`busy`, `unauthorized`, …), when it has one.
    let errorCode: Nullable<String>
    let held: [HeldJSON]
    let tooLargeForPeer: [TooLarge]
    let heldByPeer: [HeldByPeer]

    init(_ s: SyncSummary) {
        (peer, nodeId, ok) = (s.peer, Nullable(s.peerNode?.rawValue), s.succeeded)
        (received, heldReceived, released, sent, newConflicts) = (s.received, s.heldReceived, s.released, s.sent, s.newConflicts)
        (bytesReceived, bytesSent) = (s.bytesReceived, s.bytesSent)
        seconds = (s.duration.seconds * 100).rounded() / 100
        (retryLater, error, errorCode) = (s.retryLater, Nullable(s.error), Nullable(s.errorCode?.rawValue))
        held = s.held.map(HeldJSON.init)
        tooLargeForPeer = s.tooLargeForPeer.map { TooLarge(change: $0.dot.description, bytes: $0.bytes, limit: $0.limit) }
        heldByPeer = s.heldByPeer.map { HeldByPeer(origin: $0.origin.rawValue, firstSeq: $0.seq, count: $0.count, code: $0.code, reason: $0.reason) }
    }
}

/// A roster entry, as `minga roster list --json` prints them.
struct RosterEntryJSON: Encodable {
    let node: String
    let publicKey: String
    let addedAt: String

    init(_ e: RosterEntry) { (node, publicKey, addedAt) = (e.node.rawValue, e.publicKey.base64, e.addedAt) }
}

/// One change of `minga log --json`: its wire form, and whether its origin's signature vouches for it.
struct AuditedChangeJSON: Encodable {
    let change: Change
    let verified: Bool
    let signature: String

    init(_ entry: AuditedChange) { (change, verified, signature) = (entry.change, entry.signature.isVerified, entry.signature.text) }
}
