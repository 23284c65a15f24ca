import Foundation
import GRDB
import MingaCore

/// The merge state of every row the log holds a change of (``RowState``), in `minga_rows`:
/// what sealing reads for a write's causal context and what applying a change compares
/// with, instead of the row's history (protocol/README.md §13, "Merge state"). It is derived
/// data: for every row, `RowState(folding:)` of the row's changes in the log, kept so by
/// each change appended (sealed or applied) in the same transaction, and rebuilt from the log
/// by ``Replica/rebuildRowStates(_:)`` when a replica made before it is opened.
///
/// A state is stored as text (``RowStates/encode(_:table:)``), with each write named once:
/// `VECTOR;WRITES;UPSERT;DELETE;WINNERS`, where VECTOR is `origin:seq` pairs and WRITES
/// `origin:seq:hlc` triples (space-separated), UPSERT and DELETE are indexes into WRITES (or
/// empty), and WINNERS gives, per column position of the table, the index of the write that
/// wins it (comma-separated, empty for none; positions are stable, columns are only added).
final class RowStates {
    static let tableSQL = "CREATE TABLE minga_rows(tbl TEXT NOT NULL, pk TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (tbl, pk)) WITHOUT ROWID"

    private let db: Database
    private var states: [RowIdentity: RowState] = [:]
    /// Rows whose state changed since the last ``save()``, with their table.
    private var changed: [RowIdentity: TrackedTable] = [:]
    /// Rows asked for that have no state (the log holds no change of them).
    private var missing: Set<RowIdentity> = []

    init(_ db: Database) { self.db = db }

    /// Reads the states of `rows` not read yet: one query per table, the keys passed as a
    /// JSON array, rather than one per row.
    func load(_ rows: some Sequence<(table: TrackedTable, pk: String)>) throws {
        var wanted: [String: (table: TrackedTable, pks: [String])] = [:]
        for (table, pk) in rows {
            let row = RowIdentity(table: table.name, pk: pk)
            guard states[row] == nil, !missing.contains(row) else { continue }
            missing.insert(row)
            wanted[table.name, default: (table, [])].pks.append(pk)
        }
        let query = try db.cachedStatement(sql: "SELECT pk, state FROM minga_rows WHERE tbl = ? AND pk IN (SELECT value FROM json_each(?))")
        for (name, (table, pks)) in wanted {
            try query.bind([name.databaseValue, JSONText.array(ofStrings: pks).databaseValue])
            let found = try Row.fetchCursor(query)
            while let row = try found.next() {
                let identity = RowIdentity(table: name, pk: row[0])
                states[identity] = try RowStates.decode(row[1], table: table)
                missing.remove(identity)
            }
        }
    }

    /// The state of a row ``load(_:)`` read or ``set(_:_:pk:)`` wrote; `nil` when the log holds no change of it.
    func state(of table: TrackedTable, pk: String) -> RowState? {
        states[RowIdentity(table: table.name, pk: pk)]
    }

    func set(_ state: RowState, _ table: TrackedTable, pk: String) {
        let row = RowIdentity(table: table.name, pk: pk)
        states[row] = state
        missing.remove(row)
        changed[row] = table
    }

    /// Writes the states changed since the last call, a group of rows per statement.
    func save() throws {
        let rows = Array(changed)
        changed = [:]
        let group = 32
        for start in stride(from: 0, to: rows.count, by: group) {
            let slice = rows[start..<min(start + group, rows.count)]
            let insert = try db.cachedStatement(
                sql: "INSERT OR REPLACE INTO minga_rows(tbl, pk, state) VALUES " + Array(repeating: "(?, ?, ?)", count: slice.count).joined(separator: ", "))
            var arguments: [DatabaseValue] = []
            arguments.reserveCapacity(slice.count * 3)
            for (row, table) in slice {
                arguments += [row.table.databaseValue, row.pk.databaseValue, RowStates.encode(states[row]!, table: table).databaseValue]
            }
            try insert.run(arguments)
        }
    }

    // MARK: Text form

    static func encode(_ state: RowState, table: TrackedTable) -> String {
        var writes: [WriteRef] = []
        var index: [Dot: Int] = [:]
        func number(_ write: WriteRef?) -> String {
            guard let write else { return "" }
            if let i = index[write.dot] { return String(i) }
            index[write.dot] = writes.count
            writes.append(write)
            return String(writes.count - 1)
        }
        let upsert = number(state.upsert)
        let delete = number(state.delete)
        var winners = table.columns.map { number(state.winners[$0]) }
        while winners.last == "" { winners.removeLast() }
        let vector = state.vector.origins.map { "\($0.rawValue):\(state.vector[$0])" }.joined(separator: " ")
        let named = writes.map { "\($0.origin.rawValue):\($0.seq):\($0.hlc.packed)" }.joined(separator: " ")
        return [vector, named, upsert, delete, winners.joined(separator: ",")].joined(separator: ";")
    }

    static func decode(_ text: String, table: TrackedTable) throws -> RowState {
        func damaged() -> MingaError { MingaError("the merge state of a row of \(table.name) is damaged: \(text)") }
        let parts = text.split(separator: ";", omittingEmptySubsequences: false)
        guard parts.count == 5 else { throw damaged() }
        var state = RowState()
        for pair in parts[0].split(separator: " ") {
            guard let colon = pair.lastIndex(of: ":"), let seq = Int64(pair[pair.index(after: colon)...]) else { throw damaged() }
            state.vector[try NodeID(String(pair[..<colon]))] = seq
        }
        var writes: [WriteRef] = []
        for triple in parts[1].split(separator: " ") {
            let fields = triple.split(separator: ":")
            guard fields.count >= 3, let hlc = Int64(fields[fields.count - 1]), let seq = Int64(fields[fields.count - 2]) else { throw damaged() }
            let origin = try NodeID(fields[..<(fields.count - 2)].joined(separator: ":"))
            writes.append(WriteRef(origin: origin, seq: seq, hlc: HLC(packed: hlc)))
        }
        func write(_ field: Substring) throws -> WriteRef? {
            guard !field.isEmpty else { return nil }
            guard let i = Int(field), writes.indices.contains(i) else { throw damaged() }
            return writes[i]
        }
        state.upsert = try write(parts[2])
        state.delete = try write(parts[3])
        for (position, field) in parts[4].split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            guard let winner = try write(field) else { continue }
            guard position < table.columns.count else { throw damaged() }
            state.winners[table.columns[position]] = winner
        }
        return state
    }
}

extension Replica {
    /// Makes `minga_rows` for a replica made before it, from its log (the fold of each row's
    /// changes, read without their values), in one transaction when first opened.
    static func upgradeRowStates(_ writer: any DatabaseWriter) throws {
        guard try writer.read({ try !$0.tableExists("minga_rows") && $0.tableExists("minga_changes") }) else { return }
        try writer.write { db in
            guard try !db.tableExists("minga_rows") else { return }
            try ownDDL(db) { try db.execute(sql: RowStates.tableSQL) }
            try rebuildRowStates(db)
        }
    }

    /// Derives every row's state again from the log.
    static func rebuildRowStates(_ db: Database) throws {
        try db.execute(sql: "DELETE FROM minga_rows")
        let tables = try loadTables(db)
        let states = RowStates(db)
        var current: (table: TrackedTable, pk: String, state: RowState)?
        let log = try Row.fetchCursor(db, sql: "SELECT tbl, pk, origin, seq, hlc, op, mask FROM minga_changes ORDER BY tbl, pk")
        while let change = try log.next() {
            let (name, pk): (String, String) = (change[0], change[1])
            if current == nil || current!.table.name != name || current!.pk != pk {
                if let done = current { states.set(done.state, done.table, pk: done.pk) }
                guard let table = tables[name] else { throw MingaError("change log is damaged: it names table \(name), which is not tracked") }
                current = (table, pk, RowState())
            }
            guard let op = ChangeOp(rawValue: change[5]) else { throw MingaError("change log holds an unknown operation") }
            let mask: String = change[6]
            let columns = zip(current!.table.columns, mask.utf8).filter { $0.1 == UInt8(ascii: "1") }.map(\.0)
            current!.state.absorb(WriteRef(origin: try NodeID(change[2] as String), seq: change[3], hlc: HLC(packed: change[4])), op: op, columns: columns)
        }
        if let done = current { states.set(done.state, done.table, pk: done.pk) }
        try states.save()
    }
}

extension Replica {
    /// The merge state this node keeps of a row (protocol §13, "Merge state"); `nil` when the
    /// log holds no change of it.
    public func mergeState(table name: String, key: [Value]) throws -> RowState? {
        try writer.read { db in
            let table = try table(named: name)
            let states = RowStates(db)
            let pk = try pk(db, key)
            try states.load([(table, pk)])
            return states.state(of: table, pk: pk)
        }
    }
}
