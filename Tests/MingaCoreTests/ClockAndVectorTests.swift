import Foundation
import MingaCore
import PropertyBased
import Testing

@Suite struct HLCTests {
    @Test func nextIsAlwaysLaterThanWhatWasHeldEvenWhenTheClockGoesBack() {
        let held = HLC(millis: 1_764_000_000_000, counter: 7)
        #expect(HLC.next(after: held, nowMillis: 1_000) == HLC(millis: 1_764_000_000_000, counter: 8))
        #expect(HLC.next(after: held, nowMillis: 1_764_000_000_001) == HLC(millis: 1_764_000_000_001, counter: 0))
        #expect(HLC.next(after: nil, nowMillis: 5) == HLC(millis: 5, counter: 0))
    }

    @Test func counterOverflowCarriesIntoTheMilliseconds() {
        let held = HLC(millis: 10, counter: 0xFFFF)
        let next = HLC.next(after: held, nowMillis: 0)
        #expect(next > held)
        #expect(next == HLC(millis: 11, counter: 0))
    }

    @Test func wireFormRoundTripsAndSortsAsItCompares() async {
        await propertyCheck(count: 300, input: Gen.int64(in: 0...9_999_999_999_999), Gen.int64(in: 0...0xFFFF)) { ms, c in
            let hlc = HLC(millis: ms, counter: c)
            #expect(HLC(wire: hlc.description) == hlc)
            let other = HLC(millis: ms / 2, counter: 0xFFFF - c)
            #expect((hlc < other) == (hlc.description < other.description))
        }
    }

    @Test(arguments: [
        "", "123-00001", "1764000000000-1", "1764000000000-00001-2", "17640000000x0-00001", "1764000000000-99999",
        "176400000000\u{0661}-00001", "+764000000000-00001", "1764000000000-0000\u{0301}1", "1764000000000+00001",
    ])
    func malformedWireFormsAreRefused(_ text: String) {
        #expect(HLC(wire: text) == nil)
    }
}

@Suite struct VersionVectorTests {
    let mx = try! NodeID("mx.amexcid")
    let co = try! NodeID("co.apc")

    @Test func canonicalJSONSortsOrigins() throws {
        let v = VersionVector([mx: 3, co: 12])
        #expect(v.canonicalJSON == #"{"co.apc":12,"mx.amexcid":3}"#)
        #expect(try JSONDecoder().decode(VersionVector.self, from: Data(v.canonicalJSON.utf8)) == v)
    }

    @Test(arguments: ["MX", "", "-mx", "mx_amexcid", String(repeating: "a", count: 64), "mx amexcid"])
    func invalidNodeIDsAreRefused(_ id: String) {
        let error = #expect(throws: MingaError.self) { try NodeID(id) }
        #expect(error?.code == .invalidInput, "\(error?.message ?? "")")
    }

    @Test(arguments: ["mx.amexcid", "co.apc", "0", String(repeating: "a", count: 63), "a-b.c"])
    func validNodeIDs(_ id: String) throws {
        #expect(try NodeID(id).rawValue == id)
    }
}

@Suite struct ValueTests {
    @Test func extremeValuesSurviveTheWireExactly() throws {
        let values: [Value] = [
            .null, .integer(Int64.max), .integer(Int64.min), .integer(9_007_199_254_740_993),
            .real(0.1), .real(1e-300), .real(-0.0), .real(.infinity), .real(Double.leastNonzeroMagnitude),
            .text("Cooperação Sul-Sul 🤝 \"ñandú\"\n\t\u{1}"), .text(""), .blob(Data([0, 255, 1, 2])), .blob(Data()),
        ]
        let data = try JSONEncoder.wire.encode(values)
        let back = try JSONDecoder().decode([Value].self, from: data)
        #expect(back == values)
        #expect(back.map(\.wireJSON) == values.map(\.wireJSON))
    }

    @Test func realsRoundTripBitForBit() async {
        await propertyCheck(count: 300, input: Gen.uint64(in: 0...UInt64.max)) { bits in
            let d = Double(bitPattern: bits)
            guard !d.isNaN else { return }
            let back = try JSONDecoder().decode(Value.self, from: JSONEncoder.wire.encode(Value.real(d)))
            #expect(back == .real(d))
        }
    }

    @Test(arguments: [#"{"int":"1.5"}"#, #"{"real":"abc"}"#, #"{"blob":"%%%"}"#, #"{"int":"1","real":"1"}"#, "12", "true"])
    func malformedValuesAreRefused(_ json: String) {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Value.self, from: Data(json.utf8)) }
    }
}

@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func knownDigests(_ input: String, _ digest: String) {
        #expect(SHA256Digest.hex(Array(input.utf8)) == digest)
    }

    @Test func incrementalEqualsOneShot() async {
        await propertyCheck(count: 100, input: Gen.int(in: 0...255).array(of: 0...300), Gen.int(in: 1...70)) { bytes, chunk in
            let data = bytes.map { UInt8($0) }
            var hasher = SHA256Digest.Hasher()
            var i = 0
            while i < data.count {
                hasher.update(data[i..<min(i + chunk, data.count)])
                i += chunk
            }
            #expect(hasher.finalizeHex() == SHA256Digest.hex(data))
        }
    }
}
