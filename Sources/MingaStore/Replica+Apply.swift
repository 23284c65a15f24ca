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
    /// Changes held before (protocol §13) that applied in the same transaction, tried first.
    public var retried = 0
    /// Copies of changes this node holds that arrived altered (protocol §13, `altered_copy`),
    /// per origin: skipped, never applied, and counted in `minga status`.
    public var alteredCopies: [HeldOrigin] = []
    /// The node's vector after the batch.
    public var vector = VersionVector()
    /// The origins the batch had changes held back of (protocol §13), each with the changes
    /// of it held by this batch.
    public var held: [HeldOrigin] = []

    public init() {}
}

extension Replica {
    /// Applies a batch of changes from a peer (or a bundle) in one transaction that also
    /// advances the vector. Duplicates are skipped. A change refused for a reason of its own is
    /// held with what depends on it, and the rest applied (protocol §13); a fault of the batch
    /// as a whole refuses it, leaving the replica exactly as it was. `source` says where the
    /// batch came from, for the held changes' record.
    @discardableResult
    public func apply(_ batch: ChangeBatch, source: String = "") throws -> ApplyResult {
        try writer.write { db in try apply(db, batch, source: source) }
    }

    /// Applies a batch checked ahead by ``precheck(_:after:)``. Its check stands only if the
    /// replica is still in the state it was checked against and the batch holds nothing this
    /// node had already (a duplicate's check reads the log, which may have grown meanwhile);
    /// otherwise the batch is checked again inside the transaction.
    public func apply(_ checked: CheckedBatch, source: String = "") async throws -> ApplyResult {
        try await writer.write { db in try self.apply(db, checked.batch, checked: checked, source: source) }
    }

    func apply(_ db: Database, _ batch: ChangeBatch, checked: CheckedBatch? = nil, source: String?) throws -> ApplyResult {
        try integrateLocalWrites(db)
        var admission = try admission(db)
        var verdicts: [Verdict]
        var prepared: [LogRows?]
        if let checked, checked.schemaVersion == schemaVersion, checked.start.admitsLike(admission),
            !checked.verdicts.contains(where: { if case .apply = $0 { false } else if case .hold = $0 { false } else { true } })
        {
            (verdicts, prepared) = (checked.verdicts, checked.rows)
            admission = checked.end
        } else {
            verdicts = try check(db, batch, &admission)
            prepared = Array(repeating: nil, count: verdicts.count)
        }
        for (index, verdict) in verdicts.enumerated() where prepared[index] == nil {
            guard let link = verdict.link else { continue }
            let change = batch.changes[index]
            prepared[index] = LogRows(change, table: tables[change.table]!, pk: try pk(db, change.key), link: link)
        }
        var result = ApplyResult()
        do {
            // Every change in one go; should writing one fail, each is written on its own.
            try db.inSavepoint {
                result = try write(db, batch.changes.indices.compactMap { i in prepared[i].map { (batch.changes[i], $0) } })
                return .commit
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            (verdicts, result) = try writeOneByOne(db, batch, verdicts, prepared)
            admission.vector = try Replica.vector(db)  // the check's vector counted the changes now held
        }
        var held: [(Change, MingaError)] = []
        var altered: [(Change, MingaError)] = []
        for (change, verdict) in zip(batch.changes, verdicts) {
            switch verdict {
            case .duplicate: result.duplicates += 1
            case .alteredCopy(let refusal): altered.append((change, refusal))
            case .hold(let refusal): held.append((change, refusal))
            case .apply: break
            }
        }
        result.vector = admission.vector
        try store(held: held, source: source, vector: result.vector, db)
        result.held = Replica.summary(of: held, source: source ?? "")
        result.alteredCopies = Replica.summary(of: altered, source: source ?? "")
        try recordAltered(result.alteredCopies, db)
        try markIntegrated(db)
        let migrated = zip(batch.changes, verdicts).contains { change, verdict in
            if case .apply = verdict { change.table == Replica.schemaTable } else { false }
        }
        if migrated, try applyArrivedMigrations(db) { try retryAfterMigrations(db, &result) }
        return result
    }

    /// Once migrations ran, the changes held for want of them apply (protocol §20): in the
    /// same transaction, so that they are received with the batch that brought the migration.
    private func retryAfterMigrations(_ db: Database, _ result: inout ApplyResult) throws {
        let retried = try retryHeldWithin(db)
        guard retried.applied > 0 else { return }
        result.applied += retried.applied  // mostly this batch's own, held until its migrations ran
        result.newConflicts += retried.newConflicts
        result.vector = retried.vector
        let stillHeld = Set(try String.fetchAll(db, sql: "SELECT DISTINCT origin FROM minga_held"))
        result.held = result.held.filter { stillHeld.contains($0.origin.rawValue) }
    }

    /// The fallback when writing a batch in one go failed: each change written in a savepoint
    /// of its own, and one that fails held (``MingaError/Code/applyFailed``) with its origin's
    /// changes after it and what depends on it, so that one row no node can write here does
    /// not stop the rest (protocol §13).
    func writeOneByOne(_ db: Database, _ batch: ChangeBatch, _ verdicts: [Verdict], _ prepared: [LogRows?]) throws -> ([Verdict], ApplyResult) {
        var verdicts = verdicts
        var result = ApplyResult()
        var failed: [NodeID: Dot] = [:]
        for (index, change) in batch.changes.enumerated() {
            guard let rows = prepared[index] else { continue }
            if let first = failed[change.origin]
                ?? change.context.entries.lazy.compactMap({ o, s in failed[o].flatMap { s >= $0.seq ? $0 : nil } }).first
            {
                verdicts[index] = .hold(MingaError(.heldBehind, "it follows or depends on \(first), which could not be written here"))
                failed[change.origin] = failed[change.origin] ?? change.dot
                continue
            }
            do {
                try db.inSavepoint {
                    let one = try write(db, [(change, rows)])
                    result.applied += one.applied
                    result.newConflicts += one.newConflicts
                    return .commit
                }
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                verdicts[index] = .hold(
                    MingaError(
                        .applyFailed,
                        "writing it into \(change.table) failed here: \(error.message ?? "\(error)"); this node's schema or rows refuse what its origin wrote"
                    )
                )
                failed[change.origin] = change.dot
            }
        }
        return (verdicts, result)
    }

    /// The held origins of one batch, in the order they were first held.
    static func summary(of held: [(Change, MingaError)], source: String) -> [HeldOrigin] {
        var origins: [HeldOrigin] = []
        var position: [NodeID: Int] = [:]
        for (change, refusal) in held {
            if let i = position[change.origin] {
                origins[i].count += 1
                if origins[i].code == .heldBehind, refusal.code != .heldBehind {
                    (origins[i].code, origins[i].reason) = (refusal.code, refusal.message)
                }
                continue
            }
            position[change.origin] = origins.count
            origins.append(
                HeldOrigin(
                    origin: change.origin,
                    firstSeq: change.seq,
                    count: 1,
                    code: refusal.code,
                    reason: refusal.message,
                    since: Date(),
                    source: source
                )
            )
        }
        return origins
    }

    /// Appends changes, each checked and new, to the log and merges each into its row (protocol
    /// §13), with capture suppressed. The merge compares a change with its row's state
    /// (``RowState``) rather than the row's history; only a change that may be concurrent with
    /// one the row holds reads the history, to find its conflicts.
    func write(_ db: Database, _ changes: [(change: Change, rows: LogRows)]) throws -> ApplyResult {
        var result = ApplyResult()
        try db.execute(sql: "UPDATE minga_capture SET suppress = 1")
        let log = try LogWriter(db)
        let firstID = try log.append(changes.map(\.rows))
        let rows = changes.map { ($0.rows.table, $0.rows.pk) }
        let states = RowStates(db)
        try states.load(rows, before: firstID)
        var conflicted = try rowsWithConflicts(db, rows)
        var writesPerRow: [RowIdentity: Int] = [:]
        for (table, pk) in rows { writesPerRow[RowIdentity(table: table.name, pk: pk), default: 0] += 1 }
        var undisputed: [RowIdentity: Undisputed] = [:]
        // A row new to the log whose one write is an insert gets that insert's values, which are
        // in the log's values rows already: runs of such rows with consecutive change ids are
        // copied by one statement each (on an initial sync, a whole page).
        var copies: (table: TrackedTable, ids: ClosedRange<Int64>)?
        func copyRows() throws {
            guard let run = copies else { return }
            try log.copyRows(of: run.table).run([run.ids.lowerBound.databaseValue, run.ids.upperBound.databaseValue])
            copies = nil
        }
        for (index, (change, written)) in changes.enumerated() {
            let id = firstID + Int64(index)
            let row = RowIdentity(table: written.table.name, pk: written.pk)
            let state = states.state(of: written.table, pk: written.pk)
            if state == nil, writesPerRow[row] == 1, Merge.isWholeRow(onlyWrite: change) {
                if let run = copies, run.table === written.table, run.ids.upperBound + 1 == id {
                    copies = (run.table, run.ids.lowerBound...id)
                } else {
                    try copyRows()
                    copies = (written.table, id...id)
                }
                var inserted = RowState()
                inserted.absorb(change, written)
                states.set(inserted, written.table, pk: written.pk)
                continue
            }
            try copyRows()
            var merged = state ?? RowState()
            if conflicted.contains(row) || merged.mayConflict(with: change) {
                let added = try foldConflicts(db, change, id: id, table: written.table, pk: written.pk, state: merged, undisputed: &undisputed[row])
                if added > 0 { conflicted.insert(row) }
                result.newConflicts += added
            }
            try merge(db, change, written, into: &merged, log: log)
            states.set(merged, written.table, pk: written.pk)
        }
        try copyRows()
        try states.save()
        result.applied = changes.count
        try db.execute(sql: "UPDATE minga_capture SET suppress = 0")
        return result
    }

    /// Merges one change (`rows`, its rows in the log) into its row: the state takes it in,
    /// and the row is written to match (only the columns the change won, when the row exists
    /// before and after).
    func merge(_ db: Database, _ change: Change, _ rows: LogRows, into state: inout RowState, log: LogWriter) throws {
        let table = rows.table
        let existed = state.exists
        let won = state.absorb(change, rows)
        switch (existed, state.exists) {
        case (true, true):
            guard !won.isEmpty else { return }
            let arguments = won.map { rows.values[$0] } + change.key.map(\.databaseValue)
            try runRowWrite(db, try log.rowUpdate(of: table, columns: won), arguments)
        case (true, false):
            try writeRow(db, table: table, key: change.key, state: nil)
        case (false, true):  // a new row, or one a write brings back: every column's winner
            try writeRow(db, table: table, key: change.key, state: try winningValues(db, state, with: change, table: table))
        case (false, false):
            return
        }
    }

    /// The row's columns, each with its winner's value: `latest`'s own, or read from the log.
    func winningValues(_ db: Database, _ state: RowState, with latest: Change, table: TrackedTable) throws -> Columns {
        var values: [Dot: [DatabaseValue]] = [:]
        let read = try db.cachedStatement(
            sql: "SELECT v.* FROM minga_changes c JOIN \(SQL.id(table.valuesTable)) v ON v.change_id = c.id WHERE c.origin = ? AND c.seq = ?"
        )
        var row = Columns()
        for (column, position) in zip(table.canonicalColumnOrder, table.canonicalPositions) {  // the order Columns keeps
            guard position < state.winners.count, let winner = state.winners[position] else { continue }
            if winner.dot == latest.dot {
                row.append(column, latest.columns[column]!)
                continue
            }
            if values[winner.dot] == nil {
                guard let stored = try Row.fetchOne(read, arguments: [winner.origin.rawValue, winner.seq]) else {
                    throw MingaError(.damaged, "change log is damaged: change \(winner.dot) has no values")
                }
                values[winner.dot] = Array(stored.databaseValues.dropFirst())
            }
            row.append(column, Value(values[winner.dot]![position]))
        }
        return row
    }

    /// Folds one change into its row's conflict log (protocol §10): it may settle
    /// conflicts recorded before, and, when it may be concurrent with a write the row holds
    /// (`state` is the row's before it), form new ones with the row's history. Returns how many
    /// conflicts are new.
    ///
    /// `undisputed` is what an earlier change of the same batch to this row found (see
    /// ``Undisputed``), and what this one found for the next.
    func foldConflicts(
        _ db: Database,
        _ change: Change,
        id: Int64,
        table: TrackedTable,
        pk: String,
        state: RowState,
        undisputed: inout Undisputed?
    ) throws -> Int {
        var conflicts = try storedConflicts(db, table: table.name, pk: pk)
        var earlier: [Change] = []
        if state.mayConflict(with: change) {
            // A row with conflicts recorded is contested: its history is read without asking.
            let checked = undisputed.flatMap { $0.covers(change) ? $0.through : nil } ?? 0
            if try !conflicts.isEmpty || anyEarlierWriteDisputes(db, change, after: checked, before: id, table: table, pk: pk) {
                earlier = try history(db, table: table, pk: pk).filter { $0.id < id }.map(\.change)
                undisputed = nil
            } else {
                undisputed = Undisputed(through: id, op: change.op, columns: change.columns)
            }
        }
        let (changed, added) = Merge.fold(change, into: &conflicts, earlier: earlier[...])
        for conflictID in changed { try save(db, conflicts[conflictID]!, pk: pk) }
        return added
    }

    /// No write of a row up to log id `through` disputes a write with this operation and
    /// these columns: what one change of a batch found, so that the next change of the row
    /// with the same values asks only about the writes after it. Each node issues the
    /// registry's built-in migrations, so a node's first pull brings a hundred equal writes
    /// of each `minga_schema` row in one batch. Lives for one batch: a rolled-back
    /// transaction takes its log ids with it.
    struct Undisputed {
        let through: Int64
        let op: ChangeOp
        let columns: Columns

        /// Whether it holds for `write` too: the same operation and values by the merge
        /// rule's equality dispute nothing this one's did not (the check that found it treats
        /// a value as the same only where the rule does, see ``anyEarlierWriteDisputes``).
        func covers(_ write: Change) -> Bool { write.op == op && write.columns == columns }
    }

    /// Whether a write of this row logged between log ids `after` and `id` (both excluded)
    /// disputes `change` the way ``Merge`` forms conflicts (protocol §10): a delete against a
    /// write, a write against a delete, or a column both set to values that differ. Asked in
    /// SQL over the log before the fold reads and decodes the row's history, which for a row
    /// that many nodes wrote the same way (each node's copy of a built-in schema migration,
    /// scripts/bench W4) holds a write per node and a context per write; it reads the rows
    /// ``history(_:table:pk:)`` would. It may say yes where the rule finds no conflict (it
    /// does not ask whether the writes were concurrent, and takes two real zeros for
    /// different), never no where the rule finds one: a value matches only with the same
    /// storage class and `IS` equality, which for every value but a real zero is the rule's
    /// equality (``Value`` compares reals by bit pattern, and SQLite finds 0.0 `IS` -0.0).
    func anyEarlierWriteDisputes(_ db: Database, _ change: Change, after: Int64, before id: Int64, table: TrackedTable, pk: String) throws -> Bool {
        var arguments: [DatabaseValue] = [table.name.databaseValue, pk.databaseValue, id.databaseValue, after.databaseValue]
        var disputes: [String]
        if change.op == .delete {
            disputes = ["c.op != 'delete'"]
        } else {
            disputes = ["c.op = 'delete'"]
            for (position, value) in table.positionedValues(of: change.columns).values.enumerated() {
                guard let value else { continue }
                arguments.append(value.databaseValue)
                let (n, column) = (arguments.count, "v.c\(position)")
                let zero = if case .real(let x) = value, x == 0 { " OR \(column) = 0" } else { "" }
                disputes.append(
                    "(\(LogRows.setsColumn(position, of: "c")) AND (\(column) IS NOT ?\(n) OR typeof(\(column)) != typeof(?\(n))\(zero)))"
                )
            }
        }
        let sql = """
            SELECT EXISTS (SELECT 1 FROM minga_changes c JOIN \(SQL.id(table.valuesTable)) v ON v.change_id = c.id \
            WHERE c.tbl = ?1 AND c.pk = ?2 AND c.id < ?3 AND c.id > ?4 AND (\(disputes.joined(separator: " OR "))))
            """
        return try Bool.fetchOne(db.cachedStatement(sql: sql), arguments: StatementArguments(arguments))!
    }

    /// Which of these rows have conflicts recorded: one query per table.
    func rowsWithConflicts(_ db: Database, _ rows: [(table: TrackedTable, pk: String)]) throws -> Set<RowIdentity> {
        var keys: [String: [String]] = [:]
        for (table, pk) in rows { keys[table.name, default: []].append(pk) }
        var found: Set<RowIdentity> = []
        let query = try db.cachedStatement(sql: "SELECT DISTINCT pk FROM minga_conflicts WHERE tbl = ? AND pk IN (SELECT value FROM json_each(?))")
        for (name, pks) in keys {
            for pk in try String.fetchAll(query, arguments: [name, JSONText.array(ofStrings: pks)]) { found.insert(RowIdentity(table: name, pk: pk)) }
        }
        return found
    }

    /// Re-derives one row from all its writes with the merge rule, writes it with capture
    /// suppressed, and folds the writes from log id `newFrom` on into the conflict log.
    /// Returns how many conflicts were new. `history`, when the caller knows it whole (a row
    /// new to the log), saves reading it back.
    func merge(_ db: Database, table: TrackedTable, pk: String, newFrom: Int64, history known: [(id: Int64, change: Change)]? = nil) throws -> Int {
        let history = try known ?? history(db, table: table, pk: pk)
        guard let key = history.first?.change.key else { return 0 }
        try writeRow(db, table: table, key: key, state: Merge.row(of: history.map(\.change)))
        let states = RowStates(db)
        try states.load([(table, pk)])  // so that a kept state is replaced, never left stale
        // The load counted the row's writes in the log: `history` is all of them.
        states.set(RowState(folding: history.map(\.change), columns: table.columns), table, pk: pk, adding: 0)
        try states.save()
        guard history.count > 1 else { return 0 }  // a row's first write cannot conflict

        var conflicts = try storedConflicts(db, table: table.name, pk: pk)
        let first = history.firstIndex { $0.id >= newFrom } ?? history.count
        let (changed, added) = Merge.fold(history.map(\.change), from: first, into: &conflicts)
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
        let byPosition = table.positionedValues(of: state).values
        for (position, column) in table.columns.enumerated() {
            guard let value = table.keyIndex[position].map({ key[$0] }) ?? byPosition[position] else { continue }
            columns.append(column)
            values.append(value.databaseValue)
        }
        let sql =
            columns.count == table.columns.count
            ? table.upsertRowSQL : TrackedTable.upsertSQL(name: table.name, keyColumns: table.keyColumns, arguments: columns)
        try runRowWrite(db, try db.cachedStatement(sql: sql), values)  // cached: preparing also compiles the triggers
    }

    /// Runs a statement that writes a merged row (capture suppressed).
    func runRowWrite(_ db: Database, _ statement: Statement, _ values: [DatabaseValue]) throws {
        do {
            try statement.run(values)
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_CHECK {
            // Two valid writes to different columns can merge into a row that breaks a CHECK
            // over both. A CHECK binds the writer: a receiver that refused the row would stop at
            // this change for good, so every node writes it without the CHECK, and the next
            // local write to it must satisfy it (protocol §13, Applying). The pragma is set only
            // here, because setting it expires every prepared statement of the connection.
            try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
            defer { try? db.execute(sql: "PRAGMA ignore_check_constraints = OFF") }
            try db.makeStatement(sql: statement.sql).run(values)  // the failed one is left unreset
        }
    }

    /// Records a write made by Minga itself (a conflict resolution) exactly as the triggers
    /// would, then re-derives the row. Unlike a plain UPDATE it is recorded even when the
    /// value does not change, because keeping the winner is itself a decision to replicate.
    func recordLocalWrite(_ db: Database, table: TrackedTable, key: [Value], op: ChangeOp, columns: [String: Value]) throws {
        var columns = columns
        try integrateLocalWrites(db)
        if table.name == Replica.schemaTable {  // resolving two definitions of a migration: one every node can run
            guard op != .delete, case .text(let kind) = key[0], case .text(let tbl) = key[1], case .text(let name) = key[2],
                case .text(let sql)? = columns["sql"]
            else { throw MingaError(.badContent, "a migration's resolution sets its statement") }
            let canonical = try Migration.parse(sql).first?.sql ?? sql
            _ = try Migration.verify(kind: kind, table: tbl, name: name, sql: canonical)
            columns["sql"] = .text(canonical)
        }
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
            arguments: StatementArguments(arguments)
        )
        try seal(db)
        let id = try Int64.fetchOne(db, sql: "SELECT max(id) FROM minga_changes")!
        let pk = try pk(db, key)
        try db.execute(sql: "UPDATE minga_capture SET suppress = 1")
        _ = try merge(db, table: table, pk: pk, newFrom: id)
        try db.execute(sql: "UPDATE minga_capture SET suppress = 0")
        try markIntegrated(db)
        if table.name == Replica.schemaTable { try applyArrivedMigrations(db) }
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
        sameBytes(a.pk, b.pk) && sameBytes(a.table, b.table)
    }

    /// Compares the UTF-8 bytes in place: the generic `elementsEqual` goes byte by byte
    /// through iterators, and sealing compares a row identity for every write.
    private static func sameBytes(_ a: String, _ b: String) -> Bool {
        var (a, b) = (a, b)
        return a.withUTF8 { x in b.withUTF8 { y in x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) } }
    }

    func hash(into hasher: inout Hasher) {
        var (table, pk) = (self.table, self.pk)
        table.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(0xFF as UInt8)  // never in UTF-8: the table name ends here
        pk.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
