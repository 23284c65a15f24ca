import ArgumentParser
import Foundation
import MingaCore
import MingaStore

struct SchemaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Add tables, columns and indexes on every node (schema migrations), and list them.",
        discussion: """
            A registry's schema grows over the years. Put the change in an SQL file and run \
            `minga schema apply FILE.sql` on one node: it changes this node's tables, and \
            records the change as a signed migration that reaches every other node with the \
            next syncs or bundles, like any other change. Each node applies it when it \
            arrives, before any row written under it; a row written under a migration a node \
            does not hold yet waits there (minga status shows it) until the migration arrives.

            A migration only adds: a table (CREATE TABLE, with a key Minga accepts), a column \
            (ALTER TABLE ... ADD COLUMN, NULL or a constant default), or an index (CREATE \
            INDEX, not UNIQUE). Dropping, renaming or changing the type of something would \
            strand what other nodes still write, so it is refused with what to do instead. \
            Never change tracked tables in the sqlite3 shell: Minga stops sealing and syncing \
            until such a change is undone.
            """,
        subcommands: [SchemaApply.self, SchemaHistory.self],
        defaultSubcommand: SchemaHistory.self
    )
}

struct SchemaApply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply the migrations in an SQL file here, and send them to every node.",
        discussion: """
            Every statement of the file is one migration; the file applies whole, in one \
            transaction, or not at all. For example:

                ALTER TABLE initiative ADD COLUMN gender_marker TEXT;
                CREATE TABLE evaluation(id TEXT PRIMARY KEY, score INTEGER);
                CREATE INDEX evaluation_score ON evaluation(score);
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Argument(help: ArgumentHelp("The SQL file of CREATE TABLE, ALTER TABLE ... ADD COLUMN and CREATE INDEX statements.", valueName: "file.sql"))
    var file: String

    func run() async throws {
        try await operate {
            guard FileManager.default.isReadableFile(atPath: file) else {
                throw MingaError(.failed, "cannot read the migration file \(file): no such file, or not readable")
            }
            guard let sql = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw MingaError(.invalidInput, "cannot read the migration file \(file): it is not UTF-8 text")
            }
            let r = try replica.open()
            let applied = try r.migrate(sql)
            for migration in applied { print("added \(migration.subject)") }
            print("schema version \(r.schemaVersion); the migration reaches the other nodes with the next sync or bundle")
        }
    }
}

struct SchemaHistory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List the migrations this node holds: who added what, and when."
    )

    @OptionGroup var replica: ReplicaOptions
    @Flag(help: "Print a JSON array of {kind, table, name, sql, origin, seq, hlc, error}.") var json = false

    func run() async throws {
        try await operate {
            let r = try replica.open()
            let records = try r.migrations()
            if json {
                try JSONOutput.print(records.map(MigrationHistoryJSON.init))
                return
            }
            print("schema version \(r.schemaVersion) (created from \(r.genesisVersion))")
            if records.isEmpty { print("no migrations") }
            for m in records {
                print("\(m.migration.sql)\n    \(m.author)")
                if let error = m.error { print("    NOT APPLIED here: \(error)") }
            }
        }
    }
}
