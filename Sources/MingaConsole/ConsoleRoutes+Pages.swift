import Foundation
import Logging
import MingaCore
import MingaStore
import MingaSync

/// The pages and actions, each from the replica's public API (the same calls the command
/// line makes: `status`, `conflicts`, `log`, `roster list`).
extension ConsoleRoutes {
    /// The most conflicts one list shows; the filter narrows the rest.
    static let listLimit = 200

    // MARK: Overview

    func overview(_ visit: Visit) throws -> Outcome {
        let t = visit.text
        let status = try replica.status()
        let recorded = try replica.peers()
        // Both name a peer by its normalised URL (``PeerClient/normalize(_:)``).
        let configured = configuration.peers.map(\.url)
        var urls = configured
        for peer in recorded where !urls.contains(peer.url) { urls.append(peer.url) }
        let peers = urls.map { url -> OverviewBody.Peer in
            let state = recorded.first { $0.url == url } ?? PeerState(url: url)
            let lag = state.lag(local: status.vector).map { t("peer_lag", String($0.behind), String($0.ahead)) }
            return OverviewBody.Peer(
                url: url,
                nodeID: state.nodeID?.rawValue,
                lastSuccess: Shown.time(state.lastSuccess),
                lastAttempt: Shown.time(state.lastAttempt),
                lastError: state.lastError,
                lag: lag,
                canSync: configured.contains(url),
                heldByPeer: state.heldByPeer.map { t("held_by_peer", $0.origin.rawValue, $0.first.description, $0.reason) }
            )
        }
        let held = try replica.heldOrigins().map {
            OverviewBody.Held(
                origin: $0.origin.rawValue,
                first: $0.first.description,
                count: $0.count,
                code: $0.code.rawValue,
                explanation: $0.code.explanation,
                reason: $0.reason,
                since: Shown.time($0.since),
                source: $0.source.isEmpty ? t("this_node") : $0.source
            )
        }
        let body = OverviewBody(
            nodeID: status.nodeID.rawValue,
            origin: status.origin != status.nodeID ? status.origin.rawValue : nil,
            schemaVersion: status.schemaVersion,
            vector: Shown.vector(status.vector),
            changes: status.changes,
            lastChange: status.lastHLC?.readable,
            openConflicts: status.openConflicts,
            tables: status.rows.keys.sorted().map { OverviewBody.TableCount(table: $0, rows: status.rows[$0]!, href: Self.tableHref($0)) },
            peers: peers,
            hasPeers: !peers.isEmpty,
            held: held,
            drift: status.drift,
            pending: status.pending,
            hasHeld: !held.isEmpty,
            hasDrift: !status.drift.isEmpty
        )
        return .page(title: t("overview_title"), template: "overview", body: body)
    }

    /// Runs one sync with a configured peer now, as `minga sync --peer URL` would.
    func syncNow(_ visit: Visit) async throws -> Outcome {
        let url = PeerClient.normalize(visit.form["peer"] ?? "")
        guard let client = configuration.peers.first(where: { $0.url == url }) else {
            throw MingaError(.invalidInput, visit.text("unknown_peer", url))
        }
        let session = SyncSession(replica: replica, client: client, logger: logger)
        let summary = await session.run()
        let t = visit.text
        let line =
            summary.error.map { t("flash_sync_failed", url, $0) }
            ?? t("flash_synced", url, String(summary.received), String(summary.sent), String(summary.newConflicts))
            + (summary.released > 0 ? " " + t("flash_released", String(summary.released)) : "")
        logger.notice("console: sync now with \(url): \(summary.error ?? "received \(summary.received), sent \(summary.sent)")")
        sessions.setFlash(line, error: summary.error != nil, for: visit.sessionID)
        return .redirect("/console")
    }

    // MARK: Conflicts

    func conflictList(_ visit: Visit) throws -> Outcome {
        let t = visit.text
        let status = ["open", "resolved", "all"].contains(visit.query("status") ?? "") ? visit.query("status")! : "open"
        let table = visit.query("table").flatMap { $0.isEmpty ? nil : $0 }
        let (shown, total) = try replica.conflicts(resolved: status == "all" ? nil : status == "resolved", table: table, limit: Self.listLimit)
        let items = shown.map { record in
            let c = record.conflict
            return ConflictListBody.Item(
                id: c.id,
                shortID: String(c.id.prefix(12)),
                status: c.status.rawValue,
                open: c.status == .open,
                table: c.table,
                key: c.key.keyText,
                column: c.column,
                winner: side(record.winner, of: c, t),
                loser: side(record.loser, of: c, t),
                when: max(record.winner.write.hlc, record.loser.write.hlc).readable
            )
        }
        let body = ConflictListBody(
            items: items,
            statuses: ["open", "resolved", "all"].map { .init(value: $0, label: t("status_" + $0), selected: $0 == status) },
            tables: [.init(value: "", label: t("all_tables"), selected: table == nil)]
                + replica.tables.keys.sorted().map { .init(value: $0, label: $0, selected: $0 == table) },
            shown: items.count,
            total: total,
            truncated: total > items.count,
            hasItems: !items.isEmpty
        )
        return .page(title: t("conflicts_title"), template: "conflicts", body: body)
    }

    func side(_ side: ConflictSide, of conflict: Conflict, _ t: ConsoleText) -> String {
        if side.op == .delete { return t("deleted_row") }
        if conflict.column == nil { return side.columns.columnsText }
        return side.value?.plainJSON ?? "null"
    }

    func conflict(_ visit: Visit, id: String) throws -> Outcome {
        let t = visit.text
        let record = try replica.conflict(id: id)
        let c = record.conflict
        let signatures = (try? replica.signatures(of: [record.winner.write.dot, record.loser.write.dot])) ?? [:]
        let row = try replica.get(table: c.table, key: c.key)
        func shown(_ s: ConflictSide) -> ConflictBody.Side {
            let signature = signatures[s.write.dot]
            return ConflictBody.Side(
                value: side(s, of: c, t),
                origin: s.write.origin.rawValue,
                time: s.write.hlc.readable,
                change: s.write.dot.description,
                signature: signature.map { Self.signature($0, t) } ?? t("signature_unknown"),
                verified: signature?.isVerified ?? false
            )
        }
        if visit.query("done") == "resolved", c.resolvedBy == nil { throw MingaError(.invalidInput, t("not_resolved")) }
        let body = ConflictBody(
            id: c.id,
            status: c.status.rawValue,
            open: c.status == .open,
            table: c.table,
            key: c.key.keyText,
            rowHref: Self.rowHref(table: c.table, key: c.key),
            column: c.column,
            rowConflict: c.column == nil,
            winner: shown(record.winner),
            loser: shown(record.loser),
            resolvedBy: c.resolvedBy?.dot.description,
            resolvedAt: c.resolvedBy?.hlc.readable,
            cells: (row ?? []).map { RecordBody.Cell(column: $0.0, value: $0.1.cellText) },
            rowExists: row != nil
        )
        return .page(title: t("conflict_title"), template: "conflict", body: body)
    }

    /// Settles a conflict exactly as `minga conflicts resolve` does.
    func resolve(_ visit: Visit, id: String) async throws -> Outcome {
        let t = visit.text
        let resolution: Resolution
        switch visit.form["action"] ?? "" {
        case "keep-winner": resolution = .keepWinner
        case "take-loser": resolution = .takeLoser
        case "value":
            let typed = (visit.form["value"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if typed.hasPrefix("{"), let row = try? PlainValue.row(typed) {
                resolution = .row(row)
            } else if let value = try? JSONDecoder().decode(PlainValue.self, from: Data(typed.utf8)) {
                resolution = .value(value.value)
            } else {
                throw MingaError(.invalidInput, t("value_not_json"))
            }
        default: throw MingaError(.invalidInput, t("unknown_action"))
        }
        let record = try replica.resolve(conflictID: id, with: resolution)
        let by = record.conflict.resolvedBy.map { "\($0.dot)" } ?? "?"
        logger.notice("console: conflict \(record.conflict.id) resolved (\(visit.form["action"]!)) with change \(by)")
        sessions.setFlash(t("flash_resolved", String(record.conflict.id.prefix(12)), by), for: visit.sessionID)
        return .redirect("/console/conflicts/\(record.conflict.id)")
    }

    // MARK: Records and roster

    /// How many rows one page of a table's listing shows.
    static let rowsPerPage = 50
    /// The most changes a row's page shows (the newest); `minga log` shows them all.
    static let historyLimit = 100
    /// The last page of a listing one may ask for (50 million rows), so that no page number overflows.
    static let maxPage = 1_000_000

    func records(_ visit: Visit) throws -> Outcome {
        let rows = try replica.status().rows
        let chosen = visit.query("table").flatMap { replica.tables[$0] }
        let tables = replica.tables.values.sorted { $0.name < $1.name }.map {
            RecordsBody.Table(
                name: $0.name,
                rows: rows[$0.name] ?? 0,
                key: $0.keyColumns.joined(separator: ", "),
                selected: $0.name == chosen?.name,
                href: Self.tableHref($0.name)
            )
        }
        let page = min(max(Int(visit.query("page") ?? "") ?? 0, 0), Self.maxPage)
        var listing: [RecordsBody.Row] = []
        var more = false
        if let chosen {
            let shownColumns = Array(chosen.keyColumns + chosen.nonKeyColumns.prefix(2))
            let quoted = { (name: String) in "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
            let result = try replica.query(
                "SELECT \(shownColumns.map(quoted).joined(separator: ", ")) FROM \(quoted(chosen.name)) "
                    + "ORDER BY \(chosen.keyColumns.map(quoted).joined(separator: ", ")) LIMIT \(Self.rowsPerPage + 1) OFFSET \(page * Self.rowsPerPage)"
            )
            more = result.rows.count > Self.rowsPerPage
            listing = result.rows.prefix(Self.rowsPerPage).map { values in
                let key = Array(values.prefix(chosen.keyColumns.count))
                return RecordsBody.Row(
                    key: key.keyText,
                    href: Self.rowHref(table: chosen.name, key: key),
                    values: zip(shownColumns.dropFirst(key.count), values.dropFirst(key.count)).map { "\($0) = \($1.cellText)" }.joined(
                        separator: " · "
                    )
                )
            }
        }
        let body = RecordsBody(
            tables: tables,
            key: "",
            error: nil,
            table: chosen?.name,
            rows: listing,
            hasRows: !listing.isEmpty,
            previous: page > 0 && chosen != nil ? "/console/records?" + Self.encode(["table": chosen!.name, "page": String(page - 1)]) : nil,
            next: more && page < Self.maxPage ? "/console/records?" + Self.encode(["table": chosen!.name, "page": String(page + 1)]) : nil
        )
        return .page(title: visit.text("records_title"), template: "records", body: body)
    }

    static func tableHref(_ table: String) -> String { "/console/records?" + encode(["table": table]) }

    static func rowHref(table: String, key: [Value]) -> String {
        "/console/records/row?" + encode(["table": table, "key": key.keyText])
    }

    /// A signature status in the operator's language (the reason of a broken one as the core gives it).
    static func signature(_ signature: AuditedChange.Signature, _ t: ConsoleText) -> String {
        switch signature {
        case .verified(let dot): return t("signature_verified", dot.description)
        case .unknownOrigin: return t("signature_unknown_origin")
        case .broken(let why): return t("signature_broken", why)
        }
    }

    /// One row and its history: what `minga get` and `minga log` show.
    func record(_ visit: Visit) throws -> Outcome {
        let t = visit.text
        let name = visit.query("table") ?? ""
        let argument = (visit.query("key") ?? "").trimmingCharacters(in: .whitespaces)
        let table = try replica.table(named: name)
        let key = try replica.key(for: table, argument: argument)
        let row = try replica.get(table: name, key: key)
        let history = try replica.log(table: name, key: key, newest: Self.historyLimit)
        guard row != nil || !history.isEmpty else { throw MingaError(.notFound, t("no_row", argument, name)) }
        let entries = history.reversed().map { entry -> RecordBody.Entry in
            let change = entry.change
            return RecordBody.Entry(
                time: change.hlc.readable,
                change: change.dot.description,
                op: t("op_" + change.op.rawValue),
                values: change.columns.dictionary.columnsText,
                signature: Self.signature(entry.signature, t),
                verified: entry.signature.isVerified
            )
        }
        let body = RecordBody(
            table: name,
            key: argument,
            exists: row != nil,
            cells: (row ?? []).map { RecordBody.Cell(column: $0.0, value: $0.1.cellText) },
            history: entries,
            historyNote: entries.count == Self.historyLimit ? t("history_newest", String(Self.historyLimit)) : nil
        )
        return .page(title: t("record_title"), template: "record", body: body)
    }

    func roster(_ visit: Visit) throws -> Outcome {
        let members = try replica.rosterEntries().map {
            RosterBody.Member(node: $0.node.rawValue, publicKey: $0.publicKey.base64, addedAt: $0.addedAt, this: $0.node == replica.nodeID)
        }
        return .page(title: visit.text("roster_title"), template: "roster", body: RosterBody(members: members))
    }
}
