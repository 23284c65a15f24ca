import Foundation

/// Compact wire JSON written straight into bytes: serving a pull writes every change through
/// it. It writes exactly what the `String` forms (``Change/wireJSON``) give, which are built
/// on it.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    public mutating func raw(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// `text` as a JSON string literal with only the escapes JSON requires (quote, backslash,
    /// control characters; `\n`, `\r`, `\t` by name, the others as `\u00XX`), so equal strings
    /// print equal bytes. Text that needs no escape is copied whole.
    public mutating func quoted(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            bytes.append(UInt8(ascii: "\""))
            guard utf8.contains(where: JSONText.needsEscape) else {
                bytes.append(contentsOf: utf8)
                bytes.append(UInt8(ascii: "\""))
                return
            }
            let hex = Array("0123456789abcdef".utf8)
            for byte in utf8 {
                guard JSONText.needsEscape(byte) else {
                    bytes.append(byte)
                    continue
                }
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "t"))
                default:
                    bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }
    }

    /// A value's wire form (``Value/wireJSON``).
    public mutating func wire(_ value: Value) {
        switch value {
        case .null: raw("null")
        case .integer(let i):
            raw("{\"int\":\"")
            raw(String(i))
            raw("\"}")
        case .text(let s): quoted(s)
        case .real, .blob: raw(value.wireJSON)
        }
    }

    /// A vector's ``VersionVector/canonicalJSON``.
    public mutating func vector(_ vector: VersionVector) {
        raw("{")
        for (i, origin) in vector.origins.enumerated() {
            if i > 0 { raw(",") }
            quoted(origin.rawValue)
            raw(":")
            raw(String(vector[origin]))
        }
        raw("}")
    }

    /// A row key's wire form (``Change/keyJSON``).
    public mutating func key(_ key: [Value]) {
        raw("[")
        for (i, value) in key.enumerated() {
            if i > 0 { raw(",") }
            wire(value)
        }
        raw("]")
    }

    /// A change's wire form: members in sorted order, columns sorted by name.
    public mutating func change(_ change: Change) {
        raw("{\"columns\":{")
        for (i, (name, value)) in change.columns.enumerated() {  // canonical order
            if i > 0 { raw(",") }
            quoted(name)
            raw(":")
            wire(value)
        }
        raw("},\"context\":")
        vector(change.context)
        raw(",\"hlc\":\"")
        raw(change.hlc.description)
        raw("\",\"key\":")
        key(change.key)
        raw(",\"op\":\"")
        raw(change.op.rawValue)
        raw("\",\"origin\":")
        quoted(change.origin.rawValue)
        raw(",\"seq\":")
        raw(String(change.seq))
        if let signature = change.signature {
            raw(",\"signature\":\"")
            raw(signature.base64EncodedString())
            raw("\"")
        }
        raw(",\"table\":")
        quoted(change.table)
        raw("}")
    }

    /// Changes as the members of a JSON array, comma-separated.
    public mutating func changes(_ changes: [Change]) {
        for (i, change) in changes.enumerated() {
            if i > 0 { raw(",") }
            self.change(change)
        }
    }
}
