import Foundation
import GRDB
import MingaCore

/// What a receiver knows while it checks incoming batches: the vector it holds (or will hold
/// after the batches already checked), each origin's last chain link and HLC, the origins it
/// holds changes of (protocol §13), the roster, and its own current origin. Bundle import
/// carries one across a whole file before applying any.
public struct Admission: Sendable {
    public internal(set) var vector: VersionVector
    var links: [NodeID: (link: [UInt8], hlc: Int64)]
    /// Per held origin, the sequence number of its first held change: its later changes
    /// wait behind it, and so does every change whose causal context names one of them.
    public internal(set) var held: [NodeID: Int64]
    let roster: [NodeID: PublicKey]
    let ownOrigin: NodeID
    var nowMillis: Int64

    /// Whether checks made from `self` hold for a replica in state `other`: the same changes
    /// applied (hence the same chain links) and held, the same roster and origin. The clock
    /// may differ.
    func admitsLike(_ other: Admission) -> Bool {
        vector == other.vector && held == other.held && roster == other.roster && ownOrigin == other.ownOrigin
            && links.count == other.links.count
            && links.allSatisfy { origin, last in other.links[origin].map { $0.link == last.link && $0.hlc == last.hlc } ?? false }
    }
}

/// What the check decided for one change of a batch (protocol §13).
enum Verdict: Sendable {
    /// New and sound: applied, with this chain link.
    case apply([UInt8])
    /// Already held, and the very change held.
    case duplicate
    /// A copy of a change already held that differs from it (or whose signature does not
    /// verify): skipped like a duplicate, and reported. The origin's later changes chain from
    /// the genuine link, so they are checked as usual.
    case alteredCopy(MingaError)
    /// Held back, for this reason: not applied, kept in `minga_held` and tried again later.
    case hold(MingaError)

    var link: [UInt8]? {
        if case .apply(let link) = self { return link }
        return nil
    }
}

/// A batch checked outside the write transaction that applies it, so that a sync checks one
/// page (hash chain, signatures, schema) while the page before it is being written. Applying it
/// re-checks only when the replica is no longer in the state it was checked against.
public struct CheckedBatch: Sendable {
    public let batch: ChangeBatch
    let start: Admission
    /// The admission after this batch: where the next one's check starts.
    public let end: Admission
    let verdicts: [Verdict]
    /// The log rows of each change to apply (`nil` for the others).
    let rows: [LogRows?]
    /// The schema version it was checked under: a migration applied since makes it stale.
    let schemaVersion: String
}

extension Replica {
    /// The receiver's starting point for checking batches, as the log holds it now (pending
    /// local writes are not sealed: ``sealedAdmission()`` seals them first).
    public func admission() throws -> Admission {
        try writer.read { db in try admission(db) }
    }

    func admission(_ db: Database) throws -> Admission {
        let vector = try Replica.vector(db)
        var links: [NodeID: (link: [UInt8], hlc: Int64)] = [:]
        let last = try db.cachedStatement(sql: "SELECT link, hlc FROM minga_changes WHERE origin = ? AND seq = ?")
        for origin in vector.origins {
            if let row = try Row.fetchOne(last, arguments: [origin.rawValue, vector[origin]]) {
                links[origin] = (Array(row["link"] as Data), row["hlc"])
            }
        }
        return Admission(
            vector: vector,
            links: links,
            held: try heldFrom(db, vector: vector),
            roster: try roster(db),
            ownOrigin: try currentOrigin(db),
            nowMillis: clock()
        )
    }

    /// Checks a batch against this replica's schema, roster, clock and per-origin order
    /// without writing anything, advancing `admission` as if it had been applied. Returns,
    /// per change, the chain link of a change to apply, or `nil` for one this node holds
    /// already or holds back. Throws only for a fault of the batch as a whole (§13).
    @discardableResult
    public func check(_ batch: ChangeBatch, _ admission: inout Admission) throws -> [[UInt8]?] {
        try writer.read { db in try check(db, batch, &admission) }.map(\.link)
    }

    /// The check of protocol §13. A change refused for a reason of its own holds back its
    /// origin from the first change its refusal leaves unverified (the one after the origin's
    /// last signed change in the batch, or itself), and every change whose causal context
    /// names a held change; the rest is checked as usual. When a refusal reaches back to
    /// changes already passed, the batch is checked again with that hold in place.
    func check(_ db: Database, _ batch: ChangeBatch, _ admission: inout Admission) throws -> [Verdict] {
        var holds: [NodeID: (from: Int64, refusal: MingaError)] = [:]
        while true {
            var pass = BatchCheck(replica: self, db: db, admission: admission, holds: holds)
            if let verdicts = try pass.run(batch) {
                admission = pass.admission
                return verdicts
            }
            holds = pass.holds
        }
    }

    /// A re-delivered change must be the very change this node holds (same chain link), and a
    /// signature it carries must verify like any other.
    func checkDuplicate(_ db: Database, _ change: Change, key: PublicKey?) throws(MingaError) {
        let stored: [UInt8]
        do {
            guard let previous = try heldLink(db, change.origin, change.seq - 1), let link = try heldLink(db, change.origin, change.seq) else {
                return
            }
            guard OriginChain.link(after: previous, change) == link else {
                throw MingaError(
                    .alteredCopy,
                    "this node already holds \(change.dot), and the copy received differs from it: the change was altered after \(change.origin.node) signed it"
                )
            }
            stored = link
        } catch let error as MingaError { throw error } catch { throw MingaError(.damaged, "the change log could not be read: \(error)") }
        if let signature = change.signature, let key, !key.isValid(signature: signature, link: stored) {
            throw MingaError(
                .badSignature,
                "its signature does not verify with \(change.origin.node)'s public key: it was altered after \(change.origin.node) signed it"
            )
        }
    }

    /// Checks `batch` as the one to apply after the batches that led to `admission` (the
    /// replica's own ``admission()``, or the ``CheckedBatch/end`` of the batch before), reading
    /// the replica but writing nothing. The clock is read anew, so a long sync does not judge
    /// clock skew by the time it started.
    ///
    /// It runs beside the write of the batch before, which may apply a migration: a read
    /// that began before that commits sees an older schema than the writer already uses, and
    /// must not set the replica's schema back. Such a check moves the schema forward only, and
    /// is marked as checked under no version, so that apply checks the batch again.
    public func precheck(_ batch: ChangeBatch, after admission: Admission) async throws -> CheckedBatch {
        var start = admission
        start.nowMillis = clock()
        let (verdicts, end, rows, version) = try await writer.read { [start] db in
            let cookie = try Replica.schemaCookie(db)
            if cookie > self.live.snapshot.cookie { try self.refreshSchema(db) }
            let known = self.live.snapshot
            let version = known.cookie == cookie ? known.version : ""
            var end = start
            let verdicts = try self.check(db, batch, &end)
            let rows = try zip(batch.changes, verdicts).map { change, verdict in
                try verdict.link.map { LogRows(change, table: self.tables[change.table]!, pk: try self.pk(db, change.key), link: $0) }
            }
            return (verdicts, end, rows, version)
        }
        return CheckedBatch(batch: batch, start: start, end: end, verdicts: verdicts, rows: rows, schemaVersion: version)
    }

    /// The checks of a change's own content (protocol §3, §13): ``MingaError/Code/badContent``,
    /// ``MingaError/Code/needsMigration`` for a table or column not here yet, and
    /// ``MingaError/Code/outOfOrder`` for a context naming the change itself.
    func validate(_ change: Change) throws(MingaError) {
        func refuse(_ message: String) -> MingaError { MingaError(.badContent, message) }
        guard let table = tables[change.table] else {
            throw MingaError(
                .needsMigration,
                "table \(change.table) is not tracked here yet; held until the migration that adds it runs here (minga status: whether it arrived, and why it could not run)"
            )
        }
        guard change.seq >= 1 else { throw refuse("sequence numbers start at 1") }
        guard change.key.count == table.keyColumns.count else {
            throw refuse(
                "table \(table.name) has a key of \(table.keyColumns.count) column(s) (\(table.keyColumns.joined(separator: ", "))), the change gives \(change.key.count)"
            )
        }
        // Every column must be one of the table's non-key columns: checked by walking both in
        // canonical order; names are looked up one by one only to say which is wrong.
        var (values, known) = table.positionedValues(of: change.columns)
        if known < change.columns.count {
            for column in change.columns.keys where !table.nonKeyColumnSet.contains(column) {
                if table.keyColumns.contains(column) {
                    throw refuse("column \(column) is part of the key of \(table.name) and cannot be set by a change")
                }
                throw MingaError(
                    .needsMigration,
                    "table \(table.name) has no column \(column) here yet; held until the migration that adds it runs here (minga status: whether it arrived, and why it could not run)"
                )
            }
        }
        // What the value may be: the rules the origin's capture triggers enforced too.
        for (position, value) in zip(table.keyPositions, change.key) { values[position] = value }
        if let refusal = ColumnContentRule.refusal(values, in: table) { throw refuse(refusal) }
        switch change.op {
        case .delete where !change.columns.isEmpty: throw refuse("a delete carries no column values")
        case .insert where change.columns.count != table.nonKeyColumnSet.count:
            // Columns added by migrations may be missing: its writer did not have them yet.
            let missing = table.columns.indices
                .filter { table.keyIndex[$0] == nil && table.addedDefaults[$0] == nil && change.columns[table.columns[$0]] == nil }
                .map { table.columns[$0] }
            if !missing.isEmpty { throw refuse("an insert sets every column of \(table.name); missing: \(missing.joined(separator: ", "))") }
        case .update where change.columns.isEmpty: throw refuse("an update sets at least one column")
        default: break
        }
        if change.table == Replica.schemaTable { try validateMigration(change) }
        if change.context[change.origin] >= change.seq {
            throw MingaError(.outOfOrder, "its causal context claims to have seen itself")
        }
    }
}

/// One pass of ``Replica/check(_:_:_:)`` over a batch, with the holds found so far.
private struct BatchCheck {
    let replica: Replica
    let db: Database
    var admission: Admission
    var holds: [NodeID: (from: Int64, refusal: MingaError)]
    /// Per origin, its first change passed in this batch that no signature has vouched for yet.
    var unverifiedFrom: [NodeID: Int64] = [:]
    var lastPassed: [NodeID: Change] = [:]

    /// The verdicts, or `nil` when a refusal reached back to a change already passed.
    mutating func run(_ batch: ChangeBatch) throws -> [Verdict]? {
        var verdicts: [Verdict] = []
        verdicts.reserveCapacity(batch.changes.count)
        for (index, change) in batch.changes.enumerated() {
            do {
                guard let verdict = try verdict(change) else { return nil }
                verdicts.append(verdict)
            } catch let error as MingaError {
                throw MingaError(error.code, "change \(index + 1) (\(change.dot)) from \(change.origin.node): \(error.message)")
            }
        }
        for (origin, change) in lastPassed.sorted(by: { $0.key < $1.key }) where change.signature == nil {
            throw MingaError(
                .rejected,
                "the changes from \(origin.node) in this batch end at \(change.dot), which \(origin.node) has not signed; a batch must end each origin's run with a signed change, so this one cannot be verified"
            )
        }
        for (origin, hold) in holds { admission.held[origin] = min(admission.held[origin] ?? .max, hold.from) }
        for (origin, first) in admission.held where admission.vector[origin] >= first {
            // Its held changes applied: whatever the store holds of it continues right after.
            admission.held[origin] = admission.vector[origin] + 1
        }
        return verdicts
    }

    /// One change's verdict; `nil` to check the batch again. Throws for a fault of the batch.
    mutating func verdict(_ change: Change) throws -> Verdict? {
        let origin = change.origin
        if let hold = holds[origin], change.seq >= hold.from {
            return .hold(
                change.seq == hold.from ? hold.refusal : MingaError(.heldBehind, "it follows \(origin):\(hold.from), which this node holds back")
            )
        }
        if let dependency = try heldDependency(change) {
            return hold(change, MingaError(.heldBehind, "its causal context names \(dependency), which this node holds back"))
        }
        let key = admission.roster[origin.node]
        if change.seq <= admission.vector[origin] {
            guard change.seq >= 1 else {
                return .alteredCopy(
                    MingaError(
                        .alteredCopy,
                        "\(change.dot) has sequence number \(change.seq), but sequence numbers start at 1: a copy altered on its way"
                    )
                )
            }
            do { try replica.checkDuplicate(db, change, key: key) } catch { return .alteredCopy(MingaError(.alteredCopy, error.message)) }
            return .duplicate
        }
        guard change.seq == admission.vector[origin] + 1 else {
            if let first = admission.held[origin] {
                return .hold(MingaError(.heldBehind, "it follows \(origin):\(first), which this node holds back"))
            }
            throw MingaError(
                .rejected,
                "sequence gap for origin \(origin): this node holds up to \(admission.vector[origin]), the batch continues at \(change.seq); changes must arrive in order without gaps"
            )
        }
        do {
            let link = try admit(change, key: key)
            admission.vector[origin] = change.seq
            admission.links[origin] = (link, change.hlc.packed)
            lastPassed[origin] = change
            unverifiedFrom[origin] = change.signature == nil ? (unverifiedFrom[origin] ?? change.seq) : nil
            return .apply(link)
        } catch {
            return hold(change, error)
        }
    }

    /// The held change this one's causal context names, if any. A context naming a change
    /// this node neither holds nor holds back breaks causal order: a fault of the batch.
    func heldDependency(_ change: Change) throws -> Dot? {
        for (origin, seq) in change.context.entries where origin != change.origin && seq > admission.vector[origin] {
            if let from = holds[origin]?.from ?? admission.held[origin] { return Dot(origin: origin, seq: max(from, admission.vector[origin] + 1)) }
            throw MingaError(
                .rejected,
                "its causal context names change \(origin):\(seq), which this node does not hold; changes must arrive in causal order (the sender's log order)"
            )
        }
        return nil
    }

    /// The checks of a change next in its origin's order; returns its chain link.
    func admit(_ change: Change, key: PublicKey?) throws(MingaError) -> [UInt8] {
        try replica.validate(change)
        guard let key else {
            throw MingaError(
                .unknownOrigin,
                "it comes from \(change.origin.node), which is not in this node's roster; if that agency belongs to the federation, add its public key with `minga roster add \(change.origin.node) KEY`"
            )
        }
        if change.origin == admission.ownOrigin {
            throw MingaError(
                .outOfOrder,
                "it claims to come from this node (\(change.origin)) at sequence \(change.seq), which this node never issued"
            )
        }
        let ahead = change.hlc.millis - admission.nowMillis
        if ahead > replica.maxClockSkewMillis {
            let due = Date(timeIntervalSince1970: Double(change.hlc.millis - replica.maxClockSkewMillis) / 1000).formatted(.iso8601)
            throw MingaError(
                .clockAhead,
                "its clock reads \(change.hlc.readable), \(Duration.milliseconds(ahead).minutesText) ahead of this node's clock; the allowed skew is \(Duration.milliseconds(replica.maxClockSkewMillis).minutesText); it applies by itself once this node's clock reaches \(due) (or at once with a larger --max-clock-skew); check the clock of \(change.origin.node): its later changes stay that far ahead, since an origin's clock never goes back"
            )
        }
        let previous = admission.links[change.origin] ?? (OriginChain.genesis, 0)
        guard change.hlc.packed > previous.hlc else {
            throw MingaError(
                .outOfOrder,
                "its HLC \(change.hlc) is not later than that of \(change.origin)'s previous change; an origin's clock only moves forward"
            )
        }
        let link = OriginChain.link(after: previous.link, change)
        if let signature = change.signature, !key.isValid(signature: signature, link: link) {
            throw MingaError(
                .badSignature,
                "its signature does not verify with \(change.origin.node)'s public key: the change was altered or forged after \(change.origin.node) signed it, or this node's roster has a wrong key for \(change.origin.node) (compare `minga roster list` with its public key, and correct it with `minga roster add`)"
            )
        }
        return link
    }

    /// Holds `change`'s origin from the first of its changes this refusal leaves unverified.
    /// Returns the change's verdict, or `nil` when the hold reaches back to changes passed.
    mutating func hold(_ change: Change, _ refusal: MingaError) -> Verdict? {
        let origin = change.origin
        let from = min(unverifiedFrom[origin] ?? change.seq, change.seq)
        let named = MingaError(refusal.code, from == change.seq ? refusal.message : "\(change.dot) \(refusal.message)")
        holds[origin] = (from, named)
        return from == change.seq ? .hold(named) : nil
    }
}

extension Replica {
    /// A change of `minga_schema` must set a statement that is the additive migration its
    /// key names (protocol/README.md §20); a migration is never removed.
    func validateMigration(_ change: Change) throws(MingaError) {
        guard change.op != .delete else { throw MingaError(.badContent, "a migration is never removed") }
        guard case .text(let kind) = change.key[0], case .text(let table) = change.key[1], case .text(let name) = change.key[2] else {
            throw MingaError(.badContent, "a migration's key is three texts: kind, table, name")
        }
        guard case .text(let sql)? = change.columns["sql"] else {
            throw MingaError(.badContent, "a migration sets its statement (sql) as text")
        }
        _ = try Migration.verify(kind: kind, table: table, name: name, sql: sql)
    }
}
