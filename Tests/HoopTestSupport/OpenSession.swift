import Foundation
import HoopCommon
#if canImport(Glibc)
import Glibc
#endif

/// A session that stays open while a test plays clients with its credentials: `hoopctl exec`
/// runs a command that writes the environment it was handed, then sleeps.
public final class OpenSession {
    /// The session's connection settings (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE).
    public private(set) var env: [String: String] = [:]
    private let process: BackgroundProcess
    private let directory: TemporaryDirectory

    public var socketPath: String { "\(env["PGHOST"]!)/.s.PGSQL.\(env["PGPORT"]!)" }
    public var sessionID: String { env["PGUSER"]! }

    public init(_ broker: SeparateBroker, arguments: [String] = [], token: String? = nil) throws {
        directory = try TemporaryDirectory("session")
        let file = directory.file("env")
        var environment = broker.environment
        if let token { environment["HOOPCTL_TOKEN"] = token }
        process = try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--quiet"] + arguments
                                        + ["--", "sh", "-c", "env > \(file).tmp; mv \(file).tmp \(file); sleep 300"], environment: environment)
        guard eventually(timeout: 20, { FileManager.default.fileExists(atPath: file) }) else {
            throw TestSetupError("the session did not start: \(process.output)")
        }
        for line in try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2, parts[0].hasPrefix("PG") { env[parts[0]] = parts[1] }
        }
    }

    /// A raw protocol client, logged in as the session.
    public func loggedIn(timeout: TimeInterval = 5) throws -> RawPostgresClient {
        let client = try RawPostgresClient(socketPath: socketPath, timeout: timeout)
        try client.login(user: env["PGUSER"]!, password: env["PGPASSWORD"]!, database: env["PGDATABASE"]!)
        return client
    }

    /// psql with the session's settings (and `extra` ones).
    public func psql(_ arguments: [String], extra: [String: String] = [:]) throws -> ChildProcess.Result {
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in env.merging(extra, uniquingKeysWith: { $1 }) { environment[key] = value }
        return try ChildProcess("psql", ["-X", "-At"] + arguments, environment: environment).run()
    }

    public func end() {
        process.signal(SIGTERM)
        process.wait(timeout: 10)
    }

    deinit {
        end()
        directory.remove()
    }
}
