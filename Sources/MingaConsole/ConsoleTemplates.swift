import Mustache

/// The templates, compiled once from the files embedded in the binary (Templates/), so a
/// node installed as one file still has its console.
enum ConsoleTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        let files: [(String, [UInt8])] = [
            ("layout-top", PackageResources.layout_top_mustache), ("layout-bottom", PackageResources.layout_bottom_mustache),
            ("signin", PackageResources.signin_mustache), ("overview", PackageResources.overview_mustache),
            ("conflicts", PackageResources.conflicts_mustache), ("conflict", PackageResources.conflict_mustache),
            ("records", PackageResources.records_mustache), ("record", PackageResources.record_mustache),
            ("roster", PackageResources.roster_mustache), ("message", PackageResources.message_mustache),
        ]
        for (name, bytes) in files {
            // A template that does not parse is a build defect; ConsoleTests render every page.
            try! library.register(String(decoding: bytes, as: UTF8.self), named: name)
        }
        return library
    }()

    static let stylesheet = PackageResources.console_css

    static func render(_ view: Any, _ template: String) -> String {
        library.render(view, withTemplate: template) ?? "template \(template) is missing"
    }
}
