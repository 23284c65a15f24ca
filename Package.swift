// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Minga",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "minga", targets: ["minga"]),
        .executable(name: "minga-bench", targets: ["minga-bench"]),
        .library(name: "MingaCore", targets: ["MingaCore"]),
        .library(name: "MingaStore", targets: ["MingaStore"]),
        .library(name: "MingaSync", targets: ["MingaSync"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // Pure model: no I/O; Foundation, and swift-crypto for hashes and origin signatures.
        // The merge rule lives here, once.
        .target(name: "MingaCore", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // The replica on SQLite: tracked tables, trigger capture, change log, apply, conflicts.
        .target(
            name: "MingaStore",
            dependencies: ["MingaCore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // Transports: bundle files, and HTTP server and client.
        .target(
            name: "MingaSync",
            dependencies: [
                "MingaCore", "MingaStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        // The cooperation registry: default schema, IATI codelists, IATI XML and CSV.
        .target(
            name: "MingaCooperation",
            dependencies: ["MingaCore", "MingaStore", .product(name: "CSV", package: "CSV.swift")],
            exclude: ["Resources"]
        ),
        // The operator's console: server-rendered pages under /console of `minga serve`.
        .target(
            name: "MingaConsole",
            dependencies: [
                "MingaCore", "MingaStore", "MingaSync",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [
                .embedInCode("Templates/layout-top.mustache"),
                .embedInCode("Templates/layout-bottom.mustache"),
                .embedInCode("Templates/signin.mustache"),
                .embedInCode("Templates/overview.mustache"),
                .embedInCode("Templates/conflicts.mustache"),
                .embedInCode("Templates/conflict.mustache"),
                .embedInCode("Templates/records.mustache"),
                .embedInCode("Templates/record.mustache"),
                .embedInCode("Templates/roster.mustache"),
                .embedInCode("Templates/message.mustache"),
                .embedInCode("Locales/en.json"),
                .embedInCode("Locales/es.json"),
                .embedInCode("Locales/pt.json"),
                .embedInCode("Static/console.css"),
            ]
        ),
        .executableTarget(
            name: "minga",
            dependencies: [
                "MingaCore", "MingaStore", "MingaSync", "MingaCooperation", "MingaConsole",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        // In-process figures for scripts/bench (signing and verifying cost per change).
        .executableTarget(name: "minga-bench", dependencies: ["MingaCore"]),
        // What the test targets share: the test federation's keys and replicas, and `Fixture`
        // (replicas, sync, the node's HTTP app) that each test target extends.
        .target(
            name: "MingaTestSupport",
            dependencies: [
                "MingaCore", "MingaStore", "MingaSync",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/MingaTestSupport"
        ),
        .testTarget(
            name: "MingaCoreTests",
            dependencies: ["MingaCore", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(
            name: "MingaStoreTests",
            dependencies: [
                "MingaCore", "MingaStore", "MingaTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "MingaSyncTests",
            dependencies: [
                "MingaCore", "MingaStore", "MingaSync", "MingaTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "MingaConsoleTests",
            dependencies: [
                "MingaCore", "MingaStore", "MingaSync", "MingaConsole", "MingaTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "MingaCooperationTests",
            dependencies: ["MingaCore", "MingaStore", "MingaCooperation", "MingaTestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["MingaCore"],
            exclude: ["Fixtures", "Browser"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
