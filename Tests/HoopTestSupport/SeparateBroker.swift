import Foundation
import HoopCommon
#if canImport(Glibc)
import Glibc
#endif

/// A broker of a test's own, beside the sandbox's, on the same database, with its own policy
/// file, socket and ledger — so a test can change the policy freely.
public final class SeparateBroker: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public private(set) var process: BackgroundProcess
    /// Point commands at this broker (and nothing else).
    public let environment: [String: String]

    public var policyPath: String { directory.file("policy.yaml") }
    /// The guard proxy's loopback TCP port.
    public let proxyPort: Int

    /// `edit` changes the sandbox's demo policy before the broker reads it.
    /// `ledger` puts the ledger somewhere else than the broker's own directory.
    public init(_ pg: TestPostgres.Instance, extraEnvironment: [String: String] = [:], ledger: String? = nil,
                serveArguments: [String] = [], edit: (String) -> String = { $0 }) throws {
        directory = try TemporaryDirectory("broker")
        let yaml = try String(contentsOfFile: pg.sandbox.policyFile, encoding: .utf8)
            .replacingOccurrences(of: "admin_dsn_file: admin.dsn", with: "admin_dsn_file: \(pg.sandbox.adminDSNFile)")
        try edit(yaml).write(toFile: directory.file("policy.yaml"), atomically: true, encoding: .utf8)
        // A state directory of its own (one broker per directory), with the sandbox's hashing
        // key: the masking views it builds are the sandbox's own.
        try FileManager.default.createDirectory(atPath: directory.file("targets"), withIntermediateDirectories: true)
        try? FileManager.default.copyItem(atPath: pg.home + "/targets/sandbox.hashkey", toPath: directory.file("targets/sandbox.hashkey"))
        environment = ["HOOPCTL_HOME": directory.path, "HOOPCTL_BROKER": directory.file("broker.sock"),
                       "HOOPCTL_LEDGER": ledger ?? directory.file("ledger.sqlite"), "HOOPCTL_POLICY": "", "HOOPCTL_TOKEN": ""]
        guard let proxyPort = FreePort.find() else { throw TestSetupError("no free port for the proxy") }
        self.proxyPort = Int(proxyPort)
        serve = (["serve", "--config", directory.file("policy.yaml"), "--proxy-port", String(proxyPort)] + serveArguments,
                 environment.merging(extraEnvironment) { $1 })
        process = try Self.start(serve)
    }

    private let serve: (arguments: [String], environment: [String: String])

    /// A policy edit: role `loader` on the sandbox (INSERT into `loadtest.*`), for the analysts,
    /// so a test can run an insert load through the proxy.
    public static func withLoaderRole(_ yaml: String) -> String {
        yaml.replacingOccurrences(of: "      write:\n", with: """
                  loader:
                    tables: ["loadtest.*"]
                    privileges: [insert]
                    connection_limit: 20
                    max_ttl: 1h
                  write:

            """)
            .replacingOccurrences(of: "- { who: group:analysts, target: sandbox, roles: [write] }",
                                  with: "- { who: group:analysts, target: sandbox, roles: [write, loader] }")
    }

    private static func start(_ serve: (arguments: [String], environment: [String: String])) throws -> BackgroundProcess {
        let process = try BackgroundProcess(HoopctlBinary.path, serve.arguments, environment: serve.environment)
        let ready = eventually { (try? HoopctlBinary.run(["whoami"], environment: serve.environment).succeeded) ?? false }
        guard ready else { throw TestSetupError("the broker did not start: \(process.output)") }
        return process
    }

    public func signal(_ signal: Int32) { process.signal(signal) }

    /// `kill -9` of the broker, then a new one on the same policy, ledger and ports.
    public func crashAndRestart() throws {
        process.signal(SIGKILL)
        process.wait(timeout: 10)
        process = try Self.start(serve)
    }

    /// Runs hoopctl against this broker; `token` plays another identity.
    public func hoopctl(_ arguments: [String], token: String? = nil) throws -> ChildProcess.Result {
        var environment = self.environment
        if let token { environment["HOOPCTL_TOKEN"] = token }
        return try HoopctlBinary.run(arguments, environment: environment)
    }

    /// The ledger's records of one kind (statement, event, ...), as `hoopctl audit --json` prints them.
    public func records(kind: String) throws -> [[String: Any]] {
        let audit = try hoopctl(["audit", "--json", "--kind", kind])
        return audit.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// The ledger's events of that name.
    public func events(_ name: String) throws -> [[String: Any]] {
        try records(kind: "event").filter { ($0["body"] as? [String: Any])?["name"] as? String == name }
    }

    /// A token for `subject`, issued by the test's own OS user (the demo policy's admin).
    public func token(_ subject: String, ttl: String = "1h") throws -> String {
        let result = try hoopctl(["token", "issue", "--subject", subject, "--ttl", ttl])
        guard result.succeeded else { throw TestSetupError("token issue failed: \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        process.signal(SIGTERM)
        process.wait(timeout: 10)
        directory.remove()
    }
}
