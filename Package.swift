// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "hoopctl",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "hoopctl", targets: ["hoopctl"]),
        .executable(name: "hoopctl-bench", targets: ["hoopctl-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // 4.x: what jwt-kit (OIDC tokens) builds on.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // OIDC ID and access tokens: JWKS, RS256 and ES256, registered claims (issue 18). Well kept
        // (Vapor); hand-written JWT checks are where forged-token bugs live.
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // The Model Context Protocol over stdio, for `hoopctl mcp` (agents' door).
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", exact: "0.12.1"),
    ],
    targets: [
        // C libraries from Debian: libpq (admin connections) and libpg_query (PostgreSQL's parser).
        // prctl(2), which Swift cannot call directly (it is variadic).
        .systemLibrary(name: "CProcess"),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CPgQuery", providers: [.apt(["libpg-query-dev"])]),

        // Small shared vocabulary: state directory, durations, child processes.
        .target(name: "HoopCommon", dependencies: ["CProcess"]),
        // The policy file: YAML → validated model, every problem with its location.
        .target(name: "HoopPolicy", dependencies: [
            "HoopCommon",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The tamper-evident ledger: SQLite (WAL) through GRDB, SHA-256 hash chain.
        .target(name: "HoopLedger", dependencies: [
            "HoopCommon", "HoopLedgerModel",
            .product(name: "GRDB", package: "GRDB.swift"),
            // SQLite's own calls for the append path (binding without GRDB's boxed arguments).
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
            // HPKE's sealed values and the auditor key file's scrypt.
            .product(name: "CryptoExtras", package: "swift-crypto"),
        ]),
        // libpq: admin connections, quoting, parameters.
        .target(name: "HoopPostgres", dependencies: ["CLibPQ"]),
        // The control store in PostgreSQL that several brokers share (issue 19), through libpq:
        // the same connection strings, service files and sslmodes as the targets' admin DSNs,
        // blocking calls like the SQLite ledger's, and no second PostgreSQL client to build.
        .target(name: "HoopControlStore", dependencies: ["HoopCommon", "HoopLedger", "HoopPostgres", "HoopBrokerAPI"]),
        // libpg_query: split, normalize, fingerprint, parse.
        .target(name: "HoopSQL", dependencies: ["CPgQuery"]),
        .target(name: "HoopGuardrails", dependencies: ["HoopPolicy", "HoopSQL"]),
        .target(name: "HoopDetectors", dependencies: [
            "HoopPolicy", .product(name: "Crypto", package: "swift-crypto"), .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // The ledger's records, queries and reports as values, without the storage: what the
        // broker protocol carries (so its clients do not link SQLite).
        .target(name: "HoopLedgerModel"),
        // The broker's request/response protocol, shared by the broker and its clients.
        .target(name: "HoopBrokerAPI", dependencies: ["HoopLedgerModel"]),
        // What the broker does to a target database: masking views, session roles, the doctor.
        .target(name: "HoopProvisioning", dependencies: [
            "HoopPolicy", "HoopPostgres", "HoopBrokerAPI", "HoopDetectors", "HoopLedgerModel",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The broker: `hoopctl serve`. Policy, ledger and admin connections live only here.
        .target(name: "HoopBroker", dependencies: [
            "HoopCommon", "HoopPolicy", "HoopLedger", "HoopProvisioning", "HoopBrokerAPI", "HoopPostgres", "HoopProxy", "HoopWire", "HoopDetectors",
            "HoopSQL", "HoopGuardrails", "HoopOIDC", "HoopControlStore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        // A small HTTP/1.1 client: over a unix socket or TLS, answers capped, deadlines.
        .target(name: "HoopHTTP", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // OpenID Connect: discovery, token verification (jwt-kit), and the sign-in flows of `hoopctl login`.
        .target(name: "HoopOIDC", dependencies: [
            "HoopCommon", "HoopHTTP", .product(name: "JWTKit", package: "jwt-kit"), .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // How commands talk to the broker.
        .target(name: "HoopBrokerClient", dependencies: [
            "HoopBrokerAPI", "HoopHTTP",
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // The PostgreSQL wire protocol: framing, the messages the proxy reads or writes, SCRAM.
        .target(name: "HoopWire", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CryptoExtras", package: "swift-crypto"),
        ]),
        // The guard proxy: every statement recorded before it reaches the database.
        .target(name: "HoopProxy", dependencies: [
            "HoopWire", "HoopSQL", "HoopLedger", "HoopPolicy", "HoopGuardrails", "HoopDetectors",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // `hoopctl mcp`: an MCP server whose session goes through the broker and the guard proxy.
        .target(name: "HoopMCP", dependencies: [
            "HoopBrokerAPI", "HoopBrokerClient", "HoopPostgres",
            .product(name: "MCP", package: "swift-sdk"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The throwaway local PostgreSQL cluster with demo data and a demo policy.
        .target(name: "HoopSandbox", dependencies: ["HoopCommon", "HoopLedger", "HoopPostgres", "HoopProvisioning", "HoopControlStore"]),
        // Every command of the command line; the executable is a shim over it.
        .target(name: "HoopCLI", dependencies: [
            "HoopCommon", "HoopPolicy", "HoopLedger", "HoopSandbox", "HoopBroker", "HoopBrokerClient", "HoopBrokerAPI",
            "HoopGuardrails", "HoopSQL", "HoopMCP", "HoopOIDC", "HoopControlStore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "hoopctl", dependencies: ["HoopCLI"]),
        // `make bench`: figures with baselines from the same run.
        .executableTarget(name: "hoopctl-bench", dependencies: [
            "HoopCommon", "HoopLedger", "HoopPolicy", "HoopPostgres", "HoopProvisioning", "HoopSandbox", "HoopControlStore",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
        ]),

        // Test support: a real PostgreSQL for the tests, temporary homes, running the binary.
        .target(name: "HoopTestSupport", dependencies: [
            "HoopCommon", "HoopSandbox", "HoopPostgres", "HoopWire", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
        ], path: "Tests/HoopTestSupport"),
        .testTarget(name: "HoopPolicyTests", dependencies: ["HoopPolicy", "HoopCommon", "HoopSandbox"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HoopLedgerTests", dependencies: ["HoopLedger", "HoopTestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "HoopSQLTests", dependencies: ["HoopSQL"]),
        .testTarget(name: "HoopDetectorsTests", dependencies: ["HoopDetectors", "HoopPolicy", "HoopSandbox"]),
        .testTarget(name: "HoopGuardrailsTests", dependencies: ["HoopGuardrails", "HoopPolicy", "HoopSQL", "HoopSandbox"],
                    resources: [.copy("Corpus")]),
        .testTarget(name: "HoopControlStoreTests", dependencies: ["HoopControlStore", "HoopLedger", "HoopPostgres", "HoopCommon", "HoopBrokerAPI", "HoopTestSupport"]),
        .testTarget(name: "HoopPostgresTests", dependencies: ["HoopPostgres", "HoopTestSupport"]),
        .testTarget(name: "HoopWireTests", dependencies: [
            "HoopWire", "HoopTestSupport", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOTestUtils", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "HoopProvisioningTests", dependencies: ["HoopProvisioning", "HoopPolicy", "HoopSandbox", "HoopDetectors", "HoopTestSupport"]),
        .testTarget(name: "HoopProxyTests", dependencies: [
            "HoopProxy", "HoopWire", "HoopLedger", "HoopTestSupport", "HoopDetectors", "HoopPolicy", "HoopSQL",
            .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "HoopMCPTests", dependencies: ["HoopMCP"]),
        .testTarget(name: "HoopOIDCTests", dependencies: ["HoopOIDC"]),
        .testTarget(name: "HoopBrokerTests", dependencies: [
            "HoopBroker", "HoopBrokerAPI", "HoopOIDC", "HoopCommon", "HoopLedger", "HoopSandbox", "HoopTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "HoopCLITests", dependencies: [
            "HoopCLI", "HoopLedger", "HoopCommon", "HoopTestSupport", "HoopWire", .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], exclude: ["Clients"]),  // client scripts the tests run, found by #filePath
    ],
    swiftLanguageModes: [.v6]
)
