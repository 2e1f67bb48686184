import CLibPQ

/// An error from libpq or the server. `description` carries the SQLSTATE and primary message only;
/// the server's DETAIL (which can quote row values) is kept apart in `detail`.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case connection, server, client }

    public let kind: Kind
    public let sqlState: String?
    public let message: String
    public let detail: String?
    public let hint: String?

    public init(kind: Kind, message: String, sqlState: String? = nil, detail: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
    }

    init(result: OpaquePointer, fallback: String) {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        self.init(kind: .server,
                  message: field("M") ?? fallback,
                  sqlState: field("C"),
                  detail: field("D"),
                  hint: field("H"))
    }

    public var description: String {
        switch kind {
        case .connection: return "cannot connect to PostgreSQL: \(message)"
        case .client: return "libpq: \(message)"
        case .server: return sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message
        }
    }
}
