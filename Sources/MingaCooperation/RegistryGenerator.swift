import Foundation
import MingaCore
import MingaStore

/// Realistic synthetic cooperation registries of any size, the same for the same seed:
/// agencies of Latin America and the Caribbean, joint funds, triangular, bilateral and
/// regional initiatives with their participants, countries, sectors and money flows.
/// Tests and benchmarks use it; `minga generate` loads one into a node.
public struct RegistryGenerator: Sendable {
    /// The agencies taking part, with their IATI organisation identifiers and countries.
    public static let agencies: [(ref: String, name: String, country: String)] = [
        ("XM-DAC-MX-AMEXCID", "Agencia Mexicana de Cooperación Internacional para el Desarrollo", "MX"),
        ("XM-DAC-CO-APC", "Agencia Presidencial de Cooperación Internacional de Colombia", "CO"),
        ("XM-DAC-CL-AGCID", "Agencia Chilena de Cooperación Internacional para el Desarrollo", "CL"),
        ("XM-DAC-BR-ABC", "Agência Brasileira de Cooperação", "BR"),
        ("XM-DAC-PE-APCI", "Agencia Peruana de Cooperación Internacional", "PE"),
        ("XM-DAC-UY-AUCI", "Agencia Uruguaya de Cooperación Internacional", "UY"),
        ("XM-DAC-AR-DGCIN", "Dirección General de Cooperación Internacional (Argentina)", "AR"),
        ("XM-DAC-CR-MIDEPLAN", "Ministerio de Planificación Nacional y Política Económica", "CR"),
        ("XM-DAC-DO-MEPYD", "Ministerio de Economía, Planificación y Desarrollo", "DO"),
        ("XM-DAC-SV-MRE", "Ministerio de Relaciones Exteriores de El Salvador", "SV"),
    ]

    static let themes = [
        ("Agua potable y saneamiento rural", "14030", "6"), ("Gestión del riesgo de desastres", "74020", "13"),
        ("Seguridad alimentaria y agricultura familiar", "31161", "2"), ("Salud materno-infantil", "12240", "3"),
        ("Formación técnica y profesional", "11330", "4"), ("Gobierno electrónico", "15110", "16"),
        ("Energías renovables comunitarias", "23210", "7"), ("Protección de bosques y biodiversidad", "41030", "15"),
        ("Pesca artesanal sostenible", "31320", "14"), ("Igualdad de género en el empleo", "15170", "5"),
    ]

    public var seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// One table row to write.
    public struct Row: Sendable {
        public let table: String
        public let values: [String: Value]
    }

    /// The rows of a registry of `initiatives` initiatives, in an order that writes parents first.
    public func rows(initiatives: Int) -> [Row] {
        var rng = SplitMix64(seed: seed)
        var rows = Self.organisationRows() + Self.jointFundRows()
        for i in 1...max(initiatives, 0) {
            let initiative = Initiative(number: i, rng: &rng)
            rows.append(Self.initiativeRow(initiative, rng: &rng))
            rows += Self.textRows(initiative)
            rows += Self.participationRows(initiative)
            rows += Self.classificationRows(initiative)
            rows += Self.financingRows(initiative)
        }
        return rows
    }

    /// The joint fund that finances triangular initiatives.
    private static let fund = "XM-DAC-MX-AMEXCID-FCMC"

    /// What is drawn for one initiative, from which its rows are made.
    private struct Initiative {
        let id: String
        let provider: (ref: String, name: String, country: String)
        let recipient: (ref: String, name: String, country: String)
        let theme: (String, String, String)
        let modality: String
        let year: Int
        let budget: Double

        /// Draws the initiative numbered `i`: its provider, a recipient other than the
        /// provider, its theme, modality, year and budget.
        init(number i: Int, rng: inout SplitMix64) {
            let agencies = RegistryGenerator.agencies
            let provider = agencies[Int(rng.next() % UInt64(agencies.count))]
            var recipient = agencies[Int(rng.next() % UInt64(agencies.count))]
            if recipient.ref == provider.ref {
                recipient = agencies[(agencies.firstIndex { $0.ref == provider.ref }! + 1) % agencies.count]
            }
            (self.provider, self.recipient) = (provider, recipient)
            theme = RegistryGenerator.themes[Int(rng.next() % UInt64(RegistryGenerator.themes.count))]
            modality = ["bilateral", "bilateral", "triangular", "regional"][Int(rng.next() % 4)]
            id = "\(provider.ref)-\(String(format: "%06d", i))"
            year = 2018 + Int(rng.next() % 8)
            budget = Double(10_000 * (1 + rng.next() % 200))
        }
    }

    /// The agencies, as `organisation` rows.
    private static func organisationRows() -> [Row] {
        agencies.map { a in
            Row(table: "organisation", values: ["ref": .text(a.ref), "name": .text(a.name), "type": .text("10"), "country": .text(a.country)])
        }
    }

    /// The joint fund México–Chile (`financing_instrument`) and its two contributors
    /// (`instrument_member`).
    private static func jointFundRows() -> [Row] {
        var rows: [Row] = []
        rows.append(
            Row(
                table: "financing_instrument",
                values: [
                    "id": .text(fund), "name": .text("Fondo Conjunto de Cooperación México–Chile"), "kind": .text("joint fund"),
                    "managing_org": .text("XM-DAC-MX-AMEXCID"), "currency": .text("USD"), "start_date": .text("2006-01-26"),
                    "end_date": .null, "legal_basis": .text("Acuerdo de Asociación Estratégica México–Chile (2006)"),
                ]
            )
        )
        for (ref, role) in [("XM-DAC-MX-AMEXCID", "contributor"), ("XM-DAC-CL-AGCID", "contributor")] {
            rows.append(
                Row(
                    table: "instrument_member",
                    values: [
                        "instrument": .text(fund), "org_ref": .text(ref), "role": .text(role), "contribution": .real(1_000_000),
                        "currency": .text("USD"),
                    ]
                )
            )
        }
        return rows
    }

    /// The `initiative` row; its instrument and status are drawn from `rng`.
    private static func initiativeRow(_ initiative: Initiative, rng: inout SplitMix64) -> Row {
        Row(
            table: "initiative",
            values: [
                "iati_identifier": .text(initiative.id), "reporting_org": .text(initiative.provider.ref), "reporting_org_type": .text("10"),
                "default_lang": .text("es"), "default_currency": .text("USD"), "hierarchy": .integer(1),
                "last_updated": .text("\(initiative.year)-06-30T00:00:00Z"), "modality": .text(initiative.modality),
                "instrument": .text(["programme", "project", "project", "action"][Int(rng.next() % 4)]),
                "status": .text(String(1 + rng.next() % 4)), "collaboration_type": .text("1"), "flow_type": .text("10"),
                "finance_type": .text("110"), "aid_type": .text("C01"),
                "planned_start": .text("\(initiative.year)-03-01"), "actual_start": .text("\(initiative.year)-04-15"),
                "planned_end": .text("\(initiative.year + 2)-12-31"), "actual_end": .null,
                "sdg_main": .text(initiative.theme.2), "sdg_secondary": .null, "parent": .null,
            ]
        )
    }

    /// The initiative's title and description (`initiative_text`), in Spanish.
    private static func textRows(_ initiative: Initiative) -> [Row] {
        [
            Row(
                table: "initiative_text",
                values: [
                    "initiative": .text(initiative.id), "element": .text("title"), "lang": .text("es"),
                    "text": .text("\(initiative.theme.0) — \(initiative.recipient.country)"),
                ]
            ),
            Row(
                table: "initiative_text",
                values: [
                    "initiative": .text(initiative.id), "element": .text("description/1"), "lang": .text("es"),
                    "text": .text("Cooperación \(initiative.modality) entre \(initiative.provider.name) y \(initiative.recipient.name)."),
                ]
            ),
        ]
    }

    /// The provider (IATI role 1, funding) and the recipient (role 4, implementing) as
    /// `participation` rows.
    private static func participationRows(_ initiative: Initiative) -> [Row] {
        [
            Row(
                table: "participation",
                values: [
                    "initiative": .text(initiative.id), "org_ref": .text(initiative.provider.ref), "iati_role": .text("1"),
                    "segib_role": .text(initiative.modality == "triangular" ? "first provider" : "provider"), "org_type": .text("10"),
                    "name": .text(initiative.provider.name),
                ]
            ),
            Row(
                table: "participation",
                values: [
                    "initiative": .text(initiative.id), "org_ref": .text(initiative.recipient.ref), "iati_role": .text("4"),
                    "segib_role": .text("recipient"), "org_type": .text("10"), "name": .text(initiative.recipient.name),
                ]
            ),
        ]
    }

    /// The `recipient_country` row, and the theme's DAC sector (vocabulary 1) and SDG
    /// (vocabulary 7) as `classification` rows.
    private static func classificationRows(_ initiative: Initiative) -> [Row] {
        [
            Row(
                table: "recipient_country",
                values: ["initiative": .text(initiative.id), "country": .text(initiative.recipient.country), "percentage": .real(100)]
            ),
            Row(
                table: "classification",
                values: [
                    "initiative": .text(initiative.id), "scheme": .text("sector"), "vocabulary": .text("1"), "code": .text(initiative.theme.1),
                    "percentage": .real(100),
                ]
            ),
            Row(
                table: "classification",
                values: [
                    "initiative": .text(initiative.id), "scheme": .text("sector"), "vocabulary": .text("7"), "code": .text(initiative.theme.2),
                    "percentage": .real(100),
                ]
            ),
        ]
    }

    /// A triangular initiative's share of the joint fund (`instrument_financing`), and the
    /// initiative's commitment and disbursement (`flow`, transaction types 2 and 3).
    private static func financingRows(_ initiative: Initiative) -> [Row] {
        var rows: [Row] = []
        if initiative.modality == "triangular" {
            rows.append(
                Row(
                    table: "instrument_financing",
                    values: [
                        "instrument": .text(fund), "initiative": .text(initiative.id), "amount": .real(initiative.budget / 2),
                        "currency": .text("USD"),
                    ]
                )
            )
        }
        for (n, type) in ["2", "3"].enumerated() {
            rows.append(
                Row(
                    table: "flow",
                    values: [
                        "id": .text("\(initiative.id)/transaction/\(n + 1)"), "initiative": .text(initiative.id), "kind": .text("transaction"),
                        "transaction_type": .text(type),
                        "value": .real(type == "2" ? initiative.budget : initiative.budget / 4), "currency": .text("USD"),
                        "value_date": .text("\(initiative.year)-05-0\(n + 1)"),
                        "transaction_date": .text("\(initiative.year)-05-0\(n + 1)"), "provider_org": .text(initiative.provider.ref),
                        "receiver_org": .text(initiative.recipient.ref),
                        "instrument": initiative.modality == "triangular" ? .text(fund) : .null,
                    ]
                )
            )
        }
        return rows
    }

    /// Writes a registry into `replica` in transactions of `batch` rows (every write captured).
    public func load(into replica: Replica, initiatives: Int, batch: Int = 1000, progress: (Int, Int) -> Void = { _, _ in }) throws {
        let all = rows(initiatives: initiatives)
        var start = 0
        while start < all.count {
            let slice = all[start..<min(start + batch, all.count)]
            try replica.transaction { tx in for row in slice { try tx.put(table: row.table, row: row.values) } }
            start += slice.count
            progress(start, all.count)
        }
    }
}
