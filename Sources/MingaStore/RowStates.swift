import Foundation
import GRDB
import MingaCore

/// The merge state of every row the log holds a change of (``RowState``), in `minga_rows`:
/// what sealing reads for a write's causal context and what applying a change compares
/// with, instead of the row's history (protocol/README.md §13, "Merge state"). It is derived
/// data: for every row, `RowState(folding:)` of the row's changes in the log, kept so by
/// each change appended (sealed or applied) in the same transaction, and rebuilt from the log
/// by ``Replica/rebuildRowStates(_:)`` when a replica made before it is opened. The state of
/// a row that one origin wrote a few times at most (``isDerivable(_:writes:)``: a row
/// inserted, or inserted and edited by its own ministry) is not kept but folded again from
/// those changes when the row is next written: on an initial sync that is nearly every row,
/// and writing each one's state would add a row write per change (`scripts/bench` W1, W2).
///
/// A state is stored as text (``RowStates/encode(_:table:)``), with each write named once:
/// `VECTOR;WRITES;UPSERT;DELETE;WINNERS`, where VECTOR is `origin:seq` pairs and WRITES
/// `origin:seq:hlc` triples (space-separated), UPSERT and DELETE are indexes into WRITES (or
/// empty), and WINNERS gives, per column position of the table, the index of the write that
/// wins it (comma-separated, empty for none; positions are stable, columns are only added).
final class RowStates {
    static let tableSQL = "CREATE TABLE minga_rows(tbl TEXT NOT NULL, pk TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (tbl, pk)) WITHOUT ROWID"

    private let db: Database
    /// What is known of each row asked for or written since the last ``save()``.
    private var entries: [RowIdentity: Entry] = [:]
    /// Rows whose state changed since the last ``save()``, with their table, in the order
    /// first changed (the order they are written in: a page's rows are near in the index).
    private var changed: [(row: RowIdentity, table: TrackedTable)] = []
    private var reader = LogRowReader()

    /// One row's entry: a row is looked up once per step (each lookup hashes its key's text).
    private struct Entry {
        /// Its state; `nil` while the log holds no change of it.
        var state: RowState?
        /// Read from `minga_rows` (not derived from the log): saved even once derivable, so
        /// that the kept state is replaced.
        var stored = false
        /// In ``RowStates/changed``.
        var changed = false
        /// How many writes its state folds, as far as known here: those read from the log,
        /// and those set since (``isDerivable(_:writes:)``).
        var writes = 0

        /// Takes in one more log row of the row (``LogRowReader/absorb(_:from:into:table:)``).
        mutating func fold(_ change: Row, from first: Int, with reader: inout LogRowReader, table: TrackedTable) throws {
            var folded = state ?? RowState()
            state = nil  // so that the fold does not copy it
            try reader.absorb(change, from: first, into: &folded, table: table)
            (state, writes) = (folded, writes + 1)
        }

        /// Sets the state, which folds `adding` more writes. Returns whether it is the
        /// entry's first change since the last save.
        mutating func set(_ new: RowState, adding added: Int) -> Bool {
            defer { changed = true }
            (state, writes) = (new, writes + added)
            return !changed
        }
    }

    init(_ db: Database) { self.db = db }

    /// Reads the states of `rows` not read yet: one query per table, the keys passed as a
    /// JSON array, rather than one per row. A row `minga_rows` keeps no state of gets the
    /// fold of its changes in the log below id `before` (see ``save()``).
    func load(_ rows: some Sequence<(table: TrackedTable, pk: String)>, before: Int64 = .max) throws {
        var wanted: [String: (table: TrackedTable, pks: [String])] = [:]
        for (table, pk) in rows {
            let row = RowIdentity(table: table.name, pk: pk)
            if let known = entries.updateValue(Entry(), forKey: row) {
                entries[row] = known
                continue
            }
            wanted[table.name, default: (table, [])].pks.append(pk)
        }
        let query = try db.cachedStatement(sql: "SELECT pk, state FROM minga_rows WHERE tbl = ? AND pk IN (SELECT value FROM json_each(?))")
        for (name, (table, pks)) in wanted {
            try query.bind([name.databaseValue, JSONText.array(ofStrings: pks).databaseValue])
            let found = try Row.fetchCursor(query)
            while let row = try found.next() {
                entries[RowIdentity(table: name, pk: row[0])] = Entry(state: try RowStates.decode(row[1], table: table), stored: true)
            }
        }
        try derive(wanted, before: before)
    }

    /// The states of rows kept in no row of `minga_rows`: folded from their changes in the log
    /// (for most, the one insert that made them), read without their values.
    private func derive(_ wanted: [String: (table: TrackedTable, pks: [String])], before: Int64) throws {
        let query = try db.cachedStatement(
            sql: "SELECT pk, origin, seq, hlc, op, mask FROM minga_changes WHERE tbl = ? AND pk IN (SELECT value FROM json_each(?)) AND id < ?"
        )
        for (name, (table, pks)) in wanted {
            let unknown = pks.filter { entries[RowIdentity(table: name, pk: $0)]?.state == nil }
            guard !unknown.isEmpty else { continue }
            try query.bind([name.databaseValue, JSONText.array(ofStrings: unknown).databaseValue, before.databaseValue])
            let found = try Row.fetchCursor(query)
            while let change = try found.next() {
                try entries[RowIdentity(table: name, pk: change[0]), default: Entry()].fold(change, from: 1, with: &reader, table: table)
            }
        }
    }

    /// Reads log rows into states. A log holds few origins and few masks per table (an insert
    /// sets every column, an edit the same few), so each is decoded once, not once per row:
    /// deriving a state is done for every row a batch touches (`scripts/bench` W5).
    struct LogRowReader {
        private var origins: [String: NodeID] = [:]
        private var masks: [String: [String: [Int]]] = [:]

        /// Takes a log row's `origin, seq, hlc, op, mask` (from column `first` on) into a state.
        mutating func absorb(_ change: Row, from first: Int, into state: inout RowState, table: TrackedTable) throws {
            guard let op = ChangeOp(rawValue: change[first + 3]) else { throw MingaError(.damaged, "change log holds an unknown operation") }
            let (origin, mask): (String, String) = (change[first], change[first + 4])
            let positions = masks[table.name]?[mask] ?? remember(mask, of: table)
            let node = try origins[origin] ?? remember(origin)
            state.absorb(WriteRef(origin: node, seq: change[first + 1], hlc: HLC(packed: change[first + 2])), op: op, positions: positions)
        }

        /// The positions a mask sets (``LogRows/setsColumn(_:of:)``), decoded and kept.
        private mutating func remember(_ mask: String, of table: TrackedTable) -> [Int] {
            let positions = mask.utf8.enumerated().filter { $0.element == UInt8(ascii: "1") }.map(\.offset)
            masks[table.name, default: [:]][mask] = positions
            return positions
        }

        private mutating func remember(_ origin: String) throws -> NodeID {
            let node = try NodeID(origin)
            origins[origin] = node
            return node
        }
    }

    /// Whether a state that folds `writes` writes need not be kept: they are all of one
    /// origin (so no conflict can have formed) and at most ``derivableWrites``, so folding
    /// them again from the log at the row's next write costs less than writing the state at
    /// this one. A row written more often keeps its state, so that no write reads a long history.
    static func isDerivable(_ state: RowState, writes: Int) -> Bool {
        state.vector.entries.count == 1 && writes <= derivableWrites
    }

    /// An insert and three edits by the same ministry (`scripts/bench` W2, "edited 3x").
    static let derivableWrites = 4

    /// The state of a row ``load(_:before:)`` read or ``set(_:_:pk:adding:)`` wrote; `nil` when the log holds no change of it.
    func state(of table: TrackedTable, pk: String) -> RowState? {
        entries[RowIdentity(table: table.name, pk: pk)]?.state
    }

    /// Sets a row's state, which folds `adding` more writes than the one read (one, for a
    /// change sealed or applied).
    func set(_ state: RowState, _ table: TrackedTable, pk: String, adding writes: Int = 1) {
        let row = RowIdentity(table: table.name, pk: pk)
        if entries[row, default: Entry()].set(state, adding: writes) { changed.append((row, table)) }
    }

    /// Writes the states changed since the last call, a group of rows per statement, and
    /// forgets every state read (the next page reads its own).
    func save() throws {
        let rows = changed.compactMap { row, table -> (RowIdentity, TrackedTable, RowState)? in
            let entry = entries[row]!
            return !RowStates.isDerivable(entry.state!, writes: entry.writes) || entry.stored ? (row, table, entry.state!) : nil
        }
        (changed, entries) = ([], [:])
        let group = 32
        for start in stride(from: 0, to: rows.count, by: group) {
            let slice = rows[start..<min(start + group, rows.count)]
            let insert = try db.cachedStatement(
                sql: "INSERT OR REPLACE INTO minga_rows(tbl, pk, state) VALUES "
                    + Array(repeating: "(?, ?, ?)", count: slice.count).joined(separator: ", ")
            )
            var arguments: [DatabaseValue] = []
            arguments.reserveCapacity(slice.count * 3)
            for (row, table, state) in slice {
                arguments += [row.table.databaseValue, row.pk.databaseValue, RowStates.encode(state, table: table).databaseValue]
            }
            try insert.run(arguments)
        }
    }

    // MARK: Text form

    static func encode(_ state: RowState, table: TrackedTable) -> String {
        // A row's writes are few (most columns are won by its insert): a scan, newest named
        // first, finds one faster than hashing its dot for every column.
        var writes: [WriteRef] = []
        func number(_ write: WriteRef?) -> Int? {
            guard let write else { return nil }
            if let i = writes.lastIndex(where: { $0.seq == write.seq && $0.origin == write.origin }) { return i }
            writes.append(write)
            return writes.count - 1
        }
        let upsert = number(state.upsert)
        let delete = number(state.delete)
        let winners = state.winners.map(number)
        var out: [UInt8] = []
        out.reserveCapacity(64 + winners.count * 3)
        func append(_ text: String) {
            var text = text
            text.withUTF8 { out.append(contentsOf: $0) }
        }
        for (i, origin) in state.vector.origins.enumerated() {
            if i > 0 { out.append(UInt8(ascii: " ")) }
            append(origin.rawValue)
            out.append(UInt8(ascii: ":"))
            append(String(state.vector[origin]))
        }
        out.append(UInt8(ascii: ";"))
        for (i, write) in writes.enumerated() {
            if i > 0 { out.append(UInt8(ascii: " ")) }
            append(write.origin.rawValue)
            out.append(UInt8(ascii: ":"))
            append(String(write.seq))
            out.append(UInt8(ascii: ":"))
            append(String(write.hlc.packed))
        }
        for field in [upsert, delete] {
            out.append(UInt8(ascii: ";"))
            if let field { append(String(field)) }
        }
        out.append(UInt8(ascii: ";"))
        for (i, winner) in winners.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            if let winner { append(String(winner)) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads the text form byte by byte, without splitting it into strings: every update
    /// sealed or applied reads one (`scripts/bench` W1, W5).
    static func decode(_ text: String, table: TrackedTable) throws -> RowState {
        var text = text
        return try text.withUTF8 { bytes throws(MingaError) -> RowState in
            var reader = StateReader(bytes: bytes)
            var state = RowState()
            guard let state = reader.read(into: &state, width: table.columns.count) else {
                throw MingaError(.damaged, "the merge state of a row of \(table.name) is damaged: \(String(decoding: bytes, as: UTF8.self))")
            }
            return state
        }
    }
}

/// Reads ``RowStates``' text form; each step returns `nil` on anything malformed.
private struct StateReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var at = 0

    static let (colon, space, semicolon, comma) = (UInt8(ascii: ":"), UInt8(ascii: " "), UInt8(ascii: ";"), UInt8(ascii: ","))

    /// Reads a state of a row of a table with `width` columns.
    mutating func read(into state: inout RowState, width: Int) -> RowState? {
        while !ends(at: StateReader.semicolon) {  // VECTOR
            guard let origin = origin(), let seq = number(), ends(at: StateReader.space) || ends(at: StateReader.semicolon, consume: false) else {
                return nil
            }
            state.vector[origin] = seq
        }
        var writes: [WriteRef] = []
        while !ends(at: StateReader.semicolon) {  // WRITES
            guard let origin = origin(), let seq = number(), skip(StateReader.colon), let hlc = number(),
                ends(at: StateReader.space) || ends(at: StateReader.semicolon, consume: false)
            else { return nil }
            writes.append(WriteRef(origin: origin, seq: seq, hlc: HLC(packed: hlc)))
        }
        func write(_ index: Int64?) -> WriteRef?? {
            guard let index else { return .some(nil) }
            return writes.indices.contains(Int(index)) ? writes[Int(index)] : nil
        }
        guard let upsert = write(number()), skip(StateReader.semicolon), let delete = write(number()), skip(StateReader.semicolon) else { return nil }
        (state.upsert, state.delete) = (upsert, delete)
        while at < bytes.count {
            guard let winner = write(number()), state.winners.count < width else { return nil }
            state.winners.append(winner)
            if at < bytes.count, !skip(StateReader.comma) { return nil }
        }
        if let last = state.winners.last, last == nil { return nil }  // encode ends on a winner
        return state
    }

    /// Whether the next byte is `byte` (or the text ended, for `;`), consuming it.
    mutating func ends(at byte: UInt8, consume: Bool = true) -> Bool {
        guard at < bytes.count else { return byte == StateReader.semicolon }
        guard bytes[at] == byte else { return false }
        if consume { at += 1 }
        return true
    }

    mutating func skip(_ byte: UInt8) -> Bool {
        guard at < bytes.count, bytes[at] == byte else { return false }
        at += 1
        return true
    }

    /// An origin up to its `:`, which is consumed.
    mutating func origin() -> NodeID? {
        let start = at
        while at < bytes.count, bytes[at] != StateReader.colon { at += 1 }
        guard at < bytes.count else { return nil }
        let id = try? NodeID(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self))
        at += 1
        return id
    }

    /// A non-negative decimal number; `nil` when there are no digits.
    mutating func number() -> Int64? {
        var value: Int64 = 0
        let start = at
        while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") {
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            value = times &+ Int64(bytes[at] - UInt8(ascii: "0"))
            at += 1
        }
        return at > start ? value : nil
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
        var current: (table: TrackedTable, pk: String, state: RowState, writes: Int)?
        var reader = RowStates.LogRowReader()
        let log = try Row.fetchCursor(db, sql: "SELECT tbl, pk, origin, seq, hlc, op, mask FROM minga_changes ORDER BY tbl, pk")
        while let change = try log.next() {
            let (name, pk): (String, String) = (change[0], change[1])
            if current == nil || current!.table.name != name || current!.pk != pk {
                if let done = current { states.set(done.state, done.table, pk: done.pk, adding: done.writes) }
                guard let table = tables[name] else {
                    throw MingaError(.damaged, "change log is damaged: it names table \(name), which is not tracked")
                }
                current = (table, pk, RowState(), 0)
            }
            try reader.absorb(change, from: 2, into: &current!.state, table: current!.table)
            current!.writes += 1
        }
        if let done = current { states.set(done.state, done.table, pk: done.pk, adding: done.writes) }
        try states.save()
    }
}

extension Replica {
    /// The merge state this node keeps of a row (protocol §13, "Merge state"); `nil` when the
    /// log holds no change of it.
    package func mergeState(table name: String, key: [Value]) throws -> RowState? {
        try writer.read { db in
            let table = try table(named: name)
            let states = RowStates(db)
            let pk = try pk(db, key)
            try states.load([(table, pk)])
            return states.state(of: table, pk: pk)
        }
    }
}
