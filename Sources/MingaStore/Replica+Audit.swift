import Foundation
import GRDB
import MingaCore

/// The audit trail of a row: its changes, each with its signature checked again.
extension Replica {
    /// Every change of one row, oldest first in log order, each with its signature checked
    /// again: who changed what, and when, and whether the origin vouches for it. With
    /// `newest`, only that many of the latest (a page for a person; a row edited thousands of
    /// times is audited in part).
    public func log(table name: String, key: [Value], newest: Int? = nil) throws -> [AuditedChange] {
        let table = try table(named: name)
        return try writer.write { db in
            try integrateLocalWrites(db)
            let roster = try roster(db)
            let changes = try history(db, table: table, pk: try pk(db, key)).map(\.change)
            var audited: [Dot: AuditedChange.Signature] = [:]
            // Newest first, so that an older change's walk to its signature stops at one audited.
            return try changes.suffix(newest ?? changes.count).reversed().map { change in
                let signature = try audit(db, change, roster: roster, known: audited)
                audited[change.dot] = signature
                return AuditedChange(change: change, signature: signature)
            }.reversed()
        }
    }

    /// The signature status of the changes `dots` name (those the log holds), as ``log(table:key:newest:)`` gives it.
    public func signatures(of dots: [Dot]) throws -> [Dot: AuditedChange.Signature] {
        try writer.write { db in
            try integrateLocalWrites(db)
            let roster = try roster(db)
            var result: [Dot: AuditedChange.Signature] = [:]
            for dot in dots {
                if let change = try change(db, dot) { result[dot] = try audit(db, change, roster: roster) }
            }
            return result
        }
    }

    /// Recomputes the origin's chain from the held link before `change` up to the next change
    /// the origin signed, and checks that signature with the roster's key. A walk that reaches
    /// a change already audited (`known`), its link matching, takes that change's verdict.
    func audit(
        _ db: Database,
        _ change: Change,
        roster: [NodeID: PublicKey],
        known: [Dot: AuditedChange.Signature] = [:]
    ) throws -> AuditedChange.Signature {
        guard let key = roster[change.origin.node] else { return .unknownOrigin }
        guard let previous = try heldLink(db, change.origin, change.seq - 1) else { return .broken("the change before it is missing") }
        var link = OriginChain.link(after: previous, change)
        var current = change
        while true {
            guard try heldLink(db, current.origin, current.seq) == link else {
                return .broken("its content does not match the hash chain stored at \(current.dot)")
            }
            if current.dot != change.dot, let verdict = known[current.dot] { return verdict }
            if let signature = current.signature {
                return key.isValid(signature: signature, link: link)
                    ? .verified(signedAt: current.dot) : .broken("the signature at \(current.dot) does not verify")
            }
            guard let next = try self.change(db, Dot(origin: current.origin, seq: current.seq + 1)) else {
                return .broken("no signature follows it")
            }
            link = OriginChain.link(after: link, next)
            current = next
        }
    }

    /// One change by its dot, as held.
    func change(_ db: Database, _ dot: Dot) throws -> Change? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT \(Replica.changeColumns) FROM minga_changes c WHERE c.origin = ? AND c.seq = ?"),
                arguments: [dot.origin.rawValue, dot.seq]
            )
        else { return nil }
        let table = try self.table(named: try String.fetchOne(db, sql: "SELECT tbl FROM minga_changes WHERE id = ?", arguments: [row["id"]])!)
        guard
            let values = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM \(SQL.id(table.valuesTable)) WHERE change_id = ?"),
                arguments: [row["id"]]
            )
        else { return nil }
        return try change(row, values: values, table: table)
    }
}
