import Foundation

/// The columns a change sets, by name, kept in canonical order (sorted by the bytes of their
/// names, ``JSONText/precedes(_:_:)``). Reads like a dictionary; but the wire and the hash
/// chain list columns in this order, so writing them needs no sort, and a change read from
/// the wire (already in order) or from the log (in a table's canonical order) is built
/// without hashing a name (receiving is measured by `scripts/bench` W2 and W5).
public struct Columns: Hashable, Sendable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    public private(set) var keys: [String] = []
    public private(set) var values: [Value] = []

    public init() {}

    public init(dictionaryLiteral elements: (String, Value)...) {
        for (name, value) in elements { self[name] = value }
    }

    public init(_ dictionary: [String: Value]) {
        for name in dictionary.keys.sorted(by: JSONText.precedes) { append(name, dictionary[name]!) }
    }

    // MARK: Collection, of (key, value) pairs in canonical order

    public typealias Element = (key: String, value: Value)
    public var startIndex: Int { 0 }
    public var endIndex: Int { keys.count }
    public subscript(position: Int) -> Element { (keys[position], values[position]) }

    public mutating func reserveCapacity(_ n: Int) {
        keys.reserveCapacity(n)
        values.reserveCapacity(n)
    }

    /// Adds a column that sorts after every column held: the fast way to build from names
    /// already in canonical order. Returns false, adding nothing, when `name` does not sort
    /// after the last one.
    @discardableResult
    public mutating func append(_ name: String, _ value: Value) -> Bool {
        if let last = keys.last, !JSONText.precedes(last, name) { return false }
        keys.append(name)
        values.append(value)
        return true
    }

    /// Where `name` is, or where it would go.
    private func position(of name: String) -> (index: Int, found: Bool) {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low + high) / 2
            if keys[middle] == name { return (middle, true) }
            if JSONText.precedes(keys[middle], name) { low = middle + 1 } else { high = middle }
        }
        return (low, false)
    }

    public subscript(name: String) -> Value? {
        get {
            let (index, found) = position(of: name)
            return found ? values[index] : nil
        }
        set {
            let (index, found) = position(of: name)
            switch (found, newValue) {
            case (true, let value?): values[index] = value
            case (true, nil):
                keys.remove(at: index)
                values.remove(at: index)
            case (false, let value?):
                keys.insert(name, at: index)
                values.insert(value, at: index)
            case (false, nil): break
            }
        }
    }

    public var dictionary: [String: Value] { Dictionary(uniqueKeysWithValues: zip(keys, values)) }
}

extension Columns: Codable {
    public init(from decoder: any Decoder) throws {
        self.init(try [String: Value](from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try dictionary.encode(to: encoder)
    }
}
