import Foundation
import Logging
import MingaCore
import MingaStore

/// What one sync with one peer did.
public struct SyncSummary: Sendable {
    public var peer: String
    public var peerNode: NodeID?
    public var received = 0
    public var sent = 0
    public var newConflicts = 0
    /// Changes received that this node held back rather than applied (protocol §13).
    public var heldReceived = 0
    /// Copies of changes this node holds that arrived altered, per origin: never applied.
    public var alteredCopies: [HeldOrigin] = []
    public var rounds = 0
    public var bytesSent = 0
    public var bytesReceived = 0
    public var duration: Duration = .zero
    /// Why the sync failed, in words; `nil` when it succeeded.
    public var error: String?
    /// Origins this node holds changes of after the sync (protocol §13): held by this sync,
    /// or earlier and not yet applicable. Not a failure of the sync.
    public var held: [HeldOrigin] = []
    /// Origins the peer held changes of that this node pushed, as the peer said.
    public var heldByPeer: [PushResponse.HeldBack] = []
    /// Changes this node could not push: as JSON, each is larger than the peer's body limit
    /// (`--max-body-bytes` below what the protocol's change size needs, §3). Their origins,
    /// and what depends on them, stay unsent to this peer; it can still pull them.
    public var tooLargeForPeer: [(dot: Dot, bytes: Int, limit: Int)] = []
    /// The peer asked to come back later (429 busy, 503 unavailable): retry, it is no fault.
    public var retryLater = false
    /// How long the peer asked to wait, when it said (`Retry-After`).
    public var retryAfter: Duration?

    public var succeeded: Bool { error == nil }
}

/// How far a sync with one peer has come, for an operator's progress line.
public struct SyncProgress: Sendable, Equatable {
    /// Changes received and applied so far.
    public var received: Int
    /// Changes the peer held that this node lacked when the sync began.
    public var toReceive: Int
    /// Changes sent so far.
    public var sent: Int
}

/// A page of a pull, with the vector this node will hold once it is applied.
struct Pulled: Sendable {
    let answer: PullResponse
    let traffic: PeerClient.Traffic
    let reached: VersionVector
}

/// One sync with one peer: pull then push in bounded batches, each batch applied in one
/// transaction that advances the vector, repeated until neither side has more. Interrupted
/// at any point, it resumes from the vectors next time.
public struct SyncSession: Sendable {
    public let replica: Replica
    public let client: PeerClient
    public var batchSize = 2000
    public var maxBatchBytes = 2 << 20
    /// Pages fetched and checked ahead of the one being applied.
    public var lookahead = 2
    /// The most rounds (a full pull, then a full push) in one session. A round follows
    /// another only when something moved in it, i.e. while writes keep landing on either
    /// side; the bound ends a session against a peer written to without pause, and the next
    /// sync resumes from the vectors.
    public static let maxRounds = 16
    public var metrics: SyncMetrics?
    public var logger: Logger
    /// Called after every page received and every batch sent.
    public var progress: (@Sendable (SyncProgress) -> Void)?

    public init(replica: Replica, client: PeerClient, metrics: SyncMetrics? = nil, logger: Logger) {
        self.replica = replica
        self.client = client
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async -> SyncSummary {
        let clock = ContinuousClock()
        let start = clock.now
        var summary = SyncSummary(peer: client.url)
        var state = (try? replica.peer(url: client.url)) ?? PeerState(url: client.url)
        state.lastAttempt = Date()
        var traffic = PeerClient.Traffic()
        do {
            try await exchange(&summary, &state, &traffic)
            state.lastSuccess = Date()
            state.lastError = nil
        } catch {
            summary.error = (error as? MingaError)?.message ?? String(describing: error)
            if let busy = error as? PeerBusy {
                summary.retryLater = true
                summary.retryAfter = busy.retryAfter
            }
            if Task.isCancelled {
                // Shutting down: whatever committed stays committed; that is not the peer's fault.
                summary.error = "cancelled"
                return summary
            }
            state.lastError = summary.error
            if summary.retryLater {
                logger.notice("sync with \(client.url) postponed: \(summary.error!)")
            } else {
                logger.warning("sync with \(client.url) failed: \(summary.error!)")
            }
        }
        summary.bytesSent = traffic.sent
        summary.bytesReceived = traffic.received
        summary.duration = clock.now - start
        // Read again only when something was held before or during the sync (mostly nothing is).
        if !summary.held.isEmpty || summary.heldReceived > 0 { summary.held = (try? replica.heldOrigins()) ?? [] }
        try? await replica.recordPeer(state)
        metrics?.syncRound(peer: client.url, ok: summary.succeeded)
        metrics?.wireBytes(peer: client.url, sent: traffic.sent, received: traffic.received)
        return summary
    }

    func exchange(_ summary: inout SyncSummary, _ state: inout PeerState, _ traffic: inout PeerClient.Traffic) async throws {
        let info = try await client.node(&traffic)
        guard info.protocol == ChangeBatch.protocolVersion else {
            throw MingaError("peer \(client.url) speaks protocol \(info.protocol), this node speaks \(ChangeBatch.protocolVersion)")
        }
        // Migrations travel as changes (protocol §20): peers need only share the schema they
        // were created from.
        guard (info.genesisVersion ?? info.schemaVersion) == replica.genesisVersion else {
            throw MingaError(
                info.genesisVersion == nil
                    ? "peer \(client.url) (\(info.nodeId)) runs a Minga without schema migrations and has schema \(info.schemaVersion), this node has \(replica.schemaVersion); upgrade its minga"
                    : "peer \(client.url) (\(info.nodeId)) was created from schema \(info.genesisVersion!), this node from \(replica.genesisVersion); nodes that sync must be created from the same schema file (or join with `minga init --from`)"
            )
        }
        guard info.nodeId != replica.nodeID else {
            throw MingaError("peer \(client.url) is this very node (\(info.nodeId)); check the --peer address")
        }
        summary.peerNode = info.nodeId
        state.nodeID = info.nodeId
        state.vector = info.vector
        let gzip = info.acceptsEncodings.contains("gzip")
        // Never a push the peer said it would refuse: batches within its body limit (a fifth
        // spared for what the size estimate leaves out, such as escapes) and change count.
        let pushBytes = min(maxBatchBytes, (info.maxBodyBytes ?? .max) / 5 * 4)
        let pushLimit = min(batchSize, info.maxBatchChanges ?? .max)
        var peerVector = info.vector
        // Held changes whose cause is gone apply first: what the peer sends may depend on them.
        summary.held = try replica.heldOrigins()
        if !summary.held.isEmpty {
            summary.received += try await replica.retryHeld().applied
            summary.held = try replica.heldOrigins()
        }
        // Origins this node holds back are not pulled again (they would only be held again),
        // except those held for a signature: another copy may be the genuine one (§13).
        var excluded = Set(summary.held.filter { ![.badSignature, .alteredCopy].contains($0.code) }.map(\.origin))
        var unsendable: Set<NodeID> = []  // origins with a change too large for the peer
        var toReceive = 0  // what the peer held that this node lacked, counted in the first round
        let report = { [progress] (summary: SyncSummary) in
            progress?(SyncProgress(received: summary.received, toReceive: max(toReceive, summary.received), sent: summary.sent))
        }
        // A round is a full pull then a full push; another round only if the peer had news.
        for _ in 0..<SyncSession.maxRounds {
            summary.rounds += 1
            var movement = 0
            // Pipelined: while one page is applied, the next `lookahead` pages are already being
            // fetched, each asked for as soon as the one before it has arrived, with the vector
            // this node will hold once the pages before it are in; and each is checked (hash
            // chain, signatures, schema) from the admission it will then have. So the peer, the
            // network and the checks keep the other core busy while this one writes. Should an
            // apply fail, the pages fetched ahead are dropped; should the replica have moved
            // meanwhile (another sync, a local write), apply checks the page again.
            let pull = {
                @Sendable [client, batchSize, maxBatchBytes] (previous: Task<Pulled?, any Error>?, start: VersionVector, excluded: Set<NodeID>) in
                Task { () async throws -> Pulled? in
                    var vector = start
                    if let previous {
                        guard let page = try await previous.value, page.answer.more, !page.answer.changes.isEmpty else { return nil }
                        vector = page.reached
                    }
                    var bytes = PeerClient.Traffic()
                    let request = PullRequest(
                        vector: vector,
                        limit: batchSize,
                        maxBytes: maxBatchBytes,
                        exclude: excluded.isEmpty ? nil : excluded.sorted()
                    )
                    let answer = try await client.pull(request, gzip: gzip, traffic: &bytes)
                    return Pulled(
                        answer: answer,
                        traffic: bytes,
                        reached: answer.changes.reduce(into: vector) { $0[$1.origin] = max($0[$1.origin], $1.seq) }
                    )
                }
            }
            let check = { @Sendable [replica] (pulled: Task<Pulled?, any Error>, previous: Task<CheckedBatch?, any Error>?, start: Admission) in
                Task { () async throws -> CheckedBatch? in
                    guard let page = try await pulled.value else { return nil }
                    let admission = try await previous?.value?.end ?? start
                    return try await replica.precheck(ChangeBatch(changes: page.answer.changes), after: admission)
                }
            }
            let admission = try await replica.sealedAdmission()
            if summary.rounds == 1 { toReceive = info.vector.entries.reduce(0) { $0 + Int(max(0, $1.value - admission.vector[$1.key])) } }
            var pulls = [pull(nil, admission.vector, excluded)]
            var checks = [check(pulls[0], nil, admission)]
            defer {
                for pull in pulls { pull.cancel() }
                for check in checks { check.cancel() }
            }
            while true {
                while pulls.count <= lookahead {
                    pulls.append(pull(pulls.last!, admission.vector, excluded))
                    checks.append(check(pulls.last!, checks.last!, admission))
                }
                guard let page = try await pulls.removeFirst().value, let checked = try await checks.removeFirst().value else { break }
                traffic.sent += page.traffic.sent
                traffic.received += page.traffic.received
                peerVector = page.answer.vector
                state.vector = peerVector
                if page.answer.changes.isEmpty { break }
                let result = try await replica.apply(checked, source: "pull \(client.url)")
                excluded.formUnion(result.held.map(\.origin))
                summary.heldReceived += result.held.reduce(0) { $0 + $1.count }
                summary.alteredCopies += result.alteredCopies
                summary.received += result.applied
                summary.newConflicts += result.newConflicts
                movement += result.applied
                metrics?.changesApplied.increment(by: Int64(result.applied))
                report(summary)
            }
            // What the peer still holds of earlier pushes is not pushed again: it applies it itself
            // once the cause is gone (at its next pull or push served), and its vector moves past it.
            state.heldByPeer.removeAll { peerVector[$0.origin] >= $0.firstSeq }
            var heldByPeer = Set(state.heldByPeer.map(\.origin)).union(unsendable)
            while true {
                let changes = try await replica.changes(above: peerVector, limit: pushLimit, maxBytes: pushBytes, excluding: heldByPeer)
                if changes.isEmpty { break }
                if let big = tooLarge(changes, pushBytes: pushBytes, peerLimit: info.maxBodyBytes) {
                    // Never a request the peer said it would refuse: that origin waits, the rest goes.
                    heldByPeer.insert(big.dot.origin)
                    unsendable.insert(big.dot.origin)
                    summary.tooLargeForPeer.append(big)
                    continue
                }
                let answer = try await client.push(ChangeBatch(changes: changes), from: replica.nodeID, gzip: gzip, traffic: &traffic)
                summary.sent += answer.applied
                movement += answer.applied
                report(summary)
                // The peer holds these origins back: the rest of this sync leaves them out.
                for held in answer.held ?? [] {
                    heldByPeer.insert(held.origin)
                    summary.heldByPeer.removeAll { $0.origin == held.origin }
                    summary.heldByPeer.append(held)
                    if !state.heldByPeer.contains(where: { $0.origin == held.origin }), let code = MingaError.Code(rawValue: held.code) {
                        state.heldByPeer.append(
                            HeldOrigin(
                                origin: held.origin,
                                firstSeq: held.seq,
                                count: held.count,
                                code: code,
                                reason: held.reason,
                                since: Date(),
                                source: client.url
                            )
                        )
                    }
                }
                let reached = changes.filter { !heldByPeer.contains($0.origin) }.reduce(into: peerVector) { $0.raise($1.dot) }
                guard reached.isIncluded(in: answer.vector) else {
                    throw MingaError("peer \(client.url) accepted a batch but its vector does not include it")
                }
                peerVector = answer.vector
                state.vector = answer.vector
            }
            if movement == 0 { break }
        }
    }

    /// The largest change of a batch the peer's body limit cannot take, with its size as JSON,
    /// or `nil` when the batch fits. Only a batch the size estimate puts near the limit is
    /// encoded to tell.
    func tooLarge(_ changes: [Change], pushBytes: Int, peerLimit: Int?) -> (dot: Dot, bytes: Int, limit: Int)? {
        guard let peerLimit, changes.reduce(0, { $0 + $1.estimatedWireSize }) > pushBytes / 2 else { return nil }
        guard ChangeBatch(changes: changes).wireJSON.utf8.count > peerLimit else { return nil }
        let largest = changes.max { $0.estimatedWireSize < $1.estimatedWireSize }!
        return (largest.dot, ChangeBatch(changes: [largest]).wireJSON.utf8.count, peerLimit)
    }
}
