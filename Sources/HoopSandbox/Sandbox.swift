import Foundation
import HoopCommon
import HoopLedger
import HoopPostgres
import HoopProvisioning

/// A throwaway local PostgreSQL cluster with the demo `shop` database and a demo policy,
/// kept under `<home>/sandbox`. Every step is idempotent: `up` twice changes nothing.
///
/// initdb refuses to run as root, so as root the cluster is owned and run by the `postgres`
/// OS user and lives in /var/lib/hoopctl/sandboxes (root's home is not traversable by that
/// user); `<home>/sandbox/cluster` is then a link to it. Secrets stay in `<home>/sandbox`.
public struct Sandbox: Sendable {
    /// The cluster's superuser: it bootstraps the sandbox and is never in the broker's DSN.
    public static let adminUser = "hoop_admin"
    /// The broker's admin role: not a superuser (see `LeastPrivilege`).
    public static let brokerUser = "hoop_broker"
    public static let database = "shop"
    static let rootClusterParent = "/var/lib/hoopctl/sandboxes"

    public let home: StateDirectory
    public let directory: URL

    public init(home: StateDirectory) {
        self.home = home
        directory = home.url.appendingPathComponent("sandbox", isDirectory: true)
    }

    public var stateFile: String { directory.appendingPathComponent("sandbox.json").path }
    public var passwordFile: String { directory.appendingPathComponent("admin.password").path }
    var brokerPasswordFile: String { directory.appendingPathComponent("broker.password").path }
    /// The broker's admin connection string (as `hoop_broker`), which the policy's `admin_dsn_file` points at.
    public var adminDSNFile: String { directory.appendingPathComponent("admin.dsn").path }
    public var passFile: String { directory.appendingPathComponent("pgpass").path }
    public var policyFile: String { directory.appendingPathComponent("policy.yaml").path }
    /// The demo's auditor private key (`hoopctl audit replay --reveal --key`).
    public var auditorKeyFile: String { directory.appendingPathComponent("auditor.key").path }
    var clusterLink: String { directory.appendingPathComponent("cluster").path }

    // MARK: up

    /// Creates what is missing and starts what is stopped; reports each thing it did.
    @discardableResult
    public func up(report: (String) -> Void) throws -> SandboxState {
        let binaries = try PostgresBinaries.locate()
        let owner = try ClusterOwner.current()
        try home.create()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        var state = try loadState() ?? newState(owner: owner, version: binaries.majorVersion())
        let cluster = Cluster(binaries: binaries, owner: owner, directory: state.clusterDirectory)

        if !cluster.isInitialized {
            try prepareClusterDirectory(state, owner: owner)
            let password = try adminPassword()
            try cluster.initialize(adminUser: Sandbox.adminUser, password: password)
            report("created PostgreSQL \(state.postgresVersion.map(String.init) ?? "") cluster in \(state.clusterDirectory)")
        }

        if state.socketDirectory.utf8.count > 0, !state.socketDirectory.hasPrefix(state.clusterDirectory),
           FileManager.default.fileExists(atPath: state.socketDirectory) == false || (try? checkSocketDirectory(state)) == nil,
           !(try cluster.isRunning()) {
            // A socket directory outside the cluster (a long home) that is gone, or someone else's now: a new one.
            state.socketDirectory = try newState(owner: owner, version: state.postgresVersion).socketDirectory
        }

        if try cluster.isRunning() {
            // The running server knows its port even if our state file was lost.
            if let port = cluster.runningPort() { state.port = port }
            report("PostgreSQL already running on 127.0.0.1:\(state.port) (socket \(state.socketDirectory))")
        } else {
            state.port = try choosePort(previous: state.port)
            try cluster.start(port: state.port, socketDirectory: state.socketDirectory)
            report("started PostgreSQL on 127.0.0.1:\(state.port) (socket \(state.socketDirectory))")
        }
        try saveState(state)
        try writeCredentials(state)

        let admin = try PostgresConnection(conninfo: adminConnectionString(state, database: "postgres", password: try adminPassword(), trusted: true))
        if try admin.execute("SELECT 1 FROM pg_database WHERE datname = $1", [Sandbox.database]).rows.isEmpty {
            try admin.execute("CREATE DATABASE \(try admin.quoteIdentifier(Sandbox.database))")
        }
        let shop = try PostgresConnection(conninfo: adminConnectionString(state, database: Sandbox.database, password: try adminPassword(), trusted: true))
        if try shop.execute("SELECT to_regclass('public.customers') IS NULL").scalar == "t" {
            let data = DemoData()
            try data.load(into: shop)
            report("created database \(Sandbox.database) with \(data.customers.count) customers and \(data.orders.count) orders")
        } else {
            let count = try shop.execute("SELECT count(*) FROM public.customers").scalar ?? "?"
            report("database \(Sandbox.database) already has \(count) customers")
        }

        // Session roles get nothing by default, not even temporary objects (functions, tables).
        try shop.execute("REVOKE TEMPORARY ON DATABASE \(try shop.quoteIdentifier(Sandbox.database)) FROM PUBLIC")
        try ensureBrokerRole(shop)
        try writeBrokerDSN(state)

        if FileManager.default.fileExists(atPath: policyFile) {
            report("kept the policy in \(policyFile)")
        } else {
            // The demo's auditor key lives beside the policy; a real one is kept offline.
            let (keyFile, publicKey) = try AuditorKeyFile.generate(passphrase: nil)
            try PrivateFile.write(String(decoding: try JSONEncoder().encode(keyFile), as: UTF8.self) + "\n", to: auditorKeyFile)
            try PrivateFile.write(DemoPolicy.yaml(user: OSUser.name, auditorKey: publicKey.description), to: policyFile, mode: 0o644)
            report("wrote the demo policy to \(policyFile) (you, user:\(OSUser.name), are its admin)")
            report("wrote the demo auditor key to \(auditorKeyFile) (statement values are sealed to it)")
        }
        return state
    }

    private func newState(owner: ClusterOwner, version: Int?) throws -> SandboxState {
        let clusterDirectory: String
        switch owner {
        case .currentUser: clusterDirectory = clusterLink
        case .postgres: clusterDirectory = "\(Sandbox.rootClusterParent)/\(Sandbox.shortHash(home.path))"
        }
        var socketDirectory = "\(clusterDirectory)/run"
        // A unix socket path must fit in 107 bytes: "<dir>/.s.PGSQL.NNNNN". Otherwise a directory
        // of our own with a name no one can guess, in our runtime directory when there is one.
        if socketDirectory.utf8.count > 80 {
            var parent = "/tmp"
            if let runtime = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"], !runtime.isEmpty, runtime.utf8.count < 60,
               (try? PrivateDirectory.check(runtime, owner: OSUser.uid)) != nil {
                parent = runtime
            }
            socketDirectory = try PrivateDirectory.makeUnique(in: parent, prefix: "hoopctl-")
        }
        return SandboxState(port: 0, clusterDirectory: clusterDirectory, socketDirectory: socketDirectory,
                            clusterOwner: owner.userName, adminUser: Sandbox.adminUser, database: Sandbox.database,
                            postgresVersion: version, createdAt: Date())
    }

    private func prepareClusterDirectory(_ state: SandboxState, owner: ClusterOwner) throws {
        let fm = FileManager.default
        // The cluster's directory: its parent is ours (root's, or our home's), so it is made (or
        // checked) by us and given to the cluster's owner through a descriptor.
        try fm.createDirectory(atPath: URL(fileURLWithPath: state.clusterDirectory).deletingLastPathComponent().path,
                               withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try PrivateDirectory.ensure(state.clusterDirectory, owner: owner.ids)
        if case .postgres = owner {
            // The parents must be traversable by the postgres user.
            try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: Sandbox.rootClusterParent)
            try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: URL(fileURLWithPath: Sandbox.rootClusterParent).deletingLastPathComponent().path)
            if (try? fm.destinationOfSymbolicLink(atPath: clusterLink)) != state.clusterDirectory {
                try? fm.removeItem(atPath: clusterLink)
                try fm.createSymbolicLink(atPath: clusterLink, withDestinationPath: state.clusterDirectory)
            }
        }
    }

    private func choosePort(previous: UInt16) throws -> UInt16 {
        if previous != 0, FreePort.isFree(previous) { return previous }
        guard let port = FreePort.find() else { throw SandboxError.noFreePort }
        return port
    }

    /// The sandbox admin's password: made once, kept in a 0600 file, never printed.
    private func adminPassword() throws -> String { try secret(at: passwordFile) }

    /// A password made once and kept in a 0600 file.
    func secret(at path: String) throws -> String {
        if let existing = try? String(contentsOfFile: path, encoding: .utf8), !existing.isEmpty {
            return existing.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var generator = SystemRandomNumberGenerator()
        let password = (0..<24).map { _ in String(format: "%02x", generator.next() as UInt8) }.joined()
        try PrivateFile.write(password, to: path)
        return password
    }

    /// The broker's admin role, with what administering the demo target needs and no more.
    private func ensureBrokerRole(_ shop: PostgresConnection) throws {
        let role = try shop.quoteIdentifier(Sandbox.brokerUser)
        let verifier = try shop.passwordVerifier(password: try secret(at: brokerPasswordFile), user: Sandbox.brokerUser)
        let exists = try !shop.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", [Sandbox.brokerUser]).rows.isEmpty
        try shop.execute("\(exists ? "ALTER" : "CREATE") ROLE \(role) WITH LOGIN PASSWORD \(try shop.quoteLiteral(verifier))")
        let owners = try LeastPrivilege.tableOwners(shop, tables: try Catalog.tables(shop))
        for grant in try LeastPrivilege.grants(broker: Sandbox.brokerUser, database: Sandbox.database, tableOwners: owners,
                                               quote: shop.quoteIdentifier) {
            try shop.execute(grant)
        }
    }

    private func writeBrokerDSN(_ state: SandboxState) throws {
        let dsn = ConnectionString.make(["host": state.socketDirectory, "port": String(state.port), "user": Sandbox.brokerUser,
                                         "dbname": Sandbox.database, "password": try secret(at: brokerPasswordFile)])
        try PrivateFile.write(dsn + "\n", to: adminDSNFile)
    }

    private func writeCredentials(_ state: SandboxState) throws {
        let password = try adminPassword()
        try PrivateFile.write("*:\(state.port):*:\(state.adminUser):\(password.replacingOccurrences(of: ":", with: "\\:"))\n", to: passFile)
    }

    /// `trusted`: only pg_catalog's functions found by name (see `ConnectionString.trustedSearchPath`),
    /// for what hoopctl itself runs as the superuser.
    func adminConnectionString(_ state: SandboxState, database: String, password: String, trusted: Bool = false) -> String {
        ConnectionString.make(["host": state.socketDirectory, "port": String(state.port), "user": state.adminUser,
                               "dbname": database, "password": password, "application_name": "hoopctl-sandbox",
                               "options": trusted ? ConnectionString.trustedSearchPath : nil])
    }

    /// An admin connection to the sandbox (the tests and the demo use it).
    public func connect(_ state: SandboxState, database: String = Sandbox.database) throws -> PostgresConnection {
        try PostgresConnection(conninfo: adminConnectionString(state, database: database, password: try adminPassword()))
    }

    // MARK: down and status

    /// Stops the cluster; with `purge`, also deletes it and the sandbox's files (not the ledger).
    public func down(purge: Bool, report: (String) -> Void) throws {
        guard let state = try loadState() else {
            report("no sandbox in \(home.path)")
            return
        }
        let binaries = try PostgresBinaries.locate()
        let cluster = Cluster(binaries: binaries, owner: try ClusterOwner.named(state.clusterOwner), directory: state.clusterDirectory)
        if try cluster.isRunning() {
            try cluster.stop()
            report("stopped PostgreSQL on 127.0.0.1:\(state.port)")
        } else {
            report("PostgreSQL was not running")
        }
        if purge {
            let fm = FileManager.default
            let owner = try ClusterOwner.named(state.clusterOwner)
            if case .postgres = owner {
                // Everything inside belongs to the postgres user, who may put links there while we
                // delete: it deletes its own files (a link leads it only where it may delete anyway),
                // and root removes the directory, empty by then, from its root-owned parent.
                _ = try? owner.command("/bin/rm", ["-rf", "--one-file-system", "--", state.clusterDirectory]).run()
                if rmdir(state.clusterDirectory) != 0, errno != ENOENT {
                    throw SandboxError.command("cannot remove \(state.clusterDirectory): \(String(cString: strerror(errno)))")
                }
            } else {
                try? fm.removeItem(atPath: state.socketDirectory)
                if fm.fileExists(atPath: state.clusterDirectory) { try fm.removeItem(atPath: state.clusterDirectory) }
            }
            try fm.removeItem(at: directory)
            report("deleted the cluster and the sandbox files in \(directory.path)")
        }
    }

    public struct Status: Sendable {
        public let state: SandboxState
        public let running: Bool
        public let pid: Int?
    }

    public func status() throws -> Status {
        guard let state = try loadState() else { throw SandboxError.notCreated(home: home.path) }
        let cluster = Cluster(binaries: try PostgresBinaries.locate(), owner: try ClusterOwner.named(state.clusterOwner),
                              directory: state.clusterDirectory)
        let running = try cluster.isRunning()
        return Status(state: state, running: running, pid: running ? cluster.postmasterPID() : nil)
    }

    /// The socket directory is a directory of the cluster owner's, for no one else.
    public func checkSocketDirectory(_ state: SandboxState) throws {
        try PrivateDirectory.check(state.socketDirectory, owner: try ClusterOwner.named(state.clusterOwner).ids?.uid ?? OSUser.uid)
    }

    /// Shell variables that point hoopctl, and psql as the sandbox admin, at the sandbox.
    public func environment(_ state: SandboxState) -> [(String, String)] {
        [("HOOPCTL_HOME", home.path), ("HOOPCTL_POLICY", policyFile),
         ("PGHOST", state.socketDirectory), ("PGPORT", String(state.port)), ("PGUSER", state.adminUser),
         ("PGDATABASE", state.database), ("PGPASSFILE", passFile)]
    }

    // MARK: State file

    public func loadState() throws -> SandboxState? {
        guard let data = FileManager.default.contents(atPath: stateFile) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(SandboxState.self, from: data)
        } catch {
            throw SandboxError.command("\(stateFile) is damaged (\(error)); remove \(directory.path) to start over")
        }
    }

    private func saveState(_ state: SandboxState) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        try PrivateFile.write(String(decoding: try encoder.encode(state), as: UTF8.self) + "\n", to: stateFile)
    }

    /// A short stable name for a path (FNV-1a), to keep per-home directories apart.
    static func shortHash(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01b3 }
        return String(hash, radix: 16).leftPadded(to: 16).prefix(12).description
    }
}

extension String {
    func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
