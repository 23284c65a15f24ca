import Foundation
import GRDB
import MingaCore

/// An origin whose changes this node holds back (protocol §13): what an operator sees in
/// `minga status`, `/metrics` and the sync summary.
public struct HeldOrigin: Sendable, Equatable, Codable {
    public var origin: NodeID
    /// The sequence number of its first held change: the vector stays below it.
    public var firstSeq: Int64
    /// How many of its changes are held.
    public var count: Int
    /// Why, as a code (`clock_ahead`, `unknown_origin`, …, protocol §13) and in words.
    public var code: MingaError.Code
    public var reason: String
    /// When the first of them was first held (seconds since 1970, UTC).
    public var since: Date
    /// Where they came from: `pull <url>`, `push from <peer>`, `bundle <file>`.
    public var source: String

    public var first: Dot { Dot(origin: origin, seq: firstSeq) }

    public init(origin: NodeID, firstSeq: Int64, count: Int, code: MingaError.Code, reason: String, since: Date, source: String) {
        (self.origin, self.firstSeq, self.count, self.code, self.reason, self.since, self.source) = (
            origin, firstSeq, count, code, reason, since, source
        )
    }
}

extension Replica {
    /// Held changes, each in wire JSON, in the order they arrived (which is causal), with the
    /// refusal that holds it: its own, or `held_behind` for one that waits behind another.
    static let heldSQL = """
        CREATE TABLE IF NOT EXISTS minga_held(
            origin TEXT NOT NULL, seq INTEGER NOT NULL, arrival INTEGER NOT NULL, change TEXT NOT NULL, signed INTEGER NOT NULL,
            code TEXT NOT NULL, reason TEXT NOT NULL, since REAL NOT NULL, source TEXT NOT NULL,
            PRIMARY KEY (origin, seq));
        CREATE INDEX IF NOT EXISTS minga_held_arrival ON minga_held(arrival);
        """

    /// Replicas made before held changes existed get the table when first opened.
    static func upgradeHeld(_ writer: any DatabaseWriter) throws {
        guard try writer.read({ try !$0.tableExists("minga_held") }) else { return }
        try writer.write { db in try db.execute(sql: heldSQL) }
    }

    /// Per held origin, the first held sequence number above `vector`.
    func heldFrom(_ db: Database, vector: VersionVector) throws -> [NodeID: Int64] {
        var held: [NodeID: Int64] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT origin, min(seq) FROM minga_held GROUP BY origin")) {
            let origin = try NodeID(row[0] as String)
            held[origin] = max(row[1] as Int64, vector[origin] + 1)
        }
        return held
    }

    /// The origins this node holds changes of, first held change first.
    public func heldOrigins() throws -> [HeldOrigin] {
        try writer.read { db in try heldOrigins(db) }
    }

    func heldOrigins(_ db: Database) throws -> [HeldOrigin] {
        // Per origin: its first held change, and the first refusal of its own (not merely
        // waiting behind another), which is why it is held.
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT h.origin, min(h.seq), count(*), min(h.since),
                    (SELECT code || char(10) || reason || char(10) || source FROM minga_held r
                     WHERE r.origin = h.origin ORDER BY r.code = 'held_behind', r.seq LIMIT 1)
                FROM minga_held h GROUP BY h.origin ORDER BY min(h.since), h.origin
                """
        )
        return try rows.map { row in
            let why = (row[4] as String).split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            return HeldOrigin(
                origin: try NodeID(row[0] as String),
                firstSeq: row[1],
                count: row[2],
                code: MingaError.Code(rawValue: why[0]) ?? .failed,
                reason: why.count > 1 ? why[1] : "",
                since: Date(timeIntervalSince1970: row[3]),
                source: why.count > 2 ? why[2] : ""
            )
        }
    }

    /// Counts altered copies for `minga status` (`minga_meta` `altered_copies`, and the last
    /// one's origin, reason, source and time in `altered_copy_last`).
    func recordAltered(_ altered: [HeldOrigin], _ db: Database) throws {
        guard let last = altered.last else { return }
        try db.execute(
            sql: "INSERT INTO minga_meta(key, value) VALUES ('altered_copies', ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            arguments: [altered.reduce(0) { $0 + $1.count }]
        )
        let when = last.since.formatted(.iso8601)
        try Replica.setMeta(
            db,
            "altered_copy_last",
            "\(last.first) from \(last.source.isEmpty ? "an unknown source" : last.source) at \(when): \(last.reason)"
        )
    }

    /// How many altered copies arrived, and what the last one was (see ``recordAltered(_:_:)``).
    public func alteredCopies() throws -> (count: Int, last: String?) {
        try writer.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'altered_copies'") ?? 0,
                try String.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'altered_copy_last'")
            )
        }
    }

    /// Keeps the held changes of a batch, and forgets those the vector now covers. A change
    /// held again keeps its copy (a different one is unverified: it is said, not stored), when
    /// and in which order it first arrived; its refusal and source are the latest (`source`
    /// `nil`: unchanged, as when held changes are retried).
    func store(held: [(Change, MingaError)], source: String?, vector: VersionVector, _ db: Database) throws {
        if !held.isEmpty {
            var arrival = try Int64.fetchOne(db, sql: "SELECT coalesce(max(arrival), 0) FROM minga_held")!
            let upsert = try db.cachedStatement(
                sql: """
                    INSERT INTO minga_held(origin, seq, arrival, change, signed, code, reason, since, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(origin, seq) DO UPDATE SET
                        code = CASE WHEN change = excluded.change THEN excluded.code ELSE 'altered_copy' END,
                        reason = CASE WHEN change = excluded.change THEN excluded.reason
                            ELSE 'a different copy of this change came from ' || excluded.source
                                || ': one of the two was altered after its origin signed it; the copy held first is kept, and if it is the altered one, the genuine copy applies when a peer sends it again' END,
                        source = CASE WHEN ? IS NULL THEN source ELSE excluded.source END
                    """
            )
            let now = Date().timeIntervalSince1970
            for (change, refusal) in held {
                arrival += 1
                try upsert.execute(arguments: [
                    change.origin.rawValue, change.seq, arrival, change.wireJSON, change.signature != nil, refusal.code.rawValue, refusal.message,
                    now, source ?? "", source,
                ])
            }
        }
        let covered = try db.cachedStatement(sql: "DELETE FROM minga_held WHERE origin = ? AND seq <= ?")
        for origin in try String.fetchAll(db, sql: "SELECT DISTINCT origin FROM minga_held") {
            try covered.execute(arguments: [origin, vector[try NodeID(origin)]])
        }
    }

    /// Tries the held changes again (protocol §13): those whose cause is gone (the clock has
    /// caught up, the origin joined the roster, what they depend on arrived) are applied, the
    /// rest stay held. Each step takes, per held origin, its held changes up to a signed one,
    /// at most ``retryRun`` of them, and the retry stops when a step applies nothing.
    @discardableResult
    public func retryHeld() async throws -> ApplyResult {
        var total = ApplyResult()
        // Mostly nothing is held: a read says so without taking the write lock.
        guard try await writer.read(Replica.holdsAny) else { return total }
        var first = true
        while try Replica.add(await writer.write { [first] db in try self.retryHeld(db, firstStep: first) }, to: &total) { first = false }
        return total
    }

    /// ``retryHeld()`` for callers that are not async (bundle import).
    @discardableResult
    public func retryHeld() throws -> ApplyResult {
        guard try writer.read(Replica.holdsAny) else { return ApplyResult() }
        return try Replica.steps { first in try writer.write { db in try self.retryHeld(db, firstStep: first) } }
    }

    @Sendable static func holdsAny(_ db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM minga_held)")!
    }

    /// ``retryHeld()`` inside a write transaction a request takes anyway (a pull or push a
    /// node serves): no transaction of its own, nor a reader connection, when nothing is held.
    func retryHeldWithin(_ db: Database) throws -> ApplyResult {
        guard try Replica.holdsAny(db) else { return ApplyResult() }
        return try Replica.steps { first in try retryHeld(db, firstStep: first) }
    }

    /// Runs retry steps (the first marked) until one applies nothing; their total.
    private static func steps(_ step: (_ first: Bool) throws -> ApplyResult) rethrows -> ApplyResult {
        var total = ApplyResult()
        var first = true
        while add(try step(first), to: &total) { first = false }
        return total
    }

    /// Adds one retry step to the total; whether it applied anything (so another may).
    private static func add(_ step: ApplyResult, to total: inout ApplyResult) -> Bool {
        total.applied += step.applied
        total.newConflicts += step.newConflicts
        total.vector = step.vector
        return step.applied > 0
    }

    /// Changes of one origin taken per retry step.
    static let retryRun = 1000

    /// One retry step. The first takes, per held origin, only its changes up to the first
    /// signed one: mostly the cause is not gone, and that is found at the first change, so a
    /// node that serves many syncs does not re-check (and re-store) long held runs at each.
    func retryHeld(_ db: Database, firstStep: Bool) throws -> ApplyResult {
        try integrateLocalWrites(db)
        // A migration that could not run when it arrived may run now (its cause removed).
        if firstStep, try Replica.hasUnappliedMigrations(db) { try applyArrivedMigrations(db) }
        let vector = try Replica.vector(db)
        try store(held: [], source: nil, vector: vector, db)
        var rows: [(arrival: Int64, json: String)] = []
        let run = try db.cachedStatement(sql: "SELECT arrival, change, signed FROM minga_held WHERE origin = ? ORDER BY seq LIMIT ?")
        for origin in try String.fetchAll(db, sql: "SELECT DISTINCT origin FROM minga_held") {
            let taken = try Row.fetchAll(run, arguments: [origin, Replica.retryRun])
            // Up to a signed change taken (the first, on a first step): nothing after it could be verified yet.
            let signed = firstStep ? taken.firstIndex(where: { $0[2] as Bool }) : taken.lastIndex(where: { $0[2] as Bool })
            let end = signed.map { $0 + 1 } ?? 0
            rows += taken.prefix(end).map { ($0[0], $0[1]) }
        }
        guard !rows.isEmpty else {
            var nothing = ApplyResult()
            nothing.vector = vector
            return nothing
        }
        rows.sort { $0.arrival < $1.arrival }
        let json = "{\"changes\":[" + rows.map(\.json).joined(separator: ",") + "],\"protocol\":\(ChangeBatch.protocolVersion)}"
        let batch = try ChangeBatch.decode(wire: Data(json.utf8))
        do {
            return try apply(db, batch, source: nil)
        } catch let error as MingaError where !error.code.holdsChange {
            // Held changes that break the batch rules together can never apply: they stay held
            // and shown, and the sync that retried them goes on.
            var nothing = ApplyResult()
            nothing.vector = vector
            return nothing
        }
    }
}
