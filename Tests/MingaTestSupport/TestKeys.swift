import Foundation
import MingaCore
import MingaStore

/// The test federation's keys: each node's signing key derives from its id, so every test
/// target signs and verifies the same way without key files, and each replica's roster
/// lists the members it syncs with.
public enum TestKeys {
    public static let members =
        ["mx.amexcid", "co.apc", "cl.agcid", "br.abc", "pe.apci", "uy.auci", "zz.observer", "a", "b", "c", "d", "e"]
        + (0..<8).map { "n\($0)" }

    public static func key(_ id: String) -> SigningKey {
        try! SigningKey(rawRepresentation: SHA256Digest.hash(Array("minga-test-key:\(id)".utf8)))
    }

    /// Adds `ids` (every member by default) to the replica's roster with their keys.
    public static func enrol(_ replica: Replica, _ ids: [String] = members) throws {
        for id in ids { try replica.addToRoster(try NodeID(id), key: key(id).publicKey) }
    }

    /// An in-memory replica of node `id` on `schema`, signing with its test key, whose roster
    /// lists `roster`.
    public static func replica(_ id: String, schema: String, roster: [String] = members) throws -> Replica {
        let replica = try Replica.inMemory(nodeID: try NodeID(id), schemaSQL: schema, key: key(id))
        try enrol(replica, roster)
        return replica
    }

    /// Signs every change as its origin would: one hash chain per origin in seq order (each
    /// origin's changes must start at seq 1), every change signed. The order is kept.
    public static func signed(_ changes: [Change]) throws -> [Change] {
        var links: [NodeID: [UInt8]] = [:]
        var signatures: [Dot: Data] = [:]
        for change in changes.sorted(by: { ($0.origin, $0.seq) < ($1.origin, $1.seq) }) where signatures[change.dot] == nil {
            let link = OriginChain.link(after: links[change.origin] ?? OriginChain.genesis, change)
            links[change.origin] = link
            signatures[change.dot] = try key(change.origin.node.rawValue).sign(link: link)
        }
        return changes.map {
            var c = $0
            c.signature = signatures[c.dot]
            return c
        }
    }
}
