import Foundation
import GRDB
import MingaCore

/// What applying a batch did.
public struct ApplyResult: Sendable, Equatable {
    /// Changes new to this node, now in its log.
    public var applied = 0
    /// Changes it already held (re-delivery is harmless).
    public var duplicates = 0
    /// Conflicts recorded for the first time.
    public var newConflicts = 0
    /// The node's vector after the batch.
    public var vector = VersionVector()

    public init() {}
}

/// What a receiver knows while it checks incoming batches: the vector it holds (or will hold
/// after the batches already checked), each origin's last chain link and HLC, the roster, and
/// its own current origin. Bundle import carries one across a whole file before applying any.
public struct Admission: Sendable {
    public internal(set) var vector: VersionVector
    var links: [NodeID: (link: [UInt8], hlc: Int64)]
    let roster: [NodeID: PublicKey]
    let ownOrigin: NodeID
    var nowMillis: Int64

    /// Whether checks made from `self` hold for a replica in state `other`: the same changes
    /// held (hence the same chain links), roster and origin. The clock may differ.
    func admitsLike(_ other: Admission) -> Bool {
        vector == other.vector && roster == other.roster && ownOrigin == other.ownOrigin && links.count == other.links.count
            && links.allSatisfy { origin, last in other.links[origin].map { $0.link == last.link && $0.hlc == last.hlc } ?? false }
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
    let links: [[UInt8]?]
    /// The log rows of each change new to the replica (`nil` for a duplicate).
    let rows: [LogRows?]
}

extension Replica {
    /// The receiver's starting point for checking batches.
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
        return Admission(vector: vector, links: links, roster: try roster(db), ownOrigin: try currentOrigin(db), nowMillis: clock())
    }

    /// Checks a batch against this replica's schema, roster, clock and per-origin order
    /// without writing anything, advancing `admission` as if it had been applied. Returns,
    /// per change, its chain link, or `nil` for a change this node already holds.
    @discardableResult
    public func check(_ batch: ChangeBatch, _ admission: inout Admission) throws -> [[UInt8]?] {
        try writer.read { db in try check(db, batch, &admission) }
    }

    func check(_ db: Database, _ batch: ChangeBatch, _ admission: inout Admission) throws -> [[UInt8]?] {
        var links: [[UInt8]?] = []
        var lastOfOrigin: [NodeID: Change] = [:]
        for (index, change) in batch.changes.enumerated() {
            do {
                try validate(change)
                let held = admission.vector
                let unheld = { (origin: NodeID, seq: Int64) in origin != change.origin && seq > held[origin] }
                if change.context.entries.contains(where: unheld), let origin = change.context.origins.first(where: { unheld($0, change.context[$0]) }) {
                    throw MingaError("its causal context names change \(origin):\(change.context[origin]), which this node does not hold; changes must arrive in causal order (the sender's log order)")
                }
                guard let key = admission.roster[change.origin.node] else {
                    throw MingaError("it comes from \(change.origin.node), which is not in this node's roster; if that agency belongs to the federation, add its public key with `minga roster add \(change.origin.node) KEY`")
                }
                guard try admission.vector.admit(change.dot) else {
                    try checkDuplicate(db, change, key: key)
                    links.append(nil)
                    continue
                }
                if change.origin == admission.ownOrigin {
                    throw MingaError("it claims to come from this node (\(change.origin)) at sequence \(change.seq), which this node never issued")
                }
                let ahead = change.hlc.millis - admission.nowMillis
                if ahead > maxClockSkewMillis {
                    throw MingaError("its clock reads \(change.hlc.readable), \(Replica.minutes(ahead)) ahead of this node's clock; the allowed skew is \(Replica.minutes(maxClockSkewMillis)); check the clock of \(change.origin.node)")
                }
                let previous = admission.links[change.origin] ?? (OriginChain.genesis, 0)
                guard change.hlc.packed > previous.hlc else {
                    throw MingaError("its HLC \(change.hlc) is not later than that of \(change.origin)'s previous change; an origin's clock only moves forward")
                }
                let link = OriginChain.link(after: previous.link, change)
                if let signature = change.signature, !key.isValid(signature: signature, link: link) {
                    throw MingaError("its signature does not verify with \(change.origin.node)'s public key: the change was altered or forged after \(change.origin.node) signed it")
                }
                admission.links[change.origin] = (link, change.hlc.packed)
                lastOfOrigin[change.origin] = change
                links.append(link)
            } catch let error as MingaError {
                throw MingaError("change \(index + 1) (\(change.dot)) from \(change.origin.node): \(error.message)")
            }
        }
        for (origin, change) in lastOfOrigin.sorted(by: { $0.key < $1.key }) where change.signature == nil {
            throw MingaError("the changes from \(origin.node) in this batch end at \(change.dot), which \(origin.node) has not signed; a batch must end each origin's run with a signed change, so this one cannot be verified")
        }
        return links
    }

    /// A re-delivered change must be the very change this node holds (same chain link), and a
    /// signature it carries must verify like any other.
    func checkDuplicate(_ db: Database, _ change: Change, key: PublicKey) throws {
        guard let previous = try heldLink(db, change.origin, change.seq - 1), let stored = try heldLink(db, change.origin, change.seq) else { return }
        guard OriginChain.link(after: previous, change) == stored else {
            throw MingaError("this node already holds \(change.dot), and the copy received differs from it: the change was altered after \(change.origin.node) signed it")
        }
        if let signature = change.signature, !key.isValid(signature: signature, link: stored) {
            throw MingaError("its signature does not verify with \(change.origin.node)'s public key: it was altered after \(change.origin.node) signed it")
        }
    }

    /// Checks `batch` as the one to apply after the batches that led to `admission` (the
    /// replica's own ``admission()``, or the ``CheckedBatch/end`` of the batch before), reading
    /// the replica but writing nothing. The clock is read anew, so a long sync does not judge
    /// clock skew by the time it started.
    public func precheck(_ batch: ChangeBatch, after admission: Admission) async throws -> CheckedBatch {
        var start = admission
        start.nowMillis = clock()
        let (links, end, rows) = try await writer.read { [start] db in
            var end = start
            let links = try self.check(db, batch, &end)
            let rows = try zip(batch.changes, links).map { change, link in
                try link.map { LogRows(change, table: self.tables[change.table]!, pk: try self.pk(db, change.key), link: $0) }
            }
            return (links, end, rows)
        }
        return CheckedBatch(batch: batch, start: start, end: end, links: links, rows: rows)
    }

    static func minutes(_ millis: Int64) -> String {
        millis >= 120_000 ? "\(millis / 60_000) min" : "\(millis / 1000) s"
    }

    func validate(_ change: Change) throws {
        guard let table = tables[change.table] else {
            throw MingaError("unknown table \(change.table); this node tracks \(tableNames.joined(separator: ", "))")
        }
        guard change.seq >= 1 else { throw MingaError("sequence numbers start at 1") }
        guard change.key.count == table.keyColumns.count else {
            throw MingaError("table \(table.name) has a key of \(table.keyColumns.count) column(s) (\(table.keyColumns.joined(separator: ", "))), the change gives \(change.key.count)")
        }
        // Every column must be one of the table's non-key columns: checked by walking both in
        // canonical order; names are looked up one by one only to say which is wrong.
        var (values, known) = table.slots(of: change.columns)
        if known < change.columns.count {
            for column in change.columns.keys where !table.settable.contains(column) {
                throw MingaError(
                    table.keyColumns.contains(column)
                        ? "column \(column) is part of the key of \(table.name) and cannot be set by a change"
                        : "unknown column \(column) in table \(table.name)")
            }
        }
        // What the value may be: the rules the origin's capture triggers enforced too.
        for (position, value) in zip(table.keyPositions, change.key) { values[position] = value }
        if let refusal = ContentRule.refusal(values, in: table) { throw MingaError(refusal) }
        switch change.op {
        case .delete where !change.columns.isEmpty: throw MingaError("a delete carries no column values")
        case .insert where change.columns.count != table.settable.count:
            throw MingaError("an insert sets every column of \(table.name); missing: \(table.nonKeyColumns.filter { change.columns[$0] == nil }.joined(separator: ", "))")
        case .update where change.columns.isEmpty: throw MingaError("an update sets at least one column")
        default: break
        }
        if change.context[change.origin] >= change.seq {
            throw MingaError("its causal context claims to have seen itself")
        }
    }

    /// Applies a batch of changes from a peer (or a bundle) in one transaction that also
    /// advances the vector. Duplicates are skipped; anything invalid refuses the whole batch
    /// and leaves the replica exactly as it was.
    @discardableResult
    public func apply(_ batch: ChangeBatch) throws -> ApplyResult {
        try writer.write { db in try apply(db, batch) }
    }

    /// Applies a batch checked ahead by ``precheck(_:after:)``. Its check stands only if the
    /// replica is still in the state it was checked against and the batch holds nothing this
    /// node had already (a duplicate's check reads the log, which may have grown meanwhile);
    /// otherwise the batch is checked again inside the transaction.
    public func apply(_ checked: CheckedBatch) async throws -> ApplyResult {
        try await writer.write { db in try self.apply(db, checked.batch, checked: checked) }
    }

    func apply(_ db: Database, _ batch: ChangeBatch, checked: CheckedBatch? = nil) throws -> ApplyResult {
        try integrateLocalWrites(db)
        var result = ApplyResult()
        var admission = try admission(db)
        let links: [[UInt8]?]
        let prepared: [LogRows?]
        if let checked, checked.start.admitsLike(admission), !checked.links.contains(where: { $0 == nil }) {
            (links, prepared) = (checked.links, checked.rows)
            admission = checked.end
        } else {
            links = try check(db, batch, &admission)
            prepared = Array(repeating: nil, count: links.count)
        }

        try db.execute(sql: "UPDATE minga_capture SET suppress = 1")
        // The rows this batch writes, in first-touch order, with the batch's writes to each (by
        // position in the batch). A row the log has never seen before has no other history, so
        // its merge needs no query (on an initial sync, that is every row).
        struct Touched {
            let table: TrackedTable
            let pk: String
            let isNew: Bool
            var writes: [Int]
        }
        var touched: [RowIdentity: Int] = [:]
        var rows: [Touched] = []
        var ids = [Int64](repeating: 0, count: batch.changes.count)
        let logRows = try zip(batch.changes, links).enumerated().map { index, pair in
            try pair.1.map { link in try prepared[index] ?? LogRows(pair.0, table: tables[pair.0.table]!, pk: try pk(db, pair.0.key), link: link) }
        }
        let known = try knownRows(db, logRows)
        let log = try Statements(db)
        let firstID = try log.append(logRows.compactMap { $0 })
        for (index, written) in logRows.enumerated() {
            guard let written else {
                result.duplicates += 1
                continue
            }
            let (table, pk) = (written.table, written.pk)
            let row = RowIdentity(table: table.name, pk: pk)
            let position = touched[row]
            ids[index] = firstID + Int64(result.applied)
            result.applied += 1
            if let position {
                rows[position].writes.append(index)
            } else {
                touched[row] = rows.count
                rows.append(Touched(table: table, pk: pk, isNew: !known.contains(row), writes: [index]))
            }
        }
        // A new row whose one write is an insert has that insert's values as its merged state
        // (Merge.rowState of a single write), and they are in the log's values rows already:
        // runs of such rows with consecutive change ids are copied by one statement each (on an
        // initial sync, a whole page). Rows are still written in first-touch order.
        var copies: (table: TrackedTable, ids: ClosedRange<Int64>)?
        func copyRows() throws {
            guard let run = copies else { return }
            try log.copyRows(of: run.table).run([run.ids.lowerBound.databaseValue, run.ids.upperBound.databaseValue])
            copies = nil
        }
        for row in rows {
            if row.isNew, row.writes.count == 1, batch.changes[row.writes[0]].op == .insert {
                let id = ids[row.writes[0]]
                if let run = copies, run.table === row.table, run.ids.upperBound + 1 == id {
                    copies = (run.table, run.ids.lowerBound...id)
                } else {
                    try copyRows()
                    copies = (row.table, id...id)
                }
                continue
            }
            try copyRows()
            result.newConflicts += try merge(
                db, table: row.table, pk: row.pk, newFrom: ids[row.writes[0]],
                history: row.isNew ? row.writes.map { (ids[$0], batch.changes[$0]) } : nil)
        }
        try copyRows()
        try db.execute(sql: "UPDATE minga_capture SET suppress = 0")
        try markIntegrated(db)
        result.vector = admission.vector
        return result
    }

    /// Which of the rows these log rows write the log holds a change of already: one query per
    /// table (the keys passed as a JSON array) rather than one per change.
    func knownRows(_ db: Database, _ logRows: [LogRows?]) throws -> Set<RowIdentity> {
        var keys: [String: [String]] = [:]
        for rows in logRows {
            if let rows { keys[rows.table.name, default: []].append(rows.pk) }
        }
        var known: Set<RowIdentity> = []
        let query = try db.cachedStatement(sql: "SELECT DISTINCT pk FROM minga_changes WHERE tbl = ? AND pk IN (SELECT value FROM json_each(?))")
        for (name, pks) in keys {
            var json = JSONWriter(capacity: pks.count * (pks[0].utf8.count + 4))
            json.raw("[")
            for (i, pk) in pks.enumerated() {
                if i > 0 { json.raw(",") }
                json.quoted(pk)
            }
            json.raw("]")
            try query.bind([name.databaseValue, String(decoding: json.bytes, as: UTF8.self).databaseValue])
            for pk in try String.fetchAll(query) { known.insert(RowIdentity(table: name, pk: pk)) }
        }
        return known
    }

    /// The statements that append to the log and write rows, prepared once per transaction:
    /// looking a cached statement up hashes its whole SQL text, on every change.
    final class Statements {
        let db: Database
        /// The log id the next appended change gets: the one SQLite would give it (the
        /// largest plus one), set explicitly so that many changes go in one INSERT.
        private var nextID: Int64
        /// Rows per INSERT. A statement's fixed cost (cursors on the log table and its three
        /// indexes) is paid once per group instead of once per change.
        static let group = 32
        /// Per row count: the multi-row insert into `minga_changes`.
        private var changeInserts: [Int: Statement] = [:]
        /// Per table, then per row count: the multi-row insert into its values table.
        private var valueInserts: [String: [Int: Statement]] = [:]
        /// Per table: its rows copy.
        private var rowCopies: [String: Statement] = [:]

        init(_ db: Database) throws {
            self.db = db
            nextID = try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) + 1 FROM minga_changes")!
        }

        /// Writes whole rows from the values rows of a range of change ids (``TrackedTable/copyRowsSQL``).
        func copyRows(of table: TrackedTable) throws -> Statement {
            if let statement = rowCopies[table.name] { return statement }
            // Cached: preparing a statement on a tracked table also compiles its capture triggers.
            let statement = try db.cachedStatement(sql: table.copyRowsSQL)
            rowCopies[table.name] = statement
            return statement
        }

        /// Appends changes to the log in order: each its row in `minga_changes` and its values,
        /// typed exactly, in its table's shadow values table. Apply and seal both write through
        /// here. Returns the log id of the first; the others follow it one by one.
        @discardableResult
        func append(_ rows: [LogRows]) throws -> Int64 {
            let first = nextID
            var start = 0
            while start < rows.count {
                let count = min(Statements.group, rows.count - start)
                let insert = try changeInsert(count)
                for (i, row) in rows[start..<(start + count)].enumerated() {
                    let width = 1 + row.change.count  // the id, then the change row's ten columns
                    try insert.bind(CollectionOfOne((first + Int64(start + i)).databaseValue), from: 1 + i * width)
                    try insert.bind(row.change, from: 2 + i * width)
                }
                try insert.execute()
                start += count
            }
            // The values rows: runs of one table, a group at most per statement.
            start = 0
            while start < rows.count {
                let table = rows[start].table
                var end = start + 1
                while end < rows.count, end - start < Statements.group, rows[end].table === table { end += 1 }
                let insert = try valueInsert(table, end - start)
                let width = table.columns.count + 1
                for (i, row) in rows[start..<end].enumerated() {
                    try insert.bind(CollectionOfOne((first + Int64(start + i)).databaseValue), from: 1 + i * width)
                    try insert.bind(row.values, from: 2 + i * width)
                }
                try insert.execute()
                start = end
            }
            nextID += Int64(rows.count)
            return first
        }

        private func changeInsert(_ count: Int) throws -> Statement {
            if let statement = changeInserts[count] { return statement }
            let statement = try db.cachedStatement(
                sql: "INSERT INTO minga_changes(id, origin, seq, hlc, tbl, pk, op, mask, ctx, link, sig) VALUES "
                    + Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: count).joined(separator: ", "))
            changeInserts[count] = statement
            return statement
        }

        private func valueInsert(_ table: TrackedTable, _ count: Int) throws -> Statement {
            if let statement = valueInserts[table.name]?[count] { return statement }
            let row = "(" + Array(repeating: "?", count: table.columns.count + 1).joined(separator: ", ") + ")"
            let statement = try db.cachedStatement(
                sql: "INSERT INTO \(SQL.id(table.valuesTable)) VALUES " + Array(repeating: row, count: count).joined(separator: ", "))
            valueInserts[table.name, default: [:]][count] = statement
            return statement
        }
    }

    /// Re-derives one row from all its writes with the merge rule, writes it with capture
    /// suppressed, and folds the writes from log id `newFrom` on into the conflict log.
    /// Returns how many conflicts were new. `history`, when the caller knows it whole (a row
    /// new to the log), saves reading it back.
    func merge(_ db: Database, table: TrackedTable, pk: String, newFrom: Int64, history known: [(id: Int64, change: Change)]? = nil) throws -> Int {
        let history = try known ?? history(db, table: table, pk: pk)
        guard let key = history.first?.change.key else { return 0 }
        try writeRow(db, table: table, key: key, state: Merge.rowState(of: history.map(\.change)))
        guard history.count > 1 else { return 0 }  // a row's first write cannot conflict

        var conflicts = try storedConflicts(db, table: table.name, pk: pk)
        var changed: Set<String> = []
        var added = 0
        var held: [Change] = []
        for (id, write) in history {
            if id >= newFrom {
                for conflictID in conflicts.keys where conflicts[conflictID]!.settle(with: write) { changed.insert(conflictID) }
                for conflict in Merge.conflicts(introducedBy: write, history: held) where conflicts[conflict.id] == nil {
                    conflicts[conflict.id] = conflict
                    changed.insert(conflict.id)
                    added += 1
                }
            }
            held.append(write)
        }
        for id in changed { try save(db, conflicts[id]!, pk: pk) }
        return added
    }

    /// Writes the merged state of a row into its table (capture must be suppressed).
    func writeRow(_ db: Database, table: TrackedTable, key: [Value], state: Columns?) throws {
        guard let state else {
            try db.cachedStatement(sql: "DELETE FROM \(SQL.id(table.name)) WHERE \(table.keyMatch)").run(key.map(\.databaseValue))
            return
        }
        // The key and the columns the state sets, in column order.
        var columns: [String] = []
        var values: [DatabaseValue] = []
        let slots = table.slots(of: state).values
        for (position, column) in table.columns.enumerated() {
            guard let value = table.keyIndex[position].map({ key[$0] }) ?? slots[position] else { continue }
            columns.append(column)
            values.append(value.databaseValue)
        }
        // Cached: preparing a statement on a tracked table also compiles its capture triggers.
        let sql = columns.count == table.columns.count
            ? table.upsertRowSQL : TrackedTable.upsertSQL(name: table.name, keyColumns: table.keyColumns, arguments: columns)
        do {
            try db.cachedStatement(sql: sql).run(values)
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_CHECK {
            // Two valid writes to different columns can merge into a row that breaks a CHECK
            // over both. A CHECK binds the writer: a receiver that refused the row would stop at
            // this change for good, so every node writes it without the CHECK, and the next
            // local write to it must satisfy it (protocol §13, Applying). The pragma is set only
            // here, because setting it expires every prepared statement of the connection.
            try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
            defer { try? db.execute(sql: "PRAGMA ignore_check_constraints = OFF") }
            try db.cachedStatement(sql: sql).run(values)
        }
    }

    /// Records a write made by Minga itself (a conflict resolution) exactly as the triggers
    /// would, then re-derives the row. Unlike a plain UPDATE it is recorded even when the
    /// value does not change, because keeping the winner is itself a decision to replicate.
    func recordLocalWrite(_ db: Database, table: TrackedTable, key: [Value], op: ChangeOp, columns: [String: Value]) throws {
        try integrateLocalWrites(db)
        var arguments: [String: DatabaseValue] = [:]
        var mask: Int64 = 0
        for (i, column) in table.columns.enumerated() {
            if let k = table.keyColumns.firstIndex(of: column) {
                arguments["c\(i)"] = key[k].databaseValue
            } else {
                arguments["c\(i)"] = columns[column]?.databaseValue ?? .null
                if columns[column] != nil { mask |= 1 << i }
            }
        }
        try db.execute(
            sql: Capture(table: table).statement(op: "'\(op.rawValue)'", mask: String(mask), at: "NULL", value: { ":c\(table.position(of: $0)!)" }),
            arguments: StatementArguments(arguments))
        try seal(db)
        let id = try Int64.fetchOne(db, sql: "SELECT max(id) FROM minga_changes")!
        let pk = try pk(db, key)
        try db.execute(sql: "UPDATE minga_capture SET suppress = 1")
        _ = try merge(db, table: table, pk: pk, newFrom: id)
        try db.execute(sql: "UPDATE minga_capture SET suppress = 0")
        try markIntegrated(db)
    }
}

/// One row of one table, compared and hashed by the bytes of its key's text form: Swift's
/// `String` equality is canonical equivalence, under which the keys "café" (é as one code
/// point) and "café" (e and a combining accent) are one row, while SQLite and protocol §3
/// keep them two.
struct RowIdentity: Hashable {
    let table: String
    let pk: String

    static func == (a: RowIdentity, b: RowIdentity) -> Bool {
        a.pk.utf8.elementsEqual(b.pk.utf8) && a.table.utf8.elementsEqual(b.table.utf8)
    }

    func hash(into hasher: inout Hasher) {
        var (table, pk) = (self.table, self.pk)
        table.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(0xFF as UInt8)  // never in UTF-8: the table name ends here
        pk.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// A change's two rows in the log, as statement arguments: built before the transaction that
/// writes them, so that a sync builds a page's while the page before it is being written.
struct LogRows: Sendable {
    let table: TrackedTable
    /// The row key's text form (``Replica/pk(_:_:)``).
    let pk: String
    /// The `minga_changes` row.
    let change: [DatabaseValue]
    /// The values row without its change id (known once the change row is in): every column in order.
    let values: [DatabaseValue]

    init(_ change: Change, table: TrackedTable, pk: String, link: [UInt8]) {
        self.table = table
        self.pk = pk
        var values: [DatabaseValue] = []
        values.reserveCapacity(table.columns.count)
        var mask: [UInt8] = []
        mask.reserveCapacity(table.columns.count)
        let slots = table.slots(of: change.columns).values
        for position in table.columns.indices {
            if let key = table.keyIndex[position] {
                values.append(change.key[key].databaseValue)
                mask.append(UInt8(ascii: "0"))
            } else if let value = slots[position] {
                values.append(value.databaseValue)
                mask.append(UInt8(ascii: "1"))
            } else {
                values.append(.null)
                mask.append(UInt8(ascii: "0"))
            }
        }
        self.values = values
        self.change = [
            change.origin.rawValue.databaseValue, change.seq.databaseValue, change.hlc.packed.databaseValue, table.name.databaseValue,
            pk.databaseValue, change.op.rawValue.databaseValue, String(decoding: mask, as: UTF8.self).databaseValue,
            change.context.canonicalJSON.databaseValue, Data(link).databaseValue, change.signature?.databaseValue ?? .null,
        ]
    }
}
