import NIOConcurrencyHelpers
import Prometheus

/// Counts the sync requests in progress against the node's limit.
final class SessionLimiter: Sendable {
    let limit: Int
    let active = NIOLockedValueBox(0)
    let gauge: Gauge

    init(limit: Int, gauge: Gauge) {
        self.limit = limit
        self.gauge = gauge
    }

    /// Takes a place if one is free.
    func enter() -> Bool {
        active.withLockedValue { active in
            guard active < limit else { return false }
            active += 1
            gauge.set(Int64(active))
            return true
        }
    }

    func leave() {
        active.withLockedValue { active in
            active -= 1
            gauge.set(Int64(active))
        }
    }
}
