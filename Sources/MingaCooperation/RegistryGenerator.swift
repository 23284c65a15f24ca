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
        var rows: [Row] = []
        for a in Self.agencies {
            rows.append(
                Row(table: "organisation", values: ["ref": .text(a.ref), "name": .text(a.name), "type": .text("10"), "country": .text(a.country)])
            )
        }
        let fund = "XM-DAC-MX-AMEXCID-FCMC"
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
        for i in 1...max(initiatives, 0) {
            let provider = Self.agencies[Int(rng.next() % UInt64(Self.agencies.count))]
            var recipient = Self.agencies[Int(rng.next() % UInt64(Self.agencies.count))]
            if recipient.ref == provider.ref {
                recipient = Self.agencies[(Self.agencies.firstIndex { $0.ref == provider.ref }! + 1) % Self.agencies.count]
            }
            let theme = Self.themes[Int(rng.next() % UInt64(Self.themes.count))]
            let modality = ["bilateral", "bilateral", "triangular", "regional"][Int(rng.next() % 4)]
            let id = "\(provider.ref)-\(String(format: "%06d", i))"
            let year = 2018 + Int(rng.next() % 8)
            let budget = Double(10_000 * (1 + rng.next() % 200))
            rows.append(
                Row(
                    table: "initiative",
                    values: [
                        "iati_identifier": .text(id), "reporting_org": .text(provider.ref), "reporting_org_type": .text("10"),
                        "default_lang": .text("es"), "default_currency": .text("USD"), "hierarchy": .integer(1),
                        "last_updated": .text("\(year)-06-30T00:00:00Z"), "modality": .text(modality),
                        "instrument": .text(["programme", "project", "project", "action"][Int(rng.next() % 4)]),
                        "status": .text(String(1 + rng.next() % 4)), "collaboration_type": .text("1"), "flow_type": .text("10"),
                        "finance_type": .text("110"), "aid_type": .text("C01"),
                        "planned_start": .text("\(year)-03-01"), "actual_start": .text("\(year)-04-15"),
                        "planned_end": .text("\(year + 2)-12-31"), "actual_end": .null,
                        "sdg_main": .text(theme.2), "sdg_secondary": .null, "parent": .null,
                    ]
                )
            )
            rows.append(
                Row(
                    table: "initiative_text",
                    values: [
                        "initiative": .text(id), "element": .text("title"), "lang": .text("es"), "text": .text("\(theme.0) — \(recipient.country)"),
                    ]
                )
            )
            rows.append(
                Row(
                    table: "initiative_text",
                    values: [
                        "initiative": .text(id), "element": .text("description/1"), "lang": .text("es"),
                        "text": .text("Cooperación \(modality) entre \(provider.name) y \(recipient.name)."),
                    ]
                )
            )
            rows.append(
                Row(
                    table: "participation",
                    values: [
                        "initiative": .text(id), "org_ref": .text(provider.ref), "iati_role": .text("1"),
                        "segib_role": .text(modality == "triangular" ? "first provider" : "provider"), "org_type": .text("10"),
                        "name": .text(provider.name),
                    ]
                )
            )
            rows.append(
                Row(
                    table: "participation",
                    values: [
                        "initiative": .text(id), "org_ref": .text(recipient.ref), "iati_role": .text("4"),
                        "segib_role": .text("recipient"), "org_type": .text("10"), "name": .text(recipient.name),
                    ]
                )
            )
            rows.append(
                Row(table: "recipient_country", values: ["initiative": .text(id), "country": .text(recipient.country), "percentage": .real(100)])
            )
            rows.append(
                Row(
                    table: "classification",
                    values: [
                        "initiative": .text(id), "scheme": .text("sector"), "vocabulary": .text("1"), "code": .text(theme.1),
                        "percentage": .real(100),
                    ]
                )
            )
            rows.append(
                Row(
                    table: "classification",
                    values: [
                        "initiative": .text(id), "scheme": .text("sector"), "vocabulary": .text("7"), "code": .text(theme.2),
                        "percentage": .real(100),
                    ]
                )
            )
            if modality == "triangular" {
                rows.append(
                    Row(
                        table: "instrument_financing",
                        values: ["instrument": .text(fund), "initiative": .text(id), "amount": .real(budget / 2), "currency": .text("USD")]
                    )
                )
            }
            for (n, type) in ["2", "3"].enumerated() {
                rows.append(
                    Row(
                        table: "flow",
                        values: [
                            "id": .text("\(id)/transaction/\(n + 1)"), "initiative": .text(id), "kind": .text("transaction"),
                            "transaction_type": .text(type),
                            "value": .real(type == "2" ? budget : budget / 4), "currency": .text("USD"), "value_date": .text("\(year)-05-0\(n + 1)"),
                            "transaction_date": .text("\(year)-05-0\(n + 1)"), "provider_org": .text(provider.ref),
                            "receiver_org": .text(recipient.ref),
                            "instrument": modality == "triangular" ? .text(fund) : .null,
                        ]
                    )
                )
            }
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
