import Foundation
import HoopPolicy
import HoopPostgres

/// Admin connections to one target, used off the cooperative thread pool: libpq blocks.
/// Connections are opened on demand (at most `limit` at once) and kept while healthy.
final class AdminPool: @unchecked Sendable {
    let target: String
    /// Holds the admin password: never logged, never in an error.
    private let conninfo: String
    private let limit: Int
    private let queue: DispatchQueue
    private let slots: DispatchSemaphore
    private let lock = NSLock()
    private var idle: [PostgresConnection] = []

    init(target: String, conninfo: String, limit: Int = 4) {
        self.target = target
        self.conninfo = conninfo
        self.limit = limit
        queue = DispatchQueue(label: "hoopctl.admin.\(target)", attributes: .concurrent)
        slots = DispatchSemaphore(value: limit)
    }

    /// Runs `body` with an admin connection on the pool's threads.
    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                slots.wait()
                defer { slots.signal() }
                do {
                    let connection = try lock.withLock { idle.popLast() } ?? PostgresConnection(conninfo: conninfo)
                    do {
                        let value = try body(connection)
                        lock.withLock { idle.append(connection) }
                        continuation.resume(returning: value)
                    } catch {
                        // A statement error leaves the connection usable; a broken one is dropped.
                        if connection.isHealthy { lock.withLock { idle.append(connection) } }
                        continuation.resume(throwing: error)
                    }
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    func close() {
        lock.withLock { idle.removeAll() }
    }

    /// The admin connection string of a target with its database filled in.
    /// Errors say where the DSN should have come from, never what it holds.
    static func conninfo(for target: Target, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (conninfo: String, parameters: [String: String]) {
        let raw: String
        switch target.adminDSN {
        case .file(let path):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw AdminDSNError("cannot read the admin DSN file of target '\(target.name)' (\(path))")
            }
            raw = text.trimmingCharacters(in: .whitespacesAndNewlines)
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw AdminDSNError("the broker's environment has no \(name) (the admin DSN of target '\(target.name)')")
            }
            raw = value
        }
        var parameters: [String: String]
        do {
            parameters = try ConnectionString.parse(raw)
        } catch {
            throw AdminDSNError("the admin DSN of target '\(target.name)' is not a valid connection string")
        }
        parameters["dbname"] = target.database
        // The stricter of the policy's sslmode and the DSN's, as the proxy's upstream connections use.
        parameters["sslmode"] = SSLMode.effective(policy: target.sslMode, dsn: parameters["sslmode"],
                                                  rootCertificate: parameters["sslrootcert"]).rawValue
        if parameters["application_name"] == nil { parameters["application_name"] = "hoopctl-broker" }
        parameters["options"] = [parameters["options"], ConnectionString.trustedSearchPath].compactMap { $0 }.joined(separator: " ")
        let conninfo = parameters.sorted { $0.key < $1.key }
            .map { "\($0.key)=\(ConnectionString.quote($0.value))" }.joined(separator: " ")
        return (conninfo, parameters)
    }
}

struct AdminDSNError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
