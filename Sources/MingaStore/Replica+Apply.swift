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

extension Replica {
    /// Checks a batch against this replica's schema and per-origin order without writing
    /// anything, starting from `vector`; returns the vector the batch would lead to.
    /// Bundle import runs this over a whole file before applying any of it.
    public func validate(_ batch: ChangeBatch, from vector: VersionVector) throws -> VersionVector {
        var vector = vector
        for (index, change) in batch.changes.enumerated() {
            do {
                try validate(change)
                for origin in change.context.origins where origin != change.origin && change.context[origin] > vector[origin] {
                    throw MingaError("its causal context names change \(origin):\(change.context[origin]), which this node does not hold; changes must arrive in causal order (the sender's log order)")
                }
                if try vector.admit(change.dot), change.origin == nodeID {
                    throw MingaError("it claims to come from this node (\(nodeID)) at sequence \(change.seq), which this node never issued; was this replica restored from an old copy?")
                }
            } catch let error as MingaError {
                throw MingaError("change \(index + 1) (\(change.dot)): \(error.message)")
            }
        }
        return vector
    }

    func validate(_ change: Change) throws {
        guard let table = tables[change.table] else {
            throw MingaError("unknown table \(change.table); this node tracks \(tableNames.joined(separator: ", "))")
        }
        guard change.seq >= 1 else { throw MingaError("sequence numbers start at 1") }
        guard change.key.count == table.keyColumns.count else {
            throw MingaError("table \(table.name) has a key of \(table.keyColumns.count) column(s) (\(table.keyColumns.joined(separator: ", "))), the change gives \(change.key.count)")
        }
        for (i, value) in change.key.enumerated() {
            switch (value, table.keyTypes[i]) {
            case (.text, "text"), (.integer, "integer"), (.text, "any"), (.integer, "any"): continue
            case (.text, _), (.integer, _):
                throw MingaError("key column \(table.keyColumns[i]) of \(table.name) holds \(table.keyTypes[i]) values, got \(value.plainJSON)")
            default: throw MingaError("key values must be text or integers, got \(value.plainJSON)")
            }
        }
        let settable = Set(table.nonKeyColumns)
        for column in change.columns.keys where !settable.contains(column) {
            throw MingaError(
                table.keyColumns.contains(column)
                    ? "column \(column) is part of the key of \(table.name) and cannot be set by a change"
                    : "unknown column \(column) in table \(table.name)")
        }
        for value in change.key + Array(change.columns.values) {
            if case .text(let text) = value, text.utf8.contains(0) {
                throw MingaError("a text value contains a NUL character, which SQLite text cannot hold intact; store such data as a blob")
            }
        }
        switch change.op {
        case .delete where !change.columns.isEmpty: throw MingaError("a delete carries no column values")
        case .insert where change.columns.count != settable.count:
            throw MingaError("an insert sets every column of \(table.name); missing: \(table.nonKeyColumns.filter { change.columns[$0] == nil }.joined(separator: ", "))")
        case .update where change.columns.isEmpty: throw MingaError("an update sets at least one column")
        default: break
        }
        for origin in change.context.origins where origin == change.origin && change.context[origin] >= change.seq {
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

    func apply(_ db: Database, _ batch: ChangeBatch) throws -> ApplyResult {
        try integrateLocalWrites(db)
        var result = ApplyResult()
        var vector = try Replica.vector(db)
        _ = try validate(batch, from: vector)

        try db.execute(sql: "UPDATE minga_capture SET suppress = 1")
        var touched: [(table: TrackedTable, pk: String, firstID: Int64)] = []
        var seenRows: Set<String> = []
        let insertChange = try db.cachedStatement(
            sql: "INSERT INTO minga_changes(origin, seq, hlc, tbl, pk, op, mask, ctx) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        for change in batch.changes {
            guard try vector.admit(change.dot) else {
                result.duplicates += 1
                continue
            }
            let table = tables[change.table]!
            let pk = try pk(db, change.key)
            let mask = String(table.columns.map { change.columns[$0] == nil ? "0" : "1" })
            try insertChange.execute(arguments: [
                change.origin.rawValue, change.seq, change.hlc.packed, table.name, pk, change.op.rawValue, mask,
                change.context.canonicalJSON,
            ])
            let id = db.lastInsertedRowID
            try insertValues(db, id: id, change: change, table: table)
            if seenRows.insert(table.name + "\u{0}" + pk).inserted { touched.append((table, pk, id)) }
            result.applied += 1
        }
        for row in touched {
            result.newConflicts += try merge(db, table: row.table, pk: row.pk, newFrom: row.firstID)
        }
        try db.execute(sql: "UPDATE minga_capture SET suppress = 0")
        try markIntegrated(db)
        result.vector = vector
        return result
    }

    func insertValues(_ db: Database, id: Int64, change: Change, table: TrackedTable) throws {
        var values: [DatabaseValue] = [id.databaseValue]
        for column in table.columns {
            if let k = table.keyColumns.firstIndex(of: column) {
                values.append(change.key[k].databaseValue)
            } else {
                values.append(change.columns[column]?.databaseValue ?? .null)
            }
        }
        let placeholders = Array(repeating: "?", count: values.count).joined(separator: ", ")
        try db.cachedStatement(sql: "INSERT INTO \(SQL.id(table.valuesTable)) VALUES (\(placeholders))")
            .execute(arguments: StatementArguments(values))
    }

    /// Re-derives one row from all its writes with the merge rule, writes it with capture
    /// suppressed, and folds the writes from log id `newFrom` on into the conflict log.
    /// Returns how many conflicts were new.
    func merge(_ db: Database, table: TrackedTable, pk: String, newFrom: Int64) throws -> Int {
        let history = try history(db, table: table, pk: pk)
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
    func writeRow(_ db: Database, table: TrackedTable, key: [Value], state: [String: Value]?) throws {
        guard let state else {
            try db.cachedStatement(sql: "DELETE FROM \(SQL.id(table.name)) WHERE \(table.keyMatch)").execute(arguments: StatementArguments(key.map(\.databaseValue)))
            return
        }
        let columns = table.nonKeyColumns.filter { state[$0] != nil }
        let all = table.keyColumns + columns
        let update = columns.isEmpty
            ? "NOTHING"
            : "UPDATE SET " + columns.map { "\(SQL.id($0)) = excluded.\(SQL.id($0))" }.joined(separator: ", ")
        // Cached: preparing a statement on a tracked table also compiles its capture triggers.
        try db.cachedStatement(
            sql: """
                INSERT INTO \(SQL.id(table.name))(\(all.map(SQL.id).joined(separator: ", "))) \
                VALUES (\(all.map { _ in "?" }.joined(separator: ", "))) \
                ON CONFLICT(\(table.keyColumns.map(SQL.id).joined(separator: ", "))) DO \(update)
                """
        ).execute(
            arguments: StatementArguments(key.map(\.databaseValue) + columns.map { state[$0]!.databaseValue }))
    }

    /// Records a write made by Minga itself (a conflict resolution) exactly as the triggers
    /// would, then re-derives the row. Unlike a plain UPDATE it is recorded even when the
    /// value does not change, because keeping the winner is itself a decision to replicate.
    func recordLocalWrite(_ db: Database, table: TrackedTable, key: [Value], op: ChangeOp, columns: [String: Value]) throws {
        try integrateLocalWrites(db)
        let capture = Capture(node: nodeID, table: table)
        var arguments: [String: DatabaseValue] = [:]
        for (i, column) in table.columns.enumerated() {
            if let k = table.keyColumns.firstIndex(of: column) {
                arguments["c\(i)"] = key[k].databaseValue
            } else {
                arguments["c\(i)"] = columns[column]?.databaseValue ?? .null
            }
        }
        let param = { (column: String) in ":c\(table.position(of: column)!)" }
        let mask = capture.constantMask { columns[$0] != nil && !table.keyColumns.contains($0) }
        try db.execute(
            sql: capture.statements(op: op, ref: param, mask: mask, value: param),
            arguments: StatementArguments(arguments))
        let id = db.lastInsertedRowID
        let pk = try pk(db, key)
        try db.execute(sql: "UPDATE minga_capture SET suppress = 1")
        _ = try merge(db, table: table, pk: pk, newFrom: id)
        try db.execute(sql: "UPDATE minga_capture SET suppress = 0")
        try markIntegrated(db)
    }
}
