import Foundation

/// Minimal JSON text helpers for the canonical forms Minga prints and hashes.
public enum JSONText {
    /// Whether JSON (and SQLite's JSON functions) write `s` between quotes exactly as it is: it
    /// holds no control character, quote or backslash. Most text does, and skips escaping.
    public static func needsNoEscape(_ s: String) -> Bool { !s.utf8.contains(where: needsEscape) }

    /// The bytes JSON escapes: control characters, the quote and the backslash.
    public static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// Whether `a` sorts before `b` by their UTF-8 bytes: the order of every sorted list in
    /// canonical forms (columns, origins). Compares the bytes in place; the generic
    /// `utf8.lexicographicallyPrecedes` went byte by byte through iterators.
    public static func precedes(_ a: String, _ b: String) -> Bool {
        var a = a
        var b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let common = min(x.count, y.count)
                let order = common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common)
                return order != 0 ? order < 0 : x.count < y.count
            }
        }
    }

    /// A JSON array of strings, e.g. `["a","b"]`: how a set of keys is passed to SQLite's
    /// `json_each` in one query.
    public static func array(ofStrings strings: [String]) -> String {
        var json = JSONWriter(capacity: strings.reduce(2) { $0 + $1.utf8.count + 3 })
        json.raw("[")
        for (i, string) in strings.enumerated() {
            if i > 0 { json.raw(",") }
            json.quoted(string)
        }
        json.raw("]")
        return String(decoding: json.bytes, as: UTF8.self)
    }

    /// A JSON string literal with only the escapes JSON requires, so equal strings print equal bytes.
    public static func quote(_ s: String) -> String {
        if needsNoEscape(s) { return "\"" + s + "\"" }  // hot when serving a pull
        var writer = JSONWriter(capacity: s.utf8.count + 8)
        writer.quoted(s)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}
