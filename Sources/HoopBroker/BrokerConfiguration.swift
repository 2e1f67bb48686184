import Foundation
import HoopBrokerAPI
import HoopCommon

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

    public init(policyPath: String, ledgerPath: String, socketPath: String, stateDirectory: String) {
        self.policyPath = policyPath
        self.ledgerPath = ledgerPath
        self.socketPath = socketPath
        self.stateDirectory = stateDirectory
    }

    /// The defaults for a state directory, with `$HOOPCTL_POLICY`, `$HOOPCTL_LEDGER` and `$HOOPCTL_BROKER` honoured.
    public static func defaults(for state: StateDirectory, policy: String? = nil) -> BrokerConfiguration {
        BrokerConfiguration(policyPath: policy ?? state.policyPath(), ledgerPath: state.ledgerPath(),
                            socketPath: BrokerAPI.socketPath(stateDirectory: state.path), stateDirectory: state.path)
    }
}
