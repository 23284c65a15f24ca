import Foundation
import Prometheus

/// The node's Prometheus metrics, shared by the server routes and the sync daemon.
public final class SyncMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let changesApplied: Counter
    let changesServed: Counter
    let openConflicts: Gauge
    let sessions: Gauge

    public init() {
        changesApplied = registry.makeCounter(descriptor: Self.name("changes_applied_total", "Changes from peers newly applied to this replica."))
        changesServed = registry.makeCounter(descriptor: Self.name("changes_served_total", "Changes sent to peers by /v1/pull."))
        openConflicts = registry.makeGauge(descriptor: Self.name("open_conflicts", "Open conflicts in the conflict log."))
        sessions = registry.makeGauge(descriptor: Self.name("sync_sessions", "Pull and push requests being served now (at most --max-sessions)."))
    }

    static func name(_ metric: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "minga", metricName: metric, unitName: "", helpText: help)
    }

    func syncRound(peer: String, ok: Bool) {
        let descriptor = ok
            ? Self.name("sync_rounds_total", "Completed syncs per peer.")
            : Self.name("sync_failures_total", "Failed syncs per peer.")
        registry.makeCounter(descriptor: descriptor, labels: [("peer", peer)]).increment()
    }

    func wireBytes(peer: String, sent: Int, received: Int) {
        registry.makeCounter(descriptor: Self.name("wire_bytes_sent_total", "Body bytes sent to peers, as on the wire (compressed)."), labels: [("peer", peer)])
            .increment(by: Int64(sent))
        registry.makeCounter(descriptor: Self.name("wire_bytes_received_total", "Body bytes received from peers, as on the wire."), labels: [("peer", peer)])
            .increment(by: Int64(received))
    }

    public func text() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
