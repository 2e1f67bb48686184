import Foundation
import HoopCommon
import HoopPostgres
import HoopSandbox

/// The real PostgreSQL the integration tests use: the sandbox under `$HOOPCTL_TEST_HOME`
/// when `make test` started one, else a sandbox this test process starts in a temporary home
/// and deletes when it exits. Never a mock.
public enum TestPostgres {
    public struct Instance: Sendable {
        public let sandbox: Sandbox
        public let state: SandboxState

        /// A new admin connection to the `shop` database.
        public func admin(database: String = Sandbox.database) throws -> PostgresConnection {
            try sandbox.connect(state, database: database)
        }
    }

    public static func shared() throws -> Instance {
        try lock.withLock {
            if let instance = cached { return instance }
            let instance = try start()
            cached = instance
            return instance
        }
    }

    nonisolated(unsafe) private static var cached: Instance?
    private static let lock = NSLock()

    private static func start() throws -> Instance {
        let environment = ProcessInfo.processInfo.environment
        if let home = environment["HOOPCTL_TEST_HOME"], !home.isEmpty {
            let sandbox = Sandbox(home: StateDirectory(url: URL(fileURLWithPath: home)))
            // `make test` already ran `sandbox up`; this only reads the state (and restarts if needed).
            let state = try sandbox.up { _ in }
            return Instance(sandbox: sandbox, state: state)
        }
        let home = try TemporaryDirectory("pg")
        let sandbox = Sandbox(home: StateDirectory(url: home.url))
        let state = try sandbox.up { _ in }
        ownedSandboxHome = home.path
        atexit {
            guard let path = TestPostgres.ownedSandboxHome else { return }
            let sandbox = Sandbox(home: StateDirectory(url: URL(fileURLWithPath: path)))
            try? sandbox.down(purge: true) { _ in }
            try? FileManager.default.removeItem(atPath: path)
        }
        return Instance(sandbox: sandbox, state: state)
    }

    nonisolated(unsafe) private static var ownedSandboxHome: String?
}
