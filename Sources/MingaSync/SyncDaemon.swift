import Foundation
import Logging
import MingaCore
import MingaStore
import ServiceLifecycle

/// Background sync: each peer on its own loop, every `interval` and soon after a local
/// write; a failing peer is retried with capped exponential backoff and jitter, and never
/// delays the others.
public struct SyncDaemon: Service {
    public let replica: Replica
    public let clients: [PeerClient]
    public let interval: Duration
    public var maxBackoff: Duration = .seconds(300)
    public let metrics: SyncMetrics
    public let logger: Logger

    public init(replica: Replica, clients: [PeerClient], interval: Duration, metrics: SyncMetrics, logger: Logger) {
        self.replica = replica
        self.clients = clients
        self.interval = interval
        self.metrics = metrics
        self.logger = logger
    }

    /// The delay before retry number `failures` (1, 2, …): `interval · 2^(failures-1)`, capped,
    /// then scaled by a random factor in [0.5, 1] so that peers do not retry in lockstep.
    public static func backoff(failures: Int, interval: Duration, cap: Duration, jitter: Double) -> Duration {
        let base = interval * (1 << min(max(failures - 1, 0), 20))
        return min(base, cap) * max(0.5, min(1, jitter))
    }

    /// The delay before asking a busy peer again (it answered 429 or 503): what it asked for
    /// (`Retry-After`, else one interval), capped, plus up to half again at random so that
    /// refused clients spread out. It does not grow with repeated refusals: a busy peer is
    /// healthy, and a growing delay would leave single spokes of a busy hub waiting long after
    /// the rest of the federation converged (`scripts/bench` W4 guards it).
    public static func busyDelay(asked: Duration?, interval: Duration, cap: Duration, jitter: Double) -> Duration {
        min(asked ?? interval, cap) * (1 + max(0, min(0.5, jitter)))
    }

    public func run() async throws {
        let writes = LocalWrites()
        // On SIGTERM/SIGINT the loops are cancelled; a batch in flight commits whole or not at all.
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await watchLocalWrites(writes) }
                for client in clients {
                    group.addTask { await loop(client, writes) }
                }
            }
        }
    }

    /// Notices local writes by any SQLite client: the node's own sequence number grows.
    func watchLocalWrites(_ writes: LocalWrites) async {
        var last = (try? await replica.localSequence()) ?? 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            if let now = try? await replica.localSequence(), now != last {
                last = now
                await writes.bump()
            }
        }
    }

    func loop(_ client: PeerClient, _ writes: LocalWrites) async {
        let session = SyncSession(replica: replica, client: client, metrics: metrics, logger: logger)
        let clock = ContinuousClock()
        var failures = 0
        var toldTooLarge: Set<Dot> = []  // said once, not at every round
        var due = clock.now
        var seen = await writes.generation
        var soon = false  // a local write brought the next sync forward
        while !Task.isCancelled {
            if clock.now < due {
                // Asleep until the sync is due; a local write wakes a healthy peer's loop, whose
                // sync then follows within 200 ms (a failing peer waits out its backoff).
                if await writes.pause(until: due, wakingAfter: failures == 0 && !soon ? seen : nil) {
                    due = min(due, clock.now + .milliseconds(200))
                    soon = true
                }
                continue
            }
            soon = false
            seen = await writes.generation
            let started = Date()
            let summary = await session.run()
            if Task.isCancelled { break }
            if summary.succeeded {
                if failures > 0 { logger.info("peer \(client.url) is back") }
                failures = 0
                due = clock.now + interval
                if summary.received + summary.released + summary.sent > 0 {
                    logger.info(
                        "synced with \(client.url): received \(summary.received), released \(summary.released) held before, sent \(summary.sent), \(counted(summary.newConflicts, "new conflict"))"
                    )
                }
                // A held origin is no failed peer: said at each sync that holds more of it, never retried faster.
                for held in summary.held where held.since >= started {
                    logger.warning(
                        "holding back \(held.origin) from change \(held.first) (\(held.count) changes): \(held.code.rawValue): \(held.reason)"
                    )
                }
                for big in summary.tooLargeForPeer where toldTooLarge.insert(big.dot).inserted {
                    logger.warning(
                        "cannot push \(big.dot) to \(client.url): \(big.bytes) bytes as JSON, over its limit of \(big.limit); it can pull it"
                    )
                }
                for held in summary.heldByPeer {
                    logger.warning("\(client.url) holds back \(held.origin) from change \(held.origin):\(held.seq): \(held.code): \(held.reason)")
                }
            } else if summary.retryLater {
                let delay = SyncDaemon.busyDelay(asked: summary.retryAfter, interval: interval, cap: maxBackoff, jitter: Double.random(in: 0...0.5))
                logger.notice("peer \(client.url) is busy; will retry in \(delay.secondsText()) s")
                due = clock.now + delay
            } else {
                failures += 1
                let delay = SyncDaemon.backoff(failures: failures, interval: interval, cap: maxBackoff, jitter: Double.random(in: 0.5...1))
                logger.warning("will retry \(client.url) in \(delay.secondsText()) s (attempt \(failures) failed)")
                due = clock.now + delay
            }
        }
    }
}

/// A counter of local writes noticed (``SyncDaemon/watchLocalWrites(_:)`` reads the log
/// every 250 ms), shared by the peer loops, which sleep on it rather than poll it: a loop
/// wakes when its sync is due or the counter moves.
actor LocalWrites {
    private(set) var generation = 0
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter = 0

    func bump() {
        generation += 1
        for waiter in waiters.values { waiter.resume() }
        waiters.removeAll()
    }

    /// Returns once the generation is past `seen`, or the calling task is cancelled.
    func change(after seen: Int) async {
        guard generation == seen else { return }
        let id = nextWaiter
        nextWaiter += 1
        await withTaskCancellationHandler {
            await withCheckedContinuation { waiter in
                if Task.isCancelled { waiter.resume() } else { waiters[id] = waiter }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func cancelWaiter(_ id: Int) { waiters.removeValue(forKey: id)?.resume() }

    /// Sleeps until `deadline`, or until a write past generation `seen` (when given);
    /// whether a write ended it.
    nonisolated func pause(until deadline: ContinuousClock.Instant, wakingAfter seen: Int?) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return false
            }
            if let seen {
                group.addTask {
                    await self.change(after: seen)
                    return !Task.isCancelled
                }
            }
            let woken = await group.next() ?? false
            group.cancelAll()
            return woken
        }
    }
}
