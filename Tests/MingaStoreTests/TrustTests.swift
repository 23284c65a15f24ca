import Foundation
import GRDB
import MingaCore
import MingaStore
import MingaTestSupport
import Testing

/// Origin signatures, the roster, clocks, backups and restores (protocol/README.md §4, §17).
@Suite struct TrustTests {
    static func title(_ replica: Replica, _ id: String, _ title: String) throws {
        try replica.put(table: "initiatives", row: ["id": .text(id), "title": .text(title)])
    }

    @Test func aChangeAlteredByARelayIsHeldWithItsOriginWhileEverythingElseApplies() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        let cl = try Fixture.replica("cl.agcid")
        try Self.title(mx, "XM-1", "Agua potable")
        try Self.title(mx, "XM-2", "Saneamiento")
        try Fixture.sync(from: mx, to: co)
        try Self.title(co, "CO-1", "Paz rural")

        // co relays mx's changes to cl, but alters one value on the way: mx's run is held (the
        // signature that vouches for both fails), co's own change applies (protocol §13).
        var relayed = try co.changes(above: try cl.vector())
        let index = try #require(relayed.firstIndex { $0.origin == mx.nodeID && $0.seq == 1 })
        relayed[index].columns["title"] = .text("Agua embotellada")
        let result = try cl.apply(ChangeBatch(changes: relayed), source: "pull co")
        #expect(result.applied == 1)
        let held = try #require(try cl.heldOrigins().first)
        #expect(held.origin == mx.nodeID && held.firstSeq == 1 && held.count == 2 && held.code == .badSignature && held.source == "pull co")
        #expect(held.reason.contains("altered or forged"), "\(held.reason)")
        #expect(try cl.vector() == VersionVector([co.nodeID: 1]))
        #expect(try cl.get(table: "initiatives", key: [.text("XM-1")]) == nil)
        // Retried, the tampered copy still never applies, nor anything after it.
        #expect(try cl.retryHeld().applied == 0)

        // Forging a signature with the relay's own key does not help either.
        var forged = try co.changes(above: try cl.vector())
        let last = try #require(forged.lastIndex { $0.origin == mx.nodeID })
        forged[last].columns["title"] = .text("Otra cosa")
        forged[last].signature = try TestKeys.key("co.apc").sign(link: OriginChain.genesis)
        #expect(try cl.apply(ChangeBatch(changes: forged)).held.map(\.code) == [.badSignature])

        // Dropping mx's signature (so nothing could be checked) refuses the batch whole.
        var unsigned = try co.changes(above: try cl.vector()).filter { $0.origin == mx.nodeID }
        unsigned[unsigned.count - 1].signature = nil
        let unverifiable = #expect(throws: MingaError.self) { try cl.apply(ChangeBatch(changes: unsigned)) }
        #expect(unverifiable?.code == .rejected, "\(unverifiable?.message ?? "")")

        // The honest copies, from the same relay, apply, and nothing is held any more.
        try Fixture.sync(from: co, to: cl)
        #expect(try cl.dump() == co.dump())
        #expect(try cl.vector() == co.vector())
        #expect(try cl.heldOrigins().isEmpty)
    }

    /// A sync checks each page ahead, outside the transaction that applies it. The check stands
    /// only for the state it was made from: if the replica moved meanwhile, apply checks again.
    @Test func aBatchCheckedAheadIsCheckedAgainWhenTheReplicaMovedMeanwhile() async throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        let cl = try Fixture.replica("cl.agcid")
        for i in 1...4 {
            try Self.title(mx, "XM-\(i)", "Título \(i)")
            _ = try await mx.vector()  // sealed (and signed) one by one, so that any prefix verifies
        }
        let all = try Fixture.allChanges(mx)
        let first = ChangeBatch(changes: Array(all.prefix(2)))
        let second = ChangeBatch(changes: Array(all.suffix(2)))
        let whole = try await co.precheck(ChangeBatch(changes: all), after: try await co.sealedAdmission())

        // Applied as checked: the same result as a plain apply.
        #expect(try await co.apply(whole).applied == 4)
        #expect(try co.dump() == mx.dump())

        // Checked ahead against a state the replica never reached (the first half was never
        // applied): applying it re-checks, and the gap is refused, changing nothing.
        var ahead = try await cl.sealedAdmission()
        _ = try cl.check(first, &ahead)
        let later = try await cl.precheck(second, after: ahead)
        let gap = await #expect(throws: MingaError.self) { try await cl.apply(later) }
        #expect(gap?.code == .rejected && gap?.message.contains("sequence gap") == true, "\(gap?.message ?? "")")
        #expect(try await cl.vector().isEmpty)

        // Checked, then the origin leaves the roster before the apply: refused on the re-check.
        let stale = try await cl.precheck(ChangeBatch(changes: all), after: try await cl.sealedAdmission())
        try cl.removeFromRoster(mx.nodeID)
        let roster = try await cl.apply(stale)
        #expect(roster.applied == 0 && roster.held.map(\.code) == [.unknownOrigin])
        #expect(try await cl.vector().isEmpty)
    }

    @Test func changesFromAnOriginOutsideTheRosterAreHeldUntilItIsAddedThenApplyUnasked() throws {
        let stranger = try Replica.inMemory(nodeID: try NodeID("ve.stranger"), schemaSQL: Fixture.storeSchema)
        let co = try Fixture.replica("co.apc")
        try Self.title(stranger, "VE-1", "Proyecto")
        let batch = ChangeBatch(changes: try Fixture.allChanges(stranger))
        #expect(try co.apply(batch, source: "bundle ve.bundle").applied == 0)
        let held = try #require(try co.heldOrigins().first)
        #expect(held.code == .unknownOrigin && held.source == "bundle ve.bundle", "\(held)")
        #expect(held.reason.contains("ve.stranger, which is not in this node's roster"), "\(held.reason)")
        #expect(try co.vector().isEmpty)

        // Another node's key pasted for it is refused: no node may sign as another.
        let pasted = #expect(throws: MingaError.self) { try co.addToRoster(try NodeID("ve.stranger"), key: TestKeys.key("mx.amexcid").publicKey) }
        #expect(pasted?.code == .invalidInput && pasted?.message.contains("already mx.amexcid's") == true, "\(pasted?.message ?? "")")
        // A wrong key for the right name does not verify.
        let wrong = SigningKey().publicKey
        #expect(try co.addToRoster(try NodeID("ve.stranger"), key: wrong) == nil)
        #expect(try co.retryHeld().applied == 0)
        #expect(try co.heldOrigins().map(\.code) == [.badSignature])
        // The right key replaces it (and says which it replaced): the held change applies
        // without being delivered again.
        #expect(try co.addToRoster(try NodeID("ve.stranger"), key: try #require(stranger.publicKey)) == wrong)
        #expect(try co.retryHeld().applied == 1)
        #expect(try co.heldOrigins().isEmpty && co.dump() == stranger.dump())

        try co.removeFromRoster(try NodeID("ve.stranger"))
        try Self.title(stranger, "VE-2", "Otro")
        #expect(try co.apply(ChangeBatch(changes: try stranger.changes(above: try co.vector()))).held.map(\.code) == [.unknownOrigin])
        let itself = #expect(throws: MingaError.self) { try co.removeFromRoster(co.nodeID) }
        #expect(itself?.code == .invalidInput, "\(itself?.message ?? "")")
    }

    @Test func aReDeliveredChangeWithDifferentContentIsRefusedAsAnAlteredCopyAndCounted() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        try Self.title(mx, "XM-1", "Agua")
        var changes = try Fixture.allChanges(mx)
        try co.apply(ChangeBatch(changes: changes))
        let before = try co.dump()
        changes[0].columns["title"] = .text("Fuego")
        try Self.title(mx, "XM-2", "Tierra")
        let result = try co.apply(ChangeBatch(changes: changes + (try mx.changes(above: try co.vector()))), source: "pull relay")
        #expect(result.applied == 1 && result.duplicates == 0 && result.held.isEmpty, "mx's next change chains from the genuine link")
        let altered = try #require(result.alteredCopies.first)
        #expect(altered.code == .alteredCopy && altered.first == changes[0].dot && altered.reason.contains("differs"), "\(altered)")
        #expect(try co.alteredCopies().count == 1 && co.alteredCopies().last?.contains("from pull relay") == true)
        #expect(try co.dump() != before && co.dump() == mx.dump(), "the genuine XM-1 stays, XM-2 arrived")
    }

    @Test func aChangeFarAheadOfTheReceiversClockIsHeldAndAppliesOnceTheClockCatchesUp() throws {
        let mx = try Fixture.replica("mx.amexcid")
        var ahead = try Fixture.replica("co.apc")
        let now = Int64(1_800_000_000_000)
        ahead.clock = { now }
        try Self.title(mx, "XM-1", "Agua")
        // mx's clock runs 20 minutes fast: its change carries that time, signed as mx signs.
        var change = try Fixture.allChanges(mx)[0]
        change.hlc = HLC(millis: now + 20 * 60_000, counter: 0)
        let batch = ChangeBatch(changes: try TestKeys.signed([change]))
        let held = try #require(try ahead.apply(batch).held.first)
        #expect(held.code == .clockAhead && held.origin == mx.nodeID && held.firstSeq == 1)
        #expect(held.reason.contains("20 min 0 s ahead") && held.reason.contains("allowed skew is 10 min 0 s"), "\(held.reason)")
        #expect(try ahead.retryHeld().applied == 0)
        // Eleven minutes later the change is within the skew, and applies unasked.
        var later = ahead
        later.clock = { now + 11 * 60_000 }
        #expect(try later.retryHeld().applied == 1)
        #expect(try later.heldOrigins().isEmpty)
    }

    @Test func hlcsKeepGrowingWhenTheWallClockGoesBack() throws {
        var mx = try Fixture.replica("mx.amexcid")
        let clock = ManualClock(1_800_000_000_000)
        mx.clock = { clock.now }
        try Self.title(mx, "XM-1", "a")
        _ = try mx.vector()
        clock.now -= 3_600_000  // an hour back
        try Self.title(mx, "XM-1", "b")
        try Self.title(mx, "XM-2", "c")
        let hlcs = try Fixture.allChanges(mx).map(\.hlc)
        #expect(hlcs.count == 3)
        #expect(zip(hlcs, hlcs.dropFirst()).allSatisfy { $0 < $1 }, "\(hlcs)")
    }

    @Test func aLongRunIsSentInBatchesThatEndOnSignedChanges() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        try mx.transaction { tx in
            for i in 0..<600 { try tx.put(table: "initiatives", row: ["id": .text("K\(i)"), "title": .text("t")]) }
        }
        let all = try Fixture.allChanges(mx)
        #expect(all.count == 600)
        #expect(all.filter { $0.signature != nil }.map(\.seq) == [256, 512, 600])
        #expect(try mx.changes(above: VersionVector(), limit: 100).count == 256, "extended to the first signed change")
        #expect(try mx.changes(above: VersionVector(), limit: 300).count == 256, "cut back to the last signed change")
        #expect(try mx.changes(above: VersionVector([mx.nodeID: 256]), limit: 300).count == 256)
        var batches = 0
        while case let changes = try mx.changes(above: try co.vector(), limit: 100), !changes.isEmpty {
            try co.apply(ChangeBatch(changes: changes))
            batches += 1
        }
        #expect(batches == 3)
        #expect(try co.dump() == mx.dump())
    }

    @Test func theRowLogShowsEachChangeVerifiedAndATamperedOneNotVerified() throws {
        let mx = try Fixture.replica("mx.amexcid")
        let co = try Fixture.replica("co.apc")
        try Self.title(mx, "XM-1", "Agua")
        try Self.title(mx, "XM-1", "Agua potable")
        try Fixture.sync(from: mx, to: co)
        try Self.title(co, "XM-1", "Agua potable rural")
        let log = try co.log(table: "initiatives", key: [.text("XM-1")])
        #expect(log.map(\.change.dot.description) == ["mx.amexcid:1", "mx.amexcid:2", "co.apc:1"])
        #expect(
            log.map(\.signature) == [
                .verified(signedAt: Dot(origin: mx.nodeID, seq: 2)), .verified(signedAt: Dot(origin: mx.nodeID, seq: 2)),
                .verified(signedAt: Dot(origin: co.nodeID, seq: 1)),
            ]
        )
        // Someone edits the stored change behind Minga's back.
        try co.writer.write { db in
            try db.execute(
                sql:
                    "UPDATE minga_values_initiatives SET c1 = 'Agua sucia' WHERE change_id = (SELECT id FROM minga_changes WHERE origin = 'mx.amexcid' AND seq = 1)"
            )
        }
        let audited = try co.log(table: "initiatives", key: [.text("XM-1")])
        guard case .broken = audited[0].signature else {
            Issue.record("a tampered change shows \(audited[0].signature)")
            return
        }
        #expect(audited[0].signature.text.hasPrefix("NOT VERIFIED"))
    }

    @Test func aRestoredNodeNeverReusesASequenceNumberAndGetsItsLaterChangesBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("minga-restore-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("mx.db").path
        let mx = try Replica.create(at: path, nodeID: try NodeID("mx.amexcid"), schemaSQL: Fixture.storeSchema)
        let co = try Fixture.replica("co.apc")
        try co.addToRoster(mx.nodeID, key: try #require(mx.publicKey))
        try mx.addToRoster(co.nodeID, key: TestKeys.key("co.apc").publicKey)
        for i in 1...3 { try Self.title(mx, "XM-\(i)", "antes") }
        let backup = dir.appendingPathComponent("mx-backup.db").path
        try mx.backup(to: backup)
        for i in 4...6 { try Self.title(mx, "XM-\(i)", "después") }
        try Fixture.sync(from: mx, to: co)
        #expect(try co.vector()[mx.nodeID] == 6)

        // The backup itself never issues changes.
        try FileManager.default.copyItem(atPath: Replica.keyPath(for: path), toPath: Replica.keyPath(for: backup))
        let inert = try Replica.open(at: backup)
        try Self.title(inert, "XM-9", "no")
        let refusal = #expect(throws: MingaError.self) { try inert.changes(above: VersionVector()) }
        #expect(refusal?.code == .invalidInput && refusal?.message.contains("minga restore") == true, "\(refusal?.message ?? "")")
        try inert.writer.write { db in try db.execute(sql: "DELETE FROM initiatives WHERE id = 'XM-9'; DELETE FROM minga_pending WHERE c0 = 'XM-9'") }

        // The disk is lost; the node comes back from the backup in a new epoch.
        let restoredPath = dir.appendingPathComponent("mx-restored.db").path
        try FileManager.default.copyItem(atPath: Replica.keyPath(for: path), toPath: Replica.keyPath(for: restoredPath))
        let (restored, origin) = try Replica.restore(backup: backup, to: restoredPath, nowMillis: 1_900_000_000_000)
        #expect(origin.rawValue == "mx.amexcid~1900000000000" && origin.node == mx.nodeID)
        try Self.title(restored, "XM-7", "nuevo")
        let own = try Fixture.allChanges(restored).filter { $0.origin.node == mx.nodeID }
        #expect(own.map(\.dot.description) == ["mx.amexcid:1", "mx.amexcid:2", "mx.amexcid:3", "mx.amexcid~1900000000000:1"])

        // Both directions: co gets the new epoch's change; the restored node gets mx:4…6 back.
        try Fixture.sync(from: restored, to: co)
        try Fixture.sync(from: co, to: restored)
        #expect(try restored.vector() == co.vector())
        #expect(try restored.vector()[mx.nodeID] == 6)
        #expect(try restored.dump() == co.dump())
        let dots = try Fixture.allChanges(co).map(\.dot)
        #expect(Set(dots).count == dots.count)
        // A second restore of the same backup gets an epoch of its own.
        let again = try Replica.restore(backup: backup, to: dir.appendingPathComponent("mx-again.db").path, nowMillis: 1_900_000_000_001)
        #expect(again.origin != origin)
    }
}

/// A wall clock the test moves by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    init(_ value: Int64) { self.value = value }
    var now: Int64 {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}
