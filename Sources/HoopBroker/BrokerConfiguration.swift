import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopLedger

/// Where the broker finds its policy, keeps its ledger and listens.
public struct BrokerConfiguration: Sendable {
    public var policyPath: String
    public var ledgerPath: String
    /// The control store in PostgreSQL (its DSN file) that holds the ledger instead of
    /// `ledgerPath`, shared with other brokers; nil: the SQLite file, one broker.
    public var storeDSNFile: String?
    public var socketPath: String
    /// Per-target secrets (the masking hash keys) live here, mode 0600.
    public var stateDirectory: String
    /// How often the reaper looks for expired sessions and vanished clients.
    public var reapInterval: Duration = .seconds(1)
    /// How often the broker compares the database's session roles with the ledger.
    public var reconcileInterval: Duration = .seconds(60)
    /// How often the chain's head is signed and published outside the ledger file (when it moved).
    public var checkpointInterval: Duration = .seconds(10)
    /// Where the guard proxy listens; the port is kept in `<state>/proxy.port` when nil.
    public var proxyHost = "127.0.0.1"
    public var proxyPort: Int?
    /// How long a session opened from the network lives without its client renewing it
    /// (`$HOOPCTL_TEST_REMOTE_LEASE_SECONDS` in tests); clients renew at a third of it.
    public var remoteLease: Duration = .seconds(90)
    /// Listeners beyond this machine (TLS); nil: nothing listens but the unix socket and loopback.
    public var network: NetworkListeners?
    /// A record is committed before what it describes happens either way; this says when it
    /// is also on disk (see `Ledger.Durability`).
    public var ledgerDurability = Ledger.Durability.batched(interval: .milliseconds(20))
    /// A test hook ($HOOPCTL_TEST_LEDGER_COMMIT_DELAY_MS): each group commit of the proxy's
    /// records takes this much longer, as on a slow disk.
    public var ledgerCommitDelay = Duration.zero

    public init(policyPath: String, ledgerPath: String, socketPath: String, stateDirectory: String) {
        self.policyPath = policyPath
        self.ledgerPath = ledgerPath
        self.socketPath = socketPath
        self.stateDirectory = stateDirectory
    }

    /// The defaults for a state directory, with `$HOOPCTL_POLICY`, `$HOOPCTL_LEDGER` and `$HOOPCTL_BROKER` honoured.
    public static func defaults(for state: StateDirectory, policy: String? = nil) -> BrokerConfiguration {
        var configuration = BrokerConfiguration(policyPath: policy ?? state.policyPath(), ledgerPath: state.ledgerPath(),
                                                socketPath: BrokerAPI.socketPath(stateDirectory: state.path), stateDirectory: state.path)
        if let lease = ProcessInfo.processInfo.environment["HOOPCTL_TEST_REMOTE_LEASE_SECONDS"].flatMap(Int.init), lease > 0 {
            configuration.remoteLease = .seconds(lease)
        }
        if let delay = ProcessInfo.processInfo.environment["HOOPCTL_TEST_LEDGER_COMMIT_DELAY_MS"].flatMap(Int.init), delay > 0 {
            configuration.ledgerCommitDelay = .milliseconds(delay)
        }
        return configuration
    }
}

/// The broker's API and its guard proxy on the network, both over TLS with one certificate.
public struct NetworkListeners: Sendable, Equatable {
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// `HOST:PORT`, `[V6]:PORT`.
        public init?(parsing text: String) {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
            var host = String(text[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            self.init(host: host, port: port)
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// The broker's API (`hoopctl login https://NAME:PORT`).
    public var api: Address?
    /// The guard proxy (sessions of remote callers).
    public var proxy: Address?
    /// The name clients reach the broker by, which the certificate must hold: sessions are
    /// handed it with sslmode=verify-full.
    public var publicHost: String
    public var certificateFile: String
    public var keyFile: String

    public init(api: Address?, proxy: Address?, publicHost: String, certificateFile: String, keyFile: String) {
        self.api = api
        self.proxy = proxy
        self.publicHost = publicHost
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }
}
