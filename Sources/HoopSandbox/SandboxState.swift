import Foundation

/// What `sandbox up` set up, kept in `<home>/sandbox/sandbox.json` for `status`, `env` and `down`.
public struct SandboxState: Codable, Sendable, Equatable {
    public var port: UInt16
    /// The cluster's directory (data, socket and log live below it).
    public var clusterDirectory: String
    public var socketDirectory: String
    /// The OS user that owns and runs the cluster (`postgres` when hoopctl runs as root).
    public var clusterOwner: String
    public var adminUser: String
    public var database: String
    public var postgresVersion: Int?
    public var createdAt: Date
}
