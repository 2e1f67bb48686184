import Foundation
import HoopCommon
import HoopPostgres

/// A control store of a test's own in the sandbox cluster: a database owned by an owner role,
/// a brokers' role that only logs in, and a DSN file for each (mode 0600), as an operator sets
/// them up. `initialize` runs `store init` as the owner. `remove()` drops all of it.
public final class ControlStoreFixture: @unchecked Sendable {
    public let pg: TestPostgres.Instance
    public let directory: TemporaryDirectory
    public let database: String
    public let ownerRole: String
    public let brokerRole: String
    public var ownerDSNFile: String { directory.file("owner.dsn") }
    public var brokerDSNFile: String { directory.file("store.dsn") }

    public init(_ pg: TestPostgres.Instance, initialize: Bool = true) throws {
        self.pg = pg
        directory = try TemporaryDirectory("store")
        // Readable by the postgres OS user is not needed: the files are read by this process only.
        let suffix = UUID().uuidString.prefix(8).lowercased()
        database = "hoop_control_\(suffix)"
        ownerRole = "hoop_store_owner_\(suffix)"
        brokerRole = "hoop_store_broker_\(suffix)"
        let admin = try pg.admin(database: "postgres")
        var generator = SystemRandomNumberGenerator()
        func password() -> String { (0..<16).map { _ in String(format: "%02x", generator.next() as UInt8) }.joined() }
        let (ownerPassword, brokerPassword) = (password(), password())
        try admin.execute("CREATE ROLE \(try admin.quoteIdentifier(ownerRole)) LOGIN PASSWORD \(try admin.quoteLiteral(ownerPassword))")
        try admin.execute("CREATE ROLE \(try admin.quoteIdentifier(brokerRole)) LOGIN PASSWORD \(try admin.quoteLiteral(brokerPassword))")
        try admin.execute("CREATE DATABASE \(try admin.quoteIdentifier(database)) OWNER \(try admin.quoteIdentifier(ownerRole))")
        // A new database lets PUBLIC create in its public schema on 15 only when asked; make sure nobody can.
        let owned = try pg.admin(database: database)
        try owned.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for (file, user, secret) in [(ownerDSNFile, ownerRole, ownerPassword), (brokerDSNFile, brokerRole, brokerPassword)] {
            let dsn = ConnectionString.make(["host": pg.state.socketDirectory, "port": String(pg.state.port), "user": user,
                                             "dbname": database, "password": secret])
            try PrivateFile.write(dsn + "\n", to: file)
        }
        if initialize {
            let result = try HoopctlBinary.run(["store", "init", "--dsn-file", ownerDSNFile, "--broker-role", brokerRole])
            guard result.succeeded else { throw TestSetupError("store init failed: \(result.stderr)") }
        }
    }

    /// A connection as the brokers' role (what a broker, or an attacker holding its DSN, has).
    public func asBroker() throws -> PostgresConnection {
        try PostgresConnection(conninfo: try String(contentsOfFile: brokerDSNFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// A connection as the store's owner.
    public func asOwner() throws -> PostgresConnection {
        try PostgresConnection(conninfo: try String(contentsOfFile: ownerDSNFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public func remove() {
        if let admin = try? pg.admin(database: "postgres") {
            _ = try? admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [database])
            _ = try? admin.execute("DROP DATABASE IF EXISTS \(try admin.quoteIdentifier(database))")
            _ = try? admin.execute("DROP ROLE IF EXISTS \(try admin.quoteIdentifier(brokerRole))")
            _ = try? admin.execute("DROP ROLE IF EXISTS \(try admin.quoteIdentifier(ownerRole))")
        }
        directory.remove()
    }
}
