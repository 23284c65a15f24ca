import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct Log: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every change of one row: who changed what, when, and whether its origin's signature verifies.",
        discussion: """
            KEY is the key's text, or a JSON array for a composite key.

            Each change shows its time (HLC), origin and sequence number, operation and the \
            values it set, then its signature status: the origin's hash chain is recomputed \
            from this change to the next change the origin signed, and that signature is \
            checked against the roster's key. "verified (signed at ORIGIN:SEQ)" means the \
            origin vouches for exactly this content; anything else is printed as NOT VERIFIED \
            with the reason.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @OptionGroup var row: RowArguments
    @Flag(help: "Print one JSON object per change: {\"change\": wire form, \"verified\": bool, \"signature\": status}.") var json = false

    func run() async throws {
        try await operate {
            let r = try replica.open()
            let changes = try r.log(table: row.table, key: try row.key(in: r))
            if changes.isEmpty { throw MingaError(.notFound, "no changes recorded for key \(row.key) in \(row.table)") }
            for entry in changes {
                let change = entry.change
                if json {
                    try JSONOutput.print(AuditedChangeJSON(entry))
                } else {
                    let columns = change.columns.keys.sorted().map { "\($0)=\(change.columns[$0]!.plainJSON)" }.joined(separator: " ")
                    print("\(change.hlc.readable)  \(change.origin):\(change.seq)  \(change.op.rawValue)  \(columns)")
                    print("    signature: \(entry.signature.text)")
                }
            }
        }
    }
}
