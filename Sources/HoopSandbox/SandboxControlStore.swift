import Foundation
import HoopCommon
import HoopControlStore
import HoopPostgres

/// A control store in the sandbox's cluster, set up as an operator would for several brokers:
/// a database owned by a role of its own, a brokers' role that only logs in, a DSN file for
/// each (mode 0600), and `store init` run as the owner.
public struct SandboxControlStore: Sendable {
    public let database: String
    public let ownerRole: String
    public let brokerRole: String
    /// What `hoopctl store init` and `store migrate` connect with (the owner).
    public let ownerDSNFile: String
    /// What `hoopctl serve --store-dsn-file` connects with (the brokers' role).
    public let brokerDSNFile: String
}

extension Sandbox {
    /// Creates (or, when it exists, keeps) the control store named `name`, its DSN files in `directory`.
    public func controlStore(_ state: SandboxState, name: String = "hoopctl_control", directory: String? = nil) throws -> SandboxControlStore {
        let directory = directory ?? self.directory.path
        let store = SandboxControlStore(database: name, ownerRole: "\(name)_owner", brokerRole: "\(name)_broker",
                                        ownerDSNFile: "\(directory)/\(name)-owner.dsn", brokerDSNFile: "\(directory)/\(name).dsn")
        let admin = try connect(state, database: "postgres")
        for (role, file) in [(store.ownerRole, store.ownerDSNFile), (store.brokerRole, store.brokerDSNFile)] {
            let password = try secret(at: "\(directory)/\(role).password")
            let verifier = try admin.passwordVerifier(password: password, user: role)
            let exists = try !admin.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]).rows.isEmpty
            try admin.execute("\(exists ? "ALTER" : "CREATE") ROLE \(try admin.quoteIdentifier(role)) WITH LOGIN PASSWORD \(try admin.quoteLiteral(verifier))")
            let dsn = ConnectionString.make(["host": state.socketDirectory, "port": String(state.port), "user": role,
                                             "dbname": name, "password": password])
            try PrivateFile.write(dsn + "\n", to: file)
        }
        if try admin.execute("SELECT 1 FROM pg_database WHERE datname = $1", [name]).rows.isEmpty {
            try admin.execute("CREATE DATABASE \(try admin.quoteIdentifier(name)) OWNER \(try admin.quoteIdentifier(store.ownerRole))")
            try connect(state, database: name).execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        }
        _ = try StoreSchema.initialize(try StoreAddress(dsnFile: store.ownerDSNFile).connect(), brokerRole: store.brokerRole)
        return store
    }

    /// Drops the control store named `name` and its roles (the DSN files stay with the sandbox's).
    public func dropControlStore(_ state: SandboxState, name: String) throws {
        let admin = try connect(state, database: "postgres")
        try admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [name])
        try admin.execute("DROP DATABASE IF EXISTS \(try admin.quoteIdentifier(name))")
        for role in ["\(name)_broker", "\(name)_owner"] { try admin.execute("DROP ROLE IF EXISTS \(try admin.quoteIdentifier(role))") }
    }
}
