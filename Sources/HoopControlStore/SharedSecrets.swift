import Foundation
import HoopPostgres

/// Keys every broker sharing a store must hold alike: each target's masking hash key (a hashed
/// value is the same whichever broker built the views; the target's masking schema holds it
/// too). Never a key that signs anything: those stay with each broker, their public halves in
/// the roster. The targets' concern.
public protocol SharedSecrets: Sendable {
    /// The value of `name` that every broker uses: the first one offered, kept; `value` is this
    /// broker's own, offered in case it is the first.
    func agree(on name: String, offering value: String) throws -> String
}

/// One broker: its own keys are the only ones.
public struct LocalSecrets: SharedSecrets {
    public init() {}
    public func agree(on name: String, offering value: String) throws -> String { value }
}

/// `hoopctl.shared_secrets`: readable by the brokers' role (whoever holds its DSN is a broker),
/// written once per name, never changed by a broker.
public final class PostgresSecrets: SharedSecrets, @unchecked Sendable {
    let connections: StoreConnections

    init(connections: StoreConnections) {
        self.connections = connections
    }

    public func agree(on name: String, offering value: String) throws -> String {
        try connections.with { connection in
            try connection.execute("INSERT INTO hoopctl.shared_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", [name, value])
            guard let agreed = try connection.execute("SELECT value FROM hoopctl.shared_secrets WHERE name = $1", [name]).scalar else {
                throw StoreError.invalid("the control store lost the shared key \(name)")
            }
            return agreed
        }
    }
}
