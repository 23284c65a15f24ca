import Foundation

/// What a write did to a row. Inserts and updates both set columns (an insert sets all
/// of them); a delete is a tombstone that takes part in the same order as the writes.
public enum ChangeOp: String, Codable, Sendable, CaseIterable {
    case insert, update, delete
}

/// One captured write to one row of a tracked table, as it travels between nodes.
public struct Change: Hashable, Sendable, Codable {
    public var origin: NodeID
    public var seq: Int64
    public var hlc: HLC
    public var table: String
    /// Primary-key values in the table's key-column order.
    public var key: [Value]
    public var op: ChangeOp
    /// The columns this write set; empty for a delete, only the changed ones for an update.
    public var columns: Columns
    /// The row's version vector as the writer saw it: every write it had seen on this row.
    public var context: VersionVector
    /// The origin's Ed25519 signature over its hash chain up to this change, on the changes
    /// where the origin signed (``OriginChain``); absent on the others.
    public var signature: Data?

    public init(
        origin: NodeID,
        seq: Int64,
        hlc: HLC,
        table: String,
        key: [Value],
        op: ChangeOp,
        columns: Columns = [:],
        context: VersionVector = VersionVector(),
        signature: Data? = nil
    ) {
        self.origin = origin
        self.seq = seq
        self.hlc = hlc
        self.table = table
        self.key = key
        self.op = op
        self.columns = columns
        self.context = context
        self.signature = signature
    }

    public var dot: Dot { Dot(origin: origin, seq: seq) }

    public var mergeOrder: MergeOrder { MergeOrder(hlc: hlc, origin: origin) }

    /// Whether this write loses to `other` in the merge order.
    public func precedes(_ other: Change) -> Bool { mergeOrder < other.mergeOrder }

    /// Whether this write's writer had seen `other` when it wrote.
    public func covers(_ other: Change) -> Bool { covers(other.dot) }

    /// Neither write had seen the other.
    public func isConcurrent(with other: Change) -> Bool {
        !covers(other) && !other.covers(self)
    }

    /// Whether this write affects `column` (`nil` meaning the row's existence).
    func touches(_ column: String?) -> Bool {
        guard let column else { return true }
        return op == .delete || columns[column] != nil
    }

    /// The row's identity in canonical JSON: `["IATI-1"]`, `["a",{"int":"2"}]`.
    public var keyJSON: String { Change.keyJSON(key) }

    public static func keyJSON(_ key: [Value]) -> String {
        var writer = JSONWriter(capacity: 64)
        writer.key(key)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

/// A bounded run of changes in the sender's log order (which is causal), as sent by
/// `/v1/pull`, accepted by `/v1/push` and written line by line into bundle files.
public struct ChangeBatch: Sendable, Codable, Equatable {
    public static let protocolVersion = 1

    public var protocolVersion: Int
    public var changes: [Change]

    public init(changes: [Change]) {
        protocolVersion = ChangeBatch.protocolVersion
        self.changes = changes
    }

    enum CodingKeys: String, CodingKey {
        case protocolVersion = "protocol"
        case changes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        protocolVersion = try c.decode(Int.self, forKey: .protocolVersion)
        guard protocolVersion == ChangeBatch.protocolVersion else {
            throw DecodingError.dataCorruptedError(
                forKey: .protocolVersion,
                in: c,
                debugDescription: "protocol version \(protocolVersion) is not supported (this node speaks \(ChangeBatch.protocolVersion))"
            )
        }
        changes = try c.decode([Change].self, forKey: .changes)
    }
}

extension JSONEncoder {
    /// The one encoder configuration for wire JSON: compact and with sorted keys, so equal
    /// values encode to equal bytes.
    public static var wire: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

extension Change {
    /// Wire JSON built by hand (``JSONWriter/change(_:)``): the same members, values and sorted
    /// keys as ``JSONEncoder/wire`` gives, without the Codable machinery: serving a pull
    /// writes every change this way (`scripts/bench` W2).
    public var wireJSON: String {
        var writer = JSONWriter()
        writer.change(self)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

extension ChangeBatch {
    /// `{"changes":[…],"protocol":1}`, built by hand (see ``Change/wireJSON``).
    public var wireJSON: String {
        var writer = JSONWriter(capacity: changes.count * 512)
        writer.raw("{\"changes\":[")
        writer.changes(changes)
        writer.raw("],\"protocol\":")
        writer.raw(String(protocolVersion))
        writer.raw("}")
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

extension Change {
    /// About how many bytes the change takes as wire JSON: what batches are cut and origins
    /// sign by (protocol §12). Text counts its UTF-8 bytes (escapes aside), blobs their base64.
    public var estimatedWireSize: Int {
        func size(_ value: Value) -> Int {
            switch value {
            case .null, .integer, .real: return 24
            case .text(let s): return s.utf8.count + 4
            case .blob(let b): return b.count * 4 / 3 + 12
            }
        }
        var total = 160 + table.utf8.count + context.entries.count * 24
        for value in key { total += size(value) }
        for (name, value) in columns { total += name.utf8.count + 4 + size(value) }
        return total
    }
}

extension Change {
    /// Whether this write's writer had seen the write named `dot`.
    func covers(_ dot: Dot) -> Bool {
        if origin == dot.origin { return seq > dot.seq }
        return context.contains(dot)
    }
}
