import Foundation
import MingaCore
import MingaStore
import MingaTestSupport
import PropertyBased
import Testing

/// Random edits on 3–5 replicas that often hit the same rows and columns, exchanged on
/// random schedules (partial batches, stale vectors that re-deliver, relays), then a full
/// exchange: every replica must hold the same data and the same conflicts, both must equal
/// what the pure merge rule derives from the set of changes, and the merge state each keeps
/// incrementally must equal the rule folded over each row's whole history.
@Suite struct ConvergenceTests {
    static let nodes = ["mx.amexcid", "co.apc", "cl.agcid", "pe.apci", "uy.auci"]
    static let pool: [Value] = [.text("a"), .text("b"), .integer(1), .null, .real(0.5), .text("ñ🤝")]

    @Test func replicasConvergeUnderAnyExchangeSchedule() async throws {
        await propertyCheck(count: 200, input: Gen.int(in: 3...5), Gen.int(in: 0...Int(Int32.max)).array(of: 5...40)) { n, script in
            let replicas = try Self.nodes.prefix(n).map { try Fixture.replica($0) }
            for x in script { try Self.step(x, replicas) }
            // Full exchange: a few rounds of everyone pulling from everyone.
            for _ in 0..<2 {
                for to in replicas { for from in replicas where from.nodeID != to.nodeID { try Fixture.sync(from: from, to: to, limit: 25) } }
            }
            let dump = try replicas[0].dump()
            let conflicts = try Fixture.conflictSummary(replicas[0])
            for r in replicas.dropFirst() {
                #expect(try r.vector() == replicas[0].vector())
                #expect(try r.dump() == dump, "dumps of \(r.nodeID) and \(replicas[0].nodeID) differ")
                #expect(try Fixture.conflictSummary(r) == conflicts)
            }
            try Self.expectMatchesTheMergeRule(replicas[0])
            for r in replicas { try Fixture.expectMergeStatesMatchHistory(r) }
        }
    }

    /// One instruction: a write on some replica, or an exchange between two of them.
    static func step(_ x: Int, _ replicas: [Replica]) throws {
        let n = replicas.count
        let r = replicas[(x / 10) % n]
        let key = Value.text("k\((x / 100) % 3)")
        let value = pool[(x / 1200) % pool.count]
        switch x % 10 {
        case 0...5:
            switch (x / 300) % 4 {
            case 0: try r.put(table: "initiatives", row: ["id": key, "title": value, "budget": .integer(Int64(x % 7))])
            case 1: try r.put(table: "initiatives", row: ["id": key, "title": value])
            case 2: try r.put(table: "initiatives", row: ["id": key, "ratio": value])
            default: try r.delete(table: "initiatives", key: [key])
            }
        case 6:
            try r.put(table: "participation", row: ["initiative": key, "org": .text("o\((x / 1000) % 2)"), "role": value])
        default:
            let to = replicas[(x / 100_000) % n]
            guard to.nodeID != r.nodeID else { return }
            let limit = 1 + (x / 1000) % 5
            // Sometimes from a stale (empty) vector, so the batch re-delivers what `to` holds.
            let above = (x / 10_000) % 3 == 0 ? VersionVector() : try to.vector()
            let batch = ChangeBatch(changes: try r.changes(above: above, limit: limit))
            try to.apply(batch)
            if (x / 30_000) % 2 == 0 { try to.apply(batch) }
        }
    }

    /// The store's rows and conflict log equal the pure model's over the same set of changes.
    static func expectMatchesTheMergeRule(_ replica: Replica) throws {
        let changes = try Fixture.allChanges(replica)
        let rows = Dictionary(grouping: changes) { "\($0.table) \($0.keyJSON)" }
        var expected: [String] = []
        for (_, writes) in rows {
            for c in Merge.conflicts(of: writes) {
                expected.append("\(c.id) \(c.status.rawValue) \(c.resolvedBy.map { "\($0.dot)" } ?? "-")")
            }
            let table = replica.tables[writes[0].table]!
            let stored = try replica.get(table: table.name, key: writes[0].key)
            guard let state = Merge.row(of: writes) else {
                #expect(stored == nil)
                continue
            }
            for (column, value) in try #require(stored) where !table.keyColumns.contains(column) {
                #expect(value == state[column] ?? .null)
            }
        }
        #expect(try Fixture.conflictSummary(replica) == expected.sorted())
    }
}

@Suite struct ApplyTests {
    @Test func aBatchWithAGapIsRefusedWholeAndChangesNothing() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        for i in 0..<3 { try mx.put(table: "initiatives", row: ["id": .text("k\(i)")]) }
        let all = try Fixture.allChanges(mx)
        let before = try co.dump()
        let gap = #expect(throws: MingaError.self) { try co.apply(ChangeBatch(changes: [all[0], all[2]])) }
        #expect(gap?.code == .rejected && gap?.message.contains("sequence gap for origin mx.amexcid") == true)
        #expect(try co.dump() == before && co.vector().isEmpty && co.heldOrigins().isEmpty)
    }

    /// A change whose content breaks the rules is held (protocol §13) with its origin's run:
    /// mx's three changes are vouched for by one signature at the end, so all three wait.
    @Test func aChangeWithBadContentIsHeldWithItsOriginsRunAndOthersApply() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let cl = try Fixture.replica("cl.agcid")
        for i in 0..<3 { try mx.put(table: "initiatives", row: ["id": .text("k\(i)")]) }
        try cl.put(table: "initiatives", row: ["id": .text("c")])
        let all = try Fixture.allChanges(mx)
        let other = try Fixture.allChanges(cl)
        var unknown = all[1]
        unknown.table = "nowhere"
        // Columns are checked by walking them beside the table's, both in canonical order
        // (budget, doc, ratio, title): a wrong name anywhere in that order is found and named.
        // A table or column this node does not have may come with a migration it lacks (§20).
        var cases: [(Change, String, MingaError.Code)] = [(unknown, "table nowhere is not tracked here", .needsMigration)]
        for (column, problem, code) in [
            ("nope", "no column nope", MingaError.Code.needsMigration), ("A", "no column A", .needsMigration),
            ("c", "no column c", .needsMigration), ("zz", "no column zz", .needsMigration),
            ("id", "column id is part of the key", .badContent),
        ] {
            var badColumn = all[1]
            badColumn.columns[column] = .null
            cases.append((badColumn, problem, code))
        }
        var badKey = all[1]
        badKey.key = [.text("a"), .text("b")]
        cases.append((badKey, "has a key of 1 column", .badContent))
        for (bad, problem, code) in cases {
            let co = try Fixture.replica("co.apc")
            let result = try co.apply(ChangeBatch(changes: [all[0], other[0], bad, all[2]]))
            #expect(result.applied == 1, "cl's change applies whatever mx's hold")
            let held = try #require(try co.heldOrigins().first)
            #expect(held.code == code && held.firstSeq == 1 && held.count == 3, "\(held)")
            #expect(held.reason.contains(problem) && held.reason.contains("mx.amexcid:2"), "\(problem): \(held.reason)")
            #expect(try co.vector() == VersionVector([cl.nodeID: 1]))
        }
    }

    /// A row one origin wrote a few times keeps no merge state: it is folded again from its
    /// log at its next write. Written more often, or by a second origin, it keeps one, so that
    /// no write reads a long history. Either way the state is the rule over the whole history,
    /// where it was written and where it was applied (protocol §13, "Merge state").
    @Test func aRowWrittenOftenOrByTwoOriginsKeepsItsMergeState() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        for n in 1...7 {
            for i in 0..<n { try mx.put(table: "initiatives", row: ["id": .text("r\(n)"), "title": .text("v\(i)")]) }
            if n == 3 { _ = try mx.vector() }  // seals the first rows' writes apart from the rest
        }
        try Fixture.sync(from: mx, to: co)
        func kept(_ replica: Replica) throws -> Set<String> {
            Set(try replica.writer.read { try String.fetchAll($0, sql: "SELECT pk FROM minga_rows WHERE tbl = 'initiatives'") })
        }
        for r in [mx, co] {
            try Fixture.expectMergeStatesMatchHistory(r)
            #expect(try kept(r) == [#"["r5"]"#, #"["r6"]"#, #"["r7"]"#], "\(r.nodeID)")
        }
        try co.put(table: "initiatives", row: ["id": .text("r1"), "title": .text("co")])
        try Fixture.sync(from: co, to: mx)
        for r in [mx, co] {
            try Fixture.expectMergeStatesMatchHistory(r)
            #expect(try kept(r) == [#"["r1"]"#, #"["r5"]"#, #"["r6"]"#, #"["r7"]"#], "\(r.nodeID)")
        }
    }

    @Test func reDeliveryIsHarmless() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        try mx.put(table: "initiatives", row: ["id": .text("k"), "title": .text("t")])
        let batch = ChangeBatch(changes: try Fixture.allChanges(mx))
        #expect(try co.apply(batch).applied == 1)
        let second = try co.apply(batch)
        #expect(second.applied == 0 && second.duplicates == 1)
        #expect(try Fixture.allChanges(co).count == 1)
    }

    @Test func aChangeClaimingThisNodesOwnOriginThatItNeverIssuedIsRefused() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let forged = Change(
            origin: mx.nodeID,
            seq: 1,
            hlc: HLC(millis: 1, counter: 0),
            table: "initiatives",
            key: [.text("x")],
            op: .insert,
            columns: ["title": .null, "budget": .null, "ratio": .null, "doc": .null]
        )
        let held = try mx.apply(ChangeBatch(changes: [forged])).held
        #expect(held.first?.code == .outOfOrder && held.first?.reason.contains("never issued") == true, "\(held)")
        #expect(try mx.get(table: "initiatives", key: [.text("x")]) == nil)
    }

    @Test func aResolutionOnOneNodeResolvesTheConflictEverywhere() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        let cl = try Fixture.replica("cl.agcid")
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("Agua")])
        try Fixture.sync(from: mx, to: co)
        try Fixture.sync(from: mx, to: cl)
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("Agua MX")])
        try co.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("Agua CO")])
        for a in [mx, co, cl] { for b in [mx, co, cl] where a.nodeID != b.nodeID { try Fixture.sync(from: a, to: b) } }
        let open = try cl.conflicts()
        #expect(open.count == 1)
        #expect(try mx.conflicts().map(\.conflict.id) == open.map(\.conflict.id))

        // cl, which wrote neither side, takes the losing value.
        let loser = open[0].loser.value
        try cl.resolve(conflictID: String(open[0].conflict.id.prefix(6)), with: .takeLoser)
        #expect(try cl.conflicts().isEmpty)
        for a in [cl, co, mx] { for b in [mx, co, cl] where a.nodeID != b.nodeID { try Fixture.sync(from: a, to: b) } }
        for r in [mx, co, cl] {
            #expect(try r.conflicts().isEmpty)
            #expect(try r.get(table: "initiatives", key: [.text("XM-1")])?.first { $0.0 == "title" }?.1 == loser)
            #expect(try Fixture.conflictSummary(r) == Fixture.conflictSummary(cl))
        }
        let again = #expect(throws: MingaError.self) { try cl.resolve(conflictID: open[0].conflict.id, with: .keepWinner) }
        #expect(again?.code == .invalidInput, "\(again?.message ?? "")")
    }

    @Test func aResolutionTheTableWouldRefuseIsRefusedAndChangesNothing() throws {
        let schema = """
            CREATE TABLE initiatives(id TEXT PRIMARY KEY, title TEXT NOT NULL, role TEXT CHECK (role IN ('provider', 'recipient')));
            """
        let mx = try Fixture.replica("mx.amexcid", schema: schema)
        let co = try Fixture.replica("co.apc", schema: schema)
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("A")])
        try Fixture.sync(from: mx, to: co)
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("MX"), "role": .text("recipient")])
        try co.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("CO"), "role": .text("provider")])
        try Fixture.sync(from: co, to: mx)
        let conflicts = try mx.conflicts()
        #expect(conflicts.count == 2)
        let before = (try mx.dump(), try Fixture.allChanges(mx).count)
        for conflict in conflicts {
            let bad: Value = conflict.conflict.column == "role" ? .text("foo") : .null
            #expect { try mx.resolve(conflictID: conflict.conflict.id, with: .value(bad)) } throws: { error in
                (error as? MingaError)?.code == .badContent && (error as? MingaError)?.message.contains("refuses this value") == true
            }
        }
        #expect(try mx.dump() == before.0 && Fixture.allChanges(mx).count == before.1, "nothing written, nothing sealed")
        #expect(try mx.conflicts().count == 2)
        // A value the table takes is written as before.
        let role = try #require(conflicts.first { $0.conflict.column == "role" })
        try mx.resolve(conflictID: role.conflict.id, with: .value(.text("recipient")))
        #expect(try mx.conflicts().count == 1)
    }

    @Test func aPageOfTheConflictLogFiltersAndCounts() throws {
        let (mx, co) = try Fixture.concurrentTitles()
        try co.put(table: "participation", row: ["initiative": .text("XM-1"), "org": .text("CO-1"), "role": .text("1")])
        try Fixture.sync(from: mx, to: co)
        try Fixture.sync(from: co, to: mx)
        func page(_ resolved: Bool?, _ table: String?, _ limit: Int = 10) throws -> (Int, Int) {
            let (records, total) = try mx.conflicts(resolved: resolved, table: table, limit: limit)
            return (records.count, total)
        }
        #expect(try page(false, nil) == (1, 1) && page(nil, "initiatives") == (1, 1))
        #expect(try page(true, nil) == (0, 0) && page(false, "participation") == (0, 0))
        #expect(try page(false, nil, 0) == (0, 1), "the total counts beyond the page")
        try mx.resolve(conflictID: try #require(try mx.conflicts().first).conflict.id, with: .keepWinner)
        #expect(try page(true, "initiatives") == (1, 1) && page(false, nil) == (0, 0) && page(nil, nil) == (1, 1))
    }

    @Test func keepingTheWinnerIsRecordedEvenThoughNoValueChanges() throws {
        let (mx, co) = try Fixture.concurrentTitles()
        try Fixture.sync(from: mx, to: co)
        try Fixture.sync(from: co, to: mx)
        let dump = try mx.dump()
        let id = try #require(try mx.conflicts().first?.conflict.id)
        try mx.resolve(conflictID: id, with: .keepWinner)
        #expect(try mx.dump() == dump)
        try Fixture.sync(from: mx, to: co)
        #expect(try co.conflicts().isEmpty)
        #expect(try co.dump() == dump)
    }

    @Test func aLocalWriteFromAnyClientThatSawBothSidesSettlesTheConflict() throws {
        let (mx, co) = try Fixture.concurrentTitles()
        try Fixture.sync(from: mx, to: co)
        #expect(try co.conflicts().count == 1)
        try co.writer.write { db in try db.execute(sql: "UPDATE initiatives SET title = 'Both' WHERE id = 'XM-1'") }
        #expect(try co.conflicts().isEmpty)
        try Fixture.sync(from: co, to: mx)
        #expect(try mx.conflicts().isEmpty)
        #expect(try mx.dump() == co.dump())
    }

    /// The store asks SQL whether an earlier write disputes an arriving one before it reads
    /// the row's history; SQLite's `=` finds 1 and 1.0 equal, the merge rule does not.
    @Test func concurrentValuesEqualOnlyToSQLiteAreAConflictAndEqualOnesAreNot() throws {
        let (mx, co, cl) = (try Fixture.replica("mx.amexcid"), try Fixture.replica("co.apc"), try Fixture.replica("cl.agcid"))
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "doc": .integer(1)])  // doc is a BLOB column: no affinity
        try co.put(table: "initiatives", row: ["id": .text("XM-1"), "doc": .real(1)])
        try cl.put(table: "initiatives", row: ["id": .text("XM-1"), "doc": .integer(1)])
        for (from, to) in [(mx, co), (cl, co), (co, mx), (co, cl)] { try Fixture.sync(from: from, to: to) }
        for replica in [mx, co, cl] {
            let conflicts = try replica.conflicts()
            #expect(conflicts.count == 2, "co's 1.0 against mx's 1 and cl's 1; mx's 1 against cl's 1 is none")
            #expect(conflicts.allSatisfy { $0.conflict.column == "doc" })
            try ConvergenceTests.expectMatchesTheMergeRule(replica)
        }
        #expect(try mx.dump() == co.dump() && co.dump() == cl.dump())
    }

    /// Equal writes of a row in one batch ask SQL only about the writes after the last one
    /// checked; a write with another value after them must still meet all of them.
    @Test func equalWritesInOneBatchThenAnotherValueFormEveryConflict() throws {
        let nodes = try ["mx.amexcid", "co.apc", "pe.apci", "cl.agcid"].map { try Fixture.replica($0) }
        for (node, doc) in zip(nodes, [Value.text("same"), .text("same"), .text("same"), .text("other")]) {
            try node.put(table: "initiatives", row: ["id": .text("XM-1"), "doc": doc])
        }
        for other in nodes.dropFirst() { try Fixture.sync(from: other, to: nodes[0]) }  // mx's log: mx, co, pe, cl
        let uy = try Fixture.replica("uy.auci")
        #expect(try Fixture.sync(from: nodes[0], to: uy) == 4)
        #expect(try uy.conflicts().count == 3, "cl's value against mx's, co's and pe's")
        try ConvergenceTests.expectMatchesTheMergeRule(uy)
        #expect(try uy.dump() == nodes[0].dump())
    }

    /// SQLite finds 0.0 `IS` -0.0; the merge rule compares reals by bit pattern (§3).
    @Test func concurrentZeroAndNegativeZeroAreAConflict() throws {
        let (mx, co) = (try Fixture.replica("mx.amexcid"), try Fixture.replica("co.apc"))
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "doc": .real(0)])
        try co.put(table: "initiatives", row: ["id": .text("XM-1"), "doc": .real(-0.0)])
        try Fixture.sync(from: mx, to: co)
        try Fixture.sync(from: co, to: mx)
        for replica in [mx, co] {
            #expect(try replica.conflicts().count == 1)
            try ConvergenceTests.expectMatchesTheMergeRule(replica)
        }
        #expect(try mx.dump() == co.dump())
    }

    @Test func deleteAgainstUpdateIsARowConflict() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("A"), "budget": .integer(3)])
        try Fixture.sync(from: mx, to: co)
        try co.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("CO")])
        try mx.delete(table: "initiatives", key: [.text("XM-1")])
        try Fixture.sync(from: mx, to: co)
        try Fixture.sync(from: co, to: mx)
        let conflicts = try mx.conflicts()
        #expect(conflicts.count == 1 && conflicts[0].conflict.column == nil)
        #expect(try mx.dump() == co.dump())
        // Whichever side lost, taking it restores that side everywhere.
        let loserDeleted = conflicts[0].loser.op == .delete
        try co.resolve(conflictID: conflicts[0].conflict.id, with: .takeLoser)
        try Fixture.sync(from: co, to: mx)
        let row = try mx.get(table: "initiatives", key: [.text("XM-1")])
        #expect((row == nil) == loserDeleted)
        if let row { #expect(row.first { $0.0 == "budget" }?.1 == .integer(3)) }
        #expect(try mx.conflicts().isEmpty && co.conflicts().isEmpty)
        #expect(try mx.dump() == co.dump())
    }
}
