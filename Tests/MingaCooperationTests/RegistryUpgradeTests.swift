import Foundation
import MingaCooperation
import MingaCore
import MingaStore
import Testing

/// The registry's own schema changes ship as migrations (protocol/README.md §20): every
/// registry node opened by a release that lists more applies them as its own, and the
/// identical migrations of all nodes merge into one.
@Suite struct RegistryUpgradeTests {
    /// A release after this one: this release's migrations, and one more file.
    static let release =
        Cooperation.migrations + [
            "ALTER TABLE initiative ADD COLUMN gender_marker TEXT; CREATE TABLE outcome(id TEXT PRIMARY KEY, initiative TEXT, title TEXT)"
        ]

    static func node(_ id: String, in dir: URL) throws -> Replica {
        try Cooperation.createReplica(at: dir.appendingPathComponent("\(id).db").path, nodeID: try NodeID(id))
    }

    static func sync(from: Replica, to: Replica) throws {
        try to.apply(ChangeBatch(changes: try from.changes(above: try to.vector(), limit: .max, maxBytes: .max)))
    }

    @Test func everyNodeTakesTheReleasesMigrationsAndTheyMergeIntoOne() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("minga-upgrade-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let mx = try Self.node("mx.amexcid", in: dir)
        let co = try Self.node("co.apc", in: dir)
        try mx.addToRoster(co.nodeID, key: co.publicKey!)
        try co.addToRoster(mx.nodeID, key: mx.publicKey!)
        try mx.put(table: "initiative", row: ["iati_identifier": .text("XM-DAC-1-1"), "status": .text("2")])
        try Self.sync(from: mx, to: co)
        let signedBefore = try mx.changes(above: VersionVector(), limit: .max, maxBytes: .max)

        // Both open with the new release, before either hears of the other's upgrade.
        #expect(try Cooperation.upgrade(mx, migrations: Self.release).map(\.subject) == ["column initiative.gender_marker", "table outcome"])
        #expect(try Cooperation.upgrade(mx, migrations: Self.release).isEmpty, "applied once")
        #expect(try Cooperation.upgrade(co, migrations: Self.release).count == 2)
        try mx.put(table: "initiative", row: ["iati_identifier": .text("XM-DAC-1-1"), "gender_marker": .text("1")])
        try co.put(table: "outcome", row: ["id": .text("R1"), "initiative": .text("XM-DAC-1-1")])
        try Self.sync(from: mx, to: co)
        try Self.sync(from: co, to: mx)

        #expect(try mx.conflicts(includeResolved: true).isEmpty, "the same migration from two nodes is one")
        #expect(mx.schemaVersion == co.schemaVersion && mx.schemaVersion != mx.genesisVersion)
        #expect(try mx.dump() == co.dump())
        #expect(
            try mx.changes(above: VersionVector(), limit: signedBefore.count, maxBytes: .max) == signedBefore,
            "the log before the upgrade is untouched"
        )
        #expect(try Set(mx.query("SELECT DISTINCT list FROM minga_codelist").rows.map { $0[0] }).count == 18, "reference data still there")
    }

    @Test func aNodeOfAnotherSchemaIsLeftAlone() throws {
        let r = try Replica.inMemory(nodeID: try NodeID("mx.amexcid"), schemaSQL: "CREATE TABLE initiative(id TEXT PRIMARY KEY);")
        #expect(try Cooperation.upgrade(r, migrations: Self.release).isEmpty)
        #expect(r.schemaVersion == r.genesisVersion)
    }
}
