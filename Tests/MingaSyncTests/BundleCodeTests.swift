import Foundation
import MingaCore
import MingaStore
import MingaTestSupport
import Testing

@testable import MingaSync

/// A bundle refused whole says why with a code (protocol §13, §16), as a refused request
/// does: `malformed` for a file that is not a whole, unaltered bundle, `incompatible` for
/// one made under another protocol or schema, and a batch's own code for a batch the
/// receiver refuses. Nothing is applied in any case.
@Suite struct BundleCodeTests {
    @Test func aRefusedBundleSaysWhyWithACode() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("minga-bundle-codes-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let source = try Fixture.replica("mx.amexcid")
        try source.put(table: "initiatives", row: ["id": .text("X"), "title": .text("Agua")])
        let good = folder + "/good.bundle"
        try ChangeBundle.export(from: source, to: good)
        let text = try String(contentsOfFile: good, encoding: .utf8)

        let other = try TestKeys.replica("pe.apci", schema: "CREATE TABLE other(id TEXT PRIMARY KEY, x TEXT);")
        try other.put(table: "other", row: ["id": .text("Y"), "x": .text("z")])
        let foreign = folder + "/foreign.bundle"
        try ChangeBundle.export(from: other, to: foreign)

        let cases: [(name: String, text: String?, code: MingaError.Code)] = [
            ("altered", text.replacingOccurrences(of: "Agua", with: "Agux"), .malformed),
            ("truncated", String(text.dropLast(40)), .malformed),
            ("not-json", text.replacingOccurrences(of: "\"changes\":[", with: "\"changes\":{"), .malformed),
            ("empty", "", .malformed),
            ("foreign", nil, .incompatible),
        ]
        let receiver = try Fixture.replica("co.apc")
        let before = try receiver.dump()
        for (name, content, code) in cases {
            let path = content == nil ? foreign : folder + "/\(name).bundle"
            if let content { try content.write(toFile: path, atomically: true, encoding: .utf8) }
            let error = await #expect(throws: MingaError.self, "\(name)") { try await ChangeBundle.import(into: receiver, from: path) }
            #expect(error?.code == code, "\(name): \(String(describing: error))")
        }
        #expect(try receiver.dump() == before)
        try await ChangeBundle.import(into: receiver, from: good)
        #expect(try receiver.get(table: "initiatives", key: [.text("X")]) != nil)
    }
}
