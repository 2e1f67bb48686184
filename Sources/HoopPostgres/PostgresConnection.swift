import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection. Not thread-safe (libpq connections are not): confine it to one task.
/// Every value goes to the server as a parameter; identifiers are quoted with `quoteIdentifier`.
public final class PostgresConnection {
    private let handle: OpaquePointer

    /// Connects with a libpq connection string or URI (`host=... dbname=...`, `postgresql://...`).
    /// The string may hold a password: it never appears in errors.
    public init(conninfo: String) throws(PostgresError) {
        guard let handle = PQconnectdb(conninfo) else {
            throw PostgresError(kind: .connection, message: "out of memory")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = PostgresConnection.message(of: handle)
            PQfinish(handle)
            throw PostgresError(kind: .connection, message: message)
        }
        self.handle = handle
    }

    deinit { PQfinish(handle) }

    /// The server's version as an integer, e.g. 150018.
    public var serverVersion: Int { Int(PQserverVersion(handle)) }

    /// Whether the connection is still usable (not broken by a network or server failure).
    public var isHealthy: Bool { PQstatus(handle) == CONNECTION_OK }

    /// The user this connection logged in as.
    public var user: String { PQuser(handle).map { String(cString: $0) } ?? "" }

    /// The backend process id of this connection.
    public var backendPID: Int32 { PQbackendPID(handle) }

    /// Runs one statement with text parameters `$1...$n` (nil is SQL NULL).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> QueryResult {
        let result = withCStrings(parameters) { values in
            PQexecParams(handle, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Prepares `sql` under `name` on this connection (once; run it with `executePrepared`):
    /// the server parses and plans it once instead of per call.
    public func prepare(_ name: String, _ sql: String, parameterCount: Int) throws(PostgresError) {
        try consume(PQprepare(handle, name, sql, Int32(parameterCount), nil))
    }

    /// Runs the statement prepared as `name` with text parameters (nil is SQL NULL).
    @discardableResult
    public func executePrepared(_ name: String, _ parameters: [String?]) throws(PostgresError) -> QueryResult {
        let result = withCStrings(parameters) { values in
            PQexecPrepared(handle, name, Int32(parameters.count), values, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Runs one statement and keeps its rows as libpq holds them, without copying a value into a
    /// Swift string: for reading many rows fast (`audit verify`). The rows may go to another thread.
    public func rowSet(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> RowSet {
        let result = withCStrings(parameters) { values in
            PQexecParams(handle, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        guard let result else { throw PostgresError(kind: .client, message: PostgresConnection.message(of: handle)) }
        guard PQresultStatus(result) == PGRES_TUPLES_OK else {
            defer { PQclear(result) }
            throw PostgresError(result: result, fallback: PostgresConnection.message(of: handle))
        }
        return RowSet(result: result)
    }

    /// Runs one or more statements without parameters (a script). Use only for text we wrote.
    @discardableResult
    public func executeScript(_ sql: String) throws(PostgresError) -> QueryResult {
        try consume(PQexec(handle, sql))
    }

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body(self)
            try execute("COMMIT")
            return value
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    /// A notification this connection LISTENs for.
    public struct Notification: Sendable, Equatable {
        public let channel: String
        public let payload: String
        public let senderPID: Int32
    }

    /// The notifications that arrived (after `LISTEN channel`), waiting up to `timeout` for
    /// the first: an empty answer means none came. Throws when the connection broke.
    public func notifications(waitingUpTo timeout: Double) throws(PostgresError) -> [Notification] {
        var arrived = takeNotifications()
        guard arrived.isEmpty else { return arrived }
        let socket = PQsocket(handle)
        guard socket >= 0 else { throw PostgresError(kind: .connection, message: "the connection is closed") }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, Int32(max(0, timeout) * 1000))
        if ready > 0 {
            guard PQconsumeInput(handle) == 1 else {
                throw PostgresError(kind: .connection, message: PostgresConnection.message(of: handle))
            }
            arrived = takeNotifications()
        }
        guard isHealthy else { throw PostgresError(kind: .connection, message: PostgresConnection.message(of: handle)) }
        return arrived
    }

    private func takeNotifications() -> [Notification] {
        var arrived: [Notification] = []
        while let notify = PQnotifies(handle) {
            arrived.append(Notification(channel: String(cString: notify.pointee.relname), payload: String(cString: notify.pointee.extra),
                                        senderPID: notify.pointee.be_pid))
            PQfreemem(notify)
        }
        return arrived
    }

    /// `"name"` with embedded quotes doubled, by libpq.
    public func quoteIdentifier(_ identifier: String) throws(PostgresError) -> String {
        guard let quoted = PQescapeIdentifier(handle, identifier, identifier.utf8.count) else {
            throw PostgresError(kind: .client, message: PostgresConnection.message(of: handle))
        }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }

    /// `'value'` quoted by libpq, for the few places SQL takes no parameters (utility statements
    /// such as CREATE ROLE ... VALID UNTIL). Everywhere else, pass values as parameters.
    public func quoteLiteral(_ value: String) throws(PostgresError) -> String {
        guard let quoted = PQescapeLiteral(handle, value, value.utf8.count) else {
            throw PostgresError(kind: .client, message: PostgresConnection.message(of: handle))
        }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }

    /// The SCRAM-SHA-256 verifier of a password, computed here: the password itself never
    /// reaches the server (nor its logs).
    public func passwordVerifier(password: String, user: String) throws(PostgresError) -> String {
        guard let verifier = PQencryptPasswordConn(handle, password, user, "scram-sha-256") else {
            throw PostgresError(kind: .client, message: PostgresConnection.message(of: handle))
        }
        defer { PQfreemem(verifier) }
        return String(cString: verifier)
    }

    /// A schema-qualified name, each part quoted.
    public func quoteQualified(_ schema: String, _ name: String) throws(PostgresError) -> String {
        "\(try quoteIdentifier(schema)).\(try quoteIdentifier(name))"
    }

    @discardableResult
    private func consume(_ result: OpaquePointer?) throws(PostgresError) -> QueryResult {
        guard let result else {
            throw PostgresError(kind: .client, message: PostgresConnection.message(of: handle))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return QueryResult(result)
        default:
            throw PostgresError(result: result, fallback: PostgresConnection.message(of: handle))
        }
    }

    static func message(of handle: OpaquePointer) -> String {
        guard let text = PQerrorMessage(handle) else { return "unknown libpq error" }
        return String(cString: text).trimmingCharacters(in: " \n")
    }
}

/// The rows of a result as libpq holds them (freed with the last reference to the set).
public final class RowSet: @unchecked Sendable {
    let result: OpaquePointer

    init(result: OpaquePointer) {
        self.result = result
    }

    deinit { PQclear(result) }

    public var count: Int { Int(PQntuples(result)) }

    /// A value's bytes (text format), nil for NULL.
    public func value(_ row: Int, _ column: Int) -> UnsafeBufferPointer<UInt8>? {
        guard PQgetisnull(result, Int32(row), Int32(column)) == 0, let start = PQgetvalue(result, Int32(row), Int32(column)) else { return nil }
        let length = Int(PQgetlength(result, Int32(row), Int32(column)))
        return UnsafeBufferPointer(start: UnsafeRawPointer(start).assumingMemoryBound(to: UInt8.self), count: length)
    }

    /// A value as a string (nil for NULL).
    public func string(_ row: Int, _ column: Int) -> String? {
        value(row, column).map { String(decoding: $0, as: UTF8.self) }
    }

    /// A value as an integer (nil for NULL or anything else).
    public func int64(_ row: Int, _ column: Int) -> Int64? {
        guard let bytes = value(row, column), !bytes.isEmpty else { return nil }
        var value: Int64 = 0, negative = false
        for (index, byte) in bytes.enumerated() {
            if index == 0, byte == UInt8(ascii: "-") { negative = true; continue }
            guard byte >= 48, byte <= 57 else { return nil }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(byte - 48))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return negative ? -value : value
    }
}

/// The rows and command tag of one finished statement, copied out of libpq.
public struct QueryResult: Sendable {
    public let columns: [String]
    public let rows: [[String?]]
    public let commandTag: String
    /// Rows affected by INSERT/UPDATE/DELETE/..., or returned by SELECT.
    public let affectedRows: Int

    init(_ result: OpaquePointer) {
        let fieldCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        columns = (0..<fieldCount).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            rows.append((0..<fieldCount).map { column in
                PQgetisnull(result, Int32(row), Int32(column)) == 1
                    ? nil : String(cString: PQgetvalue(result, Int32(row), Int32(column)))
            })
        }
        self.rows = rows
        commandTag = String(cString: PQcmdStatus(result))
        affectedRows = Int(String(cString: PQcmdTuples(result))) ?? rowCount
    }

    /// The first column of the first row, if any.
    public var scalar: String? { rows.first?.first ?? nil }
}

private func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { pointers.forEach { free($0) } }
    return body(pointers.map { $0.map { UnsafePointer($0) } })
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var scalars = Substring(self)
        while let first = scalars.first, set.contains(first) { scalars.removeFirst() }
        while let last = scalars.last, set.contains(last) { scalars.removeLast() }
        return String(scalars)
    }
}
