import Foundation

/// Writes activities as IATI 2.03 XML: elements in the order the 2.03 schema's
/// `iati-activity` sequence requires, every value in the spelling its XSD type accepts.
///
/// The schema requires some elements (title, description, participating-org,
/// activity-status, activity-date, and reporting-org with a type and a name); an activity
/// the registry cannot give them to is not written at all, and the reasons are returned, so
/// that the file validates. Values that cannot be written validly (a malformed date, a
/// language code that is not one) are left out and counted in `notes`.
struct IATIXMLWriter {
    private(set) var out = ""
    /// Things left out of the file, or repaired, with how often.
    private(set) var notes: [String: Int] = [:]

    mutating func startDocument(generated: Date) {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        open("iati-activities", [("version", "2.03"), ("generated-datetime", formatter.string(from: generated))], depth: 0)
    }

    mutating func endDocument() {
        close("iati-activities", depth: 0)
    }

    /// Takes the text written so far (to flush it to a file).
    mutating func take() -> String {
        defer { out = "" }
        return out
    }

    /// Writes one activity, or returns why the schema does not let it be written: the
    /// element tree built from the registry's rows, the parts the registry keeps of the
    /// source merged in (protocol/README.md §21), then what the schema requires checked,
    /// and the children put in its order.
    mutating func write(_ a: IATIActivity) -> [String] {
        var notes: [String: Int] = [:]
        func note(_ text: String) { notes[text, default: 0] += 1 }
        let lang = a.lang.flatMap { XSD.isLanguage($0) ? $0 : nil }
        if a.lang != nil, lang == nil { note("initiative.default_lang is not a language code (xml:lang left out)") }
        let root = IATIElement("iati-activity", anchor: "", rootAttributes(a, lang: lang, note: note))
        addIdentity(a, lang: lang, to: root, note: note)
        addClassifications(a, to: root, note: note)
        addActivityDetail(a, to: root, note: note)
        if a.orphanRows > 0 {
            notes["indicators or periods whose result or indicator row is gone (left out)", default: 0] += a.orphanRows
        }
        root.merge(a.parts, note: note)
        completeFromRegistry(root, a)
        let missing = missingRequirements(a, root, note: note)
        guard missing.isEmpty else { return missing }
        for (text, count) in notes { self.notes[text, default: 0] += count }
        root.orderChildren(path: "iati-activity")
        write(root, depth: 1)
        return []
    }

    /// `iati-activity`'s attributes, each only in a spelling its XSD type accepts.
    private func rootAttributes(_ a: IATIActivity, lang: String?, note: (String) -> Void) -> [(String, String?)] {
        var attributes: [(String, String?)] = [("xml:lang", lang), ("default-currency", a.defaultCurrency)]
        if let updated = a.lastUpdated {
            if XSD.isDateTime(updated) {
                attributes.append(("last-updated-datetime", updated))
            } else {
                note("initiative.last_updated is not an xsd:dateTime (left out)")
            }
        }
        if let h = a.hierarchy {
            if h >= Int64(Int32.min), h <= Int64(Int32.max) {
                attributes.append(("hierarchy", String(h)))
            } else {
                note("initiative.hierarchy is out of the xsd:int range (left out)")
            }
        }
        return attributes
    }

    /// What names the activity: identifier, reporting-org, title, descriptions,
    /// participating organisations, status and dates.
    private func addIdentity(_ a: IATIActivity, lang: String?, to root: IATIElement, note: (String) -> Void) {
        root.add("iati-identifier", anchor: "iati-identifier", [], text: a.identifier)
        if let org = a.reportingOrg, org.ref != nil {
            root.add("reporting-org", anchor: "reporting-org", [("ref", org.ref), ("type", org.type)])
        }
        addTexts(a, lang: lang, to: root, note: note)
        for p in a.participants {
            let element = root.add(
                "participating-org",
                anchor: IATIAnchor.make("participating-org", p.ref, p.role),
                [("ref", p.ref), ("role", p.role), ("type", p.type), ("activity-id", p.activityID)]
            )
            if let name = p.name { element.add("narrative", anchor: "narrative", [], text: name) }
        }
        if let status = a.status { root.add("activity-status", anchor: "activity-status", [("code", status)]) }
        for (type, _) in IATIColumns.dateColumns {
            guard let raw = a.dates[type], let date = XSD.date(raw, note: note, what: "activity-date") else { continue }
            root.add("activity-date", anchor: IATIAnchor.make("activity-date", type), [("type", type), ("iso-date", date)])
        }
    }

    /// The title and the descriptions (by type), each a narrative per language: the
    /// activity's default language first, unwritten; a narrative whose language is not a
    /// language code is left out.
    private func addTexts(_ a: IATIActivity, lang: String?, to root: IATIElement, note: (String) -> Void) {
        typealias Narrative = (lang: String, written: String?, text: String)
        var title: [Narrative] = []
        var descriptions: [(type: String, narratives: [Narrative])] = []
        for t in a.texts.sorted(by: { ($0.lang == lang ? "" : $0.lang) < ($1.lang == lang ? "" : $1.lang) }) {
            let written = t.lang.isEmpty || t.lang == lang ? nil : t.lang
            if let written, !XSD.isLanguage(written) {
                note("initiative_text.lang \"\(written)\" is not a language code (narrative left out)")
                continue
            }
            if t.element == "title" {
                title.append((t.lang, written, t.text))
            } else if t.element.hasPrefix("description/"), case let type = String(t.element.dropFirst("description/".count)), !type.isEmpty {
                if let i = descriptions.firstIndex(where: { $0.type == type }) {
                    descriptions[i].narratives.append((t.lang, written, t.text))
                } else {
                    descriptions.append((type, [(t.lang, written, t.text)]))
                }
            } else {
                note("initiative_text element \"\(t.element)\" is neither title nor description/N (left out)")
            }
        }
        descriptions.sort { (Int($0.type) ?? .max, $0.type) < (Int($1.type) ?? .max, $1.type) }
        func addNarratives(_ narratives: [Narrative], to element: IATIElement) {
            for n in narratives { element.add("narrative", anchor: IATIAnchor.make("narrative", n.lang), [("xml:lang", n.written)], text: n.text) }
        }
        if !title.isEmpty { addNarratives(title, to: root.add("title", anchor: "title", [])) }
        for d in descriptions {
            let type = d.type == "1" ? nil : d.type  // IATI's default, written only where the file did (a part)
            addNarratives(d.narratives, to: root.add("description", anchor: IATIAnchor.make("description", d.type), [("type", type)]))
        }
    }

    /// Where and what: recipient countries and regions, sectors, tags, and the default
    /// collaboration, flow, finance and aid types.
    private func addClassifications(_ a: IATIActivity, to root: IATIElement, note: (String) -> Void) {
        for c in a.countries {
            root.add(
                "recipient-country",
                anchor: IATIAnchor.make("recipient-country", c.code),
                [("code", c.code), ("percentage", decimal(c.percentage))]
            )
        }
        for r in a.regions {
            root.add(
                "recipient-region",
                anchor: IATIAnchor.make("recipient-region", r.vocabulary, r.code),
                [("code", r.code), ("vocabulary", r.vocabulary == "1" ? nil : r.vocabulary), ("percentage", decimal(r.percentage))]
            )
        }
        for s in a.classifications where s.scheme == "sector" {
            root.add(
                "sector",
                anchor: IATIAnchor.make("sector", s.vocabulary, s.code),
                [("vocabulary", s.vocabulary == "1" ? nil : s.vocabulary), ("code", s.code), ("percentage", decimal(s.percentage))]
            )
        }
        for t in a.classifications where t.scheme == "tag" {
            if t.percentage != nil { note("classification.percentage of a tag (IATI tags have none; left out)") }
            root.add("tag", anchor: IATIAnchor.make("tag", t.vocabulary, t.code), [("vocabulary", t.vocabulary), ("code", t.code)])
        }
        if let code = a.collaborationType { root.add("collaboration-type", anchor: "collaboration-type", [("code", code)]) }
        if let code = a.flowType { root.add("default-flow-type", anchor: "default-flow-type", [("code", code)]) }
        if let code = a.financeType { root.add("default-finance-type", anchor: "default-finance-type", [("code", code)]) }
        if let code = a.aidType { root.add("default-aid-type", anchor: "default-aid-type", [("code", code)]) }
    }

    /// The money and the rest: budgets, planned disbursements and transactions, the parent,
    /// policy markers, locations, document links and results.
    private func addActivityDetail(_ a: IATIActivity, to root: IATIElement, note: (String) -> Void) {
        for f in a.flows.compactMap({ prepare($0, note: note) }) { add(f, to: root, identifier: a.identifier, note: note) }
        if let parent = a.parent { root.add("related-activity", anchor: "related-activity", [("ref", parent), ("type", "1")]) }
        for m in a.policyMarkers {
            root.add(
                "policy-marker",
                anchor: IATIAnchor.make("policy-marker", m.vocabulary, m.code),
                [("vocabulary", m.vocabulary == "1" ? nil : m.vocabulary), ("code", m.code), ("significance", m.significance)]
            )
        }
        for l in a.locations { add(l, to: root) }
        for d in a.documentLinks { add(d, to: root) }
        for r in a.results { add(r, to: root) }
    }

    /// What the registry adds after the source's parts are merged in: a point's reference
    /// system, as IATI requires (WGS 84), and the reporting-org's name from the organisation
    /// row where the activity kept no narrative of its own.
    private func completeFromRegistry(_ root: IATIElement, _ a: IATIActivity) {
        for location in root.children where location.name == "location" {
            for point in location.children where point.name == "point" && !point.attributes.contains(where: { $0.0 == "srsName" }) {
                point.setAttribute("srsName", "http://www.opengis.net/def/crs/EPSG/0/4326")
            }
        }
        if let element = root.children.first(where: { $0.name == "reporting-org" }), !element.children.contains(where: { $0.name == "narrative" }),
            let name = a.reportingOrg?.name
        {
            element.add("narrative", anchor: "narrative", [], text: name)
        }
    }

    /// What the schema requires of the activity that it lacks (empty when it can be
    /// written). Elements inside that lack what the schema requires are left out (noted);
    /// what the activity itself lacks keeps it out of the file.
    private func missingRequirements(_ a: IATIActivity, _ root: IATIElement, note: (String) -> Void) -> [String] {
        var missing: [String] = []
        if a.identifier.isEmpty { missing.append("an iati-identifier") }
        if a.reportingOrg?.ref == nil { missing.append("a reporting-org (initiative.reporting_org is empty)") }
        if let org = a.reportingOrg, org.ref != nil {
            if org.type == nil { missing.append("a reporting-org type (initiative.reporting_org_type is empty)") }
            if org.name == nil, root.children.first(where: { $0.name == "reporting-org" })?.children.isEmpty != false {
                missing.append("a reporting-org name (organisation \(org.ref!) has no row)")
            }
        }
        for element in root.leaveOutIncomplete(path: "iati-activity", note: note) where !missing.contains(where: { $0.contains(element) }) {
            missing.append(element.first.map { "aeiou".contains($0) } == true ? "an \(element)" : "a \(element)")
        }
        return missing
    }

    /// A flow with every value in a writable spelling.
    private struct WritableFlow {
        var flow: IATIActivity.Flow
        var value: String
        var valueDate: String
        var periodStart: String?
        var periodEnd: String?
        var transactionDate: String?
    }

    /// Checks a flow against what the schema requires of its element; `nil` leaves it out.
    private func prepare(_ f: IATIActivity.Flow, note: (String) -> Void) -> WritableFlow? {
        let element = f.kind.rawValue
        guard let value = f.value.flatMap(IATIDecimal.format) else {
            note("\(element) without a finite value (left out)")
            return nil
        }
        let start = f.periodStart.flatMap { XSD.date($0, note: note, what: "\(element)/period-start") }
        let end = f.periodEnd.flatMap { XSD.date($0, note: note, what: "\(element)/period-end") }
        let date = f.transactionDate.flatMap { XSD.date($0, note: note, what: "transaction/transaction-date") }
        switch f.kind {
        case .budget:
            guard start != nil, end != nil else {
                note("budget without period-start and period-end (left out)")
                return nil
            }
        case .plannedDisbursement:
            guard start != nil else {
                note("planned-disbursement without period-start (left out)")
                return nil
            }
        case .transaction:
            guard f.transactionType != nil else {
                note("transaction without transaction-type (left out)")
                return nil
            }
            guard date != nil else {
                note("transaction without transaction-date (left out)")
                return nil
            }
        }
        // value-date is required; IATI's guidance is the transaction date or the period start.
        var valueDate = f.valueDate.flatMap { XSD.date($0, note: note, what: "\(element)/value/@value-date") }
        if valueDate == nil {
            valueDate = f.kind == .transaction ? date : start
            note("\(element) without value-date (the \(f.kind == .transaction ? "transaction-date" : "period-start") was written)")
        }
        return WritableFlow(flow: f, value: value, valueDate: valueDate!, periodStart: start, periodEnd: end, transactionDate: date)
    }

    private func add(_ w: WritableFlow, to root: IATIElement, identifier: String, note: (String) -> Void) {
        let f = w.flow
        let name = f.kind.rawValue
        let anchor = IATIAnchor.flow(id: f.id ?? "", identifier: identifier, kind: name)
        let element: IATIElement
        switch f.kind {
        case .budget: element = root.add(name, anchor: anchor, [("type", f.budgetType), ("status", f.budgetStatus)])
        case .plannedDisbursement: element = root.add(name, anchor: anchor, [("type", f.budgetType)])
        case .transaction: element = root.add(name, anchor: anchor, [("ref", f.ref), ("humanitarian", f.humanitarian)])
        }
        if f.kind == .transaction {
            element.add("transaction-type", anchor: "transaction-type", [("code", f.transactionType)])
            element.add("transaction-date", anchor: "transaction-date", [("iso-date", w.transactionDate)])
        } else {
            element.add("period-start", anchor: "period-start", [("iso-date", w.periodStart)])
            if let end = w.periodEnd { element.add("period-end", anchor: "period-end", [("iso-date", end)]) }
        }
        element.add("value", anchor: "value", [("currency", f.currency), ("value-date", w.valueDate)], text: w.value)
        if f.kind == .transaction, let description = f.description {
            element.add("description", anchor: "description", []).add("narrative", anchor: "narrative", [], text: description)
        }
        if f.kind == .transaction { addDetails(of: f, to: element) }
        if f.kind != .budget {
            if f.providerOrg != nil || f.providerActivity != nil {
                element.add("provider-org", anchor: "provider-org", [("ref", f.providerOrg), ("provider-activity-id", f.providerActivity)])
            }
            if f.receiverOrg != nil || f.receiverActivity != nil {
                element.add("receiver-org", anchor: "receiver-org", [("ref", f.receiverOrg), ("receiver-activity-id", f.receiverActivity)])
            }
        } else if f.providerOrg != nil || f.receiverOrg != nil || f.providerActivity != nil || f.receiverActivity != nil {
            note("flow provider/receiver of a budget (IATI budgets have none; left out)")
        }
        if f.kind != .transaction, f.ref != nil || f.transactionType != nil || f.transactionDate != nil || f.description != nil {
            note("flow ref, transaction type, date or description of a \(name) (only transactions have them; left out)")
        }
    }

    /// A transaction's own sector, place, types and channel; a vocabulary of 1 is IATI's
    /// default and written only where the file wrote it (then it is a part).
    private func addDetails(of f: IATIActivity.Flow, to element: IATIElement) {
        if let code = f.sector {
            element.add("sector", anchor: "sector", [("vocabulary", f.sectorVocabulary == "1" ? nil : f.sectorVocabulary), ("code", code)])
        }
        let coded: [(String, String?)] = [
            ("recipient-country", f.recipientCountry), ("recipient-region", f.recipientRegion), ("flow-type", f.flowType),
            ("finance-type", f.financeType), ("aid-type", f.aidType), ("tied-status", f.tiedStatus), ("disbursement-channel", f.disbursementChannel),
        ]
        for case let (name, code?) in coded { element.add(name, anchor: name, [("code", code)]) }
    }

    private func add(_ r: IATIActivity.Result, to root: IATIElement) {
        let result = root.add(
            "result",
            anchor: IATIAnchor.make("result", String(r.no)),
            [("type", r.type), ("aggregation-status", r.aggregationStatus)]
        )
        titled(result, "title", r.title)
        for i in r.indicators {
            let indicator = result.add(
                "indicator",
                anchor: IATIAnchor.make("indicator", String(i.no)),
                [("measure", i.measure), ("ascending", i.ascending), ("aggregation-status", i.aggregationStatus)]
            )
            titled(indicator, "title", i.title)
            if i.baselineYear != nil || i.baselineDate != nil || i.baselineValue != nil {
                indicator.add(
                    "baseline",
                    anchor: "baseline",
                    [("year", i.baselineYear), ("iso-date", i.baselineDate), ("value", decimal(i.baselineValue))]
                )
            }
            for p in i.periods {
                let period = indicator.add("period", anchor: IATIAnchor.make("period", String(p.no)), [])
                if let start = p.start { period.add("period-start", anchor: "period-start", [("iso-date", start)]) }
                if let end = p.end { period.add("period-end", anchor: "period-end", [("iso-date", end)]) }
                if let target = p.target { period.add("target", anchor: "target", [("value", decimal(target))]) }
                if let actual = p.actual { period.add("actual", anchor: "actual", [("value", decimal(actual))]) }
            }
        }
    }

    private func add(_ l: IATIActivity.Location, to root: IATIElement) {
        let location = root.add("location", anchor: IATIAnchor.make("location", String(l.no)), [("ref", l.ref)])
        titled(location, "name", l.name)
        let coded: [(String, String?)] = [
            ("location-reach", l.reach), ("exactness", l.exactness), ("location-class", l.locationClass),
            ("feature-designation", l.featureDesignation),
        ]
        for case let (name, code?) in coded { location.add(name, anchor: name, [("code", code)]) }
        if let point = l.point { location.add("point", anchor: "point", []).add("pos", anchor: "pos", [], text: point) }
    }

    private func add(_ d: IATIActivity.DocumentLink, to root: IATIElement) {
        let link = root.add("document-link", anchor: IATIAnchor.make("document-link", String(d.no)), [("url", d.url), ("format", d.format)])
        titled(link, "title", d.title)
        if let code = d.category { link.add("category", anchor: "category", [("code", code)]) }
        if let code = d.language { link.add("language", anchor: "language", [("code", code)]) }
        if let date = d.documentDate { link.add("document-date", anchor: "document-date", [("iso-date", date)]) }
    }

    /// A `title` or `name` holding one narrative in the default language.
    private func titled(_ element: IATIElement, _ name: String, _ text: String?) {
        guard let text else { return }
        element.add(name, anchor: name, []).add("narrative", anchor: "narrative", [], text: text)
    }

    /// A number in `xsd:decimal` spelling.
    private func decimal(_ p: Double?) -> String? { p.flatMap(IATIDecimal.format) }

    // MARK: Markup

    private mutating func write(_ element: IATIElement, depth: Int) {
        startTag(element.name, element.attributes, depth: depth)
        if element.children.isEmpty {
            if let text = element.text { out += ">" + escape(text, attribute: false) + "</" + element.name + ">\n" } else { out += "/>\n" }
            return
        }
        out += ">"
        // No IATI 2.0x element holds text beside elements: text so written (1.x style) is left
        // out. A publisher's own element may (its text is written before its elements).
        if let text = element.text {
            if element.isExtension {
                out += escape(text, attribute: false)
            } else {
                notes["text directly inside <\(element.name)> beside its elements (IATI 1.x style; left out)", default: 0] += 1
            }
        }
        out += "\n"
        for child in element.children { write(child, depth: depth + 1) }
        close(element.name, depth: depth)
    }

    private mutating func startTag(_ name: String, _ attributes: [(String, String)], depth: Int) {
        out += String(repeating: " ", count: depth) + "<" + name
        for (key, value) in attributes {
            out += " " + key + "=\"" + escape(value, attribute: true) + "\""
        }
    }

    private mutating func open(_ name: String, _ attributes: [(String, String?)], depth: Int) {
        startTag(name, attributes.compactMap { key, value in value.map { (key, $0) } }, depth: depth)
        out += ">\n"
    }

    private mutating func close(_ name: String, depth: Int) {
        out += String(repeating: " ", count: depth) + "</" + name + ">\n"
    }

    /// Escapes markup characters, and line breaks and tabs in attributes (which XML would
    /// otherwise turn into spaces). Characters XML 1.0 cannot carry at all are removed and counted.
    private mutating func escape(_ s: String, attribute: Bool) -> String {
        var result = ""
        result.unicodeScalars.reserveCapacity(s.unicodeScalars.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"" where attribute: result += "&quot;"
            case "\r": result += "&#13;"
            case "\n" where attribute: result += "&#10;"
            case "\t" where attribute: result += "&#9;"
            case _ where scalar.value < 0x20 && scalar != "\n" && scalar != "\t", "\u{FFFE}", "\u{FFFF}":
                notes["characters XML cannot carry (removed)", default: 0] += 1
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

/// The XSD lexical forms the export must respect.
enum XSD {
    /// Whether `value` is in the lexical space of the XSD built-in `type` (e.g. `xsd:date`);
    /// whitespace is collapsed first, as XSD does for these types. Types not listed (string,
    /// anyURI) take any text.
    static func isValid(_ value: String, as type: String) -> Bool {
        let v = value.trimmingCharacters(in: .whitespacesAndNewlines)
        switch type {
        case "xsd:boolean": return ["true", "false", "1", "0"].contains(v)
        case "xsd:decimal": return isDecimal(v)
        case "xsd:date": return isDate(v)
        case "xsd:dateTime": return isDateTime(v)
        case "xsd:int": return Int32(v.hasPrefix("+") ? String(v.dropFirst()) : v) != nil
        case "xsd:nonNegativeInteger", "xsd:positiveInteger":
            let digits = v.hasPrefix("+") ? v.dropFirst() : Substring(v)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
            return type == "xsd:nonNegativeInteger" || digits.contains { $0 != "0" }
        case "xsd:language": return isLanguage(v)
        case "xsd:NMTOKEN":
            return !v.isEmpty
                && v.unicodeScalars.allSatisfy {
                    $0.properties.isAlphabetic || $0.properties.numericType != nil || "._-:".unicodeScalars.contains($0)
                }
        default: return true
        }
    }

    /// `xsd:decimal`: digits with an optional sign and point, no exponent; at most 24 digits,
    /// libxml2's limit (the validator the help names).
    static func isDecimal(_ v: String) -> Bool {
        var body = Substring(v)
        if body.first == "+" || body.first == "-" { body = body.dropFirst() }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }) else { return false }
        let digits = parts.joined()
        return !digits.isEmpty && digits.count <= 24
    }

    /// `xsd:date`: `YYYY-MM-DD` with an optional time zone.
    static func isDate(_ s: String) -> Bool {
        var u = Substring(s).utf8[...]
        guard datePart(&u) else { return false }
        return timeZone(u)
    }

    /// `xsd:dateTime`: `YYYY-MM-DDThh:mm:ss(.s+)?` with an optional time zone.
    static func isDateTime(_ s: String) -> Bool {
        var u = Substring(s).utf8[...]
        guard datePart(&u), u.first == UInt8(ascii: "T") else { return false }
        u = u.dropFirst()
        guard let h = digits(&u, 2), h <= 24, colon(&u), let m = digits(&u, 2), m < 60, colon(&u), let sec = digits(&u, 2), sec < 61
        else { return false }
        if u.first == UInt8(ascii: ".") {
            u = u.dropFirst()
            let fraction = u.prefix { $0 >= 48 && $0 <= 57 }
            guard !fraction.isEmpty else { return false }
            u = u.dropFirst(fraction.count)
        }
        return timeZone(u)
    }

    /// `xsd:language`: `[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*`.
    static func isLanguage(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard let first = parts.first, (1...8).contains(first.count), first.allSatisfy({ $0.isASCII && $0.isLetter }) else { return false }
        return parts.dropFirst().allSatisfy { (1...8).contains($0.count) && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } }
    }

    /// A date to write: the value if it is an `xsd:date`, its date part if it is a date-time
    /// (noted), else `nil` (noted).
    static func date(_ s: String, note: (String) -> Void, what: String) -> String? {
        if isDate(s) { return s }
        let day = String(s.prefix(10))
        if isDateTime(s), isDate(day) {
            note("\(what) given as a date-time (its date part was written)")
            return day
        }
        note("\(what) \"\(s)\" is not a date (left out)")
        return nil
    }

    private static func datePart(_ u: inout Substring.UTF8View.SubSequence) -> Bool {
        if u.first == UInt8(ascii: "-") { u = u.dropFirst() }
        let year = u.prefix { $0 >= 48 && $0 <= 57 }
        guard year.count >= 4 else { return false }
        u = u.dropFirst(year.count)
        guard dash(&u), let month = digits(&u, 2), (1...12).contains(month), dash(&u), let day = digits(&u, 2), day >= 1
        else { return false }
        // The calendar's days (xsd:date: 2021-02-29 is no date); a year beyond Int's is leap-free.
        let y = Int(String(decoding: year, as: UTF8.self)) ?? 1
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
        return day <= [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    }

    private static func timeZone(_ u: Substring.UTF8View.SubSequence) -> Bool {
        if u.isEmpty || (u.count == 1 && u.first == UInt8(ascii: "Z")) { return true }
        var rest = u
        guard let sign = rest.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") else { return false }
        rest = rest.dropFirst()
        guard let h = digits(&rest, 2), h <= 14, colon(&rest), let m = digits(&rest, 2), m < 60 else { return false }
        return rest.isEmpty
    }

    private static func digits(_ u: inout Substring.UTF8View.SubSequence, _ count: Int) -> Int? {
        let d = u.prefix(count)
        guard d.count == count, d.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        u = u.dropFirst(count)
        return d.reduce(0) { $0 * 10 + Int($1 - 48) }
    }

    private static func dash(_ u: inout Substring.UTF8View.SubSequence) -> Bool {
        guard u.first == UInt8(ascii: "-") else { return false }
        u = u.dropFirst()
        return true
    }

    private static func colon(_ u: inout Substring.UTF8View.SubSequence) -> Bool {
        guard u.first == UInt8(ascii: ":") else { return false }
        u = u.dropFirst()
        return true
    }
}
