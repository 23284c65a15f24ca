import Foundation
import MingaCore
import MingaStore
import MingaTestSupport
import Testing

/// The language-neutral cases in protocol/vectors/: changes in, rows and conflicts out.
/// Each runs through the pure merge rule in every order of each row's changes, and through
/// a real replica in every causal delivery order (one change per batch, duplicates as
/// listed), up to a few hundred orders, sampled beyond that.
@Suite struct ProtocolVectorTests {
    struct Vector: Decodable {
        struct Table: Decodable {
            let key: [String]
            let columns: [String]
        }
        struct Expect: Decodable {
            let rows: [String: [[String: Value]]]
            let conflicts: [ExpectedConflict]
        }
        let name: String
        let schema: String
        let tables: [String: Table]
        let changes: [Change]
        let expect: Expect
    }

    struct ExpectedConflict: Decodable, Equatable, CustomStringConvertible {
        let id: String
        let table: String
        let key: [Value]
        let column: String?
        let winner: String
        let loser: String
        let status: String
        let resolvedBy: String?

        init(_ c: Conflict) {
            id = c.id
            table = c.table
            key = c.key
            column = c.column
            winner = c.winner.dot.description
            loser = c.loser.dot.description
            status = c.status.rawValue
            resolvedBy = c.resolvedBy?.dot.description
        }

        var description: String { "\(id) \(table)\(Change.keyJSON(key)).\(column ?? "*") \(winner)>\(loser) \(status) \(resolvedBy ?? "-")" }
    }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../protocol/vectors").standardized

    static let files: [String] = {
        (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.filter { $0.hasSuffix(".json") }.sorted() ?? []
    }()

    static func load(_ file: String) throws -> Vector {
        try JSONDecoder().decode(Vector.self, from: Data(contentsOf: directory.appendingPathComponent(file)))
    }

    @Test func thereAreEnoughVectors() {
        #expect(Self.files.count >= 12, "protocol/vectors at \(Self.directory.path)")
    }

    @Test(arguments: files)
    func pureMergeRuleInEveryOrder(_ file: String) throws {
        let vector = try Self.load(file)
        var unique: [Change] = []
        for change in vector.changes where !unique.contains(where: { $0.dot == change.dot }) { unique.append(change) }
        let rows = Dictionary(grouping: unique) { "\($0.table)\u{0}\($0.keyJSON)" }
        var conflicts: [ExpectedConflict] = []
        var state: [String: [[String: Value]]] = [:]
        for (_, writes) in rows.sorted(by: { $0.key < $1.key }) {
            var first: (row: Columns?, conflicts: [Conflict])?
            for order in permutations(writes) {
                let result = (row: Merge.row(of: order), conflicts: Merge.conflicts(of: order))
                if let first {
                    #expect(result.row == first.row && result.conflicts == first.conflicts, "\(vector.name): order \(order.map(\.dot))")
                } else {
                    first = result
                }
            }
            conflicts += first!.conflicts.map(ExpectedConflict.init)
            if let row = first!.row {
                let spec = vector.tables[writes[0].table]!
                var full: [String: Value] = [:]
                for column in spec.columns { full[column] = row[column] ?? .null }
                for (i, column) in spec.key.enumerated() { full[column] = writes[0].key[i] }
                state[writes[0].table, default: []].append(full)
            }
        }
        #expect(conflicts.sorted { $0.id < $1.id } == vector.expect.conflicts, "\(vector.name)")
        for (table, rows) in vector.expect.rows {
            #expect(Set(state[table] ?? []) == Set(rows), "\(vector.name): rows of \(table)")
        }
    }

    @Test(arguments: files)
    func replicaInEveryCausalOrder(_ file: String) throws {
        let vector = try Self.load(file)
        let signed = try TestKeys.signed(vector.changes)
        let orders = causalOrders(signed, limit: 240)
        #expect(!orders.isEmpty, "the vector's changes admit no causal order")
        for order in orders {
            let replica = try Fixture.replica("zz.observer", schema: vector.schema)
            for change in order { try replica.apply(ChangeBatch(changes: [change])) }
            try replica.apply(ChangeBatch(changes: signed))  // re-delivery changes nothing
            #expect(try replica.heldOrigins().isEmpty, "\(vector.name): held after order \(order.map(\.dot))")
            let conflicts = try replica.conflicts(includeResolved: true).map { ExpectedConflict($0.conflict) }.sorted { $0.id < $1.id }
            #expect(conflicts == vector.expect.conflicts, "\(vector.name): order \(order.map(\.dot))")
            for (table, expected) in vector.expect.rows {
                let spec = vector.tables[table]!
                let result = try replica.query("SELECT * FROM \"\(table)\"")
                let rows = result.rows.map { Dictionary(uniqueKeysWithValues: zip(result.columns, $0)) }
                #expect(Set(rows) == Set(expected), "\(vector.name): rows of \(table) after order \(order.map(\.dot))")
                // Columns migrations added sit where they arrived (protocol §20): compared as a set.
                if replica.tables[table]?.addedColumns.isEmpty ?? true {
                    #expect(spec.columns == result.columns)
                } else {
                    #expect(Set(spec.columns) == Set(result.columns), "\(vector.name): columns of \(table)")
                }
            }
        }
    }

    func permutations(_ items: [Change]) -> [[Change]] {
        guard items.count > 1 else { return [items] }
        return items.indices.flatMap { i in
            var rest = items
            let head = rest.remove(at: i)
            return permutations(rest).map { [head] + $0 }
        }
    }

    /// Delivery orders of `deliveries` in which each change comes after its origin's previous
    /// change and after every change its context names. All of them up to `limit`, else a
    /// seeded random sample of `limit`.
    func causalOrders(_ deliveries: [Change], limit: Int) -> [[Change]] {
        func ready(_ c: Change, _ held: VersionVector) -> Bool {
            c.seq <= held[c.origin] + 1 && c.context.origins.allSatisfy { $0 == c.origin || c.context[$0] <= held[$0] }
        }
        var all: [[Change]] = []
        func walk(_ prefix: [Change], _ rest: [Change], _ held: VersionVector) -> Bool {
            if rest.isEmpty {
                all.append(prefix)
                return all.count <= limit
            }
            for (i, c) in rest.enumerated() where ready(c, held) {
                var held = held
                held[c.origin] = max(held[c.origin], c.seq)
                var remaining = rest
                remaining.remove(at: i)
                if !walk(prefix + [c], remaining, held) { return false }
            }
            return true
        }
        if walk([], deliveries, VersionVector()) { return all }
        var rng = SplitMix64(seed: 2026)
        return (0..<limit).map { _ in
            var held = VersionVector()
            var rest = deliveries
            var order: [Change] = []
            while !rest.isEmpty {
                let choices = rest.indices.filter { ready(rest[$0], held) }
                let i = choices.randomElement(using: &rng)!
                held[rest[i].origin] = max(held[rest[i].origin], rest[i].seq)
                order.append(rest.remove(at: i))
            }
            return order
        }
    }
}
