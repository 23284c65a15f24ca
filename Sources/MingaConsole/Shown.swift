import Foundation
import MingaCore

/// How values and times read on a page.
enum Shown {
    static func time(_ date: Date?) -> String {
        guard let date else { return "—" }
        return date.formatted(.iso8601)
    }

    static func vector(_ vector: VersionVector) -> String {
        vector.isEmpty ? "—" : vector.origins.map { "\($0):\(vector[$0])" }.joined(separator: "  ")
    }
}
