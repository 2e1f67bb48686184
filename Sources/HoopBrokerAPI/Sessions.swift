import Foundation

/// `POST /v1/sessions`: ask for a session on a target.
public struct SessionRequest: Codable, Sendable {
    public var target: String
    /// The role; the only one the caller has when nil.
    public var role: String?
    public var reason: String?
    public var ttlSeconds: Int?
    /// `exec`, `connect`, ... for the record.
    public var kind: String?
    /// An approved request this session uses; target, role, TTL and reason then come from it.
    public var request: String?
    /// Groups the sessions of one job (an agent's task) in the ledger.
    public var correlation: String?
    /// The agent's MCP client, as it declared itself (`name version`), for `hoopctl mcp` sessions.
    public var agent: String?

    public init(target: String, role: String? = nil, reason: String? = nil, ttlSeconds: Int? = nil, kind: String? = nil,
                request: String? = nil, correlation: String? = nil) {
        self.correlation = correlation
        self.target = target
        self.role = role
        self.reason = reason
        self.ttlSeconds = ttlSeconds
        self.kind = kind
        self.request = request
    }
}

extension SessionRequest {
    public static let correlationRule = "a correlation id is 1 to 128 letters, digits and . _ : -"

    /// 1 to 128 of letters, digits and `. _ : -`: safe in any log line and URL.
    public static func isValidCorrelation(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count) && id.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || ".-_:".utf8.contains(byte)
        }
    }
}

/// What a session is, as the broker reports it.
public struct SessionInfo: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case active, ending, ended }

    public var id: String
    public var identity: String
    public var target: String
    public var role: String
    /// The ephemeral database role.
    public var roleName: String
    public var reason: String?
    public var startedAt: Date
    public var expiresAt: Date
    public var state: State
    public var endedAt: Date?
    public var endedBy: String?
    public var exitCode: Int?
    public var pid: Int?
    public var command: [String]?
    /// The approved request it used.
    public var request: String?

    public init(id: String, identity: String, target: String, role: String, roleName: String, reason: String?,
                startedAt: Date, expiresAt: Date, state: State, endedAt: Date? = nil, endedBy: String? = nil,
                exitCode: Int? = nil, pid: Int? = nil, command: [String]? = nil, request: String? = nil) {
        self.id = id
        self.identity = identity
        self.target = target
        self.role = role
        self.roleName = roleName
        self.reason = reason
        self.startedAt = startedAt
        self.expiresAt = expiresAt
        self.state = state
        self.endedAt = endedAt
        self.endedBy = endedBy
        self.exitCode = exitCode
        self.pid = pid
        self.command = command
        self.request = request
    }
}

/// How a client connects to the database for its session. Holds the session's password:
/// never log it, never print it.
public struct ConnectionSettings: Codable, Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var database: String
    public var sslMode: String
    /// The CA to check the server's certificate against (the client's copy; the broker sends none).
    public var sslRootCert: String?

    public init(host: String, port: Int, user: String, password: String, database: String, sslMode: String) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.sslMode = sslMode
    }

    /// The same as libpq keywords, for a client that connects itself.
    public func parameters(applicationName: String) -> [String: String] {
        var parameters = ["host": host, "port": String(port), "user": user, "password": password, "dbname": database,
                          "sslmode": sslMode, "application_name": applicationName]
        parameters["sslrootcert"] = sslRootCert
        return parameters
    }

    /// PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE and DATABASE_URL.
    public var environment: [String: String] {
        var components = URLComponents()
        components.scheme = "postgresql"
        components.user = user
        components.password = password
        components.path = "/" + database
        components.queryItems = [URLQueryItem(name: "sslmode", value: sslMode)]
        if let sslRootCert { components.queryItems?.append(URLQueryItem(name: "sslrootcert", value: sslRootCert)) }
        if host.hasPrefix("/") {
            components.host = ""
            components.queryItems?.append(URLQueryItem(name: "host", value: host))
            components.queryItems?.append(URLQueryItem(name: "port", value: String(port)))
        } else {
            components.host = host
            components.port = port
        }
        var environment = ["PGHOST": host, "PGPORT": String(port), "PGUSER": user, "PGPASSWORD": password,
                           "PGDATABASE": database, "PGSSLMODE": sslMode, "DATABASE_URL": components.string ?? ""]
        environment["PGSSLROOTCERT"] = sslRootCert
        return environment
    }
}

/// The answer to `POST /v1/sessions`.
public struct SessionGrant: Codable, Sendable {
    public var session: SessionInfo
    public var connection: ConnectionSettings
    /// For a session opened from the network: renew it (`POST /v1/sessions/{id}/renew`) this
    /// often, or the broker ends it (it cannot watch a process on another machine).
    public var renewSeconds: Int?

    public init(session: SessionInfo, connection: ConnectionSettings) {
        self.session = session
        self.connection = connection
    }
}

/// `POST /v1/sessions/{id}/end`: the client is done (its command exited, or it was interrupted).
public struct SessionEnd: Codable, Sendable {
    public var exitCode: Int?
    /// `exit`, `signal`, `interrupted`, ...
    public var endedBy: String

    public init(exitCode: Int?, endedBy: String) {
        self.exitCode = exitCode
        self.endedBy = endedBy
    }
}

/// `GET /v1/sessions`
public struct SessionList: Codable, Sendable {
    public var sessions: [SessionInfo]
    public init(sessions: [SessionInfo]) { self.sessions = sessions }
}
