import Foundation
import MingaCore
import MingaStore
import MingaTestSupport
import PropertyBased
import Testing

/// The batch decoder and `apply` on mutated, truncated and random input: never a crash, a
/// mutated change never applied (it is held, protocol §13, or the batch refused), and a refused
/// batch leaves the replica exactly as it was. The
/// HTTP endpoints get the same treatment in MingaSyncTests and in scripts/fuzz-http.
@Suite struct DecoderFuzzTests {
    /// A signed batch from mx with every kind of value, as wire JSON.
    static func sample() throws -> (wire: [UInt8], batch: ChangeBatch) {
        let mx = try Fixture.replica("mx.amexcid")
        try mx.put(
            table: "initiatives",
            row: [
                "id": .text("XM-1"), "title": .text("Agua potable ñ 🤝"), "budget": .integer(-9_007_199_254_740_993),
                "ratio": .real(0.1), "doc": .blob(Data([0, 1, 2, 255])),
            ]
        )
        try mx.put(table: "participation", row: ["initiative": .text("XM-1"), "org": .text("XM-DAC-41114"), "role": .text("1")])
        try mx.put(table: "initiatives", row: ["id": .text("XM-1"), "title": .null])
        _ = try mx.delete(table: "participation", key: [.text("XM-1"), .text("XM-DAC-41114")])
        let batch = ChangeBatch(changes: try Fixture.allChanges(mx))
        return (Array(try JSONEncoder.wire.encode(batch)), batch)
    }

    static func mutate(_ bytes: [UInt8], seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        var out = bytes
        for _ in 0..<Int.random(in: 1...3, using: &rng) where !out.isEmpty {
            let at = Int.random(in: 0..<out.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: out[at] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))  // bit flip
            case 1: out = Array(out.prefix(at))  // truncation
            case 2: out.insert(UInt8.random(in: 0...255, using: &rng), at: at)  // random byte
            case 3: out.removeSubrange(at..<min(out.count, at + Int.random(in: 1...40, using: &rng)))
            case 4:  // a JSON token where one does not belong
                let tokens = ["null", "[]", "{}", "\"\"", "-1", "1e999", "99999999999999999999", "{\"int\":\"x\"}", "\"\\u0000\"", "true"]
                out.insert(contentsOf: Array(tokens[Int.random(in: 0..<tokens.count, using: &rng)].utf8), at: at)
            case 5:  // a digit changed: seqs, HLCs, ints
                if let d = out[at...].firstIndex(where: { $0 >= 0x30 && $0 <= 0x39 }) { out[d] = 0x30 + UInt8.random(in: 0...9, using: &rng) }
            default:  // invalid UTF-8
                out.insert(contentsOf: [0xC3, 0x28], at: at)
            }
        }
        return out
    }

    /// How many mutated batches the decoder took, so reached `apply` (a lock, not an actor:
    /// the property stays synchronous, so it calls the synchronous `apply`).
    final class Reached: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func add() { lock.withLock { value += 1 } }
        var count: Int { lock.withLock { value } }
    }

    @Test func mutatedChangesAreNeverApplied() async throws {
        let (wire, original) = try Self.sample()
        let empty = try Fixture.replica("co.apc").dump()
        let reached = Reached()
        let runs = 400
        await propertyCheck(count: runs, input: Gen.int(in: 0...Int.max)) { seed in
            let mutated = Self.mutate(wire, seed: UInt64(seed))
            guard let batch = try? JSONDecoder().decode(ChangeBatch.self, from: Data(mutated)) else { return }
            reached.add()
            let co = try Fixture.replica("co.apc")
            do {
                let result = try co.apply(batch)
                // Only changes the mutation left intact may apply; the others are held.
                let applied = try Fixture.allChanges(co)
                #expect(applied.allSatisfy(original.changes.contains), "a mutated change applied: \(String(decoding: mutated, as: UTF8.self))")
                // Every change is accounted for: applied, held, a duplicate, or an altered copy refused.
                let accounted = result.applied + result.duplicates + (result.held + result.alteredCopies).map(\.count).reduce(0, +)
                #expect(
                    applied.count == result.applied && accounted == batch.changes.count,
                    "applied \(result.applied), duplicates \(result.duplicates), held \(result.held), altered \(result.alteredCopies) of \(batch.changes.count): \(String(decoding: mutated, as: UTF8.self))"
                )
            } catch let error as MingaError {
                // A batch refused whole (§13), or a refusal of one of its changes.
                #expect(
                    error.code.holdsChange || error.code == .malformed || error.code == .rejected,
                    "\(error.code): \(error.message): \(String(decoding: mutated, as: UTF8.self))"
                )
                #expect(!error.message.isEmpty)
                #expect(try co.dump() == empty && co.vector().isEmpty, "a refused batch left something behind")
            }
        }
        // Most mutations break the JSON and stop at the decoder; the test says something
        // about `apply` only if enough of them get through to it. About one in ten does: 48
        // runs of 400 saw 32 to 57 reach apply (42 on average). The floor, runs / 25 = 16,
        // is half the lowest of them; a binomial count of mean 42 falls below it about once
        // in two million runs, so a failure here means the mutations or the decoder changed.
        let count = reached.count
        print("DecoderFuzzTests: \(count) of \(runs) mutated batches reached apply")
        #expect(count >= runs / 25, "only \(count) of \(runs) mutated batches reached apply")
    }

    @Test func randomBytesAreRefusedByTheDecoder() async throws {
        await propertyCheck(count: 300, input: Gen.int(in: 0...255).array(of: 0...200)) { bytes in
            let data = Data(bytes.map(UInt8.init))
            #expect(throws: (any Error).self) { try JSONDecoder().decode(ChangeBatch.self, from: data) }
        }
    }
}
