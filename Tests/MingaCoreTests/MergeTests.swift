import Foundation
import MingaCore
import PropertyBased
import Testing

/// A small simulation of nodes writing one row and gossiping, in the pure model only.
struct Simulation {
    let nodes = ["a.node", "b.node", "c.node", "d.node"].map { try! NodeID($0) }
    var held: [[Change]] = Array(repeating: [], count: 4)
    var seqs: [Int64] = Array(repeating: 0, count: 4)
    var clock: Int64 = 1_764_000_000_000

    /// Runs a script of integers: writes (set a column, or delete) and one-way merges.
    init(script: [Int]) {
        for x in script {
            let node = x % 4
            if (x / 4) % 3 == 0 {
                let from = (x / 12) % 4
                for change in held[from] where !held[node].contains(change) { held[node].append(change) }
                continue
            }
            var context = VersionVector()
            for change in held[node] { context[change.origin] = max(context[change.origin], change.seq) }
            seqs[node] += 1
            // Clocks of different nodes may tie or run behind: only causality orders them.
            let seen = held[node].map(\.hlc).max()
            clock += Int64((x / 48) % 3)
            let hlc = HLC.next(after: seen, nowMillis: clock - Int64(node) * Int64((x / 144) % 2))
            let op: ChangeOp = (x / 288) % 5 == 0 ? .delete : .update
            let column = ["a", "b"][(x / 1440) % 2]
            let columns: Columns = op == .delete ? [:] : [column: .integer(Int64((x / 2880) % 3))]
            let change = Change(
                origin: nodes[node],
                seq: seqs[node],
                hlc: hlc,
                table: "t",
                key: [.text("row")],
                op: op,
                columns: columns,
                context: context
            )
            held[node].append(change)
        }
    }

    var all: [Change] {
        var seen = Set<Dot>()
        return held.flatMap { $0 }.filter { seen.insert($0.dot).inserted }
    }
}

@Suite struct MergeTests {
    @Test func stateAndConflictsDependOnTheSetNotTheOrder() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...1_000_000).array(of: 1...30), Gen.int(in: 0...1_000_000)) { script, seed in
            let writes = Simulation(script: script).all
            var rng = SplitMix64(seed: UInt64(seed))
            let shuffled = writes.shuffled(using: &rng)
            #expect(Merge.row(of: shuffled) == Merge.row(of: writes))
            #expect(Merge.conflicts(of: shuffled) == Merge.conflicts(of: writes))
        }
    }

    /// A write of column `a` of row `x` in table `t`, at `millis`, by a writer that had seen `context`.
    func write(_ origin: NodeID, _ seq: Int64, at millis: Int64, _ op: ChangeOp, a: Value, saw context: [NodeID: Int64] = [:]) -> Change {
        Change(
            origin: origin,
            seq: seq,
            hlc: HLC(millis: millis, counter: 0),
            table: "t",
            key: [.text("x")],
            op: op,
            columns: ["a": a],
            context: VersionVector(context)
        )
    }

    @Test func concurrentWritesToOneColumnConflictAndTheLaterHLCWins() throws {
        let mx = try NodeID("mx.amexcid")
        let co = try NodeID("co.apc")
        let base = write(mx, 1, at: 100, .insert, a: .text("0"))
        let m = write(mx, 2, at: 200, .update, a: .text("mx"), saw: [mx: 1])
        let c = write(co, 1, at: 150, .update, a: .text("co"), saw: [mx: 1])
        #expect(Merge.row(of: [base, m, c]) == ["a": .text("mx")])
        let conflicts = Merge.conflicts(of: [base, c, m])
        #expect(conflicts.count == 1)
        #expect(conflicts.first?.winner.dot == m.dot && conflicts.first?.loser.dot == c.dot)
        #expect(conflicts.first?.status == .open)

        // A later write on one side, still concurrent with the other, carries the dispute on:
        // the old pair is settled and the new pair is the one open conflict.
        let partial = write(co, 2, at: 300, .update, a: .text("z"), saw: [mx: 1, co: 1])
        let carried = Merge.conflicts(of: [base, c, m, partial])
        #expect(carried.filter { $0.status == .open }.map { [$0.winner.dot, $0.loser.dot] } == [[partial.dot, m.dot]])
        #expect(carried.first { $0.loser.dot == c.dot }?.resolvedBy?.dot == partial.dot)
        // A write that saw both resolves it.
        let settle = write(co, 2, at: 300, .update, a: .text("z"), saw: [mx: 2, co: 1])
        let settled = Merge.conflicts(of: [settle, base, m, c])
        #expect(settled.count == 1 && settled[0].status == .resolved && settled[0].resolvedBy?.dot == settle.dot)
    }

    @Test func causalWritesNeverConflictWhateverTheirClocks() throws {
        let mx = try NodeID("mx.amexcid")
        let co = try NodeID("co.apc")
        // co's clock is behind, but co had seen mx's write: co's write is later causally and its HLC says so.
        let m = write(mx, 1, at: 500, .insert, a: .text("mx"))
        let c = Change(
            origin: co,
            seq: 1,
            hlc: HLC.next(after: m.hlc, nowMillis: 10),
            table: "t",
            key: [.text("x")],
            op: .update,
            columns: ["a": .text("co")],
            context: VersionVector([mx: 1])
        )
        #expect(Merge.conflicts(of: [c, m]).isEmpty)
        #expect(Merge.row(of: [c, m]) == ["a": .text("co")])
    }
}
