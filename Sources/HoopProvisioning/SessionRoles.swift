import Foundation
import HoopPolicy
import HoopPostgres

/// Ephemeral database roles, one per session: created with everything the policy allows and
/// nothing more, and revoked step by step.
public enum SessionRoles {
    /// `hoop_s_<session id>`
    public static func roleName(session: String) -> String { "hoop_s_\(session)" }

    /// Whether a role name is one hoopctl makes for sessions.
    public static func isSessionRole(_ name: String) -> Bool { name.hasPrefix("hoop_s_") }

    public struct Specification: Sendable {
        public var roleName: String
        public var password: String
        public var validUntil: Date
        public var readerRole: String
        /// The session's search_path: its masking view schemas, public's first.
        public var schemas: [String]
        public var connectionLimit: Int
        public var statementTimeout: TimeInterval?
        public var idleInTransactionTimeout: TimeInterval?
        public var comment: String
        /// The most rows one UPDATE or DELETE may change (enforced by hoop.enforce_write_limit).
        public var maxRowsPerWrite: Int?

        public init(roleName: String, password: String, validUntil: Date, readerRole: String, schemas: [String],
                    connectionLimit: Int, statementTimeout: TimeInterval?, idleInTransactionTimeout: TimeInterval?, comment: String,
                    maxRowsPerWrite: Int? = nil) {
            self.maxRowsPerWrite = maxRowsPerWrite
            self.roleName = roleName
            self.password = password
            self.validUntil = validUntil
            self.readerRole = readerRole
            self.schemas = schemas
            self.connectionLimit = connectionLimit
            self.statementTimeout = statementTimeout
            self.idleInTransactionTimeout = idleInTransactionTimeout
            self.comment = comment
        }
    }

    /// Creates the role in one transaction. Only the SCRAM verifier of the password reaches
    /// the server. CREATE ROLE takes no parameters, so its values are quoted by libpq.
    public static func create(_ db: PostgresConnection, _ spec: Specification) throws {
        let role = try db.quoteIdentifier(spec.roleName)
        let verifier = try db.passwordVerifier(password: spec.password, user: spec.roleName)
        try db.transaction { db in
            try db.execute("""
                CREATE ROLE \(role) WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT \
                CONNECTION LIMIT \(max(1, spec.connectionLimit)) \
                PASSWORD \(try db.quoteLiteral(verifier)) \
                VALID UNTIL \(try db.quoteLiteral(timestamp(spec.validUntil))) \
                IN ROLE \(try db.quoteIdentifier(spec.readerRole))
                """)
            try db.execute("ALTER ROLE \(role) SET search_path TO \(try spec.schemas.map(db.quoteIdentifier).joined(separator: ", "))")
            if let timeout = spec.statementTimeout {
                try db.execute("ALTER ROLE \(role) SET statement_timeout TO \(try db.quoteLiteral(String(Int(timeout * 1000))))")
            }
            if let timeout = spec.idleInTransactionTimeout {
                try db.execute("ALTER ROLE \(role) SET idle_in_transaction_session_timeout TO \(try db.quoteLiteral(String(Int(timeout * 1000))))")
            }
            try db.execute("COMMENT ON ROLE \(role) IS \(try db.quoteLiteral(spec.comment))")
            if let limit = spec.maxRowsPerWrite {
                guard try db.execute("SELECT to_regclass('hoop.write_limits') IS NOT NULL").scalar == "t" else {
                    throw WriteLimitsMissing()
                }
                try db.execute("""
                    INSERT INTO hoop.write_limits (role, max_rows) VALUES ($1, $2)
                    ON CONFLICT (role) DO UPDATE SET max_rows = EXCLUDED.max_rows
                    """, [spec.roleName, String(limit)])
            }
        }
    }

    /// A target initialised before max_rows_per_write existed: no session may write without it.
    public struct WriteLimitsMissing: Error, CustomStringConvertible {
        public var description: String { "the target has no hoop.write_limits for max_rows_per_write: run hoopctl target init" }
    }

    /// One step of a revocation, for the ledger.
    public struct Step: Sendable {
        public let action: String
        public let detail: String?
    }

    /// Takes the role away: no more logins, its backends terminated, what it owns dropped,
    /// the role dropped. Safe to repeat; each step that did something is returned.
    public static func revoke(_ db: PostgresConnection, roleName: String) throws -> [Step] {
        let role = try db.quoteIdentifier(roleName)
        guard try !db.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", [roleName]).rows.isEmpty else { return [] }
        var steps: [Step] = []
        try db.execute("ALTER ROLE \(role) NOLOGIN")
        steps.append(Step(action: "login-disabled", detail: nil))
        let terminated = try db.execute("""
            SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1
            """, [roleName]).scalar ?? "0"
        steps.append(Step(action: "backends-terminated", detail: terminated))
        try dropOwned(db, roleName: roleName)
        steps.append(Step(action: "owned-dropped", detail: nil))
        // A terminated backend can take a moment to leave; DROP ROLE does not wait for it.
        try db.execute("DROP ROLE \(role)")
        steps.append(Step(action: "dropped", detail: nil))
        if try db.execute("SELECT to_regclass('hoop.write_limits') IS NOT NULL").scalar == "t" {
            try db.execute("DELETE FROM hoop.write_limits WHERE role = $1", [roleName])
        }
        return steps
    }

    /// DROP OWNED BY a role hoopctl made. The server asks for the role's privileges, which a
    /// broker admin that is not a superuser gets by a membership it may grant itself (CREATEROLE)
    /// for the moment before the role is dropped.
    static func dropOwned(_ db: PostgresConnection, roleName: String) throws {
        try grantToSelf(db, roleName: roleName)
        try db.execute("DROP OWNED BY \(try db.quoteIdentifier(roleName))")
    }

    /// Membership in a role hoopctl made, for acting as it (DROP OWNED, REASSIGN OWNED).
    static func grantToSelf(_ db: PostgresConnection, roleName: String) throws {
        if try db.execute("SELECT pg_has_role(current_user, $1, 'USAGE')::text", [roleName]).scalar != "true" {
            try db.execute("GRANT \(try db.quoteIdentifier(roleName)) TO CURRENT_USER")
        }
    }

    /// A session role present in the cluster, and what says whose it is.
    public struct Existing: Sendable {
        public let name: String
        /// Its VALID UNTIL is still ahead.
        public let live: Bool
        public let comment: String?
    }

    /// Every session role present in the cluster.
    public static func existing(_ db: PostgresConnection) throws -> [Existing] {
        try db.execute("""
            SELECT rolname, coalesce(rolvaliduntil > now(), false), shobj_description(oid, 'pg_authid')
            FROM pg_roles WHERE rolname LIKE 'hoop\\_s\\_%' ORDER BY rolname
            """).rows.compactMap { row in
            row[0].map { Existing(name: $0, live: row[1] == "t", comment: row[2] ?? nil) }
        }
    }

    /// What a role's comment says about the broker that made it (`broker <id>`).
    public static func broker(inComment comment: String?) -> String? {
        guard let comment, let range = comment.range(of: " broker ") else { return nil }
        return String(comment[range.upperBound...].prefix { !$0.isWhitespace })
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
