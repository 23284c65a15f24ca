import Foundation
import GRDB
import MingaCore
@testable import MingaStore
import PropertyBased
import Testing

/// The receive path's shortcuts must mean exactly what the slow definitions mean: the
/// hand-written batch reader what `JSONDecoder` reads, the row key text what SQLite's
/// `json_array` (the capture triggers' definition) writes.
@Suite struct FastPathTests {
    @Test func theWireReaderReadsWhatJSONDecoderReads() throws {
        let (wire, original) = try DecoderFuzzTests.sample()
        #expect(ChangeBatch(wire: Data(wire)) == original)
        #expect(ChangeBatch(wire: Data(original.wireJSON.utf8)) == original)
        let spaced = String(decoding: wire, as: UTF8.self).replacingOccurrences(of: ",", with: " ,\n\t").replacingOccurrences(of: ":", with: " : ")
        #expect(ChangeBatch(wire: Data(spaced.utf8)) == original)
        let escaped = String(decoding: wire, as: UTF8.self).replacingOccurrences(of: "Agua", with: "\\u0041g\\/ua \\ud83e\\udd1d")
        #expect(try ChangeBatch(wire: Data(escaped.utf8)) == JSONDecoder().decode(ChangeBatch.self, from: Data(escaped.utf8)))
    }

    /// Whatever the fast reader accepts, `JSONDecoder` accepts as the same batch; it may give
    /// up on more (the caller then asks `JSONDecoder`), never on less meaningfully.
    @Test func theWireReaderNeverAcceptsWhatJSONDecoderRefuses() async throws {
        let (wire, _) = try DecoderFuzzTests.sample()
        var accepted = 0
        await propertyCheck(count: 2000, input: Gen.int(in: 0...Int.max)) { seed in
            let mutated = Data(DecoderFuzzTests.mutate(wire, seed: UInt64(seed)))
            let slow = try? JSONDecoder().decode(ChangeBatch.self, from: mutated)
            guard let fast = ChangeBatch(wire: mutated) else { return }
            accepted += 1
            #expect(fast == slow, "the fast reader accepted \(String(decoding: mutated, as: UTF8.self)) as something JSONDecoder does not read")
        }
        #expect(accepted > 100, "too few mutations kept the batch readable for this test to mean anything")
        for text in ["", "{}", "[]", "{\"changes\":[],\"protocol\":2}", "{\"changes\":[],\"protocol\":1,}", "{\"changes\":[],\"protocol\":1}x",
                     "{\"changes\":[],\"protocol\":1.0}", "{\"changes\":[],\"changes\":[],\"protocol\":1}", "{\"changes\":[],\"protocol\":01}"] {
            #expect(ChangeBatch(wire: Data(text.utf8)) == nil, "\(text)")
        }
        #expect(ChangeBatch(wire: Data("{\"changes\":[],\"protocol\":1}".utf8)) == ChangeBatch(changes: []))
    }

    @Test func rowKeysAreWrittenAsSQLiteWritesThem() throws {
        let replica = try Fixture.replica("mx.amexcid")
        let texts = ["XM-DAC-41114-1", "", "ñandú 🤝", "quote \" and \\ backslash", "tab\there", "line\nbreak", "\u{7F}\u{1F}\u{8}\u{C}", "\u{2028}/</"]
        let keys: [[Value]] = texts.map { [.text($0)] } + [[.integer(0)], [.integer(-9_007_199_254_740_993)], [.integer(.max)], [.integer(.min)]]
            + [[.text("a\"b"), .text("c")], [.text("XM-1"), .integer(7)], [.real(1.5)], [.null]]
        try replica.writer.read { db in
            for key in keys {
                let sqlite = try String.fetchOne(
                    db, sql: "SELECT json_array(\(key.map { _ in "?" }.joined(separator: ",")))", arguments: StatementArguments(key.map(\.databaseValue)))
                #expect(try replica.pk(db, key) == sqlite, "\(key)")
            }
        }
    }
}
