import Foundation

/// A PostgreSQL control store: one pool of connections, each concern behind its protocol.
public final class ControlStore: Sendable {
    public let address: StoreAddress
    public let ledger: PostgresLedger
    public let roster: PostgresBrokerRoster
    public let sessions: PostgresSessionStore
    public let requests: PostgresRequestStore
    public let secrets: PostgresSecrets

    /// Connects and checks the schema version: a broker refuses a store it does not know.
    public init(address: StoreAddress) throws {
        self.address = address
        ledger = try PostgresLedger(address: address)
        roster = PostgresBrokerRoster(connections: ledger.connections)
        sessions = PostgresSessionStore(connections: ledger.connections)
        requests = PostgresRequestStore(connections: ledger.connections)
        secrets = PostgresSecrets(connections: ledger.connections)
    }
}
