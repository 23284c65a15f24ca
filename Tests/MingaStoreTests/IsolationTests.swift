import Foundation
import MingaCore
import MingaStore
import MingaTestSupport
import PropertyBased
import Testing

/// Per-origin isolation (protocol/README.md §13, What holds a change back; Held changes): a
/// change bad on its own is held with its origin's later changes and whatever depends on
/// it, everything else applies, the vector never passes a held change, and held changes
/// apply once the cause is gone.
@Suite struct IsolationTests {
    /// The federation of ``ConvergenceTests`` with one member, `x`, missing from the roster of
    /// some replicas while they write and exchange at random (so other origins' changes come
    /// to depend on x's). At every step each replica's log is causally closed and holds none
    /// of x's changes where x is unknown; once x is enrolled everywhere, the held changes
    /// apply and every replica converges, as the merge rule says, with nothing held.
    @Test func heldOriginsNeverSkipAndConvergeOnceTheCauseIsGone() async throws {
        await propertyCheck(count: 120, input: Gen.int(in: 3...5), Gen.int(in: 0...Int(Int32.max)).array(of: 5...40), Gen.int(in: 1...15)) {
            n,
            script,
            mask in
            let replicas = try ConvergenceTests.nodes.prefix(n).map { try Fixture.replica($0) }
            let x = replicas[0].nodeID
            let distrusting = replicas.indices.dropFirst().filter { mask & (1 << ($0 - 1)) != 0 }.map { replicas[$0] }
            for r in distrusting { try r.removeFromRoster(x) }
            for step in script {
                try ConvergenceTests.step(step, replicas)
                for r in replicas { try Self.expectCausallyClosed(r) }
                for r in distrusting { #expect(try r.vector()[x] == 0, "\(r.nodeID) applied a change of an origin outside its roster") }
            }
            for r in distrusting { try r.addToRoster(x, key: TestKeys.key(x.rawValue).publicKey) }
            for r in replicas { try r.retryHeld() }
            for _ in 0..<2 {
                for to in replicas { for from in replicas where from.nodeID != to.nodeID { try Fixture.sync(from: from, to: to, limit: 25) } }
            }
            let dump = try replicas[0].dump()
            for r in replicas {
                let held = try r.heldOrigins()
                #expect(held.isEmpty, "\(r.nodeID) still holds \(held)")
                #expect(try r.vector() == replicas[0].vector() && r.dump() == dump)
            }
            try ConvergenceTests.expectMatchesTheMergeRule(replicas[0])
        }
    }

    /// Every applied change's causal context is within the vector, and no held origin's
    /// first held change is below it.
    static func expectCausallyClosed(_ r: Replica) throws {
        let vector = try r.vector()
        for change in try Fixture.allChanges(r) {
            #expect(change.context.isIncluded(in: vector), "\(r.nodeID) applied \(change.dot) without all it depends on")
        }
        for held in try r.heldOrigins() { #expect(vector[held.origin] < held.firstSeq, "\(r.nodeID)'s vector passed held \(held.first)") }
    }

    /// co writes after seeing mx's change: cl, which does not know mx yet, holds co's later
    /// change behind mx's while co's earlier one applies; then both apply unasked.
    @Test func aChangeThatDependsOnAHeldChangeWaitsBehindIt() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        let cl = try Fixture.replica("cl.agcid")
        try cl.removeFromRoster(mx.nodeID)
        try co.put(table: "initiatives", row: ["id": .text("CO-1")])
        _ = try co.vector()  // sealed and signed on its own, before it saw mx
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .text("Agua")])
        try Fixture.sync(from: mx, to: co)
        try co.put(table: "initiatives", row: ["id": .text("XM-1"), "budget": .integer(5)])
        let result = try cl.apply(ChangeBatch(changes: try Fixture.allChanges(co)), source: "pull co")
        #expect(result.applied == 1 && result.held.map(\.origin) == [mx.nodeID, co.nodeID])
        let held = Dictionary(uniqueKeysWithValues: try cl.heldOrigins().map { ($0.origin, $0) })
        #expect(held[mx.nodeID]?.code == .unknownOrigin, "\(held)")
        let behind = try #require(held[co.nodeID])
        #expect(behind.code == .heldBehind && behind.firstSeq == 2 && behind.reason.contains("mx.amexcid:1"), "\(behind)")
        #expect(try cl.vector() == VersionVector([co.nodeID: 1]))
        try cl.addToRoster(mx.nodeID, key: TestKeys.key("mx.amexcid").publicKey)
        #expect(try cl.retryHeld().applied == 2)
        #expect(try cl.heldOrigins().isEmpty && cl.dump() == co.dump())
    }

    /// A change this node's table refuses to take (a NULL where the column is NOT NULL, which
    /// no honest origin sends) is held with what follows it; the rest of the batch applies.
    @Test func aChangeThatCannotBeWrittenHereIsHeldAndTheRestApplies() throws {
        let schema = "CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT NOT NULL);"
        let co = try Fixture.replica("co.apc", schema: schema)
        let cl = try Fixture.replica("cl.agcid", schema: schema)
        try co.put(table: "item", row: ["id": .text("fine"), "name": .text("Agua")])
        // mx's inserts a, b, c at seq 1, 2, 3; b's name is NULL.
        let mx = try NodeID("mx.amexcid")
        let names: [(key: String, name: Value)] = [("a", .text("A")), ("b", .null), ("c", .text("C"))]
        let broken = try TestKeys.signed(
            names.enumerated().map { i, row in
                Change(
                    origin: mx,
                    seq: Int64(i + 1),
                    hlc: HLC(millis: Int64(i + 1), counter: 0),
                    table: "item",
                    key: [.text(row.key)],
                    op: .insert,
                    columns: ["name": row.name]
                )
            }
        )
        let result = try cl.apply(ChangeBatch(changes: broken + (try Fixture.allChanges(co))))
        #expect(result.applied == 2, "mx:1 and co's change")
        let held = try #require(result.held.first)
        #expect(held.origin.rawValue == "mx.amexcid" && held.firstSeq == 2 && held.count == 2 && held.code == .applyFailed, "\(held)")
        #expect(held.reason.contains("NOT NULL"), "\(held.reason)")
        #expect(try cl.get(table: "item", key: [.text("a")]) != nil && cl.get(table: "item", key: [.text("fine")]) != nil)
        #expect(try cl.get(table: "item", key: [.text("b")]) == nil && cl.get(table: "item", key: [.text("c")]) == nil)
        #expect(try cl.vector()[try NodeID("mx.amexcid")] == 1)
    }

    /// A different copy of a held change does not replace it (it cannot be verified while the
    /// change is held): it is said, and the copy held first applies once the cause is gone.
    @Test func aDifferentCopyOfAHeldChangeIsSaidNotStored() throws {
        let mx = try Fixture.replica("mx.amexcid")
        var co = try Fixture.replica("co.apc")
        for i in 1...3 { try mx.put(table: "initiatives", row: ["id": .text("XM-\(i)"), "title": .text("genuino")]) }
        let genuine = try Fixture.allChanges(mx)
        let ahead = genuine.last!.hlc.millis - 20 * 60_000
        co.clock = { ahead }
        #expect(try co.apply(ChangeBatch(changes: genuine), source: "bundle a").held.first?.code == .clockAhead)
        var forged = genuine
        forged[1].columns["title"] = .text("falso")
        #expect(try co.apply(ChangeBatch(changes: forged), source: "pull relay").applied == 0)
        let held = try #require(try co.heldOrigins().first)
        #expect(held.code == .clockAhead, "the first held change is still held for its clock")
        #expect(try co.heldOrigins().count == 1)
        var later = co
        later.clock = { ahead + 30 * 60_000 }
        #expect(try later.retryHeld().applied == 3)
        #expect(try later.dump() == mx.dump())
    }

    /// A pull that names held origins in `exclude` gets none of their changes, and a batch
    /// still ends each origin's run on a signed change.
    @Test func changesOfExcludedOriginsAreLeftOut() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        let cl = try Fixture.replica("cl.agcid")
        for i in 0..<3 { try mx.put(table: "initiatives", row: ["id": .text("XM-\(i)")]) }
        try co.put(table: "initiatives", row: ["id": .text("CO-1")])
        try Fixture.sync(from: mx, to: cl)
        try Fixture.sync(from: co, to: cl)
        let all = try cl.changes(above: VersionVector())
        let excluded = try cl.changes(above: VersionVector(), excluding: [mx.nodeID])
        #expect(all.count == 4 && excluded.map(\.origin) == [co.nodeID] && excluded.last?.signature != nil)

        // co then writes twice after seeing mx's changes, sealed together (one signature): a
        // pull excluding mx leaves both out, not only the one that names mx.
        try Fixture.sync(from: mx, to: co)
        try co.put(table: "initiatives", row: ["id": .text("CO-2")])
        try co.put(table: "initiatives", row: ["id": .text("XM-0"), "budget": .integer(1)])
        try Fixture.sync(from: co, to: cl)
        let dependent = try cl.changes(above: VersionVector(), excluding: [mx.nodeID])
        #expect(dependent.map(\.dot.description) == ["co.apc:1"], "\(dependent.map(\.dot))")
        #expect(try cl.changes(above: VersionVector([mx.nodeID: 3]), excluding: [mx.nodeID]).count == 3)
    }
}
