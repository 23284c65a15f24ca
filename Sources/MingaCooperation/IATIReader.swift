import Foundation
import MingaCore
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reads `iati-activities` XML (IATI 2.0x) one activity at a time with a streaming
/// `XMLParser`: each `iati-activity` is handed to `onActivity` as soon as its end tag is
/// read, so a file of any size needs the memory of one activity.
///
/// What the registry does not hold is never dropped silently: every element outside the
/// mapping (with its whole subtree), every attribute not mapped and every narrative or repeated
/// element that has no place to go is counted in ``unheld`` by its path, e.g.
/// `iati-activity/location` or `iati-activity/transaction/@humanitarian`.
///
/// Narrative and identifier text is trimmed of surrounding whitespace (pretty-printed files
/// indent it); codes are taken as written and checked later against the codelists.
final class IATIReader: NSObject, XMLParserDelegate {
    /// Unheld element and attribute paths, with how often they occurred.
    private(set) var unheld: [String: Int] = [:]

    private let onActivity: (IATIActivity) throws -> Void
    private var parser: XMLParser?
    private var failure: (any Error)?
    private var sawRoot = false

    /// Names of the open elements, from the document root.
    private var stack: [String] = []
    /// While inside an element that is reported as unheld: the stack depth of that element.
    private var skipDepth: Int?
    private var text = ""

    private var activity: IATIActivity?
    private var participant: IATIActivity.Participant?
    private var flow: IATIActivity.Flow?
    private var narratives: [(lang: String?, text: String, line: Int)] = []
    private var narrativeLang: String?
    private var narrativeLine = 0
    private var descriptionType = "1"

    init(onActivity: @escaping (IATIActivity) throws -> Void) {
        self.onActivity = onActivity
    }

    /// Parses the whole stream; throws the first error: malformed XML (with line and column),
    /// a missing required attribute or value, or whatever `onActivity` threw.
    func read(_ stream: InputStream) throws {
        let parser = XMLParser(stream: stream)
        parser.shouldProcessNamespaces = false
        parser.shouldResolveExternalEntities = false
        parser.delegate = self
        self.parser = parser
        defer { self.parser = nil }
        _ = parser.parse()
        if let failure { throw failure }
        if let error = parser.parserError { throw xmlError(error, line: parser.lineNumber, column: parser.columnNumber) }
        guard sawRoot else { throw MingaError("the file holds no XML element; an IATI activity file starts with <iati-activities>") }
    }

    // MARK: XMLParserDelegate

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes: [String: String] = [:]) {
        if failure == nil, skipDepth == nil { reportStrayText() }
        stack.append(elementName)
        guard failure == nil, skipDepth == nil else { return }
        do {
            switch stack.count {
            case 1: try startRoot(elementName, attributes)
            case 2: try startActivity(elementName, attributes)
            default: try start(stack[2...].joined(separator: "/"), attributes)
            }
        } catch {
            fail(error)
        }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        defer {
            stack.removeLast()
            text = ""
        }
        guard failure == nil else { return }
        if let depth = skipDepth {
            if depth == stack.count { skipDepth = nil }
            return
        }
        do {
            switch stack.count {
            case 1: break
            case 2: try endActivity()
            default: try end(stack[2...].joined(separator: "/"))
            }
        } catch {
            fail(error)
        }
        reportStrayText()
    }

    /// Elements whose text the registry holds.
    private static let textElements: Set<String> = [
        "iati-identifier", "reporting-org/narrative", "title/narrative", "description/narrative", "participating-org/narrative",
        "transaction/description/narrative", "budget/value", "planned-disbursement/value", "transaction/value",
    ]

    /// Reports text read directly inside the innermost open element when the registry does not
    /// hold it, such as a title written IATI 1.x style without a narrative; then starts afresh.
    private func reportStrayText() {
        defer { text = "" }
        guard !stack.isEmpty, !text.allSatisfy(\.isWhitespace) else { return }
        let path: String
        switch stack.count {
        case 1: path = "iati-activities"
        case 2: path = "iati-activity"
        default:
            let relative = stack[2...].joined(separator: "/")
            guard !Self.textElements.contains(relative) else { return }
            path = "iati-activity/" + relative
        }
        unheld[path + "/text()", default: 0] += 1
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if skipDepth == nil { text += string }
    }

    /// CDATA comes from the parser as written; XML 1.0 §2.11 turns every CRLF and lone CR
    /// into LF everywhere in a document, CDATA included, as it does for the other text.
    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        guard skipDepth == nil else { return }
        text += String(decoding: CDATABlock, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) {
        if failure == nil { failure = xmlError(parseError, line: parser.lineNumber, column: parser.columnNumber) }
    }

    // MARK: Elements

    private var line: Int { parser?.lineNumber ?? 0 }

    private func startRoot(_ name: String, _ attributes: [String: String]) throws {
        sawRoot = true
        guard name == "iati-activities" else {
            throw MingaError("this is not an IATI activity file: its root element is <\(name)>, expected <iati-activities> (IATI organisation files are not imported)")
        }
        if let version = attributes["version"], !version.hasPrefix("2.") {
            throw MingaError("this file is IATI version \(version); Minga reads IATI 2.01–2.03 activity files (convert 1.x files to 2.03 first)")
        }
        report(attributes, held: ["version", "generated-datetime"], at: "iati-activities")
    }

    private func startActivity(_ name: String, _ attributes: [String: String]) throws {
        guard name == "iati-activity" else { return skip("iati-activities/\(name)") }
        var a = IATIActivity(identifier: "", line: line)
        a.lang = value(attributes, "xml:lang")
        a.defaultCurrency = value(attributes, "default-currency")
        if let h = value(attributes, "hierarchy") {
            guard let hierarchy = Int64(h) else { throw problem("@hierarchy \"\(h)\" is not a whole number") }
            a.hierarchy = hierarchy
        }
        a.lastUpdated = value(attributes, "last-updated-datetime")
        a.lines["iati-activity"] = line
        report(attributes, held: ["xml:lang", "default-currency", "hierarchy", "last-updated-datetime"], at: "iati-activity")
        activity = a
    }

    private func endActivity() throws {
        guard let a = activity else { return }
        guard !a.identifier.isEmpty else { throw problem("the activity has no iati-identifier") }
        activity = nil
        try onActivity(a)
    }

    /// An element inside an `iati-activity`, by its path below it (e.g. `transaction/value`).
    private func start(_ path: String, _ attributes: [String: String]) throws {
        guard activity != nil else { return }
        let at = "iati-activity/" + path
        switch path {
        case "iati-identifier", "title", "transaction/description":
            report(attributes, held: [], at: at)
            narratives = []

        case "reporting-org":
            guard activity!.reportingOrg == nil else { return skip(at + " (repeated)") }
            report(attributes, held: ["ref", "type"], at: at)
            activity!.reportingOrg = .init(ref: value(attributes, "ref"), type: value(attributes, "type"), line: line)
            activity!.lines[path] = line
            narratives = []

        case "description":
            report(attributes, held: ["type"], at: at)
            descriptionType = value(attributes, "type") ?? "1"
            narratives = []

        case "reporting-org/narrative", "title/narrative", "description/narrative", "participating-org/narrative",
            "transaction/description/narrative":
            report(attributes, held: ["xml:lang"], at: at)
            narrativeLang = value(attributes, "xml:lang")
            narrativeLine = line

        case "participating-org":
            let role = try required(attributes, "role", of: path)
            guard let ref = value(attributes, "ref") else { return skip(at + "[not(@ref)]") }
            report(attributes, held: ["ref", "role", "type", "activity-id"], at: at)
            participant = .init(ref: ref, role: role, type: value(attributes, "type"),
                                activityID: value(attributes, "activity-id"), line: line)
            narratives = []

        case "activity-status":
            guard activity!.status == nil else { return skip(at + " (repeated)") }
            report(attributes, held: ["code"], at: at)
            activity!.status = try required(attributes, "code", of: path)
            activity!.lines[path] = line

        case "activity-date":
            let type = try required(attributes, "type", of: path)
            guard IATIColumns.dateColumns.contains(where: { $0.type == type }) else {
                throw problem("activity-date/@type \"\(type)\" is not in the IATI codelist ActivityDateType (1 planned start, 2 actual start, 3 planned end, 4 actual end)")
            }
            let date = try required(attributes, "iso-date", of: path)
            guard activity!.dates[type] == nil else { return skip(at + "[@type='\(type)'] (repeated)") }
            report(attributes, held: ["type", "iso-date"], at: at)
            activity!.dates[type] = date
            activity!.lines[path] = line

        case "recipient-country":
            report(attributes, held: ["code", "percentage"], at: at)
            activity!.countries.append(.init(code: try required(attributes, "code", of: path),
                                             percentage: try decimal(attributes, "percentage", of: path), line: line))

        case "recipient-region":
            report(attributes, held: ["code", "vocabulary", "percentage"], at: at)
            activity!.regions.append(.init(vocabulary: value(attributes, "vocabulary") ?? "1", code: try required(attributes, "code", of: path),
                                           percentage: try decimal(attributes, "percentage", of: path), line: line))

        case "sector":
            report(attributes, held: ["vocabulary", "code", "percentage"], at: at)
            activity!.classifications.append(.init(
                scheme: "sector", vocabulary: value(attributes, "vocabulary") ?? "1", code: try required(attributes, "code", of: path),
                percentage: try decimal(attributes, "percentage", of: path), line: line))

        case "tag":
            report(attributes, held: ["vocabulary", "code"], at: at)
            activity!.classifications.append(.init(
                scheme: "tag", vocabulary: try required(attributes, "vocabulary", of: path),
                code: try required(attributes, "code", of: path), percentage: nil, line: line))

        case "collaboration-type", "default-flow-type", "default-finance-type":
            let code = try required(attributes, "code", of: path)
            let keyPath: WritableKeyPath<IATIActivity, String?> =
                path == "collaboration-type" ? \.collaborationType : path == "default-flow-type" ? \.flowType : \.financeType
            guard activity![keyPath: keyPath] == nil else { return skip(at + " (repeated)") }
            report(attributes, held: ["code"], at: at)
            activity![keyPath: keyPath] = code
            activity!.lines[path] = line

        case "default-aid-type":
            let code = try required(attributes, "code", of: path)
            guard (value(attributes, "vocabulary") ?? "1") == "1" else { return skip(at + "[@vocabulary!='1']") }
            guard activity!.aidType == nil else { return skip(at + "[@vocabulary='1'] (repeated)") }
            report(attributes, held: ["code", "vocabulary"], at: at)
            activity!.aidType = code
            activity!.lines[path] = line

        case "budget":
            report(attributes, held: ["type", "status"], at: at)
            flow = .init(kind: .budget, budgetType: value(attributes, "type"), budgetStatus: value(attributes, "status"), line: line)

        case "planned-disbursement":
            report(attributes, held: ["type"], at: at)
            flow = .init(kind: .plannedDisbursement, budgetType: value(attributes, "type"), line: line)

        case "transaction":
            report(attributes, held: ["ref"], at: at)
            flow = .init(kind: .transaction, ref: value(attributes, "ref"), line: line)

        case "budget/period-start", "planned-disbursement/period-start":
            report(attributes, held: ["iso-date"], at: at)
            flow?.periodStart = try required(attributes, "iso-date", of: path)

        case "budget/period-end", "planned-disbursement/period-end":
            report(attributes, held: ["iso-date"], at: at)
            flow?.periodEnd = try required(attributes, "iso-date", of: path)

        case "budget/value", "planned-disbursement/value", "transaction/value":
            report(attributes, held: ["currency", "value-date"], at: at)
            flow?.currency = value(attributes, "currency")
            flow?.valueDate = value(attributes, "value-date")

        case "planned-disbursement/provider-org", "transaction/provider-org":
            report(attributes, held: ["ref", "provider-activity-id"], at: at)
            flow?.providerOrg = value(attributes, "ref")
            flow?.providerActivity = value(attributes, "provider-activity-id")

        case "planned-disbursement/receiver-org", "transaction/receiver-org":
            report(attributes, held: ["ref", "receiver-activity-id"], at: at)
            flow?.receiverOrg = value(attributes, "ref")
            flow?.receiverActivity = value(attributes, "receiver-activity-id")

        case "transaction/transaction-type":
            report(attributes, held: ["code"], at: at)
            flow?.transactionType = try required(attributes, "code", of: path)

        case "transaction/transaction-date":
            report(attributes, held: ["iso-date"], at: at)
            flow?.transactionDate = try required(attributes, "iso-date", of: path)

        case "related-activity":
            let ref = try required(attributes, "ref", of: path)
            guard try required(attributes, "type", of: path) == "1" else { return skip(at + "[@type!='1']") }
            guard activity!.parent == nil else { return skip(at + "[@type='1'] (repeated)") }
            report(attributes, held: ["ref", "type"], at: at)
            activity!.parent = ref
            activity!.lines[path] = line

        default:
            skip(at)
        }
    }

    private func end(_ path: String) throws {
        guard activity != nil else { return }
        let content = text.trimmingCharacters(in: .whitespacesAndNewlines)
        switch path {
        case "iati-identifier":
            activity!.identifier = content

        case "reporting-org/narrative", "title/narrative", "description/narrative", "participating-org/narrative",
            "transaction/description/narrative":
            if !content.isEmpty { narratives.append((narrativeLang, content, narrativeLine)) }

        case "reporting-org":
            let name = pickNarrative(unheldAt: "iati-activity/reporting-org/narrative (other languages)")
            activity!.reportingOrg?.name = name

        case "title", "description":
            let element = path == "title" ? "title" : "description/\(descriptionType)"
            let defaultLang = activity!.lang ?? ""
            activity!.texts += narratives.map { .init(element: element, lang: $0.lang ?? defaultLang, text: $0.text, line: $0.line) }

        case "participating-org":
            participant?.name = pickNarrative(unheldAt: "iati-activity/participating-org/narrative (other languages)")
            if let p = participant { activity!.participants.append(p) }
            participant = nil

        case "transaction/description":
            flow?.description = pickNarrative(unheldAt: "iati-activity/transaction/description/narrative (other languages)")

        case "budget/value", "planned-disbursement/value", "transaction/value":
            guard let number = Double(content), number.isFinite else {
                throw problem("\(path) \"\(content)\" is not a number (IATI values are decimals such as 1500.50, without thousands separators)")
            }
            flow?.value = number

        case "budget", "planned-disbursement", "transaction":
            guard let f = flow else { return }
            guard f.value != nil else { throw problem("the \(path) starting at line \(f.line) has no value") }
            activity!.flows.append(f)
            flow = nil

        default:
            break
        }
    }

    /// The narrative in the activity's default language; the others are reported. With none
    /// in that language, none is taken: the registry's column holds the default language's
    /// text, and an English name exported as the activity's Spanish one would change its meaning.
    private func pickNarrative(unheldAt path: String) -> String? {
        defer { narratives = [] }
        let defaultLang = activity?.lang
        guard let index = narratives.firstIndex(where: { $0.lang == nil || $0.lang == defaultLang }) else {
            if !narratives.isEmpty { unheld[path, default: 0] += narratives.count }
            return nil
        }
        if narratives.count > 1 { unheld[path, default: 0] += narratives.count - 1 }
        return narratives[index].text
    }

    // MARK: Helpers

    /// Counts `path` as unheld and ignores everything inside it.
    private func skip(_ path: String) {
        unheld[path, default: 0] += 1
        skipDepth = stack.count
    }

    /// Counts the attributes Minga does not hold (namespace declarations aside).
    private func report(_ attributes: [String: String], held: Set<String>, at path: String) {
        for name in attributes.keys where !held.contains(name) && name != "xmlns" && !name.hasPrefix("xmlns:") {
            unheld["\(path)/@\(name)", default: 0] += 1
        }
    }

    /// An attribute's value, trimmed; `nil` when absent or empty.
    private func value(_ attributes: [String: String], _ name: String) -> String? {
        guard let raw = attributes[name] else { return nil }
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    private func required(_ attributes: [String: String], _ name: String, of path: String) throws -> String {
        guard let v = value(attributes, name) else { throw problem("\(path) has no @\(name), which the IATI standard requires") }
        return v
    }

    private func decimal(_ attributes: [String: String], _ name: String, of path: String) throws -> Double? {
        guard let text = value(attributes, name) else { return nil }
        guard let number = Double(text), number.isFinite else { throw problem("\(path)/@\(name) \"\(text)\" is not a number") }
        return number
    }

    /// Where the reader is, for an operator: the activity (by identifier once read) and the line.
    private var place: String {
        guard let a = activity else { return "line \(line)" }
        let name = a.identifier.isEmpty ? "the activity starting at line \(a.line)" : "activity \(a.identifier)"
        return "\(name), line \(line)"
    }

    private func problem(_ message: String) -> MingaError { MingaError("\(place): \(message)") }

    private func xmlError(_ error: any Error, line: Int, column: Int) -> MingaError {
        // swift-corelibs-foundation passes libxml2's error numbers (xmlerror.h) through as they are.
        let code = (error as NSError).code
        let reason: String
        switch code {
        case 4: reason = "the file holds no XML (is it empty, or another format?)"
        case 5: reason = "the XML does not end where its root element ends (the file is truncated, or something follows </iati-activities>)"
        case 9: reason = "a character that is not allowed in XML"
        case 23, 26, 27: reason = "an undeclared or unterminated entity (a literal & must be written &amp;)"
        case 38, 39, 40, 41: reason = "an attribute without a quoted value"
        case 73: reason = "a tag that is not closed with >"
        case 76: reason = "an end tag that does not match the element it closes"
        case 77: reason = "the file ends inside an element (is it truncated?)"
        default: reason = "libxml2 error \(code)"
        }
        let activityPart: String
        if let a = activity {
            activityPart = a.identifier.isEmpty ? "in the activity starting at line \(a.line), " : "in activity \(a.identifier), "
        } else {
            activityPart = ""
        }
        return MingaError("\(activityPart)line \(line), column \(column): the file is not well-formed XML: \(reason); nothing was imported")
    }

    private func fail(_ error: any Error) {
        failure = error
        parser?.abortParsing()
    }
}
