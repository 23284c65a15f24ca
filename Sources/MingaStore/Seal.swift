import Foundation
import GRDB
import MingaCore

/// Sealing: turning the local writes the triggers left in `minga_pending` into signed changes.
///
/// Every transaction that reads or extends the change log seals first, inside the same
/// transaction (through ``Replica/integrateLocalWrites(_:)``, which also refuses while the
/// tracked tables have drifted and folds the new writes into open conflicts), so the log never shows a half-sealed state and remote changes are never
/// interleaved with unsealed local ones: a pending write's causal context is exactly what the
/// node held when it was made. Sealing assigns, in write order,
/// - the next sequence number of this node's current origin (1, 2, 3 … with no gaps),
/// - an HLC no earlier than the time the write was made (its trigger recorded it), later than
///   every change held and than the last one issued, even when the wall clock went back
///   (``HLC/next(after:nowMillis:)``; protocol/README.md §4, "Write time"),
/// - the row's causal context,
/// - the origin's hash-chain link, and a signature at least every
///   ``OriginChain/signingInterval`` changes, whenever ``OriginChain/signingBytes`` of them
///   were issued unsigned, and on the last one sealed.
extension Replica {
    /// The origin this node writes under: its id, or `id~EPOCH` once restored from a backup.
    func currentOrigin(_ db: Database) throws -> NodeID {
        nodeID.inEpoch(try Int64.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'epoch'") ?? 0)
    }

    /// Local writes not sealed yet (made since the last read of the log).
    func pendingCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM minga_pending")) ?? 0
    }

    func seal(_ db: Database) throws {
        guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM minga_pending)")) == true else { return }
        var issuer = try Issuer(db, origin: try currentOrigin(db), key: try sealingKey(db))
        let keyWidth = tables.values.map(\.keyColumns.count).max()!
        let width = tables.values.map(\.columns.count).max()!
        let pending = try db.cachedStatement(
            sql:
                "SELECT id, tbl, op, mask, at\((0..<keyWidth).map { ", k\($0)" }.joined())\((0..<width).map { ", c\($0)" }.joined()) FROM minga_pending WHERE id > ? ORDER BY id LIMIT 2000"
        )
        var cursor: Int64 = 0
        var repaired: [(table: TrackedTable, pk: String)] = []
        let log = try LogWriter(db)
        let states = RowStates(db)
        while true {
            let rows = try PendingRow.fetchPage(pending, after: cursor)
            guard let last = rows.last else { break }
            cursor = last.id
            let writes = try decodePage(db, rows, keyWidth: keyWidth, repaired: &repaired)
            try issue(writes, by: &issuer, states: states, log: log)
        }
        try issuer.signLast(db)
        try db.execute(sql: "DELETE FROM minga_pending WHERE id <= ?", arguments: [cursor])
        try repairText(db, repaired)
        try Replica.setMeta(db, "last_hlc", issuer.hlc)
    }

    /// The key local writes are signed with; refused in a backup (it never issues changes, so
    /// that a restore cannot reuse sequence numbers) and when the key file is missing.
    private func sealingKey(_ db: Database) throws -> SigningKey {
        if try Int.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'backup'") == 1 {
            throw MingaError(
                .invalidInput,
                "this file is a backup made by `minga backup`: it never issues changes itself, so that a restore cannot reuse sequence numbers; restore it with `minga restore BACKUP --db NEW` and write there"
            )
        }
        guard let signingKey else {
            throw MingaError(
                .failed,
                "there are local writes to seal, but the node's private key file \(keyPath ?? "") is missing; put the node's key back (it is not part of backups), then try again"
            )
        }
        return signingKey
    }

    /// The writes one page of pending rows stands for; rows holding text that is not valid
    /// UTF-8 are noted in `repaired` (``repairText(_:_:)``).
    private func decodePage(
        _ db: Database,
        _ rows: [PendingRow],
        keyWidth: Int,
        repaired: inout [(table: TrackedTable, pk: String)]
    ) throws -> [PendingWrite] {
        let now = clock()
        var writes: [PendingWrite] = []
        for row in rows {
            let table = try self.table(named: row.table)
            let decoded = try PendingWrite.decode(row, table: table, keyWidth: keyWidth, now: now) { try pk(db, $0) }
            writes += decoded
            if let last = decoded.last, try holdsInvalidUTF8(db, row, table: table, from: 5 + keyWidth) { repaired.append((table, last.pk)) }
        }
        return writes
    }

    /// Issues a page of writes: the rows' states in one query per table, then every change
    /// issued in memory, appended to the log and the states saved in groups.
    private func issue(_ writes: [PendingWrite], by issuer: inout Issuer, states: RowStates, log: LogWriter) throws {
        try states.load(writes.map { ($0.table, $0.pk) })
        var sealed: [LogRows] = []
        sealed.reserveCapacity(writes.count)
        for write in writes {
            var state = states.state(of: write.table, pk: write.pk) ?? RowState()
            // A migration's context is every migration held (protocol §20), so that they apply
            // everywhere in the order their writers applied them.
            let context = write.table.name == Replica.schemaTable ? issuer.migrations : state.vector
            let (change, link) = try issuer.issue(write, context: context)
            let rows = LogRows(change, table: write.table, pk: write.pk, link: link)
            state.absorb(change, rows)
            states.set(state, write.table, pk: write.pk)
            sealed.append(rows)
        }
        guard !sealed.isEmpty else { return }  // updates that changed nothing
        let first = try log.append(sealed)
        try states.save()
        issuer.lastID = first + Int64(sealed.count) - 1
    }

    /// Issues an origin's changes in order: the next seq and HLC, the chain link, a signature
    /// where one is due (``OriginChain``).
    struct Issuer {
        let origin: NodeID
        let key: SigningKey
        var seq: Int64
        var link: [UInt8]
        var hlc: Int64
        /// Every migration held, per origin its greatest seq: a new migration's context.
        var migrations = VersionVector()
        /// Wire bytes issued since the last signature (``OriginChain/signingBytes``).
        var unsignedBytes = 0
        /// The log id of the last change issued, and whether it is signed.
        var lastID: Int64?
        var lastSigned = false

        init(_ db: Database, origin: NodeID, key: SigningKey) throws {
            (self.origin, self.key) = (origin, key)
            let last = try Row.fetchOne(
                db,
                sql: "SELECT seq, link FROM minga_changes WHERE origin = ? ORDER BY seq DESC LIMIT 1",
                arguments: [origin.rawValue]
            )
            seq = last?["seq"] ?? 0
            link = (last?["link"] as Data?).map { Array($0) } ?? OriginChain.genesis
            hlc = max(
                try Int64.fetchOne(db, sql: "SELECT max(hlc) FROM minga_changes") ?? 0,
                try Int64.fetchOne(db, sql: "SELECT value FROM minga_meta WHERE key = 'last_hlc'") ?? 0
            )
            for entry in try Row.fetchAll(db, sql: "SELECT origin, max(seq) FROM minga_changes WHERE tbl = 'minga_schema' GROUP BY origin") {
                migrations[try NodeID(entry[0])] = entry[1]
            }
        }

        mutating func issue(_ write: PendingWrite, context: VersionVector) throws -> (Change, [UInt8]) {
            seq += 1
            hlc = HLC.next(after: HLC(packed: hlc), nowMillis: write.at).packed
            var change = Change(
                origin: origin,
                seq: seq,
                hlc: HLC(packed: hlc),
                table: write.table.name,
                key: write.key,
                op: write.op,
                columns: write.columns,
                context: context
            )
            link = OriginChain.link(after: link, change)
            unsignedBytes += change.estimatedWireSize
            if seq % Int64(OriginChain.signingInterval) == 0 || unsignedBytes >= OriginChain.signingBytes {
                change.signature = try key.sign(link: link)
                unsignedBytes = 0
            }
            lastSigned = change.signature != nil
            if write.table.name == Replica.schemaTable { migrations.raise(change.dot) }
            return (change, link)
        }

        /// Signs the last change issued, if it is not: every run of sealing ends on a signature.
        func signLast(_ db: Database) throws {
            guard let lastID, !lastSigned else { return }
            try db.execute(sql: "UPDATE minga_changes SET sig = ? WHERE id = ?", arguments: [try key.sign(link: link), lastID])
        }
    }

    /// Whether a pending row holds text that is not valid UTF-8: bytes of another encoding
    /// (Latin-1) written as text by some program. GRDB reads such text with each bad sequence
    /// replaced by U+FFFD, so only a value holding U+FFFD is read again as bytes, to tell a
    /// real U+FFFD from a replaced one. (Keys are refused where written: ``ColumnContentRule``.)
    func holdsInvalidUTF8(_ db: Database, _ row: PendingRow, table: TrackedTable, from first: Int) throws -> Bool {
        for position in table.columns.indices {
            guard case .string(let text) = row.values[first + position].storage,
                text.utf8.contains(0xEF), text.unicodeScalars.contains("\u{FFFD}")
            else { continue }
            let raw = try Data.fetchOne(
                db,
                sql: "SELECT CAST(c\(position) AS BLOB) FROM minga_pending WHERE id = ?",
                arguments: [row.id]
            )
            if let raw, !raw.elementsEqual(text.utf8) { return true }
        }
        return false
    }

    /// Text that is not valid UTF-8 cannot travel (protocol §3): the change carries it as GRDB
    /// read it, each bad sequence replaced by U+FFFD, and here the origin's row is re-derived
    /// from its log, so this node holds what every other node will hold instead of bytes no
    /// other node has. Counted for `minga status`, never silent.
    func repairText(_ db: Database, _ rows: [(table: TrackedTable, pk: String)]) throws {
        guard !rows.isEmpty else { return }
        try db.execute(sql: "UPDATE minga_capture SET suppress = 1")
        var seen = Set<RowIdentity>()
        for (table, pk) in rows where seen.insert(RowIdentity(table: table.name, pk: pk)).inserted {
            _ = try merge(db, table: table, pk: pk, newFrom: .max)
        }
        try db.execute(sql: "UPDATE minga_capture SET suppress = 0")
        try db.execute(
            sql: "INSERT INTO minga_meta(key, value) VALUES ('repaired_text', ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            arguments: [rows.count]
        )
    }
}

/// One write the triggers left in `minga_pending`, read for sealing (``Capture`` gives the
/// row's layout).
struct PendingWrite {
    let table: TrackedTable
    let op: ChangeOp
    let key: [Value]
    /// The row key's text form (``Replica/pk(_:_:)``).
    let pk: String
    let columns: Columns
    /// When the write was made, in milliseconds; a writer's clock ahead of this one's counts as now.
    let at: Int64

    /// The changes one pending row stands for: none for an update that changed nothing, two
    /// for a change of key (the old row goes, the new one comes with all its columns).
    static func decode(_ row: PendingRow, table: TrackedTable, keyWidth: Int, now: Int64, pk: ([Value]) throws -> String) throws -> [PendingWrite] {
        let mask = Int64.fromDatabaseValue(row.values[3]) ?? 0
        let at = min(Int64.fromDatabaseValue(row.values[4]) ?? now, now)
        let value = { (column: Int) in Value(row.values[5 + keyWidth + column]) }
        let key = table.keyColumns.map { value(table.position(of: $0)!) }
        func write(_ op: ChangeOp, _ key: [Value], _ columns: Columns) throws -> PendingWrite {
            PendingWrite(table: table, op: op, key: key, pk: try pk(key), columns: columns, at: at)
        }
        switch String.fromDatabaseValue(row.values[2]) ?? "" {
        case "insert": return [try write(.insert, key, table.changeColumns(where: { mask & (1 << $0) != 0 }, value: value))]
        case "update":
            let columns = table.changeColumns(where: { mask & (1 << $0) != 0 }, value: value)
            return columns.isEmpty ? [] : [try write(.update, key, columns)]
        case "delete": return [try write(.delete, key, [:])]
        case "rekey":
            let oldKey = (0..<table.keyColumns.count).map { Value(row.values[5 + $0]) }
            return [try write(.delete, oldKey, [:]), try write(.insert, key, table.changeColumns(where: { _ in true }, value: value))]
        default: throw MingaError(.damaged, "a pending write has an unknown operation \(row.values[2])")
        }
    }
}

/// One row of `minga_pending` as sealing selects it (`id, tbl, op, mask, at`, the old key
/// `k…`, the values `c…`), its values read straight from the statement rather than copied
/// into a GRDB `Row` with its column names (sealing reads every local write: `scripts/bench` W1).
struct PendingRow {
    let values: [DatabaseValue]

    var id: Int64 { Int64.fromDatabaseValue(values[0]) ?? 0 }
    var table: String { String.fromDatabaseValue(values[1]) ?? "" }

    /// The rows of one page of `statement` (whose one argument is the id to start after).
    static func fetchPage(_ statement: Statement, after id: Int64) throws -> [PendingRow] {
        var rows: [PendingRow] = []
        let width = CInt(statement.columnCount)
        let step = try Int64.fetchCursor(statement, arguments: [id])
        while try step.next() != nil {
            rows.append(PendingRow(values: (0..<width).map { DatabaseValue(sqliteStatement: statement.sqliteStatement, index: $0) }))
        }
        return rows
    }
}
