import Foundation
import MingaCore
import Testing

/// protocol/vectors/signing/signing.json, computed by signing.py from the protocol text alone
/// (Python's hashlib and cryptography): the Swift canonical bytes, chain links and Ed25519
/// signatures must be byte for byte the same.
@Suite struct SigningTests {
    struct Vectors: Decodable {
        struct Case: Decodable {
            let change: Change
            let canonicalHex: String
            let linkHex: String
            let signature: String
        }
        let privateKeyHex: String
        let publicKey: String
        let chain: [Case]
    }

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func canonicalBytesLinksAndSignaturesMatchTheIndependentComputation() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../protocol/vectors/signing/signing.json")
        let vectors = try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
        let key = try SigningKey(rawRepresentation: Self.bytes(vectors.privateKeyHex))
        #expect(key.publicKey.base64 == vectors.publicKey)
        var link = OriginChain.genesis
        for case_ in vectors.chain {
            #expect(Self.hex(case_.change.canonicalBytes) == case_.canonicalHex, "\(case_.change.dot)")
            link = OriginChain.link(after: link, case_.change)
            #expect(Self.hex(link) == case_.linkHex, "\(case_.change.dot)")
            #expect(try key.sign(link: link).base64EncodedString() == case_.signature, "\(case_.change.dot)")
            #expect(key.publicKey.isValid(signature: try #require(Data(base64Encoded: case_.signature)), link: link))
        }
        // Any change to a change breaks every later link.
        var altered = vectors.chain[0].change
        altered.columns["title"] = .text("Agua potable ñ 🤝 ")
        #expect(Self.hex(OriginChain.link(after: OriginChain.genesis, altered)) != vectors.chain[0].linkHex)
    }
}

/// The hand-built wire JSON of pull answers and bundles means the same as the Codable form.
@Suite struct WireJSONTests {
    @Test func handBuiltWireJSONDecodesToTheSameChangeAndMatchesTheEncoder() throws {
        let origin = try NodeID("mx.amexcid")
        let changes = [
            Change(
                origin: origin,
                seq: 1,
                hlc: HLC(millis: 1_764_000_000_000, counter: 3),
                table: "initiative",
                key: [.text("XM-1"), .integer(-42)],
                op: .insert,
                columns: [
                    "title": .text("Agua \"potable\" ñ 🤝 \\ / \n\t"), "budget": .integer(.min), "ratio": .real(0.1),
                    "doc": .blob(Data([0, 255])), "note": .null, "inf": .real(-.infinity),
                ],
                context: VersionVector([try NodeID("co.apc"): 7, try NodeID("mx.amexcid~1795000000000"): 2]),
                signature: Data(repeating: 9, count: 64)
            ),
            Change(origin: origin, seq: 2, hlc: HLC(millis: 1, counter: 0), table: "t", key: [.text("")], op: .delete),
        ]
        for change in changes {
            let decoded = try JSONDecoder().decode(Change.self, from: Data(change.wireJSON.utf8))
            #expect(decoded == change)
            #expect(change.wireJSON == String(decoding: try JSONEncoder.wire.encode(change), as: UTF8.self))
            #expect(try VersionVector(canonicalJSON: change.context.canonicalJSON) == change.context)
        }
        let batch = ChangeBatch(changes: changes)
        #expect(try JSONDecoder().decode(ChangeBatch.self, from: Data(batch.wireJSON.utf8)) == batch)
    }
}

@Suite struct RealGrammarTests {
    @Test(arguments: [".5", "1.", "+1", "1E5", " 1", "1e", "0x10", "--1", "1.5.2", "nan", ""])
    func sloppyRealsAreRefused(_ payload: String) {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Value.self, from: Data("{\"real\":\"\(payload)\"}".utf8)) }
    }

    @Test(arguments: ["0.1", "-2.5", "1e-300", "1e+300", "5e-324", "inf", "-inf", "007"])
    func numeralsAreRead(_ payload: String) throws {
        guard case .real = try JSONDecoder().decode(Value.self, from: Data("{\"real\":\"\(payload)\"}".utf8)) else {
            Issue.record("\(payload) is not read as a real")
            return
        }
    }
}
