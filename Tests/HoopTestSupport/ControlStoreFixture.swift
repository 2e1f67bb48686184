import Foundation
import HoopCommon
import HoopPostgres
import HoopSandbox

/// A control store of a test's own in the sandbox cluster (`Sandbox.controlStore`: a database
/// owned by an owner role, a brokers' role that only logs in, a DSN file for each), named
/// apart from every other test's. `initialize: false` leaves `store init` to the test.
/// `remove()` drops all of it.
public final class ControlStoreFixture: @unchecked Sendable {
    public let pg: TestPostgres.Instance
    public let directory: TemporaryDirectory
    public let store: SandboxControlStore
    public var database: String { store.database }
    public var ownerRole: String { store.ownerRole }
    public var brokerRole: String { store.brokerRole }
    public var ownerDSNFile: String { store.ownerDSNFile }
    public var brokerDSNFile: String { store.brokerDSNFile }

    public init(_ pg: TestPostgres.Instance, initialize: Bool = true) throws {
        self.pg = pg
        directory = try TemporaryDirectory("store")
        store = try pg.sandbox.controlStore(pg.state, name: "hoop_control_\(UUID().uuidString.prefix(8).lowercased())",
                                            directory: directory.path)
        if !initialize { try asOwner().execute("DROP SCHEMA hoopctl CASCADE") }
    }

    /// A connection as the brokers' role (what a broker, or an attacker holding its DSN, has).
    public func asBroker() throws -> PostgresConnection { try connection(brokerDSNFile) }

    /// A connection as the store's owner.
    public func asOwner() throws -> PostgresConnection { try connection(ownerDSNFile) }

    private func connection(_ file: String) throws -> PostgresConnection {
        try PostgresConnection(conninfo: try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public func remove() {
        try? pg.sandbox.dropControlStore(pg.state, name: database)
        directory.remove()
    }
}
