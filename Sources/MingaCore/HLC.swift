import Foundation

/// A hybrid logical clock timestamp (Kulkarni et al. 2014): wall-clock milliseconds
/// plus a logical counter, packed into one 64-bit integer as `millis << 16 | counter`.
///
/// Packing makes the HLC rules one comparison each: a node's next timestamp is
/// `max(now << 16, highest timestamp it holds + 1)`, so a write is always later than
/// every write its node has seen, and a counter overflow simply carries into the
/// milliseconds. Sealing issues each local write's HLC this way (protocol/README.md §4); the
/// triggers only record the wall-clock time a write was made.
public struct HLC: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let packed: Int64

    public init(packed: Int64) { self.packed = packed }

    public init(millis: Int64, counter: Int64) {
        packed = millis << 16 | (counter & 0xFFFF)
    }

    public var millis: Int64 { packed >> 16 }
    public var counter: Int64 { packed & 0xFFFF }

    /// The timestamp a node issues next, given the highest one it holds and its wall clock.
    public static func next(after last: HLC?, nowMillis: Int64) -> HLC {
        HLC(packed: max(nowMillis << 16, (last?.packed ?? 0) + 1))
    }

    /// Wire form: 13-digit zero-padded milliseconds (enough until the year 2286), `-`, 5-digit
    /// counter. Sorts as it compares.
    public var description: String {
        if millis >= 0, millis < 10_000_000_000_000 {  // always, until 2286: 19 bytes written in place
            return String(unsafeUninitializedCapacity: 19) { out in
                var (ms, c) = (millis, counter)
                for i in stride(from: 12, through: 0, by: -1) {
                    out[i] = UInt8(ascii: "0") + UInt8(ms % 10)
                    ms /= 10
                }
                out[13] = UInt8(ascii: "-")
                for i in stride(from: 18, through: 14, by: -1) {
                    out[i] = UInt8(ascii: "0") + UInt8(c % 10)
                    c /= 10
                }
                return 19
            }
        }
        let ms = String(millis)
        let c = String(counter)
        return String(repeating: "0", count: max(0, 13 - ms.count)) + ms + "-"
            + String(repeating: "0", count: max(0, 5 - c.count)) + c
    }

    /// Reads exactly the wire form: 13 ASCII digits, `-`, 5 ASCII digits (a counter up to 65535).
    public init?(wire: String) {
        var (ms, c): (Int64, Int64) = (0, 0)
        var count = 0
        for byte in wire.utf8 {
            let digit = Int64(byte) - Int64(UInt8(ascii: "0"))
            switch count {
            case 13: guard byte == UInt8(ascii: "-") else { return nil }
            case 0..<13 where (0...9).contains(digit): ms = ms * 10 + digit
            case 14..<19 where (0...9).contains(digit): c = c * 10 + digit
            default: return nil
            }
            count += 1
        }
        guard count == 19, c <= 0xFFFF else { return nil }
        self.init(millis: ms, counter: c)
    }

    /// Human form for operators: UTC time with milliseconds, and the counter when it is not zero.
    public var readable: String {
        let date = Date(timeIntervalSince1970: Double(millis) / 1000)
        var text = HLC.formatter.string(from: date)
        if counter != 0 { text += " +\(counter)" }
        return text
    }

    nonisolated(unsafe) private static let formatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    public static func < (a: HLC, b: HLC) -> Bool { a.packed < b.packed }
}

extension HLC: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let hlc = HLC(wire: text) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "\"\(text)\" is not an HLC (expected 13 digits of milliseconds, '-', 5 digits of counter)"
                )
            )
        }
        self = hlc
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
