import Foundation
import HoopCommon
import HoopPostgres
import HoopSandbox
import XCTest

/// The real PostgreSQL, and its broker, that the integration tests use: the sandbox under
/// `$HOOPCTL_TEST_HOME` when `make test` started one, else a sandbox this test process starts
/// (`hoopctl sandbox up`, as a user would) in a temporary home and deletes when it exits.
public enum TestPostgres {
    public struct Instance: Sendable {
        public let sandbox: Sandbox
        public let state: SandboxState

        public var home: String { sandbox.home.path }

        /// `HOOPCTL_HOME` for commands that should talk to this sandbox's broker.
        public var environment: [String: String] {
            ["HOOPCTL_HOME": home, "HOOPCTL_POLICY": "", "HOOPCTL_LEDGER": "", "HOOPCTL_BROKER": ""]
        }

        /// A new admin connection to the `shop` database.
        public func admin(database: String = Sandbox.database) throws -> PostgresConnection {
            try sandbox.connect(state, database: database)
        }

        /// `loadtest.load_test`, owned (with its schema) by the application's owner role, as an
        /// application's tables are: the broker administers it by that membership, never as superuser.
        public func createLoadTestTable() throws {
            try admin().executeScript("""
                CREATE SCHEMA IF NOT EXISTS loadtest AUTHORIZATION shop_owner;
                ALTER SCHEMA loadtest OWNER TO shop_owner;
                CREATE TABLE IF NOT EXISTS loadtest.load_test (id bigserial PRIMARY KEY, who text NOT NULL DEFAULT current_user, v int, note text);
                ALTER TABLE loadtest.load_test OWNER TO shop_owner;
                """)
        }

        /// Tables of `public` a test made as the superuser, given to the application's owner
        /// role (as an application's tables are), which the broker administers them as.
        public func handToApplicationOwner(_ tables: [String]) throws {
            let admin = try admin()
            for table in tables { try admin.execute("ALTER TABLE public.\(try admin.quoteIdentifier(table)) OWNER TO shop_owner") }
        }

        /// The session roles that exist right now.
        public func sessionRoles() throws -> [String] {
            try admin().execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'hoop\\_s\\_%' ORDER BY 1").rows.compactMap { $0[0] }
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

    /// A sandbox of the test's own (cluster, broker, demo data), for a test that changes what
    /// others rely on; `removePrivate` stops and deletes it.
    public static func startPrivate() throws -> Instance {
        let home = try TemporaryDirectory("private-pg").path
        let environment = ["HOOPCTL_HOME": home, "HOOPCTL_POLICY": "", "HOOPCTL_LEDGER": "", "HOOPCTL_BROKER": ""]
        let up = try HoopctlBinary.run(["sandbox", "up"], environment: environment)
        guard up.succeeded else {
            removePrivate(home)
            throw TestSetupError("hoopctl sandbox up failed: \(up.stderr)\(up.stdout)")
        }
        let sandbox = Sandbox(home: StateDirectory(url: URL(fileURLWithPath: home)))
        guard let state = try sandbox.loadState() else { throw TestSetupError("no sandbox state in \(home)") }
        return Instance(sandbox: sandbox, state: state)
    }

    public static func removePrivate(_ home: String) {
        _ = try? HoopctlBinary.run(["sandbox", "down", "--purge"], environment: ["HOOPCTL_HOME": home])
        try? FileManager.default.removeItem(atPath: home)
    }

    nonisolated(unsafe) private static var cached: Instance?
    nonisolated(unsafe) private static var ownedHome: String?
    private static let lock = NSLock()

    static func takeOwnedHome() -> String? {
        lock.withLock {
            defer { ownedHome = nil }
            return ownedHome
        }
    }

    private static func start() throws -> Instance {
        let environment = ProcessInfo.processInfo.environment
        let home: String
        if let given = environment["HOOPCTL_TEST_HOME"], !given.isEmpty {
            home = given
        } else {
            home = try TemporaryDirectory("pg").path
            ownedHome = home
            // When the test bundle finishes, pass or fail (atexit is not reliably reached).
            XCTestObservationCenter.shared.addTestObserver(SandboxRemover())
            atexit { SandboxRemover.remove() }
        }
        // Idempotent: with `make test` it only checks that the sandbox and its broker run.
        let up = try HoopctlBinary.run(["sandbox", "up"], environment: ["HOOPCTL_HOME": home, "HOOPCTL_POLICY": "",
                                                                       "HOOPCTL_LEDGER": "", "HOOPCTL_BROKER": ""])
        guard up.succeeded else { throw TestSetupError("hoopctl sandbox up failed: \(up.stderr)\(up.stdout)") }
        let sandbox = Sandbox(home: StateDirectory(url: URL(fileURLWithPath: home)))
        guard let state = try sandbox.loadState() else { throw TestSetupError("no sandbox state in \(home)") }
        return Instance(sandbox: sandbox, state: state)
    }
}

/// Stops and deletes the sandbox this process started.
final class SandboxRemover: NSObject, XCTestObservation {
    func testBundleDidFinish(_ testBundle: Bundle) { Self.remove() }

    static func remove() {
        guard let path = TestPostgres.takeOwnedHome() else { return }
        _ = try? HoopctlBinary.run(["sandbox", "down", "--purge"], environment: ["HOOPCTL_HOME": path])
        try? FileManager.default.removeItem(atPath: path)
    }
}

public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
