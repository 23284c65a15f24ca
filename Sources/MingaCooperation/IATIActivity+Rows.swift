import MingaCore

/// One row to write, with the line of the element it came from so that an error can point at it.
struct IATIRow {
    var table: String
    var values: [String: Value]
    var line: Int
    /// For the initiative row: the line of the element each column came from.
    var columnLines: [String: Int] = [:]
}

/// The rows one activity becomes.
struct IATIActivityRows {
    var initiative: IATIRow
    /// Rows of the tables the activity owns wholly (``IATIColumns/childTables``), in file order.
    var children: [String: [IATIRow]]
    /// The reporting organisation describes itself: its name and type are authoritative.
    var reportingOrganisation: IATIRow?
    /// Organisations named as participating-org: they only create missing rows.
    var mentionedOrganisations: [IATIRow]
    /// Elements dropped because an earlier one had the same key (e.g. two titles in one
    /// language): paths for the import's report of what was kept as written.
    var repeated: [String]
}

/// The child rows of one activity as they are collected, table by table.
private struct ChildRows {
    var children: [String: [IATIRow]] = [:]
    /// Paths of the elements dropped because an earlier one had the same key.
    var repeated: [String] = []
    /// The activity's elements, on which a dropped element is released and a flow anchored.
    var tree: IATISourceTree?
    private var seen: Set<[Value]> = []

    init(tree: IATISourceTree?) { self.tree = tree }

    /// Adds a row of `table` unless an earlier row has the same key.
    /// A repeated key's element is not held: it stays a part, kept as written.
    mutating func add(_ table: String, key: [Value], _ values: [String: Value], line: Int, node: Int?, repeatedPath: String) {
        guard seen.insert([.text(table)] + key).inserted else {
            repeated.append(repeatedPath)
            if let node { tree?.release(node) }
            return
        }
        append(IATIRow(table: table, values: values, line: line))
    }

    /// Adds a row that has no key to repeat.
    mutating func append(_ row: IATIRow) {
        children[row.table, default: []].append(row)
    }
}

extension IATIActivity {
    /// Maps the activity to rows. Keys that repeat within the activity keep the first element
    /// (the others are reported); flows get ids `<identifier>/<element>/<@ref or position>`,
    /// with `#<position>` appended when that id is already taken, so that no flow is lost.
    func rows() -> IATIActivityRows {
        var rows = ChildRows(tree: source)
        addNamingRows(to: &rows)
        addRecipientAndClassificationRows(to: &rows)
        addFlowRows(to: &rows)
        for (table, values) in resultRows() + placeRows() {
            rows.append(IATIRow(table: table, values: values.merging(["initiative": .text(identifier)]) { a, _ in a }, line: line))
        }
        addPolicyMarkerRows(to: &rows)
        for part in rows.tree?.parts() ?? parts {
            rows.append(IATIRow(table: "iati_part", values: part.row(initiative: identifier), line: line))
        }
        return IATIActivityRows(
            initiative: initiativeRow(),
            children: rows.children,
            reportingOrganisation: reportingOrganisationRow(),
            mentionedOrganisations: mentionedOrganisationRows(),
            repeated: rows.repeated
        )
    }

    /// The `initiative` row, with the line of the element each column came from.
    private func initiativeRow() -> IATIRow {
        var initiative: [String: Value] = ["iati_identifier": .text(identifier)]
        initiative["reporting_org"] = .iati(reportingOrg?.ref)
        initiative["reporting_org_type"] = .iati(reportingOrg?.type)
        initiative["default_lang"] = .iati(lang)
        initiative["default_currency"] = .iati(defaultCurrency)
        initiative["hierarchy"] = hierarchy.map(Value.integer) ?? .null
        initiative["last_updated"] = .iati(lastUpdated)
        initiative["status"] = .iati(status)
        initiative["collaboration_type"] = .iati(collaborationType)
        initiative["flow_type"] = .iati(flowType)
        initiative["finance_type"] = .iati(financeType)
        initiative["aid_type"] = .iati(aidType)
        for (type, column) in IATIColumns.dateColumns { initiative[column] = .iati(dates[type]) }
        initiative["parent"] = .iati(parent)
        var columnLines: [String: Int] = [:]
        for (column, element) in IATIElements.initiativeColumns { columnLines[column] = lines[element] }
        return IATIRow(table: "initiative", values: initiative, line: line, columnLines: columnLines)
    }

    /// Rows of `initiative_text` (title and descriptions) and `participation`.
    private func addNamingRows(to rows: inout ChildRows) {
        let id = Value.text(identifier)
        for t in texts {
            rows.add(
                "initiative_text",
                key: [.text(t.element), .text(t.lang)],
                ["initiative": id, "element": .text(t.element), "lang": .text(t.lang), "text": .text(t.text)],
                line: t.line,
                node: t.node,
                repeatedPath: t.element == "title"
                    ? "iati-activity/title/narrative (repeated language)"
                    : "iati-activity/description/narrative (repeated type and language)"
            )
        }
        for p in participants {
            rows.add(
                "participation",
                key: [.text(p.ref), .text(p.role)],
                [
                    "initiative": id, "org_ref": .text(p.ref), "iati_role": .text(p.role), "org_type": .iati(p.type),
                    "activity_id": .iati(p.activityID), "name": .iati(p.name),
                ],
                line: p.line,
                node: p.node,
                repeatedPath: "iati-activity/participating-org (repeated ref and role)"
            )
        }
    }

    /// Rows of `recipient_country`, `recipient_region` and `classification` (sectors and tags).
    private func addRecipientAndClassificationRows(to rows: inout ChildRows) {
        let id = Value.text(identifier)
        for c in countries {
            rows.add(
                "recipient_country",
                key: [.text(c.code)],
                ["initiative": id, "country": .text(c.code), "percentage": .iati(c.percentage)],
                line: c.line,
                node: c.node,
                repeatedPath: "iati-activity/recipient-country (repeated code)"
            )
        }
        for r in regions {
            rows.add(
                "recipient_region",
                key: [.text(r.vocabulary), .text(r.code)],
                ["initiative": id, "vocabulary": .text(r.vocabulary), "region": .text(r.code), "percentage": .iati(r.percentage)],
                line: r.line,
                node: r.node,
                repeatedPath: "iati-activity/recipient-region (repeated vocabulary and code)"
            )
        }
        for c in classifications {
            rows.add(
                "classification",
                key: [.text(c.scheme), .text(c.vocabulary), .text(c.code)],
                [
                    "initiative": id, "scheme": .text(c.scheme), "vocabulary": .text(c.vocabulary), "code": .text(c.code),
                    "percentage": .iati(c.percentage),
                ],
                line: c.line,
                node: c.node,
                repeatedPath: "iati-activity/\(c.scheme) (repeated vocabulary and code)"
            )
        }
    }

    /// Rows of `flow`, each with its id; the flow's element is anchored on the tree by that id.
    private func addFlowRows(to rows: inout ChildRows) {
        var flowIDs: Set<String> = []
        var positions: [Flow.Kind: Int] = [:]
        for f in flows {
            let position = positions[f.kind, default: 0] + 1
            positions[f.kind] = position
            var flowID = "\(identifier)/\(f.kind.rawValue)/\(f.ref.map(Self.escapedRef) ?? String(position))"
            if flowIDs.contains(flowID) { flowID += "#\(position)" }
            guard flowIDs.insert(flowID).inserted else {
                rows.repeated.append("iati-activity/\(f.kind.rawValue) (repeated id \(flowID))")
                continue
            }
            if let node = f.node { rows.tree?.anchor(node, IATIAnchor.flow(id: flowID, identifier: identifier, kind: f.kind.rawValue)) }
            rows.append(IATIRow(table: "flow", values: flowValues(f, id: flowID, position: position), line: f.line))
        }
    }

    /// A flow's `flow` row, by its id and its position among the flows of its kind.
    private func flowValues(_ f: Flow, id flowID: String, position: Int) -> [String: Value] {
        [
            "id": .text(flowID), "initiative": .text(identifier), "kind": .text(f.kind.rawValue), "position": .integer(Int64(position)),
            "transaction_type": .iati(f.transactionType), "budget_type": .iati(f.budgetType),
            "budget_status": .iati(f.budgetStatus), "ref": .iati(f.ref), "value": .iati(f.value),
            "currency": .iati(f.currency), "value_date": .iati(f.valueDate), "transaction_date": .iati(f.transactionDate),
            "period_start": .iati(f.periodStart), "period_end": .iati(f.periodEnd),
            "provider_org": .iati(f.providerOrg), "provider_activity": .iati(f.providerActivity),
            "receiver_org": .iati(f.receiverOrg), "receiver_activity": .iati(f.receiverActivity),
            "description": .iati(f.description), "humanitarian": .iati(f.humanitarian),
            "sector_vocabulary": .iati(f.sectorVocabulary), "sector": .iati(f.sector), "recipient_country": .iati(f.recipientCountry),
            "recipient_region": .iati(f.recipientRegion), "flow_type": .iati(f.flowType), "finance_type": .iati(f.financeType),
            "aid_type": .iati(f.aidType), "tied_status": .iati(f.tiedStatus), "disbursement_channel": .iati(f.disbursementChannel),
        ]
    }

    /// Rows of `policy_marker`.
    private func addPolicyMarkerRows(to rows: inout ChildRows) {
        for m in policyMarkers {
            rows.add(
                "policy_marker",
                key: [.text(m.vocabulary), .text(m.code)],
                ["initiative": .text(identifier), "vocabulary": .text(m.vocabulary), "code": .text(m.code), "significance": .iati(m.significance)],
                line: m.line,
                node: m.node,
                repeatedPath: "iati-activity/policy-marker (repeated vocabulary and code)"
            )
        }
    }

    /// The reporting organisation's `organisation` row, when it has a ref: it describes
    /// itself, so its name and type are authoritative.
    private func reportingOrganisationRow() -> IATIRow? {
        guard let org = reportingOrg, let ref = org.ref else { return nil }
        return Self.organisationRow(ref: ref, name: org.name, type: org.type, line: org.line)
    }

    /// The participating organisations' `organisation` rows, which only create missing rows.
    private func mentionedOrganisationRows() -> [IATIRow] {
        participants.map { p in Self.organisationRow(ref: p.ref, name: p.name, type: p.type, line: p.line) }
    }

    /// An `organisation` row with the name and type that are known.
    private static func organisationRow(ref: String, name: String?, type: String?, line: Int) -> IATIRow {
        var values: [String: Value] = ["ref": .text(ref)]
        if let name { values["name"] = .text(name) }
        if let type { values["type"] = .text(type) }
        return IATIRow(table: "organisation", values: values, line: line)
    }
}

extension IATIActivity {
    /// Rows of `result`, `result_indicator` and `indicator_period` (without the initiative).
    func resultRows() -> [(String, [String: Value])] {
        var rows: [(String, [String: Value])] = []
        for r in results {
            let no = Value.integer(Int64(r.no))
            rows.append(
                ("result", ["result_no": no, "type": .iati(r.type), "aggregation_status": .iati(r.aggregationStatus), "title": .iati(r.title)])
            )
            for i in r.indicators {
                let indicatorNo = Value.integer(Int64(i.no))
                rows.append(
                    (
                        "result_indicator",
                        [
                            "result_no": no, "indicator_no": indicatorNo, "measure": .iati(i.measure), "ascending": .iati(i.ascending),
                            "aggregation_status": .iati(i.aggregationStatus), "title": .iati(i.title), "baseline_year": .iati(i.baselineYear),
                            "baseline_date": .iati(i.baselineDate), "baseline_value": .iati(i.baselineValue),
                        ]
                    )
                )
                for p in i.periods {
                    rows.append(
                        (
                            "indicator_period",
                            [
                                "result_no": no, "indicator_no": indicatorNo, "period_no": .integer(Int64(p.no)), "period_start": .iati(p.start),
                                "period_end": .iati(p.end), "target": .iati(p.target), "actual": .iati(p.actual),
                            ]
                        )
                    )
                }
            }
        }
        return rows
    }

    /// Rows of `location` and `document_link` (without the initiative).
    func placeRows() -> [(String, [String: Value])] {
        locations.map { l in
            (
                "location",
                [
                    "location_no": .integer(Int64(l.no)), "ref": .iati(l.ref), "name": .iati(l.name), "reach": .iati(l.reach),
                    "exactness": .iati(l.exactness), "location_class": .iati(l.locationClass),
                    "feature_designation": .iati(l.featureDesignation), "point": .iati(l.point),
                ]
            )
        }
            + documentLinks.map { d in
                (
                    "document_link",
                    [
                        "link_no": .integer(Int64(d.no)), "url": .iati(d.url), "format": .iati(d.format), "title": .iati(d.title),
                        "category": .iati(d.category), "language": .iati(d.language), "document_date": .iati(d.documentDate),
                    ]
                )
            }
    }

    /// Rebuilds an activity from its rows (each as column/value pairs, as
    /// `LocalTransaction.rows` returns them): the initiative's, and its rows of each of
    /// ``IATIColumns/childTables`` by table. `reportingOrgName` is the organisation table's
    /// name for the reporting organisation: the activity's tables do not hold it.
    init(initiative: [String: Value], reportingOrgName: String?, children: [String: [[String: Value]]]) {
        self.init(identifier: initiative["iati_identifier"]?.iatiString ?? "", line: 0)
        loadInitiative(initiative, reportingOrgName: reportingOrgName)
        loadTextsAndParticipants(children)
        loadRecipientsAndClassifications(children)
        loadFlows(children)
        loadResults(children)
        loadPlaces(children)
        policyMarkers = (children["policy_marker"] ?? []).compactMap { row in
            guard let vocabulary = row["vocabulary"]?.iatiString, let code = row["code"]?.iatiString else { return nil }
            return PolicyMarker(vocabulary: vocabulary, code: code, significance: row["significance"]?.iatiString, line: 0)
        }
        parts = (children["iati_part"] ?? []).compactMap(IATIPart.init(row:))
    }

    /// The fields of the `initiative` row, and the reporting organisation with its name.
    private mutating func loadInitiative(_ initiative: [String: Value], reportingOrgName: String?) {
        lang = initiative["default_lang"]?.iatiString
        defaultCurrency = initiative["default_currency"]?.iatiString
        hierarchy = initiative["hierarchy"]?.iatiInt64
        lastUpdated = initiative["last_updated"]?.iatiString
        if let ref = initiative["reporting_org"]?.iatiString {
            reportingOrg = ReportingOrg(ref: ref, type: initiative["reporting_org_type"]?.iatiString, name: reportingOrgName, line: 0)
        }
        status = initiative["status"]?.iatiString
        collaborationType = initiative["collaboration_type"]?.iatiString
        flowType = initiative["flow_type"]?.iatiString
        financeType = initiative["finance_type"]?.iatiString
        aidType = initiative["aid_type"]?.iatiString
        for (type, column) in IATIColumns.dateColumns { dates[type] = initiative[column]?.iatiString }
        parent = initiative["parent"]?.iatiString
    }

    /// Texts from `initiative_text`, and participants from `participation`.
    private mutating func loadTextsAndParticipants(_ children: [String: [[String: Value]]]) {
        texts = (children["initiative_text"] ?? []).compactMap { row in
            guard let element = row["element"]?.iatiString, let text = row["text"]?.iatiString else { return nil }
            return Text(element: element, lang: row["lang"]?.iatiString ?? "", text: text, line: 0)
        }
        participants = (children["participation"] ?? []).compactMap { row in
            guard let ref = row["org_ref"]?.iatiString, let role = row["iati_role"]?.iatiString else { return nil }
            return Participant(
                ref: ref,
                role: role,
                type: row["org_type"]?.iatiString,
                activityID: row["activity_id"]?.iatiString,
                name: row["name"]?.iatiString,
                line: 0
            )
        }
    }

    /// Countries, regions, and sectors and tags, from `recipient_country`,
    /// `recipient_region` and `classification`.
    private mutating func loadRecipientsAndClassifications(_ children: [String: [[String: Value]]]) {
        countries = (children["recipient_country"] ?? []).compactMap { row in
            guard let code = row["country"]?.iatiString else { return nil }
            return Country(code: code, percentage: row["percentage"]?.iatiDouble, line: 0)
        }
        regions = (children["recipient_region"] ?? []).compactMap { row in
            guard let code = row["region"]?.iatiString, let vocabulary = row["vocabulary"]?.iatiString else { return nil }
            return Region(vocabulary: vocabulary, code: code, percentage: row["percentage"]?.iatiDouble, line: 0)
        }
        classifications = (children["classification"] ?? []).compactMap { row in
            guard let scheme = row["scheme"]?.iatiString, let vocabulary = row["vocabulary"]?.iatiString, let code = row["code"]?.iatiString
            else { return nil }
            return Classification(scheme: scheme, vocabulary: vocabulary, code: code, percentage: row["percentage"]?.iatiDouble, line: 0)
        }
    }

    /// Flows from `flow`, in the order of the file they came from (``fileOrder(_:identifier:)``).
    private mutating func loadFlows(_ children: [String: [[String: Value]]]) {
        flows = IATIActivity.fileOrder(children["flow"] ?? [], identifier: identifier).compactMap { row in
            guard let kind = row["kind"]?.iatiString.flatMap(Flow.Kind.init(rawValue:)) else { return nil }
            var flow = Flow(
                kind: kind,
                ref: row["ref"]?.iatiString,
                transactionType: row["transaction_type"]?.iatiString,
                budgetType: row["budget_type"]?.iatiString,
                budgetStatus: row["budget_status"]?.iatiString,
                value: row["value"]?.iatiDouble,
                currency: row["currency"]?.iatiString,
                valueDate: row["value_date"]?.iatiString,
                transactionDate: row["transaction_date"]?.iatiString,
                periodStart: row["period_start"]?.iatiString,
                periodEnd: row["period_end"]?.iatiString,
                providerOrg: row["provider_org"]?.iatiString,
                providerActivity: row["provider_activity"]?.iatiString,
                receiverOrg: row["receiver_org"]?.iatiString,
                receiverActivity: row["receiver_activity"]?.iatiString,
                description: row["description"]?.iatiString,
                line: 0
            )
            flow.id = row["id"]?.iatiString
            (flow.humanitarian, flow.sectorVocabulary, flow.sector) = (
                row["humanitarian"]?.iatiString, row["sector_vocabulary"]?.iatiString, row["sector"]?.iatiString
            )
            (flow.recipientCountry, flow.recipientRegion) = (row["recipient_country"]?.iatiString, row["recipient_region"]?.iatiString)
            (flow.flowType, flow.financeType, flow.aidType) = (
                row["flow_type"]?.iatiString, row["finance_type"]?.iatiString, row["aid_type"]?.iatiString
            )
            (flow.tiedStatus, flow.disbursementChannel) = (row["tied_status"]?.iatiString, row["disbursement_channel"]?.iatiString)
            return flow
        }
    }

    /// Locations from `location`, and document links from `document_link`, each in its
    /// place (`…_no`).
    private mutating func loadPlaces(_ children: [String: [[String: Value]]]) {
        locations = (children["location"] ?? []).compactMap { row in
            guard let no = row["location_no"]?.iatiInt64 else { return nil }
            return Location(
                no: Int(no),
                ref: row["ref"]?.iatiString,
                name: row["name"]?.iatiString,
                reach: row["reach"]?.iatiString,
                exactness: row["exactness"]?.iatiString,
                locationClass: row["location_class"]?.iatiString,
                featureDesignation: row["feature_designation"]?.iatiString,
                point: row["point"]?.iatiString
            )
        }.sorted { $0.no < $1.no }
        documentLinks = (children["document_link"] ?? []).compactMap { row in
            guard let no = row["link_no"]?.iatiInt64 else { return nil }
            return DocumentLink(
                no: Int(no),
                url: row["url"]?.iatiString,
                format: row["format"]?.iatiString,
                title: row["title"]?.iatiString,
                category: row["category"]?.iatiString,
                language: row["language"]?.iatiString,
                documentDate: row["document_date"]?.iatiString
            )
        }.sorted { $0.no < $1.no }
    }

    /// Results with their indicators and periods, each in its place (`…_no`).
    private mutating func loadResults(_ children: [String: [[String: Value]]]) {
        func no(_ row: [String: Value], _ column: String) -> Int? { row[column]?.iatiInt64.map(Int.init) }
        var periods: [[Int]: [Period]] = [:]
        for row in children["indicator_period"] ?? [] {
            guard let r = no(row, "result_no"), let i = no(row, "indicator_no"), let p = no(row, "period_no") else { continue }
            periods[[r, i], default: []].append(
                Period(
                    no: p,
                    start: row["period_start"]?.iatiString,
                    end: row["period_end"]?.iatiString,
                    target: row["target"]?.iatiDouble,
                    actual: row["actual"]?.iatiDouble
                )
            )
        }
        var indicators: [Int: [Indicator]] = [:]
        for row in children["result_indicator"] ?? [] {
            guard let r = no(row, "result_no"), let i = no(row, "indicator_no") else { continue }
            indicators[r, default: []].append(
                Indicator(
                    no: i,
                    measure: row["measure"]?.iatiString,
                    ascending: row["ascending"]?.iatiString,
                    aggregationStatus: row["aggregation_status"]?.iatiString,
                    title: row["title"]?.iatiString,
                    baselineYear: row["baseline_year"]?.iatiString,
                    baselineDate: row["baseline_date"]?.iatiString,
                    baselineValue: row["baseline_value"]?.iatiDouble,
                    periods: (periods[[r, i]] ?? []).sorted { $0.no < $1.no }
                )
            )
        }
        results = (children["result"] ?? []).compactMap { row in
            guard let r = no(row, "result_no") else { return nil }
            return Result(
                no: r,
                type: row["type"]?.iatiString,
                aggregationStatus: row["aggregation_status"]?.iatiString,
                title: row["title"]?.iatiString,
                indicators: (indicators[r] ?? []).sorted { $0.no < $1.no }
            )
        }.sorted { $0.no < $1.no }
        // Indicators and periods whose result or indicator row is gone are not written.
        let placed = results.reduce(0) { $0 + 1 + $1.indicators.reduce(0) { $0 + 1 + $1.periods.count } }
        orphanRows =
            (children["result"]?.count ?? 0) + (children["result_indicator"]?.count ?? 0)
            + (children["indicator_period"]?.count ?? 0) - placed
    }

    /// A transaction @ref as it goes into a flow id: `%`, `/` and `#` percent-encoded, so that
    /// `<identifier>/<kind>/<ref>` and the `#<position>` of a repeated ref name one flow only.
    static func escapedRef(_ ref: String) -> String {
        ref.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F").replacingOccurrences(of: "#", with: "%23")
    }

    /// Orders an activity's flows as the file it came from had them (`position`, per kind), so
    /// that importing the export gives every flow its id back; a flow the registry made
    /// (no position) goes where its id names a position (`…/3`, `…#3`), else last, in id order.
    static func fileOrder(_ flows: [[String: Value]], identifier: String) -> [[String: Value]] {
        func place(_ row: [String: Value]) -> Int {
            if let p = row["position"]?.iatiInt64 { return Int(p) }
            let id = row["id"]?.iatiString ?? ""
            let suffix = id.split(separator: "/").last.map { $0.split(separator: "#").last ?? $0 } ?? ""
            return Int(suffix) ?? .max
        }
        let kinds = Flow.Kind.allCases.map(\.rawValue)
        return flows.sorted { a, b in
            let ka = kinds.firstIndex(of: a["kind"]?.iatiString ?? "") ?? kinds.count
            let kb = kinds.firstIndex(of: b["kind"]?.iatiString ?? "") ?? kinds.count
            if ka != kb { return ka < kb }
            let pa = place(a)
            let pb = place(b)
            if pa != pb { return pa < pb }
            return (a["id"]?.iatiString ?? "").utf8.lexicographicallyPrecedes((b["id"]?.iatiString ?? "").utf8)
        }
    }
}

/// Where each code column's value comes from in IATI XML, for messages an operator can act on.
enum IATIElements {
    /// initiative column → the element (as recorded in ``IATIActivity/lines``) it comes from.
    static let initiativeColumns: [(String, String)] = [
        ("reporting_org", "reporting-org"), ("reporting_org_type", "reporting-org"), ("default_lang", "iati-activity"),
        ("default_currency", "iati-activity"), ("hierarchy", "iati-activity"), ("last_updated", "iati-activity"),
        ("status", "activity-status"), ("collaboration_type", "collaboration-type"), ("flow_type", "default-flow-type"),
        ("finance_type", "default-finance-type"), ("aid_type", "default-aid-type"),
        ("planned_start", "activity-date"), ("actual_start", "activity-date"), ("planned_end", "activity-date"),
        ("actual_end", "activity-date"), ("parent", "related-activity"),
    ]

    /// The XML spelling of a column's value in a row of `table`, e.g. `activity-status/@code`.
    static func path(table: String, column: String, row: [String: Value]) -> String {
        switch (table, column) {
        case ("initiative", "reporting_org_type"): return "reporting-org/@type"
        case ("initiative", "default_currency"): return "iati-activity/@default-currency"
        case ("initiative", "status"): return "activity-status/@code"
        case ("initiative", "collaboration_type"): return "collaboration-type/@code"
        case ("initiative", "flow_type"): return "default-flow-type/@code"
        case ("initiative", "finance_type"): return "default-finance-type/@code"
        case ("initiative", "aid_type"): return "default-aid-type/@code"
        case ("organisation", "type"), ("participation", "org_type"): return "participating-org/@type"
        case ("participation", "iati_role"): return "participating-org/@role"
        case ("recipient_country", "country"): return "recipient-country/@code"
        case ("recipient_region", "region"): return "recipient-region/@code"
        case ("classification", _): return "\(row["scheme"]?.iatiString ?? "sector")/@\(column)"
        case ("flow", "transaction_type"): return "transaction/transaction-type/@code"
        case ("flow", "budget_type"): return "\(row["kind"]?.iatiString ?? "budget")/@type"
        case ("flow", "budget_status"): return "budget/@status"
        case ("flow", "currency"): return "\(row["kind"]?.iatiString ?? "transaction")/value/@currency"
        default: return "\(table).\(column)"
        }
    }
}

extension Value {
    /// Text, or null when absent.
    static func iati(_ s: String?) -> Value { s.map(Value.text) ?? .null }
    /// A real, or null when absent.
    static func iati(_ d: Double?) -> Value { d.map(Value.real) ?? .null }

    /// Text as it would be written in XML; numbers in their plain spelling.
    var iatiString: String? {
        switch self {
        case .text(let s): return s
        case .integer(let i): return String(i)
        case .real(let d): return IATIDecimal.format(d)
        case .null, .blob: return nil
        }
    }

    var iatiDouble: Double? {
        switch self {
        case .real(let d): return d
        case .integer(let i): return Double(i)
        case .text(let s): return Double(s)
        case .null, .blob: return nil
        }
    }

    var iatiInt64: Int64? {
        switch self {
        case .integer(let i): return i
        case .real(let d): return d == d.rounded() && abs(d) < 9e18 ? Int64(d) : nil
        case .text(let s): return Int64(s)
        case .null, .blob: return nil
        }
    }
}

/// Numbers in `xsd:decimal` spelling: no exponent, no `inf`/`nan`; exact, so that reading
/// the number back gives the same double.
enum IATIDecimal {
    static func format(_ d: Double) -> String? {
        guard d.isFinite else { return nil }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        let shortest = "\(d)"  // Swift's shortest round-trip spelling, maybe with an exponent
        guard let e = shortest.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return shortest }
        let exponent = Int(shortest[shortest.index(after: e)...])!
        var mantissa = String(shortest[..<e])
        let negative = mantissa.hasPrefix("-")
        if negative { mantissa.removeFirst() }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts[0])
        let fracPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = intPart + fracPart
        var point = intPart.count + exponent  // position of the decimal point within digits
        if point <= 0 {
            digits = String(repeating: "0", count: -point + 1) + digits
            point = 1
        } else if point > digits.count {
            digits += String(repeating: "0", count: point - digits.count)
        }
        var integer = String(digits.prefix(point))
        var fraction = String(digits.dropFirst(point))
        while fraction.hasSuffix("0") { fraction.removeLast() }
        while integer.count > 1, integer.hasPrefix("0") { integer.removeFirst() }
        return (negative ? "-" : "") + integer + (fraction.isEmpty ? "" : "." + fraction)
    }
}
