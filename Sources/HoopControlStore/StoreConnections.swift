import Foundation
import HoopPostgres

/// Where the control database is: a libpq connection string read from a file (which may hold
/// a password, so it must be the reader's own and private). Neither the string nor the
/// password ever appears in a message: `description` names the database by user, host and name.
public struct StoreAddress: Sendable, CustomStringConvertible {
    /// Holds the password: never logged, never in an error.
    let conninfo: String
    public let description: String

    /// Reads a DSN file (`host=... dbname=... sslmode=...` or `postgresql://...`). TLS is
    /// the DSN's own `sslmode`, as libpq reads it.
    public init(dsnFile path: String) throws {
        var status = stat()
        guard stat(path, &status) == 0 else { throw StoreError.dsnFile("cannot read the control store's DSN file \(path)") }
        guard status.st_mode & 0o077 == 0 else {
            throw StoreError.dsnFile("the control store's DSN file \(path) can be read by others (mode \(String(status.st_mode & 0o777, radix: 8))): chmod 600 it")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw StoreError.dsnFile("cannot read the control store's DSN file \(path)")
        }
        var parameters: [String: String]
        do {
            parameters = try ConnectionString.parse(text.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw StoreError.dsnFile("the control store's DSN file \(path) does not hold a valid connection string")
        }
        if parameters["application_name"] == nil { parameters["application_name"] = "hoopctl-store" }
        // Every name the store's SQL uses is qualified; nothing is looked up in a path others can write.
        // And no statement waits or runs without end (a lock held by someone else included).
        parameters["options"] = [parameters["options"], ConnectionString.trustedSearchPath, "-c statement_timeout=60s -c lock_timeout=30s"]
            .compactMap { $0 }.joined(separator: " ")
        conninfo = ConnectionString.conninfo(parameters)
        let host = parameters["host"].map { $0.hasPrefix("/") ? "local socket" : $0 } ?? "local socket"
        description = "postgresql \(parameters["user"] ?? "-")@\(host)\(parameters["port"].map { ":" + $0 } ?? "")/\(parameters["dbname"] ?? "-")"
    }

    public func connect() throws -> PostgresConnection {
        do {
            return try PostgresConnection(conninfo: conninfo)
        } catch {
            throw StoreError.invalid("cannot connect to the control store (\(description)): \(error.message)")
        }
    }
}

/// A few connections to the control database, used by one thread at a time each (libpq's rule),
/// kept while healthy. Blocking: callers are threads of their own or short broker calls.
final class StoreConnections: @unchecked Sendable {
    let address: StoreAddress
    private let lock = NSLock()
    private var idle: [PostgresConnection] = []
    private let keep = 4

    init(address: StoreAddress) {
        self.address = address
    }

    func with<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let connection = try lock.withLock { idle.popLast() } ?? address.connect()
        do {
            let value = try body(connection)
            give(back: connection)
            return value
        } catch {
            // A statement error leaves the connection usable; a broken one is dropped.
            if connection.isHealthy {
                _ = try? connection.execute("ROLLBACK")
                give(back: connection)
            }
            throw error
        }
    }

    private func give(back connection: PostgresConnection) {
        lock.withLock { if idle.count < keep { idle.append(connection) } }
    }
}
