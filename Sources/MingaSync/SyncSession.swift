import Foundation
import Logging
import MingaCore
import MingaStore

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
            summary.errorCode = (error as? MingaError)?.code
            if let busy = error as? PeerBusy {
                summary.errorCode = busy.code
                summary.retryLater = true
                summary.retryAfter = busy.retryAfter
            }
            if Task.isCancelled {
                // Shutting down: whatever committed stays committed; that is not the peer's fault.
                summary.error = "cancelled"
                summary.errorCode = nil
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
