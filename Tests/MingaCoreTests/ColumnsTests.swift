import Foundation
import MingaCore
import PropertyBased
import Testing

/// A change's columns must behave exactly like the dictionary they replace, and always be in
/// canonical order (the order the wire and the hash chain list them in).
@Suite struct ColumnsTests {
    static let names = ["title", "Title", "budget", "a", "ab", "a_b", "é", "z", "collaboration_type", "", "ñandú"]

    @Test func anyEditsLeaveWhatTheSameEditsLeaveInADictionary() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...(Self.names.count - 1)).array(of: 0...40), Gen.int(in: 0...3).array(of: 40...40)) {
            picks,
            values in
            var columns = Columns()
            var dictionary: [String: Value] = [:]
            for (i, pick) in picks.enumerated() {
                let name = Self.names[pick]
                let value: Value? = values[i] == 0 ? nil : .integer(Int64(values[i]))
                columns[name] = value
                dictionary[name] = value
                #expect(columns[name] == dictionary[name])
            }
            #expect(columns == Columns(dictionary))
            #expect(columns.dictionary == dictionary)
            #expect(columns.count == dictionary.count)
            #expect(columns.keys == dictionary.keys.sorted(by: JSONText.precedes))
            for name in Self.names { #expect(columns[name] == dictionary[name]) }
        }
    }

    @Test func orderIsByTheBytesOfTheNames() {
        let columns: Columns = ["é": .null, "z": .null, "Z": .null, "a": .null, "ab": .null, "a_b": .null]
        #expect(columns.keys == ["Z", "a", "a_b", "ab", "z", "é"])
        var built = Columns()
        #expect(built.append("a", .null) && built.append("b", .null))
        #expect(!built.append("b", .null) && !built.append("a0", .null), "append only adds names that sort after the last")
        #expect(built.keys == ["a", "b"])
    }

    @Test func encodesAndDecodesAsAJSONObject() throws {
        let columns: Columns = ["title": .text("Agua"), "budget": .integer(7), "doc": .null]
        let data = try JSONEncoder().encode(columns)
        #expect(try JSONDecoder().decode([String: Value].self, from: data) == columns.dictionary)
        #expect(try JSONDecoder().decode(Columns.self, from: data) == columns)
    }

    /// Columns out of order on the wire are read into canonical order; a name given twice is
    /// refused (the fast reader gives up, as `JSONDecoder` would not read it the same way).
    @Test func theWireReaderSortsColumnsAndRefusesRepeatedNames() throws {
        let change = Change(
            origin: try NodeID("mx.amexcid"),
            seq: 1,
            hlc: HLC(millis: 1, counter: 0),
            table: "t",
            key: [.text("k")],
            op: .insert,
            columns: ["a": .integer(1), "b": .integer(2), "c": .integer(3)]
        )
        let wire = ChangeBatch(changes: [change]).wireJSON
        let shuffled = wire.replacingOccurrences(
            of: #""a":{"int":"1"},"b":{"int":"2"},"c":{"int":"3"}"#,
            with: #""c":{"int":"3"},"a":{"int":"1"},"b":{"int":"2"}"#
        )
        #expect(shuffled != wire)
        #expect(ChangeBatch(wire: Data(shuffled.utf8))?.changes == [change])
        let repeated = wire.replacingOccurrences(of: #""c":{"int":"3"}"#, with: #""c":{"int":"3"},"a":{"int":"9"}"#)
        #expect(repeated != wire)
        #expect(ChangeBatch(wire: Data(repeated.utf8)) == nil)
    }
}
