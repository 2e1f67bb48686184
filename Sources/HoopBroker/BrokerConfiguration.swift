import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopLedger

/// Where the broker finds its policy, keeps its ledger and listens.
public struct BrokerConfiguration: Sendable {
    public var policyPath: String
    public var ledgerPath: String
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
        if let delay = ProcessInfo.processInfo.environment["HOOPCTL_TEST_LEDGER_COMMIT_DELAY_MS"].flatMap(Int.init), delay > 0 {
            configuration.ledgerCommitDelay = .milliseconds(delay)
        }
        return configuration
    }
}
