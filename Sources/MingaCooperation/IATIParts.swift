import Foundation
import MingaCore

/// What of an `iati-activity` the registry's tables do not hold, kept as written: one
/// `iati_part` row per element occurrence (protocol/README.md §21).
///
/// A part is found by its `path` below `iati-activity`. Each segment is either an **anchor**,
/// naming an element the tables hold by its key (`transaction(3)`, `recipient-country(CO)`,
/// `title`, `narrative(es)`), or `name[k]`, the k-th (from 1) element of that name that the
/// tables do not hold under the same parent (`result[2]`, `narrative[1]`, `usg:treasury[1]`).
/// So `transaction(3)/sector[1]` is the second sector of the flow `…/transaction/3` (its first
/// is a column), and `result(2)/indicator(1)/period(4)/actual/comment[1]` a comment on one
/// actual value. Two agencies editing different results, periods or locations of one
/// initiative change different rows.
///
/// A part is either **own** (an element the tables do not hold, with all its attributes and
/// its text) or **more** of an element they hold: its other attributes and text, and the
/// spelling its held values were written in (`215000.50`, `50.0`). A written spelling is used
/// on export only while it still means the value the tables hold
/// (``IATIParts/sameValue(_:_:)``), so an edit of the table wins over the file's spelling.
struct IATIPart: Equatable {
    /// Where the element is below `iati-activity` ("" for the activity element itself).
    var path: String
    /// `true`: an element the tables do not hold; `false`: more of one they hold.
    var own: Bool
    /// Attributes by qualified name, namespace declarations its names need included.
    var attributes: [String: String]
    /// The element's own text, trimmed; `nil` when it has none.
    var text: String?
    /// How the file wrote values the columns hold, by attribute name (`text()` for the text):
    /// used on export only while the column holds the same value (``IATIParts/sameValue(_:_:)``).
    var spelling: [String: String] = [:]
}

extension IATIPart {
    /// The part as an `iati_part` row; attributes as a JSON object with sorted keys (so that
    /// every node writes the same text), `NULL` when there are none.
    func row(initiative: String) -> [String: Value] {
        var values: [String: Value] = ["initiative": .text(initiative), "path": .text(path), "own": .integer(own ? 1 : 0)]
        values["attributes"] = attributes.isEmpty ? .null : .text(Self.json(attributes))
        values["text"] = text.map(Value.text) ?? .null
        values["spelling"] = spelling.isEmpty ? .null : .text(Self.json(spelling))
        return values
    }

    /// A part from its row; `nil` for a row that is not one (a column edited to nonsense).
    init?(row: [String: Value]) {
        guard case .text(let path)? = row["path"] else { return nil }
        self.path = path
        own = row["own"]?.iatiInt64 != 0
        guard let attributes = Self.object(row["attributes"]), let spelling = Self.object(row["spelling"]) else { return nil }
        (self.attributes, self.spelling) = (attributes, spelling)
        text = row["text"]?.iatiString
    }

    /// A JSON object of strings from a column: empty for NULL, `nil` for anything else.
    private static func object(_ value: Value?) -> [String: String]? {
        guard case .text(let json)? = value else { return value == nil || value == .null ? [:] : nil }
        return (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: String]
    }

    static func json(_ attributes: [String: String]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: attributes, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

/// The names anchors are built from; one place, for the reader and the writer.
enum IATIAnchor {
    /// `name` or `name(key,key…)`, keys escaped so that a path splits unambiguously on `/`.
    static func make(_ name: String, _ keys: String...) -> String {
        keys.isEmpty ? name : name + "(" + keys.map(escape).joined(separator: ",") + ")"
    }

    /// Percent-encodes the characters that structure a path.
    private static func escape(_ key: String) -> String {
        var out = ""
        for scalar in key.unicodeScalars {
            switch scalar {
            case "%", "/", "(", ")", ",", "[", "]": out += String(format: "%%%02X", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A flow's anchor, from its row id `<identifier>/<kind>/<@ref or position>`: `transaction(3)`.
    static func flow(id: String, identifier: String, kind: String) -> String {
        let prefix = identifier + "/" + kind + "/"
        return make(kind, id.hasPrefix(prefix) ? String(id.dropFirst(prefix.count)) : id)
    }

    /// The element name of an own part's last segment, and its k: `result[2]` → ("result", 2).
    static func ownSegment(_ segment: Substring) -> (name: String, index: Int)? {
        guard segment.hasSuffix("]"), let open = segment.lastIndex(of: "["),
            let k = Int(segment[segment.index(after: open)..<segment.index(before: segment.endIndex)]), k >= 1
        else { return nil }
        return (String(segment[..<open]), k)
    }
}

/// The `iati-activity` element as read, each element marked with what of it the tables hold,
/// from which the parts are found. Built by ``IATIReader`` one activity at a time.
struct IATISourceTree {
    struct Node {
        var name: String
        /// Index of the parent node; `nil` for `iati-activity`.
        var parent: Int?
        var attributes: [String: String]
        var text = ""
        /// The element's anchor when the tables hold it; `nil` when they do not.
        var anchor: String?
        /// Attributes whose value the tables hold.
        var heldAttributes: Set<String> = []
        /// Whether the tables hold the element's text.
        var heldText = false
        /// Namespace declarations in scope (prefix → URI), for an element kept as written.
        var namespaces: [String: String]
        /// A held element the export writes only while its column has a value: its part row is
        /// kept even when empty, so that the element (and what is inside it) comes back.
        var alwaysPart = false
    }

    private(set) var nodes: [Node] = []

    /// Adds an element; returns its index.
    mutating func open(_ name: String, attributes: [String: String], parent: Int?, inherited: [String: String]) -> Int {
        var namespaces = parent.map { nodes[$0].namespaces } ?? inherited
        for (key, value) in attributes where key.hasPrefix("xmlns:") { namespaces[String(key.dropFirst(6))] = value }
        if let uri = attributes["xmlns"] { namespaces[""] = uri }
        nodes.append(Node(name: name, parent: parent, attributes: attributes, namespaces: namespaces))
        return nodes.count - 1
    }

    mutating func appendText(_ text: String, to node: Int) { nodes[node].text += text }

    /// The `xml:lang` an element inherits from its ancestors inside the activity (XML 1.0
    /// §2.12); `nil` when none of them says, and the activity's default language applies.
    func inheritedLang(of node: Int) -> String? {
        var p = nodes[node].parent
        while let q = p, nodes[q].parent != nil {
            if let lang = nodes[q].attributes["xml:lang"]?.trimmingCharacters(in: .whitespacesAndNewlines), !lang.isEmpty { return lang }
            p = nodes[q].parent
        }
        return nil
    }

    /// Marks an element as held under `anchor`, with the attributes and text the tables hold.
    mutating func hold(_ node: Int, as anchor: String?, attributes: Set<String> = [], text: Bool = false) {
        nodes[node].anchor = anchor
        nodes[node].heldAttributes = attributes
        nodes[node].heldText = text
    }

    /// Keeps a part row for a held element even when it carries nothing more (``Node/alwaysPart``).
    mutating func keepAsPart(_ node: Int) { nodes[node].alwaysPart = true }

    /// Sets the anchor of an element whose key is known only once the activity is read.
    mutating func anchor(_ node: Int, _ anchor: String) { nodes[node].anchor = anchor }

    /// Marks an element and everything in it as not held (a repeated key, say): kept as written.
    mutating func release(_ node: Int) {
        for i in node..<nodes.count where i == node || isInside(i, node) {
            nodes[i].anchor = nil
            nodes[i].heldAttributes = []
            nodes[i].heldText = false
        }
    }

    private func isInside(_ i: Int, _ ancestor: Int) -> Bool {
        var p = nodes[i].parent
        while let q = p {
            if q == ancestor { return true }
            p = nodes[q].parent
        }
        return false
    }

    /// The parts: every element not held (with its subtree), and what held elements carry
    /// beyond their columns. Elements inside one that is not held are never held themselves.
    func parts() -> [IATIPart] {
        var paths = [String](repeating: "", count: nodes.count)
        var held = [Bool](repeating: false, count: nodes.count)
        var counts: [Int: [String: Int]] = [:]
        var taken: [Int: Set<String>] = [:]
        var parts: [IATIPart] = []
        for (i, node) in nodes.enumerated() {
            guard let parent = node.parent else {
                held[i] = true
                if let part = heldPart(node, at: "") { parts.append(part) }
                continue
            }
            var segment: String
            if held[parent], let anchor = node.anchor, taken[parent, default: []].insert(anchor).inserted {
                segment = anchor
                held[i] = true
            } else {
                let k = counts[parent, default: [:]][node.name, default: 0] + 1
                counts[parent, default: [:]][node.name] = k
                segment = "\(node.name)[\(k)]"
            }
            paths[i] = paths[parent].isEmpty ? segment : paths[parent] + "/" + segment
            if held[i] {
                if let part = heldPart(node, at: paths[i]) { parts.append(part) }
            } else {
                let text = node.text.trimmingCharacters(in: .whitespacesAndNewlines)
                parts.append(
                    IATIPart(
                        path: paths[i],
                        own: true,
                        attributes: declaring(node.attributes, for: node),
                        text: text.isEmpty ? nil : text
                    )
                )
            }
        }
        return parts
    }

    /// The part of a held element: its attributes and text beyond its columns, and the
    /// spellings of held values that the export would write differently; `nil` when there are
    /// none (and the element does not keep a part whatever, ``Node/alwaysPart``).
    private func heldPart(_ node: Node, at path: String) -> IATIPart? {
        var attributes: [String: String] = [:]
        var spelling: [String: String] = [:]
        for (name, value) in node.attributes where !name.hasPrefix("xmlns") {
            // An empty value is none to the columns: the file's own attribute, as written.
            if !node.heldAttributes.contains(name) || value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                attributes[name] = value
            } else if IATIParts.respelled(value, numeric: IATIParts.numericAttributes.contains(name)) {
                spelling[name] = value
            }
        }
        let text = node.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if node.heldText, !text.isEmpty, IATIParts.respelled(text, numeric: node.name == "value") { spelling["text()"] = text }
        let unheldText = !node.heldText && !text.isEmpty ? text : nil
        guard !attributes.isEmpty || !spelling.isEmpty || unheldText != nil || node.alwaysPart else { return nil }
        return IATIPart(path: path, own: false, attributes: declaring(attributes, for: node), text: unheldText, spelling: spelling)
    }

    /// Adds the declarations of the namespace prefixes the element's names use, so that the
    /// part can be written anywhere on its own.
    private func declaring(_ attributes: [String: String], for node: Node) -> [String: String] {
        var result = attributes
        let names = [node.name] + attributes.keys.filter { !$0.hasPrefix("xmlns") }
        for name in names {
            guard let colon = name.firstIndex(of: ":") else { continue }
            let prefix = String(name[..<colon])
            guard prefix != "xml", result["xmlns:" + prefix] == nil, let uri = node.namespaces[prefix] else { continue }
            result["xmlns:" + prefix] = uri
        }
        if !node.name.contains(":"), result["xmlns"] == nil, let uri = node.namespaces[""], node.anchor == nil {
            result["xmlns"] = uri
        }
        return result
    }
}

/// Rules the reader and the writer share about parts.
enum IATIParts {
    /// Held attributes the tables keep as numbers.
    static let numericAttributes: Set<String> = ["percentage", "hierarchy", "value"]

    /// Whether the export's spelling of a held value could differ from the file's: numbers
    /// are written in their shortest form and text trimmed, so `50.0`, `215000.50` and ` 1 `
    /// are kept as written. (An empty value is none to the tables: a part's attribute.)
    static func respelled(_ written: String, numeric: Bool) -> Bool {
        let trimmed = written.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed != written { return true }
        guard numeric, let number = Double(trimmed) else { return false }
        return IATIDecimal.format(number) != trimmed
    }

    /// Whether a written spelling still means the value the tables hold: the same text
    /// trimmed, or the same number.
    static func sameValue(_ written: String, _ held: String) -> Bool {
        let w = written.trimmingCharacters(in: .whitespacesAndNewlines)
        if w == held { return true }
        guard let a = Double(w), let b = Double(held) else { return false }
        return a == b
    }
}
