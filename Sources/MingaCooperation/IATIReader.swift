import Foundation
import MingaCore

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reads `iati-activities` XML (IATI 2.0x) one activity at a time with a streaming
/// `XMLParser`: each `iati-activity` is handed to `onActivity` as soon as its end tag is
/// read, so a file of any size needs the memory of one activity.
///
/// Nothing of an activity is dropped: the reader builds the activity's element tree
/// (``IATISourceTree``) and marks on it what the mapping below puts in the registry's columns;
/// everything else — an element outside the mapping with its whole subtree, an attribute not
/// mapped, a narrative in another language, a repeated element — becomes an `iati_part` kept
/// as written (``IATIPart``), and is counted in ``verbatim`` by its path, e.g.
/// `iati-activity/location` or `iati-activity/transaction/@humanitarian`. Only what lies
/// outside every `iati-activity` is not imported, and that is counted in ``unheld``.
///
/// Narrative and identifier text is trimmed of surrounding whitespace (pretty-printed files
/// indent it); codes are taken as written and checked later against the codelists.
final class IATIReader: NSObject, XMLParserDelegate {
    /// Element and attribute paths kept as written (no column of their own), with how often.
    private(set) var verbatim: [String: Int] = [:]
    /// Paths outside every activity, which are not imported, with how often.
    private(set) var unheld: [String: Int] = [:]

    private let onActivity: (IATIActivity) throws -> Void
    private var parser: XMLParser?
    private var failure: (any Error)?
    private var sawRoot = false

    /// Names of the open elements, from the document root.
    private var stack: [String] = []
    /// While inside an element the mapping does not read (kept as written): its stack depth.
    private var skipDepth: Int?
    private var text = ""
    /// The open activity's elements, and the indices of the open ones.
    private var tree = IATISourceTree()
    private var open: [Int] = []
    /// Namespace declarations of the root element, which the activities' elements inherit.
    private var rootNamespaces: [String: String] = [:]
    /// The root's `xml:lang`, which an activity without its own inherits (XML 1.0 §2.12).
    private var rootLang: String?
    /// The element being read.
    private var current: Int { open[open.count - 1] }

    private var activity: IATIActivity?
    private var participant: IATIActivity.Participant?
    private var flow: IATIActivity.Flow?
    private var result: IATIActivity.Result?
    private var indicator: IATIActivity.Indicator?
    private var period: IATIActivity.Period?
    private var location: IATIActivity.Location?
    private var documentLink: IATIActivity.DocumentLink?
    /// Elements of which the tables hold only the first (a period's target, a link's
    /// category …), by path, while their parent is open.
    private var firstTaken: Set<String> = []
    private var narratives: [(lang: String?, text: String, line: Int, node: Int)] = []
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
        guard sawRoot else { throw MingaError(.invalidInput, "the file holds no XML element; an IATI activity file starts with <iati-activities>") }
    }

    // MARK: XMLParserDelegate

    func parser(
        _ parser: XMLParser,
        didStartElement elementName: String,
        namespaceURI: String?,
        qualifiedName qName: String?,
        attributes: [String: String] = [:]
    ) {
        keepText()
        if failure == nil, skipDepth == nil { reportStrayText() }
        text = ""
        stack.append(elementName)
        if stack.count > Self.maximumDepth, failure == nil {
            fail(
                problem(
                    "elements nested more than \(Self.maximumDepth - 2) levels inside an iati-activity (IATI's deepest are 8); nothing was imported"
                )
            )
        }
        if stack.count >= 3, activity != nil {
            open.append(tree.open(elementName, attributes: attributes, parent: open.last, inherited: rootNamespaces))
        }
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
        keepText()
        defer {
            if stack.count >= 3, activity != nil, !open.isEmpty { open.removeLast() }
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

    /// Narratives the mapping reads: a title's and a description's in every language, the
    /// others' in the default language.
    private static let narrativePaths: Set<String> = [
        "reporting-org/narrative", "title/narrative", "description/narrative", "participating-org/narrative",
        "transaction/description/narrative", "result/title/narrative", "result/indicator/title/narrative",
        "location/name/narrative", "document-link/title/narrative",
    ]

    /// How deep elements may nest, from the root: IATI's deepest path has 9 levels; paths of
    /// parts grow with depth, so a file nested thousands deep is refused, not stored.
    static let maximumDepth = 34

    /// Titles and names whose default-language narrative is a column (`result.title` …).
    private static let titlePaths: Set<String> = ["result/title", "result/indicator/title", "location/name", "document-link/title"]

    /// Elements whose text the registry holds.
    private static let textElements: Set<String> = narrativePaths.union([
        "iati-identifier", "budget/value", "planned-disbursement/value", "transaction/value", "location/point/pos",
    ])

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
        if stack.count == 1 { unheld[path + "/text()", default: 0] += 1 } else { verbatim[path + "/text()", default: 0] += 1 }
    }

    /// Gives the text read so far to the open element of the activity's tree.
    private func keepText() {
        guard activity != nil, !open.isEmpty, !text.isEmpty else { return }
        tree.appendText(text, to: current)
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text += string
    }

    /// CDATA comes from the parser as written; XML 1.0 §2.11 turns every CRLF and lone CR
    /// into LF everywhere in a document, CDATA included, as it does for the other text.
    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
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
            throw MingaError(
                .invalidInput,
                "this is not an IATI activity file: its root element is <\(name)>, expected <iati-activities> (IATI organisation files are not imported)"
            )
        }
        if let version = attributes["version"], !version.hasPrefix("2.") {
            throw MingaError(
                .invalidInput,
                "this file is IATI version \(version); Minga reads IATI 2.01–2.03 activity files (convert 1.x files to 2.03 first)"
            )
        }
        for (key, value) in attributes where key.hasPrefix("xmlns") {
            rootNamespaces[key == "xmlns" ? "" : String(key.dropFirst(6))] = value
        }
        rootLang = value(attributes, "xml:lang")
        for name in attributes.keys where !["version", "generated-datetime"].contains(name) && !name.hasPrefix("xmlns") {
            unheld["iati-activities/@\(name)", default: 0] += 1
        }
    }

    private func startActivity(_ name: String, _ attributes: [String: String]) throws {
        guard name == "iati-activity" else {
            unheld["iati-activities/\(name)", default: 0] += 1
            skipDepth = stack.count
            return
        }
        var a = IATIActivity(identifier: "", line: line)
        tree = IATISourceTree()
        open = [tree.open(name, attributes: attributes, parent: nil, inherited: rootNamespaces)]
        a.lang = value(attributes, "xml:lang") ?? rootLang
        a.defaultCurrency = value(attributes, "default-currency")
        if let h = value(attributes, "hierarchy") {
            guard let hierarchy = Int64(h) else { throw problem("@hierarchy \"\(h)\" is not a whole number") }
            a.hierarchy = hierarchy
        }
        a.lastUpdated = value(attributes, "last-updated-datetime")
        a.lines["iati-activity"] = line
        activity = a
        keep("iati-activity", attributes, held: ["xml:lang", "default-currency", "hierarchy", "last-updated-datetime"], at: "iati-activity")
    }

    private func endActivity() throws {
        guard var a = activity else { return }
        guard !a.identifier.isEmpty else { throw problem("the activity has no iati-identifier") }
        a.source = tree
        activity = nil
        open = []
        try onActivity(a)
    }

    /// An element inside an `iati-activity`, by its path below it (e.g. `transaction/value`).
    /// Each case that maps the element marks it held on the tree under its anchor; anything
    /// else stays a part kept as written.
    private func start(_ path: String, _ attributes: [String: String]) throws {
        guard activity != nil else { return }
        let at = "iati-activity/" + path
        if Self.narrativePaths.contains(path) {
            // Held, if at all, when the element around it ends (``pickNarrative``).
            narrativeLang = value(attributes, "xml:lang") ?? tree.inheritedLang(of: current)
            narrativeLine = line
            return
        }
        if Self.titlePaths.contains(path) {
            keep(path.hasSuffix("name") ? "name" : "title", attributes, held: [], at: at)
            narratives = []
            return
        }
        // An element in another namespace by a default declaration is an extension, whatever its name.
        if let uri = tree.nodes[current].namespaces[""], !uri.isEmpty { return skip(at + " (xmlns=\"\(uri)\")") }
        do {
            switch path.prefix(while: { $0 != "/" }) {
            case "budget", "planned-disbursement", "transaction": try startFlowElement(path, attributes, at: at)
            case "result": try startResultElement(path, attributes, at: at)
            case "location", "document-link": try startPlaceElement(path, attributes, at: at)
            default: try startActivityElement(path, attributes, at: at)
            }
        } catch let empty as EmptyAttribute {
            tree.release(current)
            skip(at + "[@\(empty.name)='']")
        }
    }

    /// An element of the activity itself: what names it, where it stands, or what classifies it.
    private func startActivityElement(_ path: String, _ attributes: [String: String], at: String) throws {
        switch path {
        case "iati-identifier", "title", "reporting-org", "description", "participating-org":
            try startNamingElement(path, attributes, at: at)
        case "activity-status", "activity-date", "related-activity":
            try startStatusElement(path, attributes, at: at)
        case "recipient-country", "recipient-region":
            try startRecipientElement(path, attributes, at: at)
        case "sector", "tag", "policy-marker":
            try startClassElement(path, attributes, at: at)
        case "collaboration-type", "default-flow-type", "default-finance-type", "default-aid-type":
            try startTypeElement(path, attributes, at: at)
        default:
            skip(at)
        }
    }

    /// What names the activity: its identifier, title and descriptions, and organisations.
    private func startNamingElement(_ path: String, _ attributes: [String: String], at: String) throws {
        switch path {
        case "iati-identifier":
            keep("iati-identifier", attributes, held: [], at: at, text: true)

        case "title":
            keep("title", attributes, held: [], at: at)
            narratives = []

        case "reporting-org":
            guard activity!.reportingOrg == nil else { return skip(at + " (repeated)") }
            keep("reporting-org", attributes, held: ["ref", "type"], at: at)
            activity!.reportingOrg = .init(ref: value(attributes, "ref"), type: value(attributes, "type"), line: line)
            activity!.lines[path] = line
            narratives = []

        case "description":
            descriptionType = value(attributes, "type") ?? "1"
            keep(IATIAnchor.make("description", descriptionType), attributes, held: descriptionType == "1" ? [] : ["type"], at: at)
            narratives = []

        case "participating-org":
            let role = try required(attributes, "role", of: path)
            guard let ref = value(attributes, "ref") else { return skip(at + "[not(@ref)]") }
            keep(IATIAnchor.make("participating-org", ref, role), attributes, held: ["ref", "role", "type", "activity-id"], at: at)
            participant = .init(
                ref: ref,
                role: role,
                type: value(attributes, "type"),
                activityID: value(attributes, "activity-id"),
                line: line,
                node: current
            )
            narratives = []

        default:
            skip(at)
        }
    }

    /// Where the activity stands: its status, dates and parent (`related-activity` of type 1).
    private func startStatusElement(_ path: String, _ attributes: [String: String], at: String) throws {
        switch path {
        case "activity-status":
            guard activity!.status == nil else { return skip(at + " (repeated)") }
            keep("activity-status", attributes, held: ["code"], at: at)
            activity!.status = try required(attributes, "code", of: path)
            activity!.lines[path] = line

        case "activity-date":
            let type = try required(attributes, "type", of: path)
            guard IATIColumns.dateColumns.contains(where: { $0.type == type }) else {
                throw problem(
                    "activity-date/@type \"\(type)\" is not in the IATI codelist ActivityDateType (1 planned start, 2 actual start, 3 planned end, 4 actual end)"
                )
            }
            let date = try required(attributes, "iso-date", of: path)
            guard activity!.dates[type] == nil else { return skip(at + "[@type='\(type)'] (repeated)") }
            keep(IATIAnchor.make("activity-date", type), attributes, held: ["type", "iso-date"], at: at)
            activity!.dates[type] = date
            activity!.lines[path] = line

        case "related-activity":
            let ref = try required(attributes, "ref", of: path)
            guard try required(attributes, "type", of: path) == "1" else { return skip(at + "[@type!='1']") }
            guard activity!.parent == nil else { return skip(at + "[@type='1'] (repeated)") }
            keep("related-activity", attributes, held: ["ref", "type"], at: at)
            activity!.parent = ref
            activity!.lines[path] = line

        default:
            skip(at)
        }
    }

    /// Where the activity takes place: its recipient countries and regions.
    private func startRecipientElement(_ path: String, _ attributes: [String: String], at: String) throws {
        switch path {
        case "recipient-country":
            let code = try required(attributes, "code", of: path)
            keep(IATIAnchor.make("recipient-country", code), attributes, held: ["code", "percentage"], at: at)
            activity!.countries.append(.init(code: code, percentage: try decimal(attributes, "percentage", of: path), line: line, node: current))

        case "recipient-region":
            let vocabulary = value(attributes, "vocabulary") ?? "1"
            let code = try required(attributes, "code", of: path)
            keep(
                IATIAnchor.make("recipient-region", vocabulary, code),
                attributes,
                held: vocabulary == "1" ? ["code", "percentage"] : ["code", "vocabulary", "percentage"],
                at: at
            )
            activity!.regions.append(
                .init(
                    vocabulary: vocabulary,
                    code: code,
                    percentage: try decimal(attributes, "percentage", of: path),
                    line: line,
                    node: current
                )
            )

        default:
            skip(at)
        }
    }

    /// What the activity is about: its sectors, tags and policy markers.
    private func startClassElement(_ path: String, _ attributes: [String: String], at: String) throws {
        switch path {
        case "sector", "tag":
            let vocabulary = path == "tag" ? try required(attributes, "vocabulary", of: path) : value(attributes, "vocabulary") ?? "1"
            let code = try required(attributes, "code", of: path)
            keep(
                IATIAnchor.make(path, vocabulary, code),
                attributes,
                held: path == "tag" ? ["vocabulary", "code"] : vocabulary == "1" ? ["code", "percentage"] : ["vocabulary", "code", "percentage"],
                at: at
            )
            activity!.classifications.append(
                .init(
                    scheme: path,
                    vocabulary: vocabulary,
                    code: code,
                    percentage: path == "tag" ? nil : try decimal(attributes, "percentage", of: path),
                    line: line,
                    node: current
                )
            )

        case "policy-marker":
            let vocabulary = value(attributes, "vocabulary") ?? "1"
            let code = try required(attributes, "code", of: path)
            keep(
                IATIAnchor.make("policy-marker", vocabulary, code),
                attributes,
                held: vocabulary == "1" ? ["code", "significance"] : ["vocabulary", "code", "significance"],
                at: at
            )
            activity!.policyMarkers.append(
                .init(
                    vocabulary: vocabulary,
                    code: code,
                    significance: value(attributes, "significance"),
                    line: line,
                    node: current
                )
            )

        default:
            skip(at)
        }
    }

    /// How the activity is carried out: its collaboration type and its default flow, finance
    /// and aid types.
    private func startTypeElement(_ path: String, _ attributes: [String: String], at: String) throws {
        switch path {
        case "collaboration-type", "default-flow-type", "default-finance-type":
            let code = try required(attributes, "code", of: path)
            let keyPath: WritableKeyPath<IATIActivity, String?> =
                path == "collaboration-type" ? \.collaborationType : path == "default-flow-type" ? \.flowType : \.financeType
            guard activity![keyPath: keyPath] == nil else { return skip(at + " (repeated)") }
            keep(path, attributes, held: ["code"], at: at)
            activity![keyPath: keyPath] = code
            activity!.lines[path] = line

        case "default-aid-type":
            let code = try required(attributes, "code", of: path)
            guard (value(attributes, "vocabulary") ?? "1") == "1" else { return skip(at + "[@vocabulary!='1']") }
            guard activity!.aidType == nil else { return skip(at + "[@vocabulary='1'] (repeated)") }
            keep("default-aid-type", attributes, held: ["code"], at: at)
            activity!.aidType = code
            activity!.lines[path] = line

        default:
            skip(at)
        }
    }

    /// A `budget`, `planned-disbursement` or `transaction`, or an element inside one.
    private func startFlowElement(_ path: String, _ attributes: [String: String], at: String) throws {
        switch path {
        case "budget":
            flow = .init(kind: .budget, budgetType: value(attributes, "type"), budgetStatus: value(attributes, "status"), line: line, node: current)
            keep(nil, attributes, held: ["type", "status"], at: at)

        case "planned-disbursement":
            flow = .init(kind: .plannedDisbursement, budgetType: value(attributes, "type"), line: line, node: current)
            keep(nil, attributes, held: ["type"], at: at)

        case "transaction":
            flow = .init(kind: .transaction, ref: value(attributes, "ref"), line: line, node: current)
            flow?.humanitarian = value(attributes, "humanitarian")
            keep(nil, attributes, held: ["ref", "humanitarian"], at: at)

        case "transaction/sector", "transaction/recipient-region", "transaction/aid-type", "transaction/recipient-country",
            "transaction/flow-type", "transaction/finance-type", "transaction/tied-status", "transaction/disbursement-channel":
            try startTransactionClassElement(path, attributes, at: at)

        default:
            try startFlowDetailElement(path, attributes, at: at)
        }
    }

    /// What classifies a transaction on its own: its sector, recipient country or region,
    /// flow, finance, aid and tied-status types, and disbursement channel.
    private func startTransactionClassElement(_ path: String, _ attributes: [String: String], at: String) throws {
        switch path {
        case "transaction/sector", "transaction/recipient-region", "transaction/aid-type":
            // The first of vocabulary 1 (written or implied): a column; the others stay parts.
            let vocabulary = value(attributes, "vocabulary") ?? "1"
            let code = try required(attributes, "code", of: path)
            let name = String(path.dropFirst("transaction/".count))
            guard name == "sector" || vocabulary == "1", firstTaken.insert(path).inserted else { return skip(at + " (not the first)") }
            keep(name, attributes, held: vocabulary == "1" ? ["code"] : ["code", "vocabulary"], at: at)
            switch name {
            case "sector":
                flow?.sectorVocabulary = vocabulary
                flow?.sector = code
            case "recipient-region": flow?.recipientRegion = code
            default: flow?.aidType = code
            }

        case "transaction/recipient-country", "transaction/flow-type", "transaction/finance-type", "transaction/tied-status",
            "transaction/disbursement-channel":
            let code = try required(attributes, "code", of: path)
            guard firstTaken.insert(path).inserted else { return skip(at + " (repeated)") }
            let name = String(path.dropFirst("transaction/".count))
            keep(name, attributes, held: ["code"], at: at)
            switch name {
            case "recipient-country": flow?.recipientCountry = code
            case "flow-type": flow?.flowType = code
            case "finance-type": flow?.financeType = code
            case "tied-status": flow?.tiedStatus = code
            default: flow?.disbursementChannel = code
            }

        default:
            skip(at)
        }
    }

    /// What a flow holds besides a transaction's classification: its value, period, provider
    /// and receiver organisations, and a transaction's description, type and date.
    private func startFlowDetailElement(_ path: String, _ attributes: [String: String], at: String) throws {
        switch path {
        case "transaction/description":
            keep("description", attributes, held: [], at: at)
            narratives = []

        case "budget/period-start", "planned-disbursement/period-start":
            keep("period-start", attributes, held: ["iso-date"], at: at)
            flow?.periodStart = try required(attributes, "iso-date", of: path)

        case "budget/period-end", "planned-disbursement/period-end":
            keep("period-end", attributes, held: ["iso-date"], at: at)
            flow?.periodEnd = try required(attributes, "iso-date", of: path)

        case "budget/value", "planned-disbursement/value", "transaction/value":
            keep("value", attributes, held: ["currency", "value-date"], at: at, text: true)
            flow?.currency = value(attributes, "currency")
            flow?.valueDate = value(attributes, "value-date")

        case "planned-disbursement/provider-org", "transaction/provider-org":
            flow?.providerOrg = value(attributes, "ref")
            flow?.providerActivity = value(attributes, "provider-activity-id")
            // Written back only when it names an organisation or activity; else kept as written.
            guard flow?.providerOrg != nil || flow?.providerActivity != nil else { return skip(at + "[not(@ref)]") }
            keep("provider-org", attributes, held: ["ref", "provider-activity-id"], at: at)

        case "planned-disbursement/receiver-org", "transaction/receiver-org":
            flow?.receiverOrg = value(attributes, "ref")
            flow?.receiverActivity = value(attributes, "receiver-activity-id")
            guard flow?.receiverOrg != nil || flow?.receiverActivity != nil else { return skip(at + "[not(@ref)]") }
            keep("receiver-org", attributes, held: ["ref", "receiver-activity-id"], at: at)

        case "transaction/transaction-type":
            keep("transaction-type", attributes, held: ["code"], at: at)
            flow?.transactionType = try required(attributes, "code", of: path)

        case "transaction/transaction-date":
            keep("transaction-date", attributes, held: ["iso-date"], at: at)
            flow?.transactionDate = try required(attributes, "iso-date", of: path)

        default:
            skip(at)
        }
    }

    /// A `result`, or its title, indicators, baselines, periods, targets and actual values.
    private func startResultElement(_ path: String, _ attributes: [String: String], at: String) throws {
        switch path {
        case "result":
            result = .init(
                no: activity!.results.count + 1,
                type: value(attributes, "type"),
                aggregationStatus: value(attributes, "aggregation-status"),
                node: current
            )
            keep(IATIAnchor.make("result", String(result!.no)), attributes, held: ["type", "aggregation-status"], at: at)

        case "result/indicator":
            indicator = .init(
                no: (result?.indicators.count ?? 0) + 1,
                measure: value(attributes, "measure"),
                ascending: value(attributes, "ascending"),
                aggregationStatus: value(attributes, "aggregation-status")
            )
            keep(IATIAnchor.make("indicator", String(indicator!.no)), attributes, held: ["measure", "ascending", "aggregation-status"], at: at)
            firstTaken = []

        case "result/indicator/baseline":
            let number = self.number(attributes, "value")
            guard firstTaken.insert(path).inserted, number != nil || value(attributes, "year") != nil else { return skip(at + " (not the first)") }
            keep("baseline", attributes, held: number == nil ? ["year", "iso-date"] : ["year", "iso-date", "value"], at: at)
            indicator?.baselineYear = value(attributes, "year")
            indicator?.baselineDate = value(attributes, "iso-date")
            indicator?.baselineValue = number

        case "result/indicator/period":
            period = .init(no: (indicator?.periods.count ?? 0) + 1)
            keep(IATIAnchor.make("period", String(period!.no)), attributes, held: [], at: at)
            firstTaken = firstTaken.filter { !$0.hasPrefix("result/indicator/period/") }

        case "result/indicator/period/period-start", "result/indicator/period/period-end":
            let name = String(path.dropFirst("result/indicator/period/".count))
            guard firstTaken.insert(path).inserted else { return skip(at + " (repeated)") }
            keep(name, attributes, held: ["iso-date"], at: at)
            if name == "period-start" { period?.start = value(attributes, "iso-date") } else { period?.end = value(attributes, "iso-date") }

        case "result/indicator/period/target", "result/indicator/period/actual":
            // The first is the column's (its value when it is a number: a qualitative one, or
            // "130,000.00", stays as written, and a number an agency enters later replaces it);
            // the others (a second dimension) stay parts.
            guard firstTaken.insert(path).inserted else { return skip(at + " (not the first)") }
            let name = String(path.dropFirst("result/indicator/period/".count))
            let number = self.number(attributes, "value")
            keep(name, attributes, held: number == nil ? [] : ["value"], at: at)
            if number == nil { tree.keepAsPart(current) }
            if name == "target" { period?.target = number } else { period?.actual = number }

        default:
            skip(at)
        }
    }

    /// A `location` or a `document-link`, or an element inside one.
    private func startPlaceElement(_ path: String, _ attributes: [String: String], at: String) throws {
        switch path {
        case "location":
            location = .init(no: activity!.locations.count + 1, ref: value(attributes, "ref"))
            keep(IATIAnchor.make("location", String(location!.no)), attributes, held: ["ref"], at: at)
            firstTaken = []

        case "location/location-reach", "location/exactness", "location/location-class", "location/feature-designation":
            let name = String(path.dropFirst("location/".count))
            guard let code = value(attributes, "code"), firstTaken.insert(path).inserted else { return skip(at + " (repeated)") }
            keep(name, attributes, held: ["code"], at: at)
            switch name {
            case "location-reach": location?.reach = code
            case "exactness": location?.exactness = code
            case "location-class": location?.locationClass = code
            default: location?.featureDesignation = code
            }

        case "location/point":
            guard firstTaken.insert(path).inserted else { return skip(at + " (repeated)") }
            keep("point", attributes, held: [], at: at)

        case "location/point/pos":
            guard firstTaken.insert(path).inserted else { return skip(at + " (repeated)") }
            keep("pos", attributes, held: [], at: at, text: true)

        case "document-link":
            documentLink = .init(no: activity!.documentLinks.count + 1, url: value(attributes, "url"), format: value(attributes, "format"))
            keep(IATIAnchor.make("document-link", String(documentLink!.no)), attributes, held: ["url", "format"], at: at)
            firstTaken = []

        case "document-link/category", "document-link/language", "document-link/document-date":
            let name = String(path.dropFirst("document-link/".count))
            let attribute = name == "document-date" ? "iso-date" : "code"
            guard let code = value(attributes, attribute), firstTaken.insert(path).inserted else { return skip(at + " (not the first)") }
            keep(name, attributes, held: [attribute], at: at)
            switch name {
            case "category": documentLink?.category = code
            case "language": documentLink?.language = code
            default: documentLink?.documentDate = code
            }

        default:
            skip(at)
        }
    }

    /// An element inside an `iati-activity` ends, by its path below it: what was read inside
    /// it (its text, narratives and elements) goes to the activity.
    private func end(_ path: String) throws {
        guard activity != nil else { return }
        let content = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if Self.narrativePaths.contains(path) {
            // A title's or description's empty narrative is a text too; elsewhere it stays a part.
            if !content.isEmpty || path == "title/narrative" || path == "description/narrative" {
                narratives.append((narrativeLang, content, narrativeLine, current))
            }
            return
        }
        if Self.titlePaths.contains(path) { return endTitleElement(path) }
        switch path.prefix(while: { $0 != "/" }) {
        case "budget", "planned-disbursement", "transaction": try endFlowElement(path, content: content)
        case "result": endResultElement(path)
        case "location", "document-link": endPlaceElement(path, content: content)
        default: endActivityElement(path, content: content)
        }
    }

    /// The end of an element of the activity itself: its identifier, or what names it.
    private func endActivityElement(_ path: String, content: String) {
        switch path {
        case "iati-identifier":
            activity!.identifier = content

        case "reporting-org":
            // The name goes to the organisation row (shared by every activity it reports);
            // the activity keeps its own narratives as written, in every language.
            let name = pickNarrative(keptAt: nil)  // read before `activity` is written: it reads the default language
            activity!.reportingOrg?.name = name

        case "title", "description":
            let element = path == "title" ? "title" : "description/\(descriptionType)"
            let defaultLang = activity!.lang ?? ""
            for n in narratives {
                let lang = n.lang ?? defaultLang
                holdNarrative(n, as: IATIAnchor.make("narrative", lang))
                activity!.texts.append(.init(element: element, lang: lang, text: n.text, line: n.line, node: n.node))
            }
            narratives = []

        case "participating-org":
            participant?.name = pickNarrative(keptAt: "iati-activity/participating-org/narrative (other languages)")
            if let p = participant { activity!.participants.append(p) }
            participant = nil

        default:
            break
        }
    }

    /// The end of a result's, an indicator's, a location's or a document link's title or
    /// name: its narrative in the default language is the column.
    private func endTitleElement(_ path: String) {
        let name = pickNarrative(keptAt: "iati-activity/\(path)/narrative (other languages)")
        // Written back only with the narrative a column holds; else kept as written.
        if name == nil { tree.release(current) }
        switch path {
        case "result/title": result?.title = name
        case "result/indicator/title": indicator?.title = name
        case "location/name": location?.name = name
        default: documentLink?.title = name
        }
    }

    /// The end of a `budget`, `planned-disbursement` or `transaction`, or of an element
    /// inside one: the flow is added once it ends, and must have a value.
    private func endFlowElement(_ path: String, content: String) throws {
        switch path {
        case "transaction/description":
            flow?.description = pickNarrative(keptAt: "iati-activity/transaction/description/narrative (other languages)")
            // Written back only with the narrative the flow holds; else kept as written.
            if flow?.description == nil { tree.release(current) }

        case "budget/value", "planned-disbursement/value", "transaction/value":
            guard let number = Double(content), number.isFinite else {
                throw problem("\(path) \"\(content)\" is not a number (IATI values are decimals such as 1500.50, without thousands separators)")
            }
            flow?.value = number == 0 ? 0 : number  // -0 is 0 (its spelling stays a part)

        case "budget", "planned-disbursement", "transaction":
            firstTaken = []
            guard let f = flow else { return }
            guard f.value != nil else { throw problem("the \(path) starting at line \(f.line) has no value") }
            activity!.flows.append(f)
            flow = nil

        default:
            break
        }
    }

    /// The end of a `result`, an indicator or a period: each is added to what holds it.
    private func endResultElement(_ path: String) {
        switch path {
        case "result/indicator/period":
            if let p = period { indicator?.periods.append(p) }
            period = nil

        case "result/indicator":
            if let i = indicator { result?.indicators.append(i) }
            indicator = nil

        case "result":
            if let r = result { activity!.results.append(r) }
            result = nil

        default:
            break
        }
    }

    /// The end of a location's point and its position, or of a `location` or a
    /// `document-link`, which is added to the activity.
    private func endPlaceElement(_ path: String, content: String) {
        switch path {
        case "location/point/pos":
            location?.point = content.isEmpty ? nil : content

        case "location/point":
            if location?.point == nil { tree.release(current) }

        case "location":
            if let l = location { activity!.locations.append(l) }
            location = nil

        case "document-link":
            if let d = documentLink { activity!.documentLinks.append(d) }
            documentLink = nil

        default:
            break
        }
    }

    /// The narrative in the activity's default language, held; the others stay parts kept as
    /// written. With none in that language, none is taken: the registry's column holds the
    /// default language's text, and an English name exported as the activity's Spanish one
    /// would change its meaning.
    /// `keptAt` is where the others are counted as kept as written; with `nil`, none is held:
    /// the text is only read.
    private func pickNarrative(keptAt path: String?) -> String? {
        defer { narratives = [] }
        let defaultLang = activity?.lang
        guard let index = narratives.firstIndex(where: { $0.lang == nil || $0.lang == defaultLang }) else {
            if !narratives.isEmpty, let path { verbatim[path, default: 0] += narratives.count }
            return nil
        }
        guard let path else { return narratives[index].text }
        if narratives.count > 1 { verbatim[path, default: 0] += narratives.count - 1 }
        holdNarrative(narratives[index], as: "narrative")
        return narratives[index].text
    }

    /// Holds a narrative's text; its `xml:lang` is held only where the export writes it (a
    /// language other than the default), so an explicit default language is kept as written.
    private func holdNarrative(_ n: (lang: String?, text: String, line: Int, node: Int), as anchor: String) {
        let written = tree.nodes[n.node].attributes["xml:lang"]?.trimmingCharacters(in: .whitespacesAndNewlines)
        let explicitDefault = written != nil && written == activity?.lang
        tree.hold(n.node, as: anchor, attributes: explicitDefault ? [] : ["xml:lang"], text: true)
    }

    // MARK: Helpers

    /// Counts `path` as kept as written, and maps nothing inside it.
    private func skip(_ path: String) {
        verbatim[path, default: 0] += 1
        skipDepth = stack.count
    }

    /// Marks the element being read as held under `anchor` (a flow's is set once its id is
    /// known, in `rows()`), and counts the attributes kept as written (namespace declarations aside).
    private func keep(_ anchor: String?, _ attributes: [String: String], held: Set<String>, at path: String, text: Bool = false) {
        tree.hold(current, as: anchor, attributes: held, text: text)
        for name in attributes.keys where !held.contains(name) && name != "xmlns" && !name.hasPrefix("xmlns:") {
            verbatim["\(path)/@\(name)", default: 0] += 1
        }
    }

    /// An attribute's value, trimmed; `nil` when absent or empty.
    private func value(_ attributes: [String: String], _ name: String) -> String? {
        guard let raw = attributes[name] else { return nil }
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// A required attribute written empty (`code=""`, which the schema's xsd:string allows):
    /// the element is kept as written rather than the file refused.
    private struct EmptyAttribute: Error { let name: String }

    private func required(_ attributes: [String: String], _ name: String, of path: String) throws -> String {
        if let raw = attributes[name], raw.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw EmptyAttribute(name: name) }
        guard let v = value(attributes, name) else { throw problem("\(path) has no @\(name), which the IATI standard requires") }
        return v
    }

    /// A number the tables hold if the attribute is one; `nil` leaves the attribute as written.
    private func number(_ attributes: [String: String], _ name: String) -> Double? {
        guard let text = value(attributes, name), let number = Double(text), number.isFinite else { return nil }
        return number
    }

    private func decimal(_ attributes: [String: String], _ name: String, of path: String) throws -> Double? {
        guard let text = value(attributes, name) else { return nil }
        guard let number = number(attributes, name) else { throw problem("\(path)/@\(name) \"\(text)\" is not a number") }
        return number
    }

    /// Where the reader is, for an operator: the activity (by identifier once read) and the line.
    private var place: String {
        guard let a = activity else { return "line \(line)" }
        let name = a.identifier.isEmpty ? "the activity starting at line \(a.line)" : "activity \(a.identifier)"
        return "\(name), line \(line)"
    }

    private func problem(_ message: String) -> MingaError { MingaError(.invalidInput, "\(place): \(message)") }

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
        case 89: reason = "entities that expand too much (a DTD's nested entities)"
        default: reason = "libxml2 error \(code)"
        }
        let activityPart: String
        if let a = activity {
            activityPart = a.identifier.isEmpty ? "in the activity starting at line \(a.line), " : "in activity \(a.identifier), "
        } else {
            activityPart = ""
        }
        return MingaError(
            .invalidInput,
            "\(activityPart)line \(line), column \(column): the file is not well-formed XML: \(reason); nothing was imported"
        )
    }

    private func fail(_ error: any Error) {
        failure = error
        parser?.abortParsing()
    }
}
