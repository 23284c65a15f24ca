import Foundation
import MingaCore
import MingaStore

/// The cooperation registry: Minga's default schema and the rules that tie its columns to
/// the IATI codelists.
public enum Cooperation {
    /// Which column holds codes of which IATI codelist (optionally only for rows where other
    /// columns hold given values, e.g. sector codes under vocabulary 1).
    public static let codeRules: [CodeRule] = [
        CodeRule(table: "organisation", column: "type", list: "OrganisationType"),
        CodeRule(table: "organisation", column: "country", list: "Country"),
        CodeRule(table: "initiative", column: "reporting_org_type", list: "OrganisationType"),
        CodeRule(table: "initiative", column: "default_currency", list: "Currency"),
        CodeRule(table: "initiative", column: "status", list: "ActivityStatus"),
        CodeRule(table: "initiative", column: "collaboration_type", list: "CollaborationType"),
        CodeRule(table: "initiative", column: "flow_type", list: "FlowType"),
        CodeRule(table: "initiative", column: "finance_type", list: "FinanceType"),
        CodeRule(table: "initiative", column: "aid_type", list: "AidType"),
        CodeRule(table: "initiative", column: "sdg_main", list: "UNSDG-Goals"),
        CodeRule(table: "initiative", column: "sdg_secondary", list: "UNSDG-Goals"),
        CodeRule(table: "participation", column: "iati_role", list: "OrganisationRole"),
        CodeRule(table: "participation", column: "org_type", list: "OrganisationType"),
        CodeRule(table: "recipient_country", column: "country", list: "Country"),
        CodeRule(table: "recipient_region", column: "region", list: "Region", when: ["vocabulary": "1"]),
        CodeRule(table: "classification", column: "vocabulary", list: "SectorVocabulary", when: ["scheme": "sector"]),
        CodeRule(table: "classification", column: "code", list: "Sector", when: ["scheme": "sector", "vocabulary": "1"]),
        CodeRule(table: "classification", column: "code", list: "UNSDG-Goals", when: ["scheme": "sector", "vocabulary": "7"]),
        CodeRule(table: "financing_instrument", column: "currency", list: "Currency"),
        CodeRule(table: "instrument_member", column: "currency", list: "Currency"),
        CodeRule(table: "instrument_financing", column: "currency", list: "Currency"),
        CodeRule(table: "flow", column: "transaction_type", list: "TransactionType"),
        CodeRule(table: "flow", column: "budget_type", list: "BudgetType"),
        CodeRule(table: "flow", column: "budget_status", list: "BudgetStatus"),
        CodeRule(table: "flow", column: "currency", list: "Currency"),
        CodeRule(table: "flow", column: "sector_vocabulary", list: "SectorVocabulary"),
        CodeRule(table: "flow", column: "sector", list: "Sector", when: ["sector_vocabulary": "1"]),
        CodeRule(table: "flow", column: "recipient_country", list: "Country"),
        CodeRule(table: "flow", column: "recipient_region", list: "Region"),
        CodeRule(table: "flow", column: "flow_type", list: "FlowType"),
        CodeRule(table: "flow", column: "finance_type", list: "FinanceType"),
        CodeRule(table: "flow", column: "aid_type", list: "AidType"),
    ]

    /// Creates a replica with the cooperation schema, its migrations and its reference data.
    public static func createReplica(at path: String, nodeID: NodeID) throws -> Replica {
        let replica = try Replica.create(at: path, nodeID: nodeID, schemaSQL: schemaSQL)
        try replica.applyBuiltInMigrations(migrations)
        try installReferenceData(replica)
        return replica
    }

    /// The version of the registry's first schema, which every registry node was created
    /// from (protocol/README.md §20).
    public static let genesisVersion = Replica.genesisVersion(of: schemaSQL)

    /// The registry's schema changes since its first release, oldest first: each a file of
    /// additive migrations (protocol §20). A release appends; it never edits one shipped.
    public static let migrations: [String] = [
        // 0.10: IATI 2.03 without loss (protocol/README.md §21). Results, their indicators and
        // periods, locations, document-links, policy markers and a transaction's own details as
        // columns; everything else of an activity, as written, in iati_part.
        """
        -- result: a result the initiative reports, by its place among the activity's results.
        CREATE TABLE result(
            initiative TEXT NOT NULL,
            result_no INTEGER NOT NULL,     -- 1, 2, … in the file's order
            type TEXT,                      -- @type (ResultType: 1 output, 2 outcome, 3 impact, 9 other)
            aggregation_status TEXT,        -- @aggregation-status, as written
            title TEXT,                     -- title/narrative in the activity's default language
            PRIMARY KEY (initiative, result_no)
        );
        -- result_indicator: how a result is measured; the first baseline.
        CREATE TABLE result_indicator(
            initiative TEXT NOT NULL,
            result_no INTEGER NOT NULL,
            indicator_no INTEGER NOT NULL,  -- 1, 2, … within the result
            measure TEXT,                   -- @measure (IndicatorMeasure: 1 unit, 2 percentage, 5 qualitative …)
            ascending TEXT,                 -- @ascending, as written
            aggregation_status TEXT,
            title TEXT,                     -- title/narrative in the default language
            baseline_year TEXT,             -- baseline/@year
            baseline_date TEXT,             -- baseline/@iso-date
            baseline_value REAL,            -- baseline/@value
            PRIMARY KEY (initiative, result_no, indicator_no)
        );
        -- indicator_period: an indicator's target and actual value for a period (the first of each).
        CREATE TABLE indicator_period(
            initiative TEXT NOT NULL,
            result_no INTEGER NOT NULL,
            indicator_no INTEGER NOT NULL,
            period_no INTEGER NOT NULL,     -- 1, 2, … within the indicator
            period_start TEXT,              -- period-start/@iso-date
            period_end TEXT,                -- period-end/@iso-date
            target REAL,                    -- target/@value
            actual REAL,                    -- actual/@value
            PRIMARY KEY (initiative, result_no, indicator_no, period_no)
        );
        -- location: where the initiative takes place (location), by its place in the file.
        CREATE TABLE location(
            initiative TEXT NOT NULL,
            location_no INTEGER NOT NULL,   -- 1, 2, … in the file's order
            ref TEXT,                       -- @ref
            name TEXT,                      -- name/narrative in the default language
            reach TEXT,                     -- location-reach/@code (GeographicLocationReach)
            exactness TEXT,                 -- exactness/@code (GeographicExactness)
            location_class TEXT,            -- location-class/@code (GeographicLocationClass)
            feature_designation TEXT,       -- feature-designation/@code
            point TEXT,                     -- point/pos: "latitude longitude" (WGS 84)
            PRIMARY KEY (initiative, location_no)
        );
        -- document_link: a document about the initiative, by its place in the file.
        CREATE TABLE document_link(
            initiative TEXT NOT NULL,
            link_no INTEGER NOT NULL,       -- 1, 2, … in the file's order
            url TEXT,                       -- @url
            format TEXT,                    -- @format (a MIME type)
            title TEXT,                     -- title/narrative in the default language
            category TEXT,                  -- category/@code (DocumentCategory; the first)
            language TEXT,                  -- language/@code (the first)
            document_date TEXT,             -- document-date/@iso-date
            PRIMARY KEY (initiative, link_no)
        );
        -- policy_marker: a policy objective and how significant it is to the initiative.
        CREATE TABLE policy_marker(
            initiative TEXT NOT NULL,
            vocabulary TEXT NOT NULL,       -- @vocabulary (PolicyMarkerVocabulary; 1 OECD DAC CRS when absent)
            code TEXT NOT NULL,             -- @code (PolicyMarker when vocabulary is 1)
            significance TEXT,              -- @significance (PolicySignificance)
            PRIMARY KEY (initiative, vocabulary, code)
        );
        -- A transaction's own details (transaction/…; the first of each that repeats).
        ALTER TABLE flow ADD COLUMN humanitarian TEXT;          -- @humanitarian, as written
        ALTER TABLE flow ADD COLUMN sector_vocabulary TEXT;     -- sector/@vocabulary (SectorVocabulary; 1 when absent)
        ALTER TABLE flow ADD COLUMN sector TEXT;                -- sector/@code
        ALTER TABLE flow ADD COLUMN recipient_country TEXT;     -- recipient-country/@code (Country)
        ALTER TABLE flow ADD COLUMN recipient_region TEXT;      -- recipient-region/@code (Region, vocabulary 1)
        ALTER TABLE flow ADD COLUMN flow_type TEXT;             -- flow-type/@code (FlowType)
        ALTER TABLE flow ADD COLUMN finance_type TEXT;          -- finance-type/@code (FinanceType)
        ALTER TABLE flow ADD COLUMN aid_type TEXT;              -- aid-type/@code, vocabulary 1 (AidType)
        ALTER TABLE flow ADD COLUMN tied_status TEXT;           -- tied-status/@code (TiedStatus)
        ALTER TABLE flow ADD COLUMN disbursement_channel TEXT;  -- disbursement-channel/@code
        ALTER TABLE flow ADD COLUMN position INTEGER;           -- its place among its kind in the file it came from
        -- iati_part: what of an iati-activity no column holds, as written, one row per element
        -- occurrence: path says where ('result(1)/indicator(2)/period(1)/target/comment[1]',
        -- 'transaction(3)/sector[2]', 'participating-org[1]' for one without @ref, '' the
        -- activity); own = 1 an element no table holds, with all its attributes and text;
        -- own = 0 more of one a table holds: its other attributes and text;
        -- attributes a JSON object ({"code": "1", "xml:lang": "es"}) or NULL;
        -- spelling: how the file wrote values a column holds, by attribute ("text()" for the
        -- element's text), a JSON object ({"percentage": "50.0"}) or NULL, used only while
        -- the column holds the same value.
        CREATE TABLE iati_part(
            initiative TEXT NOT NULL,
            path TEXT NOT NULL,
            own INTEGER NOT NULL CHECK (own IN (0, 1)),
            attributes TEXT CHECK (attributes IS NULL OR json_valid(attributes)),
            text TEXT,
            spelling TEXT CHECK (spelling IS NULL OR json_valid(spelling)),
            PRIMARY KEY (initiative, path)
        );
        """
    ]

    /// Brings a registry node to this release's schema when it is opened: applies the
    /// migrations it does not hold yet as its own (every node doing so issues the same ones,
    /// which merge into one), then installs this release's reference data. Its data, log and
    /// signatures are untouched. Does nothing to a node of another schema.
    ///
    /// - Returns: the migrations applied.
    @discardableResult
    public static func upgrade(_ replica: Replica, migrations: [String] = Cooperation.migrations) throws -> [Migration] {
        guard replica.genesisVersion == genesisVersion else { return [] }
        let applied = try replica.applyBuiltInMigrations(migrations)
        if !applied.isEmpty { try installReferenceData(replica) }
        return applied
    }

    /// Installs the IATI codelists and code rules this release ships.
    public static func installReferenceData(_ replica: Replica) throws {
        try replica.installReferenceData(codelists: Codelists.items.map { CodelistItem(list: $0.0, code: $0.1, name: $0.2) }, rules: codeRules)
    }
}

/// The IATI codelists shipped with Minga (CC BY 4.0, IATI Standard).
public enum Codelists {}
