import Foundation
import MingaCore
import MingaStore

extension SyncSession {
    /// The whole exchange with the peer: the handshake, then rounds of a full pull and a full
    /// push (``SyncExchange``). Whatever it did before a failure stays in `summary`, `state`
    /// and `traffic`.
    func exchange(_ summary: inout SyncSummary, _ state: inout PeerState, _ traffic: inout PeerClient.Traffic) async throws {
        let info = try await handshake(&traffic)
        summary.peerNode = info.nodeId
        state.nodeID = info.nodeId
        state.vector = info.vector
        var exchange = SyncExchange(session: self, info: info, summary: summary, state: state, traffic: traffic)
        defer { (summary, state, traffic) = (exchange.summary, exchange.state, exchange.traffic) }
        try await exchange.run()
    }

    /// Asks the peer who it is, and refuses a peer this node cannot sync with: another
    /// protocol, another genesis schema, or itself.
    func handshake(_ traffic: inout PeerClient.Traffic) async throws -> NodeInfo {
        let info = try await client.node(&traffic)
        guard info.protocol == ChangeBatch.protocolVersion else {
            throw MingaError(.incompatible, "peer \(client.url) speaks protocol \(info.protocol), this node speaks \(ChangeBatch.protocolVersion)")
        }
        // Migrations travel as changes (protocol §20): peers need only share the schema they
        // were created from.
        guard (info.genesisVersion ?? info.schemaVersion) == replica.genesisVersion else {
            throw MingaError(
                .incompatible,
                info.genesisVersion == nil
                    ? "peer \(client.url) (\(info.nodeId)) runs a Minga without schema migrations and has schema \(info.schemaVersion), this node was created from \(replica.genesisVersion); upgrade its minga"
                    : "peer \(client.url) (\(info.nodeId)) was created from schema \(info.genesisVersion!), this node from \(replica.genesisVersion); nodes that sync must be created from the same schema file (or join with `minga init --from`)"
            )
        }
        guard info.nodeId != replica.nodeID else {
            throw MingaError(.invalidInput, "peer \(client.url) is this very node (\(info.nodeId)); check the --peer address")
        }
        return info
    }
}

/// A page of a pull, with the vector this node will hold once it is applied.
struct Pulled: Sendable {
    let answer: PullResponse
    let traffic: PeerClient.Traffic
    let reached: VersionVector
}

/// One sync's exchange with a peer after the handshake, step by step: held changes first,
/// then rounds of a pipelined pull and a push in the peer's limits, until a round moves
/// nothing (protocol §13 for what either side holds back).
struct SyncExchange {
    let session: SyncSession
    let info: NodeInfo
    var summary: SyncSummary
    var state: PeerState
    var traffic: PeerClient.Traffic
    let gzip: Bool
    /// Never a push the peer said it would refuse: batches within its body limit (a fifth
    /// spared for what the size estimate leaves out, such as escapes) and change count.
    let pushBytes: Int
    let pushLimit: Int
    /// The peer's vector, as its last answer gave it.
    var peerVector: VersionVector
    /// Origins not pulled: those this node holds back (they would only be held again).
    var excluded: Set<NodeID> = []
    /// Origins with a change too large for the peer's body limit.
    var unsendable: Set<NodeID> = []
    /// What the peer held that this node lacked, counted in the first round.
    var toReceive = 0

    init(session: SyncSession, info: NodeInfo, summary: SyncSummary, state: PeerState, traffic: PeerClient.Traffic) {
        (self.session, self.info, self.summary, self.state, self.traffic) = (session, info, summary, state, traffic)
        gzip = info.acceptsEncodings.contains("gzip")
        pushBytes = min(session.maxBatchBytes, (info.maxBodyBytes ?? .max) / 5 * 4)
        pushLimit = min(session.batchSize, info.maxBatchChanges ?? .max)
        peerVector = info.vector
    }

    mutating func run() async throws {
        try await retryHeld()
        // A round is a full pull then a full push; another round only if something moved.
        for _ in 0..<SyncSession.maxRounds {
            summary.rounds += 1
            let received = try await pullRound()
            let sent = try await pushRound()
            if received + sent == 0 { break }
        }
    }

    /// Held changes whose cause is gone apply first: what the peer sends may depend on them.
    /// Origins still held are not pulled, except those held for a signature: another copy may
    /// be the genuine one (§13).
    mutating func retryHeld() async throws {
        let replica = session.replica
        summary.held = try replica.heldOrigins()
        if !summary.held.isEmpty {
            summary.released += try await replica.retryHeld().applied
            summary.held = try replica.heldOrigins()
        }
        excluded = Set(summary.held.filter { ![.badSignature, .alteredCopy].contains($0.code) }.map(\.origin))
    }

    /// Pulls until the peer has nothing more, pipelined: while one page is applied, the next
    /// `lookahead` pages are already being fetched, each asked for as soon as the one before
    /// it has arrived, with the vector this node will hold once the pages before it are in;
    /// and each is checked (hash chain, signatures, schema) from the admission it will then
    /// have. So the peer, the network and the checks keep the other core busy while this one
    /// writes. Should an apply fail, the pages fetched ahead are dropped; should the replica
    /// have moved meanwhile (another sync, a local write), apply checks the page again.
    /// Returns how many changes applied.
    mutating func pullRound() async throws -> Int {
        let admission = try await session.replica.sealedAdmission()
        if summary.rounds == 1 { toReceive = info.vector.entries.reduce(0) { $0 + Int(max(0, $1.value - admission.vector[$1.key])) } }
        var pulls = [pull(after: nil, from: admission.vector)]
        var checks = [SyncExchange.precheck(session.replica, pulls[0], after: nil, from: admission)]
        defer {
            for pull in pulls { pull.cancel() }
            for check in checks { check.cancel() }
        }
        var applied = 0
        while true {
            while pulls.count <= session.lookahead {
                pulls.append(pull(after: pulls.last!, from: admission.vector))
                checks.append(SyncExchange.precheck(session.replica, pulls.last!, after: checks.last!, from: admission))
            }
            guard let page = try await pulls.removeFirst().value, let checked = try await checks.removeFirst().value else { break }
            traffic.sent += page.traffic.sent
            traffic.received += page.traffic.received
            peerVector = page.answer.vector
            state.vector = peerVector
            if page.answer.changes.isEmpty { break }
            applied += try await apply(checked)
        }
        return applied
    }

    /// Applies one checked page; returns how many of its changes applied.
    mutating func apply(_ checked: CheckedBatch) async throws -> Int {
        let result = try await session.replica.apply(checked, source: "pull \(session.client.url)")
        excluded.formUnion(result.held.map(\.origin))
        summary.heldReceived += result.held.reduce(0) { $0 + $1.count }
        summary.alteredCopies += result.alteredCopies
        summary.received += result.applied
        summary.newConflicts += result.newConflicts
        session.metrics?.changesApplied.increment(by: Int64(result.applied))
        report()
        return result.applied
    }

    /// The next page's request, sent once the page before it (if any) has arrived with more.
    func pull(after previous: Task<Pulled?, any Error>?, from start: VersionVector) -> Task<Pulled?, any Error> {
        let (client, batchSize, maxBytes, gzip, excluded) = (session.client, session.batchSize, session.maxBatchBytes, gzip, excluded)
        return Task {
            var vector = start
            if let previous {
                guard let page = try await previous.value, page.answer.more, !page.answer.changes.isEmpty else { return nil }
                vector = page.reached
            }
            var bytes = PeerClient.Traffic()
            let request = PullRequest(vector: vector, limit: batchSize, maxBytes: maxBytes, exclude: excluded.isEmpty ? nil : excluded.sorted())
            let answer = try await client.pull(request, gzip: gzip, traffic: &bytes)
            return Pulled(answer: answer, traffic: bytes, reached: vector.raised(by: answer.changes))
        }
    }

    /// A pulled page checked from the admission the pages before it leave.
    static func precheck(
        _ replica: Replica,
        _ pulled: Task<Pulled?, any Error>,
        after previous: Task<CheckedBatch?, any Error>?,
        from start: Admission
    ) -> Task<CheckedBatch?, any Error> {
        Task {
            guard let page = try await pulled.value else { return nil }
            let admission = try await previous?.value?.end ?? start
            return try await replica.precheck(ChangeBatch(changes: page.answer.changes), after: admission)
        }
    }

    /// Pushes what the peer lacks, in its limits, leaving out what it holds back and what it
    /// could not take; returns how many changes it applied. What the peer still holds of
    /// earlier pushes is not pushed again: it applies it itself once the cause is gone (at
    /// its next pull or push served), and its vector moves past it.
    mutating func pushRound() async throws -> Int {
        state.heldByPeer.removeAll { peerVector[$0.origin] >= $0.firstSeq }
        var leftOut = Set(state.heldByPeer.map(\.origin)).union(unsendable)
        var sent = 0
        while true {
            let changes = try await session.replica.changes(above: peerVector, limit: pushLimit, maxBytes: pushBytes, excluding: leftOut)
            if changes.isEmpty { break }
            if let big = session.tooLarge(changes, pushBytes: pushBytes, peerLimit: info.maxBodyBytes) {
                // Never a request the peer said it would refuse: that origin waits, the rest goes.
                leftOut.insert(big.dot.origin)
                unsendable.insert(big.dot.origin)
                summary.tooLargeForPeer.append(big)
                continue
            }
            let client = session.client
            let answer = try await client.push(ChangeBatch(changes: changes), from: session.replica.nodeID, gzip: gzip, traffic: &traffic)
            summary.sent += answer.applied
            sent += answer.applied
            report()
            // The peer holds these origins back: the rest of this sync leaves them out.
            for held in answer.held ?? [] {
                leftOut.insert(held.origin)
                recordHeldByPeer(held)
            }
            let reached = peerVector.raised(by: changes.filter { !leftOut.contains($0.origin) })
            guard reached.isIncluded(in: answer.vector) else {
                throw MingaError(.failed, "peer \(client.url) accepted a batch but its vector does not include it")
            }
            peerVector = answer.vector
            state.vector = answer.vector
        }
        return sent
    }

    /// Notes an origin the peer holds back: in this sync's summary, and in the peer's state
    /// (the first time), so that later syncs do not push it again until the peer moves past it.
    mutating func recordHeldByPeer(_ held: PushResponse.HeldBack) {
        summary.heldByPeer.removeAll { $0.origin == held.origin }
        summary.heldByPeer.append(held)
        guard !state.heldByPeer.contains(where: { $0.origin == held.origin }) else { return }
        // A code this node does not know (a newer peer's) still holds the origin back here, so
        // that it is not pushed again at every sync; the peer's code stays in the reason.
        let code = MingaError.Code(rawValue: held.code)
        state.heldByPeer.append(
            HeldOrigin(
                origin: held.origin,
                firstSeq: held.seq,
                count: held.count,
                code: code ?? .failed,
                reason: code == nil ? "[\(held.code)] \(held.reason)" : held.reason,
                since: Date(),
                source: session.client.url
            )
        )
    }

    func report() {
        session.progress?(SyncProgress(received: summary.received, toReceive: max(toReceive, summary.received), sent: summary.sent))
    }
}
