/// An element being written by ``IATIXMLWriter``: built from what the registry's tables hold,
/// each under the same anchor the reader gave it, then merged with the activity's parts and
/// put in schema order.
final class IATIElement {
    let name: String
    private(set) var attributes: [(String, String)]
    private(set) var text: String?
    private(set) var children: [IATIElement] = []
    /// The element's segment in a part's path: its anchor, or `name[k]` for an own part.
    let segment: String
    /// k of an own part (its place among the parts of its name); 0 for a held element.
    private let partIndex: Int
    /// Namespace declarations in scope (prefix → URI, "" the default), for an own part's names.
    private var namespaces: [String: String] = [:]
    /// An element in a namespace (a prefix, or a default declaration): not IATI's, written
    /// after IATI's elements, as the schema's `xsd:any namespace="##other"` wants.
    private(set) var isExtension = false

    init(_ name: String, anchor: String, _ attributes: [(String, String?)], text: String? = nil) {
        self.name = name
        self.attributes = attributes.compactMap { key, value in value.map { (key, $0) } }
        self.text = text
        segment = anchor
        partIndex = 0
    }

    private init(part: IATIPart, name: String, index: Int, segment: String) {
        self.name = name
        // Declarations first, then the attributes by name: every node writes the same bytes.
        attributes = part.attributes.sorted { a, b in (a.key.hasPrefix("xmlns") ? 0 : 1, a.key) < (b.key.hasPrefix("xmlns") ? 0 : 1, b.key) }
            .map { ($0.key, $0.value) }
        text = part.text
        self.segment = segment
        partIndex = index
    }

    func setAttribute(_ name: String, _ value: String) {
        if let i = attributes.firstIndex(where: { $0.0 == name }) { attributes[i].1 = value } else { attributes.append((name, value)) }
    }

    /// Adds a held child element and returns it.
    @discardableResult
    func add(_ name: String, anchor: String, _ attributes: [(String, String?)], text: String? = nil) -> IATIElement {
        let child = IATIElement(name, anchor: anchor, attributes, text: text)
        children.append(child)
        return child
    }

    /// Merges the parts into the tree (this element is `iati-activity`, path ""): an own part
    /// becomes a child of the element at its parent path; a part of a held element adds its
    /// attributes, and gives a held value back its written spelling while that still means the
    /// held value. A part with no element to go to (its held element is gone from the
    /// registry, or a parent part was edited away), or one XML could not carry as it stands
    /// (a name that is not one, an undeclared prefix, an IATI-less element IATI does not
    /// know), is left out and noted: the file stays well-formed and valid.
    func merge(_ parts: [IATIPart], note: (String) -> Void) {
        var byPath: [String: IATIElement] = [:]
        func register(_ element: IATIElement, at path: String) {
            byPath[path] = element
            for child in element.children { register(child, at: path.isEmpty ? child.segment : path + "/" + child.segment) }
        }
        register(self, at: "")
        // Parents before children; an element's parts in k order.
        let ordered = parts.map { (part: $0, segments: $0.path.split(separator: "/", omittingEmptySubsequences: false)) }
            .sorted { a, b in
                if a.segments.count != b.segments.count { return a.segments.count < b.segments.count }
                let ka = IATIAnchor.ownSegment(a.segments.last!)?.index ?? 0
                let kb = IATIAnchor.ownSegment(b.segments.last!)?.index ?? 0
                return (ka, a.part.path) < (kb, b.part.path)
            }
        for (part, segments) in ordered {
            if !part.own {
                if byPath[part.path] == nil { bringBack(part, segments, into: &byPath) }
                guard let element = byPath[part.path] else {
                    note("kept parts of elements the registry no longer holds (left out)")
                    continue
                }
                guard part.attributes["xmlns"] == nil, let scope = element.scope(adding: part.attributes) else {
                    note("kept attributes XML cannot carry as they stand (a name that is not one, or an undeclared prefix; left out)")
                    continue
                }
                element.namespaces = scope
                element.take(part)
                continue
            }
            let parentPath = segments.dropLast().joined(separator: "/")
            guard let parent = byPath[parentPath], let last = segments.last, let (name, k) = IATIAnchor.ownSegment(last), byPath[part.path] == nil
            else {
                note("kept parts of elements the registry no longer holds (left out)")
                continue
            }
            let child = IATIElement(part: part, name: name, index: k, segment: String(last))
            guard let scope = parent.scope(adding: part.attributes), XMLNames.isQName(name), XMLNames.prefixDeclared(name, in: scope) else {
                note("kept elements XML cannot carry as they stand (a name that is not one, or an undeclared prefix; left out)")
                continue
            }
            child.namespaces = scope
            child.isExtension = parent.isExtension || name.contains(":") || !(scope[""] ?? "").isEmpty
            if !child.isExtension, let known = IATISchemaOrder.children[Self.schemaPath(parentPath)], !known.contains(name) {
                note("kept <\(name)> elements that IATI 2.03 does not have there, in no namespace (left out)")
                continue
            }
            parent.children.append(child)
            byPath[part.path] = child
        }
    }

    /// A period's target or actual value, or an indicator's baseline, whose column does not
    /// give it (a value no column could hold as a number: "130,000.00", or a qualitative one)
    /// comes back from its part, with what is inside it, under a parent that is there. Any other
    /// held element whose column is empty, or gone, stays gone: clearing a column removes it.
    private static let broughtBack: Set<String> = ["target", "actual", "baseline"]

    private func bringBack(_ part: IATIPart, _ segments: [Substring], into byPath: inout [String: IATIElement]) {
        let parentPath = segments.dropLast().joined(separator: "/")
        guard part.spelling.isEmpty, let last = segments.last, Self.broughtBack.contains(String(last)), let parent = byPath[parentPath]
        else { return }
        let element = IATIElement(String(last), anchor: String(last), [])
        element.namespaces = parent.namespaces
        parent.children.append(element)
        byPath[part.path] = element
    }

    /// The path of element names from `iati-activity` of the element at a part path.
    private static func schemaPath(_ partPath: String) -> String {
        guard !partPath.isEmpty else { return "iati-activity" }
        return "iati-activity/"
            + partPath.split(separator: "/").map { segment in
                segment.prefix { $0 != "(" && $0 != "[" }
            }.joined(separator: "/")
    }

    /// The namespaces in scope with `attributes`' declarations added; `nil` when that would not
    /// be namespace-well-formed (Namespaces in XML 1.0 §3, §6.3): an attribute name that is not
    /// an XML name, a prefix not declared, a prefix undeclared (`xmlns:p=""`), the `xml` or
    /// `xmlns` names or namespaces bound, or two attributes of one expanded name.
    private func scope(adding attributes: [String: String]) -> [String: String]? {
        var scope = namespaces
        for (name, uri) in attributes where name == "xmlns" || name.hasPrefix("xmlns:") {
            let prefix = name == "xmlns" ? "" : String(name.dropFirst(6))
            guard prefix != "xml", prefix != "xmlns", uri != XMLNames.xmlNamespace, uri != XMLNames.xmlnsNamespace,
                prefix.isEmpty || !uri.isEmpty
            else { return nil }
            scope[prefix] = uri
        }
        var expanded: Set<String> = []
        for name in Set(attributes.keys).union(self.attributes.map(\.0)) where !(name == "xmlns" || name.hasPrefix("xmlns:")) {
            guard XMLNames.isQName(name), XMLNames.prefixDeclared(name, in: scope) else { return nil }
            let parts = name.split(separator: ":", maxSplits: 1)
            let key = parts.count == 2 ? (parts[0] == "xml" ? XMLNames.xmlNamespace : scope[String(parts[0])]!) + " " + parts[1] : " " + name
            guard expanded.insert(key).inserted else { return nil }
        }
        return scope
    }

    /// Leaves out, depth first, every IATI element inside this one that lacks an attribute or
    /// child the 2.03 schema requires (noting each), and returns what this one lacks
    /// (`@name` for an attribute, the element name for a child). `path` is the element names
    /// from `iati-activity`. Extensions are the publisher's: not checked.
    func leaveOutIncomplete(path: String, note: (String) -> Void) -> [String] {
        let place = path == "iati-activity" ? "iati-activity" : String(path.dropFirst("iati-activity/".count))
        leaveOutInvalidAttributes(path: path, place: place, note: note)
        if let t = text, let type = IATISchemaOrder.text[path] {
            if type.isEmpty {
                text = nil
                note("text in <\(place)>, which holds none in the IATI 2.03 schema (left out)")
            } else if !XSD.isValid(t, as: type) {
                return ["a text that is an \(type)"]
            }
        }
        children.removeAll { child in
            guard !child.isExtension else { return false }
            let childPath = path + "/" + child.name
            let lacking = child.leaveOutIncomplete(path: childPath, note: note)
            guard !lacking.isEmpty else { return false }
            note(
                "\(childPath.dropFirst("iati-activity/".count)) without \(lacking.joined(separator: ", ")), which the IATI 2.03 schema requires (left out)"
            )
            return true
        }
        guard let needs = IATISchemaOrder.required[path] else { return [] }
        let attributes = needs.attributes.filter { name in !self.attributes.contains { $0.0 == name } }.map { "@" + $0 }
        return attributes + needs.children.filter { name in !children.contains { $0.name == name && !$0.isExtension } }
    }

    /// Adds a part's attributes to a held element; a written spelling replaces a held value
    /// only while it means the same (``IATIParts/sameValue(_:_:)``).
    private func take(_ part: IATIPart) {
        for (name, value) in part.attributes.sorted(by: { $0.key < $1.key }) where !attributes.contains(where: { $0.0 == name }) {
            attributes.append((name, value))
        }
        if let written = part.text, text == nil { text = written }
        // A spelling stands for a column's value only while the column holds that value: a
        // column edited, or cleared, wins.
        for (name, written) in part.spelling {
            if name == "text()" {
                if let held = text, IATIParts.sameValue(written, held) { text = written }
            } else if let i = attributes.firstIndex(where: { $0.0 == name }), IATIParts.sameValue(written, attributes[i].1) {
                attributes[i].1 = written
            }
        }
    }

    /// Leaves out attributes the 2.03 schema does not give this element (in no namespace), and
    /// values that are not of their XSD type (a date of 2021-02-29, a boolean "maybe"), noting
    /// each; attributes in a namespace are the publisher's (`xml:lang` is checked as a language).
    private func leaveOutInvalidAttributes(path: String, place: String, note: (String) -> Void) {
        guard let allowed = IATISchemaOrder.attributes[path] else { return }
        attributes.removeAll { name, value in
            if name == "xmlns" || name.hasPrefix("xmlns:") { return false }
            let type = name == "xml:lang" ? "xsd:language" : allowed[name]
            if type == nil, name.contains(":") { return false }
            guard let type else {
                note("@\(name) on <\(place)>, which the IATI 2.03 schema does not have (left out)")
                return true
            }
            guard XSD.isValid(value, as: type) else {
                note("@\(name) on <\(place)> that is no \(type) (left out)")
                return true
            }
            return false
        }
    }

    /// Orders children as the schema's sequence for this element does (`path` is the element
    /// names from `iati-activity`): held elements of a name first, in the registry's order,
    /// then the parts of that name by k; names the schema does not know (extensions) last.
    func orderChildren(path: String) {
        let order = IATISchemaOrder.children[path] ?? []
        let rank = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        children = children.enumerated().sorted { a, b in
            let ra = a.element.isExtension ? Int.max : rank[a.element.name] ?? Int.max
            let rb = b.element.isExtension ? Int.max : rank[b.element.name] ?? Int.max
            return (ra, a.element.partIndex, a.offset) < (rb, b.element.partIndex, b.offset)
        }.map(\.element)
        for child in children { child.orderChildren(path: path + "/" + child.name) }
    }
}

/// The child order and the requirements of the IATI 2.03 schema's elements
/// (IATISchemaOrder+Generated.swift).
enum IATISchemaOrder {}

/// XML 1.0 and Namespaces in XML 1.0 names, for what a part may carry.
enum XMLNames {
    static let xmlNamespace = "http://www.w3.org/XML/1998/namespace"
    static let xmlnsNamespace = "http://www.w3.org/2000/xmlns/"

    /// `NCName` or `NCName:NCName` (§3 of Namespaces in XML; Unicode letters and digits, `_`,
    /// `-`, `.`, and combining marks; not starting with a digit, `-` or `.`).
    static func isQName(_ name: String) -> Bool {
        let parts = name.split(separator: ":", omittingEmptySubsequences: false)
        return (1...2).contains(parts.count) && parts.allSatisfy(isNCName)
    }

    private static func isNCName(_ s: Substring) -> Bool {
        guard let first = s.unicodeScalars.first, first.properties.isAlphabetic || first == "_" else { return false }
        return s.unicodeScalars.allSatisfy { c in
            c.properties.isAlphabetic || c.properties.numericType != nil || c == "_" || c == "-" || c == "."
                || c.properties.generalCategory == .nonspacingMark || c.properties.generalCategory == .spacingMark
        }
    }

    /// Whether a qualified name's prefix (if any) is declared in `scope`, or is `xml`.
    static func prefixDeclared(_ name: String, in scope: [String: String]) -> Bool {
        guard let colon = name.firstIndex(of: ":") else { return true }
        let prefix = String(name[..<colon])
        return prefix == "xml" || !(scope[prefix] ?? "").isEmpty
    }
}
