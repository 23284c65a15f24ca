import Foundation

/// The console's words in each language it speaks: one JSON catalog per language in
/// Locales/, the same keys in each (a test checks), chosen per request.
struct ConsoleText: Sendable {
    /// Languages offered, the first the fallback.
    static let languages = ["en", "es", "pt"]

    static let catalogs: [String: [String: String]] = [
        "en": load(PackageResources.en_json), "es": load(PackageResources.es_json), "pt": load(PackageResources.pt_json),
    ]

    let language: String
    let words: [String: String]

    init(language: String) {
        self.language = Self.catalogs[language] == nil ? "en" : language
        words = Self.catalogs[self.language]!
    }

    /// A word or sentence by key; `{0}`, `{1}` … are replaced by `arguments`. A missing key
    /// shows itself, so a gap is visible rather than blank.
    func callAsFunction(_ key: String, _ arguments: String...) -> String {
        var text = words[key] ?? Self.catalogs["en"]![key] ?? key
        for (i, argument) in arguments.enumerated() { text = text.replacingOccurrences(of: "{\(i)}", with: argument) }
        return text
    }

    /// The language to use: an explicit choice (`?lang=` or the cookie it set) if offered,
    /// else the best of the browser's Accept-Language (RFC 9110 §12.5.4: quality values,
    /// primary subtags), else English.
    static func negotiate(choice: String?, acceptLanguage: String?) -> String {
        if let choice, languages.contains(choice) { return choice }
        var best: (language: String, quality: Double)?
        for (position, item) in (acceptLanguage ?? "").split(separator: ",").enumerated() {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = parts.first else { continue }  // ";" alone: no language
            let primary = tag.split(separator: "-").first.map { String($0).lowercased() } ?? ""
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            guard languages.contains(primary), quality > 0 else { continue }
            // Among equal qualities the earlier wins (`position` breaks the tie by order).
            let score = quality - Double(position) * 1e-6
            if best == nil || score > best!.quality { best = (primary, score) }
        }
        return best?.language ?? "en"
    }

    private static func load(_ bytes: [UInt8]) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(bytes))) ?? [:]
    }
}
