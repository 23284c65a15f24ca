import Foundation

/// For each origin, the highest sequence number held contiguously (docs/architecture.md, invariant 4; protocol/README.md §7).
///
/// A node's vector is its sync checkpoint; a change's *context* is the vector of the
/// row it modified as its writer saw it, which is how concurrency is detected.
public struct VersionVector: Hashable, Sendable {
    public private(set) var entries: [NodeID: Int64]

    public init(_ entries: [NodeID: Int64] = [:]) {
        self.entries = entries.filter { $0.value > 0 }
    }

    public subscript(origin: NodeID) -> Int64 {
        get { entries[origin] ?? 0 }
        set { entries[origin] = newValue > 0 ? newValue : nil }
    }

    /// Whether the write named by `dot` is included.
    public func contains(_ dot: Dot) -> Bool { self[dot.origin] >= dot.seq }

    /// Whether every write this vector includes is also in `other`.
    public func isIncluded(in other: VersionVector) -> Bool {
        entries.allSatisfy { other[$0.key] >= $0.value }
    }

    public var origins: [NodeID] { entries.keys.sorted() }

    public var isEmpty: Bool { entries.isEmpty }

    /// Canonical JSON: origins sorted, no spaces, e.g. `{"co.apc":3,"mx.amexcid":12}`.
    public var canonicalJSON: String {
        var writer = JSONWriter(capacity: 16 + entries.count * 24)
        writer.vector(self)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

extension VersionVector: Codable {
    /// Reads the vector's own ``canonicalJSON`` (as the change log stores contexts) without a
    /// JSON decoder; anything else goes to the decoder.
    public init(canonicalJSON text: String) throws {
        var entries: [NodeID: Int64] = [:]
        let body = text.utf8.dropFirst().dropLast()
        guard text.utf8.first == UInt8(ascii: "{"), text.utf8.last == UInt8(ascii: "}"), !body.contains(UInt8(ascii: "\\")) else {
            self = try JSONDecoder().decode(VersionVector.self, from: Data(text.utf8))
            return
        }
        if !body.isEmpty {
            for entry in body.split(separator: UInt8(ascii: ",")) {
                let parts = entry.split(separator: UInt8(ascii: ":"), maxSplits: 1)
                guard parts.count == 2, parts[0].count >= 2, parts[0].first == UInt8(ascii: "\""), parts[0].last == UInt8(ascii: "\""),
                    let seq = Int64(String(decoding: parts[1], as: UTF8.self)), seq >= 0
                else {
                    self = try JSONDecoder().decode(VersionVector.self, from: Data(text.utf8))
                    return
                }
                entries[try NodeID(String(decoding: parts[0].dropFirst().dropLast(), as: UTF8.self))] = seq
            }
        }
        self.init(entries)
    }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode([String: Int64].self)
        var entries: [NodeID: Int64] = [:]
        for (key, seq) in raw {
            let origin: NodeID
            do { origin = try NodeID(key) } catch {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
            }
            guard seq >= 0 else {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "negative sequence number \(seq) for origin \(key)"
                    )
                )
            }
            entries[origin] = seq
        }
        self.init(entries)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Dictionary(uniqueKeysWithValues: entries.map { ($0.key.rawValue, $0.value) }))
    }
}

extension VersionVector {
    /// Raises the entry of `dot`'s origin to `dot`'s sequence number if it is below it.
    public mutating func raise(_ dot: Dot) {
        if self[dot.origin] < dot.seq { self[dot.origin] = dot.seq }
    }

    /// The vector once `changes` are held too: each origin's entry raised to its greatest
    /// change among them (changes sent or received in per-origin order, protocol §7).
    public func raised(by changes: some Sequence<Change>) -> VersionVector {
        var vector = self
        for change in changes { vector.raise(change.dot) }
        return vector
    }
}
