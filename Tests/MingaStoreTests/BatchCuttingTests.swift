import Foundation
import MingaCore
import MingaStore
import MingaTestSupport
import Testing

/// Large changes are signed often enough that batches can be cut within a byte limit: the
/// forty-photos push that no peer would take (protocol/README.md §12, Cutting batches).
@Suite struct BatchCuttingTests {
    @Test func largeChangesAreSignedSoBatchesFitTheLimit() throws {
        let r = try Fixture.replica("mx.amexcid")
        try r.transaction { tx in
            for i in 0..<20 {
                try tx.put(table: "initiatives", row: ["id": .text("p\(i)"), "doc": .blob(Data(repeating: UInt8(i), count: 100_000))])
            }
        }
        let all = try Fixture.allChanges(r)
        #expect(all.count == 20)
        // About 133 KB of wire JSON each: the origin signs every second one, not only the last.
        #expect(all.enumerated().allSatisfy { ($0.element.signature != nil) == ($0.offset % 2 == 1) })

        var vector = VersionVector()
        var sizes: [Int] = []
        while true {
            let batch = try r.changes(above: vector, limit: 1000, maxBytes: 300_000)
            if batch.isEmpty { break }
            sizes.append(batch.reduce(0) { $0 + $1.estimatedWireSize })
            #expect(batch.last?.signature != nil, "a batch ends on a signed change")
            for change in batch { vector[change.origin] = change.seq }
        }
        #expect(sizes.count == 10 && sizes.allSatisfy { $0 <= 300_000 }, "\(sizes)")

        // Below one signed run, the batch is the shortest verifiable one, never empty.
        #expect(try r.changes(above: VersionVector(), limit: 1000, maxBytes: 1000).count == 2)
    }
}
