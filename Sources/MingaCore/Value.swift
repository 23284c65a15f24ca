import Foundation

/// One SQLite value, carried exactly: 64-bit integers beyond 2^53, reals bit for bit,
/// any Unicode text and blobs (protocol/README.md §3).
///
/// Wire form (protocol/README.md): `null`, a JSON string for text, and tagged objects
/// `{"int":"<decimal>"}`, `{"real":"<shortest round-trip decimal>"}`, `{"blob":"<base64>"}`
/// for the rest, so that no JSON implementation can round a number on the way.
public enum Value: Sendable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)

    /// The form people and scripts read (`get`, `dump`, `--json`): integers and finite reals as
    /// JSON numbers (a real always shows a `.` or an exponent), blobs as `{"blob":"…"}`, and
    /// infinities as `{"real":"inf"}`.
    public var plainJSON: String {
        switch self {
        case .null: return "null"
        case .integer(let i): return String(i)
        case .real(let d): return d.isFinite ? Value.realText(d) : wireJSON  // JSON has no infinity
        case .text(let s): return JSONText.quote(s)
        case .blob(let b): return "{\"blob\":\(JSONText.quote(b.base64EncodedString()))}"
        }
    }

    /// The wire form as compact JSON text.
    public var wireJSON: String {
        switch self {
        case .null: return "null"
        case .integer(let i): return "{\"int\":\"\(i)\"}"
        case .real(let d): return "{\"real\":\"\(Value.realText(d))\"}"
        case .text(let s): return JSONText.quote(s)
        case .blob(let b): return "{\"blob\":\(JSONText.quote(b.base64EncodedString()))}"
        }
    }

    public var description: String { plainJSON }

    /// Swift's shortest round-trip rendering; non-finite values as `inf`/`-inf`/`nan`
    /// (SQLite stores NaN as NULL, so `nan` never comes from a replica).
    static func realText(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        return "\(d)"
    }

    /// `-?(0|[1-9][0-9]*)`: one spelling per integer, so that signed bytes stay comparable.
    static func isCanonicalInteger(_ text: String) -> Bool {
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard let first = digits.first, digits.allSatisfy(\.isASCIIDigit) else { return false }
        return first != "0" || digits.count == 1
    }

    static func parseReal(_ text: String) -> Double? {
        switch text {
        case "inf": return .infinity
        case "-inf": return -.infinity
        case "nan": return .nan
        default:
            return isNumeral(text) ? Double(text) : nil
        }
    }

    /// `-?digits[.digits][e[+-]digits]` (protocol/README.md §3): one grammar on every node,
    /// so `.5`, `1.`, `+1`, `1E5` or ` 1` are refused everywhere rather than read by some.
    static func isNumeral(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        func digits() -> Bool {
            let count = bytes.prefix { $0 >= 0x30 && $0 <= 0x39 }.count
            bytes = bytes.dropFirst(count)
            return count > 0
        }
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        guard digits() else { return false }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            guard digits() else { return false }
        }
        if bytes.first == UInt8(ascii: "e") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            guard digits() else { return false }
        }
        return bytes.isEmpty
    }
}

extension Value: Hashable {
    /// Reals compare by bit pattern and text by code points (no Unicode normalization): the
    /// merge must tell apart what SQLite would store apart.
    public static func == (a: Value, b: Value) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.integer(let x), .integer(let y)): return x == y
        case (.real(let x), .real(let y)): return x.bitPattern == y.bitPattern
        case (.text(let x), .text(let y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
        case (.blob(let x), .blob(let y)): return x == y
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .integer(let i):
            hasher.combine(1)
            hasher.combine(i)
        case .real(let d):
            hasher.combine(2)
            hasher.combine(d.bitPattern)
        case .text(let s):
            hasher.combine(3)
            for scalar in s.unicodeScalars { hasher.combine(scalar.value) }
        case .blob(let b):
            hasher.combine(4)
            hasher.combine(b)
        }
    }
}

extension Value: Codable {
    private enum Tag: String, CodingKey { case int, real, blob }

    public init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
            return
        }
        if let text = try? single.decode(String.self) {
            self = .text(text)
            return
        }
        let tagged = try decoder.container(keyedBy: Tag.self)
        let members = try decoder.container(keyedBy: AnyKey.self).allKeys.count
        guard members == 1, tagged.allKeys.count == 1, let tag = tagged.allKeys.first else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "a value is null, a string, or an object with exactly one of \"int\", \"real\", \"blob\""
                )
            )
        }
        let payload = try tagged.decode(String.self, forKey: tag)
        switch tag {
        case .int:
            guard Value.isCanonicalInteger(payload), let i = Int64(payload) else {
                throw DecodingError.dataCorruptedError(forKey: tag, in: tagged, debugDescription: "\"\(payload)\" is not a 64-bit integer")
            }
            self = .integer(i)
        case .real:
            guard let d = Value.parseReal(payload), !d.isNaN else {
                throw DecodingError.dataCorruptedError(
                    forKey: tag,
                    in: tagged,
                    debugDescription: payload == "nan"
                        ? "nan cannot be stored (SQLite keeps NaN as NULL)"
                        : "\"\(payload)\" is not a real number (expected -digits[.digits][e[+-]digits], inf or -inf)"
                )
            }
            self = .real(d)
        case .blob:
            guard let b = Data(base64Encoded: payload) else {
                throw DecodingError.dataCorruptedError(forKey: tag, in: tagged, debugDescription: "blob is not valid base64")
            }
            self = .blob(b)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .text(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .integer(let i):
            var c = encoder.container(keyedBy: Tag.self)
            try c.encode(String(i), forKey: .int)
        case .real(let d):
            var c = encoder.container(keyedBy: Tag.self)
            try c.encode(Value.realText(d), forKey: .real)
        case .blob(let b):
            var c = encoder.container(keyedBy: Tag.self)
            try c.encode(b.base64EncodedString(), forKey: .blob)
        }
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
