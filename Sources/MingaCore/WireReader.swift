import Foundation

/// A strict, allocation-light reader for the JSON that nodes exchange: receiving is on every
/// sync's path (`scripts/bench` W2), and `JSONDecoder` with `Codable` is several times slower.
///
/// It only ever accepts a subset of what the `Codable` path accepts: anything unusual (an
/// unknown or repeated member, a number that is not a plain integer, invalid UTF-8, a value
/// that fails validation) makes it give up, and the caller decodes again with `JSONDecoder`,
/// which then either accepts the document or produces the operator-readable error. So the
/// fast path never changes what is accepted nor what an error says.
public struct WireReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var at = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// Runs `read` over the whole of `data`; `nil` when it gives up or leaves anything but
    /// whitespace unread.
    public static func read<T>(_ data: some ContiguousBytes, _ read: (inout WireReader) -> T?) -> T? {
        data.withUnsafeBytes { raw in
            var reader = WireReader(raw.bindMemory(to: UInt8.self))
            guard let value = read(&reader) else { return nil }
            reader.skipSpace()
            return reader.at == reader.bytes.count ? value : nil
        }
    }

    // MARK: tokens

    mutating func skipSpace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x09, 0x0A, 0x0D: at += 1
            default: return
            }
        }
    }

    /// Consumes `byte` (after whitespace) if it is next.
    public mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard at < bytes.count, bytes[at] == byte else { return false }
        at += 1
        return true
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        skipSpace()
        let count = word.utf8CodeUnitCount
        guard at + count <= bytes.count else { return false }
        for i in 0..<count where bytes[at + i] != word.utf8Start[i] { return false }
        at += count
        return true
    }

    public mutating func null() -> Bool { literal("null") }

    public mutating func bool() -> Bool? {
        if literal("true") { return true }
        if literal("false") { return false }
        return nil
    }

    /// `-?(0|[1-9][0-9]*)` within Int64.
    public mutating func integer() -> Int64? {
        skipSpace()
        let negative = at < bytes.count && bytes[at] == UInt8(ascii: "-")
        if negative { at += 1 }
        let start = at
        var magnitude: UInt64 = 0
        while at < bytes.count, bytes[at] >= 0x30, bytes[at] <= 0x39 {
            let (times, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(UInt64(bytes[at] - 0x30))
            guard !o1, !o2 else { return nil }
            magnitude = sum
            at += 1
        }
        let digits = at - start
        guard digits > 0, digits == 1 || bytes[start] != 0x30 else { return nil }
        if at < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[at]) { return nil }
        if negative { return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }

    /// A JSON string: escapes decoded, UTF-8 validated, raw control characters refused.
    public mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = at
        var ascii = true
        while at < bytes.count {
            let byte = bytes[at]
            if byte == UInt8(ascii: "\"") {
                let utf8 = UnsafeBufferPointer(rebasing: bytes[start..<at])
                // ASCII is valid UTF-8 as it is; only other text pays for String(validating:),
                // a slow generic path.
                let text = ascii ? String(decoding: utf8, as: UTF8.self) : String(validating: utf8, as: UTF8.self)
                at += 1
                return text
            }
            if byte >= 0x80 { ascii = false }
            if byte == UInt8(ascii: "\\") { return escapedString(from: start) }
            if byte < 0x20 { return nil }
            at += 1
        }
        return nil
    }

    private mutating func escapedString(from start: Int) -> String? {
        var out = Array(bytes[start..<at])
        while at < bytes.count {
            let byte = bytes[at]
            at += 1
            switch byte {
            case UInt8(ascii: "\""): return String(validating: out, as: UTF8.self)
            case ..<0x20: return nil
            case UInt8(ascii: "\\"):
                guard at < bytes.count else { return nil }
                let escape = bytes[at]
                at += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard var scalar = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard take(UInt8(ascii: "\\")), at < bytes.count, bytes[at] == UInt8(ascii: "u") else { return nil }
                        at += 1
                        guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { return nil }
                    out.append(contentsOf: UTF8.encode(unicode)!)
                default: return nil
                }
            default: out.append(byte)
            }
        }
        return nil
    }

    private mutating func hex4() -> UInt32? {
        guard at + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[at]
            at += 1
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt32(byte - 0x30)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = value << 4 | UInt32(byte - 0x57)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = value << 4 | UInt32(byte - 0x37)
            default: return nil
            }
        }
        return value
    }

    /// Reads `{…}` calling `member` with each key, which must read the value. `member` gives
    /// up on a repeated key (which `JSONDecoder` and other readers treat differently).
    public mutating func object(_ member: (String, inout WireReader) -> Bool) -> Bool {
        guard take(UInt8(ascii: "{")) else { return false }
        if take(UInt8(ascii: "}")) { return true }
        repeat {
            guard let key = string(), take(UInt8(ascii: ":")), member(key, &self) else { return false }
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "}"))
    }

    /// Reads `[…]` of elements that `element` reads; `nil` when one does not read.
    public mutating func list<T>(_ element: (inout WireReader) -> T?) -> [T]? {
        var items: [T] = []
        guard
            array({ reader in
                guard let item = element(&reader) else { return false }
                items.append(item)
                return true
            })
        else { return nil }
        return items
    }

    /// Reads `[…]` calling `element` for each element.
    public mutating func array(_ element: (inout WireReader) -> Bool) -> Bool {
        guard take(UInt8(ascii: "[")) else { return false }
        if take(UInt8(ascii: "]")) { return true }
        repeat {
            guard element(&self) else { return false }
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "]"))
    }

    // MARK: Minga's types

    /// `null`, a string, or `{"int"|"real"|"blob": string}` (``Value``'s wire form).
    public mutating func value() -> Value? {
        if null() { return .null }
        skipSpace()
        guard at < bytes.count else { return nil }
        if bytes[at] == UInt8(ascii: "\"") { return string().map(Value.text) }
        var result: Value?
        var members = 0
        guard
            object({ tag, reader in
                members += 1
                guard let payload = reader.string() else { return false }
                switch tag {
                case "int": result = Value.isCanonicalInteger(payload) ? Int64(payload).map(Value.integer) : nil
                case "real": result = Value.parseReal(payload).flatMap { $0.isNaN ? nil : Value.real($0) }
                case "blob": result = Data(base64Encoded: payload).map(Value.blob)
                default: return false
                }
                return result != nil
            }), members == 1
        else { return nil }
        return result
    }

    /// A version vector: `{"origin": seq, …}` with valid origins and non-negative seqs.
    public mutating func vector() -> VersionVector? {
        var entries: [NodeID: Int64] = [:]
        guard
            object({ key, reader in
                guard let origin = try? NodeID(key), entries[origin] == nil, let seq = reader.integer(), seq >= 0 else { return false }
                entries[origin] = seq
                return true
            })
        else { return nil }
        return VersionVector(entries)
    }

    /// One change in its wire form (protocol/README.md §5), every member but `signature`
    /// present.
    public mutating func change() -> Change? {
        var members = ChangeMembers()
        guard object({ members.read($0, &$1) }) else { return nil }
        return members.change
    }

    /// `{"name": value, …}`, a change's columns; a name given twice is refused.
    mutating func columns() -> Columns? {
        var values = Columns()
        values.reserveCapacity(24)  // a registry row's columns without growing the arrays
        let read = object { name, reader in
            guard let value = reader.value() else { return false }
            // Senders write columns in canonical order; any other order is sorted in.
            if values.append(name, value) { return true }
            guard values[name] == nil else { return false }  // a repeated name
            values[name] = value
            return true
        }
        return read ? values : nil
    }

    /// Reads a member of an object into `field` unless it was read already: a document's
    /// members come each at most once. False when it was, or when `read` gives nothing.
    public static func once<T>(_ field: inout T?, _ read: () -> T?) -> Bool {
        guard field == nil else { return false }
        field = read()
        return field != nil
    }

    /// `[change, …]`.
    public mutating func changes() -> [Change]? { list { $0.change() } }
}

/// A wire type with a ``WireReader`` fast path; `nil` from it means "decode with
/// `JSONDecoder`", which accepts the document or says what is wrong with it.
public protocol WireReadable: Decodable {
    init?(wire data: Data)
}

extension WireReadable {
    /// The fast path first, `JSONDecoder` when it gives up.
    public static func decode(wire data: Data) throws -> Self {
        if let value = Self(wire: data) { return value }
        return try JSONDecoder().decode(Self.self, from: data)
    }
}

extension ChangeBatch: WireReadable {
    /// Reads `{"changes":[…],"protocol":1}` with ``WireReader``.
    public init?(wire data: Data) {
        guard
            let batch = WireReader.read(
                data,
                { reader -> ChangeBatch? in
                    var changes: [Change]?
                    var version: Int64?
                    guard
                        reader.object({ member, r in
                            switch member {
                            case "changes": WireReader.once(&changes) { r.changes() }
                            case "protocol": WireReader.once(&version) { r.integer() }
                            default: false
                            }
                        }), let changes, version == Int64(ChangeBatch.protocolVersion)
                    else { return nil }
                    return ChangeBatch(changes: changes)
                }
            )
        else { return nil }
        self = batch
    }
}

/// The members of one change as ``WireReader/change()`` reads them, in any order, each at most
/// once; ``change`` is the change once every member but `signature` was read.
private struct ChangeMembers {
    var origin: NodeID?
    var seq: Int64?
    var hlc: HLC?
    var table: String?
    var key: [Value]?
    var op: ChangeOp?
    var columns: Columns?
    var context: VersionVector?
    var signature: Data?
    var signed = false

    var change: Change? {
        guard let origin, let seq, let hlc, let table, let key, let op, let columns, let context else { return nil }
        return Change(origin: origin, seq: seq, hlc: hlc, table: table, key: key, op: op, columns: columns, context: context, signature: signature)
    }

    /// Reads `member`'s value into its field: false for an unknown or repeated member, or a
    /// value of the wrong form.
    mutating func read(_ member: String, _ reader: inout WireReader) -> Bool {
        switch member {
        case "columns": return WireReader.once(&columns) { reader.columns() }
        case "context": return WireReader.once(&context) { reader.vector() }
        case "hlc": return WireReader.once(&hlc) { reader.string().flatMap(HLC.init(wire:)) }
        case "key": return WireReader.once(&key) { reader.list { $0.value() } }
        case "op": return WireReader.once(&op) { reader.string().flatMap(ChangeOp.init(rawValue:)) }
        case "origin": return WireReader.once(&origin) { reader.string().flatMap { try? NodeID($0) } }
        case "seq": return WireReader.once(&seq) { reader.integer() }
        case "table": return WireReader.once(&table) { reader.string() }
        case "signature":
            guard !signed else { return false }
            signed = true
            if reader.null() { return true }
            signature = reader.string().flatMap { Data(base64Encoded: $0) }
            return signature != nil
        default: return false
        }
    }
}
