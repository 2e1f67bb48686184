import Foundation

/// Where hoopctl keeps its state: `$HOOPCTL_HOME`, else `$XDG_STATE_HOME/hoopctl`,
/// else `~/.local/state/hoopctl`.
public struct StateDirectory: Sendable, Equatable {
    public let url: URL

    public init(url: URL) {
        self.url = url.standardizedFileURL
    }

    public static func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) -> StateDirectory {
        if let home = environment["HOOPCTL_HOME"], !home.isEmpty {
            return StateDirectory(url: URL(fileURLWithPath: home, isDirectory: true))
        }
        if let xdg = environment["XDG_STATE_HOME"], !xdg.isEmpty {
            return StateDirectory(url: URL(fileURLWithPath: xdg, isDirectory: true).appendingPathComponent("hoopctl", isDirectory: true))
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return StateDirectory(url: URL(fileURLWithPath: home, isDirectory: true)
            .appendingPathComponent(".local/state/hoopctl", isDirectory: true))
    }

    public var path: String { url.path }

    /// The ledger unless `$HOOPCTL_LEDGER` names another file.
    public func ledgerPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let path = environment["HOOPCTL_LEDGER"], !path.isEmpty { return path }
        return url.appendingPathComponent("ledger.sqlite").path
    }

    /// The policy file unless `$HOOPCTL_POLICY` names another one.
    public func policyPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let path = environment["HOOPCTL_POLICY"], !path.isEmpty { return path }
        return url.appendingPathComponent("policy.yaml").path
    }

    /// Creates the directory (and its parents) readable only by its owner.
    public func create() throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }
}
