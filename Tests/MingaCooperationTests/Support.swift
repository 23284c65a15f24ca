import Foundation
import MingaCooperation
import MingaCore
import MingaStore
import MingaTestSupport

extension Fixture {
    /// A replica with the cooperation schema, `node.db` in a fresh temporary directory; the
    /// caller removes `directory` when done.
    static func cooperationReplica(_ node: String = "mx.amexcid") throws -> (replica: Replica, directory: URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("minga-coop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return (try Cooperation.createReplica(at: dir.appendingPathComponent("node.db").path, nodeID: try NodeID(node)), dir)
    }

    /// Changes to the registry's rows (the schema's own migrations, `minga_schema`, aside).
    static func changeCount(_ r: Replica) throws -> Int {
        try r.changes(above: VersionVector(), limit: .max, maxBytes: .max).filter { $0.table != "minga_schema" }.count
    }
}
