import Foundation
import MingaStore
import Prometheus
import Synchronization

/// The node's Prometheus metrics, shared by the server routes and the sync daemon.
public final class SyncMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let changesApplied: Counter
    let changesServed: Counter
    let openConflicts: Gauge
    let sessions: Gauge
    let heldOrigins: Gauge
    /// The per-origin gauges of held changes now registered, to retire those no longer held.
    private let heldGauges = Mutex<[String: Gauge]>([:])

    public init() {
        changesApplied = registry.makeCounter(descriptor: Self.name("changes_applied_total", "Changes from peers newly applied to this replica."))
        changesServed = registry.makeCounter(descriptor: Self.name("changes_served_total", "Changes sent to peers by /v1/pull."))
        openConflicts = registry.makeGauge(descriptor: Self.name("open_conflicts", "Open conflicts in the conflict log."))
        sessions = registry.makeGauge(descriptor: Self.name("sync_sessions", "Pull and push requests being served now (at most --max-sessions)."))
        heldOrigins = registry.makeGauge(descriptor: Self.name("held_origins", "Origins this node holds changes of (protocol §13)."))
    }

    /// Sets `minga_held_changes{origin,first,code}` (how many changes of each held origin
    /// wait, from which change and why) and `minga_held_origins`; an origin no longer held
    /// leaves the exposition.
    public func held(_ origins: [HeldOrigin]) {
        heldOrigins.set(Int64(origins.count))
        heldGauges.withLock { gauges in
            var now: [String: Gauge] = [:]
            for held in origins {
                let labels = [("origin", held.origin.rawValue), ("first", String(held.firstSeq)), ("code", held.code.rawValue)]
                let key = labels.map(\.1).joined(separator: "\u{0}")
                let gauge =
                    gauges[key]
                    ?? registry.makeGauge(
                        descriptor: Self.name("held_changes", "Changes held back per origin: the first held sequence number and why (protocol §13)."),
                        labels: labels
                    )
                gauge.set(Int64(held.count))
                now[key] = gauge
            }
            for (key, gauge) in gauges where now[key] == nil { registry.unregisterGauge(gauge) }
            gauges = now
        }
    }

    static func name(_ metric: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "minga", metricName: metric, unitName: "", helpText: help)
    }

    func syncRound(peer: String, ok: Bool) {
        let descriptor =
            ok
            ? Self.name("sync_rounds_total", "Completed syncs per peer.")
            : Self.name("sync_failures_total", "Failed syncs per peer.")
        registry.makeCounter(descriptor: descriptor, labels: [("peer", peer)]).increment()
    }

    func wireBytes(peer: String, sent: Int, received: Int) {
        registry.makeCounter(
            descriptor: Self.name("wire_bytes_sent_total", "Body bytes sent to peers, as on the wire (compressed)."),
            labels: [("peer", peer)]
        )
        .increment(by: Int64(sent))
        registry.makeCounter(
            descriptor: Self.name("wire_bytes_received_total", "Body bytes received from peers, as on the wire."),
            labels: [("peer", peer)]
        )
        .increment(by: Int64(received))
    }

    public func text() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
