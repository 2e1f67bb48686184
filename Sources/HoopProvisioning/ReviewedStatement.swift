import Foundation
import HoopPostgres

/// Runs one statement a reviewer approved as exactly the role it was approved to run as, and
/// nothing else: never on the broker's admin connection.
///
/// A login role made for this one run (`hoop_rv_<hex>`, NOINHERIT, whose only membership is
/// the role to run as) connects anew with `role` set at startup, so the statement runs as that
/// role from its first byte and creates what it creates under that role's name; it cannot
/// become any other role, since it is a member of no other. The statement goes through the
/// extended protocol, where the server itself refuses a second statement, under a statement
/// timeout. The login role is dropped afterwards, whatever happened.
public enum ReviewedStatement {
    /// What a run needs from the broker: a connection to the target as a given login role.
    public typealias Connect = (_ user: String, _ password: String, _ options: String) throws -> PostgresConnection

    public struct Failure: Error, Sendable {
        public let sqlState: String
        public let message: String
    }

    /// The command tag of the statement, run as `role`. `retryAfter` is called (with the admin
    /// connection) when the statement fails for objects that depend on what it changes
    /// (SQLSTATE 2BP01, 0A000), and the statement is then tried once more.
    public static func run(_ sql: String, as role: String, admin: PostgresConnection, timeout: TimeInterval,
                           connect: Connect, retryAfter: (PostgresConnection) throws -> Void) throws(Failure) -> String {
        let login = "hoop_rv_" + (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        var password = [UInt8](repeating: 0, count: 24)
        for index in password.indices { password[index] = UInt8.random(in: 0...255) }
        let secret = Data(password).base64EncodedString()
        // hoopctl's own roles (hoop_owner owns the masking views, the detectors and the key) are never run as.
        guard !role.hasPrefix("hoop_"), role != "hoop" else {
            throw Failure(sqlState: "42501", message: "hoopctl: \(role) is hoopctl's own role; reviewed statements never run as it")
        }
        do {
            // A superuser (or a role that is not there) is never run as: no review hands out every privilege.
            guard try admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = $1", [role]).scalar == "f" else {
                throw Failure(sqlState: "42501", message: "hoopctl: \(role) is a superuser or does not exist; reviewed statements never run as one")
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(sqlState: "58000", message: "hoopctl: cannot read the role \(role)")
        }
        do {
            let quotedLogin = try admin.quoteIdentifier(login)
            let verifier = try admin.passwordVerifier(password: secret, user: login)
            try admin.transaction { db in
                try db.execute("""
                    CREATE ROLE \(quotedLogin) WITH LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS \
                    CONNECTION LIMIT 1 PASSWORD \(try db.quoteLiteral(verifier)) \
                    VALID UNTIL \(try db.quoteLiteral(SessionRoles.timestamp(Date().addingTimeInterval(timeout + 60))))
                    """)
                try db.execute("GRANT \(try db.quoteIdentifier(role)) TO \(quotedLogin)")
            }
        } catch let error as PostgresError {
            _ = try? drop(login, runAs: role, admin: admin)
            throw Failure(sqlState: error.sqlState ?? "XX000", message: "hoopctl: cannot make the role to run it as \(role): \(error.message)")
        } catch {
            _ = try? drop(login, runAs: role, admin: admin)
            throw Failure(sqlState: "XX000", message: "hoopctl: cannot make the role to run it as \(role)")
        }
        defer { _ = try? drop(login, runAs: role, admin: admin) }
        let options = "-c role=\(optionValue(role)) -c statement_timeout=\(Int(timeout * 1000)) -c lock_timeout=\(Int(timeout * 1000))"
        // The connection ends when this returns, before its login role is dropped.
        return try execute(sql, as: role, admin: admin) { try connect(login, secret, options) } retryAfter: { try retryAfter(admin) }
    }

    private static func execute(_ sql: String, as role: String, admin: PostgresConnection, connect: () throws -> PostgresConnection,
                                retryAfter: () throws -> Void) throws(Failure) -> String {
        let connection: PostgresConnection
        do {
            connection = try connect()
        } catch {
            let detail = (error as? PostgresError).map { ": \($0.message)" } ?? ""
            throw Failure(sqlState: "08006", message: "hoopctl: cannot connect as \(role) to run it\(detail)")
        }
        // Whom the server says it runs as, before anything runs.
        let who = try? connection.execute("SELECT current_user, session_user").rows.first
        guard who == [role, connection.user] else {
            throw Failure(sqlState: "42501", message: "hoopctl: the connection to run it did not become \(role)")
        }
        var retried = false
        while true {
            do {
                return try connection.execute(sql).commandTag
            } catch {
                guard !retried, error.sqlState == "2BP01" || error.sqlState == "0A000" else {
                    throw Failure(sqlState: error.sqlState ?? "XX000", message: error.message)
                }
            }
            retried = true
            do {
                try retryAfter()
            } catch {
                throw Failure(sqlState: "XX000", message: "hoopctl: cannot set aside what depends on it")
            }
        }
    }

    /// Drops the run's login role: no more logins, its backend ended, what the statement gave it
    /// to own handed to the role it ran as (`ALTER ... OWNER TO SESSION_USER`), anything it was
    /// granted taken away (a `GRANT ... TO SESSION_USER` would otherwise keep it alive), then the role.
    static func drop(_ login: String, runAs: String, admin: PostgresConnection) throws {
        let quoted = try admin.quoteIdentifier(login)
        guard try !admin.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", [login]).rows.isEmpty else { return }
        try admin.execute("ALTER ROLE \(quoted) NOLOGIN")
        try admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [login])
        if try admin.execute("SELECT pg_has_role(current_user, $1, 'USAGE')::text", [runAs]).scalar == "true" {
            try SessionRoles.grantToSelf(admin, roleName: login)
            _ = try? admin.execute("REASSIGN OWNED BY \(quoted) TO \(try admin.quoteIdentifier(runAs))")
        }
        try SessionRoles.dropOwned(admin, roleName: login)
        try admin.execute("DROP ROLE \(quoted)")
    }

    /// The application name of the connection a session's reviewed statement runs over.
    public static func applicationName(session: String) -> String { "hoopctl-review \(session)" }

    /// Ends a session's reviewed statement that is still running (its session was revoked).
    public static func endRuns(_ admin: PostgresConnection, session: String) throws {
        try admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                          [applicationName(session: session)])
    }

    /// A value in libpq's `options`: spaces and backslashes escaped with a backslash.
    static func optionValue(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: " ", with: "\\ ")
    }
}
