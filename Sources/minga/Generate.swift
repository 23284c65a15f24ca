import ArgumentParser
import Foundation
import MingaCooperation
import MingaCore
import MingaStore

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a synthetic cooperation registry (for trials, demos and benchmarks).",
        discussion: """
            Ten agencies of the region, the Mexico–Chile Joint Cooperation Fund, and N \
            initiatives (bilateral, triangular, regional) with participants, recipient \
            countries, sectors, SDGs and transactions. The same --seed gives the same registry \
            on every machine. Needs a replica created with the cooperation schema; every row is \
            written as a local change, so it syncs like any other edit.
            """
    )

    @OptionGroup var replica: ReplicaOptions
    @Option(help: "How many initiatives.") var initiatives = 100
    @Option(help: "The seed: the same seed gives the same registry.") var seed: UInt64 = 2026
    @Flag(help: "Do not print progress.") var quiet = false

    func validate() throws {
        guard initiatives >= 0 else { throw ValidationError("--initiatives must be zero or more") }
    }

    func run() async throws {
        try await operate {
            let r = try replica.open()
            guard r.tables["initiative"] != nil else {
                throw MingaError(.invalidInput, "this replica does not hold the cooperation schema (create it with `minga init --node-id ID`)")
            }
            var last = Date.distantPast
            try RegistryGenerator(seed: seed).load(into: r, initiatives: initiatives) { done, total in
                guard !quiet, Date().timeIntervalSince(last) > 0.5 || done == total else { return }
                last = Date()
                FileHandle.standardError.write(Data("\rgenerating: \(done)/\(total) rows".utf8) + (done == total ? Data("\n".utf8) : Data()))
            }
            print("loaded a registry of \(initiatives) initiatives (seed \(seed))")
        }
    }
}
