import Foundation

extension DecodingError {
    /// A one-line account of where and why decoding failed, for operators.
    public var explanation: String {
        func path(_ context: Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "the document" : String(p.drop { $0 == "." })
        }
        switch self {
        case .dataCorrupted(let c):
            if c.codingPath.isEmpty, c.underlyingError != nil || c.debugDescription == "The given data was not valid JSON." {
                let underlying = (c.underlyingError as NSError?)?.localizedDescription
                return "not valid JSON (\(underlying ?? "check its quotes, commas and brackets"))"
            }
            return "\(path(c)): \(c.debugDescription)"
        case .keyNotFound(let key, let c):
            return "\(path(c)): missing field \"\(key.stringValue)\""
        case .typeMismatch(let type, let c):
            // Foundation says "Expected to decode X but found Y instead."
            let found = c.debugDescription.range(of: "but found ").map {
                ", found " + c.debugDescription[$0.upperBound...].replacingOccurrences(of: " instead.", with: "")
            }
            return "\(path(c)): expected \(Self.jsonName(of: type))\(found ?? "")"
        case .valueNotFound(let type, let c):
            return "\(path(c)): expected \(Self.jsonName(of: type)), found null"
        @unknown default:
            return "\(self)"
        }
    }

    /// A Swift type as JSON calls what stands for it: `[String: X]` is an object.
    static func jsonName(of type: Any.Type) -> String {
        let name = String(describing: type)
        if name.hasPrefix("Dictionary") { return "an object" }
        if name.hasPrefix("Array") { return "an array" }
        if name == "String" { return "text (a string)" }
        if name == "Bool" { return "true or false" }
        if ["Int", "Int64", "Int32", "UInt", "UInt64", "Double", "Float"].contains(name) { return "a number" }
        return name
    }
}
