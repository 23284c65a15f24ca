import Foundation
import GRDB
import MingaCore
import MingaTestSupport
import PropertyBased
import Testing

@testable import MingaStore

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
        for text in [
            "", "{}", "[]", "{\"changes\":[],\"protocol\":2}", "{\"changes\":[],\"protocol\":1,}", "{\"changes\":[],\"protocol\":1}x",
            "{\"changes\":[],\"protocol\":1.0}", "{\"changes\":[],\"changes\":[],\"protocol\":1}", "{\"changes\":[],\"protocol\":01}",
        ] {
            #expect(ChangeBatch(wire: Data(text.utf8)) == nil, "\(text)")
        }
        #expect(ChangeBatch(wire: Data("{\"changes\":[],\"protocol\":1}".utf8)) == ChangeBatch(changes: []))
    }

    /// Applying a batch copies the rows new to the log straight from their values rows, in
    /// runs of consecutive changes, asks the log once per table which rows it knows, and
    /// merges the rest. That must write what applying the changes one at a time writes: runs
    /// broken by merges, by another table and by deletes; keys that JSON escapes; a row both
    /// nodes inserted, which the receiver knows though the batch only inserts it.
    @Test func applyingABatchWholeWritesWhatApplyingItChangeByChangeWrites() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        let whole = try Fixture.replica("cl.agcid")
        let byOne = try Fixture.replica("br.abc")
        try co.put(table: "initiatives", row: ["id": .text("XM-2"), "title": .text("co 2")])
        try Fixture.sync(from: co, to: mx)
        let quoted = Value.text("XM-\"9\" \\ ñ")
        try mx.put(table: "initiatives", row: ["id": quoted, "title": .text("mx 9")])
        try mx.put(table: "participation", row: ["initiative": .text("XM-1"), "org": .text("quote \" and \\ backslash"), "role": .text("provider")])
        for i in 1...6 { try mx.put(table: "initiatives", row: ["id": .text("XM-\(i)"), "title": .text("mx \(i)"), "budget": .integer(Int64(i))]) }
        try mx.put(table: "initiatives", row: ["id": .text("XM-3"), "title": .text("mx 3 again")])  // splits the run XM-4…XM-7
        for i in 7...9 { try mx.put(table: "initiatives", row: ["id": .text("XM-\(i)"), "title": .text("mx \(i)")]) }
        try mx.delete(table: "initiatives", key: [.text("XM-8")])
        _ = try mx.vector()  // sealed: its changes take their clock readings now
        Thread.sleep(forTimeInterval: 0.01)
        try co.put(table: "initiatives", row: ["id": quoted, "title": .text("co 9, later")])  // concurrent, and later: co wins
        for receiver in [whole, byOne] { try Fixture.sync(from: co, to: receiver) }

        // Every change signed, so that each can be applied on its own.
        let batch = try TestKeys.signed(mx.changes(above: try whole.vector(), limit: .max, maxBytes: .max))
        #expect(batch.count == 13)
        #expect(try whole.apply(ChangeBatch(changes: batch)).applied == batch.count)
        for change in batch { try byOne.apply(ChangeBatch(changes: [change])) }

        #expect(try whole.dump() == byOne.dump())
        #expect(try Fixture.conflictSummary(whole) == Fixture.conflictSummary(byOne))
        #expect(try whole.get(table: "initiatives", key: [quoted])?.first { $0.0 == "title" }?.1 == .text("co 9, later"))
        #expect(try whole.get(table: "initiatives", key: [.text("XM-3")])?.first { $0.0 == "title" }?.1 == .text("mx 3 again"))
        #expect(try whole.get(table: "initiatives", key: [.text("XM-6")])?.first { $0.0 == "budget" }?.1 == .integer(6))
        #expect(try whole.get(table: "initiatives", key: [.text("XM-8")]) == nil)
        #expect(try whole.query("SELECT count(*) FROM participation").rows == [[.integer(1)]])
        #expect(try Fixture.conflictSummary(whole).count == 1)
    }

    /// Text is quoted byte by byte with only the escapes JSON requires, the same bytes for the
    /// same text (canonical forms hash them), and reads back as the very text.
    @Test func textIsQuotedWithTheRequiredEscapesOnly() throws {
        let every = String(decoding: (0..<0x20).map { UInt8($0) } + Array("\"\\/ ñandú 🤝 \u{7F}".utf8), as: UTF8.self)
        #expect(JSONText.quote("\u{0}\u{8}\t\n\u{C}\r\u{1F}\"\\/é") == #""\u0000\u0008\t\n\u000c\r\u001f\"\\/é""#)
        for text in [every, "", "plain", "ñandú 🤝", "\"", "\\\\", "end\n"] {
            let quoted = JSONText.quote(text)
            #expect(try JSONDecoder().decode(String.self, from: Data(quoted.utf8)) == text)
            var writer = JSONWriter()
            writer.quoted(text)
            #expect(String(decoding: writer.bytes, as: UTF8.self) == quoted)
        }
    }

    @Test func rowKeysAreWrittenAsSQLiteWritesThem() throws {
        let replica = try Fixture.replica("mx.amexcid")
        let texts = [
            "XM-DAC-41114-1", "", "ñandú 🤝", "quote \" and \\ backslash", "tab\there", "line\nbreak", "\u{7F}\u{1F}\u{8}\u{C}", "\u{2028}/</",
        ]
        let keys: [[Value]] =
            texts.map { [.text($0)] } + [[.integer(0)], [.integer(-9_007_199_254_740_993)], [.integer(.max)], [.integer(.min)]]
            + [[.text("a\"b"), .text("c")], [.text("XM-1"), .integer(7)], [.real(1.5)], [.null]]
        try replica.writer.read { db in
            for key in keys {
                let sqlite = try String.fetchOne(
                    db,
                    sql: "SELECT json_array(\(key.map { _ in "?" }.joined(separator: ",")))",
                    arguments: StatementArguments(key.map(\.databaseValue))
                )
                #expect(try replica.pk(db, key) == sqlite, "\(key)")
            }
        }
    }
}
