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
    /// held value. Returns how many parts had no element to go to (their held element is gone
    /// from the registry, or a parent part was edited away).
    func merge(_ parts: [IATIPart]) -> Int {
        var byPath: [String: IATIElement] = [:]
        func register(_ element: IATIElement, at path: String) {
            byPath[path] = element
            for child in element.children { register(child, at: path.isEmpty ? child.segment : path + "/" + child.segment) }
        }
        register(self, at: "")
        var orphans = 0
        // Parents before children; an element's parts in k order.
        let ordered = parts.map { (part: $0, segments: $0.path.split(separator: "/", omittingEmptySubsequences: false)) }
            .sorted { a, b in
                if a.segments.count != b.segments.count { return a.segments.count < b.segments.count }
                let ka = IATIAnchor.ownSegment(a.segments.last!)?.index ?? 0, kb = IATIAnchor.ownSegment(b.segments.last!)?.index ?? 0
                return (ka, a.part.path) < (kb, b.part.path)
            }
        for (part, segments) in ordered {
            if !part.own {
                guard let element = byPath[part.path] else { orphans += 1; continue }
                element.take(part)
                continue
            }
            let parentPath = segments.dropLast().joined(separator: "/")
            guard let parent = byPath[parentPath], let last = segments.last, let (name, k) = IATIAnchor.ownSegment(last), byPath[part.path] == nil
            else { orphans += 1; continue }
            let child = IATIElement(part: part, name: name, index: k, segment: String(last))
            parent.children.append(child)
            byPath[part.path] = child
        }
        return orphans
    }

    /// Adds a part's attributes to a held element; a written spelling replaces a held value
    /// only while it means the same (``IATIParts/sameValue(_:_:)``).
    private func take(_ part: IATIPart) {
        for (name, value) in part.attributes.sorted(by: { $0.key < $1.key }) {
            if let i = attributes.firstIndex(where: { $0.0 == name }) {
                if IATIParts.sameValue(value, attributes[i].1) { attributes[i].1 = value }
            } else {
                attributes.append((name, value))
            }
        }
        if let written = part.text {
            if let held = text {
                if IATIParts.sameValue(written, held) { text = written }
            } else {
                text = written
            }
        }
    }

    /// Orders children as the schema's sequence for this element does (`path` is the element
    /// names from `iati-activity`): held elements of a name first, in the registry's order,
    /// then the parts of that name by k; names the schema does not know (extensions) last.
    func orderChildren(path: String) {
        let order = IATISchemaOrder.children[path] ?? []
        let rank = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        children = children.enumerated().sorted { a, b in
            let ra = rank[a.element.name] ?? Int.max, rb = rank[b.element.name] ?? Int.max
            return (ra, a.element.partIndex, a.offset) < (rb, b.element.partIndex, b.offset)
        }.map(\.element)
        for child in children { child.orderChildren(path: path + "/" + child.name) }
    }
}

/// The child order of the IATI 2.03 schema's sequences (IATISchemaOrder+Generated.swift).
enum IATISchemaOrder {}
