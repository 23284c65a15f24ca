import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show this node: its id, version vector, change log and open conflicts."
    )

    @OptionGroup var replica: ReplicaOptions
    @Flag(help: "Print a JSON object (nodeId, vector, schemaVersion, changes, openConflicts, rows).") var json = false

    func run() async throws {
        try operate {
            let s = try replica.open().status()
            if json {
                let rows = s.rows.keys.sorted().map { "\(JSONText.quote($0)):\(s.rows[$0]!)" }.joined(separator: ",")
                print("{\"nodeId\":\(JSONText.quote(s.nodeID.rawValue)),\"schemaVersion\":\(JSONText.quote(s.schemaVersion)),"
                    + "\"vector\":\(s.vector.canonicalJSON),\"changes\":\(s.changes),\"openConflicts\":\(s.openConflicts),"
                    + "\"lastHlc\":\(s.lastHLC.map { JSONText.quote($0.description) } ?? "null"),\"rows\":{\(rows)}}")
            } else {
                print("node       \(s.nodeID)")
                print("replica    \(replica.path) (schema \(s.schemaVersion))")
                print("vector     \(Output.vector(s.vector))")
                print("changes    \(s.changes) in the log" + (s.lastHLC.map { ", latest at \($0.readable)" } ?? ""))
                print("conflicts  \(s.openConflicts) open" + (s.openConflicts > 0 ? " (minga conflicts list)" : ""))
                print("tables     " + s.rows.keys.sorted().map { "\($0) \(s.rows[$0]!) rows" }.joined(separator: ", "))
            }
        }
    }
}
