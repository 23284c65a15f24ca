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
    public var rounds = 0
    public var bytesSent = 0
    public var bytesReceived = 0
    public var duration: Duration = .zero
    /// Why the sync failed, in words; `nil` when it succeeded.
    public var error: String?
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

/// One sync with one peer: pull then push in bounded batches, each batch applied in one
/// transaction that advances the vector, repeated until neither side has more. Interrupted
/// at any point, it resumes from the vectors next time.
public struct SyncSession: Sendable {
    public let replica: Replica
    public let client: PeerClient
    public var batchSize = 2000
    public var maxBatchBytes = 2 << 20
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
        guard info.schemaVersion == replica.schemaVersion else {
            throw MingaError("peer \(client.url) (\(info.nodeId)) has schema \(info.schemaVersion), this node has \(replica.schemaVersion); nodes that sync must be created from the same schema file")
        }
        guard info.nodeId != replica.nodeID else {
            throw MingaError("peer \(client.url) is this very node (\(info.nodeId)); check the --peer address")
        }
        summary.peerNode = info.nodeId
        state.nodeID = info.nodeId
        state.vector = info.vector
        let gzip = info.acceptsEncodings.contains("gzip")
        var peerVector = info.vector
        var toReceive = 0  // what the peer held that this node lacked, counted in the first round
        let report = { [progress] (summary: SyncSummary) in
            progress?(SyncProgress(received: summary.received, toReceive: max(toReceive, summary.received), sent: summary.sent))
        }
        // A round is a full pull then a full push; another round only if the peer had news.
        for _ in 0..<16 {
            summary.rounds += 1
            var movement = 0
            // Pipelined: while one page is applied, the next is already being fetched, asked for
            // with the vector this node will hold once the page is in. Should the apply fail,
            // the fetched page is dropped; a page that overlaps what arrived meanwhile only
            // brings duplicates, which apply skips.
            let pull = { @Sendable [client, batchSize, maxBatchBytes] (vector: VersionVector) async throws -> (PullResponse, PeerClient.Traffic) in
                var bytes = PeerClient.Traffic()
                let answer = try await client.pull(PullRequest(vector: vector, limit: batchSize, maxBytes: maxBatchBytes), gzip: gzip, traffic: &bytes)
                return (answer, bytes)
            }
            var local = try await replica.vector()
            if summary.rounds == 1 { toReceive = info.vector.entries.reduce(0) { $0 + Int(max(0, $1.value - local[$1.key])) } }
            var page = try await pull(local)
            while true {
                let (answer, bytes) = page
                traffic.sent += bytes.sent
                traffic.received += bytes.received
                peerVector = answer.vector
                state.vector = peerVector
                if answer.changes.isEmpty { break }
                let expected = answer.changes.reduce(into: local) { $0[$1.origin] = max($0[$1.origin], $1.seq) }
                async let next = answer.more ? pull(expected) : nil
                let result = try await replica.apply(ChangeBatch(changes: answer.changes))
                summary.received += result.applied
                summary.newConflicts += result.newConflicts
                movement += result.applied
                metrics?.changesApplied.increment(by: Int64(result.applied))
                report(summary)
                local = result.vector
                guard let fetched = try await next else { break }
                page = fetched
            }
            while true {
                let changes = try await replica.changes(above: peerVector, limit: batchSize, maxBytes: maxBatchBytes)
                if changes.isEmpty { break }
                let answer = try await client.push(ChangeBatch(changes: changes), gzip: gzip, traffic: &traffic)
                summary.sent += answer.applied
                movement += answer.applied
                report(summary)
                let reached = changes.reduce(into: peerVector) { $0[$1.origin] = max($0[$1.origin], $1.seq) }
                guard reached.isIncluded(in: answer.vector) else {
                    throw MingaError("peer \(client.url) accepted a batch but its vector does not include it")
                }
                peerVector = answer.vector
                state.vector = answer.vector
            }
            if movement == 0 { break }
        }
    }
}
