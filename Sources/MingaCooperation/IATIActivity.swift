import MingaCore

/// One `iati-activity`: the fields that Minga's cooperation tables keep as columns, and the
/// rest as ``IATIPart``s kept as written (protocol/README.md §21). ``IATIReader`` fills it from XML and
/// ``IATIXMLWriter`` writes it back; `rows()` and `init(initiative:reportingOrgName:…)` (in
/// IATIActivity+Rows.swift) are the one place where IATI fields meet table columns, so that
/// import and export cannot drift apart.
struct IATIActivity {
    /// A narrative of the title or a description: one `initiative_text` row.
    struct Text {
        /// `title` or `description/N` (N the DescriptionType code).
        var element: String
        /// The narrative's `xml:lang`, else the activity's default language, else "" (the
        /// file declared neither, which IATI forbids but real files do).
        var lang: String
        var text: String
        var line: Int
        /// The element in ``IATIActivity/source`` (read from a file only).
        var node: Int? = nil
    }

    struct ReportingOrg {
        var ref: String?
        var type: String?
        /// The narrative in the activity's default language (else the first one).
        var name: String?
        var line: Int
    }

    struct Participant {
        var ref: String
        var role: String
        var type: String?
        var activityID: String?
        var name: String?
        var line: Int
        /// The element in ``IATIActivity/source`` (read from a file only).
        var node: Int? = nil
    }

    struct Country {
        var code: String
        var percentage: Double?
        var line: Int
        /// The element in ``IATIActivity/source`` (read from a file only).
        var node: Int? = nil
    }

    struct Region {
        var vocabulary: String
        var code: String
        var percentage: Double?
        var line: Int
        /// The element in ``IATIActivity/source`` (read from a file only).
        var node: Int? = nil
    }

    /// A `sector` or a `tag`.
    struct Classification {
        var scheme: String
        var vocabulary: String
        var code: String
        var percentage: Double?
        var line: Int
        /// The element in ``IATIActivity/source`` (read from a file only).
        var node: Int? = nil
    }

    /// A `budget`, `planned-disbursement` or `transaction`.
    struct Flow {
        enum Kind: String, CaseIterable {
            case budget
            case plannedDisbursement = "planned-disbursement"
            case transaction
        }

        var kind: Kind
        var ref: String?
        var transactionType: String?
        var budgetType: String?
        var budgetStatus: String?
        var value: Double?
        var currency: String?
        var valueDate: String?
        var transactionDate: String?
        var periodStart: String?
        var periodEnd: String?
        var providerOrg: String?
        var providerActivity: String?
        var receiverOrg: String?
        var receiverActivity: String?
        var description: String?
        /// A transaction's own details (the first of each that repeats).
        var humanitarian: String?
        var sectorVocabulary: String?
        var sector: String?
        var recipientCountry: String?
        var recipientRegion: String?
        var flowType: String?
        var financeType: String?
        var aidType: String?
        var tiedStatus: String?
        var disbursementChannel: String?
        var line: Int
        /// The element in ``IATIActivity/source`` (read from a file only).
        var node: Int? = nil
        /// The `flow` row's id (loaded from the registry only).
        var id: String? = nil
    }

    /// A `result`, with its indicators and their periods; `no` its place from 1.
    struct Result {
        var no: Int
        var type: String?
        var aggregationStatus: String?
        var title: String?
        var indicators: [Indicator] = []
        var node: Int? = nil
    }

    struct Indicator {
        var no: Int
        var measure: String?
        var ascending: String?
        var aggregationStatus: String?
        var title: String?
        var baselineYear: String?
        var baselineDate: String?
        var baselineValue: Double?
        var periods: [Period] = []
    }

    struct Period {
        var no: Int
        var start: String?
        var end: String?
        var target: Double?
        var actual: Double?
    }

    struct Location {
        var no: Int
        var ref: String?
        var name: String?
        var reach: String?
        var exactness: String?
        var locationClass: String?
        var featureDesignation: String?
        /// `point/pos`: "latitude longitude".
        var point: String?
    }

    struct DocumentLink {
        var no: Int
        var url: String?
        var format: String?
        var title: String?
        var category: String?
        var language: String?
        var documentDate: String?
    }

    struct PolicyMarker {
        var vocabulary: String
        var code: String
        var significance: String?
        var line: Int
        var node: Int? = nil
    }

    var identifier: String
    /// Where the activity starts in its file (0 when it comes from the registry).
    var line: Int
    var lang: String?
    var defaultCurrency: String?
    var hierarchy: Int64?
    var lastUpdated: String?
    var reportingOrg: ReportingOrg?
    var texts: [Text] = []
    var participants: [Participant] = []
    var status: String?
    /// `activity-date/@iso-date` by `@type` (ActivityDateType 1–4).
    var dates: [String: String] = [:]
    var collaborationType: String?
    var flowType: String?
    var financeType: String?
    /// `default-aid-type` of vocabulary 1 (AidType) only.
    var aidType: String?
    var countries: [Country] = []
    var regions: [Region] = []
    var classifications: [Classification] = []
    /// `related-activity` of type 1 (parent).
    var parent: String?
    var flows: [Flow] = []
    var results: [Result] = []
    var locations: [Location] = []
    var documentLinks: [DocumentLink] = []
    var policyMarkers: [PolicyMarker] = []
    /// Where single-valued elements were found, by element name, for error messages.
    var lines: [String: Int] = [:]
    /// The activity's elements as read, marked with what the fields above hold (read from a
    /// file only): the source of its ``IATIPart``s.
    var source: IATISourceTree?
    /// What the tables do not hold, kept as written (loaded from `iati_part` for an export).
    var parts: [IATIPart] = []
    /// Rows of `result_indicator` or `indicator_period` whose result or indicator row is gone.
    var orphanRows = 0

    init(identifier: String, line: Int) {
        self.identifier = identifier
        self.line = line
    }
}

/// Table facts the mapping shares. The `initiative` columns an IATI file holds are those of
/// ``IATIElements/initiativeColumns``; the others (SEGIB modality and instrument, SDGs) are
/// the registry's own: an import never writes them and an export never reads them.
enum IATIColumns {
    /// The initiative's date columns by ActivityDateType code.
    static let dateColumns: [(type: String, column: String)] = [
        ("1", "planned_start"), ("2", "actual_start"), ("3", "planned_end"), ("4", "actual_end"),
    ]

    /// The child tables an activity owns wholly: a re-import replaces their rows.
    static let childTables = [
        "initiative_text", "participation", "recipient_country", "recipient_region", "classification", "flow",
        "result", "result_indicator", "indicator_period", "location", "document_link", "policy_marker", "iati_part",
    ]
}
