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
