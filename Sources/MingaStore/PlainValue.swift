import Foundation
import MingaCore

/// A value as a person types it in JSON: numbers, strings, booleans, null, and the tagged
/// objects of the wire form (`{"int":"…"}`, `{"real":"…"}`, `{"blob":"…"}`) for exactness.
public struct PlainValue: Decodable, Sendable {
    public let value: Value

    public init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            value = .null
            return
        }
        if let b = try? single.decode(Bool.self) {
            value = .integer(b ? 1 : 0)
            return
        }
        if let i = try? single.decode(Int64.self) {
            value = .integer(i)
            return
        }
        if let d = try? single.decode(Double.self) {
            value = .real(d)
            return
        }
        if let s = try? single.decode(String.self) {
            value = .text(s)
            return
        }
        value = try Value(from: decoder)
    }

    /// Parses a JSON object of column values, as `minga put` takes it.
    public static func row(_ json: String) throws -> [String: Value] {
        do {
            return try JSONDecoder().decode([String: PlainValue].self, from: Data(json.utf8)).mapValues(\.value)
        } catch let error as DecodingError {
            throw MingaError(.invalidInput, "the row is not a JSON object of column values: \(error.explanation)")
        }
    }
}
