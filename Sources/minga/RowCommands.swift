import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct Put: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Insert a row, or update only the given columns of an existing row.",
        discussion: """
            ROW is a JSON object of column values and must include the key columns, e.g.
              minga put initiative '{"iati_identifier":"XM-DAC-1-PR-1","status":"2"}'
            Integers, reals, text and null are written as JSON; for exact values use \
            {"int":"9007199254740993"}, {"real":"0.1"} or {"blob":"<base64>"}.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: "A tracked table.") var table: String
    @Argument(help: "The row as a JSON object.") var row: String

    func run() async throws {
        try await operate {
            let r = try replica.open()
            let inserted = try r.put(table: table, row: try PlainValue.row(row))
            print(inserted ? "inserted into \(table)" : "updated \(table)")
        }
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one row as JSON.",
        discussion: "KEY is the key's text, or a JSON array for a composite key: '[\"XM-1\",\"MX\"]'. Exits 1 if there is no such row."
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: "A tracked table.") var table: String
    @Argument(help: "The row's key.") var key: String

    func run() async throws {
        try await operate {
            let r = try replica.open()
            let t = try r.table(named: table)
            guard let row = try r.get(table: table, key: try r.key(for: t, argument: key)) else {
                throw MingaError("no row with key \(key) in \(table)")
            }
            print(Output.object(row))
        }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete one row by key.",
        discussion: "The delete is recorded and syncs like any other change. Exits 1 if there is no such row."
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: "A tracked table.") var table: String
    @Argument(help: "The row's key (text, or a JSON array for a composite key).") var key: String

    func run() async throws {
        try await operate {
            let r = try replica.open()
            let t = try r.table(named: table)
            guard try r.delete(table: table, key: try r.key(for: t, argument: key)) else {
                throw MingaError("no row with key \(key) in \(table)")
            }
            print("deleted from \(table)")
        }
    }
}

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a read-only SQL query.",
        discussion: "Prints a header line and one line per row, columns separated by ' | '; --json prints an array of objects."
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: "One SELECT statement.") var sql: String
    @Flag(help: "Print a JSON array of row objects.") var json = false

    func run() async throws {
        try await operate {
            let result = try replica.open().query(sql)
            if json {
                print("[" + result.rows.map { Output.object(Array(zip(result.columns, $0))) }.joined(separator: ",") + "]")
            } else {
                print(result.columns.joined(separator: " | "))
                for row in result.rows { print(row.map(Output.cell).joined(separator: " | ")) }
            }
        }
    }
}

struct Dump: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every tracked table in a canonical form.",
        discussion: """
            Tables in name order, rows sorted by key, one JSON object per row. Two nodes that \
            hold the same data print exactly the same bytes, so dumps can be compared with diff.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Flag(help: "Print one JSON object: table name to an array of rows.") var json = false

    func run() async throws {
        try await operate {
            FileHandle.standardOutput.write(Data(try replica.open().dump(json: json).utf8))
        }
    }
}

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
    @Argument(help: "A tracked table.") var table: String
    @Argument(help: "The row's key.") var key: String
    @Flag(help: "Print one JSON object per change: {\"change\": wire form, \"verified\": bool, \"signature\": status}.") var json = false

    func run() async throws {
        try await operate {
            let r = try replica.open()
            let changes = try r.log(table: table, key: try r.key(for: try r.table(named: table), argument: key))
            if changes.isEmpty { throw MingaError("no changes recorded for key \(key) in \(table)") }
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
