import Foundation

/// The stable name of a node: one agency's or ministry's replica, e.g. `mx.amexcid`.
///
/// Node ids order changes with equal HLC (docs/architecture.md, invariant 5; protocol/README.md §9), so the rule for
/// what is a valid id is strict and the same everywhere: `[a-z0-9][a-z0-9.-]{0,62}`.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// A node's name, without an epoch: what `minga init --node-id` and the roster take.
    public init(name string: String) throws(MingaError) {
        guard NodeID.isValidName(string) else { throw NodeID.invalid(string) }
        self.init(unchecked: string)
    }

    static func invalid(_ string: String) -> MingaError {
        MingaError(
            .invalidInput,
            "invalid node id \"\(string)\": use 1 to 63 characters of a-z, 0-9, '.' and '-', starting with a letter or digit (for example mx.amexcid)"
        )
    }

    public init(_ string: String) throws(MingaError) {
        guard NodeID.isValid(string) else { throw NodeID.invalid(string) }
        rawValue = string
    }

    /// A node's name, `[a-z0-9][a-z0-9.-]{0,62}`, optionally followed by `~EPOCH` (decimal,
    /// no leading zero): the origin a node writes under after it was restored from a backup
    /// (protocol/README.md, "Restoring from a backup").
    public static func isValid(_ string: String) -> Bool {
        guard let tilde = string.utf8.firstIndex(of: UInt8(ascii: "~")) else { return isValidName(string) }
        let epoch = string.utf8[string.utf8.index(after: tilde)...]
        return isValidName(String(string[..<tilde])) && (1...18).contains(epoch.count) && epoch.first != UInt8(ascii: "0")
            && epoch.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// A node's name without an epoch: what `minga init --node-id` and the roster accept.
    public static func isValidName(_ string: String) -> Bool {
        let bytes = string.utf8  // read in place: ids are checked for every change read
        guard (1...63).contains(bytes.count), let first = bytes.first else { return false }
        func lowerOrDigit(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard lowerOrDigit(first) else { return false }
        return bytes.dropFirst().allSatisfy { lowerOrDigit($0) || $0 == 0x2E || $0 == 0x2D }
    }

    /// The node this origin belongs to: `mx` for both `mx` and `mx~1795000000000`.
    public var node: NodeID {
        guard let tilde = rawValue.firstIndex(of: "~") else { return self }
        return NodeID(unchecked: String(rawValue[..<tilde]))
    }

    /// 0 for a node's first life; the restore's epoch afterwards.
    public var epoch: Int64 {
        guard let tilde = rawValue.firstIndex(of: "~") else { return 0 }
        return Int64(rawValue[rawValue.index(after: tilde)...]) ?? 0
    }

    /// The origin this node writes under in `epoch` (0: its plain name).
    public func inEpoch(_ epoch: Int64) -> NodeID {
        epoch == 0 ? node : NodeID(unchecked: node.rawValue + "~" + String(epoch))
    }

    private init(unchecked: String) { rawValue = unchecked }

    public var description: String { rawValue }
    public static func < (a: NodeID, b: NodeID) -> Bool { JSONText.precedes(a.rawValue, b.rawValue) }
}

extension NodeID: Codable {
    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(string) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// One write's identity: its origin node and that origin's sequence number (1, 2, 3 … with no gaps).
public struct Dot: Hashable, Sendable, Codable, CustomStringConvertible {
    public let origin: NodeID
    public let seq: Int64

    public init(origin: NodeID, seq: Int64) {
        self.origin = origin
        self.seq = seq
    }

    public var description: String { "\(origin):\(seq)" }
}
