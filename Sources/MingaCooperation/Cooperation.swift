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
        // 0.10: IATI without loss. What of an iati-activity no column holds, kept as written:
        // one row per element occurrence, found by its path below iati-activity (see
        // IATIPart and protocol/README.md §21): 'result[2]/indicator[1]/period[3]/actual[1]',
        // 'transaction(3)/sector[1]', 'participating-org[1]' (one without @ref), ''.
        // own = 1: an element no table holds, with all its attributes and its text;
        // own = 0: more of an element a table holds (other attributes, values as written).
        // attributes is a JSON object ({"code": "1", "xml:lang": "es"}), or NULL.
        """
        CREATE TABLE iati_part(
            initiative TEXT NOT NULL,
            path TEXT NOT NULL,
            own INTEGER NOT NULL CHECK (own IN (0, 1)),
            attributes TEXT CHECK (attributes IS NULL OR json_valid(attributes)),
            text TEXT,
            PRIMARY KEY (initiative, path)
        )
        """,
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
